use crate::{DeliveryStatus, Direction};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "messages")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub account_id: Uuid,
    pub conversation_id: Uuid,
    pub direction: Direction,
    pub text: String,
    /// The provider's id: from the webhook (inbound) or the send answer (outbound).
    pub provider_message_id: Option<String>,
    /// Outbound only.
    pub delivery_status: Option<DeliveryStatus>,
    pub delivery_error: Option<String>,
    /// The agent who wrote an outbound message.
    pub sender_user_id: Option<Uuid>,
    pub sent_at: Option<DateTimeUtc>,
    /// The chatbot that sent an outbound message (`sender_user_id` is then none).
    pub chatbot_id: Option<Uuid>,
    /// Sent by the product itself (a queue message), not by a person or a chatbot.
    pub automatic: bool,
    /// Until when a send job holds the message (it is calling the provider); none when no job does.
    pub send_claimed_until: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
