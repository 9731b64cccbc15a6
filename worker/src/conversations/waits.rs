//! Expected waits: how long a waiting client will likely wait, from how fast the channel's queue was served in
//! the last 30 minutes (answers per minute, times the position), or with too few answers from the average handle
//! time and the capacity of the channel's ONLINE agents; or no guess (`NoAgents`, `InsufficientData`).

use crate::Result;
use crate::domain::Domain;
use chrono::{DateTime, Duration, Utc};
use entity::{
    AgentStatus, ConversationStatus, ConversationSubstatus, StintOutcome, agent_state, channel, channel_agent,
    conversation, queue_stint,
};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use std::collections::HashMap;
use uuid::Uuid;

/// The window of recent answers, and how many answers it needs to be the basis.
pub const RECENT_MINUTES: i64 = 30;
pub const RECENT_ANSWERS_MIN: i64 = 5;
/// The window of handle times, and how many it needs.
pub const HANDLE_DAYS: i64 = 7;
pub const HANDLE_SAMPLES_MIN: i64 = 3;
/// The estimate's range: from half to one and a half times the estimate.
const LOW: f64 = 0.5;
const HIGH: f64 = 1.5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    RecentAnswers,
    HandleTime,
    NoAgents,
    InsufficientData,
}

impl Basis {
    pub fn as_str(self) -> &'static str {
        match self {
            Basis::RecentAnswers => "RECENT_ANSWERS",
            Basis::HandleTime => "HANDLE_TIME",
            Basis::NoAgents => "NO_AGENTS",
            Basis::InsufficientData => "INSUFFICIENT_DATA",
        }
    }
}

/// An expected wait from now, in seconds (none without a basis for a guess).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Estimate {
    pub position: u64,
    pub seconds: Option<i64>,
    pub low: Option<i64>,
    pub high: Option<i64>,
    pub basis: Basis,
}

/// "less than 2 minutes", "about N minutes": never 0.
pub fn wait_words(seconds: Option<i64>) -> String {
    match seconds {
        None => "not known yet".to_owned(),
        Some(s) if s < 120 => "less than 2 minutes".to_owned(),
        Some(s) => format!("about {} minutes", (s as f64 / 60.0).round() as i64),
    }
}

fn estimate(position: u64, per_second: Option<f64>) -> (Option<i64>, Option<i64>, Option<i64>) {
    match per_second {
        Some(r) if r > 0.0 => {
            let s = position as f64 / r;
            (Some(s.ceil() as i64), Some((s * LOW).floor() as i64), Some((s * HIGH).ceil() as i64))
        }
        _ => (None, None, None),
    }
}

