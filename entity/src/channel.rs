use crate::{ConversationType, Provider};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "channels")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub account_id: Uuid,
    pub name: String,
    /// Lower-cased name, unique among the account's live channels.
    pub name_key: String,
    pub chatbot_id: Option<Uuid>,
    pub conversation_type: ConversationType,
    pub can_write_first: bool,
    pub provider: Provider,
    pub api_url: String,
    /// Hex SHA-256 of the webhook token: how an incoming webhook finds its channel.
    pub webhook_token_hash: String,
    /// The webhook token encrypted at rest, so the URL can be shown to admins.
    pub webhook_token_enc: String,
    pub utilization: i32,
    pub auto_assignment_limit: i32,
    pub auto_answer: bool,
    pub alerting_timeout: Option<i32>,
    pub wrap_up_timeout: Option<i32>,
    /// Seconds a chatbot has to answer or hand off after a client's message.
    pub chatbot_timeout: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub deleted_at: Option<DateTimeUtc>,
    /// Service level: answered within this many seconds of entering the queue.
    pub sl_target_seconds: i32,
    /// Abandoned within this many seconds: a short abandon.
    pub sl_short_abandon_seconds: i32,
    /// How abandons count in the service level.
    pub sl_abandon_policy: crate::AbandonPolicy,
    /// Queue-message settings as JSON (null: the defaults, disabled).
    pub queue_messages: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
