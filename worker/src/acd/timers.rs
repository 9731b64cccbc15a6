//! The two ACD timers and the ACD's sweeper passes (scheduled by `runtime::sweeper`). A timer is an apalis job scheduled at its deadline rounded up
//! to the second (apalis schedules by the second, so it never starts early); a timer that still finds its
//! deadline ahead on the database clock reschedules itself. The sweeper, running in every worker process, acts
//! on every row whose deadline has passed, so a deadline whose job was lost with a crashed worker (apalis re-runs
//! it only after the dead-worker window), or whose job was picked up late, still fires on time; it is also the
//! safety net of distribution (a change whose follow-up distribution failed is distributed on its next pass).
//! The job and the sweeper call the same transition, which acts only once.

use super::db_now;
use super::offers::Expiry;
use crate::Result;
use crate::acd::Acd;
use crate::jobs::{Due, Job, JobSpec, enqueue};
use chrono::{DateTime, Utc};
use entity::{AgentStatus, ConversationStatus, ConversationSubstatus, agent_state, conversation};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::time::Duration;
use uuid::Uuid;

/// Rows one sweep acts on at most per kind.
pub(crate) const SWEEP_BATCH: u64 = 500;

/// An offer's alerting timeout.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OfferTimeout {
    pub conversation_id: Uuid,
    pub offer_id: Uuid,
}

impl Job for OfferTimeout {
    const SPEC: JobSpec =
        JobSpec { queue: "offer_timeout", max_attempts: 5, timeout: Duration::from_secs(30), concurrency: 16 };
    type On = Acd;
    async fn run(&self, on: &Acd) -> Result<()> {
        if let Expiry::NotYet(d) = on.expire_offer(self.conversation_id, self.offer_id).await? {
            enqueue(&on.db, self, Due::At(d)).await?;
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
    type On = Acd;
    async fn run(&self, on: &Acd) -> Result<()> {
        if let Some(d) = on.expire_wrap_up(self.conversation_id, self.deadline).await? {
            enqueue(&on.db, self, Due::At(d)).await?;
        }
        Ok(())
    }
}

impl Acd {
    /// One pass of the sweeper over the ACD's deadlines: every passed alerting and wrap-up deadline is acted on. Returns how many.
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
            self.run_distribution(*account).await?;
        }
        Ok(())
    }
}
