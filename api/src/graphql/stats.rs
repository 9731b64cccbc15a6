//! Supervisor statistics over GraphQL: live figures (`queueStats`, `agentStats`, the `queueStatsChanged`
//! subscription), historical buckets (`queueMetrics`), and the settings they depend on (a channel's service level
//! and queue messages, the account's time zone).

use super::enums::{AbandonPolicy, AgentStatus, AgentSubstatus, Granularity, MetricsGroupBy, QueueStatsUpdateKind};
use super::error::ApiResult;
use super::types::{Channel, User};
use super::{actor, engine, uuid};
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::account;
use worker::acd::queue_updates::{QueueMessages as QueueMessageSettings, QueueTexts};
use worker::acd::stats::{self, BusyKindKey, Figures, Total};
use worker::channels::statistics::ServiceLevel as ServiceLevelSettings;

/// A sum of durations in seconds, how many were summed, and their average.
#[derive(SimpleObject)]
pub struct DurationTotal {
    /// Seconds.
    pub sum: f64,
    pub count: i64,
    /// Seconds (null when nothing was counted).
    pub average: Option<f64>,
}

impl From<Total> for DurationTotal {
    fn from(t: Total) -> Self {
        Self { sum: t.sum_ms as f64 / 1000.0, count: t.count, average: t.average_seconds() }
    }
}

/// A ratio with its parts, so that buckets add up.
#[derive(SimpleObject)]
pub struct Ratio {
    pub numerator: i64,
    pub denominator: i64,
    /// numerator / denominator (null when the denominator is 0).
    pub value: Option<f64>,
}

fn service_level(f: &Figures) -> Ratio {
    Ratio { numerator: f.service_level_numerator, denominator: f.service_level_denominator, value: f.service_level() }
}

/// One bucket of `queueMetrics`.
pub struct MetricsBucket(stats::Bucket, MetricsGroupBy);

#[Object]
impl MetricsBucket {
    async fn start(&self) -> DateTime<Utc> {
        self.0.start
    }
    async fn end(&self) -> DateTime<Utc> {
        self.0.end
    }
    /// groupBy CHANNEL: the channel.
    async fn channel_id(&self) -> Option<ID> {
        (self.1 == MetricsGroupBy::Channel).then(|| self.0.key.map(|k| ID(k.to_string()))).flatten()
    }
    /// groupBy AGENT: the agent (null: waits no agent answered).
    async fn agent_id(&self) -> Option<ID> {
        (self.1 == MetricsGroupBy::Agent).then(|| self.0.key.map(|k| ID(k.to_string()))).flatten()
    }
    /// groupBy WRAP_UP_CODE: the code (null: none chosen).
    async fn wrap_up_code_id(&self) -> Option<ID> {
        (self.1 == MetricsGroupBy::WrapUpCode).then(|| self.0.key.map(|k| ID(k.to_string()))).flatten()
    }
    /// The abandon policy the service level used (null: channels with different policies are combined).
    async fn abandon_policy(&self) -> Option<AbandonPolicy> {
        self.0.policy.map(Into::into)
    }
    /// Waits that ended in the bucket: answered + abandoned + transferred.
    async fn offered(&self) -> i64 {
        self.0.figures.offered
    }
    async fn answered(&self) -> i64 {
        self.0.figures.answered
    }
    async fn abandoned(&self) -> i64 {
        self.0.figures.abandoned
    }
    /// Abandoned within the channel's `shortAbandonSeconds`.
    async fn short_abandoned(&self) -> i64 {
        self.0.figures.short_abandoned
    }
    /// Taken out of the queue by hand (assigned or transferred by a supervisor while waiting).
    async fn transferred(&self) -> i64 {
        self.0.figures.transferred
    }
    async fn answered_within_target(&self) -> i64 {
        self.0.figures.answered_within_target
    }
    /// Answered within target over the waits the abandon policy counts.
    async fn service_level(&self) -> Ratio {
        service_level(&self.0.figures)
    }
    /// Waits of answered conversations.
    async fn speed_of_answer(&self) -> DurationTotal {
        self.0.figures.speed_of_answer.into()
    }
    /// Accepted to the end of the assignment (after-call work included), of assignments that ended.
    async fn handle_time(&self) -> DurationTotal {
        self.0.figures.handle_time.into()
    }
    async fn after_call_work(&self) -> DurationTotal {
        self.0.figures.after_call_work.into()
    }
    /// Every wait that ended, whatever its outcome.
    async fn wait_time(&self) -> DurationTotal {
        self.0.figures.wait_time.into()
    }
    /// |estimate sent to the client - real wait| of answered waits that were sent one.
    async fn estimate_error(&self) -> DurationTotal {
        self.0.figures.estimate_error.into()
    }
    async fn rejected(&self) -> i64 {
        self.0.figures.rejected
    }
    async fn timed_out(&self) -> i64 {
        self.0.figures.timed_out
    }
}

