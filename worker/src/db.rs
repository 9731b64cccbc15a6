//! The database handle: one sea-orm pool on SQLite (embedded default) or PostgreSQL, migrated by the real
//! `Migrator`, with a counter of an engine's executed statements (`count_into`) exposed as a metric.

use anyhow::Context;
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database, DatabaseConnection};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Counts the statements of this handle (and of its clones made from now on) into `counter`: an engine's own
/// count (the `/metrics` counter), undisturbed by other engines in the same process (the tests).
pub fn count_into(db: &mut DatabaseConnection, counter: std::sync::Arc<AtomicU64>) {
    db.set_metric_callback(move |_| {
        counter.fetch_add(1, Ordering::Relaxed);
    });
}

/// Starts a transaction that will write. On SQLite it takes the write lock at `BEGIN` (IMMEDIATE), so a
/// transaction that reads before it writes waits for other writers (busy timeout) instead of failing when one
/// commits in between; PostgreSQL ignores the mode.
///
/// On SQLite the process's write transactions also queue for the database in order ([`WriteTxn`]'s gate) before
/// they ask SQLite for its lock: SQLite makes a writer that finds the lock taken sleep in its busy handler (1 ms,
/// then longer, up to 100 ms between tries) and a writer that just arrived may take the lock first, so under a
/// steady stream of writers an unlucky one waits far longer than its turn.
pub async fn begin_write(db: &DatabaseConnection) -> Result<WriteTxn, sea_orm::DbErr> {
    begin(db, true).await
}

/// [`begin_write`] for intake's group commit, without the write gate: intake is one writer per process already
/// (a batch of deliveries per transaction), and webhook acknowledgements wait on it, so it does not queue behind
/// every unit of work in line; it takes SQLite's lock as it comes. (Measured with `live-bench` on SQLite, ack ->
/// `OFFERED` p99: 108 ms with intake behind the gate, 84 ms beside it.)
pub async fn begin_group_commit(db: &DatabaseConnection) -> Result<WriteTxn, sea_orm::DbErr> {
    begin(db, false).await
}

async fn begin(db: &DatabaseConnection, gated: bool) -> Result<WriteTxn, sea_orm::DbErr> {
    use sea_orm::{SqliteTransactionMode, TransactionOptions, TransactionTrait};
    let gate = match write_gate(db).filter(|_| gated) {
        // As long as SQLite's own busy timeout: a turn that does not come fails the same way.
        Some(g) => match tokio::time::timeout(SQLITE_BUSY_TIMEOUT, g.lock_owned()).await {
            Ok(turn) => Some(turn),
            Err(_) => {
                return Err(sea_orm::DbErr::Custom(format!(
                    "database is locked: no turn to write within {SQLITE_BUSY_TIMEOUT:?}"
                )));
            }
        },
        None => None,
    };
    let txn = db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await?;
    Ok(WriteTxn { txn, _gate: gate })
}

