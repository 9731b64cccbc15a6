//! Distribution: loads the account's ONLINE agents with what they hold, the waiting conversations in queue
//! order and their exclusions, asks the pure [`policy`] for a plan and applies it, all in one transaction under
//! the account's ACD lock. The queue is read in bounded batches, one transaction each, so a long drain never
//! holds SQLite's single writer for long (webhook intake keeps its turn between batches).

use super::policy::{self, AgentLoad, ChannelRule, Waiting};
use super::timers::OfferTimeout;
use super::{lock_account, record_offer};
use crate::Result;
use crate::acd::Acd;
use crate::clock::{db_now, seconds};
use crate::jobs::{Due, enqueue};
use crate::live::{NewEvent, Uow};
use chrono::{DateTime, Utc};
use entity::{
    AgentStatus, ConversationStatus, ConversationSubstatus, EventKind, OfferOrigin, agent_state, channel,
    channel_agent, conversation, conversation_offer, user,
};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// Waiting conversations considered per transaction.
pub const BATCH: u64 = 200;

/// Where the previous batch stopped in queue order.
type Cursor = (DateTime<Utc>, Uuid);

impl Acd {
    /// Offers (or, with auto answer, assigns) every waiting conversation of the account that an ONLINE agent can
    /// take. Returns how many were assigned.
    #[tracing::instrument(skip(self))]
    pub async fn run_distribution(&self, account_id: Uuid) -> Result<usize> {
        // Nobody to offer to: no write transaction, no lock (the common case for a message arriving at night).
        let anyone = agent_state::Entity::find()
            .select_only()
            .column(agent_state::Column::UserId)
            .filter(agent_state::Column::AccountId.eq(account_id))
            .filter(agent_state::Column::Status.eq(AgentStatus::Online))
            .limit(1)
            .into_tuple::<Uuid>()
            .one(&self.db)
            .await?;
        if anyone.is_none() {
            return Ok(0);
        }
        let mut total = 0;
        let mut cursor = None;
        loop {
            let started = std::time::Instant::now();
            let txn = self.begin_uow().await?;
            let (n, next) = distribute_batch(&txn, account_id, cursor).await?;
            let planned = started.elapsed();
            // Distribution's own commit: it asks for no distribution of its own.
            let _none = txn.commit().await?;
            tracing::debug!(
                assigned = n,
                planned_ms = planned.as_millis() as u64,
                total_ms = started.elapsed().as_millis() as u64,
                "distribution batch"
            );
            total += n;
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        if total > 0 {
            tracing::info!(assigned = total, "conversations distributed");
        }
        Ok(total)
    }
}

/// One batch: returns how many were assigned and where to go on (None: done).
async fn distribute_batch(db: &Uow, account_id: Uuid, after: Option<Cursor>) -> Result<(usize, Option<Cursor>)> {
    lock_account(db, account_id).await?;
    let now = db_now(db).await?;

    // ONLINE, active agents.
    let states: Vec<agent_state::Model> = agent_state::Entity::find()
        .filter(agent_state::Column::AccountId.eq(account_id))
        .filter(agent_state::Column::Status.eq(AgentStatus::Online))
        .filter(
            agent_state::Column::UserId.in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(user::Column::Id)
                    .from(user::Entity)
                    .and_where(user::Column::AccountId.eq(account_id))
                    .and_where(user::Column::Active.eq(true))
                    .to_owned(),
            ),
        )
        .all(db)
        .await?;
    if states.is_empty() {
        return Ok((0, None));
    }
    // The same ONLINE agents as a subquery (the account's ACD lock keeps the set still): a thousand agents as
    // bind parameters cost PostgreSQL ~45 ms per query to plan.
    let online = || {
        sea_orm::sea_query::Query::select()
            .column(agent_state::Column::UserId)
            .from(agent_state::Entity)
            .and_where(agent_state::Column::AccountId.eq(account_id))
            .and_where(agent_state::Column::Status.eq(AgentStatus::Online))
            .to_owned()
    };

