//! Accounts, users, sign-in and bearer tokens (domain layer). Signing in and out and deactivation decide *when*
//! an agent's ACD state changes and call the ACD's entry points (`acd::agents`) for *what* changes. Tokens are
//! random, shown once, stored only as SHA-256 hashes and revocable; passwords are Argon2id hashes.
//!
//! A sign-in token (SESSION) expires after `TokenSettings::idle` without use and `TokenSettings::max_age` after
//! it was issued; its last use is recorded at most once a minute ([`LAST_USED_RESOLUTION`]), so a request costs
//! no write. The bootstrap admin token is a MACHINE token: no idle expiry, revocable like any other.

use crate::acd::agents;
use crate::actor::{Actor, ClientInfo};
use crate::crypto::{Secret, hash_password, random_token, sha256_hex, verify_password};
use crate::domain::Domain;
use crate::live::Uow;
use crate::{Error, Result};
use chrono::Utc;
use entity::{Role, TokenKind, account, api_token, user};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
};
use uuid::Uuid;

pub mod passwords;
pub mod throttle;

pub const MIN_PASSWORD_LEN: usize = 10;
const TOKEN_PREFIX: &str = "nva_";
pub const DEFAULT_IDLE_DAYS: u64 = 30;
pub const DEFAULT_MAX_DAYS: u64 = 90;
/// A token's `last_used_at` is written only when it is older than this.
pub const LAST_USED_RESOLUTION: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// How long sign-in tokens live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenSettings {
    /// A SESSION token unused this long no longer authenticates.
    pub idle: std::time::Duration,
    /// A SESSION token this old no longer authenticates, however much it is used.
    pub max_age: std::time::Duration,
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            idle: std::time::Duration::from_secs(DEFAULT_IDLE_DAYS * 86_400),
            max_age: std::time::Duration::from_secs(DEFAULT_MAX_DAYS * 86_400),
        }
    }
}

impl TokenSettings {
    fn idle(&self) -> chrono::TimeDelta {
        chrono::TimeDelta::from_std(self.idle).unwrap_or(chrono::TimeDelta::MAX)
    }
    fn max_age(&self) -> chrono::TimeDelta {
        chrono::TimeDelta::from_std(self.max_age).unwrap_or(chrono::TimeDelta::MAX)
    }

    /// When a token stops authenticating (None: a MACHINE token, which does not expire).
    pub fn expires_at(&self, t: &api_token::Model) -> Option<chrono::DateTime<Utc>> {
        self.expiry(t.kind, t.created_at, t.last_used_at)
    }

    fn expiry(
        &self,
        kind: TokenKind,
        created_at: chrono::DateTime<Utc>,
        last_used_at: Option<chrono::DateTime<Utc>>,
    ) -> Option<chrono::DateTime<Utc>> {
        if kind == TokenKind::Machine {
            return None;
        }
        let idle_end = last_used_at.unwrap_or(created_at).checked_add_signed(self.idle());
        let age_end = created_at.checked_add_signed(self.max_age());
        match (idle_end, age_end) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// A token and its user, as `authenticate` reads them in one query.
#[derive(Debug, sea_orm::FromQueryResult)]
struct TokenUser {
    token_id: Uuid,
    kind: TokenKind,
    created_at: chrono::DateTime<Utc>,
    last_used_at: Option<chrono::DateTime<Utc>>,
    user_id: Uuid,
    account_id: Uuid,
    role: Role,
    active: bool,
    must_change_password: bool,
}

/// A newly issued token: the only moment its plain text exists.
pub struct IssuedToken {
    pub token: Secret,
    pub user: user::Model,
}

/// Lower-cases and checks an email address (one `@`, something on each side, no spaces).
pub fn normalise_email(raw: &str) -> Option<String> {
    let e = raw.trim().to_lowercase();
    let mut parts = e.split('@');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(l), Some(d), None)
            if !l.is_empty()
                && d.contains('.')
                && !d.starts_with('.')
                && !d.ends_with('.')
                && !e.contains(char::is_whitespace)
                && e.len() <= 254 =>
        {
            Some(e)
        }
        _ => None,
    }
}

