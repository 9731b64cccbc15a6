//! Password rules and changes. Every password a person chooses (a new user's, a changed one) passes the same
//! check: 10 to 256 characters and hard to guess, as the zxcvbn estimator judges it (score 3 or more, that is
//! about 10^10 guesses) with the user's email and name counted as easy guesses. An admin's reset hands out a
//! random temporary password once; its user must change it at the next sign-in.

use crate::auth::{Actor, MIN_PASSWORD_LEN};
use crate::crypto::{Secret, hash_password, random_token};
use crate::{Engine, Error, FieldError, Result};
use entity::{api_token, user};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

pub const MAX_PASSWORD_LEN: usize = 256;
/// The lowest zxcvbn score a new password may have (0 to 4; 3: about 10^10 guesses).
pub const MIN_STRENGTH: zxcvbn::Score = zxcvbn::Score::Three;
/// Characters of a temporary password (URL-safe base64: 120 random bits).
const TEMPORARY_LEN: usize = 20;

/// What makes a new password unacceptable, if anything: its length (`TOO_SHORT`, `TOO_LONG`) or how easy it is
/// to guess (`WEAK_PASSWORD`, with the reason and a suggestion). `email` and `name` are the user's: a password
/// made of them is weak.
pub fn password_problem(field: &str, password: &str, email: &str, name: &str) -> Option<FieldError> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_LEN {
        return Some(FieldError::new(field, "TOO_SHORT", format!("must be at least {MIN_PASSWORD_LEN} characters")));
    }
    if n > MAX_PASSWORD_LEN {
        return Some(FieldError::new(field, "TOO_LONG", format!("must be at most {MAX_PASSWORD_LEN} characters")));
    }
    let inputs = user_inputs(email, name);
    let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let estimate = zxcvbn::zxcvbn(password, &refs);
    if estimate.score() >= MIN_STRENGTH {
        return None;
    }
    let mut why = Vec::new();
    let lower = password.to_lowercase();
    if inputs.iter().any(|i| i.chars().count() >= 3 && lower.contains(i.as_str())) {
        why.push("It contains your email address or name.".to_owned());
    } else if let Some(w) = estimate.feedback().and_then(|f| f.warning()) {
        why.push(w.to_string());
    }
    match estimate.feedback().and_then(|f| f.suggestions().first()) {
        Some(s) => why.push(s.to_string()),
        None => why.push("Use a few uncommon words.".to_owned()),
    }
    Some(FieldError::new(field, "WEAK_PASSWORD", format!("too easy to guess: {}", why.join(" "))))
}

/// [`password_problem`] as a result: `Error::Invalid` on `field` when the password is not acceptable.
pub fn check_new_password(field: &str, password: &str, email: &str, name: &str) -> Result<()> {
    match password_problem(field, password, email, name) {
        Some(e) => Err(Error::Invalid(vec![e])),
        None => Ok(()),
    }
}

/// What a guesser knows about the user: the email, its local part (whole, without separators and in pieces) and
/// the name (whole and its words), lower-cased, without duplicates.
fn user_inputs(email: &str, name: &str) -> Vec<String> {
    let email = email.trim().to_lowercase();
    let local = email.split('@').next().unwrap_or_default().to_owned();
    let name = name.trim().to_lowercase();
    let mut out = vec![email.clone(), local.clone(), name.clone()];
    out.push(local.chars().filter(|c| c.is_alphanumeric()).collect());
    out.extend(local.split(|c: char| !c.is_alphanumeric()).map(str::to_owned));
    out.extend(name.split(|c: char| !c.is_alphanumeric()).map(str::to_owned));
    out.retain(|s| !s.is_empty());
    let mut seen = std::collections::HashSet::new();
    out.retain(|s| seen.insert(s.clone()));
    out
}

/// A random temporary password (not derived from anything the user or the admin knows).
pub(crate) fn temporary_password() -> Secret {
    Secret::new(random_token("").expose().chars().take(TEMPORARY_LEN).collect::<String>())
}

/// An admin's reset: the temporary password (shown this once) and the user.
pub struct PasswordReset {
    pub temporary_password: Secret,
    pub user: user::Model,
}

impl Engine {
    /// `changeMyPassword`: checks the current password, then stores the new one (same rules as a new user's),
    /// clears a pending "must change", and revokes every other token of the caller (the one in use keeps
    /// working).
    pub async fn change_my_password(&self, actor: &Actor, current: &Secret, new: &Secret) -> Result<()> {
        let u = self.user_in_account(&self.db, actor, actor.user_id).await?;
        if !self.check_password(current.expose(), &u.password_hash) {
            return Err(Error::invalid("currentPassword", "WRONG_PASSWORD", "is not your current password"));
        }
        if new.expose() == current.expose() {
            return Err(Error::invalid("newPassword", "SAME_PASSWORD", "must differ from your current password"));
        }
        check_new_password("newPassword", new.expose(), &u.email, &u.name)?;
        let hash = hash_password(new.expose())?;
        let txn = self.begin_uow().await?;
        // Only over the hash just checked: a change that landed meanwhile is not overwritten.
        let changed = user::Entity::update_many()
            .col_expr(user::Column::PasswordHash, Expr::value(hash))
            .col_expr(user::Column::MustChangePassword, Expr::value(false))
            .filter(user::Column::Id.eq(u.id))
            .filter(user::Column::PasswordHash.eq(&u.password_hash))
            .exec(&txn)
            .await?;
        if changed.rows_affected != 1 {
            return Err(Error::conflict("currentPassword", "the password was changed meanwhile: sign in again"));
        }
        revoke_all_but(&txn, u.id, Some(actor.token_id)).await?;
        // The token in use stays, so an agent stays signed in; the call keeps the rule in one place.
        let still_signed_in = self.still_signed_in(&txn, &u).await?;
        let offline = self.on_sign_out(&txn, &u, still_signed_in).await?;
        txn.commit().await?;
        if offline {
            self.redistribute(actor.account_id).await;
        }
        Ok(())
    }

