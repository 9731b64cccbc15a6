use crate::{ConversationStatus, ConversationSubstatus, HandOffReason, Resolution};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "conversations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub account_id: Uuid,
    pub channel_id: Uuid,
    pub contact_id: Uuid,
    /// The channel number the conversation came through (and replies leave from).
    pub phone_number_id: Uuid,
    pub status: ConversationStatus,
    /// Set while OPEN.
    pub substatus: Option<ConversationSubstatus>,
    pub assigned_user_id: Option<Uuid>,
    /// When the conversation first entered the queue; kept across requeues (queue order).
    pub enqueued_at: Option<DateTimeUtc>,
    pub wrap_up_code_id: Option<Uuid>,
    pub wrap_up_timed_out: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub resolved_at: Option<DateTimeUtc>,
    /// The current assignment (`conversation_offers.id`) while one lasts.
    pub offer_id: Option<Uuid>,
    /// While ALERTING: when the offer times out (database clock).
    pub offer_deadline: Option<DateTimeUtc>,
    /// While in AFTER_CALL_WORK with a wrap-up timeout: when it is resolved without a code.
    pub wrap_up_deadline: Option<DateTimeUtc>,
    /// While assigned: the channel's `utilization` when it was assigned (what it costs its agent).
    pub assignment_cost: Option<i32>,
    /// How it was resolved.
    pub resolution: Option<Resolution>,
    /// While PENDING: when the chatbot must have answered or handed off by (set by a client's message).
    pub bot_deadline: Option<DateTimeUtc>,
    /// Why a chatbot's conversation went to the queue.
    pub hand_off_reason: Option<HandOffReason>,
    pub handed_off_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