pub struct NewUser {
    pub email: String,
    pub name: String,
    pub password: Secret,
    pub role: Role,
}

fn validate_new_user(input: &NewUser) -> Result<(String, String)> {
    let mut errors = Vec::new();
    let email = normalise_email(&input.email).unwrap_or_else(|| {
        errors.push(crate::FieldError::new("email", "INVALID_EMAIL", "must be an email address like ana@example.com"));
        String::new()
    });
    let name = input.name.trim().to_owned();
    if name.is_empty() {
        errors.push(crate::FieldError::new("name", "REQUIRED", "must not be empty"));
    } else if name.chars().count() > 200 {
        errors.push(crate::FieldError::new("name", "TOO_LONG", "must be at most 200 characters"));
    }
    // Length, then strength (the user's email and name count as easy guesses): the one rule of chosen passwords.
    let known_email = if email.is_empty() { input.email.as_str() } else { email.as_str() };
    errors.extend(crate::accounts::passwords::password_problem(
        "password",
        input.password.expose(),
        known_email,
        &name,
    ));
    if errors.is_empty() { Ok((email, name)) } else { Err(Error::Invalid(errors)) }
}

async fn insert_user<C: ConnectionTrait>(db: &C, account_id: Uuid, input: &NewUser) -> Result<user::Model> {
    let (email, name) = validate_new_user(input)?;
    let password_hash = hash_password(input.password.expose())?;
    let model = user::ActiveModel {
        id: Set(Uuid::now_v7()),
        account_id: Set(account_id),
        email: Set(email),
        name: Set(name),
        role: Set(input.role),
        password_hash: Set(password_hash),
        active: Set(true),
        must_change_password: Set(false),
        created_at: Set(Utc::now()),
    };
    model.insert(db).await.map_err(|e| {
        if crate::error::is_unique_violation(&e, "ux_users_email", "users.email") {
            Error::conflict("email", "a user with this email already exists")
        } else {
            e.into()
        }
    })
}

/// Issues a token: the fixed one (a MACHINE token for automation), or a random SESSION token.
async fn issue_token<C: ConnectionTrait>(
    db: &C,
    user_id: Uuid,
    fixed: Option<&Secret>,
    client: &ClientInfo,
) -> Result<Secret> {
    let token = fixed.cloned().unwrap_or_else(|| random_token(TOKEN_PREFIX));
    let now = Utc::now();
    api_token::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user_id),
        token_hash: Set(sha256_hex(token.expose())),
        created_at: Set(now),
        revoked_at: Set(None),
        kind: Set(if fixed.is_some() { TokenKind::Machine } else { TokenKind::Session }),
        last_used_at: Set(Some(now)),
        client_addr: Set(client.addr.map(|a| a.to_string())),
        user_agent: Set(client.user_agent.as_deref().map(|u| u.chars().take(300).collect())),
    }
    .insert(db)
    .await?;
    Ok(token)
}

