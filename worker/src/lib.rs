//! The engine: domain services that own the product's rules (accounts and auth, chatbots, channels, phone
//! numbers), configuration, secrets at rest and the database handle. Both the API transport and, later, the job
//! workers call into this crate; nothing here knows about HTTP or GraphQL.

pub mod acd;
pub mod auth;
pub mod channels;
pub mod chatbots;
pub mod config;
pub mod conversations;
pub mod crypto;
pub mod db;
pub mod error;
pub mod intake;
pub mod jobs;
pub mod live;
pub mod phone;
pub mod phone_numbers;
pub mod provider;
pub mod validate;

pub use error::{Error, FieldError, Result};

use std::sync::Arc;

/// Everything a domain service needs: the database, the cipher for secrets at rest, the job store, the provider
/// adapter, and the settings that shape generated values (the public base URL of webhooks).
#[derive(Clone)]
pub struct Engine {
    pub db: sea_orm::DatabaseConnection,
    pub cipher: Arc<crypto::Cipher>,
    pub public_base_url: Arc<str>,
    /// Where jobs are queued: the same database.
    pub jobs: jobs::JobStore,
    /// The WhatsApp provider adapter.
    pub provider: Arc<dyn provider::Provider>,
    /// Wakes this process's workers when a job due now was committed.
    pub wakeups: Arc<jobs::wake::Wakeups>,
    /// Distribution runs in progress in this process, per account (requests coalesce).
    pub distributions: Arc<acd::Distributions>,
    /// Live events: publishing what this process commits, and the subscriptions it serves.
    pub live: Arc<live::Bus>,
}

impl Engine {
    pub fn new(db: sea_orm::DatabaseConnection, cipher: crypto::Cipher, public_base_url: &str) -> anyhow::Result<Self> {
        Ok(Self {
            jobs: jobs::JobStore::from_db(&db),
            cipher: Arc::new(cipher),
            public_base_url: Arc::from(public_base_url.trim_end_matches('/')),
            provider: Arc::new(provider::NovaClient::new()?),
            wakeups: Arc::default(),
            distributions: Arc::default(),
            live: Arc::new(live::Bus::new(db.clone(), live::LiveSettings::default())),
            db,
        })
    }

    /// The same engine with other live settings (retention, presence grace).
    pub fn with_live_settings(mut self, settings: live::LiveSettings) -> Self {
        self.live = Arc::new(live::Bus::new(self.db.clone(), settings));
        self
    }
}

impl Engine {
    /// Starts a transaction that will write. On SQLite it takes the write lock at `BEGIN` (IMMEDIATE), so a
    /// transaction that reads before it writes waits for other writers (busy timeout) instead of failing when
    /// one commits in between; PostgreSQL ignores the mode.
    pub async fn begin_write(&self) -> Result<sea_orm::DatabaseTransaction, sea_orm::DbErr> {
        use sea_orm::{SqliteTransactionMode, TransactionOptions, TransactionTrait};
        self.db
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..Default::default()
            })
            .await
    }

    /// Rows of a table by their ids, keyed by id: one query whatever the number (DataLoaders and list joins).
    pub(crate) async fn rows_by_id<E>(
        &self,
        id: E::Column,
        ids: &[uuid::Uuid],
        key: impl Fn(&E::Model) -> uuid::Uuid,
    ) -> Result<std::collections::HashMap<uuid::Uuid, E::Model>>
    where
        E: sea_orm::EntityTrait,
    {
        use sea_orm::{ColumnTrait, QueryFilter};
        Ok(E::find()
            .filter(id.is_in(ids.iter().copied()))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|m| (key(&m), m))
            .collect())
    }

    /// Starts a unit of work: a write transaction whose live events are appended when it commits.
    pub async fn begin_uow(&self) -> Result<live::Uow> {
        Ok(live::Uow::new(self.begin_write().await?, self.live.clone()))
    }
}
