//! Webhook intake: the checks a provider delivery must pass before anything is stored, and the durable store.
//! The signature is verified on the raw bytes, against the keys of the channel's numbers, before the body is
//! parsed; an accepted delivery is written together with the job that processes it, in one transaction (one
//! commit), so it is durable before the 2xx and can never be stored without its job. A redelivery (same provider
//! id) finds its dedupe key taken and is acknowledged without storing anything.
//!
//! Group commit: concurrent deliveries share that transaction. One writer per process takes every delivery
//! waiting when its previous commit finished, inserts them (one statement) and their processing jobs (one
//! statement; one job per channel carries that channel's deliveries of the batch, processed together), commits
//! once, then answers each: stored, or duplicate when its key was taken (by an earlier delivery or by
//! one of the same batch). On PostgreSQL the two inserts are one statement, its own transaction, on a connection
//! the writer keeps (one round trip per commit, see [`commit_batch_in_one_statement`]). No delivery is answered
//! before its commit; a failed commit refuses exactly the deliveries of that batch, which the provider redelivers.

use crate::Result;
use crate::conversations::inbound::ProcessWebhook;
use crate::domain::Domain;
use crate::jobs::wake::Wakeups;
use crate::jobs::{Due, Job, enqueue_many};
use crate::provider::signature::{self, SignatureError};
use crate::provider::{WebhookEvent, parse_webhook};
use chrono::Utc;
use entity::{channel, phone_number, webhook_delivery};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// Why a delivery was refused. Nothing is stored for any of these.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("unknown webhook URL")]
    UnknownChannel,
    #[error("{0}")]
    Signature(SignatureError),
    #[error("the signature matches no number of this channel")]
    NoMatchingKey,
    #[error("number {0} is not connected to this channel")]
    UnknownNumber(String),
    #[error("number {0} is deleted")]
    DeletedNumber(String),
    #[error("number {0} is disabled")]
    DisabledNumber(String),
    #[error("invalid body: {0}")]
    BadBody(String),
}

impl Refusal {
    /// The HTTP status the provider gets.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::UnknownChannel | Refusal::UnknownNumber(_) => 404,
            Refusal::Signature(SignatureError::MissingSignature | SignatureError::MissingTimestamp) => 401,
            Refusal::Signature(_) | Refusal::NoMatchingKey => 401,
            Refusal::DeletedNumber(_) => 410,
            Refusal::DisabledNumber(_) => 403,
            Refusal::BadBody(_) => 400,
        }
    }

    /// A machine-readable code for the response body.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::UnknownChannel => "UNKNOWN_CHANNEL",
            Refusal::Signature(e) => e.code(),
            Refusal::NoMatchingKey => "BAD_SIGNATURE",
            Refusal::UnknownNumber(_) => "UNKNOWN_NUMBER",
            Refusal::DeletedNumber(_) => "NUMBER_DELETED",
            Refusal::DisabledNumber(_) => "NUMBER_DISABLED",
            Refusal::BadBody(_) => "BAD_BODY",
        }
    }
}

/// What happened to an accepted delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    Stored(Uuid),
    Duplicate,
}

pub enum Outcome {
    Accepted(Accepted),
    Refused(Refusal),
}

fn dedupe_key(event: &WebhookEvent) -> String {
    match event {
        WebhookEvent::Message { id, .. } => format!("message:{id}"),
        WebhookEvent::Status { id, status, .. } => format!("status:{id}:{}", status.as_str()),
    }
}

/// Only to word the refusal of an unverifiable delivery: which number the body says it is for.
fn claimed_number(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    v.get("to")?.as_str().and_then(|s| crate::phone::normalise_e164("to", s).ok())
}

/// The intake layer's handle: the domain, and this process's group commit of deliveries.
#[derive(Clone)]
pub struct Intake {
    pub(crate) below: Domain,
    /// Webhook deliveries waiting to be stored share one transaction and one commit.
    pub intake: Arc<GroupCommit>,
}

impl Intake {
    pub(crate) fn new(below: Domain) -> Self {
        let intake = GroupCommit::new(below.db.clone(), Arc::clone(&below.wakeups), Arc::clone(&below.statements));
        Self { below, intake: Arc::new(intake) }
    }
}

impl std::ops::Deref for Intake {
    type Target = Domain;
    fn deref(&self) -> &Domain {
        &self.below
    }
}

