//! Supervisor statistics, live and historical, all computed from queue stints (`queue_stints`) and assignments
//! (`conversation_offers`) with the agents' and conversations' current state: there is no counter of its own.
//!
//! Historical figures are sums grouped by 15-minute slot (`ended_slot`, written when a stint or an assignment
//! ends), so a figure belongs to the bucket of the event that ends it. Buckets follow the account's time zone:
//! local hours and days are whole numbers of slots, and a range that crosses a change of offset is read in
//! segments of equal bucket length. Today's live figures are the same computation over today's one bucket.

use super::Acd;
use super::policy::{AgentLoad, ChannelRule, eligible};
use super::stints::{SLOT_SECONDS, slot};
use crate::clock::db_now;
use crate::{Error, Result, actor::Actor};
use chrono::{DateTime, Duration, Timelike, Utc};
use chrono_tz::Tz;
use entity::{
    AbandonPolicy, AgentStatus, BusyKind, ConversationStatus, ConversationSubstatus, account, agent_state, channel,
    channel_agent, conversation, user,
};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter, QuerySelect, Statement};
use std::collections::{BTreeMap, HashMap, HashSet};
use uuid::Uuid;

/// The longest range at FIFTEEN_MINUTES, and at the coarser granularities.
pub const MAX_DAYS_FIFTEEN_MINUTES: i64 = 92;
pub const MAX_DAYS_HOUR: i64 = 366;
pub const MAX_DAYS_DAY: i64 = 1830;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    FifteenMinutes,
    Hour,
    Day,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupBy {
    Channel,
    Agent,
    WrapUpCode,
}

/// A sum of durations and how many were summed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Total {
    pub sum_ms: i64,
    pub count: i64,
}

impl Total {
    fn add(&mut self, o: Total) {
        self.sum_ms += o.sum_ms;
        self.count += o.count;
    }

    /// The average in seconds (none when nothing was counted).
    pub fn average_seconds(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum_ms as f64 / self.count as f64 / 1000.0)
    }
}

/// The figures of one bucket. Every ratio keeps its numerator and denominator, so buckets add up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Figures {
    /// Waits that ended: answered + abandoned + transferred.
    pub offered: i64,
    pub answered: i64,
    pub abandoned: i64,
    pub short_abandoned: i64,
    pub transferred: i64,
    pub answered_within_target: i64,
    /// The service level's numerator (answered within target) and denominator (by the abandon policy).
    pub service_level_numerator: i64,
    pub service_level_denominator: i64,
    pub speed_of_answer: Total,
    pub wait_time: Total,
    pub handle_time: Total,
    pub after_call_work: Total,
    /// |estimate - real wait| of answered waits that were given an estimate.
    pub estimate_error: Total,
    pub rejected: i64,
    pub timed_out: i64,
}

impl Figures {
    fn add(&mut self, o: &Figures) {
        self.offered += o.offered;
        self.answered += o.answered;
        self.abandoned += o.abandoned;
        self.short_abandoned += o.short_abandoned;
        self.transferred += o.transferred;
        self.answered_within_target += o.answered_within_target;
        self.service_level_numerator += o.service_level_numerator;
        self.service_level_denominator += o.service_level_denominator;
        self.speed_of_answer.add(o.speed_of_answer);
        self.wait_time.add(o.wait_time);
        self.handle_time.add(o.handle_time);
        self.after_call_work.add(o.after_call_work);
        self.estimate_error.add(o.estimate_error);
        self.rejected += o.rejected;
        self.timed_out += o.timed_out;
    }

    /// The service level as a fraction (none when the denominator is 0).
    pub fn service_level(&self) -> Option<f64> {
        (self.service_level_denominator > 0)
            .then(|| self.service_level_numerator as f64 / self.service_level_denominator as f64)
    }
}

/// The service level's denominator under a policy.
pub fn service_level_denominator(policy: AbandonPolicy, answered: i64, abandoned: i64, short: i64) -> i64 {
    match policy {
        AbandonPolicy::CountAsMissed => answered + abandoned,
        AbandonPolicy::Exclude => answered,
        AbandonPolicy::ExcludeShort => answered + abandoned - short,
    }
}

/// One bucket of one group.
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// The channel, agent or wrap-up code (none: abandoned waits have no agent, conversations no code).
    pub key: Option<Uuid>,
    /// The abandon policy its service level used; none when it combines channels with different policies.
    pub policy: Option<AbandonPolicy>,
    pub figures: Figures,
}

#[derive(Debug, Clone)]
pub struct MetricsQuery {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub granularity: Granularity,
    pub channel_id: Option<Uuid>,
    pub group_by: GroupBy,
}

