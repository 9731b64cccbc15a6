//! Agent status: ONLINE (IDLE or INTERACTING, derived from what they hold), BUSY (SYSTEM on sign-in,
//! NOT_RESPONDING after an offer timed out, or an account-defined busy reason) and OFFLINE (signed out; never
//! chosen by hand). Busy reasons are the account's own list, archived rather than deleted.

use super::offers::withdraw_alerting;
use super::{HELD, db_now, lock_account};
use crate::live::{NewEvent, Uow};
use crate::{Engine, Error, Result, auth::Actor, validate};
use chrono::{DateTime, Utc};
use entity::{
    AgentStatus, BusyKind, ConversationStatus, EventReason, Role, agent_state, busy_reason, conversation, user,
};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use std::collections::HashMap;
use uuid::Uuid;

/// The longest busy reason name.
pub const BUSY_REASON_MAX: usize = 60;

/// An agent's state as people see it.
#[derive(Debug, Clone)]
pub struct AgentView {
    pub user_id: Uuid,
    pub status: AgentStatus,
    pub busy_kind: Option<BusyKind>,
    pub busy_reason: Option<busy_reason::Model>,
    pub since: Option<DateTime<Utc>>,
    /// The sum of the costs of what they hold.
    pub utilization: i32,
    pub conversation_count: i32,
}

/// Whether a role takes part in the ACD.
pub fn has_agent_state(role: Role) -> bool {
    matches!(role, Role::Agent | Role::Supervisor)
}

