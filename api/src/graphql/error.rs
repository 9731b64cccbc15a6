//! The one API error type. Client errors keep their message and carry `extensions.code` (and, for bad input,
//! the field path and every problem found); server errors are logged with their cause chain and reach clients
//! only as "internal error". `ApiError` deliberately has no `Display`, so it can never slip through
//! async-graphql's blanket string conversion and lose its code.

use async_graphql::{ErrorExtensionValues, Value};
use std::sync::Arc;
use worker::Error;

#[derive(Clone)]
pub struct ApiError(Arc<Error>);

pub type ApiResult<T> = Result<T, ApiError>;

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(Arc::new(e))
    }
}

impl ApiError {
    pub fn unauthenticated(msg: &'static str) -> Self {
        Error::Unauthenticated(msg).into()
    }
    pub fn not_found(what: &'static str) -> Self {
        Error::NotFound(what).into()
    }
    pub fn bad_input(field: &str, code: &'static str, message: impl Into<String>) -> Self {
        Error::invalid(field, code, message).into()
    }
}

fn error_list(errors: &[worker::FieldError]) -> Value {
    Value::List(
        errors
            .iter()
            .map(|e| {
                let mut m = async_graphql::indexmap::IndexMap::new();
                m.insert(async_graphql::Name::new("field"), Value::from(e.field.clone()));
                m.insert(async_graphql::Name::new("code"), Value::from(e.code));
                m.insert(async_graphql::Name::new("message"), Value::from(e.message.clone()));
                Value::Object(m)
            })
            .collect(),
    )
}

impl From<ApiError> for async_graphql::Error {
    fn from(e: ApiError) -> Self {
        let mut ext = ErrorExtensionValues::default();
        let message = match &*e.0 {
            Error::Invalid(errors) => {
                ext.set("code", "BAD_USER_INPUT");
                if let Some(first) = errors.first() {
                    ext.set("field", first.field.clone());
                }
                ext.set("errors", error_list(errors));
                e.0.to_string()
            }
            Error::NotFound(_) => {
                ext.set("code", "NOT_FOUND");
                e.0.to_string()
            }
            Error::Forbidden(_) => {
                ext.set("code", "FORBIDDEN");
                e.0.to_string()
            }
            Error::Unauthenticated(_) => {
                ext.set("code", "UNAUTHENTICATED");
                e.0.to_string()
            }
            Error::Conflict { field, reason, .. } => {
                ext.set("code", "CONFLICT");
                if let Some(f) = field {
                    ext.set("field", f.clone());
                }
                if let Some(r) = reason {
                    ext.set("reason", *r);
                }
                e.0.to_string()
            }
            Error::TooManyAttempts { retry_after_secs } => {
                ext.set("code", "TOO_MANY_ATTEMPTS");
                ext.set("retryAfter", *retry_after_secs);
                e.0.to_string()
            }
            Error::Internal(cause) => {
                tracing::error!(error = ?cause, "internal error");
                ext.set("code", "INTERNAL_SERVER_ERROR");
                "internal error".to_owned()
            }
        };
        async_graphql::Error { message, source: None, extensions: Some(ext) }
    }
}
