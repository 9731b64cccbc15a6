//! Storage layer: [`Store`], what every layer above writes and reads through: the database, the job store and
//! its wake-ups, the live event bus, the provider adapter and secrets at rest. Its one way to open a write
//! transaction is [`Store::begin_uow`], a unit of work that carries its change's events and after-commit effects.

use crate::{Result, crypto, jobs, live, net, provider};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

/// The storage handle (cheap to clone: every part is shared).
#[derive(Clone)]
pub struct Store {
    pub db: sea_orm::DatabaseConnection,
    pub cipher: Arc<crypto::Cipher>,
    /// The public base URL of webhooks.
    pub public_base_url: Arc<str>,
    /// Where jobs are queued: the same database.
    pub jobs: jobs::JobStore,
    /// The WhatsApp provider adapter.
    pub provider: Arc<dyn provider::Provider>,
    /// Wakes this process's workers when a job due now was committed.
    pub wakeups: Arc<jobs::wake::Wakeups>,
    /// Live events: publishing what this process commits, and the subscriptions it serves.
    pub live: Arc<live::Bus>,
    /// Which addresses admin-typed URLs may reach (`APP_ALLOW_PRIVATE_URLS`); checked when they are saved.
    pub url_policy: net::UrlPolicy,
    /// SQL statements this engine executed (the `/metrics` counter).
    pub statements: Arc<AtomicU64>,
}

impl Store {
    /// Starts a unit of work: a write transaction ([`crate::db::begin_write`]) whose live events are appended and
    /// whose wake-ups are sent when it commits.
    pub async fn begin_uow(&self) -> Result<live::Uow> {
        let txn = crate::db::begin_write(&self.db).await?;
        Ok(live::Uow::new(txn, self.live.clone(), self.wakeups.clone()))
    }

    /// Rows of a table by their ids, keyed by id: one query whatever the number, none for no ids (DataLoaders and
    /// list joins).
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
        if ids.is_empty() {
            return Ok(Default::default());
        }
        Ok(E::find()
            .filter(id.is_in(ids.iter().copied()))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|m| (key(&m), m))
            .collect())
    }
}
