//! Background jobs on apalis storage in the product's own database: apalis-sqlite on the embedded default,
//! apalis-postgres on PostgreSQL, sharing the sea-orm pool. Every job type has a stable queue name, explicit
//! attempts, a per-run timeout and a concurrency bound (`JobSpec`). Retries of provider calls are the domain's
//! own (a new delayed job with `attempt + 1`), so backoff is explicit and visible in the row's state.

pub mod admin;
pub mod failures;
pub mod reverify;
pub mod runtime;
pub mod verify;
pub mod wake;

use crate::Engine;
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::future::Future;
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

/// A job type: its payload is the struct itself; `run` is what a worker does with it. Delivery is at least once,
/// so every `run` is idempotent. Every job type is registered from one list (`runtime::register_all`).
pub trait Job: Serialize + DeserializeOwned + Send + Sync + Unpin + 'static {
    const SPEC: JobSpec;
    fn run(&self, engine: &Engine) -> impl Future<Output = crate::Result<()>> + Send;
}

/// When a queued job is due. apalis schedules by the whole second: a time is rounded up, so a job never starts
/// before the moment it was scheduled for (a timer that fires early must not act).
#[derive(Debug, Clone, Copy)]
pub enum Due {
    Now,
    After(Duration),
    At(DateTime<Utc>),
}

impl Due {
    /// The unix second the job may start at.
    pub fn unix_seconds(self) -> i64 {
        let at = match self {
            Due::Now => return Utc::now().timestamp(),
            Due::After(d) => Utc::now() + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX),
            Due::At(t) => t,
        };
        let secs = at.timestamp();
        if at.timestamp_subsec_nanos() > 0 { secs.saturating_add(1) } else { secs }
    }
}

/// The one way to queue a job: a row in apalis' job table, written on `db`, which is the caller's transaction
/// whenever the job belongs to a state change (so the change and its job commit together or not at all). The
/// statement is pinned to apalis' table layout (`apalis.jobs` on PostgreSQL, `Jobs` on SQLite, as their
/// `push_tasks` write it); the test `jobs_written_in_a_transaction_run` proves apalis runs a job written this way.
/// With an idempotency key, a job already queued with that key (in the same queue, while its row exists) is not
/// queued again; the result says whether this call queued it. `ON CONFLICT DO NOTHING` keeps a duplicate from
/// aborting the caller's PostgreSQL transaction.
pub async fn enqueue_keyed<J: Job, C: ConnectionTrait>(db: &C, job: &J, due: Due, key: Option<&str>) -> Result<bool> {
    let args = serde_json::to_vec(job).context("encoding the job")?;
    let id = ulid::Ulid::generate().to_string();
    let (sql, values): (&str, Vec<sea_orm::Value>) = match db.get_database_backend() {
        DatabaseBackend::Postgres => (
            "INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority, \
             idempotency_key) VALUES ($1, $2, $3, 'Pending', 0, $4, to_timestamp($5), 0, $6) ON CONFLICT DO NOTHING",
            vec![
                id.into(),
                J::SPEC.queue.into(),
                args.into(),
                (J::SPEC.max_attempts as i32).into(),
                due.unix_seconds().into(),
                key.map(str::to_owned).into(),
            ],
        ),
        _ => (
            "INSERT INTO Jobs (job, id, job_type, status, attempts, max_attempts, run_at, priority, \
             idempotency_key) VALUES ($1, $2, $3, 'Pending', 0, $4, $5, 0, $6) ON CONFLICT DO NOTHING",
            vec![
                args.into(),
                id.into(),
                J::SPEC.queue.into(),
                (J::SPEC.max_attempts as i64).into(),
                due.unix_seconds().into(),
                key.map(str::to_owned).into(),
            ],
        ),
    };
    let r = db
        .execute_raw(Statement::from_sql_and_values(db.get_database_backend(), sql, values))
        .await
        .with_context(|| format!("queueing a {} job", J::SPEC.queue))?;
    Ok(r.rows_affected() == 1)
}

/// Queues a job on `db` (see [`enqueue_keyed`]).
pub async fn enqueue<J: Job, C: ConnectionTrait>(db: &C, job: &J, due: Due) -> Result<()> {
    enqueue_keyed(db, job, due, None).await.map(|_| ())
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
}