impl Domain {
    /// Creates an account with its first admin and returns the admin's first token. `token` fixes that token
    /// (for automation); otherwise a random one is made.
    pub async fn create_account(
        &self,
        account_name: &str,
        admin: NewUser,
        token: Option<&Secret>,
    ) -> Result<(account::Model, IssuedToken)> {
        let name = account_name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(Error::invalid("name", "INVALID", "must be 1 to 200 characters"));
        }
        let txn = self.begin_uow().await?;
        let acc = account::ActiveModel {
            id: Set(Uuid::now_v7()),
            name: Set(name.to_owned()),
            created_at: Set(Utc::now()),
            time_zone: Set("UTC".to_owned()),
        }
        .insert(&txn)
        .await?;
        let user = insert_user(&txn, acc.id, &NewUser { role: Role::Admin, ..admin }).await?;
        let token = issue_token(&txn, user.id, token, &ClientInfo::default()).await?;
        self.commit(txn).await?;
        Ok((acc, IssuedToken { token, user }))
    }

    /// A restart with another bootstrap token (`APP_BOOTSTRAP_ADMIN_TOKEN`): the admin with `email` gets `token` as
    /// their MACHINE token and their other MACHINE tokens are revoked (their sign-ins stay). A token seen before
    /// (the current one, or one revoked since) changes nothing. Returns whether the token was replaced.
    pub async fn replace_bootstrap_token(&self, email: &str, token: &Secret) -> Result<bool> {
        let hash = sha256_hex(token.expose());
        let known = || api_token::Entity::find().filter(api_token::Column::TokenHash.eq(hash.clone())).one(&self.db);
        if known().await?.is_some() {
            return Ok(false);
        }
        let email = normalise_email(email).unwrap_or_default();
        let admin = user::Entity::find().filter(user::Column::Email.eq(&email)).one(&self.db).await?;
        let Some(admin) = admin.filter(|u| u.active && u.role == Role::Admin) else {
            return Err(Error::invalid(
                "APP_BOOTSTRAP_ADMIN_EMAIL",
                "NOT_FOUND",
                "no active admin has this email: the new APP_BOOTSTRAP_ADMIN_TOKEN cannot be given to anyone",
            ));
        };
        let txn = self.begin_uow().await?;
        api_token::Entity::update_many()
            .col_expr(api_token::Column::RevokedAt, sea_orm::sea_query::Expr::value(Utc::now()))
            .filter(api_token::Column::UserId.eq(admin.id))
            .filter(api_token::Column::Kind.eq(TokenKind::Machine))
            .filter(api_token::Column::RevokedAt.is_null())
            .exec(&txn)
            .await?;
        if let Err(e) = issue_token(&txn, admin.id, Some(token), &ClientInfo::default()).await {
            drop(txn);
            // Another process starting with the same configuration replaced it a moment earlier.
            return if known().await?.is_some() { Ok(false) } else { Err(e) };
        }
        self.commit(txn).await?;
        Ok(true)
    }

    pub async fn account_count(&self) -> Result<u64> {
        Ok(account::Entity::find().count(&self.db).await?)
    }

    /// Resolves a bearer token to its active user. Unknown, revoked and deactivated all answer the same.
    /// One indexed read: the token by its hash, joined with its user.
    pub async fn authenticate(&self, token: &str) -> Result<Actor> {
        use sea_orm::{FromQueryResult, Statement};
        let denied = Error::Unauthenticated("the token is invalid or revoked");
        let sql = "SELECT t.id AS token_id, t.kind, t.created_at, t.last_used_at, u.id AS user_id, u.account_id, \
                   u.role, u.active, u.must_change_password \
                   FROM api_tokens t JOIN users u ON u.id = t.user_id \
                   WHERE t.token_hash = $1 AND t.revoked_at IS NULL";
        let stmt = Statement::from_sql_and_values(self.db.get_database_backend(), sql, [sha256_hex(token).into()]);
        let Some(t) = TokenUser::find_by_statement(stmt).one(&self.db).await? else {
            return Err(denied);
        };
        if !t.active {
            return Err(denied);
        }
        let now = Utc::now();
        if self.tokens.expiry(t.kind, t.created_at, t.last_used_at).is_some_and(|end| end <= now) {
            return Err(Error::Unauthenticated("the token has expired: sign in again"));
        }
        if t.last_used_at.is_none_or(|at| now - at >= LAST_USED_RESOLUTION) {
            self.touch_tokens(&[t.token_id], now).await?;
        }
        Ok(Actor {
            user_id: t.user_id,
            account_id: t.account_id,
            role: t.role,
            token_id: t.token_id,
            must_change_password: t.must_change_password,
        })
    }

    /// Records that these tokens were used now, unless that was recorded within the last minute.
    async fn touch_tokens(&self, ids: &[Uuid], now: chrono::DateTime<Utc>) -> Result<()> {
        api_token::Entity::update_many()
            .col_expr(api_token::Column::LastUsedAt, sea_orm::sea_query::Expr::value(Some(now)))
            .filter(api_token::Column::Id.is_in(ids.iter().copied()))
            .filter(
                sea_orm::Condition::any()
                    .add(api_token::Column::LastUsedAt.is_null())
                    .add(api_token::Column::LastUsedAt.lt(now - LAST_USED_RESOLUTION)),
            )
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Whether a token row still authenticates on its own terms (not revoked, not expired).
    fn token_alive(&self, t: &api_token::Model, now: chrono::DateTime<Utc>) -> bool {
        t.revoked_at.is_none() && self.tokens.expires_at(t).is_none_or(|end| end > now)
    }

    /// Whether the user still holds a token that authenticates (not revoked, not expired): what signing out of
    /// one token asks. Read under the account's ACD lock, so concurrent sign-outs of one user see each other's
    /// revocations (the last one puts an agent OFFLINE).
    pub(crate) async fn still_signed_in<C: ConnectionTrait>(&self, db: &C, u: &user::Model) -> Result<bool> {
        crate::acd::lock_account(db, u.account_id).await?;
        let tokens = api_token::Entity::find()
            .filter(api_token::Column::UserId.eq(u.id))
            .filter(api_token::Column::RevokedAt.is_null())
            .all(db)
            .await?;
        let now = Utc::now();
        Ok(tokens.iter().any(|t| self.token_alive(t, now)))
    }

    /// Which of these tokens still authenticate (not revoked, user active): one query for all of them (the
    /// live connections of a process are re-checked this way every few seconds).
    pub async fn live_tokens(&self, ids: &[Uuid]) -> Result<std::collections::HashSet<Uuid>> {
        if ids.is_empty() {
            return Ok(Default::default());
        }
        let rows: Vec<api_token::Model> = api_token::Entity::find()
            .filter(api_token::Column::Id.is_in(ids.iter().copied()))
            .filter(api_token::Column::RevokedAt.is_null())
            .filter(
                api_token::Column::UserId.in_subquery(
                    sea_orm::sea_query::Query::select()
                        .column(user::Column::Id)
                        .from(user::Entity)
                        .and_where(user::Column::Active.eq(true))
                        .to_owned(),
                ),
            )
            .all(&self.db)
            .await?;
        let now = Utc::now();
        let live: Vec<Uuid> = rows.iter().filter(|t| self.token_alive(t, now)).map(|t| t.id).collect();
        // An open live connection is use: its token does not go idle while the desktop is open.
        self.touch_tokens(&live, now).await?;
        Ok(live.into_iter().collect())
    }

    /// Checks an email and password and issues a new session token. Wrong email and wrong password answer the
    /// same. The attempt is counted (and refused when throttled) before any password hash is computed.
    pub async fn login(&self, email: &str, password: &str, client: &ClientInfo) -> Result<IssuedToken> {
        let denied = Error::Unauthenticated("wrong email or password");
        let email = normalise_email(email).unwrap_or_else(|| email.trim().to_lowercase());
        self.count_login_attempt(&email, client).await?;
        let found = user::Entity::find().filter(user::Column::Email.eq(&email)).one(&self.db).await?;
        let Some(u) = found.filter(|u| u.active) else {
            // Same work as a real check, so timing does not tell which emails exist.
            self.check_password(password, dummy_hash());
            return Err(denied);
        };
        if !self.check_password(password, &u.password_hash) {
            return Err(denied);
        }
        self.login_succeeded(&email, client).await?;
        let txn = self.begin_uow().await?;
        let token = issue_token(&txn, u.id, None, client).await?;
        agents::on_sign_in(&txn, &u).await?;
        self.commit(txn).await?;
        Ok(IssuedToken { token, user: u })
    }

    /// Verifies a password against a hash, counted in `password_checks`.
    pub(crate) fn check_password(&self, password: &str, hash: &str) -> bool {
        self.password_checks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        verify_password(password, hash)
    }

    /// Revokes the token the caller used.
    /// Signing out of the last token puts an agent OFFLINE (their ringing offers go back to the queue).
    pub async fn logout(&self, actor: &Actor) -> Result<()> {
        self.revoke_tokens(actor, api_token::Column::Id.eq(actor.token_id)).await
    }

    /// `revokeSession`: ends one of the caller's own tokens (its subscriptions are closed within seconds).
    pub async fn revoke_session(&self, actor: &Actor, id: Uuid) -> Result<()> {
        let mine = api_token::Entity::find_by_id(id)
            .filter(api_token::Column::UserId.eq(actor.user_id))
            .filter(api_token::Column::RevokedAt.is_null())
            .one(&self.db)
            .await?;
        if mine.is_none() {
            return Err(Error::NotFound("session"));
        }
        self.revoke_tokens(actor, api_token::Column::Id.eq(id)).await
    }

    /// Revokes the caller's tokens that `which` selects, in one unit of work with what signing out means for an
    /// agent (the last token gone: OFFLINE, ringing offers back to the queue).
    pub(crate) async fn revoke_tokens(&self, actor: &Actor, which: sea_orm::sea_query::SimpleExpr) -> Result<()> {
        let txn = self.begin_uow().await?;
        api_token::Entity::update_many()
            .col_expr(api_token::Column::RevokedAt, sea_orm::sea_query::Expr::value(Utc::now()))
            .filter(api_token::Column::UserId.eq(actor.user_id))
            .filter(api_token::Column::RevokedAt.is_null())
            .filter(which)
            .exec(&txn)
            .await?;
        let u = crate::actor::user_in_account(&txn, actor, actor.user_id).await?;
        self.sign_out_if_no_token_works(&txn, &u).await?;
        self.commit(txn).await
    }

    /// Tokens of `u` were revoked in this unit of work: if none of the rest still authenticates (revoked and
    /// expired ones do not), the user is signed out (an agent goes OFFLINE, their ringing offers back to the
    /// queue). The one place that decides an agent has no way in left.
    pub(crate) async fn sign_out_if_no_token_works(&self, db: &Uow, u: &user::Model) -> Result<()> {
        if !crate::acd::status::has_agent_state(u.role) || u.active && self.still_signed_in(db, u).await? {
            return Ok(());
        }
        agents::on_sign_out(db, u).await?;
        Ok(())
    }

    /// `mySessions`: the caller's tokens that still authenticate, newest first.
    pub async fn my_sessions(&self, actor: &Actor) -> Result<Vec<api_token::Model>> {
        let rows = api_token::Entity::find()
            .filter(api_token::Column::UserId.eq(actor.user_id))
            .filter(api_token::Column::RevokedAt.is_null())
            .order_by_desc(api_token::Column::CreatedAt)
            .all(&self.db)
            .await?;
        let now = Utc::now();
        Ok(rows.into_iter().filter(|t| self.token_alive(t, now)).collect())
    }

    pub async fn create_user(&self, actor: &Actor, input: NewUser) -> Result<user::Model> {
        actor.require_admin()?;
        insert_user(&self.db, actor.account_id, &input).await
    }

    /// Deactivates a user of the caller's account and revokes all their tokens. Admins cannot deactivate
    /// themselves (the account would be left without a way in).
    pub async fn deactivate_user(&self, actor: &Actor, id: Uuid) -> Result<user::Model> {
        actor.require_admin()?;
        if id == actor.user_id {
            return Err(Error::conflict("id", "you cannot deactivate yourself"));
        }
        let txn = self.begin_uow().await?;
        let u = crate::actor::user_in_account(&txn, actor, id).await?;
        let mut am: user::ActiveModel = u.into();
        am.active = Set(false);
        let u = am.update(&txn).await?;
        api_token::Entity::update_many()
            .col_expr(api_token::Column::RevokedAt, sea_orm::sea_query::Expr::value(Utc::now()))
            .filter(api_token::Column::UserId.eq(id))
            .filter(api_token::Column::RevokedAt.is_null())
            .exec(&txn)
            .await?;
        agents::on_user_deactivated(&txn, &u).await?;
        self.commit(txn).await?;
        Ok(u)
    }

    /// A user the caller may see: staff see the whole account, agents only themselves.
    pub async fn user(&self, actor: &Actor, id: Uuid) -> Result<user::Model> {
        if !actor.is_staff() && id != actor.user_id {
            return Err(Error::NotFound("user"));
        }
        crate::actor::user_in_account(&self.db, actor, id).await
    }

    pub async fn users(&self, actor: &Actor) -> Result<Vec<user::Model>> {
        actor.require_staff()?;
        Ok(user::Entity::find()
            .filter(user::Column::AccountId.eq(actor.account_id))
            .order_by_asc(user::Column::Email)
            .all(&self.db)
            .await?)
    }
}

/// A real Argon2id hash of a random string, checked against when the email is unknown.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password(random_token("").expose()).unwrap_or_default())
}