/// The account's time zone (UTC when unset or unknown).
pub async fn account_zone<C: ConnectionTrait>(db: &C, account_id: Uuid) -> Result<Tz> {
    let a = account::Entity::find_by_id(account_id).one(db).await?;
    Ok(a.and_then(|a| a.time_zone.parse::<Tz>().ok()).unwrap_or(Tz::UTC))
}

/// Whether a slot's start is a bucket boundary in the zone.
fn is_boundary(slot: i64, g: Granularity, tz: Tz) -> bool {
    let Some(at) = DateTime::<Utc>::from_timestamp(slot * SLOT_SECONDS, 0) else { return false };
    let local = at.with_timezone(&tz);
    match g {
        Granularity::FifteenMinutes => true,
        Granularity::Hour => local.minute() == 0,
        Granularity::Day => local.minute() == 0 && local.hour() == 0,
    }
}

/// The bucket boundaries (as slots) covering `[from, to)`: `from` rounded down and `to` up to a boundary.
fn boundaries(from: DateTime<Utc>, to: DateTime<Utc>, g: Granularity, tz: Tz) -> Vec<i64> {
    let mut s = slot(from);
    // A day is at most 100 slots (25 hours).
    for _ in 0..200 {
        if is_boundary(s, g, tz) {
            break;
        }
        s -= 1;
    }
    let end = slot(to) + i64::from(slot(to) * SLOT_SECONDS < to.timestamp() || to.timestamp_subsec_nanos() > 0);
    let mut out = vec![s];
    let mut cur = s;
    while out.last().is_some_and(|l| *l < end) || out.len() < 2 {
        cur += 1;
        if is_boundary(cur, g, tz) {
            out.push(cur);
        }
        if cur - s > 400_000 {
            break;
        }
    }
    out
}

/// Consecutive buckets of equal length: `(index of the first bucket, base slot, slots per bucket, buckets)`.
fn segments(b: &[i64]) -> Vec<(usize, i64, i64, usize)> {
    let mut out: Vec<(usize, i64, i64, usize)> = Vec::new();
    for i in 0..b.len().saturating_sub(1) {
        let k = b[i + 1] - b[i];
        match out.last_mut() {
            Some(last) if last.2 == k => last.3 += 1,
            _ => out.push((i, b[i], k, 1)),
        }
    }
    out
}

fn to_time(slot: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(slot * SLOT_SECONDS, 0).unwrap_or_default()
}

/// One row of the grouped reads: `(bucket index, channel, key)`.
type Cell = (usize, Uuid, Option<Uuid>);

/// Figures per `(bucket index, key)`, with the abandon policies their service levels used.
type Cells = BTreeMap<(usize, Option<Uuid>), (Figures, HashSet<AbandonPolicy>)>;

fn big(expr: &str) -> String {
    format!("CAST(COALESCE({expr}, 0) AS BIGINT)")
}

fn count_if(cond: &str) -> String {
    big(&format!("SUM(CASE WHEN {cond} THEN 1 ELSE 0 END)"))
}

impl Acd {
    /// `queueMetrics`: the historical figures in buckets of the account's time zone, per channel, agent or
    /// wrap-up code.
    pub async fn queue_metrics(&self, actor: &Actor, q: &MetricsQuery) -> Result<Vec<Bucket>> {
        actor.require_staff()?;
        if q.from > q.to {
            return Err(Error::invalid("to", "BEFORE_FROM", "must not be before from"));
        }
        let (limit, name) = match q.granularity {
            Granularity::FifteenMinutes => (MAX_DAYS_FIFTEEN_MINUTES, "FIFTEEN_MINUTES"),
            Granularity::Hour => (MAX_DAYS_HOUR, "HOUR"),
            Granularity::Day => (MAX_DAYS_DAY, "DAY"),
        };
        if q.to - q.from > Duration::days(limit) {
            return Err(Error::invalid("to", "RANGE_TOO_LONG", format!("at most {limit} days at {name}")));
        }
        if let Some(id) = q.channel_id {
            let found = channel::Entity::find_by_id(id)
                .filter(channel::Column::AccountId.eq(actor.account_id))
                .one(&self.db)
                .await?;
            if found.is_none() {
                return Err(Error::invalid("channelId", "NOT_FOUND", "no such channel in this account"));
            }
        }
        let tz = account_zone(&self.db, actor.account_id).await?;
        self.metrics(&self.db, actor.account_id, q, tz).await
    }

