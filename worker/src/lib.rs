//! The engine: domain services that own the product's rules (accounts and auth, chatbots, channels, phone
//! numbers), configuration, secrets at rest and the database handle. Both the API transport and, later, the job
//! workers call into this crate; nothing here knows about HTTP or GraphQL.

pub mod auth;
pub mod channels;
pub mod chatbots;
pub mod config;
pub mod crypto;
pub mod db;
pub mod error;
pub mod phone;
pub mod phone_numbers;
pub mod validate;

pub use error::{Error, FieldError, Result};

use std::sync::Arc;

/// Everything a domain service needs: the database, the cipher for secrets at rest, and the settings that
/// shape generated values (the public base URL of webhooks).
#[derive(Clone)]
pub struct Engine {
    pub db: sea_orm::DatabaseConnection,
    pub cipher: Arc<crypto::Cipher>,
    pub public_base_url: Arc<str>,
}

impl Engine {
    pub fn new(db: sea_orm::DatabaseConnection, cipher: crypto::Cipher, public_base_url: &str) -> Self {
        Self { db, cipher: Arc::new(cipher), public_base_url: Arc::from(public_base_url.trim_end_matches('/')) }
    }
}