impl Intake {
    /// Checks, and stores, one webhook delivery for the channel whose token is in the URL.
    #[tracing::instrument(skip_all, fields(channel_id))]
    pub async fn receive_webhook(
        &self,
        token: &str,
        timestamp: Option<&str>,
        signature_header: Option<&str>,
        body: &[u8],
    ) -> Result<Outcome> {
        // The channel's numbers, found by the URL's token in one read (or from the last second's read, see
        // [`WebhookNumbers`]); the channel itself is read only when it has none (or does not exist).
        let numbers = self.numbers_by_webhook_token(token).await?;
        let (channel_id, account_id) = match numbers.first() {
            Some(n) => (n.channel_id, n.account_id),
            None => match self.channel_by_webhook_token(token).await? {
                Some(ch) => (ch.id, ch.account_id),
                None => return Ok(Outcome::Refused(Refusal::UnknownChannel)),
            },
        };
        tracing::Span::current().record("channel_id", tracing::field::display(channel_id));
        let live = |e164: &str| numbers.iter().any(|n| n.e164 == e164 && n.deleted_at.is_none());
        let now = Utc::now().timestamp();
        // The numbers whose key signed these exact bytes.
        let mut signers = Vec::new();
        let mut last_error = None;
        for n in numbers.iter() {
            let key = self.cipher.decrypt(&n.api_key_enc)?;
            match signature::verify(key.expose(), timestamp, signature_header, body, now) {
                Ok(()) => signers.push(n.clone()),
                Err(SignatureError::BadSignature) => {}
                Err(e) => last_error = Some(e),
            }
        }
        if signers.is_empty() {
            if let Some(e) = last_error {
                return Ok(Outcome::Refused(Refusal::Signature(e)));
            }
            // No key matched: say why in the provider's terms when the body names a number we do not have.
            if let Some(to) = claimed_number(body)
                && !live(&to)
            {
                return Ok(Outcome::Refused(Refusal::UnknownNumber(to)));
            }
            let e = match (timestamp, signature_header) {
                (None, _) => Refusal::Signature(SignatureError::MissingTimestamp),
                (_, None) => Refusal::Signature(SignatureError::MissingSignature),
                _ => Refusal::NoMatchingKey,
            };
            return Ok(Outcome::Refused(e));
        }
        let event = match parse_webhook(body) {
            Ok(e) => e,
            Err(e) => return Ok(Outcome::Refused(Refusal::BadBody(e.message))),
        };
        // The receiving number: named by a message; for a status, the number that signed it.
        let number = match &event {
            WebhookEvent::Message { to, .. } => {
                let to = crate::phone::normalise_e164("to", to).unwrap_or_else(|_| to.clone());
                match signers.iter().find(|n| n.e164 == to && n.deleted_at.is_none()) {
                    Some(n) => n.clone(),
                    None => match signers.iter().find(|n| n.e164 == to) {
                        Some(n) => n.clone(),
                        None => return Ok(Outcome::Refused(Refusal::UnknownNumber(to))),
                    },
                }
            }
            WebhookEvent::Status { .. } => {
                match signers.iter().find(|n| n.deleted_at.is_none() && n.enabled).or(signers.first()) {
                    Some(n) => n.clone(),
                    None => return Ok(Outcome::Refused(Refusal::NoMatchingKey)),
                }
            }
        };
        if number.deleted_at.is_some() {
            return Ok(Outcome::Refused(Refusal::DeletedNumber(number.e164)));
        }
        if !number.enabled {
            return Ok(Outcome::Refused(Refusal::DisabledNumber(number.e164)));
        }
        let kind = match event {
            WebhookEvent::Message { .. } => "message",
            WebhookEvent::Status { .. } => "status",
        };
        let delivery = NewDelivery {
            id: Uuid::now_v7(),
            account_id,
            channel_id,
            phone_number_id: number.id,
            kind,
            dedupe_key: dedupe_key(&event),
            body: String::from_utf8_lossy(body).into_owned(),
        };
        let accepted = self.store_delivery(delivery).await?;
        tracing::info!(?accepted, kind, "webhook accepted");
        Ok(Outcome::Accepted(accepted))
    }

    /// Every number (deleted ones too) of the live channel whose webhook token this is.
    async fn numbers_by_webhook_token(&self, token: &str) -> Result<Arc<[phone_number::Model]>> {
        let token_hash = crate::crypto::sha256_hex(token);
        if let Some(numbers) = self.webhook_numbers.get(&token_hash) {
            return Ok(numbers);
        }
        let generation = self.webhook_numbers.generation();
        let channel = sea_orm::sea_query::Query::select()
            .column(channel::Column::Id)
            .from(channel::Entity)
            .and_where(channel::Column::WebhookTokenHash.eq(token_hash.as_str()))
            .and_where(channel::Column::DeletedAt.is_null())
            .to_owned();
        let numbers: Arc<[phone_number::Model]> = phone_number::Entity::find()
            .filter(phone_number::Column::ChannelId.in_subquery(channel))
            .all(&self.db)
            .await?
            .into();
        self.webhook_numbers.put(token_hash, generation, Arc::clone(&numbers));
        Ok(numbers)
    }

