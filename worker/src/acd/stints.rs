//! Queue stints: one row per wait of a conversation in its channel's queue, written in the unit of work of the
//! change that starts or ends it. A stint starts when a conversation enters the queue (a new conversation without
//! a chatbot, a hand-off, a supervisor's requeue of an answered conversation); a requeue of a ringing offer
//! (reject, timeout, withdrawal) keeps its place and is the same stint, counted on it. It ends when the
//! conversation is answered (accepted, or assigned with auto answer), abandoned (resolved or its channel deleted
//! while it waits) or given to someone by hand. Every queue figure is computed from these rows and
//! `conversation_offers`; nothing else counts.

use crate::Result;
use chrono::{DateTime, Utc};
use entity::{AbandonReason, StintOutcome, StintStart, channel, conversation, queue_stint};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

/// Seconds per slot: every time zone's offset is a whole number of 15 minutes.
pub const SLOT_SECONDS: i64 = 900;

/// The 15-minute slot a moment falls in (unix seconds / 900).
pub fn slot(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(SLOT_SECONDS)
}

/// Milliseconds from `from` to `to` (never negative).
pub fn millis(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    Ord::max((to - from).num_milliseconds(), 0)
}

/// A conversation enters its channel's queue: a new stint (and, when the channel sends queue messages, the
/// timer of the first one).
pub(crate) async fn start<C: ConnectionTrait>(
    db: &C,
    conv: &conversation::Model,
    reason: StintStart,
    now: DateTime<Utc>,
) -> Result<()> {
    let id = Uuid::now_v7();
    queue_stint::Entity::insert(queue_stint::ActiveModel {
        id: Set(id),
        account_id: Set(conv.account_id),
        channel_id: Set(conv.channel_id),
        conversation_id: Set(conv.id),
        started_at: Set(now),
        start_reason: Set(reason),
        ended_at: Set(None),
        ended_slot: Set(None),
        outcome: Set(None),
        abandon_reason: Set(None),
        answered_by: Set(None),
        wait_ms: Set(None),
        offers: Set(0),
        rejects: Set(0),
        timeouts: Set(0),
        estimate_seconds: Set(None),
        estimate_basis: Set(None),
        updates_sent: Set(0),
        last_update_at: Set(None),
        last_update_position: Set(None),
        updates_stopped: Set(false),
    })
    .exec_without_returning(db)
    .await?;
    if let Some(ch) = channel::Entity::find_by_id(conv.channel_id).one(db).await? {
        super::queue_updates::on_stint_started(db, &ch, id, conv.id, now).await?;
    }
    Ok(())
}

/// The conversation's open stint, if it waits.
pub async fn open_stint<C: ConnectionTrait>(db: &C, conversation_id: Uuid) -> Result<Option<queue_stint::Model>> {
    Ok(queue_stint::Entity::find()
        .filter(queue_stint::Column::ConversationId.eq(conversation_id))
        .filter(queue_stint::Column::EndedAt.is_null())
        .one(db)
        .await?)
}

/// How a wait ended.
#[derive(Debug, Clone, Copy)]
pub(crate) enum End {
    Answered(Uuid),
    Transferred(Uuid),
    Abandoned(AbandonReason),
}

/// Ends the conversation's open stint (none: nothing to do, e.g. a conversation that waited before stints were
/// recorded).
pub(crate) async fn end<C: ConnectionTrait>(db: &C, conversation_id: Uuid, how: End, now: DateTime<Utc>) -> Result<()> {
    let Some(s) = open_stint(db, conversation_id).await? else { return Ok(()) };
    let (outcome, by, reason) = match how {
        End::Answered(u) => (StintOutcome::Answered, Some(u), None),
        End::Transferred(u) => (StintOutcome::Transferred, Some(u), None),
        End::Abandoned(r) => (StintOutcome::Abandoned, None, Some(r)),
    };
    queue_stint::Entity::update_many()
        .col_expr(queue_stint::Column::EndedAt, Expr::value(Some(now)))
        .col_expr(queue_stint::Column::EndedSlot, Expr::value(Some(slot(now))))
        .col_expr(queue_stint::Column::Outcome, Expr::value(Some(outcome)))
        .col_expr(queue_stint::Column::AbandonReason, Expr::value(reason))
        .col_expr(queue_stint::Column::AnsweredBy, Expr::value(by))
        .col_expr(queue_stint::Column::WaitMs, Expr::value(Some(millis(s.started_at, now))))
        .filter(queue_stint::Column::Id.eq(s.id))
        .filter(queue_stint::Column::EndedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// What happened to an offer during a stint.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Tally {
    Offer,
    Reject,
    Timeout,
}

/// Counts an offer, a reject or a timeout on the conversation's open stint.
pub(crate) async fn tally<C: ConnectionTrait>(db: &C, conversation_id: Uuid, what: Tally) -> Result<()> {
    let column = match what {
        Tally::Offer => queue_stint::Column::Offers,
        Tally::Reject => queue_stint::Column::Rejects,
        Tally::Timeout => queue_stint::Column::Timeouts,
    };
    queue_stint::Entity::update_many()
        .col_expr(column, Expr::col(column).add(1))
        .filter(queue_stint::Column::ConversationId.eq(conversation_id))
        .filter(queue_stint::Column::EndedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}
