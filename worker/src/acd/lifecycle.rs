//! A conversation's life once someone holds it (hold, resume, resolve, wrap-up and its timeout), what
//! supervisors do by hand (assign, transfer, requeue, hand off), and what other changes do to conversations
//! (a channel deleted, an agent removed from a list or deactivated, a client writing during after-call work).

use super::offers::{close_assignment, conversation_in_account, withdraw_alerting};
use super::stints;
use super::timers::WrapUpTimeout;
use super::{lock_account, record_offer, requeue, same_assignment};
use crate::acd::Acd;
use crate::clock::{db_now, seconds};
use crate::jobs::{Due, enqueue};
use crate::live::{NewEvent, Uow};
use crate::{Error, Result, actor::Actor};
use chrono::{DateTime, Utc};
use entity::{
    AgentStatus, ConversationStatus, ConversationSubstatus as Sub, EventKind, EventReason, HandOffReason, OfferOrigin,
    OfferOutcome, Resolution, agent_state, channel, conversation, user, wrap_up_code,
};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

pub const WRAP_UP_EXPIRED: &str = "WRAP_UP_EXPIRED";

/// A conversation the caller works: its assigned agent, or an admin or supervisor of the account. Anyone else
/// gets NOT_FOUND (they may not see it).
async fn worked_by<C: ConnectionTrait>(db: &C, actor: &Actor, id: Uuid) -> Result<conversation::Model> {
    let conv = conversation_in_account(db, actor, id).await?;
    if actor.is_staff() || conv.assigned_user_id == Some(actor.user_id) {
        Ok(conv)
    } else {
        Err(Error::NotFound("conversation"))
    }
}

fn wrong_state(conv: &conversation::Model, wanted: &str) -> Error {
    let now = match (conv.status, conv.substatus) {
        (ConversationStatus::Open, Some(s)) => format!("{s:?}"),
        (s, _) => format!("{s:?}"),
    };
    Error::conflict("id", format!("the conversation is {now}; this needs it {wanted}"))
}

async fn active_codes<C: ConnectionTrait>(db: &C, channel_id: Uuid) -> Result<u64> {
    use sea_orm::PaginatorTrait;
    Ok(wrap_up_code::Entity::find()
        .filter(wrap_up_code::Column::ChannelId.eq(channel_id))
        .filter(wrap_up_code::Column::ArchivedAt.is_null())
        .count(db)
        .await?)
}

