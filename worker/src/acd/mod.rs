//! The ACD: agent status, automatic distribution, offers with their alerting timeout, the conversation's life
//! after it is accepted (hold, resolve, wrap-up with its timeout), and what supervisors do by hand.
//!
//! Every transition is one transaction (the unit of work): the rows, the timer job it schedules and, when it
//! ends an assignment, the history row. Transitions that change who holds what take the account's ACD lock
//! first ([`lock_account`]: a PostgreSQL advisory lock for the transaction; SQLite serialises writers anyway),
//! so distribution reads loads no other transaction is changing: utilization spans channels, and the lock is
//! what keeps several `api` and `work` processes from over-assigning an agent. Rows are still changed with
//! conditional updates whose row counts are checked, so a transition that lost a race says so instead of
//! writing over the winner.

pub mod agents;
pub mod distribute;
pub mod lifecycle;
pub mod offers;
pub mod policy;
pub mod presence;
pub mod queue_updates;
pub mod stats;
pub mod status;
pub mod stints;
pub mod timers;

use crate::Result;
use crate::clock::db_now;
use crate::live::{NewEvent, Uow};
use crate::store::Store;
use anyhow::Context;
use chrono::{DateTime, Utc};
use entity::{
    ConversationStatus, ConversationSubstatus, EventKind, EventReason, OfferOrigin, OfferOutcome, conversation,
    conversation_offer,
};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter, Set, Statement};
use uuid::Uuid;

/// Which accounts this process is distributing, and whether another run was asked for meanwhile.
#[derive(Default)]
pub struct Distributions(std::sync::Mutex<std::collections::HashMap<Uuid, bool>>);

impl Distributions {
    /// True when the caller should run distribution; false when a run in progress will run once more for it.
    fn request(&self, account: Uuid) -> bool {
        let Ok(mut m) = self.0.lock() else { return true };
        match m.get_mut(&account) {
            Some(again) => {
                *again = true;
                false
            }
            None => {
                m.insert(account, false);
                true
            }
        }
    }

    /// After a run: true when another was asked for meanwhile (and is now the caller's to run).
    fn again(&self, account: Uuid) -> bool {
        let Ok(mut m) = self.0.lock() else { return false };
        match m.get_mut(&account) {
            Some(again) if *again => {
                *again = false;
                true
            }
            _ => {
                m.remove(&account);
                false
            }
        }
    }
}

/// Serialises the account's ACD transitions until the transaction ends (PostgreSQL: a transaction-level
/// advisory lock keyed by the account; SQLite: write transactions already run one at a time).
pub async fn lock_account<C: ConnectionTrait>(db: &C, account_id: Uuid) -> Result<()> {
    if db.get_database_backend() == DatabaseBackend::Postgres {
        let (hi, _) = account_id.as_u64_pair();
        db.execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT pg_advisory_xact_lock($1)",
            [(hi as i64).into()],
        ))
        .await
        .context("taking the account's ACD lock")?;
    }
    Ok(())
}

/// Records a new assignment in the history and returns its id.
pub(crate) async fn record_offer<C: ConnectionTrait>(
    db: &C,
    conv: &conversation::Model,
    user_id: Uuid,
    origin: OfferOrigin,
    now: DateTime<Utc>,
    deadline: Option<DateTime<Utc>>,
    accepted: bool,
) -> Result<Uuid> {
    let id = Uuid::now_v7();
    conversation_offer::Entity::insert(conversation_offer::ActiveModel {
        id: Set(id),
        account_id: Set(conv.account_id),
        conversation_id: Set(conv.id),
        user_id: Set(user_id),
        origin: Set(origin),
        offered_at: Set(now),
        deadline: Set(deadline),
        outcome: Set(accepted.then_some(OfferOutcome::Accepted)),
        ended_at: Set(None),
        excludes: Set(false),
        channel_id: Set(Some(conv.channel_id)),
        accepted_at: Set(accepted.then_some(now)),
        after_call_work_at: Set(None),
        handle_ms: Set(None),
        after_call_work_ms: Set(None),
        ended_slot: Set(None),
    })
    .exec_without_returning(db)
    .await?;
    Ok(id)
}