    /// `resetUserPassword` (admins): gives a user of the account a random temporary password, which this answer
    /// shows once, revokes all their tokens (an agent goes OFFLINE, their ringing offers back to the queue) and
    /// makes them change it at the next sign-in. Not for yourself (`changeMyPassword`), nor a deactivated user.
    pub async fn reset_user_password(&self, actor: &Actor, user_id: Uuid) -> Result<PasswordReset> {
        actor.require_admin()?;
        if user_id == actor.user_id {
            return Err(Error::conflict("userId", "you cannot reset your own password: use changeMyPassword"));
        }
        // Looked up before hashing: an unknown id costs no Argon2 work.
        let found = self.user_in_account(&self.db, actor, user_id).await?;
        if !found.active {
            return Err(Error::conflict("userId", "the user is deactivated"));
        }
        let temporary = temporary_password();
        let hash = hash_password(temporary.expose())?;
        let txn = self.begin_uow().await?;
        let u = self.user_in_account(&txn, actor, user_id).await?;
        if !u.active {
            return Err(Error::conflict("userId", "the user is deactivated"));
        }
        let mut am: user::ActiveModel = u.into();
        am.password_hash = sea_orm::Set(hash);
        am.must_change_password = sea_orm::Set(true);
        let u = sea_orm::ActiveModelTrait::update(am, &txn).await?;
        revoke_all_but(&txn, u.id, None).await?;
        let still_signed_in = self.still_signed_in(&txn, &u).await?;
        let offline = self.on_sign_out(&txn, &u, still_signed_in).await?;
        txn.commit().await?;
        if offline {
            self.redistribute(actor.account_id).await;
        }
        Ok(PasswordReset { temporary_password: temporary, user: u })
    }
}

/// Revokes the user's live tokens, except `keep`.
async fn revoke_all_but<C: sea_orm::ConnectionTrait>(db: &C, user_id: Uuid, keep: Option<Uuid>) -> Result<()> {
    let mut q = api_token::Entity::update_many()
        .col_expr(api_token::Column::RevokedAt, Expr::value(chrono::Utc::now()))
        .filter(api_token::Column::UserId.eq(user_id))
        .filter(api_token::Column::RevokedAt.is_null());
    if let Some(id) = keep {
        q = q.filter(api_token::Column::Id.ne(id));
    }
    q.exec(db).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(p: &str) -> Option<FieldError> {
        password_problem("password", p, "ana.lopez@example.com", "Ana López")
    }

    #[test]
    fn strong_passwords_pass() {
        for p in ["correct horse battery", "a long password 42", "violet tractor sings 88"] {
            assert_eq!(problem(p), None, "{p}");
        }
        // With the inputs the test helpers use.
        let admin = password_problem("password", "correct horse battery", "admin-0a1b2c@example.com", "Admin");
        assert_eq!(admin, None);
    }

    #[test]
    fn weak_passwords_say_why() {
        for p in ["password123", "Summer2024!", "password-123", "qwertyuiop", "aaaaaaaaaaaa"] {
            let e = problem(p).unwrap_or_else(|| panic!("{p} passed"));
            assert_eq!((e.field.as_str(), e.code), ("password", "WEAK_PASSWORD"), "{p}");
            assert!(e.message.starts_with("too easy to guess: ") && e.message.len() > 25, "{p}: {}", e.message);
        }
        let e = problem("Summer2024!").map(|e| e.message);
        assert_eq!(
            e.as_deref(),
            Some(
                "too easy to guess: This is similar to a commonly used password. Add another word or two. Uncommon \
                 words are better."
            )
        );
    }

    #[test]
    fn the_users_own_email_and_name_are_weak() {
        for p in ["ana.lopez@example.com", "analopez2024", "Ana López!!"] {
            let e = problem(p).unwrap_or_else(|| panic!("{p} passed"));
            assert_eq!(e.code, "WEAK_PASSWORD", "{p}");
            assert!(e.message.contains("your email address or name"), "{p}: {}", e.message);
        }
    }

    #[test]
    fn length_comes_first() {
        assert_eq!(problem("123456789").map(|e| e.code), Some("TOO_SHORT"));
        assert_eq!(problem(&"x".repeat(257)).map(|e| e.code), Some("TOO_LONG"));
        assert_eq!(problem(&"correct horse battery ".repeat(12)[..256]), None);
    }

    #[test]
    fn temporary_passwords_are_strong() {
        for _ in 0..50 {
            let t = temporary_password();
            assert_eq!(t.expose().chars().count(), TEMPORARY_LEN);
            assert_eq!(problem(t.expose()), None, "{}", t.expose());
        }
    }

    #[test]
    fn inputs_cover_the_email_and_the_name_words() {
        let i = user_inputs(" Ana.Lopez@Example.com ", "Ana  López");
        for w in ["ana.lopez@example.com", "ana.lopez", "ana", "lopez", "ana  lópez", "lópez"] {
            assert!(i.iter().any(|x| x == w), "{w} missing from {i:?}");
        }
        assert_eq!(i.iter().filter(|x| *x == "ana").count(), 1);
    }
}