/// How many of a channel's agents are BUSY with one substatus (and reason).
#[derive(SimpleObject)]
pub struct BusyCount {
    pub substatus: AgentSubstatus,
    pub busy_reason_id: Option<ID>,
    pub count: i64,
}

/// A channel's live figures.
pub struct QueueStats(stats::QueueStats);

#[Object]
impl QueueStats {
    async fn channel_id(&self) -> ID {
        ID(self.0.channel_id.to_string())
    }
    async fn channel(&self, ctx: &Context<'_>) -> ApiResult<Channel> {
        Ok(Channel(engine(ctx)?.channel(actor(ctx)?, self.0.channel_id).await?))
    }
    /// When these figures were read (the server's clock).
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
    /// Waiting in the queue (IN_QUEUE).
    async fn waiting(&self) -> i64 {
        self.0.waiting
    }
    /// Offered and ringing (ALERTING).
    async fn alerting(&self) -> i64 {
        self.0.alerting
    }
    /// When the oldest wait not answered yet (in the queue or ringing) began; null when none waits.
    async fn longest_waiting_since(&self) -> Option<DateTime<Utc>> {
        self.0.longest_waiting_since
    }
    /// The channel's agents who are ONLINE.
    async fn agents_online(&self) -> i64 {
        self.0.agents.online
    }
    /// ONLINE with room for one more of the channel's conversations (utilization and the channel's limit).
    async fn agents_available(&self) -> i64 {
        self.0.agents.available
    }
    /// The channel's BUSY agents by substatus and reason.
    async fn agents_busy(&self) -> Vec<BusyCount> {
        self.0
            .agents
            .busy
            .iter()
            .map(|((kind, reason), n)| BusyCount {
                substatus: match kind {
                    BusyKindKey::System => AgentSubstatus::System,
                    BusyKindKey::NotResponding => AgentSubstatus::NotResponding,
                    BusyKindKey::Reason => AgentSubstatus::BusyReason,
                },
                busy_reason_id: reason.map(|r| ID(r.to_string())),
                count: *n,
            })
            .collect()
    }
    async fn agents_offline(&self) -> i64 {
        self.0.agents.offline
    }
    /// Conversations of the channel being worked: INTERACTING, on HOLD, in AFTER_CALL_WORK.
    async fn interacting(&self) -> i64 {
        self.0.interacting
    }
    async fn on_hold(&self) -> i64 {
        self.0.on_hold
    }
    async fn after_call_work(&self) -> i64 {
        self.0.after_call_work
    }
    /// Where "today" began (the account's time zone).
    async fn today_start(&self) -> DateTime<Utc> {
        self.0.today_start
    }
    /// Today: waits that ended (answered + abandoned + transferred).
    async fn offered(&self) -> i64 {
        self.0.today.offered
    }
    async fn answered(&self) -> i64 {
        self.0.today.answered
    }
    async fn abandoned(&self) -> i64 {
        self.0.today.abandoned
    }
    /// Today's service level under the channel's abandon policy.
    async fn service_level(&self) -> Ratio {
        service_level(&self.0.today)
    }
    async fn abandon_policy(&self) -> AbandonPolicy {
        self.0.policy.into()
    }
    /// Today, seconds (null: none answered).
    async fn average_speed_of_answer(&self) -> Option<f64> {
        self.0.today.speed_of_answer.average_seconds()
    }
    /// Today, seconds (null: no assignment ended).
    async fn average_handle_time(&self) -> Option<f64> {
        self.0.today.handle_time.average_seconds()
    }
}

/// An agent's live figures.
pub struct AgentStats(stats::AgentStats);

#[Object]
impl AgentStats {
    async fn agent_id(&self) -> ID {
        ID(self.0.user_id.to_string())
    }
    async fn agent(&self, ctx: &Context<'_>) -> ApiResult<User> {
        Ok(User(engine(ctx)?.user(actor(ctx)?, self.0.user_id).await?))
    }
    async fn status(&self) -> AgentStatus {
        self.0.status.into()
    }
    async fn substatus(&self) -> Option<AgentSubstatus> {
        super::acd::substatus(self.0.status, self.0.busy_kind, self.0.held)
    }
    async fn busy_reason_id(&self) -> Option<ID> {
        self.0.busy_reason_id.map(|r| ID(r.to_string()))
    }
    /// When the status last changed (null: never signed in).
    async fn since(&self) -> Option<DateTime<Utc>> {
        self.0.since
    }
    async fn utilization(&self) -> i32 {
        self.0.utilization
    }
    /// Conversations held now (ringing, interacting, on hold, after-call work).
    async fn conversations_held(&self) -> i64 {
        self.0.held
    }
    /// Today: waits they answered, offers they rejected and let time out.
    async fn answered(&self) -> i64 {
        self.0.answered
    }
    async fn rejected(&self) -> i64 {
        self.0.rejected
    }
    async fn timed_out(&self) -> i64 {
        self.0.timed_out
    }
    /// Today, seconds (null: no assignment of theirs ended).
    async fn average_handle_time(&self) -> Option<f64> {
        self.0.handle_time.average_seconds()
    }
}

