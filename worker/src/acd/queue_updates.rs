//! Queue messages: a channel may tell a waiting client where they stand. The settings and the timer live here,
//! because a wait starts in the ACD (a new conversation, a hand-off, a requeue): the stint that starts schedules
//! its first check in the same unit of work. What a check does (the position, the estimate, the message through
//! the outbound path) is the domain's: `conversations/queue_updates.rs` implements the job.

use crate::Result;
use chrono::{DateTime, Utc};
use entity::channel;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const FIRST_AFTER_DEFAULT: i32 = 20;
pub const EVERY_DEFAULT: i32 = 300;
pub const EVERY_MIN: i32 = 120;
pub const MAX_PER_WAIT_DEFAULT: i32 = 4;
pub const STOP_KEYWORD_DEFAULT: &str = "stop";

/// The texts a waiting client gets; `{position}` and `{wait}` are filled in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct QueueTexts {
    /// The first message of a wait.
    pub first: String,
    /// Later ones (the position improved).
    pub update: String,
    /// The answer to the stop keyword.
    pub stopped: String,
}

impl Default for QueueTexts {
    fn default() -> Self {
        Self {
            first: "Thanks for waiting. You are number {position} in the queue; the expected wait is {wait}. \
                    Reply STOP for no more updates."
                .to_owned(),
            update: "You are now number {position} in the queue; the expected wait is {wait}.".to_owned(),
            stopped: "OK, no more updates. You keep your place in the queue.".to_owned(),
        }
    }
}

/// A channel's queue-message settings (stored as JSON; absent: the defaults, disabled).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct QueueMessages {
    pub enabled: bool,
    pub first_after_seconds: i32,
    pub every_seconds: i32,
    pub max_per_wait: i32,
    pub stop_keyword: String,
    pub texts: QueueTexts,
}

impl Default for QueueMessages {
    fn default() -> Self {
        Self {
            enabled: false,
            first_after_seconds: FIRST_AFTER_DEFAULT,
            every_seconds: EVERY_DEFAULT,
            max_per_wait: MAX_PER_WAIT_DEFAULT,
            stop_keyword: STOP_KEYWORD_DEFAULT.to_owned(),
            texts: QueueTexts::default(),
        }
    }
}

impl QueueMessages {
    /// A channel's settings (the defaults when none are stored or they cannot be read).
    pub fn of(ch: &channel::Model) -> Self {
        ch.queue_messages.as_deref().and_then(|j| serde_json::from_str(j).ok()).unwrap_or_default()
    }
}

/// The check of a wait's next queue message, due at `due`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueueUpdate {
    pub stint_id: Uuid,
    pub conversation_id: Uuid,
}

/// A wait began: schedules its first check when the channel sends queue messages.
pub(crate) async fn on_stint_started<C: sea_orm::ConnectionTrait>(
    db: &C,
    ch: &channel::Model,
    stint_id: Uuid,
    conversation_id: Uuid,
    now: DateTime<Utc>,
) -> Result<()> {
    let s = QueueMessages::of(ch);
    if !s.enabled || s.max_per_wait < 1 {
        return Ok(());
    }
    let due = now + crate::clock::seconds(s.first_after_seconds);
    crate::jobs::enqueue(db, &QueueUpdate { stint_id, conversation_id }, crate::jobs::Due::At(due)).await?;
    Ok(())
}
