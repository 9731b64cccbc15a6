//! The worker runtime: one apalis worker per job type, on whichever storage the database is. `serve` runs it
//! beside the API; `work` runs it alone, so several processes can share the queues on PostgreSQL (apalis locks
//! each task for one worker, and a dead worker's tasks are re-enqueued after its missed heartbeats).

pub mod admin;
pub mod sweeper;

use crate::Engine;
use crate::acd::queue_updates::QueueUpdate;
use crate::acd::timers::{OfferTimeout, WrapUpTimeout};
use crate::chatbots::delivery::{ChatbotTimeout, PostToChatbot};
use crate::conversations::inbound::ProcessWebhook;
use crate::conversations::outbound::SendMessage;
use crate::jobs::failures::JobLayer;
use crate::jobs::{Job, JobStore};
use crate::phone_numbers::reverify::{ReverifyBatch, TICK_QUEUE};
use crate::phone_numbers::verify::VerifyNumber;
use apalis::prelude::*;
use apalis_postgres::PostgresStorage;
use apalis_sqlite::SqliteStorage;
use std::future::Future;
use std::time::Duration;

/// How often idle workers look for due tasks: delayed jobs start within this of their time.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// Default heartbeat period (`APP_WORKER_HEARTBEAT_SECS`); a worker that misses `MISSED_HEARTBEATS` in a row is
/// dead, and the next heartbeat of any live worker of the same queue (in any process) re-enqueues its tasks: a job
/// left by a killed process runs again 30-40 s later with the defaults.
pub const HEARTBEAT: Duration = Duration::from_secs(10);
pub const MISSED_HEARTBEATS: usize = 3;
/// How long shutdown waits for running jobs: less than the dead-worker window (a draining worker sends no
/// heartbeats), so no other process re-runs a job that is still finishing here. Jobs fetched but not started
/// are put back at once; a job still running when the grace ends is abandoned and recovered like a crash's.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// What the runtime takes from the configuration.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// When the re-verification ticker fires; `None`: no ticker in this process.
    pub reverify_schedule: Option<cron::Schedule>,
    pub heartbeat: Duration,
    /// How often idle workers poll (delayed jobs start within this of their time).
    pub poll: Duration,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        let hourly = crate::config::parse_schedule(crate::config::DEFAULT_REVERIFY_SCHEDULE).ok().flatten();
        Self { reverify_schedule: hourly, heartbeat: HEARTBEAT, poll: POLL_INTERVAL }
    }
}

impl WorkerSettings {
    pub fn from_config(config: &crate::config::Config) -> Self {
        Self {
            reverify_schedule: config.reverify_schedule.clone(),
            heartbeat: config.worker_heartbeat,
            poll: config.worker_poll,
        }
    }
}

/// The one handler every job type runs through: the job's own `run`; an error becomes an apalis failure (retried
/// up to the job's attempts).
async fn handle<J: Job>(job: J, engine: Data<Engine>) -> Result<(), BoxDynError>
where
    Engine: AsRef<J::On>,
{
    job.run(AsRef::<J::On>::as_ref(&*engine)).await.map_err(|e| Box::new(e) as BoxDynError)
}

/// The re-verification ticker: queues the tick's batch unless another process did.
async fn reverify_tick(tick: apalis_cron::Tick, engine: Data<Engine>) -> Result<(), BoxDynError> {
    let tick = i64::try_from(tick.get_timestamp()).unwrap_or(i64::MAX);
    engine.queue_reverify_batch(tick).await.map(|_| ()).map_err(|e| Box::new(e) as BoxDynError)
}

fn worker_name(queue: &str) -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "local".into());
    format!("{queue}@{host}:{}:{}", std::process::id(), uuid::Uuid::new_v4().simple())
}

/// How a queue's worker looks for work: at once when woken (a job due now was committed), otherwise every
/// `POLL_INTERVAL` (delayed jobs, and jobs queued by processes that cannot wake this one).
fn strategy<J: Job>(engine: &Engine, poll: Duration) -> Strategy {
    Strategy::new().stream(engine.wakeups.subscribe(J::SPEC.queue)).interval(poll)
}

/// Registers job types on one storage backend.
trait Registry: Sized {
    fn add<J: Job>(self) -> Self
    where
        Engine: AsRef<J::On>;
}

/// Every job type: the one list both backends register.
fn register_all<R: Registry>(r: R) -> R {
    r.add::<VerifyNumber>()
        .add::<ProcessWebhook>()
        .add::<SendMessage>()
        .add::<ReverifyBatch>()
        .add::<OfferTimeout>()
        .add::<WrapUpTimeout>()
        .add::<PostToChatbot>()
        .add::<ChatbotTimeout>()
        .add::<QueueUpdate>()
}