    /// The figures of `[from, to)` in buckets (`from`/`to` rounded out to whole buckets), every bucket listed for
    /// every group that has figures in the range.
    pub(crate) async fn metrics<C: ConnectionTrait>(
        &self,
        db: &C,
        account_id: Uuid,
        q: &MetricsQuery,
        tz: Tz,
    ) -> Result<Vec<Bucket>> {
        let channels: HashMap<Uuid, AbandonPolicy> = channel::Entity::find()
            .select_only()
            .column(channel::Column::Id)
            .column(channel::Column::SlAbandonPolicy)
            .filter(channel::Column::AccountId.eq(account_id))
            .into_tuple::<(Uuid, AbandonPolicy)>()
            .all(db)
            .await?
            .into_iter()
            .collect();
        let bounds = boundaries(q.from, q.to, q.granularity, tz);
        let mut cells = Cells::new();
        for (first, base, k, n) in segments(&bounds) {
            self.add_cells(db, account_id, q, &channels, (first, base, k, base + k * n as i64), &mut cells).await?;
        }
        Ok(cells
            .into_iter()
            .filter(|((i, _), _)| i + 1 < bounds.len())
            .map(|((i, key), (figures, policies))| Bucket {
                start: to_time(bounds[i]),
                end: to_time(bounds[i + 1]),
                key,
                policy: if policies.len() == 1 { policies.into_iter().next() } else { None },
                figures,
            })
            .collect())
    }

    /// Adds the figures of the buckets `base + k*i .. base + k*(i+1)` below `hi` to `cells`, as buckets
    /// `first + i`, with the abandon policy each channel's service level used.
    async fn add_cells<C: ConnectionTrait>(
        &self,
        db: &C,
        account_id: Uuid,
        q: &MetricsQuery,
        channels: &HashMap<Uuid, AbandonPolicy>,
        (first, base, k, hi): (usize, i64, i64, i64),
        cells: &mut Cells,
    ) -> Result<()> {
        for (cell, f) in self.stint_cells(db, account_id, q, base, k, hi).await? {
            let (b, ch, key) = cell;
            let policy = channels.get(&ch).copied().unwrap_or(AbandonPolicy::CountAsMissed);
            let mut f = f;
            f.service_level_denominator = service_level_denominator(policy, f.answered, f.abandoned, f.short_abandoned);
            let e = cells.entry((first + b, key)).or_default();
            e.0.add(&f);
            e.1.insert(policy);
        }
        for ((b, _, key), f) in self.offer_cells(db, account_id, q, base, k, hi).await? {
            cells.entry((first + b, key)).or_default().0.add(&f);
        }
        Ok(())
    }

