//! The unit of work: a write transaction that collects what must happen with its change (the live events it
//! appends, with their cursors, as it commits; the queues to wake and the accounts to distribute once it has
//! committed) so that no call site does them by hand. [`Uow::commit`] appends, commits and wakes; distribution
//! belongs to the ACD layer above, so the commit hands those requests back ([`Committed`]) and the ACD's
//! `Acd::commit` runs them: the one commit function of every change at or above the ACD.

use super::Bus;
use crate::Result;
use crate::jobs::wake::Wakeups;
use anyhow::Context;
use chrono::{DateTime, Utc};
use entity::{ConversationSubstatus, EventKind, EventReason, conversation, live_event};
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseTransaction, DbBackend, DbErr, EntityTrait, ExecResult, IntoActiveModel,
    QueryResult, Statement,
};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// An event to append: the row as it will be stored, its cursor (`seq`) allocated at commit.
#[derive(Debug, Clone)]
pub struct NewEvent(live_event::Model);

impl NewEvent {
    fn blank(account_id: Uuid, kind: EventKind, at: DateTime<Utc>) -> Self {
        Self(live_event::Model {
            account_id,
            seq: 0,
            kind,
            reason: None,
            user_id: None,
            channel_id: None,
            staff: false,
            conversation_id: None,
            message_id: None,
            agent_id: None,
            phone_number_id: None,
            deadline: None,
            at,
        })
    }

    /// An event about a conversation, for `to` (an agent's stream) and the channel streams.
    pub fn conversation(kind: EventKind, conv: &conversation::Model, to: Option<Uuid>, at: DateTime<Utc>) -> Self {
        let mut e = Self::blank(conv.account_id, kind, at);
        e.0.user_id = to;
        e.0.channel_id = Some(conv.channel_id);
        e.0.staff = true;
        e.0.conversation_id = Some(conv.id);
        e.0.agent_id = to;
        e
    }

    /// An agent's status changed: their own stream and the channel streams.
    pub fn agent_status(account_id: Uuid, agent: Uuid, at: DateTime<Utc>) -> Self {
        let mut e = Self::blank(account_id, EventKind::AgentStatusChanged, at);
        e.0.user_id = Some(agent);
        e.0.staff = true;
        e.0.agent_id = Some(agent);
        e
    }

    /// A message of a conversation was created or changed delivery status: its agent (if someone holds it) and
    /// the channel streams.
    pub fn message(kind: EventKind, conv: &conversation::Model, message_id: Uuid, at: DateTime<Utc>) -> Self {
        let holder = conv.substatus.filter(|s| ConversationSubstatus::HELD.contains(s)).and(conv.assigned_user_id);
        let mut e = Self::conversation(kind, conv, holder, at);
        e.0.message_id = Some(message_id);
        e.0.agent_id = None;
        e
    }

    /// A number's verification finished: the channel streams only.
    pub fn number_verified(account_id: Uuid, channel_id: Uuid, number_id: Uuid, at: DateTime<Utc>) -> Self {
        let mut e = Self::blank(account_id, EventKind::NumberVerified, at);
        e.0.channel_id = Some(channel_id);
        e.0.staff = true;
        e.0.phone_number_id = Some(number_id);
        e
    }

    pub fn because(self, reason: EventReason) -> Self {
        self.maybe_because(Some(reason))
    }

    pub fn maybe_because(mut self, reason: Option<EventReason>) -> Self {
        self.0.reason = reason;
        self
    }

    /// For the agent's stream only (the channel streams get the change as another event).
    pub fn agent_only(mut self) -> Self {
        self.0.staff = false;
        self
    }

    pub fn with_deadline(mut self, deadline: Option<DateTime<Utc>>) -> Self {
        self.0.deadline = deadline;
        self
    }
}

/// A write transaction with the events of its change. It is a [`ConnectionTrait`], so every query helper takes
/// it as it took the transaction; [`Uow::commit`] appends the events and commits. Dropped without a commit, it
/// rolls back with its events.
pub struct Uow {
    txn: crate::db::WriteTxn,
    events: Mutex<Vec<NewEvent>>,
    effects: Mutex<Effects>,
    bus: Arc<Bus>,
    wakeups: Arc<Wakeups>,
}