    /// Stores the delivery with its processing job, in the next group commit; a taken dedupe key stores nothing.
    async fn store_delivery(&self, d: NewDelivery) -> Result<Accepted> {
        self.intake.store(d).await
    }
}

struct NewDelivery {
    id: Uuid,
    account_id: Uuid,
    channel_id: Uuid,
    phone_number_id: Uuid,
    kind: &'static str,
    dedupe_key: String,
    body: String,
}

/// The most deliveries one commit takes (bounded by the statements' parameter limits, 10 per delivery).
const MAX_BATCH: usize = 256;

/// A delivery waiting for the writer, and where its answer goes.
struct Waiting {
    delivery: NewDelivery,
    answer: oneshot::Sender<std::result::Result<Accepted, String>>,
}

/// The group-commit writer of webhook deliveries: one task per engine, started on first use (again if it
/// ended with the runtime it ran on), ending when the engine is dropped.
pub struct GroupCommit {
    db: DatabaseConnection,
    wakeups: Arc<Wakeups>,
    /// The engine's statement counter (the writer's own PostgreSQL connection is not counted by the pool's).
    statements: Arc<AtomicU64>,
    queue: Mutex<Option<mpsc::UnboundedSender<Waiting>>>,
    counts: Arc<Counts>,
}

/// What the writer did: for `/metrics`, the load generator and the tests.
#[derive(Default)]
struct Counts {
    /// Deliveries handed to the writer.
    queued: AtomicU64,
    /// Deliveries answered (stored, duplicate or refused).
    answered: AtomicU64,
    /// Transactions the writer committed or rolled back.
    batches: AtomicU64,
    /// Microseconds the writer spent storing batches (from the first statement to the commit's answer).
    storing_us: AtomicU64,
}

impl GroupCommit {
    pub fn new(db: DatabaseConnection, wakeups: Arc<Wakeups>, statements: Arc<AtomicU64>) -> Self {
        Self { db, wakeups, statements, queue: Mutex::new(None), counts: Arc::default() }
    }

    /// Deliveries handed to the writer and not answered yet.
    pub fn waiting(&self) -> u64 {
        let answered = self.counts.answered.load(Ordering::SeqCst);
        self.counts.queued.load(Ordering::SeqCst).saturating_sub(answered)
    }

    /// Transactions the writer has finished (committed or failed): one per batch of deliveries.
    pub fn batches(&self) -> u64 {
        self.counts.batches.load(Ordering::SeqCst)
    }

    /// Time the writer has spent storing batches (committed or failed): with [`GroupCommit::batches`], how long a
    /// group commit takes, and how busy the writer was over a period.
    pub fn storing_time(&self) -> Duration {
        Duration::from_micros(self.counts.storing_us.load(Ordering::SeqCst))
    }

