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

pub mod distribute;
pub mod lifecycle;
pub mod offers;
pub mod policy;
pub mod status;
pub mod timers;

use crate::{Engine, Result};
use anyhow::Context;
use chrono::{DateTime, Utc};
use entity::{ConversationStatus, ConversationSubstatus, OfferOrigin, OfferOutcome, conversation, conversation_offer};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter, Set, Statement};
use uuid::Uuid;

/// Substatuses in which a conversation is held by its agent and counts toward their utilization and limits.
pub const HELD: [ConversationSubstatus; 4] = [
    ConversationSubstatus::Alerting,
    ConversationSubstatus::Interacting,
    ConversationSubstatus::Hold,
    ConversationSubstatus::AfterCallWork,
];

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

/// The database's clock, on which every deadline is computed and compared, so several hosts agree (PostgreSQL:
/// `clock_timestamp()`, the time of the call, not of the transaction's start). SQLite is embedded: its clock is
/// this host's.
pub async fn db_now<C: ConnectionTrait>(db: &C) -> Result<DateTime<Utc>> {
    if db.get_database_backend() == DatabaseBackend::Postgres {
        let row = db
            .query_one_raw(Statement::from_string(DatabaseBackend::Postgres, "SELECT clock_timestamp() AS now"))
            .await?
            .ok_or_else(|| anyhow::anyhow!("clock_timestamp() returned no row"))?;
        return Ok(row.try_get::<DateTime<Utc>>("", "now")?);
    }
    Ok(Utc::now())
}

pub(crate) fn seconds(s: i32) -> chrono::Duration {
    chrono::Duration::seconds(i64::from(s.max(0)))
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
    let excludes = matches!(outcome, OfferOutcome::Rejected | OfferOutcome::Expired);
    conversation_offer::Entity::update_many()
        .col_expr(conversation_offer::Column::Outcome, Expr::value(Some(outcome)))
        .col_expr(conversation_offer::Column::EndedAt, Expr::value(Some(now)))
        .col_expr(conversation_offer::Column::Excludes, Expr::value(excludes))
        .filter(conversation_offer::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Puts a held conversation back in its channel's queue at its original position (its `enqueued_at`, or now
/// for one that never queued), ending its assignment with `outcome`. Conditional on the assignment still being
/// the one the caller saw; returns false (nothing changed) when it is not.
pub(crate) async fn requeue<C: ConnectionTrait>(
    db: &C,
    conv: &conversation::Model,
    outcome: OfferOutcome,
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

impl Engine {
    /// Begins an ACD transition: a write transaction holding the account's ACD lock, and the database's time.
    pub(crate) async fn begin_acd(&self, account_id: Uuid) -> Result<(sea_orm::DatabaseTransaction, DateTime<Utc>)> {
        let txn = self.begin_write().await?;
        lock_account(&txn, account_id).await?;
        let now = db_now(&txn).await?;
        Ok((txn, now))
    }

    /// Runs distribution for the account after a change committed; a failure is logged, not returned: the
    /// change itself stands, and the sweeper's next pass distributes what this one could not.
    pub async fn redistribute(&self, account_id: Uuid) {
        if let Err(e) = self.distribute(account_id).await {
            tracing::error!(%account_id, error = ?e, "distribution failed; the sweeper retries it");
        }
    }
}