    async fn stint_cells<C: ConnectionTrait>(
        &self,
        db: &C,
        account_id: Uuid,
        q: &MetricsQuery,
        base: i64,
        k: i64,
        hi: i64,
    ) -> Result<Vec<(Cell, Figures)>> {
        let (key, join) = match q.group_by {
            GroupBy::Channel => ("s.channel_id", ""),
            GroupBy::Agent => ("s.answered_by", ""),
            GroupBy::WrapUpCode => ("cv.wrap_up_code_id", " JOIN conversations cv ON cv.id = s.conversation_id"),
        };
        let answered = "s.outcome = 'ANSWERED'";
        let estimated = "s.outcome = 'ANSWERED' AND s.estimate_seconds IS NOT NULL";
        let sql = format!(
            "SELECT (s.ended_slot - $2) / $3 AS b, s.channel_id AS ch, {key} AS k, \
             COUNT(*) AS ended, {answered_n} AS answered, {abandoned} AS abandoned, {short} AS short, \
             {transferred} AS transferred, {within} AS within, {answer_ms} AS answer_ms, \
             {wait_ms} AS wait_ms, {err_ms} AS err_ms, {err_n} AS err_n \
             FROM queue_stints s JOIN channels c ON c.id = s.channel_id{join} \
             WHERE s.account_id = $1 AND s.ended_slot >= $2 AND s.ended_slot < $4{filter} \
             GROUP BY 1, 2, 3",
            answered_n = count_if(answered),
            abandoned = count_if("s.outcome = 'ABANDONED'"),
            short = count_if("s.outcome = 'ABANDONED' AND s.wait_ms < c.sl_short_abandon_seconds * 1000"),
            transferred = count_if("s.outcome = 'TRANSFERRED'"),
            within = count_if("s.outcome = 'ANSWERED' AND s.wait_ms <= c.sl_target_seconds * 1000"),
            answer_ms = big(&format!("SUM(CASE WHEN {answered} THEN s.wait_ms ELSE 0 END)")),
            wait_ms = big("SUM(s.wait_ms)"),
            err_ms =
                big(&format!("SUM(CASE WHEN {estimated} THEN ABS(s.estimate_seconds * 1000 - s.wait_ms) ELSE 0 END)")),
            err_n = count_if(estimated),
            filter = if q.channel_id.is_some() { " AND s.channel_id = $5" } else { "" },
        );
        let rows = self.grouped(db, &sql, account_id, q.channel_id, base, k, hi).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let cell = cell_of(&r)?;
            let get = |c: &str| -> Result<i64> { Ok(r.try_get::<i64>("", c)?) };
            let answered = get("answered")?;
            let within = get("within")?;
            let f = Figures {
                offered: get("ended")?,
                answered,
                abandoned: get("abandoned")?,
                short_abandoned: get("short")?,
                transferred: get("transferred")?,
                answered_within_target: within,
                service_level_numerator: within,
                service_level_denominator: 0,
                speed_of_answer: Total { sum_ms: get("answer_ms")?, count: answered },
                wait_time: Total { sum_ms: get("wait_ms")?, count: get("ended")? },
                estimate_error: Total { sum_ms: get("err_ms")?, count: get("err_n")? },
                ..Default::default()
            };
            out.push((cell, f));
        }
        Ok(out)
    }

    async fn offer_cells<C: ConnectionTrait>(
        &self,
        db: &C,
        account_id: Uuid,
        q: &MetricsQuery,
        base: i64,
        k: i64,
        hi: i64,
    ) -> Result<Vec<(Cell, Figures)>> {
        let (key, join) = match q.group_by {
            GroupBy::Channel => ("o.channel_id", ""),
            GroupBy::Agent => ("o.user_id", ""),
            GroupBy::WrapUpCode => ("cv.wrap_up_code_id", " JOIN conversations cv ON cv.id = o.conversation_id"),
        };
        let sql = format!(
            "SELECT (o.ended_slot - $2) / $3 AS b, o.channel_id AS ch, {key} AS k, \
             {rejected} AS rejected, {expired} AS expired, {handle} AS handle_ms, COUNT(o.handle_ms) AS handle_n, \
             {acw} AS acw_ms, COUNT(o.after_call_work_ms) AS acw_n \
             FROM conversation_offers o{join} \
             WHERE o.account_id = $1 AND o.ended_slot >= $2 AND o.ended_slot < $4 AND o.channel_id IS NOT NULL{filter} \
             GROUP BY 1, 2, 3",
            rejected = count_if("o.outcome = 'REJECTED'"),
            expired = count_if("o.outcome = 'EXPIRED'"),
            handle = big("SUM(o.handle_ms)"),
            acw = big("SUM(o.after_call_work_ms)"),
            filter = if q.channel_id.is_some() { " AND o.channel_id = $5" } else { "" },
        );
        let rows = self.grouped(db, &sql, account_id, q.channel_id, base, k, hi).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let cell = cell_of(&r)?;
            let get = |c: &str| -> Result<i64> { Ok(r.try_get::<i64>("", c)?) };
            let f = Figures {
                rejected: get("rejected")?,
                timed_out: get("expired")?,
                handle_time: Total { sum_ms: get("handle_ms")?, count: get("handle_n")? },
                after_call_work: Total { sum_ms: get("acw_ms")?, count: get("acw_n")? },
                ..Default::default()
            };
            out.push((cell, f));
        }
        Ok(out)
    }

    #[allow(clippy::too_many_arguments)]
    async fn grouped<C: ConnectionTrait>(
        &self,
        db: &C,
        sql: &str,
        account_id: Uuid,
        channel_id: Option<Uuid>,
        base: i64,
        k: i64,
        hi: i64,
    ) -> Result<Vec<sea_orm::QueryResult>> {
        let mut values: Vec<sea_orm::Value> = vec![account_id.into(), base.into(), k.into(), hi.into()];
        if let Some(c) = channel_id {
            values.push(c.into());
        }
        Ok(db.query_all_raw(Statement::from_sql_and_values(db.get_database_backend(), sql, values)).await?)
    }
}

fn cell_of(r: &sea_orm::QueryResult) -> Result<Cell> {
    let b: i64 = r.try_get("", "b")?;
    let ch: Uuid = r.try_get("", "ch")?;
    let k: Option<Uuid> = r.try_get("", "k")?;
    Ok((usize::try_from(b).unwrap_or(0), ch, k))
}

/// How many ONLINE agents of a channel are free, per busy kind, and so on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentCounts {
    pub online: i64,
    /// ONLINE with room for one more conversation of the channel.
    pub available: i64,
    /// BUSY agents per kind and reason.
    pub busy: BTreeMap<(BusyKindKey, Option<Uuid>), i64>,
    pub offline: i64,
}

/// A busy kind as a sortable key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum BusyKindKey {
    System,
    NotResponding,
    Reason,
}