/// A channel's service level settings.
#[derive(SimpleObject)]
pub struct ServiceLevel {
    /// Answered within this many seconds of entering the queue counts within target (default 20).
    pub target_seconds: i32,
    /// Abandoned within this many seconds is a short abandon (default 5).
    pub short_abandon_seconds: i32,
    pub abandon_policy: AbandonPolicy,
}

impl From<ServiceLevelSettings> for ServiceLevel {
    fn from(s: ServiceLevelSettings) -> Self {
        Self {
            target_seconds: s.target_seconds,
            short_abandon_seconds: s.short_abandon_seconds,
            abandon_policy: s.abandon_policy.into(),
        }
    }
}

#[derive(InputObject)]
pub struct ServiceLevelInput {
    /// 1 to 86400.
    pub target_seconds: i32,
    /// 0 to 3600.
    pub short_abandon_seconds: i32,
    pub abandon_policy: AbandonPolicy,
}

/// The texts a waiting client gets; `{position}` and `{wait}` are filled in.
#[derive(SimpleObject, InputObject)]
#[graphql(input_name = "QueueMessageTextsInput")]
pub struct QueueMessageTexts {
    /// The first message of a wait.
    pub first: String,
    /// Later ones (sent only when the position improved).
    pub update: String,
    /// The answer to the stop keyword.
    pub stopped: String,
}

/// A channel's queue messages to waiting clients.
#[derive(SimpleObject)]
pub struct QueueMessages {
    pub enabled: bool,
    /// The first message after this many seconds of waiting (default 20).
    pub first_after_seconds: i32,
    /// Later ones at least this far apart, and only when the position improved (at least 120, default 300).
    pub every_seconds: i32,
    /// At most this many per wait (default 4).
    pub max_per_wait: i32,
    /// A client who writes this (any case) gets no more updates for this wait and keeps their place.
    pub stop_keyword: String,
    pub texts: QueueMessageTexts,
}

impl From<QueueMessageSettings> for QueueMessages {
    fn from(s: QueueMessageSettings) -> Self {
        Self {
            enabled: s.enabled,
            first_after_seconds: s.first_after_seconds,
            every_seconds: s.every_seconds,
            max_per_wait: s.max_per_wait,
            stop_keyword: s.stop_keyword,
            texts: QueueMessageTexts { first: s.texts.first, update: s.texts.update, stopped: s.texts.stopped },
        }
    }
}

/// Queue-message settings; omitted fields take their defaults.
#[derive(InputObject)]
pub struct QueueMessagesInput {
    pub enabled: bool,
    pub first_after_seconds: Option<i32>,
    pub every_seconds: Option<i32>,
    pub max_per_wait: Option<i32>,
    pub stop_keyword: Option<String>,
    pub texts: Option<QueueMessageTexts>,
}

impl From<QueueMessagesInput> for QueueMessageSettings {
    fn from(i: QueueMessagesInput) -> Self {
        let d = QueueMessageSettings::default();
        Self {
            enabled: i.enabled,
            first_after_seconds: i.first_after_seconds.unwrap_or(d.first_after_seconds),
            every_seconds: i.every_seconds.unwrap_or(d.every_seconds),
            max_per_wait: i.max_per_wait.unwrap_or(d.max_per_wait),
            stop_keyword: i.stop_keyword.unwrap_or(d.stop_keyword),
            texts: i.texts.map_or(d.texts, |t| QueueTexts { first: t.first, update: t.update, stopped: t.stopped }),
        }
    }
}

/// The caller's account.
pub struct Account(pub account::Model);

#[Object]
impl Account {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// The IANA time zone where "today", local hours and days begin (default UTC).
    async fn time_zone(&self) -> &str {
        &self.0.time_zone
    }
}

/// A `queueStatsChanged` message: a snapshot of every channel subscribed to, or a heartbeat.
pub struct QueueStatsUpdate {
    pub kind: QueueStatsUpdateKind,
    pub at: DateTime<Utc>,
    pub stats: Vec<stats::QueueStats>,
}

#[Object]
impl QueueStatsUpdate {
    async fn kind(&self) -> QueueStatsUpdateKind {
        self.kind
    }
    async fn at(&self) -> DateTime<Utc> {
        self.at
    }
    /// SNAPSHOT: the figures; HEARTBEAT: empty.
    async fn stats(&self) -> Vec<QueueStats> {
        self.stats.iter().cloned().map(QueueStats).collect()
    }
}

