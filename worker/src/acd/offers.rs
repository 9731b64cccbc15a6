//! Offers: accept, reject and the alerting timeout, which race each other; exactly one wins (conditional
//! updates on the conversation's current offer, under the account's ACD lock). The database row is the truth:
//! an accept at or after the deadline is refused even before the timer job has run.

use super::{end_offer, requeue, stints};
use crate::acd::Acd;
use crate::live::{NewEvent, Uow};
use crate::{Error, Result, actor::Actor};
use chrono::{DateTime, Utc};
use entity::{
    AgentStatus, BusyKind, ConversationStatus, ConversationSubstatus, EventKind, EventReason, OfferOutcome,
    agent_state, conversation, conversation_offer,
};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

pub const OFFER_EXPIRED: &str = "OFFER_EXPIRED";
pub const OFFER_WITHDRAWN: &str = "OFFER_WITHDRAWN";

/// What the timer found.
#[derive(Debug, PartialEq, Eq)]
pub enum Expiry {
    /// The offer timed out: requeued, agent NOT_RESPONDING.
    Expired,
    /// The deadline has not passed on the database clock yet.
    NotYet(DateTime<Utc>),
    /// Accepted, rejected or withdrawn meanwhile: nothing to do.
    Gone,
}

/// A conversation of the caller's account, whoever holds it (the offer rules decide what the caller may do).
pub(crate) async fn conversation_in_account<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    id: Uuid,
) -> Result<conversation::Model> {
    conversation::Entity::find_by_id(id)
        .filter(conversation::Column::AccountId.eq(actor.account_id))
        .one(db)
        .await?
        .ok_or(Error::NotFound("conversation"))
}

impl Acd {
    /// The visibility rule: the conversations the caller may see, before any other filter.
    pub fn visible_conversations(&self, actor: &Actor) -> sea_orm::Select<conversation::Entity> {
        let q = conversation::Entity::find().filter(conversation::Column::AccountId.eq(actor.account_id));
        match actor.role {
            entity::Role::Admin | entity::Role::Supervisor => q,
            entity::Role::Agent => q.filter(conversation::Column::AssignedUserId.eq(actor.user_id)),
        }
    }

    /// A conversation the caller may see.
    pub async fn conversation(&self, actor: &Actor, id: Uuid) -> Result<conversation::Model> {
        self.visible_conversations(actor)
            .filter(conversation::Column::Id.eq(id))
            .one(&self.db)
            .await?
            .ok_or(Error::NotFound("conversation"))
    }
}

/// The refusal for someone whose offer of `conv` is no longer live: why, if they were offered it; NOT_FOUND
/// otherwise (they may not see it).
async fn lost_offer<C: ConnectionTrait>(db: &C, conv: &conversation::Model, user_id: Uuid) -> Result<Error> {
    let last = conversation_offer::Entity::find()
        .filter(conversation_offer::Column::ConversationId.eq(conv.id))
        .filter(conversation_offer::Column::UserId.eq(user_id))
        .order_by_desc(conversation_offer::Column::OfferedAt)
        .order_by_desc(conversation_offer::Column::Id)
        .one(db)
        .await?;
    Ok(match last.and_then(|o| o.outcome) {
        None => Error::NotFound("conversation"),
        Some(OfferOutcome::Expired) => {
            Error::conflict_because(OFFER_EXPIRED, "the offer expired: the conversation went back to the queue")
        }
        Some(_) => Error::conflict_because(OFFER_WITHDRAWN, "the offer is no longer yours"),
    })
}

fn withdrawn() -> Error {
    Error::conflict_because(OFFER_WITHDRAWN, "the offer is no longer yours")
}

/// The caller's ringing offer of `id` (deadline not passed); `None` when the conversation is theirs already
/// (accepted, on hold or in after-call work); otherwise why they have none: OFFER_EXPIRED when it timed out (also when the deadline
/// has passed but the timer has not run yet: the row is the truth), OFFER_WITHDRAWN when it was taken away,
/// NOT_FOUND when it was never theirs.
async fn offer_for<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<conversation::Model>> {
    let conv = conversation_in_account(db, actor, id).await?;
    let mine = conv.assigned_user_id == Some(actor.user_id) && conv.status == ConversationStatus::Open;
    match conv.substatus {
        Some(ConversationSubstatus::Alerting) if mine => {
            if conv.offer_deadline.is_some_and(|d| d <= now) {
                return Err(Error::conflict_because(OFFER_EXPIRED, "the offer expired"));
            }
            Ok(Some(conv))
        }
        Some(_) if mine => Ok(None),
        _ => Err(lost_offer(db, &conv, actor.user_id).await?),
    }
}

