//! The engine's error type. Client errors say what is wrong in words a user can act on; `Internal` carries the
//! cause for the logs and is shown to clients only as "internal error".

use sea_orm::{DbErr, SqlErr};
use serde::Serialize;

/// One problem with one field of an input: where (`field`, a path such as `wrapUpCodes[2]`), which rule
/// (`code`, machine readable) and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub code: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self { field: field.into(), code, message: message.into() }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input breaks one or more rules; nothing was written.
    #[error("invalid input: {}", .0.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    /// The object does not exist, or belongs to another account (the two are indistinguishable on purpose).
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// The request is valid but clashes with the current state (a taken name or number, ...).
    /// `reason` says which race was lost, for clients that react to it (`OFFER_EXPIRED`, ...).
    #[error("{message}")]
    Conflict { field: Option<String>, message: String, reason: Option<&'static str> },
    /// Too many sign-in attempts (login throttling): refused until the window passes, in `retry_after_secs`.
    #[error("too many sign-in attempts: try again in {retry_after_secs} seconds")]
    TooManyAttempts { retry_after_secs: u64 },
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Error::Invalid(vec![FieldError::new(field, code, message)])
    }

    pub fn conflict(field: &str, message: impl Into<String>) -> Self {
        Error::Conflict { field: Some(field.to_owned()), message: message.into(), reason: None }
    }

    /// A conflict with a machine-readable reason (`extensions.reason`).
    pub fn conflict_because(reason: &'static str, message: impl Into<String>) -> Self {
        Error::Conflict { field: None, message: message.into(), reason: Some(reason) }
    }

    pub fn forbidden() -> Self {
        Error::Forbidden("your role does not allow this")
    }
}

impl From<DbErr> for Error {
    fn from(e: DbErr) -> Self {
        Error::Internal(anyhow::Error::new(e))
    }
}

impl From<anyhow::Error> for Error {
    fn from(e: anyhow::Error) -> Self {
        Error::Internal(e)
    }
}

/// True when `err` is a violation of the named unique index. SQLite reports the columns rather than the index
/// name, so callers pass both.
pub fn is_unique_violation(err: &DbErr, index: &str, sqlite_columns: &str) -> bool {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(msg)) => msg.contains(index) || msg.contains(sqlite_columns),
        _ => false,
    }
}