    // The live channels those agents are on, with their whole agent lists.
    let links: Vec<(Uuid, Uuid)> = channel_agent::Entity::find()
        .select_only()
        .column(channel_agent::Column::ChannelId)
        .column(channel_agent::Column::UserId)
        .filter(
            channel_agent::Column::ChannelId.in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(channel_agent::Column::ChannelId)
                    .from(channel_agent::Entity)
                    .and_where(channel_agent::Column::UserId.in_subquery(online()))
                    .to_owned(),
            ),
        )
        .into_tuple()
        .all(db)
        .await?;
    let channel_ids: HashSet<Uuid> = links.iter().map(|(c, _)| *c).collect();
    let rows = channel::Entity::find()
        .filter(channel::Column::Id.is_in(channel_ids.iter().copied()))
        .filter(channel::Column::AccountId.eq(account_id))
        .filter(channel::Column::DeletedAt.is_null())
        .all(db)
        .await?;
    let settings: HashMap<Uuid, channel::Model> = rows.into_iter().map(|c| (c.id, c)).collect();
    let mut channels: HashMap<Uuid, ChannelRule> = settings
        .values()
        .map(|c| {
            let rule = ChannelRule {
                cost: c.utilization,
                limit: c.auto_assignment_limit,
                auto_answer: c.auto_answer,
                members: HashSet::new(),
            };
            (c.id, rule)
        })
        .collect();
    for (c, u) in &links {
        if let Some(rule) = channels.get_mut(c) {
            rule.members.insert(*u);
        }
    }

    // What the ONLINE agents hold, per channel (every origin counts).
    let held: Vec<(Option<Uuid>, Uuid, Option<i32>)> = conversation::Entity::find()
        .select_only()
        .column(conversation::Column::AssignedUserId)
        .column(conversation::Column::ChannelId)
        .column(conversation::Column::AssignmentCost)
        .filter(conversation::Column::AccountId.eq(account_id))
        .filter(conversation::Column::Status.eq(ConversationStatus::Open))
        .filter(conversation::Column::Substatus.is_in(ConversationSubstatus::HELD))
        .filter(conversation::Column::AssignedUserId.in_subquery(online()))
        .into_tuple()
        .all(db)
        .await?;
    let mut agents: HashMap<Uuid, AgentLoad> = states
        .iter()
        .map(|s| {
            let load = AgentLoad {
                user_id: s.user_id,
                utilization: 0,
                held: HashMap::new(),
                last_assigned_at: s.last_assigned_at,
            };
            (s.user_id, load)
        })
        .collect();
    for (user, ch, cost) in held {
        if let Some(a) = user.and_then(|u| agents.get_mut(&u)) {
            a.utilization += cost.unwrap_or(0);
            *a.held.entry(ch).or_insert(0) += 1;
        }
    }
    if !policy::any_room(&agents, &channels) {
        return Ok((0, None));
    }

    // The next batch of the queue, in order.
    let mut q = conversation::Entity::find()
        .filter(conversation::Column::AccountId.eq(account_id))
        .filter(conversation::Column::Status.eq(ConversationStatus::Open))
        .filter(conversation::Column::Substatus.eq(ConversationSubstatus::InQueue))
        .filter(conversation::Column::ChannelId.is_in(channels.keys().copied()));
    if let Some((at, id)) = after {
        q =
            q.filter(Condition::any().add(conversation::Column::EnqueuedAt.gt(at)).add(
                Condition::all().add(conversation::Column::EnqueuedAt.eq(at)).add(conversation::Column::Id.gt(id)),
            ));
    }
    let waiting = q
        .order_by_asc(conversation::Column::EnqueuedAt)
        .order_by_asc(conversation::Column::Id)
        .limit(BATCH)
        .all(db)
        .await?;
    if waiting.is_empty() {
        return Ok((0, None));
    }
    let excluded: Vec<(Uuid, Uuid)> = conversation_offer::Entity::find()
        .select_only()
        .column(conversation_offer::Column::ConversationId)
        .column(conversation_offer::Column::UserId)
        .filter(conversation_offer::Column::ConversationId.is_in(waiting.iter().map(|c| c.id)))
        .filter(conversation_offer::Column::Excludes.eq(true))
        .into_tuple()
        .all(db)
        .await?;
    let mut exclusions: HashMap<Uuid, HashSet<Uuid>> = HashMap::new();
    for (c, u) in excluded {
        exclusions.entry(c).or_default().insert(u);
    }
    let queue: Vec<Waiting> = waiting
        .iter()
        .map(|c| Waiting {
            conversation_id: c.id,
            channel_id: c.channel_id,
            excluded: exclusions.remove(&c.id).unwrap_or_default(),
        })
        .collect();
    let plan = policy::plan(&queue, &channels, &mut agents, now);

    if !plan.cleared.is_empty() {
        conversation_offer::Entity::update_many()
            .col_expr(conversation_offer::Column::Excludes, Expr::value(false))
            .filter(conversation_offer::Column::ConversationId.is_in(plan.cleared.iter().copied()))
            .exec(db)
            .await?;
    }
    let by_id: HashMap<Uuid, &conversation::Model> = waiting.iter().map(|c| (c.id, c)).collect();
    let mut assigned = 0;
    for (conv_id, agent_id) in &plan.assignments {
        let (Some(conv), Some(ch)) = (by_id.get(conv_id), by_id.get(conv_id).and_then(|c| settings.get(&c.channel_id)))
        else {
            continue;
        };
        if assign(db, conv, ch, *agent_id, now).await? {
            assigned += 1;
        }
    }
    let next = if waiting.len() as u64 == BATCH && policy::any_room(&agents, &channels) {
        waiting.last().and_then(|c| c.enqueued_at.map(|at| (at, c.id)))
    } else {
        None
    };
    Ok((assigned, next))
}

