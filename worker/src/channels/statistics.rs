//! The channel's supervisor settings (service level and queue messages) and the account's time zone, which
//! decides where "today", local hours and days begin.

use crate::acd::queue_updates::{EVERY_MIN, QueueMessages};
use crate::conversations::outbound::TEXT_MAX;
use crate::domain::Domain;
use crate::{Error, FieldError, Result, actor::Actor};
use chrono::Utc;
use entity::{AbandonPolicy, account, channel};
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use uuid::Uuid;

pub const TARGET_MAX: i32 = 86_400;
pub const SHORT_ABANDON_MAX: i32 = 3_600;
pub const MAX_PER_WAIT_MAX: i32 = 20;
pub const FIRST_AFTER_MAX: i32 = 3_600;
pub const EVERY_MAX: i32 = 86_400;
pub const STOP_KEYWORD_MAX: usize = 30;

/// A channel's service level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceLevel {
    pub target_seconds: i32,
    pub short_abandon_seconds: i32,
    pub abandon_policy: AbandonPolicy,
}

impl ServiceLevel {
    pub fn of(ch: &channel::Model) -> Self {
        Self {
            target_seconds: ch.sl_target_seconds,
            short_abandon_seconds: ch.sl_short_abandon_seconds,
            abandon_policy: ch.sl_abandon_policy,
        }
    }
}

fn range(errors: &mut Vec<FieldError>, field: &str, v: i32, min: i32, max: i32) {
    if v < min || v > max {
        errors.push(FieldError::new(field, "OUT_OF_RANGE", format!("must be between {min} and {max}")));
    }
}

fn text(errors: &mut Vec<FieldError>, field: &str, v: &str) {
    let n = v.trim().chars().count();
    if n == 0 {
        errors.push(FieldError::new(field, "REQUIRED", "must not be empty"));
    } else if n > TEXT_MAX {
        errors.push(FieldError::new(field, "TOO_LONG", format!("must be at most {TEXT_MAX} characters")));
    }
}

/// Every problem of a queue-message form at once.
pub fn check_queue_messages(s: &QueueMessages) -> Vec<FieldError> {
    let mut e = Vec::new();
    range(&mut e, "firstAfterSeconds", s.first_after_seconds, 0, FIRST_AFTER_MAX);
    range(&mut e, "everySeconds", s.every_seconds, EVERY_MIN, EVERY_MAX);
    range(&mut e, "maxPerWait", s.max_per_wait, 1, MAX_PER_WAIT_MAX);
    let k = s.stop_keyword.trim().chars().count();
    if k == 0 || k > STOP_KEYWORD_MAX {
        e.push(FieldError::new("stopKeyword", "OUT_OF_RANGE", format!("must be 1 to {STOP_KEYWORD_MAX} characters")));
    }
    text(&mut e, "texts.first", &s.texts.first);
    text(&mut e, "texts.update", &s.texts.update);
    text(&mut e, "texts.stopped", &s.texts.stopped);
    e
}

impl Domain {
    /// `setChannelServiceLevel` (admins).
    pub async fn set_service_level(&self, actor: &Actor, id: Uuid, sl: ServiceLevel) -> Result<channel::Model> {
        let mut e = Vec::new();
        range(&mut e, "targetSeconds", sl.target_seconds, 1, TARGET_MAX);
        range(&mut e, "shortAbandonSeconds", sl.short_abandon_seconds, 0, SHORT_ABANDON_MAX);
        if !e.is_empty() {
            return Err(Error::Invalid(e));
        }
        let current = self.channel_for_change(&self.db, actor, id).await?;
        let mut am: channel::ActiveModel = current.into();
        am.sl_target_seconds = Set(sl.target_seconds);
        am.sl_short_abandon_seconds = Set(sl.short_abandon_seconds);
        am.sl_abandon_policy = Set(sl.abandon_policy);
        am.updated_at = Set(Utc::now());
        Ok(am.update(&self.db).await?)
    }

    /// `setChannelQueueMessages` (admins). Waits already running keep the timers they have; a wait that starts
    /// later follows the new settings.
    pub async fn set_queue_messages(&self, actor: &Actor, id: Uuid, s: QueueMessages) -> Result<channel::Model> {
        let e = check_queue_messages(&s);
        if !e.is_empty() {
            return Err(Error::Invalid(e));
        }
        let current = self.channel_for_change(&self.db, actor, id).await?;
        let mut am: channel::ActiveModel = current.into();
        let json = serde_json::to_string(&s).map_err(anyhow::Error::from)?;
        am.queue_messages = Set(Some(json));
        am.updated_at = Set(Utc::now());
        Ok(am.update(&self.db).await?)
    }

    /// The caller's account.
    pub async fn account(&self, actor: &Actor) -> Result<account::Model> {
        account::Entity::find_by_id(actor.account_id).one(&self.db).await?.ok_or(Error::NotFound("account"))
    }

    /// `setAccountTimeZone` (admins): an IANA name such as `Europe/Madrid`.
    pub async fn set_time_zone(&self, actor: &Actor, time_zone: &str) -> Result<account::Model> {
        actor.require_admin()?;
        let tz = time_zone.trim();
        if tz.parse::<chrono_tz::Tz>().is_err() {
            return Err(Error::invalid("timeZone", "UNKNOWN", "must be an IANA time zone name such as Europe/Madrid"));
        }
        let mut am: account::ActiveModel = self.account(actor).await?.into();
        am.time_zone = Set(tz.to_owned());
        Ok(am.update(&self.db).await?)
    }
}