    /// The writer's queue, starting the writer when none is running.
    fn queue(&self) -> Option<mpsc::UnboundedSender<Waiting>> {
        let mut queue = self.queue.lock().ok()?;
        if let Some(q) = queue.as_ref().filter(|q| !q.is_closed()) {
            return Some(q.clone());
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let writer = Writer { db: self.db.clone(), own: None, statements: Arc::clone(&self.statements) };
        tokio::spawn(write_batches(writer, Arc::clone(&self.wakeups), Arc::clone(&self.counts), rx));
        *queue = Some(tx.clone());
        Some(tx)
    }

    async fn store(&self, delivery: NewDelivery) -> Result<Accepted> {
        let (answer, answered) = oneshot::channel();
        let lost = || crate::Error::Internal(anyhow::anyhow!("the webhook writer has stopped"));
        let queue = self.queue().ok_or_else(lost)?;
        self.counts.queued.fetch_add(1, Ordering::SeqCst);
        if queue.send(Waiting { delivery, answer }).is_err() {
            self.counts.queued.fetch_sub(1, Ordering::SeqCst);
            return Err(lost());
        }
        match answered.await {
            Ok(Ok(accepted)) => Ok(accepted),
            Ok(Err(cause)) => Err(crate::Error::Internal(anyhow::anyhow!("storing the delivery failed: {cause}"))),
            Err(_) => Err(lost()),
        }
    }
}

/// What the writer stores with.
struct Writer {
    db: DatabaseConnection,
    /// On PostgreSQL, the connection the writer keeps between batches: a connection taken from the pool and given
    /// back costs two round trips of its own (sqlx pings it when given back, and when taken after 30 s idle, see
    /// [`crate::db::PING_IF_IDLE_FOR`]). After a failed batch it goes back to the pool (which closes it if it is
    /// broken) and the next batch takes another.
    own: Option<sea_orm::sqlx::pool::PoolConnection<sea_orm::sqlx::Postgres>>,
    statements: Arc<AtomicU64>,
}

/// The writer: each round takes what is waiting (at least one), stores it in one transaction, then answers.
async fn write_batches(
    mut writer: Writer,
    wakeups: Arc<Wakeups>,
    counts: Arc<Counts>,
    mut queue: mpsc::UnboundedReceiver<Waiting>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let deliveries: Vec<&NewDelivery> = batch.iter().map(|w| &w.delivery).collect();
        let storing = Instant::now();
        let result = writer.commit_batch(&deliveries).await;
        let took = u64::try_from(storing.elapsed().as_micros()).unwrap_or(u64::MAX);
        counts.storing_us.fetch_add(took, Ordering::SeqCst);
        counts.batches.fetch_add(1, Ordering::SeqCst);
        counts.answered.fetch_add(batch.len() as u64, Ordering::SeqCst);
        match result {
            Ok(stored) => {
                if !stored.is_empty() {
                    wakeups.wake(ProcessWebhook::SPEC.queue);
                }
                for w in batch.drain(..) {
                    let id = w.delivery.id;
                    let accepted = if stored.contains(&id) { Accepted::Stored(id) } else { Accepted::Duplicate };
                    let _ = w.answer.send(Ok(accepted));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, deliveries = batch.len(), "storing webhook deliveries failed; refused them");
                let cause = e.to_string();
                for w in batch.drain(..) {
                    let _ = w.answer.send(Err(cause.clone()));
                }
            }
        }
    }
}

/// One transaction: the deliveries whose dedupe key is free (the first of a batch wins a key it holds twice),
/// and the processing jobs of the stored ones (one per channel, see [`ProcessWebhook::for_stored`]). Returns the ids
/// stored.
impl Writer {
    async fn commit_batch(&mut self, batch: &[&NewDelivery]) -> Result<std::collections::HashSet<Uuid>> {
        if self.db.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
            return commit_batch(&self.db, batch).await;
        }
        let conn = match self.own.as_mut() {
            Some(conn) => conn,
            None => self.own.insert(self.db.get_postgres_connection_pool().acquire().await.map_err(sqlx_error)?),
        };
        self.statements.fetch_add(1, Ordering::Relaxed);
        let result = commit_batch_in_one_statement(conn, batch).await;
        if result.is_err() {
            self.own = None;
        }
        result
    }
}

fn sqlx_error(e: sea_orm::sqlx::Error) -> crate::Error {
    crate::Error::Internal(anyhow::Error::new(e).context("storing webhook deliveries"))
}

async fn commit_batch(db: &DatabaseConnection, batch: &[&NewDelivery]) -> Result<std::collections::HashSet<Uuid>> {
    let received_at = Utc::now();
    let rows = batch.iter().map(|d| webhook_delivery::ActiveModel {
        id: Set(d.id),
        account_id: Set(d.account_id),
        channel_id: Set(d.channel_id),
        phone_number_id: Set(d.phone_number_id),
        kind: Set(d.kind.to_owned()),
        dedupe_key: Set(d.dedupe_key.clone()),
        body: Set(d.body.clone()),
        received_at: Set(received_at),
        processed_at: Set(None),
        error: Set(None),
    });
    let txn = crate::db::begin_group_commit(db).await?;
    let stored = match webhook_delivery::Entity::insert_many(rows)
        .on_conflict_do_nothing_on([webhook_delivery::Column::DedupeKey])
        .exec_with_returning_keys(&*txn)
        .await?
    {
        sea_orm::TryInsertResult::Inserted(ids) => ids,
        sea_orm::TryInsertResult::Conflicted | sea_orm::TryInsertResult::Empty => Vec::new(),
    };
    let stored: std::collections::HashSet<Uuid> = stored.into_iter().collect();
    let jobs =
        ProcessWebhook::for_stored(batch.iter().filter(|d| stored.contains(&d.id)).map(|d| (d.id, d.channel_id)));
    enqueue_many(&*txn, &jobs, Due::Now).await?;
    txn.commit().await?;
    Ok(stored)
}

