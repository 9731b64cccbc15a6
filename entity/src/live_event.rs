use crate::{EventKind, EventReason};
use sea_orm::entity::prelude::*;

/// One watched state change. `seq` is the account's cursor (increasing in commit order). The audience is fixed
/// when the event is appended: `user_id` (that agent's own stream) and, when `staff`, the channel streams of
/// the account's supervisors and admins (`channel_id`, or account-wide when null).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "live_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub account_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i64,
    pub kind: EventKind,
    pub reason: Option<EventReason>,
    pub user_id: Option<Uuid>,
    pub channel_id: Option<Uuid>,
    pub staff: bool,
    pub conversation_id: Option<Uuid>,
    pub message_id: Option<Uuid>,
    pub agent_id: Option<Uuid>,
    pub phone_number_id: Option<Uuid>,
    /// OFFERED: when the offer stops ringing (on the database clock).
    pub deadline: Option<DateTimeUtc>,
    pub at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