/// What a unit of work asks for once it has committed.
#[derive(Default)]
struct Effects {
    wake: BTreeSet<&'static str>,
    distribute: BTreeSet<Uuid>,
}

/// A committed unit of work's requests for the ACD layer: the accounts whose queues its change may let
/// distribution move. `Acd::commit` runs them; code below the ACD never asks for any.
#[must_use = "distribution requests are run by `Acd::commit`"]
pub struct Committed {
    pub distribute: Vec<Uuid>,
}

impl Uow {
    pub(crate) fn new(txn: crate::db::WriteTxn, bus: Arc<Bus>, wakeups: Arc<Wakeups>) -> Self {
        Self { txn, events: Mutex::default(), effects: Mutex::default(), bus, wakeups }
    }

    /// Records an event of this unit of work.
    pub fn emit(&self, event: NewEvent) {
        if let Ok(mut e) = self.events.lock() {
            e.push(event);
        }
    }

    /// Wakes `queue`'s workers once this unit of work commits (it queued a job due now).
    pub fn wake(&self, queue: &'static str) {
        if let Ok(mut fx) = self.effects.lock() {
            fx.wake.insert(queue);
        }
    }

    /// Asks for distribution of the account once this unit of work commits (its change may let a waiting
    /// conversation reach an agent).
    pub fn distribute(&self, account_id: Uuid) {
        if let Ok(mut fx) = self.effects.lock() {
            fx.distribute.insert(account_id);
        }
    }

    /// Appends the events (cursors allocated last, per account in a fixed order), commits, tells the bus and
    /// wakes the queues asked for. Returns the distribution requests for the ACD layer.
    pub(crate) async fn commit(self) -> Result<Committed> {
        let effects = self.effects.into_inner().unwrap_or_default();
        let events = self.events.into_inner().unwrap_or_default();
        let mut by_account: BTreeMap<Uuid, Vec<NewEvent>> = BTreeMap::new();
        for e in events {
            by_account.entry(e.0.account_id).or_default().push(e);
        }
        let mut heads = Vec::with_capacity(by_account.len());
        for (account, evs) in by_account {
            let last = allocate(&self.txn, account, evs.len() as i64).await.context("allocating event cursors")?;
            let first = last - evs.len() as i64 + 1;
            let rows = evs.into_iter().enumerate().map(|(i, NewEvent(mut e))| {
                e.seq = first + i as i64;
                e.into_active_model()
            });
            live_event::Entity::insert_many(rows)
                .exec_without_returning(&*self.txn)
                .await
                .context("appending events")?;
            heads.push((account, last));
        }
        self.txn.commit().await?;
        for (account, last) in heads {
            self.bus.committed(account, last);
        }
        for queue in effects.wake {
            self.wakeups.wake(queue);
        }
        Ok(Committed { distribute: effects.distribute.into_iter().collect() })
    }
}

/// Takes `n` cursors of the account's counter and returns the last (the row stays locked until the commit).
async fn allocate(txn: &DatabaseTransaction, account: Uuid, n: i64) -> Result<i64> {
    let sql = match txn.get_database_backend() {
        DatabaseBackend::Postgres => {
            "INSERT INTO event_counters (account_id, last_seq, pruned_through) VALUES ($1, $2, 0) \
             ON CONFLICT (account_id) DO UPDATE SET last_seq = event_counters.last_seq + EXCLUDED.last_seq \
             RETURNING last_seq"
        }
        _ => {
            "INSERT INTO event_counters (account_id, last_seq, pruned_through) VALUES (?, ?, 0) \
             ON CONFLICT (account_id) DO UPDATE SET last_seq = event_counters.last_seq + excluded.last_seq \
             RETURNING last_seq"
        }
    };
    let stmt = Statement::from_sql_and_values(txn.get_database_backend(), sql, [account.into(), n.into()]);
    let row = txn.query_one_raw(stmt).await?.ok_or_else(|| anyhow::anyhow!("the event counter returned no row"))?;
    Ok(row.try_get::<i64>("", "last_seq")?)
}

#[sea_orm::prelude::async_trait::async_trait]
impl ConnectionTrait for Uow {
    fn get_database_backend(&self) -> DbBackend {
        self.txn.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.txn.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.txn.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.txn.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.txn.query_all_raw(stmt).await
    }

    fn support_returning(&self) -> bool {
        self.txn.support_returning()
    }
}
