use sea_orm::entity::prelude::*;

/// A webhook the product accepted: stored before the 2xx, processed by a job.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_deliveries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub account_id: Uuid,
    pub channel_id: Uuid,
    pub phone_number_id: Uuid,
    /// `message` or `status`.
    pub kind: String,
    /// What makes a redelivery the same delivery: `message:<provider id>` or `status:<provider id>:<status>`.
    pub dedupe_key: String,
    /// The raw body as received.
    pub body: String,
    pub received_at: DateTimeUtc,
    pub processed_at: Option<DateTimeUtc>,
    pub error: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The channel it arrived for (read with the delivery by its processing job).
    #[sea_orm(belongs_to = "super::channel::Entity", from = "Column::ChannelId", to = "super::channel::Column::Id")]
    Channel,
}

impl Related<super::channel::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Channel.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
