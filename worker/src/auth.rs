//! Accounts, users and bearer tokens. Tokens are random, shown once, stored only as SHA-256 hashes and
//! revocable; passwords are Argon2id hashes. `Actor` is who is calling, and every service takes one.

use crate::crypto::{Secret, hash_password, random_token, sha256_hex, verify_password};
use crate::{Engine, Error, Result};
use chrono::Utc;
use entity::{Role, account, api_token, user};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    Set,
};
use uuid::Uuid;

pub const MIN_PASSWORD_LEN: usize = 10;
const TOKEN_PREFIX: &str = "nva_";

/// The authenticated caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    pub user_id: Uuid,
    pub account_id: Uuid,
    pub role: Role,
    pub token_id: Uuid,
}

impl Actor {
    /// Configuration changes: admins only.
    pub fn require_admin(&self) -> Result<()> {
        if self.role == Role::Admin { Ok(()) } else { Err(Error::forbidden()) }
    }

    /// Account-wide reads: admins and supervisors.
    pub fn require_staff(&self) -> Result<()> {
        if self.is_staff() { Ok(()) } else { Err(Error::forbidden()) }
    }

    pub fn is_staff(&self) -> bool {
        matches!(self.role, Role::Admin | Role::Supervisor)
    }
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
    let n = input.password.expose().chars().count();
    if n < MIN_PASSWORD_LEN {
        errors.push(crate::FieldError::new(
            "password",
            "TOO_SHORT",
            format!("must be at least {MIN_PASSWORD_LEN} characters"),
        ));
    } else if n > 256 {
        errors.push(crate::FieldError::new("password", "TOO_LONG", "must be at most 256 characters"));
    }
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

async fn issue_token<C: ConnectionTrait>(db: &C, user_id: Uuid, fixed: Option<&Secret>) -> Result<Secret> {
    let token = fixed.cloned().unwrap_or_else(|| random_token(TOKEN_PREFIX));
    api_token::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user_id),
        token_hash: Set(sha256_hex(token.expose())),
        created_at: Set(Utc::now()),
        revoked_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok(token)
}

impl Engine {
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
        let txn = self.begin_write().await?;
        let acc =
            account::ActiveModel { id: Set(Uuid::now_v7()), name: Set(name.to_owned()), created_at: Set(Utc::now()) }
                .insert(&txn)
                .await?;
        let user = insert_user(&txn, acc.id, &NewUser { role: Role::Admin, ..admin }).await?;
        let token = issue_token(&txn, user.id, token).await?;
        txn.commit().await?;
        Ok((acc, IssuedToken { token, user }))
    }

    pub async fn account_count(&self) -> Result<u64> {
        Ok(account::Entity::find().count(&self.db).await?)
    }

    /// Resolves a bearer token to its active user. Unknown, revoked and deactivated all answer the same.
    pub async fn authenticate(&self, token: &str) -> Result<Actor> {
        let denied = Error::Unauthenticated("the token is invalid or revoked");
        let Some(t) = api_token::Entity::find()
            .filter(api_token::Column::TokenHash.eq(sha256_hex(token)))
            .filter(api_token::Column::RevokedAt.is_null())
            .one(&self.db)
            .await?
        else {
            return Err(denied);
        };
        let Some(u) = user::Entity::find_by_id(t.user_id).one(&self.db).await? else {
            return Err(denied);
        };
        if !u.active {
            return Err(denied);
        }
        Ok(Actor { user_id: u.id, account_id: u.account_id, role: u.role, token_id: t.id })
    }

    /// Which of these tokens still authenticate (not revoked, user active): one query for all of them (the
    /// live connections of a process are re-checked this way every few seconds).
    pub async fn live_tokens(&self, ids: &[Uuid]) -> Result<std::collections::HashSet<Uuid>> {
        if ids.is_empty() {
            return Ok(Default::default());
        }
        let rows: Vec<Uuid> = api_token::Entity::find()
            .select_only()
            .column(api_token::Column::Id)
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
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().collect())
    }

    /// Checks an email and password and issues a new token. Wrong email and wrong password answer the same.
    pub async fn login(&self, email: &str, password: &str) -> Result<IssuedToken> {
        let denied = Error::Unauthenticated("wrong email or password");
        let Some(email) = normalise_email(email) else {
            return Err(denied);
        };
        let found = user::Entity::find().filter(user::Column::Email.eq(email)).one(&self.db).await?;
        let Some(u) = found.filter(|u| u.active) else {
            // Same work as a real check, so timing does not tell which emails exist.
            let _ = verify_password(password, dummy_hash());
            return Err(denied);
        };
        if !verify_password(password, &u.password_hash) {
            return Err(denied);
        }
        let txn = self.begin_uow().await?;
        let token = issue_token(&txn, u.id, None).await?;
        self.on_sign_in(&txn, &u).await?;
        txn.commit().await?;
        Ok(IssuedToken { token, user: u })
    }

    /// Revokes the token the caller used.
    /// Signing out of the last token puts an agent OFFLINE (their ringing offers go back to the queue).
    pub async fn logout(&self, actor: &Actor) -> Result<()> {
        let txn = self.begin_uow().await?;
        api_token::Entity::update_many()
            .col_expr(api_token::Column::RevokedAt, sea_orm::sea_query::Expr::value(Utc::now()))
            .filter(api_token::Column::Id.eq(actor.token_id))
            .exec(&txn)
            .await?;
        let u = self.user_in_account(&txn, actor, actor.user_id).await?;
        let offline = self.on_sign_out(&txn, &u).await?;
        txn.commit().await?;
        if offline {
            self.redistribute(actor.account_id).await;
        }
        Ok(())
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
        let u = self.user_in_account(&txn, actor, id).await?;
        let mut am: user::ActiveModel = u.into();
        am.active = Set(false);
        let u = am.update(&txn).await?;
        api_token::Entity::update_many()
            .col_expr(api_token::Column::RevokedAt, sea_orm::sea_query::Expr::value(Utc::now()))
            .filter(api_token::Column::UserId.eq(id))
            .filter(api_token::Column::RevokedAt.is_null())
            .exec(&txn)
            .await?;
        crate::acd::lifecycle::on_user_deactivated(&txn, &u).await?;
        self.on_sign_out(&txn, &u).await?;
        txn.commit().await?;
        self.redistribute(actor.account_id).await;
        Ok(u)
    }

    pub async fn user_in_account<C: ConnectionTrait>(&self, db: &C, actor: &Actor, id: Uuid) -> Result<user::Model> {
        user::Entity::find_by_id(id)
            .filter(user::Column::AccountId.eq(actor.account_id))
            .one(db)
            .await?
            .ok_or(Error::NotFound("user"))
    }

    /// A user the caller may see: staff see the whole account, agents only themselves.
    pub async fn user(&self, actor: &Actor, id: Uuid) -> Result<user::Model> {
        if !actor.is_staff() && id != actor.user_id {
            return Err(Error::NotFound("user"));
        }
        self.user_in_account(&self.db, actor, id).await
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
