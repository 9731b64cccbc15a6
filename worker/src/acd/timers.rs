//! The two ACD timers and the sweeper behind them. A timer is an apalis job scheduled at its deadline rounded up
//! to the second (apalis schedules by the second, so it never starts early); a timer that still finds its
//! deadline ahead on the database clock reschedules itself. The sweeper, running in every worker process, acts
//! on every row whose deadline has passed, so a deadline whose job was lost with a crashed worker (apalis re-runs
//! it only after the dead-worker window), or whose job was picked up late, still fires on time; it is also the
//! safety net of distribution (a change whose follow-up distribution failed is distributed on its next pass).
//! The job and the sweeper call the same transition, which acts only once.

use super::db_now;
use super::offers::Expiry;
use crate::jobs::{Due, Job, JobSpec, enqueue};
use crate::{Engine, Result};
use chrono::{DateTime, Utc};
use entity::{AgentStatus, ConversationStatus, ConversationSubstatus, agent_state, conversation};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::time::Duration;
use uuid::Uuid;

/// How often the sweeper looks for passed deadlines: a deadline fires at most this late (plus the work).
pub const SWEEP_INTERVAL: Duration = Duration::from_millis(250);
/// How often the sweeper re-runs distribution for accounts with waiting conversations and ONLINE agents.
pub const REDISTRIBUTE_EVERY: u32 = 8;
/// Presence is swept every second.
pub const PRESENCE_EVERY: u32 = 4;
/// Live events are pruned every minute (and on the first pass).
pub const PRUNE_EVERY: u32 = 240;
/// Rows one sweep acts on at most per kind.
const SWEEP_BATCH: u64 = 500;

/// An offer's alerting timeout.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OfferTimeout {
    pub conversation_id: Uuid,
    pub offer_id: Uuid,
}

impl Job for OfferTimeout {
    const SPEC: JobSpec =
        JobSpec { queue: "offer_timeout", max_attempts: 5, timeout: Duration::from_secs(30), concurrency: 16 };
    async fn run(&self, engine: &Engine) -> Result<()> {
        if let Expiry::NotYet(d) = engine.expire_offer(self.conversation_id, self.offer_id).await? {
            enqueue(&engine.db, self, Due::At(d)).await?;
        }
        Ok(())
    }
}

/// A conversation's wrap-up timeout (the deadline identifies the after-call work it belongs to).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WrapUpTimeout {
    pub conversation_id: Uuid,
    pub deadline: DateTime<Utc>,
}

impl Job for WrapUpTimeout {
    const SPEC: JobSpec =
        JobSpec { queue: "wrap_up_timeout", max_attempts: 5, timeout: Duration::from_secs(30), concurrency: 16 };
    async fn run(&self, engine: &Engine) -> Result<()> {
        if let Some(d) = engine.expire_wrap_up(self.conversation_id, self.deadline).await? {
            enqueue(&engine.db, self, Due::At(d)).await?;
        }
        Ok(())
    }
}

impl Engine {
    /// One pass of the sweeper: every passed alerting, wrap-up and chatbot deadline is acted on. Returns how many.
    pub async fn sweep_deadlines(&self) -> Result<usize> {
        let now = db_now(&self.db).await?;
        let accounts: Vec<Uuid> = conversation::Entity::find()
            .select_only()
            .column(conversation::Column::AccountId)
            .distinct()
            .filter(conversation::Column::OfferDeadline.lte(now))
            .filter(conversation::Column::Substatus.eq(ConversationSubstatus::Alerting))
            .into_tuple()
            .all(&self.db)
            .await?;
        let mut n = 0;
        for account in accounts {
            n += self.expire_due_offers(account).await?;
        }
        let wrap_ups: Vec<(Uuid, Option<DateTime<Utc>>)> = conversation::Entity::find()
            .select_only()
            .column(conversation::Column::Id)
            .column(conversation::Column::WrapUpDeadline)
            .filter(conversation::Column::WrapUpDeadline.lte(now))
            .filter(conversation::Column::Substatus.eq(ConversationSubstatus::AfterCallWork))
            .limit(SWEEP_BATCH)
            .into_tuple()
            .all(&self.db)
            .await?;
        for (id, deadline) in wrap_ups {
            if let Some(d) = deadline
                && self.expire_wrap_up(id, d).await?.is_none()
            {
                n += 1;
            }
        }
        for id in self.overdue_chatbots(now, SWEEP_BATCH).await? {
            if self.expire_chatbot(id).await?.is_none() {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Distribution for every account that has waiting conversations and ONLINE agents.
    pub async fn sweep_queues(&self) -> Result<()> {
        let waiting: HashSet<Uuid> = conversation::Entity::find()
            .select_only()
            .column(conversation::Column::AccountId)
            .distinct()
            .filter(conversation::Column::Status.eq(ConversationStatus::Open))
            .filter(conversation::Column::Substatus.eq(ConversationSubstatus::InQueue))
            .into_tuple()
            .all(&self.db)
            .await?
            .into_iter()
            .collect();
        if waiting.is_empty() {
            return Ok(());
        }
        let online: HashSet<Uuid> = agent_state::Entity::find()
            .select_only()
            .column(agent_state::Column::AccountId)
            .distinct()
            .filter(agent_state::Column::Status.eq(AgentStatus::Online))
            .into_tuple()
            .all(&self.db)
            .await?
            .into_iter()
            .collect();
        for account in waiting.intersection(&online) {
            self.distribute(*account).await?;
        }
        Ok(())
    }
}

/// The sweeper loop of a worker process; ends with the process (the runtime aborts it on shutdown).
pub async fn sweep_forever(engine: Engine) {
    let mut tick = tokio::time::interval(SWEEP_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut pass: u32 = 0;
    loop {
        tick.tick().await;
        pass = pass.wrapping_add(1);
        if let Err(e) = engine.sweep_deadlines().await {
            tracing::warn!(error = ?e, "deadline sweep failed; next pass retries");
        }
        if pass.is_multiple_of(REDISTRIBUTE_EVERY)
            && let Err(e) = engine.sweep_queues().await
        {
            tracing::warn!(error = ?e, "queue sweep failed; next pass retries");
        }
        if pass.is_multiple_of(PRESENCE_EVERY)
            && let Err(e) = engine.sweep_presence().await
        {
            tracing::warn!(error = ?e, "presence sweep failed; next pass retries");
        }
        if pass % PRUNE_EVERY == 1
            && let Err(e) = engine.prune_events().await
        {
            tracing::warn!(error = ?e, "live event pruning failed; next pass retries");
        }
    }
}
