//! Background jobs on apalis storage in the product's own database: apalis-sqlite on the embedded default,
//! apalis-postgres on PostgreSQL, sharing the sea-orm pool. Every job type has a stable queue name, explicit
//! attempts, a per-run timeout and a concurrency bound (`JobSpec`). Retries of provider calls are the domain's
//! own (a new delayed job with `attempt + 1`), so backoff is explicit and visible in the row's state.

pub mod admin;
pub mod failures;
pub mod reverify;
pub mod runtime;
pub mod verify;

use anyhow::Context;
use sea_orm::{DatabaseBackend, DatabaseConnection};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;

/// How one job type runs.
pub struct JobSpec {
    /// Stable queue name (never derived from a Rust type name).
    pub queue: &'static str,
    /// apalis attempts for a run that errors (infrastructure failures: database down, panics).
    pub max_attempts: usize,
    /// A run taking longer fails.
    pub timeout: Duration,
    /// Runs in flight at once per process.
    pub concurrency: usize,
}

pub trait Job: Serialize + DeserializeOwned + Send + Sync + Unpin + 'static {
    const SPEC: JobSpec;
}

/// Where jobs are stored: the product's own database.
#[derive(Clone, Debug)]
pub enum JobStore {
    Sqlite(apalis_sqlite::SqlitePool),
    Postgres(apalis_postgres::PgPool),
}

impl JobStore {
    pub fn from_db(db: &DatabaseConnection) -> Self {
        match db.get_database_backend() {
            DatabaseBackend::Postgres => JobStore::Postgres(db.get_postgres_connection_pool().clone()),
            _ => JobStore::Sqlite(db.get_sqlite_connection_pool().clone()),
        }
    }

    /// Creates apalis' tables. On SQLite, apalis' setup switches its connection to `synchronous=OFF`, so it runs
    /// on a connection of its own, closed afterwards, never on the shared pool.
    pub async fn setup(&self, database_url: &str) -> anyhow::Result<()> {
        match self {
            JobStore::Sqlite(_) => {
                let opts: apalis_sqlite::SqliteConnectOptions =
                    database_url.parse().context("the SQLite URL cannot be parsed")?;
                let pool = apalis_sqlite::SqlitePoolOptions::new().max_connections(1).connect_with(opts).await?;
                apalis_sqlite::SqliteStorage::setup(&pool).await.context("job storage setup failed")?;
                pool.close().await;
            }
            JobStore::Postgres(pool) => {
                apalis_postgres::PostgresStorage::setup(pool).await.context("job storage setup failed")?;
            }
        }
        Ok(())
    }

    /// Queues a job, to run after `delay` (whole seconds: apalis schedules by the second).
    pub async fn push<J: Job>(&self, job: &J, delay: Option<Duration>) -> anyhow::Result<()> {
        let args = serde_json::to_vec(job)?;
        let mut task = apalis::prelude::TaskBuilder::new(args).max_attempts(J::SPEC.max_attempts);
        if let Some(d) = delay {
            task = task.run_after(d);
        }
        let task = task.build();
        match self {
            JobStore::Sqlite(pool) => {
                let mut conn = pool.acquire().await?;
                apalis_sqlite::queries::push_tasks(&mut *conn, J::SPEC.queue, &[task]).await?;
            }
            JobStore::Postgres(pool) => {
                let mut conn = pool.acquire().await?;
                apalis_postgres::queries::push_tasks(&mut *conn, J::SPEC.queue, vec![task]).await?;
            }
        }
        Ok(())
    }

    /// Queues a job unless its queue already holds one with the same idempotency key (while that row exists);
    /// true when this call queued it. PostgreSQL refuses the duplicate with a unique violation, SQLite drops it
    /// silently (`ON CONFLICT DO NOTHING`), so each backend is asked in its own way.
    pub async fn push_unique<J: Job>(&self, job: &J, key: &str) -> anyhow::Result<bool> {
        let args = serde_json::to_vec(job)?;
        let task =
            apalis::prelude::TaskBuilder::new(args).max_attempts(J::SPEC.max_attempts).idempotency_key(key).build();
        match self {
            JobStore::Sqlite(pool) => {
                let mut conn = pool.acquire().await?;
                apalis_sqlite::queries::push_tasks(&mut *conn, J::SPEC.queue, &[task]).await?;
                // Rows changed by the last statement on this connection: the one INSERT.
                let changed: i64 = sea_orm::sqlx::query_scalar("SELECT changes()").fetch_one(&mut *conn).await?;
                Ok(changed == 1)
            }
            JobStore::Postgres(pool) => {
                let mut conn = pool.acquire().await?;
                match apalis_postgres::queries::push_tasks(&mut *conn, J::SPEC.queue, vec![task]).await {
                    Ok(()) => Ok(true),
                    Err(apalis_postgres::Error::Database(sea_orm::sqlx::Error::Database(e)))
                        if e.is_unique_violation() =>
                    {
                        Ok(false)
                    }
                    Err(e) => Err(e.into()),
                }
            }
        }
    }

    /// Queues many jobs of one type at once (one statement on PostgreSQL, one transaction on SQLite), each to run
    /// at its own unix time in seconds (`None`: now).
    pub async fn push_many<J: Job>(&self, jobs: &[(J, Option<u64>)]) -> anyhow::Result<()> {
        if jobs.is_empty() {
            return Ok(());
        }
        let mut tasks = Vec::with_capacity(jobs.len());
        for (job, run_at) in jobs {
            let mut task =
                apalis::prelude::TaskBuilder::new(serde_json::to_vec(job)?).max_attempts(J::SPEC.max_attempts);
            if let Some(at) = run_at {
                task = task.run_at_timestamp(*at);
            }
            tasks.push(task.build());
        }
        match self {
            JobStore::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                apalis_sqlite::queries::push_tasks(&mut *tx, J::SPEC.queue, &tasks).await?;
                tx.commit().await?;
            }
            JobStore::Postgres(pool) => {
                let mut conn = pool.acquire().await?;
                apalis_postgres::queries::push_tasks(&mut *conn, J::SPEC.queue, tasks).await?;
            }
        }
        Ok(())
    }
}
