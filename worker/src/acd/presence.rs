//! Presence: an agent's desktop is connected while it holds at least one live (subscription) connection on
//! any `api` process. Each connection is a `desktop_connections` row; the process that holds it refreshes
//! `seen_at` every few seconds, and marks it closed when it ends. When an agent's rows have all ended (closed,
//! or their process stopped beating) for longer than the grace period, the presence sweep (every worker
//! process, every second) makes the agent OFFLINE and requeues their ringing offers, as signing out does.
//! A desktop that connects while its agent is OFFLINE makes them BUSY / SYSTEM, as signing in does; a status
//! the agent chose is never changed by a connection.
//!
//! Presence applies only once a desktop has connected: an agent who never opens a subscription has no rows,
//! and is governed by their tokens alone.

use crate::acd::Acd;
use crate::acd::status::has_agent_state;
use crate::clock::db_now;
use crate::{Result, actor::Actor};
use chrono::{DateTime, Utc};
use entity::{AgentStatus, agent_state, desktop_connection, user};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set};
use uuid::Uuid;

impl Acd {
    /// A desktop connected (after its token was accepted). Returns the connection's id for
    /// [`Acd::desktop_closed`]; `None` for roles without an agent status.
    pub async fn desktop_connected(&self, actor: &Actor) -> Result<Option<Uuid>> {
        if !has_agent_state(actor.role) {
            return Ok(None);
        }
        let id = Uuid::now_v7();
        let now = db_now(&self.db).await?;
        desktop_connection::Entity::insert(desktop_connection::ActiveModel {
            id: Set(id),
            user_id: Set(actor.user_id),
            account_id: Set(actor.account_id),
            connected_at: Set(now),
            seen_at: Set(now),
            closed_at: Set(None),
        })
        .exec_without_returning(&self.db)
        .await?;
        // Only an OFFLINE agent (presence lost, or never signed in) changes: BUSY / SYSTEM, as after a login,
        // under the account's ACD lock. Everyone else connects without touching it.
        // On PostgreSQL the read waits for a presence sweep that is making this agent OFFLINE right now (it
        // holds the row), so this connection sees OFFLINE and signs the agent in again.
        let mut q = agent_state::Entity::find_by_id(actor.user_id);
        if self.db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            q = q.lock_shared();
        }
        let state = q.one(&self.db).await?;
        if state.is_none_or(|s| s.status == AgentStatus::Offline) {
            let (txn, _) = self.begin_acd(actor.account_id).await?;
            if let Some(u) = user::Entity::find_by_id(actor.user_id).one(&txn).await? {
                super::agents::on_sign_in(&txn, &u).await?;
            }
            self.commit(txn).await?;
        }
        if let Ok(mut open) = self.live.presence.open.lock() {
            open.insert(id);
        }
        self.live.presence.heartbeat.get_or_init(|| {
            tokio::spawn(heartbeat(self.clone()));
        });
        Ok(Some(id))
    }

    /// A desktop connection ended.
    pub async fn desktop_closed(&self, id: Uuid) -> Result<()> {
        if let Ok(mut open) = self.live.presence.open.lock() {
            open.remove(&id);
        }
        let now = db_now(&self.db).await?;
        desktop_connection::Entity::update_many()
            .col_expr(desktop_connection::Column::ClosedAt, Expr::value(Some(now)))
            .filter(desktop_connection::Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Agents whose desktops have all been gone for longer than the grace: OFFLINE, ringing offers requeued.
    /// Returns how many agents went OFFLINE.
    pub async fn sweep_presence(&self) -> Result<usize> {
        let cutoff = db_now(&self.db).await?
            - chrono::Duration::milliseconds(self.live.settings.presence_grace.as_millis() as i64);
        let gone = gone_agents(&self.db, None, cutoff).await?;
        let mut n = 0;
        for (user_id, account_id) in gone {
            let (txn, _) = self.begin_acd(account_id).await?;
            // Still gone now that the account is locked (a desktop may have reconnected meanwhile).
            if gone_agents(&txn, Some(user_id), cutoff).await?.is_empty() {
                continue;
            }
            desktop_connection::Entity::delete_many()
                .filter(desktop_connection::Column::UserId.eq(user_id))
                .filter(Expr::cust("COALESCE(closed_at, seen_at)").lt(cutoff))
                .exec(&txn)
                .await?;
            let went = match user::Entity::find_by_id(user_id).one(&txn).await? {
                Some(u) => self.presence_lost(&txn, &u).await?,
                None => false,
            };
            // A desktop that connected meanwhile (without the lock) wins: nothing changes.
            if desktop_connection::Entity::find()
                .filter(desktop_connection::Column::UserId.eq(user_id))
                .one(&txn)
                .await?
                .is_some()
            {
                continue;
            }
            self.commit(txn).await?;
            if went {
                n += 1;
                tracing::info!(%user_id, "desktop gone past the grace: agent OFFLINE");
            }
        }
        Ok(n)
    }

    async fn presence_lost(&self, txn: &crate::live::Uow, u: &user::Model) -> Result<bool> {
        let state = agent_state::Entity::find_by_id(u.id).one(txn).await?;
        if state.is_none_or(|s| s.status == AgentStatus::Offline) {
            return Ok(false);
        }
        super::agents::on_sign_out(txn, u).await
    }
}

/// Agents (optionally one) whose connections all ended before `cutoff`.
async fn gone_agents<C: ConnectionTrait>(
    db: &C,
    user_id: Option<Uuid>,
    cutoff: DateTime<Utc>,
) -> Result<Vec<(Uuid, Uuid)>> {
    let ended = Expr::cust("MAX(COALESCE(closed_at, seen_at))");
    let mut q = desktop_connection::Entity::find()
        .select_only()
        .column(desktop_connection::Column::UserId)
        .column(desktop_connection::Column::AccountId)
        .group_by(desktop_connection::Column::UserId)
        .group_by(desktop_connection::Column::AccountId)
        .having(ended.lt(cutoff));
    if let Some(u) = user_id {
        q = q.filter(desktop_connection::Column::UserId.eq(u));
    }
    Ok(q.into_tuple().all(db).await?)
}

/// Refreshes this process's open connections until the process ends.
async fn heartbeat(engine: Acd) {
    let mut tick = tokio::time::interval(crate::live::heartbeat_interval(engine.live.settings.presence_grace));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let ids: Vec<Uuid> = match engine.live.presence.open.lock() {
            Ok(open) => open.iter().copied().collect(),
            Err(_) => continue,
        };
        if ids.is_empty() {
            continue;
        }
        let beat = async {
            let now = db_now(&engine.db).await?;
            desktop_connection::Entity::update_many()
                .col_expr(desktop_connection::Column::SeenAt, Expr::value(now))
                .filter(desktop_connection::Column::Id.is_in(ids))
                .filter(desktop_connection::Column::ClosedAt.is_null())
                .exec(&engine.db)
                .await?;
            Ok::<_, crate::Error>(())
        };
        if let Err(e) = beat.await {
            tracing::warn!(error = ?e, "desktop heartbeat failed; next beat retries");
        }
    }
}