fn opt_uuid(id: Option<ID>, what: &'static str) -> ApiResult<Option<uuid::Uuid>> {
    id.map(|i| uuid(&i, what)).transpose()
}

#[derive(Default)]
pub struct StatsQuery;

#[Object]
impl StatsQuery {
    /// Supervisors and admins: live figures of one channel, or of every live channel of the account.
    async fn queue_stats(&self, ctx: &Context<'_>, channel_id: Option<ID>) -> ApiResult<Vec<QueueStats>> {
        let a = actor(ctx)?;
        let channel = channel_id.map(|i| uuid(&i, "channel")).transpose();
        let channel = channel.map_err(|_| worker::Error::invalid("channelId", "NOT_FOUND", "no such channel"))?;
        Ok(engine(ctx)?.queue_stats(a, channel).await?.into_iter().map(QueueStats).collect())
    }

    /// Supervisors and admins: every agent and supervisor of the account (or of a channel's list), live, with
    /// today's figures.
    async fn agent_stats(&self, ctx: &Context<'_>, channel_id: Option<ID>) -> ApiResult<Vec<AgentStats>> {
        let a = actor(ctx)?;
        let channel = channel_id.map(|i| uuid(&i, "channel")).transpose();
        let channel = channel.map_err(|_| worker::Error::invalid("channelId", "NOT_FOUND", "no such channel"))?;
        Ok(engine(ctx)?.agent_stats(a, channel).await?.into_iter().map(AgentStats).collect())
    }

    /// Supervisors and admins: historical figures in buckets of the account's time zone. `from` is rounded down
    /// and `to` up to whole buckets; a figure belongs to the bucket of the event that ends it. At most 92 days at
    /// FIFTEEN_MINUTES, 366 at HOUR, 1830 at DAY. Only buckets with figures are listed.
    async fn queue_metrics(
        &self,
        ctx: &Context<'_>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        granularity: Granularity,
        channel_id: Option<ID>,
        #[graphql(default_with = "MetricsGroupBy::Channel")] group_by: MetricsGroupBy,
    ) -> ApiResult<Vec<MetricsBucket>> {
        let a = actor(ctx)?;
        let channel = opt_uuid(channel_id, "channel")
            .map_err(|_| worker::Error::invalid("channelId", "NOT_FOUND", "no such channel in this account"))?;
        let q = stats::MetricsQuery {
            from,
            to,
            granularity: match granularity {
                Granularity::FifteenMinutes => stats::Granularity::FifteenMinutes,
                Granularity::Hour => stats::Granularity::Hour,
                Granularity::Day => stats::Granularity::Day,
            },
            channel_id: channel,
            group_by: match group_by {
                MetricsGroupBy::Channel => stats::GroupBy::Channel,
                MetricsGroupBy::Agent => stats::GroupBy::Agent,
                MetricsGroupBy::WrapUpCode => stats::GroupBy::WrapUpCode,
            },
        };
        Ok(engine(ctx)?.queue_metrics(a, &q).await?.into_iter().map(|b| MetricsBucket(b, group_by)).collect())
    }

    /// The caller's account.
    async fn account(&self, ctx: &Context<'_>) -> ApiResult<Account> {
        Ok(Account(engine(ctx)?.account(actor(ctx)?).await?))
    }
}

#[derive(Default)]
pub struct StatsMutation;

#[Object]
impl StatsMutation {
    /// Admins: a channel's service level (target, short abandons, abandon policy).
    async fn set_channel_service_level(
        &self,
        ctx: &Context<'_>,
        channel_id: ID,
        input: ServiceLevelInput,
    ) -> ApiResult<Channel> {
        let sl = ServiceLevelSettings {
            target_seconds: input.target_seconds,
            short_abandon_seconds: input.short_abandon_seconds,
            abandon_policy: input.abandon_policy.into(),
        };
        Ok(Channel(engine(ctx)?.set_service_level(actor(ctx)?, uuid(&channel_id, "channel")?, sl).await?))
    }

    /// Admins: a channel's queue messages to waiting clients. Waits that already started keep their timers.
    async fn set_channel_queue_messages(
        &self,
        ctx: &Context<'_>,
        channel_id: ID,
        input: QueueMessagesInput,
    ) -> ApiResult<Channel> {
        let id = uuid(&channel_id, "channel")?;
        Ok(Channel(engine(ctx)?.set_queue_messages(actor(ctx)?, id, input.into()).await?))
    }

    /// Admins: the account's IANA time zone (`Europe/Madrid`), where "today", local hours and days begin.
    async fn set_account_time_zone(&self, ctx: &Context<'_>, time_zone: String) -> ApiResult<Account> {
        Ok(Account(engine(ctx)?.set_time_zone(actor(ctx)?, &time_zone).await?))
    }
}