/// [`commit_batch_in_one_statement`]'s statement, built once from constants only (no input is ever part of it).
static ONE_STATEMENT_COMMIT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let job = crate::jobs::pending_job(
        "j.job",
        "$3",
        "convert_to(json_build_object('delivery_id', j.ids[1], 'more', j.ids[2:], 'attempt', 0)::text, 'UTF8')",
        "$4",
        "now()",
    );
    format!(
        "WITH batch AS ( \
             SELECT * FROM json_to_recordset($1::json) AS b(n int, id uuid, account_id uuid, channel_id uuid, \
                 phone_number_id uuid, kind text, dedupe_key text, body text, job text) \
         ), stored AS ( \
             INSERT INTO webhook_deliveries \
                 (id, account_id, channel_id, phone_number_id, kind, dedupe_key, body, received_at) \
             SELECT id, account_id, channel_id, phone_number_id, kind, dedupe_key, body, $2 FROM batch ORDER BY n \
             ON CONFLICT (dedupe_key) DO NOTHING RETURNING id \
         ), queued AS ( \
             INSERT INTO {table} {columns} \
             SELECT {job}, NULL FROM ( \
                 SELECT b.job, array_agg(s.id ORDER BY b.n) AS ids FROM stored s JOIN batch b USING (id) \
                 GROUP BY b.job \
             ) j \
         ) \
         SELECT id FROM stored",
        table = crate::jobs::table(sea_orm::DatabaseBackend::Postgres),
        columns = crate::jobs::JOB_COLUMNS,
    )
});

/// PostgreSQL: the same unit of work as [`commit_batch`]'s transaction, as one statement (a statement is its own
/// transaction: its inserts commit together or not at all), so a commit costs one round trip instead of four
/// (`BEGIN`, two inserts, `COMMIT`). The deliveries go in as one JSON parameter, in arrival order; the jobs are
/// grouped as [`ProcessWebhook::for_stored`] groups the batch, and each is written only if one of its deliveries
/// was stored, carrying exactly the stored ones (the payload is [`ProcessWebhook`]'s JSON, built by the statement
/// from what it stored; the group-commit tests read it back with serde).
async fn commit_batch_in_one_statement(
    conn: &mut sea_orm::sqlx::PgConnection,
    batch: &[&NewDelivery],
) -> Result<std::collections::HashSet<Uuid>> {
    use sea_orm::sqlx::Row;
    let jobs = ProcessWebhook::for_stored(batch.iter().map(|d| (d.id, d.channel_id)));
    let job_ids: Vec<String> = jobs.iter().map(|_| ulid::Ulid::generate().to_string()).collect();
    let job_of: HashMap<Uuid, &str> =
        jobs.iter().zip(&job_ids).flat_map(|(job, id)| job.deliveries().map(move |d| (d, id.as_str()))).collect();
    /// One delivery as the statement's `json_to_recordset` reads it, serialised without an intermediate tree.
    #[derive(serde::Serialize)]
    struct BatchRow<'a> {
        n: usize,
        id: Uuid,
        account_id: Uuid,
        channel_id: Uuid,
        phone_number_id: Uuid,
        kind: &'a str,
        dedupe_key: &'a str,
        body: &'a str,
        job: Option<&'a str>,
    }
    let rows: Vec<BatchRow> = batch
        .iter()
        .enumerate()
        .map(|(n, d)| BatchRow {
            n,
            id: d.id,
            account_id: d.account_id,
            channel_id: d.channel_id,
            phone_number_id: d.phone_number_id,
            kind: d.kind,
            dedupe_key: &d.dedupe_key,
            body: &d.body,
            job: job_of.get(&d.id).copied(),
        })
        .collect();
    let rows = serde_json::to_string(&rows).map_err(|e| crate::Error::Internal(e.into()))?;
    let stored = sea_orm::sqlx::query(sea_orm::sqlx::AssertSqlSafe(ONE_STATEMENT_COMMIT.as_str()))
        .bind(rows)
        .bind(Utc::now())
        .bind(ProcessWebhook::SPEC.queue)
        .bind(ProcessWebhook::SPEC.max_attempts as i32)
        .fetch_all(conn)
        .await
        .map_err(sqlx_error)?;
    stored.iter().map(|r| r.try_get::<Uuid, _>("id").map_err(sqlx_error)).collect()
}
