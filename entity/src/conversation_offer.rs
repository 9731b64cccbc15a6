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
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
