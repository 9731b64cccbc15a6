//! The unit of work: a write transaction that collects the live events of the change it makes and appends
//! them, with their cursors, as it commits.

use super::Bus;
use crate::Result;
use anyhow::Context;
use chrono::{DateTime, Utc};
use entity::{EventKind, EventReason, conversation, live_event};
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseTransaction, DbBackend, DbErr, EntityTrait, ExecResult, IntoActiveModel,
    QueryResult, Statement,
};
use std::collections::BTreeMap;
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
        let holder = conv.substatus.filter(|s| crate::acd::HELD.contains(s)).and(conv.assigned_user_id);
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
    txn: DatabaseTransaction,
    events: Mutex<Vec<NewEvent>>,
    bus: Arc<Bus>,
}

impl Uow {
    pub(crate) fn new(txn: DatabaseTransaction, bus: Arc<Bus>) -> Self {
        Self { txn, events: Mutex::default(), bus }
    }

    /// Records an event of this unit of work.
    pub fn emit(&self, event: NewEvent) {
        if let Ok(mut e) = self.events.lock() {
            e.push(event);
        }
    }

    /// Appends the events (cursors allocated last, per account in a fixed order), commits, and tells the bus.
    pub async fn commit(self) -> Result<()> {
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
                .exec_without_returning(&self.txn)
                .await
                .context("appending events")?;
            heads.push((account, last));
        }
        self.txn.commit().await?;
        for (account, last) in heads {
            self.bus.committed(account, last);
        }
        Ok(())
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