impl From<BusyKind> for BusyKindKey {
    fn from(k: BusyKind) -> Self {
        match k {
            BusyKind::System => Self::System,
            BusyKind::NotResponding => Self::NotResponding,
            BusyKind::Reason => Self::Reason,
        }
    }
}

/// A channel's live figures.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueStats {
    pub channel_id: Uuid,
    pub at: DateTime<Utc>,
    /// Open stints in the queue (IN_QUEUE) and ringing (ALERTING).
    pub waiting: i64,
    pub alerting: i64,
    /// The start of the oldest wait not answered yet (in the queue or ringing).
    pub longest_waiting_since: Option<DateTime<Utc>>,
    pub agents: AgentCounts,
    pub interacting: i64,
    pub on_hold: i64,
    pub after_call_work: i64,
    /// Today's figures (the account's time zone).
    pub today: Figures,
    pub today_start: DateTime<Utc>,
    pub policy: AbandonPolicy,
}

/// An agent's live figures.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentStats {
    pub user_id: Uuid,
    pub status: AgentStatus,
    pub busy_kind: Option<BusyKind>,
    pub busy_reason_id: Option<Uuid>,
    pub since: Option<DateTime<Utc>>,
    pub utilization: i32,
    pub held: i64,
    /// Today's waits they answered, offers they rejected or let time out, and handle time.
    pub answered: i64,
    pub rejected: i64,
    pub timed_out: i64,
    pub handle_time: Total,
}

/// What every agent holds now: utilization and conversations per channel.
async fn loads<C: ConnectionTrait>(db: &C, account_id: Uuid) -> Result<HashMap<Uuid, AgentLoad>> {
    let held: Vec<(Option<Uuid>, Uuid, Option<i32>)> = conversation::Entity::find()
        .select_only()
        .column(conversation::Column::AssignedUserId)
        .column(conversation::Column::ChannelId)
        .column(conversation::Column::AssignmentCost)
        .filter(conversation::Column::AccountId.eq(account_id))
        .filter(conversation::Column::Status.eq(ConversationStatus::Open))
        .filter(conversation::Column::Substatus.is_in(ConversationSubstatus::HELD))
        .into_tuple()
        .all(db)
        .await?;
    let mut out: HashMap<Uuid, AgentLoad> = HashMap::new();
    for (user, ch, cost) in held {
        let Some(u) = user else { continue };
        let a = out.entry(u).or_insert_with(|| AgentLoad {
            user_id: u,
            utilization: 0,
            held: HashMap::new(),
            last_assigned_at: None,
        });
        a.utilization += cost.unwrap_or(0);
        *a.held.entry(ch).or_insert(0) += 1;
    }
    Ok(out)
}

/// The start of the account's day containing `now`.
fn day_start(now: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
    let b = boundaries(now, now, Granularity::Day, tz);
    to_time(b[0])
}

/// How long after a slot's end no unit of work can still be writing a figure into it: a figure's slot is its
/// unit of work's clock when it ends the stint or assignment, and units of work last milliseconds.
const SLOT_SETTLED: Duration = Duration::minutes(2);

/// The settings a channel's figures are computed with: `(channel, abandon policy, target s, short abandon s)`.
type Settings = Vec<(Uuid, AbandonPolicy, i32, i32)>;

/// What grouping of an account's today figures a cache entry holds.
type DayKey = (Uuid, GroupBy, Option<Uuid>);

/// Today's figures of an account's finished slots, per grouping: the live figures (every wallboard's snapshot,
/// every `queueStats`) then read only the slots since, not the whole day. The same sums as `queueMetrics`,
/// memoized, not a second counter: a slot's figures never change once the slot is settled (every stint and
/// assignment is written whole, with its slot, by the unit of work that ends it, and none is deleted), and an
/// entry is only used for the same day and the same channel settings it was read with. Each process keeps its
/// own; a new day or changed settings start the entry again.
#[derive(Default)]
pub struct DayCache {
    days: std::sync::Mutex<HashMap<DayKey, Day>>,
}

#[derive(Clone)]
struct Day {
    start: i64,
    settings: Settings,
    /// The slots `start..upto` are in `cells`.
    upto: i64,
    cells: Cells,
}

impl DayCache {
    fn get(&self, key: &DayKey, start: i64, settings: &Settings) -> Option<(i64, Cells)> {
        let days = self.days.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        days.get(key).filter(|d| d.start == start && &d.settings == settings).map(|d| (d.upto, d.cells.clone()))
    }