impl Domain {
    /// The expected waits of those of `ids` that wait (IN_QUEUE, or ALERTING: then position 1).
    pub async fn estimated_waits(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, Estimate>> {
        let convs: Vec<conversation::Model> = conversation::Entity::find()
            .filter(conversation::Column::Id.is_in(ids.iter().copied()))
            .filter(conversation::Column::Status.eq(ConversationStatus::Open))
            .filter(
                conversation::Column::Substatus
                    .is_in([ConversationSubstatus::InQueue, ConversationSubstatus::Alerting]),
            )
            .all(&self.db)
            .await?;
        if convs.is_empty() {
            return Ok(HashMap::new());
        }
        let positions = self.queue_positions(&convs.iter().map(|c| c.id).collect::<Vec<_>>()).await?;
        let now = crate::clock::db_now(&self.db).await?;
        let mut rates: HashMap<Uuid, (Option<f64>, Basis)> = HashMap::new();
        let mut out = HashMap::new();
        for c in &convs {
            if let std::collections::hash_map::Entry::Vacant(e) = rates.entry(c.channel_id) {
                e.insert(self.service_rate(c.channel_id, now).await?);
            }
            let (rate, basis) = rates.get(&c.channel_id).copied().unwrap_or((None, Basis::InsufficientData));
            let position = positions.get(&c.id).copied().unwrap_or(1);
            let (seconds, low, high) = estimate(position, rate);
            out.insert(c.id, Estimate { position, seconds, low, high, basis });
        }
        Ok(out)
    }

    /// How many waits of the channel are served per second, and on what basis.
    async fn service_rate(&self, channel_id: Uuid, now: DateTime<Utc>) -> Result<(Option<f64>, Basis)> {
        let since = now - Duration::minutes(RECENT_MINUTES);
        let answered: i64 = queue_stint::Entity::find()
            .select_only()
            .column_as(queue_stint::Column::Id.count(), "n")
            .filter(queue_stint::Column::ChannelId.eq(channel_id))
            .filter(queue_stint::Column::Outcome.eq(StintOutcome::Answered))
            .filter(queue_stint::Column::EndedSlot.gte(crate::acd::stints::slot(since)))
            .filter(queue_stint::Column::EndedAt.gte(since))
            .into_tuple::<i64>()
            .one(&self.db)
            .await?
            .unwrap_or(0);
        if answered >= RECENT_ANSWERS_MIN {
            return Ok((Some(answered as f64 / (RECENT_MINUTES * 60) as f64), Basis::RecentAnswers));
        }
        // The capacity of the channel's ONLINE agents: conversations they can hold at once.
        let Some(ch) = channel::Entity::find_by_id(channel_id).one(&self.db).await? else {
            return Ok((None, Basis::InsufficientData));
        };
        let online: i64 = channel_agent::Entity::find()
            .select_only()
            .column_as(channel_agent::Column::UserId.count(), "n")
            .filter(channel_agent::Column::ChannelId.eq(channel_id))
            .filter(
                channel_agent::Column::UserId.in_subquery(
                    sea_orm::sea_query::Query::select()
                        .column(agent_state::Column::UserId)
                        .from(agent_state::Entity)
                        .and_where(agent_state::Column::Status.eq(AgentStatus::Online))
                        .to_owned(),
                ),
            )
            .into_tuple::<i64>()
            .one(&self.db)
            .await?
            .unwrap_or(0);
        if online == 0 {
            return Ok((None, Basis::NoAgents));
        }
        let per_agent = if ch.utilization > 0 {
            i64::from(ch.auto_assignment_limit.min(crate::acd::policy::FULL / ch.utilization)).max(1)
        } else {
            i64::from(ch.auto_assignment_limit).max(1)
        };
        let sql = "SELECT CAST(COALESCE(SUM(handle_ms), 0) AS BIGINT) AS s, COUNT(handle_ms) AS n \
                   FROM conversation_offers WHERE channel_id = $1 AND handle_ms IS NOT NULL AND ended_at >= $2";
        let values: Vec<sea_orm::Value> = vec![channel_id.into(), (now - Duration::days(HANDLE_DAYS)).into()];
        let backend = self.db.get_database_backend();
        let row = self.db.query_one_raw(sea_orm::Statement::from_sql_and_values(backend, sql, values)).await?;
        let (sum, n): (i64, i64) = match row {
            Some(r) => (r.try_get("", "s")?, r.try_get("", "n")?),
            None => (0, 0),
        };
        if n < HANDLE_SAMPLES_MIN || sum <= 0 {
            return Ok((None, Basis::InsufficientData));
        }
        let aht_seconds = sum as f64 / n as f64 / 1000.0;
        Ok((Some((online * per_agent) as f64 / aht_seconds.max(1.0)), Basis::HandleTime))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_are_told_in_rounded_words_never_zero() {
        assert_eq!(wait_words(Some(0)), "less than 2 minutes");
        assert_eq!(wait_words(Some(119)), "less than 2 minutes");
        assert_eq!(wait_words(Some(150)), "about 3 minutes");
        assert_eq!(wait_words(Some(600)), "about 10 minutes");
        assert_eq!(wait_words(None), "not known yet");
    }

    #[test]
    fn an_estimate_is_the_position_over_the_rate_with_a_range() {
        // 10 answers in 30 minutes: one every 180 s; third in line: 540 s.
        assert_eq!(estimate(3, Some(10.0 / 1800.0)), (Some(540), Some(270), Some(810)));
        assert_eq!(estimate(3, None), (None, None, None));
    }
}