/// Marks a conversation RESOLVED (its assignment ends; the agent's load drops). Conditional on `conv`.
pub(crate) async fn finish(
    db: &Uow,
    conv: &conversation::Model,
    resolution: Resolution,
    code: Option<Uuid>,
    timed_out: bool,
    now: DateTime<Utc>,
) -> Result<bool> {
    // A ringing offer was never the agent's: it leaves their list; a held conversation stays with its agent.
    let ringing = conv.substatus == Some(Sub::Alerting);
    let keeps = if ringing { None } else { conv.assigned_user_id };
    let r = conversation::Entity::update_many()
        .col_expr(conversation::Column::Status, Expr::value(ConversationStatus::Resolved))
        .col_expr(conversation::Column::AssignedUserId, Expr::value(keeps))
        .col_expr(conversation::Column::Substatus, Expr::value(Option::<Sub>::None))
        .col_expr(conversation::Column::OfferDeadline, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(conversation::Column::WrapUpDeadline, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(conversation::Column::BotDeadline, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(conversation::Column::WrapUpCodeId, Expr::value(code))
        .col_expr(conversation::Column::WrapUpTimedOut, Expr::value(timed_out))
        .col_expr(conversation::Column::Resolution, Expr::value(Some(resolution)))
        .col_expr(conversation::Column::ResolvedAt, Expr::value(Some(now)))
        .col_expr(conversation::Column::UpdatedAt, Expr::value(now))
        .filter(same_assignment(conv))
        .exec(db)
        .await?;
    if r.rows_affected != 1 {
        return Ok(false);
    }
    if conv.status == ConversationStatus::Pending {
        drop_pending_posts(db, conv.id).await?;
    }
    if conv.assigned_user_id.is_some() {
        // Its agent has room again.
        db.distribute(conv.account_id);
    }
    let outcome = if ringing { OfferOutcome::Withdrawn } else { OfferOutcome::Resolved };
    close_assignment(db, conv, outcome, now).await?;
    if matches!(conv.substatus, Some(Sub::InQueue | Sub::Alerting)) {
        let why = match resolution {
            Resolution::ChannelDeleted => entity::AbandonReason::ChannelDeleted,
            _ => entity::AbandonReason::Resolved,
        };
        stints::end(db, conv.id, stints::End::Abandoned(why), now).await?;
    }
    let reason = match resolution {
        Resolution::Agent => EventReason::Resolved,
        Resolution::WrapUpCode => EventReason::WrapUpChosen,
        Resolution::WrapUpTimeout => EventReason::WrapUpTimeout,
        Resolution::ChannelDeleted => EventReason::ChannelDeleted,
        Resolution::AgentDeactivated => EventReason::Deactivated,
        Resolution::Chatbot => EventReason::Resolved,
    };
    if ringing {
        if let Some(agent) = conv.assigned_user_id {
            db.emit(NewEvent::conversation(EventKind::Withdrawn, conv, Some(agent), now).because(reason).agent_only());
        }
        db.emit(NewEvent::conversation(EventKind::ConversationUpdated, conv, None, now).because(reason));
    } else {
        db.emit(NewEvent::conversation(EventKind::ConversationUpdated, conv, keeps, now).because(reason));
    }
    Ok(true)
}

/// Moves a conversation between two held substatuses (hold, resume). Conditional on `conv`.
async fn set_substatus(db: &Uow, conv: &conversation::Model, to: Sub, now: DateTime<Utc>) -> Result<bool> {
    let r = conversation::Entity::update_many()
        .col_expr(conversation::Column::Substatus, Expr::value(Some(to)))
        .col_expr(conversation::Column::UpdatedAt, Expr::value(now))
        .filter(same_assignment(conv))
        .exec(db)
        .await?;
    let reason = if to == Sub::Hold { EventReason::Held } else { EventReason::Resumed };
    db.emit(NewEvent::conversation(EventKind::ConversationUpdated, conv, conv.assigned_user_id, now).because(reason));
    Ok(r.rows_affected == 1)
}

fn lost_race() -> Error {
    Error::conflict("id", "the conversation changed meanwhile; reload it")
}

impl Acd {
    /// Ends a transition that may have freed capacity: commits, distributes, and answers with the conversation
    /// as the caller may see it now.
    async fn commit_and_show(&self, txn: Uow, actor: &Actor, id: Uuid) -> Result<conversation::Model> {
        txn.distribute(actor.account_id);
        self.commit(txn).await?;
        self.conversation(actor, id).await
    }

    /// `holdConversation`: INTERACTING -> HOLD (still counts toward utilization and limits).
    pub async fn hold_conversation(&self, actor: &Actor, id: Uuid) -> Result<conversation::Model> {
        self.move_held(actor, id, Sub::Interacting, Sub::Hold).await
    }

    /// `resumeConversation`: HOLD -> INTERACTING.
    pub async fn resume_conversation(&self, actor: &Actor, id: Uuid) -> Result<conversation::Model> {
        self.move_held(actor, id, Sub::Hold, Sub::Interacting).await
    }

    async fn move_held(&self, actor: &Actor, id: Uuid, from: Sub, to: Sub) -> Result<conversation::Model> {
        let (txn, now) = self.begin_acd(actor.account_id).await?;
        let conv = worked_by(&txn, actor, id).await?;
        if conv.status != ConversationStatus::Open || conv.substatus != Some(from) {
            return Err(wrong_state(&conv, &format!("{from:?}")));
        }
        if !set_substatus(&txn, &conv, to, now).await? {
            return Err(lost_race());
        }
        self.commit(txn).await?;
        self.conversation(actor, id).await
    }

    /// `resolveConversation`: to AFTER_CALL_WORK when the channel has wrap-up codes to choose from (with a
    /// deadline when it has a wrap-up timeout), otherwise RESOLVED at once. Resolving a conversation in
    /// after-call work whose channel has no active code left finishes it without a code.
    #[tracing::instrument(skip(self, actor), fields(user_id = %actor.user_id))]
    pub async fn resolve_conversation(&self, actor: &Actor, id: Uuid) -> Result<conversation::Model> {
        let (txn, now) = self.begin_acd(actor.account_id).await?;
        let conv = worked_by(&txn, actor, id).await?;
        let codes = active_codes(&txn, conv.channel_id).await?;
        match (conv.status, conv.substatus) {
            (ConversationStatus::Open, Some(Sub::Interacting | Sub::Hold)) if codes > 0 => {
                let ch =
                    channel::Entity::find_by_id(conv.channel_id).one(&txn).await?.ok_or(Error::NotFound("channel"))?;
                let deadline = ch.wrap_up_timeout.map(|s| now + seconds(s));
                let r = conversation::Entity::update_many()
                    .col_expr(conversation::Column::Substatus, Expr::value(Some(Sub::AfterCallWork)))
                    .col_expr(conversation::Column::WrapUpDeadline, Expr::value(deadline))
                    .col_expr(conversation::Column::UpdatedAt, Expr::value(now))
                    .filter(same_assignment(&conv))
                    .exec(&txn)
                    .await?;
                if r.rows_affected != 1 {
                    return Err(lost_race());
                }
                mark_after_call_work(&txn, conv.offer_id, Some(now)).await?;
                if let Some(d) = deadline {
                    enqueue(&txn, &WrapUpTimeout { conversation_id: conv.id, deadline: d }, Due::At(d)).await?;
                }
                txn.emit(
                    NewEvent::conversation(EventKind::ConversationUpdated, &conv, conv.assigned_user_id, now)
                        .because(EventReason::AfterCallWork),
                );
            }
            (ConversationStatus::Open, Some(Sub::Interacting | Sub::Hold)) => {
                if !finish(&txn, &conv, Resolution::Agent, None, false, now).await? {
                    return Err(lost_race());
                }
            }
            (ConversationStatus::Open, Some(Sub::AfterCallWork)) if codes == 0 => {
                if !finish(&txn, &conv, Resolution::Agent, None, false, now).await? {
                    return Err(lost_race());
                }
            }
            (ConversationStatus::Open, Some(Sub::AfterCallWork)) => {
                return Err(Error::conflict("id", "choose a wrap-up code to finish this conversation"));
            }
            // Staff may close a waiting conversation (the client left, spam): an abandoned wait.
            (ConversationStatus::Open, Some(Sub::InQueue | Sub::Alerting)) if actor.is_staff() => {
                if !finish(&txn, &conv, Resolution::Agent, None, false, now).await? {
                    return Err(lost_race());
                }
            }
            _ => return Err(wrong_state(&conv, "INTERACTING or HOLD")),
        }
        self.commit_and_show(txn, actor, id).await
    }

    /// `setWrapUpCode`: resolves a conversation in after-call work with a code of its channel (not archived),
    /// before the wrap-up deadline.
    #[tracing::instrument(skip(self, actor), fields(user_id = %actor.user_id))]
    pub async fn set_wrap_up_code(&self, actor: &Actor, id: Uuid, code_id: Uuid) -> Result<conversation::Model> {
        let (txn, now) = self.begin_acd(actor.account_id).await?;
        let conv = worked_by(&txn, actor, id).await?;
        let code = wrap_up_code::Entity::find_by_id(code_id)
            .filter(wrap_up_code::Column::ChannelId.eq(conv.channel_id))
            .one(&txn)
            .await?;
        let Some(code) = code else {
            return Err(Error::invalid(
                "wrapUpCodeId",
                "NOT_FOUND",
                "no such wrap-up code in this conversation's channel",
            ));
        };
        if code.archived_at.is_some() {
            return Err(Error::invalid("wrapUpCodeId", "ARCHIVED", "this wrap-up code is archived"));
        }
        let expired = || {
            Error::conflict_because(
                WRAP_UP_EXPIRED,
                "the wrap-up time ran out; the conversation was resolved without a code",
            )
        };
        match (conv.status, conv.substatus) {
            (ConversationStatus::Open, Some(Sub::AfterCallWork)) => {
                if conv.wrap_up_deadline.is_some_and(|d| d <= now) {
                    return Err(expired());
                }
                if !finish(&txn, &conv, Resolution::WrapUpCode, Some(code.id), false, now).await? {
                    return Err(lost_race());
                }
            }
            (ConversationStatus::Resolved, _) if conv.wrap_up_timed_out => return Err(expired()),
            _ => return Err(wrong_state(&conv, "AFTER_CALL_WORK")),
        }
        self.commit_and_show(txn, actor, id).await
    }

    /// The wrap-up timeout (the timer job, or the sweeper): a conversation still in the same after-call work
    /// whose deadline has passed is resolved without a code and marked `wrapUpTimedOut`. Returns the deadline
    /// when it has not passed yet on the database clock.
    pub async fn expire_wrap_up(
        &self,
        conversation_id: Uuid,
        deadline: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>> {
        let Some(c) = conversation::Entity::find_by_id(conversation_id).one(&self.db).await? else { return Ok(None) };
        let (txn, now) = self.begin_acd(c.account_id).await?;
        let Some(conv) = conversation::Entity::find_by_id(conversation_id).one(&txn).await? else { return Ok(None) };
        if conv.substatus != Some(Sub::AfterCallWork) || conv.wrap_up_deadline != Some(deadline) {
            return Ok(None);
        }
        if deadline > now {
            return Ok(Some(deadline));
        }
        if finish(&txn, &conv, Resolution::WrapUpTimeout, None, true, now).await? {
            self.commit(txn).await?;
            tracing::info!(%conversation_id, "wrap-up timed out; resolved without a code");
        }
        Ok(None)
    }

    /// The person a conversation is given to by hand: an active AGENT or SUPERVISOR of the account who is not
    /// OFFLINE.
    async fn assignee<C: ConnectionTrait>(&self, db: &C, actor: &Actor, user_id: Uuid) -> Result<user::Model> {
        let u = user::Entity::find_by_id(user_id)
            .filter(user::Column::AccountId.eq(actor.account_id))
            .one(db)
            .await?
            .ok_or_else(|| Error::invalid("userId", "NOT_FOUND", "no such user in this account"))?;
        if !u.active || !super::status::has_agent_state(u.role) {
            return Err(Error::invalid("userId", "NOT_AN_AGENT", "must be an active agent or supervisor"));
        }
        let state = agent_state::Entity::find_by_id(u.id).one(db).await?;
        if state.is_none_or(|s| s.status == AgentStatus::Offline) {
            return Err(Error::invalid("userId", "OFFLINE", "the user is offline"));
        }
        Ok(u)
    }

    /// `assignConversation` (supervisors and admins): gives a waiting (queued, ringing or chatbot-served)
    /// conversation to a person, INTERACTING for them at once, beyond utilization and limits if need be.
    pub async fn assign_conversation(&self, actor: &Actor, id: Uuid, user_id: Uuid) -> Result<conversation::Model> {
        self.give(actor, id, user_id, OfferOrigin::Manual).await
    }

    /// `transferConversation` (supervisors and admins): moves a conversation someone holds (ringing,
    /// interacting or on hold) to another person, INTERACTING for them at once.
    pub async fn transfer_conversation(&self, actor: &Actor, id: Uuid, user_id: Uuid) -> Result<conversation::Model> {
        self.give(actor, id, user_id, OfferOrigin::Transfer).await
    }

    #[tracing::instrument(skip(self, actor), fields(user_id = %actor.user_id))]
    async fn give(&self, actor: &Actor, id: Uuid, to: Uuid, origin: OfferOrigin) -> Result<conversation::Model> {
        actor.require_staff()?;
        let (txn, now) = self.begin_acd(actor.account_id).await?;
        let conv = conversation_in_account(&txn, actor, id).await?;
        let u = self.assignee(&txn, actor, to).await?;
        let allowed = match origin {
            OfferOrigin::Transfer => matches!(conv.substatus, Some(Sub::Alerting | Sub::Interacting | Sub::Hold)),
            _ => {
                conv.status == ConversationStatus::Pending
                    || matches!(conv.substatus, Some(Sub::InQueue | Sub::Alerting))
            }
        };
        if !allowed || conv.status == ConversationStatus::Resolved {
            let wanted = if origin == OfferOrigin::Transfer {
                "ALERTING, INTERACTING or HOLD"
            } else {
                "PENDING, IN_QUEUE or ALERTING"
            };
            return Err(wrong_state(&conv, wanted));
        }
        if conv.assigned_user_id == Some(u.id) && conv.substatus != Some(Sub::Alerting) {
            return Err(Error::conflict("userId", "the conversation is already theirs"));
        }
        let ch = channel::Entity::find_by_id(conv.channel_id).one(&txn).await?.ok_or(Error::NotFound("channel"))?;
        let offer_id = record_offer(&txn, &conv, u.id, origin, now, None, true).await?;
        let r = conversation::Entity::update_many()
            .col_expr(conversation::Column::Status, Expr::value(ConversationStatus::Open))
            .col_expr(conversation::Column::Substatus, Expr::value(Some(Sub::Interacting)))
            .col_expr(conversation::Column::AssignedUserId, Expr::value(Some(u.id)))
            .col_expr(conversation::Column::OfferId, Expr::value(Some(offer_id)))
            .col_expr(conversation::Column::OfferDeadline, Expr::value(Option::<DateTime<Utc>>::None))
            .col_expr(conversation::Column::BotDeadline, Expr::value(Option::<DateTime<Utc>>::None))
            .col_expr(conversation::Column::AssignmentCost, Expr::value(Some(ch.utilization)))
            .col_expr(conversation::Column::EnqueuedAt, Expr::value(Some(conv.enqueued_at.unwrap_or(now))))
            .col_expr(conversation::Column::UpdatedAt, Expr::value(now))
            .filter(same_assignment(&conv))
            .exec(&txn)
            .await?;
        if r.rows_affected != 1 {
            return Err(lost_race());
        }
        close_assignment(&txn, &conv, OfferOutcome::Withdrawn, now).await?;
        super::offers::accepted(&txn, conv.id, u.id, now).await?;
        if matches!(conv.substatus, Some(Sub::InQueue | Sub::Alerting)) {
            stints::end(&txn, conv.id, stints::End::Transferred(u.id), now).await?;
        }
        let reason = match (origin, conv.assigned_user_id) {
            (OfferOrigin::Transfer, _) => Some(EventReason::Transferred),
            (_, Some(_)) => Some(EventReason::Reassigned),
            _ => None,
        };
        if let Some(from) = conv.assigned_user_id.filter(|f| *f != u.id) {
            txn.emit(
                NewEvent::conversation(EventKind::Withdrawn, &conv, Some(from), now).maybe_because(reason).agent_only(),
            );
        }
        txn.emit(NewEvent::conversation(EventKind::Assigned, &conv, Some(u.id), now).maybe_because(reason));
        tracing::info!(conversation_id = %id, to = %u.id, ?origin, "conversation given by hand");
        self.commit_and_show(txn, actor, id).await
    }

    /// `requeueConversation` (supervisors and admins): a conversation someone holds goes back to its channel's
    /// queue at its original position.
    pub async fn requeue_conversation(&self, actor: &Actor, id: Uuid) -> Result<conversation::Model> {
        actor.require_staff()?;
        let (txn, now) = self.begin_acd(actor.account_id).await?;
        let conv = conversation_in_account(&txn, actor, id).await?;
        if conv.status != ConversationStatus::Open
            || !matches!(conv.substatus, Some(Sub::Alerting | Sub::Interacting | Sub::Hold))
        {
            return Err(wrong_state(&conv, "ALERTING, INTERACTING or HOLD"));
        }
        if !requeue(&txn, &conv, OfferOutcome::Withdrawn, EventReason::Requeued, now).await? {
            return Err(lost_race());
        }
        self.commit_and_show(txn, actor, id).await
    }

    /// `handOffConversation` by staff: a PENDING conversation (a chatbot served it) goes to its channel's queue,
    /// queued from now.
    pub async fn hand_off_conversation(&self, actor: &Actor, id: Uuid) -> Result<conversation::Model> {
        actor.require_staff()?;
        let (txn, now) = self.begin_acd(actor.account_id).await?;
        let conv = conversation_in_account(&txn, actor, id).await?;
        if conv.status != ConversationStatus::Pending {
            return Err(wrong_state(&conv, "PENDING"));
        }
        if !hand_off(&txn, &conv, HandOffReason::Staff, now).await? {
            return Err(lost_race());
        }
        self.commit_and_show(txn, actor, id).await
    }
}

/// A PENDING conversation goes to its channel's queue, queued from `now`, with the reason recorded; the chatbot
/// gets none of its messages any more, and the channel streams get QUEUE_CHANGED (HANDED_OFF). Every hand-off
/// (staff, the chatbot, its timeout, unreachable, disabled or removed) comes through here. Conditional on `conv`:
/// false when it changed meanwhile.
pub(crate) async fn hand_off(
    db: &Uow,
    conv: &conversation::Model,
    reason: HandOffReason,
    now: DateTime<Utc>,
) -> Result<bool> {
    let r = conversation::Entity::update_many()
        .col_expr(conversation::Column::Status, Expr::value(ConversationStatus::Open))
        .col_expr(conversation::Column::Substatus, Expr::value(Some(Sub::InQueue)))
        .col_expr(conversation::Column::EnqueuedAt, Expr::value(Some(now)))
        .col_expr(conversation::Column::BotDeadline, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(conversation::Column::HandOffReason, Expr::value(Some(reason)))
        .col_expr(conversation::Column::HandedOffAt, Expr::value(Some(now)))
        .col_expr(conversation::Column::UpdatedAt, Expr::value(now))
        .filter(same_assignment(conv))
        .exec(db)
        .await?;
    if r.rows_affected != 1 {
        return Ok(false);
    }
    drop_pending_posts(db, conv.id).await?;
    stints::start(db, conv, entity::StintStart::HandOff, now).await?;
    db.emit(NewEvent::conversation(EventKind::QueueChanged, conv, None, now).because(EventReason::HandedOff));
    db.distribute(conv.account_id);
    Ok(true)
}

/// Hands off every PENDING conversation of these channels at once (their chatbot stopped serving them).
/// Returns how many.
pub(crate) async fn hand_off_channels(
    db: &Uow,
    account_id: Uuid,
    channel_ids: &[Uuid],
    reason: HandOffReason,
) -> Result<usize> {
    if channel_ids.is_empty() {
        return Ok(0);
    }
    lock_account(db, account_id).await?;
    let now = db_now(db).await?;
    let pending = conversation::Entity::find()
        .filter(conversation::Column::ChannelId.is_in(channel_ids.iter().copied()))
        .filter(conversation::Column::Status.eq(ConversationStatus::Pending))
        .all(db)
        .await?;
    let mut n = 0;
    for conv in &pending {
        if hand_off(db, conv, reason, now).await? {
            n += 1;
        }
    }
    Ok(n)
}

/// A channel is deleted: its queued, ringing and chatbot-served conversations are resolved (CHANNEL_DELETED);
/// the ones agents are working stay with them until resolved.
pub(crate) async fn on_channel_deleted(db: &Uow, ch: &channel::Model) -> Result<()> {
    lock_account(db, ch.account_id).await?;
    let now = db_now(db).await?;
    let waiting = conversation::Entity::find()
        .filter(conversation::Column::ChannelId.eq(ch.id))
        .filter(
            Condition::any()
                .add(conversation::Column::Status.eq(ConversationStatus::Pending))
                .add(conversation::Column::Substatus.is_in([Sub::InQueue, Sub::Alerting])),
        )
        .all(db)
        .await?;
    for conv in &waiting {
        finish(db, conv, Resolution::ChannelDeleted, None, false, now).await?;
    }
    Ok(())
}

/// An agent leaves a channel's list: their ringing offers of that channel go back to the queue.
pub(crate) async fn on_agent_removed(db: &Uow, ch: &channel::Model, user_id: Uuid) -> Result<()> {
    lock_account(db, ch.account_id).await?;
    let now = db_now(db).await?;
    let filter = Condition::all()
        .add(conversation::Column::ChannelId.eq(ch.id))
        .add(conversation::Column::AssignedUserId.eq(user_id));
    withdraw_alerting(db, filter, EventReason::RemovedFromChannel, now).await?;
    Ok(())
}

/// The conversation left its chatbot (it is no longer PENDING): its messages not posted yet never will be.
pub(crate) async fn drop_pending_posts<C: ConnectionTrait>(db: &C, conversation_id: Uuid) -> Result<()> {
    use entity::{BotPostStatus, chatbot_post};
    chatbot_post::Entity::update_many()
        .col_expr(chatbot_post::Column::Status, Expr::value(BotPostStatus::Dropped))
        .filter(chatbot_post::Column::ConversationId.eq(conversation_id))
        .filter(chatbot_post::Column::Status.eq(BotPostStatus::Pending))
        .exec(db)
        .await?;
    Ok(())
}

/// A client writes during after-call work: the conversation is INTERACTING again with the same agent, and the
/// wrap-up deadline is cancelled (its timer finds nothing to do).
pub(crate) async fn on_client_message(db: &Uow, conv: &conversation::Model) -> Result<()> {
    if conv.substatus != Some(Sub::AfterCallWork) {
        return Ok(());
    }
    let now = Utc::now();
    let r = conversation::Entity::update_many()
        .col_expr(conversation::Column::Substatus, Expr::value(Some(Sub::Interacting)))
        .col_expr(conversation::Column::WrapUpDeadline, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(conversation::Column::UpdatedAt, Expr::value(now))
        .filter(same_assignment(conv))
        .exec(db)
        .await?;
    if r.rows_affected == 1 {
        mark_after_call_work(db, conv.offer_id, None).await?;
        db.emit(
            NewEvent::conversation(EventKind::ConversationUpdated, conv, conv.assigned_user_id, now)
                .because(EventReason::ClientWrote),
        );
    }
    Ok(())
}

/// When the current assignment went to after-call work (`None`: it left it, the client wrote).
async fn mark_after_call_work<C: ConnectionTrait>(
    db: &C,
    offer_id: Option<Uuid>,
    at: Option<DateTime<Utc>>,
) -> Result<()> {
    let Some(id) = offer_id else { return Ok(()) };
    entity::conversation_offer::Entity::update_many()
        .col_expr(entity::conversation_offer::Column::AfterCallWorkAt, Expr::value(at))
        .filter(entity::conversation_offer::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}