struct SqliteRegistry {
    monitor: Monitor,
    engine: Engine,
    pool: apalis_sqlite::SqlitePool,
    heartbeat: Duration,
    poll: Duration,
}

impl Registry for SqliteRegistry {
    fn add<J: Job>(self) -> Self
    where
        Engine: AsRef<J::On>,
    {
        let config = apalis_sqlite::Config::default()
            .queue(J::SPEC.queue)
            .heartbeat_interval(self.heartbeat)
            .missed_heartbeats(MISSED_HEARTBEATS);
        let storage = SqliteStorage::<J>::new(&self.pool)
            .with_config(config)
            .poll_with_strategy(strategy::<J>(&self.engine, self.poll));
        let engine = self.engine.clone();
        let monitor = self.monitor.register(move |_restarts| {
            WorkerBuilder::new(worker_name(J::SPEC.queue))
                .backend(storage.clone())
                .data(engine.clone())
                .concurrency(J::SPEC.concurrency)
                .layer(JobLayer::new(J::SPEC.queue, J::SPEC.timeout))
                .build(handle::<J>)
        });
        Self { monitor, ..self }
    }
}

struct PostgresRegistry {
    monitor: Monitor,
    engine: Engine,
    pool: apalis_postgres::PgPool,
    heartbeat: Duration,
    poll: Duration,
}

impl Registry for PostgresRegistry {
    fn add<J: Job>(self) -> Self
    where
        Engine: AsRef<J::On>,
    {
        let config = apalis_postgres::Config::default()
            .queue(J::SPEC.queue)
            .heartbeat_interval(self.heartbeat)
            .missed_heartbeats(MISSED_HEARTBEATS);
        let storage = PostgresStorage::<J>::new(&self.pool)
            .with_config(config)
            .poll_with_strategy(strategy::<J>(&self.engine, self.poll));
        let engine = self.engine.clone();
        let monitor = self.monitor.register(move |_restarts| {
            WorkerBuilder::new(worker_name(J::SPEC.queue))
                .backend(storage.clone())
                .data(engine.clone())
                .concurrency(J::SPEC.concurrency)
                .layer(JobLayer::new(J::SPEC.queue, J::SPEC.timeout))
                .build(handle::<J>)
        });
        Self { monitor, ..self }
    }
}

/// Aborts its tasks when dropped (the workers' loops here, a WebSocket operation's task in `api::ws`).
pub struct AbortOnDrop(pub Vec<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

/// `run_workers_with` the default settings (hourly re-verification, 10 s heartbeats).
pub async fn run_workers(engine: Engine, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    run_workers_with(engine, WorkerSettings::default(), shutdown).await
}

/// Runs every job type's worker, and the re-verification ticker, until `shutdown` resolves, then lets running
/// jobs finish (up to the grace period). A worker that stops on an error (its database connection failed) is
/// restarted rather than left dead.
pub async fn run_workers_with(
    engine: Engine,
    settings: WorkerSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let heartbeat = settings.heartbeat;
    let poll = settings.poll;
    let monitor = Monitor::new().shutdown_timeout(SHUTDOWN_GRACE).should_restart(|worker, error| {
        if worker.is_shutting_down() {
            return false;
        }
        tracing::error!(worker = worker.name(), %error, "worker stopped on an error; restarting it");
        true
    });
    let monitor = match engine.jobs.clone() {
        JobStore::Sqlite(pool) => {
            register_all(SqliteRegistry { monitor, engine: engine.clone(), pool, heartbeat, poll }).monitor
        }
        JobStore::Postgres(pool) => {
            register_all(PostgresRegistry { monitor, engine: engine.clone(), pool, heartbeat, poll }).monitor
        }
    };
    // The process's background loops, stopped however the monitor ends.
    let mut loops = AbortOnDrop(Vec::new());
    if let JobStore::Postgres(pool) = &engine.jobs {
        loops.0.push(tokio::spawn(crate::jobs::wake::listen_postgres(pool.clone(), engine.wakeups.clone())));
    }
    // Deadlines whose timer job was lost (a crashed worker) still fire on time.
    loops.0.push(tokio::spawn(sweeper::sweep_forever(engine.clone())));
    let monitor = match settings.reverify_schedule {
        Some(schedule) => {
            let engine = engine.clone();
            monitor.register(move |_restarts| {
                WorkerBuilder::new(worker_name(TICK_QUEUE))
                    .backend(apalis_cron::CronScheduler::new(schedule.clone()))
                    .data(engine.clone())
                    .layer(JobLayer::new(TICK_QUEUE, Duration::from_secs(60)))
                    .build(reverify_tick)
            })
        }
        None => monitor,
    };
    monitor
        .run_with_signal(async move {
            shutdown.await;
            Ok(())
        })
        .await?;
    drop(loops);
    Ok(())
}