/// Ends the conversation's current assignment in the history. A REJECTED or EXPIRED offer excludes its agent
/// from the conversation until it is next accepted.
pub(crate) async fn end_offer<C: ConnectionTrait>(
    db: &C,
    offer_id: Option<Uuid>,
    outcome: OfferOutcome,
    now: DateTime<Utc>,
) -> Result<()> {
    let Some(id) = offer_id else { return Ok(()) };
    let Some(offer) = conversation_offer::Entity::find_by_id(id).one(db).await? else { return Ok(()) };
    let excludes = matches!(outcome, OfferOutcome::Rejected | OfferOutcome::Expired);
    let handle = offer.accepted_at.map(|at| stints::millis(at, now));
    let wrap_up = offer.after_call_work_at.map(|at| stints::millis(at, now));
    conversation_offer::Entity::update_many()
        .col_expr(conversation_offer::Column::Outcome, Expr::value(Some(outcome)))
        .col_expr(conversation_offer::Column::EndedAt, Expr::value(Some(now)))
        .col_expr(conversation_offer::Column::EndedSlot, Expr::value(Some(stints::slot(now))))
        .col_expr(conversation_offer::Column::HandleMs, Expr::value(handle))
        .col_expr(conversation_offer::Column::AfterCallWorkMs, Expr::value(wrap_up))
        .col_expr(conversation_offer::Column::Excludes, Expr::value(excludes))
        .filter(conversation_offer::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Puts a held conversation back in its channel's queue at its original position (its `enqueued_at`, or now
/// for one that never queued), ending its assignment with `outcome`. Conditional on the assignment still being
/// the one the caller saw; returns false (nothing changed) when it is not. Its agent's stream gets WITHDRAWN
/// and the channel streams QUEUE_CHANGED, both with `reason`; the unit of work distributes it.
pub(crate) async fn requeue(
    db: &Uow,
    conv: &conversation::Model,
    outcome: OfferOutcome,
    reason: EventReason,
    now: DateTime<Utc>,
) -> Result<bool> {
    let r = conversation::Entity::update_many()
        .col_expr(conversation::Column::Status, Expr::value(ConversationStatus::Open))
        .col_expr(conversation::Column::Substatus, Expr::value(Some(ConversationSubstatus::InQueue)))
        .col_expr(conversation::Column::AssignedUserId, Expr::value(Option::<Uuid>::None))
        .col_expr(conversation::Column::OfferId, Expr::value(Option::<Uuid>::None))
        .col_expr(conversation::Column::OfferDeadline, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(conversation::Column::WrapUpDeadline, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(conversation::Column::AssignmentCost, Expr::value(Option::<i32>::None))
        .col_expr(conversation::Column::EnqueuedAt, Expr::value(Some(conv.enqueued_at.unwrap_or(now))))
        .col_expr(conversation::Column::UpdatedAt, Expr::value(now))
        .filter(same_assignment(conv))
        .exec(db)
        .await?;
    if r.rows_affected != 1 {
        return Ok(false);
    }
    end_offer(db, conv.offer_id, outcome, now).await?;
    if conv.substatus == Some(ConversationSubstatus::Alerting) {
        // A ringing offer goes back: the same wait goes on, with the reject or timeout counted on it.
        match outcome {
            OfferOutcome::Rejected => stints::tally(db, conv.id, stints::Tally::Reject).await?,
            OfferOutcome::Expired => stints::tally(db, conv.id, stints::Tally::Timeout).await?,
            _ => {}
        }
    } else {
        // An answered conversation waits again: a new stint (its place in the queue is kept).
        stints::start(db, conv, entity::StintStart::Requeue, now).await?;
    }
    db.distribute(conv.account_id);
    if let Some(agent) = conv.assigned_user_id {
        db.emit(NewEvent::conversation(EventKind::Withdrawn, conv, Some(agent), now).because(reason).agent_only());
    }
    db.emit(NewEvent::conversation(EventKind::QueueChanged, conv, None, now).because(reason));
    Ok(true)
}

/// The condition "the conversation is still as `conv` shows it": same substatus and same assignment.
pub(crate) fn same_assignment(conv: &conversation::Model) -> sea_orm::Condition {
    let mut c = sea_orm::Condition::all()
        .add(conversation::Column::Id.eq(conv.id))
        .add(conversation::Column::Status.eq(conv.status));
    c = match conv.substatus {
        Some(s) => c.add(conversation::Column::Substatus.eq(s)),
        None => c.add(conversation::Column::Substatus.is_null()),
    };
    match conv.offer_id {
        Some(o) => c.add(conversation::Column::OfferId.eq(o)),
        None => c.add(conversation::Column::OfferId.is_null()),
    }
}

/// The ACD layer's handle: storage, and the distribution runs of this process.
#[derive(Clone)]
pub struct Acd {
    pub(crate) below: Store,
    /// Distribution runs in progress in this process, per account (requests coalesce).
    pub distributions: std::sync::Arc<Distributions>,
    /// Today's figures of the account's finished 15-minute slots, read once (see [`stats::DayCache`]).
    pub(crate) days: std::sync::Arc<stats::DayCache>,
}

impl std::ops::Deref for Acd {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.below
    }
}

impl Acd {
    pub(crate) fn new(below: Store) -> Self {
        Self { below, distributions: Default::default(), days: Default::default() }
    }

    /// The one commit of every change at or above the ACD: commits the unit of work (events, wake-ups) and then
    /// runs the distribution it asked for, so a request's own change is distributed when it answers.
    pub async fn commit(&self, uow: Uow) -> Result<()> {
        let committed = uow.commit().await?;
        for account_id in committed.distribute {
            self.redistribute(account_id).await;
        }
        Ok(())
    }

    /// Begins an ACD transition: a write transaction holding the account's ACD lock, and the database's time.
    pub(crate) async fn begin_acd(&self, account_id: Uuid) -> Result<(Uow, DateTime<Utc>)> {
        let txn = self.begin_uow().await?;
        lock_account(&txn, account_id).await?;
        let now = db_now(&txn).await?;
        Ok((txn, now))
    }

    /// Asks for distribution of the account after a change committed. Requests coalesce per account and
    /// process: while a distribution of the account runs here, further requests only mark it to run once more
    /// when it finishes (that run starts after their commits, so it sees them), instead of queueing one
    /// transaction each on the account's lock. The run is a task of its own, so a caller that goes away (a
    /// dropped HTTP request) cannot leave the account marked as running. A failure is logged: the change itself
    /// stands, and the sweeper's next pass distributes what this one could not.
    pub(crate) async fn redistribute(&self, account_id: Uuid) {
        if !self.distributions.request(account_id) {
            return;
        }
        let engine = self.clone();
        let run = tokio::spawn(async move {
            loop {
                if let Err(e) = engine.run_distribution(account_id).await {
                    tracing::error!(%account_id, error = ?e, "distribution failed; the sweeper retries it");
                }
                if !engine.distributions.again(account_id) {
                    break;
                }
            }
        });
        // The caller waits for the first run (so a request's own change is distributed when it answers), but
        // dropping this future does not stop the task.
        let _ = run.await;
    }
}
