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
pub mod net;
pub mod passwords;
pub mod phone;
pub mod phone_numbers;
pub mod provider;
pub mod throttle;
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
    /// Which addresses admin-typed URLs may reach (`APP_ALLOW_PRIVATE_URLS`); checked when they are saved.
    pub url_policy: net::UrlPolicy,
    /// The HTTP client of posts to chatbots (shared connection pool; guarded by `url_policy`).
    pub chatbot_http: reqwest::Client,
    /// Sign-in token lifetimes.
    pub tokens: auth::TokenSettings,
    /// Login throttling settings (trusted networks and proxies).
    pub login: Arc<throttle::LoginSettings>,
    /// Password hashes computed to check a sign-in (a throttled attempt computes none).
    pub password_checks: Arc<std::sync::atomic::AtomicU64>,
    /// SQL statements this engine executed (the `/metrics` counter).
    pub statements: Arc<std::sync::atomic::AtomicU64>,
    /// Webhook deliveries waiting to be stored share one transaction and one commit.
    pub intake: Arc<intake::GroupCommit>,
    /// The numbers of recently seen webhook tokens (forgotten at once by a change made through this process).
    pub webhook_numbers: Arc<intake::WebhookNumbers>,
}

impl Engine {
    pub fn new(
        mut db: sea_orm::DatabaseConnection,
        cipher: crypto::Cipher,
        public_base_url: &str,
    ) -> anyhow::Result<Self> {
        let statements = Arc::default();
        db::count_into(&mut db, Arc::clone(&statements));
        let wakeups: Arc<jobs::wake::Wakeups> = Arc::default();
        Ok(Self {
            intake: Arc::new(intake::GroupCommit::new(db.clone(), Arc::clone(&wakeups), Arc::clone(&statements))),
            webhook_numbers: Arc::default(),
            jobs: jobs::JobStore::from_db(&db),
            cipher: Arc::new(cipher),
            public_base_url: Arc::from(public_base_url.trim_end_matches('/')),
            provider: Arc::new(provider::NovaClient::new()?),
            wakeups,
            distributions: Arc::default(),
            live: Arc::new(live::Bus::new(db.clone(), live::LiveSettings::default())),
            url_policy: net::UrlPolicy::default(),
            chatbot_http: chatbots::delivery::http_client(net::UrlPolicy::default())?,
            tokens: auth::TokenSettings::default(),
            login: Arc::default(),
            password_checks: Arc::default(),
            statements,
            db,
        })
    }

    /// The same engine with another URL policy, applied when URLs are saved and by a provider adapter rebuilt
    /// with it.
    pub fn with_url_policy(mut self, policy: net::UrlPolicy) -> anyhow::Result<Self> {
        self.url_policy = policy;
        self.provider = Arc::new(provider::NovaClient::with_policy(policy)?);
        self.chatbot_http = chatbots::delivery::http_client(policy)?;
        Ok(self)
    }

    /// The same engine with other sign-in settings (token lifetimes, login throttling).
    pub fn with_sign_in_settings(mut self, tokens: auth::TokenSettings, login: throttle::LoginSettings) -> Self {
        self.tokens = tokens;
        self.login = Arc::new(login);
        self
    }

    /// The same engine with other live settings (retention, presence grace).
    pub fn with_live_settings(mut self, settings: live::LiveSettings) -> Self {
        self.live = Arc::new(live::Bus::new(self.db.clone(), settings));
        self
    }
}

impl Engine {
    /// Starts a transaction that will write ([`db::begin_write`]).
    pub async fn begin_write(&self) -> Result<sea_orm::DatabaseTransaction, sea_orm::DbErr> {
        db::begin_write(&self.db).await
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

    /// Starts a unit of work: a write transaction whose live events are appended when it commits.
    pub async fn begin_uow(&self) -> Result<live::Uow> {
        Ok(live::Uow::new(self.begin_write().await?, self.live.clone()))
    }
}
