//! Queue messages to waiting clients (the settings and the timer are the ACD's, `acd/queue_updates.rs`): the
//! check a wait's timer runs, and the client's stop keyword.
//!
//! A message goes out (as the channel's number, through the outbound path, marked automatic) only while the
//! conversation is IN_QUEUE, never while an offer rings or after an agent took it, only within 24 hours of the
//! client's last message: the first after `firstAfterSeconds`, then only when the position improved and at least
//! `everySeconds` passed, at most `maxPerWait` per wait. The check runs under the account's ACD lock, so an offer
//! cannot start between the check and the message.

use super::outbound::{automatic_message, queue_message};
use super::waits::wait_words;
use crate::Result;
use crate::acd::queue_updates::{QueueMessages, QueueUpdate};
use crate::domain::Domain;
use crate::jobs::{Due, Job, JobSpec, enqueue};
use crate::live::Uow;
use chrono::{DateTime, Duration, Utc};
use entity::{ConversationStatus, ConversationSubstatus, Direction, channel, conversation, message, queue_stint};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

/// While an offer rings, or the position has not improved, the check looks again this much later.
pub const RECHECK_SECONDS: i64 = 60;
/// The client can be written to this long after their last message.
pub const WINDOW_HOURS: i64 = 24;

impl Job for QueueUpdate {
    const SPEC: JobSpec =
        JobSpec { queue: "queue_update", max_attempts: 3, timeout: std::time::Duration::from_secs(30), concurrency: 8 };
    type On = Domain;
    async fn run(&self, on: &Domain) -> Result<()> {
        on.run_queue_update(self).await
    }
}

/// Fills a text's `{position}` and `{wait}`.
pub fn render(text: &str, position: u64, wait: Option<i64>) -> String {
    text.replace("{position}", &position.to_string()).replace("{wait}", &wait_words(wait))
}

impl Domain {
    /// One check of a wait's queue message: sends it when due, and schedules the next check.
    pub async fn run_queue_update(&self, job: &QueueUpdate) -> Result<()> {
        let Some(stint) = queue_stint::Entity::find_by_id(job.stint_id).one(&self.db).await? else { return Ok(()) };
        if stint.ended_at.is_some() || stint.updates_stopped {
            return Ok(());
        }
        let Some(ch) = channel::Entity::find_by_id(stint.channel_id).one(&self.db).await? else { return Ok(()) };
        let settings = QueueMessages::of(&ch);
        if !settings.enabled || stint.updates_sent >= settings.max_per_wait {
            return Ok(());
        }
        let estimate = self.estimated_waits(&[stint.conversation_id]).await?.remove(&stint.conversation_id);

        let (txn, now) = self.begin_acd(stint.account_id).await?;
        let Some(conv) = conversation::Entity::find_by_id(stint.conversation_id).one(&txn).await? else {
            return Ok(());
        };
        match (conv.status, conv.substatus) {
            (ConversationStatus::Open, Some(ConversationSubstatus::InQueue)) => {}
            (ConversationStatus::Open, Some(ConversationSubstatus::Alerting)) => {
                // An offer rings: look again later (it may come back to the queue).
                enqueue(&txn, job, Due::At(now + Duration::seconds(RECHECK_SECONDS))).await?;
                self.commit(txn).await?;
                return Ok(());
            }
            _ => return Ok(()),
        }
        // Within 24 hours of the client's last message only.
        let last_inbound = message::Entity::find()
            .filter(message::Column::ConversationId.eq(conv.id))
            .filter(message::Column::Direction.eq(Direction::Inbound))
            .order_by_desc(message::Column::CreatedAt)
            .one(&txn)
            .await?;
        if last_inbound.is_none_or(|m| m.created_at < now - Duration::hours(WINDOW_HOURS)) {
            tracing::info!(conversation_id = %conv.id, "queue message skipped: outside the 24-hour window");
            return Ok(());
        }
        let Some(estimate) = estimate else { return Ok(()) };
        let position = estimate.position;
        let improved = stint.last_update_position.is_none_or(|p| i64::from(p) > position as i64);
        // An update waits `everySeconds` after the last message, whenever its check runs.
        let allowed = stint.last_update_at.map(|t| t + Duration::seconds(i64::from(settings.every_seconds)));
        let early = allowed.filter(|t| *t > now);
        if stint.updates_sent > 0 && (!improved || early.is_some()) {
            let again = early.unwrap_or(now + Duration::seconds(RECHECK_SECONDS));
            enqueue(&txn, job, Due::At(again)).await?;
            self.commit(txn).await?;
            return Ok(());
        }
        let template = if stint.updates_sent == 0 { &settings.texts.first } else { &settings.texts.update };
        let text = render(template, position, estimate.seconds);
        // The estimate announced, as a whole wait from the stint's start (compared with the real wait later).
        let announced = estimate
            .seconds
            .map(|s| ((now - stint.started_at).num_seconds() + s).clamp(0, i64::from(i32::MAX / 1000)) as i32);
        let r = queue_stint::Entity::update_many()
            .col_expr(queue_stint::Column::UpdatesSent, Expr::col(queue_stint::Column::UpdatesSent).add(1))
            .col_expr(queue_stint::Column::LastUpdateAt, Expr::value(Some(now)))
            .col_expr(
                queue_stint::Column::LastUpdatePosition,
                Expr::value(Some(i32::try_from(position).unwrap_or(i32::MAX))),
            )
            .col_expr(queue_stint::Column::EstimateSeconds, Expr::value(announced))
            .col_expr(queue_stint::Column::EstimateBasis, Expr::value(Some(estimate.basis.as_str().to_owned())))
            .filter(queue_stint::Column::Id.eq(stint.id))
            .filter(queue_stint::Column::EndedAt.is_null())
            .filter(queue_stint::Column::UpdatesStopped.eq(false))
            .filter(queue_stint::Column::UpdatesSent.eq(stint.updates_sent))
            .exec(&txn)
            .await?;
        if r.rows_affected != 1 {
            return Ok(());
        }
        queue_message(&txn, &conv, &automatic_message(&conv, text, now)).await?;
        if stint.updates_sent + 1 < settings.max_per_wait {
            enqueue(&txn, job, Due::At(now + Duration::seconds(i64::from(settings.every_seconds)))).await?;
        }
        self.commit(txn).await?;
        tracing::info!(conversation_id = %conv.id, position, "queue message queued");
        Ok(())
    }
}

/// A waiting client wrote: the stop keyword ends this wait's queue messages (the client keeps their place) and
/// is answered once.
pub(crate) async fn on_client_text(
    txn: &Uow,
    ch: &channel::Model,
    conv: &conversation::Model,
    text: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let settings = QueueMessages::of(ch);
    if !settings.enabled || !text.trim().eq_ignore_ascii_case(settings.stop_keyword.trim()) {
        return Ok(());
    }
    let r = queue_stint::Entity::update_many()
        .col_expr(queue_stint::Column::UpdatesStopped, Expr::value(true))
        .filter(queue_stint::Column::ConversationId.eq(conv.id))
        .filter(queue_stint::Column::EndedAt.is_null())
        .filter(queue_stint::Column::UpdatesStopped.eq(false))
        .exec(txn)
        .await?;
    if r.rows_affected == 1 {
        queue_message(txn, conv, &automatic_message(conv, settings.texts.stopped.clone(), now)).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_texts_name_the_position_and_the_wait() {
        let t = crate::acd::queue_updates::QueueTexts::default();
        assert_eq!(
            render(&t.update, 3, Some(400)),
            "You are now number 3 in the queue; the expected wait is about 7 minutes."
        );
    }
}
