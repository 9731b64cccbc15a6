use crate::{AbandonReason, StintOutcome, StintStart};
use sea_orm::entity::prelude::*;

/// One wait of a conversation in its channel's queue: from entering it (a new conversation without a chatbot, a
/// hand-off, a requeue of an answered conversation) to being answered, abandoned or taken out by hand. A requeue
/// of a ringing offer (reject, timeout, withdrawal) is the same stint. The source of every queue figure.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "queue_stints")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub account_id: Uuid,
    pub channel_id: Uuid,
    pub conversation_id: Uuid,
    pub started_at: DateTimeUtc,
    pub start_reason: StintStart,
    /// Null while the conversation waits (IN_QUEUE or ALERTING).
    pub ended_at: Option<DateTimeUtc>,
    /// `ended_at` as unix seconds / 900.
    pub ended_slot: Option<i64>,
    pub outcome: Option<StintOutcome>,
    pub abandon_reason: Option<AbandonReason>,
    /// Who answered it, or who it was given to by hand.
    pub answered_by: Option<Uuid>,
    /// `ended_at - started_at` in milliseconds.
    pub wait_ms: Option<i64>,
    /// Offers made during the stint, and how many were rejected or timed out.
    pub offers: i32,
    pub rejects: i32,
    pub timeouts: i32,
    /// The last wait estimate announced for it (seconds from the stint's start), and what it was based on.
    pub estimate_seconds: Option<i32>,
    pub estimate_basis: Option<String>,
    /// Queue-position messages sent to the client during this wait.
    pub updates_sent: i32,
    pub last_update_at: Option<DateTimeUtc>,
    pub last_update_position: Option<i32>,
    /// The client asked for no more updates during this wait.
    pub updates_stopped: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