/// A write transaction, holding its turn at the database's write gate (SQLite) until it ends.
pub struct WriteTxn {
    txn: sea_orm::DatabaseTransaction,
    _gate: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl WriteTxn {
    pub async fn commit(self) -> Result<(), sea_orm::DbErr> {
        self.txn.commit().await
    }
}

impl std::ops::Deref for WriteTxn {
    type Target = sea_orm::DatabaseTransaction;
    fn deref(&self) -> &Self::Target {
        &self.txn
    }
}

/// The write gate of an SQLite database file (one per file in the process); none on PostgreSQL.
fn write_gate(db: &DatabaseConnection) -> Option<std::sync::Arc<tokio::sync::Mutex<()>>> {
    use std::collections::HashMap;
    use std::sync::{Arc, LazyLock, Mutex};
    static GATES: LazyLock<Mutex<HashMap<std::path::PathBuf, Arc<tokio::sync::Mutex<()>>>>> =
        LazyLock::new(Default::default);
    if db.get_database_backend() != sea_orm::DatabaseBackend::Sqlite {
        return None;
    }
    let file = db.get_sqlite_connection_pool().connect_options().get_filename().to_path_buf();
    let mut gates = GATES.lock().ok()?;
    Some(gates.entry(file).or_default().clone())
}

/// How long an SQLite writer waits for the lock (and for its turn at the write gate) before it fails.
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A pooled connection idle at least this long is checked (pinged) before it is handed out. sqlx's default pings
/// on every checkout: one more round trip before every statement or transaction on PostgreSQL. A connection that
/// broke while it was in use more recently fails the one statement that finds out (a webhook answered 503 and
/// redelivered, a job retried, a request answered with an error) and is replaced.
pub const PING_IF_IDLE_FOR: Duration = Duration::from_secs(30);

/// Connects to the database at `url`. For SQLite the file's folder is created, WAL journaling is switched on
/// and every connection waits up to five seconds on a busy database instead of failing.
pub async fn connect_url(url: &str, backend: Backend) -> anyhow::Result<DatabaseConnection> {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.sqlx_logging(false)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .test_before_acquire_if_idle_for(PING_IF_IDLE_FOR);
    match backend {
        Backend::Sqlite => {
            if let Some(dir) = sqlite_dir(url) {
                std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
            }
            opts.max_connections(8).map_sqlx_sqlite_opts(|o| {
                o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                    .busy_timeout(SQLITE_BUSY_TIMEOUT)
                    .foreign_keys(true)
            });
        }
        Backend::Postgres => {
            opts.max_connections(20);
        }
    }
    Database::connect(opts).await.with_context(|| format!("cannot connect to the database ({})", redact(url)))
}

/// Connects and applies pending migrations, answering a pool whose connections all know the migrated schema.
///
/// On SQLite a connection keeps the schema it last read: one that ran a statement between two of a migration's
/// `ALTER TABLE`s can prepare a later `RETURNING *` against the older table and hand sqlx a column list without
/// the new columns ("Missing value for column ..." once the statement re-prepares). So on SQLite the migrations run
/// on a pool of their own, closed before the pool that serves is opened.
pub async fn connect_migrated(url: &str, backend: Backend) -> anyhow::Result<DatabaseConnection> {
    let db = connect_url(url, backend).await?;
    migrate(&db).await?;
    if backend != Backend::Sqlite {
        return Ok(db);
    }
    db.close().await.context("cannot close the migration pool")?;
    connect_url(url, backend).await
}

/// Applies pending migrations. On PostgreSQL, processes starting together take turns through an advisory lock
/// (held on a connection of its own), so only the first applies them; SQLite serialises writers by itself.
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    if db.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
        return Migrator::up(db, None).await.context("database migration failed");
    }
    const LOCK: i64 = 0x7761_6d69_6772; // "wamigr"
    let mut lock = db.get_postgres_connection_pool().acquire().await.context("cannot reach the database")?;
    sea_orm::sqlx::query("SELECT pg_advisory_lock($1)").bind(LOCK).execute(&mut *lock).await?;
    let result = Migrator::up(db, None).await.context("database migration failed");
    sea_orm::sqlx::query("SELECT pg_advisory_unlock($1)").bind(LOCK).execute(&mut *lock).await?;
    result
}

/// The folder of a `sqlite://path/file.db?...` URL, when it names a file.
fn sqlite_dir(url: &str) -> Option<std::path::PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    std::path::Path::new(path).parent().filter(|p| !p.as_os_str().is_empty()).map(|p| p.to_path_buf())
}

/// The URL without its password, for error messages.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// Runs `step` (reads or writes on the pool) as a task of its own and waits for it: the step acquires, uses and
/// releases its pooled connection whether or not its caller keeps being polled.
///
/// Why: the pool hands connections to its waiters in queue order (tokio's fair semaphore), even to a waiter whose
/// future is not being polled at that moment. A stream's step that waits for a connection while its consumer is
/// busy elsewhere (a WebSocket connection sending a frame, or awaiting a query of its own beside the stream) is
/// handed the connection and keeps it until the consumer polls the stream again. When that consumer is itself
/// waiting for a connection, every connection can end up held this way and nothing moves until the acquire
/// timeout (a "futurelock": 1,000 reconnecting desktops on SQLite's pool of 8 stalled for 10 s).
/// The live event readers run their database steps through this (their consumers, a wallboard's stream among
/// them, await other things between two polls); a WebSocket connection runs each of its operations as a task of
/// its own (`api::ws::OwnTasks`), for the same reason.
pub async fn detached<T, F>(step: F) -> crate::Result<T>
where
    T: Send + 'static,
    F: std::future::Future<Output = crate::Result<T>> + Send + 'static,
{
    match tokio::spawn(step).await {
        Ok(r) => r,
        Err(e) => Err(anyhow::anyhow!("a database step failed: {e}").into()),
    }
}