/// Writes an agent's status (the row is created on first use).
pub(crate) async fn write_status(
    db: &Uow,
    u: &user::Model,
    status: AgentStatus,
    busy: Option<(BusyKind, Option<Uuid>)>,
    now: DateTime<Utc>,
) -> Result<()> {
    let (kind, reason) = busy.map_or((None, None), |(k, r)| (Some(k), r));
    agent_state::Entity::insert(agent_state::ActiveModel {
        user_id: Set(u.id),
        account_id: Set(u.account_id),
        status: Set(status),
        busy_kind: Set(kind),
        busy_reason_id: Set(reason),
        since: Set(now),
        last_assigned_at: Set(None),
    })
    .on_conflict(
        sea_orm::sea_query::OnConflict::column(agent_state::Column::UserId)
            .update_columns([
                agent_state::Column::Status,
                agent_state::Column::BusyKind,
                agent_state::Column::BusyReasonId,
                agent_state::Column::Since,
            ])
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    db.emit(NewEvent::agent_status(u.account_id, u.id, now));
    Ok(())
}

impl Engine {
    /// Agent states of several agents or supervisors at once (those without a row are OFFLINE), with their
    /// load: three queries whatever their number.
    pub async fn agent_views(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, AgentView>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let states: HashMap<Uuid, agent_state::Model> = agent_state::Entity::find()
            .filter(agent_state::Column::UserId.is_in(ids.iter().copied()))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|s| (s.user_id, s))
            .collect();
        let reason_ids: Vec<Uuid> = states.values().filter_map(|s| s.busy_reason_id).collect();
        let reasons = self.rows_by_id::<busy_reason::Entity>(busy_reason::Column::Id, &reason_ids, |r| r.id).await?;
        let held: Vec<(Option<Uuid>, Option<i32>)> = conversation::Entity::find()
            .select_only()
            .column(conversation::Column::AssignedUserId)
            .column(conversation::Column::AssignmentCost)
            .filter(conversation::Column::Status.eq(ConversationStatus::Open))
            .filter(conversation::Column::Substatus.is_in(HELD))
            .filter(conversation::Column::AssignedUserId.is_in(ids.iter().copied()))
            .into_tuple()
            .all(&self.db)
            .await?;
        let mut load: HashMap<Uuid, (i32, i32)> = HashMap::new();
        for (u, cost) in held.into_iter().filter_map(|(u, c)| u.map(|u| (u, c))) {
            let e = load.entry(u).or_insert((0, 0));
            e.0 += cost.unwrap_or(0);
            e.1 += 1;
        }
        Ok(ids
            .iter()
            .map(|id| {
                let s = states.get(id);
                let (utilization, conversation_count) = load.get(id).copied().unwrap_or((0, 0));
                let view = AgentView {
                    user_id: *id,
                    status: s.map_or(AgentStatus::Offline, |s| s.status),
                    busy_kind: s.and_then(|s| s.busy_kind),
                    busy_reason: s.and_then(|s| s.busy_reason_id).and_then(|r| reasons.get(&r).cloned()),
                    since: s.map(|s| s.since),
                    utilization,
                    conversation_count,
                };
                (*id, view)
            })
            .collect())
    }

    /// `setMyStatus`: ONLINE, or BUSY (with one of the account's busy reasons, or SYSTEM without). OFFLINE is
    /// what signing out does, never a choice.
    #[tracing::instrument(skip(self, actor), fields(user_id = %actor.user_id))]
    pub async fn set_my_status(
        &self,
        actor: &Actor,
        status: AgentStatus,
        busy_reason_id: Option<Uuid>,
    ) -> Result<AgentView> {
        if !has_agent_state(actor.role) {
            return Err(Error::Forbidden("only agents and supervisors have a status"));
        }
        let busy = match (status, busy_reason_id) {
            (AgentStatus::Offline, _) => {
                return Err(Error::invalid("status", "NOT_SELECTABLE", "OFFLINE is set by signing out"));
            }
            (AgentStatus::Online, Some(_)) => {
                return Err(Error::invalid("busyReasonId", "NOT_ALLOWED", "a busy reason goes with BUSY only"));
            }
            (AgentStatus::Online, None) => None,
            (AgentStatus::Busy, None) => Some((BusyKind::System, None)),
            (AgentStatus::Busy, Some(r)) => {
                let reason = busy_reason::Entity::find_by_id(r)
                    .filter(busy_reason::Column::AccountId.eq(actor.account_id))
                    .one(&self.db)
                    .await?;
                match reason {
                    Some(r) if r.archived_at.is_none() => Some((BusyKind::Reason, Some(r.id))),
                    Some(_) => return Err(Error::invalid("busyReasonId", "ARCHIVED", "this busy reason is archived")),
                    None => return Err(Error::invalid("busyReasonId", "NOT_FOUND", "no such busy reason")),
                }
            }
        };
        let (txn, now) = self.begin_acd(actor.account_id).await?;
        let u = self.user_in_account(&txn, actor, actor.user_id).await?;
        write_status(&txn, &u, status, busy, now).await?;
        txn.commit().await?;
        tracing::info!(?status, "agent status set");
        if status == AgentStatus::Online {
            self.redistribute(actor.account_id).await;
        }
        self.my_agent_view(actor).await
    }

    pub async fn my_agent_view(&self, actor: &Actor) -> Result<AgentView> {
        if !has_agent_state(actor.role) {
            return Err(Error::Forbidden("only agents and supervisors have a status"));
        }
        self.agent_views(&[actor.user_id])
            .await?
            .remove(&actor.user_id)
            .ok_or(Error::Forbidden("only agents and supervisors have a status"))
    }

    /// Sign-in: an OFFLINE agent becomes BUSY / SYSTEM; one already signed in elsewhere keeps their status.
    pub(crate) async fn on_sign_in(&self, db: &Uow, u: &user::Model) -> Result<()> {
        if !has_agent_state(u.role) {
            return Ok(());
        }
        lock_account(db, u.account_id).await?;
        let current = agent_state::Entity::find_by_id(u.id).one(db).await?;
        if current.is_none_or(|s| s.status == AgentStatus::Offline) {
            write_status(db, u, AgentStatus::Busy, Some((BusyKind::System, None)), db_now(db).await?).await?;
        }
        Ok(())
    }

    /// Sign-out of the last live token (or deactivation): OFFLINE, and ringing offers go back to the queue at
    /// once (no NOT_RESPONDING). `still_signed_in`: the user holds another token that authenticates (the accounts
    /// code decides; a deactivated user goes OFFLINE regardless). Returns whether the agent went OFFLINE.
    pub(crate) async fn on_sign_out(&self, db: &Uow, u: &user::Model, still_signed_in: bool) -> Result<bool> {
        if !has_agent_state(u.role) {
            return Ok(false);
        }
        lock_account(db, u.account_id).await?;
        if still_signed_in && u.active {
            return Ok(false);
        }
        let now = db_now(db).await?;
        write_status(db, u, AgentStatus::Offline, None, now).await?;
        let reason = if u.active { EventReason::Offline } else { EventReason::Deactivated };
        withdraw_alerting(
            db,
            sea_orm::Condition::all().add(conversation::Column::AssignedUserId.eq(u.id)),
            reason,
            now,
        )
        .await?;
        Ok(true)
    }

    pub async fn busy_reasons(&self, actor: &Actor) -> Result<Vec<busy_reason::Model>> {
        Ok(busy_reason::Entity::find()
            .filter(busy_reason::Column::AccountId.eq(actor.account_id))
            .order_by_asc(busy_reason::Column::CreatedAt)
            .order_by_asc(busy_reason::Column::Id)
            .all(&self.db)
            .await?)
    }

    /// A busy reason name: trimmed, 1 to 60 characters, unique (case-insensitively) among the account's reasons.
    async fn check_reason_name(&self, actor: &Actor, raw: &str, except: Option<Uuid>) -> Result<String> {
        let mut errors = Vec::new();
        let name = validate::name("name", raw, BUSY_REASON_MAX, &mut errors);
        if !errors.is_empty() {
            return Err(Error::Invalid(errors));
        }
        let key = validate::name_key(&name);
        let taken = self
            .busy_reasons(actor)
            .await?
            .into_iter()
            .any(|r| validate::name_key(&r.name) == key && Some(r.id) != except);
        if taken {
            return Err(Error::invalid("name", "TAKEN", "the account already has a busy reason with this name"));
        }
        Ok(name)
    }

    pub async fn create_busy_reason(&self, actor: &Actor, name: &str) -> Result<busy_reason::Model> {
        actor.require_admin()?;
        let name = self.check_reason_name(actor, name, None).await?;
        let m = busy_reason::Model {
            id: Uuid::now_v7(),
            account_id: actor.account_id,
            name,
            archived_at: None,
            created_at: Utc::now(),
        };
        busy_reason::Entity::insert(sea_orm::IntoActiveModel::into_active_model(m.clone()))
            .exec_without_returning(&self.db)
            .await?;
        Ok(m)
    }

    async fn busy_reason(&self, actor: &Actor, id: Uuid) -> Result<busy_reason::Model> {
        busy_reason::Entity::find_by_id(id)
            .filter(busy_reason::Column::AccountId.eq(actor.account_id))
            .one(&self.db)
            .await?
            .ok_or(Error::NotFound("busy reason"))
    }

    pub async fn rename_busy_reason(&self, actor: &Actor, id: Uuid, name: &str) -> Result<busy_reason::Model> {
        actor.require_admin()?;
        let r = self.busy_reason(actor, id).await?;
        let name = self.check_reason_name(actor, name, Some(r.id)).await?;
        busy_reason::Entity::update_many()
            .col_expr(busy_reason::Column::Name, Expr::value(name))
            .filter(busy_reason::Column::Id.eq(r.id))
            .exec(&self.db)
            .await?;
        self.busy_reason(actor, id).await
    }

    /// Archives a busy reason: it can no longer be chosen; agents busy with it stay so until they change.
    pub async fn archive_busy_reason(&self, actor: &Actor, id: Uuid) -> Result<busy_reason::Model> {
        actor.require_admin()?;
        let r = self.busy_reason(actor, id).await?;
        if r.archived_at.is_none() {
            busy_reason::Entity::update_many()
                .col_expr(busy_reason::Column::ArchivedAt, Expr::value(Some(Utc::now())))
                .filter(busy_reason::Column::Id.eq(r.id))
                .exec(&self.db)
                .await?;
        }
        self.busy_reason(actor, id).await
    }
}