/// Offers a waiting conversation to an agent (ALERTING with its deadline and timer job), or with auto answer
/// assigns it INTERACTING at once. Conditional on the conversation still waiting.
async fn assign(
    db: &Uow,
    conv: &conversation::Model,
    ch: &channel::Model,
    agent_id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool> {
    let auto = ch.auto_answer || ch.alerting_timeout.is_none();
    let deadline = (!auto).then(|| now + seconds(ch.alerting_timeout.unwrap_or(0)));
    let offer_id = record_offer(db, conv, agent_id, OfferOrigin::Distribution, now, deadline, auto).await?;
    let substatus = if auto { ConversationSubstatus::Interacting } else { ConversationSubstatus::Alerting };
    let r = conversation::Entity::update_many()
        .col_expr(conversation::Column::Substatus, Expr::value(Some(substatus)))
        .col_expr(conversation::Column::AssignedUserId, Expr::value(Some(agent_id)))
        .col_expr(conversation::Column::OfferId, Expr::value(Some(offer_id)))
        .col_expr(conversation::Column::OfferDeadline, Expr::value(deadline))
        .col_expr(conversation::Column::AssignmentCost, Expr::value(Some(ch.utilization)))
        .col_expr(conversation::Column::UpdatedAt, Expr::value(now))
        .filter(super::same_assignment(conv))
        .exec(db)
        .await?;
    if r.rows_affected != 1 {
        conversation_offer::Entity::delete_by_id(offer_id).exec(db).await?;
        return Ok(false);
    }
    super::stints::tally(db, conv.id, super::stints::Tally::Offer).await?;
    if auto {
        super::offers::accepted(db, conv.id, agent_id, now).await?;
        super::stints::end(db, conv.id, super::stints::End::Answered(agent_id), now).await?;
    }
    if let Some(d) = deadline {
        enqueue(db, &OfferTimeout { conversation_id: conv.id, offer_id }, Due::At(d)).await?;
    }
    let kind = if auto { EventKind::Assigned } else { EventKind::Offered };
    db.emit(NewEvent::conversation(kind, conv, Some(agent_id), now).with_deadline(deadline));
    Ok(true)
}
