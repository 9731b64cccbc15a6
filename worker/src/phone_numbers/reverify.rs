//! Scheduled re-verification: every active (not deleted) number of every account is checked with the provider
//! again on a schedule (`APP_REVERIFY_SCHEDULE`, hourly by default).
//!
//! - Once per tick, however many worker processes run: each process has an apalis-cron ticker, and on a tick it
//!   queues a durable `ReverifyBatch` job whose idempotency key is the tick's time (`reverify:<unix seconds>`).
//!   The first process to insert it wins; the others' inserts are refused (PostgreSQL: unique violation) or
//!   dropped (SQLite), so exactly one batch exists per tick and one worker runs it.
//! - The batch fans out one `VerifyNumber` job per number, marking the number PENDING as `verifyPhoneNumber`
//!   does. Numbers already PENDING are skipped unless they have been so for more than an hour (a check is in
//!   flight; a stale one is re-queued, which also rescues a number whose job was lost).
//! - Bounded load on each provider: the numbers of one `apiUrl` are spread over time, `RATE_PER_API_URL` jobs
//!   due per second (apalis schedules by the second), so a batch starts at most that many checks per second
//!   against one provider, whatever the number of workers. Numbers of different apiUrls do not wait on each
//!   other. The bound is per batch: two batches at once (a tick and an admin's `reverifyAllNumbers`) add up.
//! - `reverifyAllNumbers` (an admin, the caller's account only) and the `reverify` CLI command (all accounts)
//!   run the same fan-out at once and report how many numbers were queued.

use super::verify::VerifyNumber;
use crate::domain::Domain;
use crate::jobs::{Due, Job, JobSpec, enqueue, enqueue_keyed};
use crate::{Result, actor::Actor};
use chrono::Utc;
use entity::{Verification, channel, phone_number};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use uuid::Uuid;

/// The cron ticker's name in logs and metrics (it is not a stored queue).
pub const TICK_QUEUE: &str = "reverify_tick";
/// Verification jobs of one batch that become due per second against one provider `apiUrl`.
pub const RATE_PER_API_URL: u64 = 10;
/// A number PENDING for longer than this is re-queued by the next batch.
pub const PENDING_STALE_AFTER: Duration = Duration::from_secs(3600);
/// Numbers updated and queued per statement.
const CHUNK: usize = 500;

/// One scheduled batch; `tick` is the schedule's time in unix seconds (the idempotency key is derived from it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReverifyBatch {
    pub tick: i64,
}

impl Job for ReverifyBatch {
    const SPEC: JobSpec =
        JobSpec { queue: "reverify_batch", max_attempts: 3, timeout: Duration::from_secs(600), concurrency: 1 };
    type On = Domain;
    async fn run(&self, on: &Domain) -> Result<()> {
        on.run_reverify_batch(self).await
    }
}

/// The idempotency key of a tick's batch.
pub fn batch_key(tick: i64) -> String {
    format!("reverify:{tick}")
}

impl Domain {
    /// A schedule tick: queues the tick's batch unless another process already did. True when this call did.
    #[tracing::instrument(skip(self))]
    pub async fn queue_reverify_batch(&self, tick: i64) -> Result<bool> {
        let queued = enqueue_keyed(&self.db, &ReverifyBatch { tick }, Due::Now, Some(&batch_key(tick))).await?;
        if queued {
            tracing::info!("re-verification batch queued for this tick");
        } else {
            tracing::info!("re-verification batch for this tick already queued by another process");
        }
        Ok(queued)
    }

    /// The batch job: re-verifies every active number of every account.
    #[tracing::instrument(skip(self, job), fields(tick = job.tick))]
    pub async fn run_reverify_batch(&self, job: &ReverifyBatch) -> Result<()> {
        let queued = self.reverify_numbers(None).await?;
        tracing::info!(queued, "scheduled re-verification queued");
        Ok(())
    }

    /// `reverifyAllNumbers`: the caller's account's active numbers (admins). Returns how many were queued.
    pub async fn reverify_all_numbers(&self, actor: &Actor) -> Result<u64> {
        actor.require_admin()?;
        self.reverify_numbers(Some(actor.account_id)).await
    }

    /// Marks the active numbers (of one account, or all) PENDING and queues their checks, spread per `apiUrl`.
    /// Returns how many were queued.
    pub async fn reverify_numbers(&self, account: Option<Uuid>) -> Result<u64> {
        let stale = Utc::now() - PENDING_STALE_AFTER;
        let mut numbers = phone_number::Entity::find()
            .select_only()
            .column(phone_number::Column::Id)
            .column(phone_number::Column::ChannelId)
            .filter(phone_number::Column::DeletedAt.is_null())
            .filter(
                Condition::any()
                    .add(phone_number::Column::Verification.ne(Verification::Pending))
                    .add(phone_number::Column::UpdatedAt.lt(stale)),
            )
            .order_by_asc(phone_number::Column::Id);
        let mut channels = channel::Entity::find()
            .select_only()
            .column(channel::Column::Id)
            .column(channel::Column::ApiUrl)
            .filter(channel::Column::DeletedAt.is_null());
        if let Some(a) = account {
            numbers = numbers.filter(phone_number::Column::AccountId.eq(a));
            channels = channels.filter(channel::Column::AccountId.eq(a));
        }
        let numbers: Vec<(Uuid, Uuid)> = numbers.into_tuple().all(&self.db).await?;
        let api_urls: HashMap<Uuid, String> = channels.into_tuple().all(&self.db).await?.into_iter().collect();

        let mut by_api_url: BTreeMap<&str, Vec<Uuid>> = BTreeMap::new();
        for (id, channel_id) in &numbers {
            if let Some(url) = api_urls.get(channel_id) {
                by_api_url.entry(url.as_str()).or_default().push(*id);
            }
        }
        let now = Utc::now();
        let mut queued = 0u64;
        for ids in by_api_url.values() {
            for (c, chunk) in ids.chunks(CHUNK).enumerate() {
                let txn = self.begin_uow().await?;
                phone_number::Entity::update_many()
                    .col_expr(phone_number::Column::Verification, Expr::value(Verification::Pending))
                    .col_expr(phone_number::Column::VerificationError, Expr::value(Option::<String>::None))
                    .col_expr(phone_number::Column::UpdatedAt, Expr::value(Utc::now()))
                    .filter(phone_number::Column::Id.is_in(chunk.iter().copied()))
                    .filter(phone_number::Column::DeletedAt.is_null())
                    .exec(&txn)
                    .await?;
                for (k, id) in chunk.iter().enumerate() {
                    let index = (c * CHUNK + k) as u64;
                    let at = now + chrono::Duration::seconds((index / RATE_PER_API_URL) as i64);
                    enqueue(&txn, &VerifyNumber { phone_number_id: *id, attempt: 0 }, Due::At(at)).await?;
                }
                self.commit(txn).await?;
                queued += chunk.len() as u64;
            }
        }
        Ok(queued)
    }
}
