//! Background jobs on apalis storage in the product's own database: apalis-sqlite on the embedded default,
//! apalis-postgres on PostgreSQL (sharing the sea-orm pool there; on SQLite apalis has a pool of its own, see
//! [`JobStore::from_db`]). Every job type has a stable queue name, explicit
//! attempts, a per-run timeout and a concurrency bound (`JobSpec`). Retries of provider calls are the domain's
//! own (a new delayed job with `attempt + 1`), so backoff is explicit and visible in the row's state.

pub mod failures;
pub mod wake;

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

/// A job type: its payload is the struct itself; `run` is what a worker does with it, on the handle of the layer
/// the job belongs to (`On`: the ACD's timers run on the ACD, a send on the domain layer), so a job's code obeys
/// the layers like any other. Delivery is at least once, so every `run` is idempotent. Every job type is
/// registered from one list (`runtime::register_all`).
pub trait Job: Serialize + DeserializeOwned + Send + Sync + Unpin + 'static {
    const SPEC: JobSpec;
    type On: Sync;
    fn run(&self, on: &Self::On) -> impl Future<Output = crate::Result<()>> + Send;
}

/// Retry delays of the domain's own retries: 1 s, 2 s, 4 s, ... capped at a minute.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_secs((1u64 << attempt.min(6)).min(60))
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
    /// The unix second a delayed job may start at; `None` for a job due now (the database's clock stamps it).
    fn later_than_now(self) -> Option<i64> {
        match self {
            Due::Now => None,
            later => Some(later.unix_seconds()),
        }
    }

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
///
/// A job due now takes the database's own clock for `run_at`: on PostgreSQL that is `now()`, the start of the
/// caller's transaction, which apalis' insert trigger compares `run_at` with to decide whether to NOTIFY. A time
/// read from the application's clock is later than that whenever the transaction crossed a second boundary
/// before the insert, and such a job got no notification (a worker in another process found it only at its next
/// poll).
pub async fn enqueue_keyed<J: Job, C: ConnectionTrait>(db: &C, job: &J, due: Due, key: Option<&str>) -> Result<bool> {
    Ok(insert_jobs(db, &[(job, key)], due).await? == 1)
}

/// Queues several jobs of one type on `db` in one statement (see [`enqueue_keyed`]); the number queued.
pub async fn enqueue_many<J: Job, C: ConnectionTrait>(db: &C, jobs: &[J], due: Due) -> Result<u64> {
    let rows: Vec<(&J, Option<&str>)> = jobs.iter().map(|j| (j, None)).collect();
    insert_jobs(db, &rows, due).await
}

/// apalis' job table: `apalis.jobs` on PostgreSQL, `Jobs` on SQLite.
pub fn table(backend: DatabaseBackend) -> &'static str {
    match backend {
        DatabaseBackend::Postgres => "apalis.jobs",
        _ => "Jobs",
    }
}

/// The columns of apalis' job table that a queued job sets.
pub(crate) const JOB_COLUMNS: &str =
    "(id, job_type, job, status, attempts, max_attempts, run_at, priority, idempotency_key)";

/// The values of a job row, in [`JOB_COLUMNS`]' order up to the idempotency key, given as SQL expressions: a job
/// waiting to run, never attempted, of the default priority.
pub(crate) fn pending_job(id: &str, queue: &str, payload: &str, max_attempts: &str, run_at: &str) -> String {
    format!("{id}, {queue}, {payload}, 'Pending', 0, {max_attempts}, {run_at}, 0")
}