    fn put(&self, key: DayKey, day: Day) {
        let mut days = self.days.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Another request may have read further meanwhile: keep the entry that covers more.
        let keep =
            days.get(&key).is_some_and(|d| d.start == day.start && d.settings == day.settings && d.upto >= day.upto);
        if !keep {
            days.insert(key, day);
        }
    }
}

impl Acd {
    /// Today's figures (the account's day containing `now`) per channel or agent: what `metrics` gives for
    /// today's one DAY bucket, with the settled slots taken from the [`DayCache`].
    async fn today(
        &self,
        account_id: Uuid,
        channel_id: Option<Uuid>,
        group_by: GroupBy,
        tz: Tz,
        now: DateTime<Utc>,
    ) -> Result<HashMap<Option<Uuid>, Figures>> {
        let db = &self.db;
        let mut settings: Settings = channel::Entity::find()
            .select_only()
            .column(channel::Column::Id)
            .column(channel::Column::SlAbandonPolicy)
            .column(channel::Column::SlTargetSeconds)
            .column(channel::Column::SlShortAbandonSeconds)
            .filter(channel::Column::AccountId.eq(account_id))
            .into_tuple()
            .all(db)
            .await?;
        settings.sort_by_key(|s| s.0);
        let policies: HashMap<Uuid, AbandonPolicy> = settings.iter().map(|(id, p, _, _)| (*id, *p)).collect();
        let b = boundaries(now, now, Granularity::Day, tz);
        let (start, end) = (b[0], b[b.len() - 1]);
        let settled = slot(now - SLOT_SETTLED).clamp(start, end);
        let q = MetricsQuery { from: now, to: now, granularity: Granularity::Day, channel_id, group_by };
        let key = (account_id, group_by, channel_id);
        let (mut upto, mut cells) = self.days.get(&key, start, &settings).unwrap_or((start, Cells::new()));
        if upto < settled {
            self.add_cells(db, account_id, &q, &policies, (0, upto, settled - upto, settled), &mut cells).await?;
            upto = settled;
            self.days.put(key, Day { start, settings, upto, cells: cells.clone() });
        }
        if upto < end {
            self.add_cells(db, account_id, &q, &policies, (0, upto, end - upto, end), &mut cells).await?;
        }
        Ok(cells.into_iter().map(|((_, key), (f, _))| (key, f)).collect())
    }
}

