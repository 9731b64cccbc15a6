use sea_orm::entity::prelude::*;

/// A live (subscription) connection an agent's desktop holds on some `api` process, kept fresh by heartbeats.
/// An agent with none fresh for the presence grace period goes OFFLINE.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "desktop_connections")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub account_id: Uuid,
    pub connected_at: DateTimeUtc,
    /// The last heartbeat of its process.
    pub seen_at: DateTimeUtc,
    /// When it closed (the row stays until the presence sweep has applied the grace).
    pub closed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