/// An assignment was accepted (by the agent, or at once with auto answer): the conversation's exclusions end
/// with its queue stint, and the agent's "idle since" clock restarts.
pub(crate) async fn accepted<C: ConnectionTrait>(
    db: &C,
    conv_id: Uuid,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<()> {
    conversation_offer::Entity::update_many()
        .col_expr(conversation_offer::Column::Excludes, Expr::value(false))
        .filter(conversation_offer::Column::ConversationId.eq(conv_id))
        .filter(conversation_offer::Column::Excludes.eq(true))
        .exec(db)
        .await?;
    agent_state::Entity::update_many()
        .col_expr(agent_state::Column::LastAssignedAt, Expr::value(Some(now)))
        .filter(agent_state::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(())
}

impl Acd {
    /// `acceptConversation`: only the agent the conversation is offered to, before the deadline. Repeating an
    /// accept that already won returns the conversation unchanged.
    #[tracing::instrument(skip(self, actor), fields(user_id = %actor.user_id))]
    pub async fn accept_conversation(&self, actor: &Actor, id: Uuid) -> Result<conversation::Model> {
        let (txn, now) = self.begin_acd(actor.account_id).await?;
        let conv = match offer_for(&txn, actor, id, now).await? {
            Some(conv) => conv,
            // A retried accept that already won: its answer is read after the transaction ends, so this request
            // never holds the write lock (SQLite) while it waits for a second pooled connection.
            None => {
                drop(txn);
                return self.conversation(actor, id).await;
            }
        };
        let r = conversation::Entity::update_many()
            .col_expr(conversation::Column::Substatus, Expr::value(Some(ConversationSubstatus::Interacting)))
            .col_expr(conversation::Column::OfferDeadline, Expr::value(Option::<DateTime<Utc>>::None))
            .col_expr(conversation::Column::UpdatedAt, Expr::value(now))
            .filter(super::same_assignment(&conv))
            .exec(&txn)
            .await?;
        if r.rows_affected != 1 {
            return Err(withdrawn());
        }
        if let Some(offer) = conv.offer_id {
            conversation_offer::Entity::update_many()
                .col_expr(conversation_offer::Column::Outcome, Expr::value(Some(OfferOutcome::Accepted)))
                .col_expr(conversation_offer::Column::AcceptedAt, Expr::value(Some(now)))
                .filter(conversation_offer::Column::Id.eq(offer))
                .exec(&txn)
                .await?;
        }
        accepted(&txn, conv.id, actor.user_id, now).await?;
        stints::end(&txn, conv.id, stints::End::Answered(actor.user_id), now).await?;
        txn.emit(NewEvent::conversation(EventKind::Assigned, &conv, Some(actor.user_id), now));
        self.commit(txn).await?;
        tracing::info!(conversation_id = %id, "offer accepted");
        self.conversation(actor, id).await
    }

    /// `rejectConversation`: back to the queue at its original position, offered to someone else; the agent
    /// stays ONLINE and is not offered it again in this queue stint.
    #[tracing::instrument(skip(self, actor), fields(user_id = %actor.user_id))]
    pub async fn reject_conversation(&self, actor: &Actor, id: Uuid) -> Result<conversation::Model> {
        let (txn, now) = self.begin_acd(actor.account_id).await?;
        let conv = match offer_for(&txn, actor, id, now).await? {
            Some(conv) => conv,
            None => {
                return Err(Error::conflict("id", "only an offer that is still ringing can be rejected"));
            }
        };
        if !requeue(&txn, &conv, OfferOutcome::Rejected, EventReason::Rejected, now).await? {
            return Err(withdrawn());
        }
        // The caller may no longer see it once requeued: answer with the row as the reject left it.
        let after = conversation::Entity::find_by_id(id).one(&txn).await?.ok_or(Error::NotFound("conversation"))?;
        self.commit(txn).await?;
        tracing::info!(conversation_id = %id, "offer rejected");
        Ok(after)
    }

    /// The alerting timeout of one offer (the timer job, or the sweeper): when the offer is still ringing and its
    /// deadline has passed on the database clock, the conversation goes back to the queue at its original
    /// position and the agent becomes BUSY / NOT_RESPONDING (an agent who already chose BUSY keeps their status).
    pub async fn expire_offer(&self, conversation_id: Uuid, offer_id: Uuid) -> Result<Expiry> {
        let Some(c) = conversation::Entity::find_by_id(conversation_id).one(&self.db).await? else {
            return Ok(Expiry::Gone);
        };
        let (txn, now) = self.begin_acd(c.account_id).await?;
        let Some(conv) = conversation::Entity::find_by_id(conversation_id).one(&txn).await? else {
            return Ok(Expiry::Gone);
        };
        if conv.offer_id != Some(offer_id) || conv.substatus != Some(ConversationSubstatus::Alerting) {
            return Ok(Expiry::Gone);
        }
        match conv.offer_deadline {
            Some(d) if d > now => return Ok(Expiry::NotYet(d)),
            _ => {}
        }
        if !expire(&txn, &conv, now).await? {
            return Ok(Expiry::Gone);
        }
        self.commit(txn).await?;
        Ok(Expiry::Expired)
    }

    /// Every offer of the account whose deadline has passed, in one transaction, then one distribution (the
    /// sweeper's path: deadlines often pass together, and one distribution serves them all). Returns how many.
    pub async fn expire_due_offers(&self, account_id: Uuid) -> Result<usize> {
        let (txn, now) = self.begin_acd(account_id).await?;
        let due = conversation::Entity::find()
            .filter(conversation::Column::AccountId.eq(account_id))
            .filter(conversation::Column::Substatus.eq(ConversationSubstatus::Alerting))
            .filter(conversation::Column::OfferDeadline.lte(now))
            .all(&txn)
            .await?;
        let mut n = 0;
        for conv in &due {
            if expire(&txn, conv, now).await? {
                n += 1;
            }
        }
        self.commit(txn).await?;
        Ok(n)
    }
}

/// The timeout itself: back to the queue at the original position, the agent excluded from it and BUSY /
/// NOT_RESPONDING (an agent who already chose BUSY keeps their status). Conditional on `conv`.
async fn expire(db: &Uow, conv: &conversation::Model, now: DateTime<Utc>) -> Result<bool> {
    if !requeue(db, conv, OfferOutcome::Expired, EventReason::Timeout, now).await? {
        return Ok(false);
    }
    if let Some(agent) = conv.assigned_user_id {
        let r = agent_state::Entity::update_many()
            .col_expr(agent_state::Column::Status, Expr::value(AgentStatus::Busy))
            .col_expr(agent_state::Column::BusyKind, Expr::value(Some(BusyKind::NotResponding)))
            .col_expr(agent_state::Column::BusyReasonId, Expr::value(Option::<Uuid>::None))
            .col_expr(agent_state::Column::Since, Expr::value(now))
            .filter(agent_state::Column::UserId.eq(agent))
            .filter(agent_state::Column::Status.eq(AgentStatus::Online))
            .exec(db)
            .await?;
        if r.rows_affected == 1 {
            db.emit(NewEvent::agent_status(conv.account_id, agent, now));
        }
    }
    tracing::info!(conversation_id = %conv.id, "offer timed out; conversation requeued");
    Ok(true)
}

/// Withdraws every ringing offer matching `filter` (an agent went OFFLINE, left a channel's list, was
/// deactivated): back to the queue at the original position, nobody excluded. Returns how many.
pub(crate) async fn withdraw_alerting(
    db: &Uow,
    filter: sea_orm::Condition,
    reason: EventReason,
    now: DateTime<Utc>,
) -> Result<usize> {
    let ringing = conversation::Entity::find()
        .filter(conversation::Column::Status.eq(ConversationStatus::Open))
        .filter(conversation::Column::Substatus.eq(ConversationSubstatus::Alerting))
        .filter(filter)
        .all(db)
        .await?;
    let mut n = 0;
    for conv in &ringing {
        if requeue(db, conv, OfferOutcome::Withdrawn, reason, now).await? {
            n += 1;
        }
    }
    Ok(n)
}

/// Ends an assignment in the history (for transitions that do not requeue: resolve, transfer).
pub(crate) async fn close_assignment<C: ConnectionTrait>(
    db: &C,
    conv: &conversation::Model,
    outcome: OfferOutcome,
    now: DateTime<Utc>,
) -> Result<()> {
    end_offer(db, conv.offer_id, outcome, now).await
}