impl Acd {
    /// `queueStats`: the live figures of one channel, or of every live channel of the account.
    pub async fn queue_stats(&self, actor: &Actor, channel_id: Option<Uuid>) -> Result<Vec<QueueStats>> {
        actor.require_staff()?;
        let db = &self.db;
        let mut q = channel::Entity::find()
            .filter(channel::Column::AccountId.eq(actor.account_id))
            .filter(channel::Column::DeletedAt.is_null());
        if let Some(id) = channel_id {
            q = q.filter(channel::Column::Id.eq(id));
        }
        let channels = q.all(db).await?;
        if let (Some(_), true) = (channel_id, channels.is_empty()) {
            return Err(Error::invalid("channelId", "NOT_FOUND", "no such channel in this account"));
        }
        let now = db_now(db).await?;
        let tz = account_zone(db, actor.account_id).await?;
        let backend = db.get_database_backend();

        // Open stints per channel and the oldest start, from the partial index of open stints alone (a join to
        // every waiting conversation for its substatus costs a lookup per waiting client); then the few of them
        // whose offer rings.
        let sql = "SELECT channel_id AS ch, COUNT(*) AS n, MIN(started_at) AS oldest FROM queue_stints \
                   WHERE account_id = $1 AND ended_at IS NULL GROUP BY channel_id";
        let rows = db.query_all_raw(Statement::from_sql_and_values(backend, sql, [actor.account_id.into()])).await?;
        let mut waiting: HashMap<Uuid, (i64, i64, Option<DateTime<Utc>>)> = HashMap::new();
        for r in rows {
            let ch: Uuid = r.try_get("", "ch")?;
            let n: i64 = r.try_get("", "n")?;
            waiting.insert(ch, (n, 0, oldest_of(&r, backend)?));
        }
        let sql = "SELECT s.channel_id AS ch, COUNT(*) AS n FROM conversations cv \
                   JOIN queue_stints s ON s.conversation_id = cv.id AND s.ended_at IS NULL \
                   WHERE cv.account_id = $1 AND cv.status = 'OPEN' AND cv.substatus = 'ALERTING' GROUP BY s.channel_id";
        let rows = db.query_all_raw(Statement::from_sql_and_values(backend, sql, [actor.account_id.into()])).await?;
        for r in rows {
            let ch: Uuid = r.try_get("", "ch")?;
            let n: i64 = r.try_get("", "n")?;
            if let Some(e) = waiting.get_mut(&ch) {
                e.0 -= n;
                e.1 += n;
            }
        }

        // Conversations being worked, per channel and substatus.
        let worked: Vec<(Uuid, Option<ConversationSubstatus>, i64)> = conversation::Entity::find()
            .select_only()
            .column(conversation::Column::ChannelId)
            .column(conversation::Column::Substatus)
            .column_as(conversation::Column::Id.count(), "n")
            .filter(conversation::Column::AccountId.eq(actor.account_id))
            .filter(conversation::Column::Status.eq(ConversationStatus::Open))
            .filter(conversation::Column::Substatus.is_in([
                ConversationSubstatus::Interacting,
                ConversationSubstatus::Hold,
                ConversationSubstatus::AfterCallWork,
            ]))
            .group_by(conversation::Column::ChannelId)
            .group_by(conversation::Column::Substatus)
            .into_tuple()
            .all(db)
            .await?;

        // Agents: each channel's list with their state and load.
        let ids: Vec<Uuid> = channels.iter().map(|c| c.id).collect();
        let links: Vec<(Uuid, Uuid)> = channel_agent::Entity::find()
            .select_only()
            .column(channel_agent::Column::ChannelId)
            .column(channel_agent::Column::UserId)
            .filter(channel_agent::Column::ChannelId.is_in(ids.iter().copied()))
            .into_tuple()
            .all(db)
            .await?;
        let states: HashMap<Uuid, agent_state::Model> = agent_state::Entity::find()
            .filter(agent_state::Column::AccountId.eq(actor.account_id))
            .all(db)
            .await?
            .into_iter()
            .map(|s| (s.user_id, s))
            .collect();
        let loads = loads(db, actor.account_id).await?;

        let today_start = day_start(now, tz);
        let today = self.today(actor.account_id, None, GroupBy::Channel, tz, now).await?;

        let mut out = Vec::with_capacity(channels.len());
        for ch in &channels {
            let rule = ChannelRule {
                cost: ch.utilization,
                limit: ch.auto_assignment_limit,
                auto_answer: ch.auto_answer,
                members: HashSet::new(),
            };
            let mut agents = AgentCounts::default();
            for (_, u) in links.iter().filter(|(c, _)| *c == ch.id) {
                match states.get(u) {
                    Some(s) if s.status == AgentStatus::Online => {
                        agents.online += 1;
                        let empty =
                            AgentLoad { user_id: *u, utilization: 0, held: HashMap::new(), last_assigned_at: None };
                        if eligible(loads.get(u).unwrap_or(&empty), ch.id, &rule) {
                            agents.available += 1;
                        }
                    }
                    Some(s) if s.status == AgentStatus::Busy => {
                        let kind = s.busy_kind.map(BusyKindKey::from).unwrap_or(BusyKindKey::System);
                        *agents.busy.entry((kind, s.busy_reason_id)).or_insert(0) += 1;
                    }
                    _ => agents.offline += 1,
                }
            }
            let (w, a, oldest) = waiting.get(&ch.id).copied().unwrap_or_default();
            let count = |sub: ConversationSubstatus| {
                worked.iter().filter(|(c, s, _)| *c == ch.id && *s == Some(sub)).map(|(_, _, n)| n).sum::<i64>()
            };
            out.push(QueueStats {
                channel_id: ch.id,
                at: now,
                waiting: w,
                alerting: a,
                longest_waiting_since: oldest,
                agents,
                interacting: count(ConversationSubstatus::Interacting),
                on_hold: count(ConversationSubstatus::Hold),
                after_call_work: count(ConversationSubstatus::AfterCallWork),
                today: today.get(&Some(ch.id)).cloned().unwrap_or_default(),
                today_start,
                policy: ch.sl_abandon_policy,
            });
        }
        Ok(out)
    }

