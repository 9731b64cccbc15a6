use crate::{OfferOrigin, OfferOutcome};
use sea_orm::entity::prelude::*;

/// One assignment of a conversation to a user, whatever its origin: the conversation's history, the answer to
/// "who rejected or let this conversation time out in its current queue stint" (`excludes`), and the reason a
/// late accept is refused.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "conversation_offers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub account_id: Uuid,
    pub conversation_id: Uuid,
    pub user_id: Uuid,
    pub origin: OfferOrigin,
    pub offered_at: DateTimeUtc,
    /// The alerting deadline (offers that ring; null when accepted on assignment).
    pub deadline: Option<DateTimeUtc>,
    /// Null while the assignment lasts.
    pub outcome: Option<OfferOutcome>,
    pub ended_at: Option<DateTimeUtc>,
    /// The user rejected it or let it time out, and the conversation has not been accepted since: distribution
    /// skips them for it.
    pub excludes: bool,
    /// The conversation's channel.
    pub channel_id: Option<Uuid>,
    /// When the assignment was accepted (by the agent, at once with auto answer or by hand).
    pub accepted_at: Option<DateTimeUtc>,
    /// When it went to after-call work (the last time, if the client wrote meanwhile).
    pub after_call_work_at: Option<DateTimeUtc>,
    /// Written when an accepted assignment ends: `ended_at - accepted_at` and `ended_at - after_call_work_at`.
    pub handle_ms: Option<i64>,
    pub after_call_work_ms: Option<i64>,
    /// `ended_at` as unix seconds / 900.
    pub ended_slot: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