/// The one statement that writes job rows: one multi-row `INSERT` whatever their number. (Webhook intake's
/// one-statement commit on PostgreSQL writes its processing jobs inside its own statement, with the same
/// [`JOB_COLUMNS`] and [`pending_job`] values.)
async fn insert_jobs<J: Job, C: ConnectionTrait>(db: &C, jobs: &[(&J, Option<&str>)], due: Due) -> Result<u64> {
    use std::fmt::Write;
    if jobs.is_empty() {
        return Ok(0);
    }
    let backend = db.get_database_backend();
    let pg = backend == DatabaseBackend::Postgres;
    let mut sql = format!("INSERT INTO {} {JOB_COLUMNS} VALUES ", table(backend));
    let run_at = due.later_than_now();
    let mut values: Vec<sea_orm::Value> = Vec::with_capacity(jobs.len() * 6);
    for (i, (job, key)) in jobs.iter().enumerate() {
        let n = i * 6;
        let (id, queue, args, attempts, at, idem) = (n + 1, n + 2, n + 3, n + 4, n + 5, n + 6);
        let sep = if i == 0 { "" } else { ", " };
        let at = if pg {
            format!("COALESCE(to_timestamp(${at}), now())")
        } else {
            format!("COALESCE(${at}, CAST(strftime('%s', 'now') AS INTEGER))")
        };
        let row =
            pending_job(&format!("${id}"), &format!("${queue}"), &format!("${args}"), &format!("${attempts}"), &at);
        let _ = write!(sql, "{sep}({row}, ${idem})");
        values.push(ulid::Ulid::generate().to_string().into());
        values.push(J::SPEC.queue.into());
        values.push(serde_json::to_vec(job).context("encoding the job")?.into());
        values.push(if pg { (J::SPEC.max_attempts as i32).into() } else { (J::SPEC.max_attempts as i64).into() });
        values.push(run_at.into());
        values.push(key.map(str::to_owned).into());
    }
    sql.push_str(" ON CONFLICT DO NOTHING");
    let r = db
        .execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await
        .with_context(|| format!("queueing {} {} job(s)", jobs.len(), J::SPEC.queue))?;
    Ok(r.rows_affected())
}

/// Queues a job on `db` (see [`enqueue_keyed`]).
pub async fn enqueue<J: Job, C: ConnectionTrait>(db: &C, job: &J, due: Due) -> Result<()> {
    enqueue_keyed(db, job, due, None).await.map(|_| ())
}

/// Queues a job due now in a unit of work, which wakes the job's queue once it commits (see
/// [`enqueue_keyed`] for `key`). The result says whether this call queued it.
pub async fn enqueue_now<J: Job>(uow: &crate::live::Uow, job: &J, key: Option<&str>) -> Result<bool> {
    let queued = enqueue_keyed(uow, job, Due::Now, key).await?;
    if queued {
        uow.wake(J::SPEC.queue);
    }
    Ok(queued)
}

/// Where jobs are stored: the product's own database.
#[derive(Clone, Debug)]
pub enum JobStore {
    Sqlite(apalis_sqlite::SqlitePool),
    Postgres(apalis_postgres::PgPool),
}

/// Connections of apalis' own pool on SQLite (see [`JobStore::from_db`]).
const SQLITE_JOB_CONNECTIONS: u32 = 4;

impl JobStore {
    /// The job store of the product's database. On PostgreSQL apalis shares the product's pool. On SQLite it
    /// gets a pool of its own, to the same file with the same settings (WAL, `synchronous=NORMAL`, busy
    /// timeout): every apalis statement there is a write (fetch, heartbeat, acknowledgement), and while another
    /// writer holds the lock each of them waits out the busy timeout on its connection. On a shared pool the
    /// eight queues' workers could then take every connection, and reads (a GraphQL request, a webhook's token
    /// lookup) would wait for a connection instead of reading the WAL snapshot at once.
    pub fn from_db(db: &DatabaseConnection) -> Self {
        match db.get_database_backend() {
            DatabaseBackend::Postgres => JobStore::Postgres(db.get_postgres_connection_pool().clone()),
            _ => {
                let options = db.get_sqlite_connection_pool().connect_options();
                JobStore::Sqlite(
                    apalis_sqlite::SqlitePoolOptions::new()
                        .max_connections(SQLITE_JOB_CONNECTIONS)
                        // No server can cut a connection to a file: no ping before each use.
                        .test_before_acquire(false)
                        .connect_lazy_with((*options).clone()),
                )
            }
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
