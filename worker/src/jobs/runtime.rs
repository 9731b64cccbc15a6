//! The worker runtime: one apalis worker per job type, on whichever storage the database is. `serve` runs it
//! beside the API; `work` runs it alone, so several processes can share the queues on PostgreSQL (apalis locks
//! each task for one worker, and a dead worker's tasks are re-enqueued after its missed heartbeats).

use super::verify::VerifyNumber;
use super::{Job, JobStore};
use crate::Engine;
use crate::conversations::inbound::ProcessWebhook;
use apalis::prelude::*;
use apalis_postgres::PostgresStorage;
use apalis_sqlite::SqliteStorage;
use std::future::Future;
use std::time::Duration;

/// How often idle workers look for due tasks: delayed jobs start within this of their time.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// Heartbeat period; a worker that misses `MISSED_HEARTBEATS` in a row is dead and its tasks run again.
pub const HEARTBEAT: Duration = Duration::from_secs(10);
pub const MISSED_HEARTBEATS: usize = 3;
/// How long shutdown waits for running jobs.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// A job handler: runs the engine's function for the job, errors become apalis failures (retried up to the
/// job's attempts).
macro_rules! handler {
    ($name:ident, $job:ty, $method:ident) => {
        async fn $name(job: $job, engine: Data<Engine>) -> Result<(), BoxDynError> {
            engine.$method(&job).await.map_err(|e| Box::new(e) as BoxDynError)
        }
    };
}

handler!(verify_number, VerifyNumber, run_verification);
handler!(process_webhook, ProcessWebhook, process_webhook);

/// Every job type with its handler: the one list both backends register.
macro_rules! with_all_jobs {
    ($monitor:expr, $engine:expr, $storage:ident, $config:expr, $pool:expr) => {{
        let m = $monitor;
        let m = register!(m, $engine, $storage, $config, $pool, VerifyNumber, verify_number);
        let m = register!(m, $engine, $storage, $config, $pool, ProcessWebhook, process_webhook);
        m
    }};
}

fn worker_name(queue: &str) -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "local".into());
    format!("{queue}@{host}:{}:{}", std::process::id(), uuid::Uuid::new_v4().simple())
}

macro_rules! register {
    ($monitor:expr, $engine:expr, $storage:ident, $config:expr, $pool:expr, $job:ty, $handler:expr) => {{
        let engine = $engine.clone();
        let storage =
            $storage::<$job>::new(&$pool).with_config($config(<$job>::SPEC.queue)).poll_with_interval(POLL_INTERVAL);
        $monitor.register(move |_restarts| {
            WorkerBuilder::new(worker_name(<$job>::SPEC.queue))
                .backend(storage.clone())
                .data(engine.clone())
                .concurrency(<$job>::SPEC.concurrency)
                .timeout(<$job>::SPEC.timeout)
                .build($handler)
        })
    }};
}

/// Runs every job type's worker until `shutdown` resolves, then lets running jobs finish (up to the grace
/// period).
pub async fn run_workers(engine: Engine, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    let monitor = Monitor::new().shutdown_timeout(SHUTDOWN_GRACE);
    let monitor = match engine.jobs.clone() {
        JobStore::Sqlite(pool) => {
            let config = |q: &str| {
                apalis_sqlite::Config::default()
                    .queue(q)
                    .heartbeat_interval(HEARTBEAT)
                    .missed_heartbeats(MISSED_HEARTBEATS)
            };
            with_all_jobs!(monitor, engine, SqliteStorage, config, pool)
        }
        JobStore::Postgres(pool) => {
            let config = |q: &str| {
                apalis_postgres::Config::default()
                    .queue(q)
                    .heartbeat_interval(HEARTBEAT)
                    .missed_heartbeats(MISSED_HEARTBEATS)
            };
            with_all_jobs!(monitor, engine, PostgresStorage, config, pool)
        }
    };
    monitor
        .run_with_signal(async move {
            shutdown.await;
            Ok(())
        })
        .await?;
    Ok(())
}
