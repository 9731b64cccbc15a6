use crate::{AgentStatus, BusyKind};
use sea_orm::entity::prelude::*;

/// An agent's (or supervisor's) presence for the ACD. No row means OFFLINE (never signed in).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "agent_states")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    pub account_id: Uuid,
    pub status: AgentStatus,
    /// Set while BUSY.
    pub busy_kind: Option<BusyKind>,
    /// Set when `busy_kind` is REASON.
    pub busy_reason_id: Option<Uuid>,
    /// When the status last changed.
    pub since: DateTimeUtc,
    /// The last accepted or auto-answered assignment: "idle longest" is the earliest (never: first of all).
    pub last_assigned_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