    /// `agentStats`: every agent and supervisor of the account (or of one channel's list), live, with today's
    /// figures (of that channel only, when one is given).
    pub async fn agent_stats(&self, actor: &Actor, channel_id: Option<Uuid>) -> Result<Vec<AgentStats>> {
        actor.require_staff()?;
        let db = &self.db;
        let mut users = user::Entity::find()
            .filter(user::Column::AccountId.eq(actor.account_id))
            .filter(user::Column::Active.eq(true))
            .filter(user::Column::Role.is_in([entity::Role::Agent, entity::Role::Supervisor]));
        if let Some(id) = channel_id {
            let found =
                channel::Entity::find_by_id(id).filter(channel::Column::AccountId.eq(actor.account_id)).one(db).await?;
            if found.is_none() {
                return Err(Error::invalid("channelId", "NOT_FOUND", "no such channel in this account"));
            }
            users = users.filter(
                user::Column::Id.in_subquery(
                    sea_orm::sea_query::Query::select()
                        .column(channel_agent::Column::UserId)
                        .from(channel_agent::Entity)
                        .and_where(channel_agent::Column::ChannelId.eq(id))
                        .to_owned(),
                ),
            );
        }
        let users = users.all(db).await?;
        let states: HashMap<Uuid, agent_state::Model> = agent_state::Entity::find()
            .filter(agent_state::Column::AccountId.eq(actor.account_id))
            .all(db)
            .await?
            .into_iter()
            .map(|s| (s.user_id, s))
            .collect();
        let loads = loads(db, actor.account_id).await?;
        let now = db_now(db).await?;
        let tz = account_zone(db, actor.account_id).await?;
        let today = self.today(actor.account_id, channel_id, GroupBy::Agent, tz, now).await?;
        let mut out: Vec<AgentStats> = users
            .iter()
            .map(|u| {
                let s = states.get(&u.id);
                let load = loads.get(&u.id);
                let f = today.get(&Some(u.id)).cloned().unwrap_or_default();
                AgentStats {
                    user_id: u.id,
                    status: s.map_or(AgentStatus::Offline, |s| s.status),
                    busy_kind: s.and_then(|s| s.busy_kind),
                    busy_reason_id: s.and_then(|s| s.busy_reason_id),
                    since: s.map(|s| s.since),
                    utilization: load.map_or(0, |l| l.utilization),
                    held: load.map_or(0, |l| l.held.values().map(|n| i64::from(*n)).sum()),
                    answered: f.answered,
                    rejected: f.rejected,
                    timed_out: f.timed_out,
                    handle_time: f.handle_time,
                }
            })
            .collect();
        out.sort_by_key(|a| a.user_id);
        Ok(out)
    }
}

/// `MIN(started_at)` as a time (SQLite returns the stored text).
fn oldest_of(r: &sea_orm::QueryResult, backend: DatabaseBackend) -> Result<Option<DateTime<Utc>>> {
    if backend == DatabaseBackend::Postgres {
        return Ok(r.try_get("", "oldest")?);
    }
    let text: Option<String> = r.try_get("", "oldest")?;
    Ok(text.and_then(|t| {
        DateTime::parse_from_rfc3339(&t)
            .or_else(|_| DateTime::parse_from_str(&t, "%Y-%m-%d %H:%M:%S%.f%:z"))
            .ok()
            .map(|d| d.with_timezone(&Utc))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).map(|d| d.with_timezone(&Utc)).unwrap_or_default()
    }

    #[test]
    fn hours_in_a_half_hour_zone_start_at_half_past_utc() {
        let tz: Tz = "Asia/Kolkata".parse().unwrap_or(Tz::UTC);
        let b = boundaries(at("2026-12-04T10:10:00Z"), at("2026-12-04T12:00:00Z"), Granularity::Hour, tz);
        let times: Vec<String> = b.iter().map(|s| to_time(*s).format("%H:%M").to_string()).collect();
        assert_eq!(times, ["09:30", "10:30", "11:30", "12:30"]);
    }

    #[test]
    fn a_day_that_changes_offset_is_its_own_segment() {
        let tz: Tz = "Europe/Madrid".parse().unwrap_or(Tz::UTC);
        // 2026-03-29 is 23 hours long in Madrid.
        let b = boundaries(at("2026-03-27T12:00:00Z"), at("2026-03-31T12:00:00Z"), Granularity::Day, tz);
        let s = segments(&b);
        let lengths: Vec<(i64, usize)> = s.iter().map(|(_, _, k, n)| (*k, *n)).collect();
        assert_eq!(lengths, [(96, 2), (92, 1), (96, 2)]);
        assert_eq!(to_time(b[0]), at("2026-03-26T23:00:00Z"));
    }

    #[test]
    fn a_moment_gives_its_one_bucket() {
        let b = boundaries(at("2026-12-04T10:10:00Z"), at("2026-12-04T10:10:00Z"), Granularity::Day, Tz::UTC);
        assert_eq!(
            b.iter().map(|s| to_time(*s)).collect::<Vec<_>>(),
            [at("2026-12-04T00:00:00Z"), at("2026-12-05T00:00:00Z")]
        );
    }

    #[test]
    fn the_abandon_policies() {
        assert_eq!(service_level_denominator(AbandonPolicy::CountAsMissed, 10, 4, 1), 14);
        assert_eq!(service_level_denominator(AbandonPolicy::Exclude, 10, 4, 1), 10);
        assert_eq!(service_level_denominator(AbandonPolicy::ExcludeShort, 10, 4, 1), 13);
    }
}
