use crate::BotPostStatus;
use sea_orm::entity::prelude::*;

/// A client's message to be posted to the conversation's chatbot (one row per message, posted in order).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "chatbot_posts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub message_id: Uuid,
    pub account_id: Uuid,
    pub conversation_id: Uuid,
    pub chatbot_id: Uuid,
    pub status: BotPostStatus,
    /// Failed attempts so far.
    pub attempts: i32,
    /// Not posted before this (backoff after a failed attempt).
    pub next_attempt_at: DateTimeUtc,
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub posted_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
