//! Live events: what agent desktops and supervisor screens watch.
//!
//! - **Appending** ([`Uow`]): every watched state change runs in a unit of work, a write transaction that
//!   collects the events of the change and appends them when it commits. The account's cursors are allocated
//!   from its `event_counters` row as the last statements before `COMMIT` (the row lock then lasts only for the
//!   commit, and orders the commits of one account's event-writing transactions), so cursors increase in commit
//!   order: a reader that has seen cursor N never later finds a committed event below N, and the committed
//!   events of an account are always a gap-free run.
//! - **Publishing** ([`Bus`]): after the commit, the process wakes its tailer and (PostgreSQL) a small notifier
//!   sends `NOTIFY live_events` outside the hot transaction, carrying only `account:cursor`. Each process that
//!   serves subscriptions runs one tailer: woken in-process, by the NOTIFY of any process, or every second
//!   (the safety net, which also covers a listener that lost its connection), it reads the accounts' counters
//!   and hands each new event, in cursor order, to the subscribers of its audience only (an agent's own
//!   streams, the account's channel streams), through a small bounded queue each.
//! - **Reading** ([`Bus::stream`]): a subscriber registers first, then reads its backlog from the database, then
//!   follows its queue, skipping what it already passed. When its queue was full (a slow consumer), the events
//!   that did not fit are dropped and the subscriber is marked: it reads the database again from its last cursor.
//!   Memory per subscriber is bounded by its queue; a slow one delays nobody else. A reader's database steps
//!   run as tasks of their own ([`crate::db::detached`]): the reader is polled only when its subscriber's
//!   connection gets to it, and a pooled connection must never wait on that.

mod uow;

pub use uow::{NewEvent, Uow};

use crate::Result;
use chrono::{DateTime, Utc};
use entity::{EventKind, channel_agent, event_counter, live_event};
use futures::Stream;
use sea_orm::{ColumnTrait, DatabaseBackend, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::{Notify, mpsc};
use uuid::Uuid;

/// The NOTIFY channel: the payload is `account:cursor`, a wake-up only (readers catch up by cursor).
pub const CHANNEL: &str = "live_events";
/// How many events a subscriber's queue holds before it must catch up from the database.
pub const SUBSCRIBER_QUEUE: usize = 256;
/// The tailer's safety poll.
pub const SAFETY_POLL: Duration = Duration::from_secs(1);
/// Events read per database round trip.
const PAGE: u64 = 500;
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(24 * 3600);
pub const DEFAULT_PRESENCE_GRACE: Duration = Duration::from_secs(60);

/// Live settings (configuration).
#[derive(Debug, Clone, Copy)]
pub struct LiveSettings {
    /// How long events are kept for replay (`APP_LIVE_RETENTION_SECS`).
    pub retention: Duration,
    /// How long an agent may have no desktop connection before going OFFLINE (`APP_PRESENCE_GRACE_SECS`).
    pub presence_grace: Duration,
}

impl Default for LiveSettings {
    fn default() -> Self {
        Self { retention: DEFAULT_RETENTION, presence_grace: DEFAULT_PRESENCE_GRACE }
    }
}

/// Who a stream is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// An agent's own stream (`myEvents`).
    Agent(Uuid),
    /// A supervisor's or admin's channel stream (`channelEvents`), one channel or the whole account.
    Staff(Option<Uuid>),
}

/// What a stream yields.
#[derive(Debug, Clone)]
pub enum Delivery {
    Event(Arc<live_event::Model>),
    /// The reader's cursor is older than the retention (or not one of this account's): reload, then carry on
    /// from `cursor`.
    Resync {
        cursor: i64,
        at: DateTime<Utc>,
    },
}

/// The process's live event hub.
pub struct Bus {
    db: DatabaseConnection,
    pub settings: LiveSettings,
    subscribers: Mutex<Subscribers>,
    /// Wakes the tailer.
    tail: Notify,
    /// Accounts committed since the notifier last ran (PostgreSQL), with their last cursor.
    pending: Mutex<HashMap<Uuid, i64>>,
    notify: Notify,
    tailer: OnceLock<()>,
    notifier: OnceLock<()>,
    /// This process's desktop connections.
    pub presence: Presence,
}

impl Bus {
    pub fn new(db: DatabaseConnection, settings: LiveSettings) -> Self {
        Self {
            db,
            settings,
            subscribers: Mutex::default(),
            tail: Notify::new(),
            pending: Mutex::default(),
            notify: Notify::new(),
            tailer: OnceLock::new(),
            notifier: OnceLock::new(),
            presence: Presence::default(),
        }
    }

    /// Called after a unit of work committed events of `account` up to `cursor`.
    pub(crate) fn committed(self: &Arc<Self>, account: Uuid, cursor: i64) {
        self.tail.notify_one();
        if self.db.get_database_backend() == DatabaseBackend::Postgres {
            if let Ok(mut p) = self.pending.lock() {
                let e = p.entry(account).or_insert(cursor);
                *e = (*e).max(cursor);
            }
            self.notifier.get_or_init(|| {
                tokio::spawn(notifier(self.clone()));
            });
            self.notify.notify_one();
        }
    }

    fn ensure_tailer(self: &Arc<Self>) {
        self.tailer.get_or_init(|| {
            tokio::spawn(tailer(self.clone()));
            if self.db.get_database_backend() == DatabaseBackend::Postgres {
                tokio::spawn(listener(self.clone()));
            }
        });
    }

    /// The account's last cursor and the last one pruned.
    async fn counter(&self, account: Uuid) -> Result<(i64, i64)> {
        Ok(event_counter::Entity::find_by_id(account)
            .one(&self.db)
            .await?
            .map_or((0, 0), |c| (c.last_seq, c.pruned_through)))
    }

    /// The next events of the account after `after`: all of them (the tailer), or those an audience may see
    /// (a reader catching up reads its own, not the whole account's).
    async fn page(&self, account: Uuid, after: i64, audience: Option<Audience>) -> Result<Vec<live_event::Model>> {
        let mut q = live_event::Entity::find()
            .filter(live_event::Column::AccountId.eq(account))
            .filter(live_event::Column::Seq.gt(after));
        q = match audience {
            None => q,
            Some(Audience::Agent(u)) => q.filter(live_event::Column::UserId.eq(u)),
            Some(Audience::Staff(_)) => q.filter(live_event::Column::Staff.eq(true)),
        };
        Ok(q.order_by_asc(live_event::Column::Seq).limit(PAGE).all(&self.db).await?)
    }

    /// Whether `ev` is for `audience` (channel streams also get the status changes of agents on the channel's
    /// list). Its query runs [`crate::db::detached`], as every database step of a reader does: a reader is polled
    /// by its subscriber's connection, which may be busy elsewhere.
    async fn visible(&self, audience: Audience, ev: &live_event::Model) -> Result<bool> {
        Ok(match audience {
            Audience::Agent(u) => ev.user_id == Some(u),
            Audience::Staff(None) => ev.staff,
            Audience::Staff(Some(c)) if ev.staff && ev.channel_id == Some(c) => true,
            Audience::Staff(Some(c)) if ev.staff && ev.channel_id.is_none() => match ev.agent_id {
                Some(agent) if ev.kind == EventKind::AgentStatusChanged => {
                    let db = self.db.clone();
                    crate::db::detached(async move {
                        Ok(channel_agent::Entity::find()
                            .filter(channel_agent::Column::ChannelId.eq(c))
                            .filter(channel_agent::Column::UserId.eq(agent))
                            .one(&db)
                            .await?
                            .is_some())
                    })
                    .await?
                }
                _ => false,
            },
            Audience::Staff(Some(_)) => false,
        })
    }

    /// The events of `account` that `audience` may see, after `after` (or from now), in cursor order, then
    /// live, with no gap and no duplicate. A cursor older than the retention (or not of this account) starts
    /// with [`Delivery::Resync`].
    pub fn stream(
        self: &Arc<Self>,
        account: Uuid,
        audience: Audience,
        after: Option<i64>,
    ) -> impl Stream<Item = Result<Delivery>> + Send + 'static {
        self.ensure_tailer();
        // Registered before anything is read: whatever the tailer hands out from now on is on this queue, and
        // whatever it handed out before was committed, so the backlog read below finds it.
        let (rx, lagged, registration) = self.register(account, audience);
        let bus = self.clone();
        futures::stream::unfold(
            Reader {
                bus,
                account,
                audience,
                rx,
                lagged,
                _registration: registration,
                after,
                last: None,
                caught_up: false,
                backlog: std::collections::VecDeque::new(),
            },
            |mut r| async move {
                match r.next().await {
                    Ok(Some(d)) => Some((Ok(d), r)),
                    Ok(None) => None,
                    Err(e) => Some((Err(e), r)),
                }
            },
        )
    }
}

/// One subscriber's queue.
struct Subscriber {
    id: u64,
    tx: mpsc::Sender<Arc<live_event::Model>>,
    lagged: Arc<AtomicBool>,
}

/// The subscribers of this process, by what they listen to.
#[derive(Default)]
struct Subscribers {
    next: u64,
    /// Agents' own streams, by user.
    agents: HashMap<Uuid, Vec<Subscriber>>,
    /// Channel streams, by account.
    staff: HashMap<Uuid, Vec<Subscriber>>,
}

/// Removes its subscriber when the stream is dropped.
struct Registration {
    bus: Arc<Bus>,
    key: (bool, Uuid),
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Ok(mut subs) = self.bus.subscribers.lock() {
            let map = if self.key.0 { &mut subs.agents } else { &mut subs.staff };
            if let Some(list) = map.get_mut(&self.key.1) {
                list.retain(|s| s.id != self.id);
                if list.is_empty() {
                    map.remove(&self.key.1);
                }
            }
        }
    }
}

impl Bus {
    fn register(
        self: &Arc<Self>,
        account: Uuid,
        audience: Audience,
    ) -> (mpsc::Receiver<Arc<live_event::Model>>, Arc<AtomicBool>, Registration) {
        let (tx, rx) = mpsc::channel(SUBSCRIBER_QUEUE);
        let lagged = Arc::new(AtomicBool::new(false));
        let key = match audience {
            Audience::Agent(u) => (true, u),
            Audience::Staff(_) => (false, account),
        };
        let mut id = 0;
        if let Ok(mut subs) = self.subscribers.lock() {
            subs.next += 1;
            id = subs.next;
            let map = if key.0 { &mut subs.agents } else { &mut subs.staff };
            map.entry(key.1).or_default().push(Subscriber { id, tx, lagged: lagged.clone() });
        }
        (rx, lagged, Registration { bus: self.clone(), key, id })
    }

    /// Hands committed events, in cursor order, to the subscribers of their audience.
    fn dispatch(&self, events: Vec<live_event::Model>) {
        let Ok(subs) = self.subscribers.lock() else { return };
        for ev in events {
            let ev = Arc::new(ev);
            let agents = ev.user_id.and_then(|u| subs.agents.get(&u)).into_iter().flatten();
            let staff = subs.staff.get(&ev.account_id).filter(|_| ev.staff).into_iter().flatten();
            for s in agents.chain(staff) {
                if let Err(mpsc::error::TrySendError::Full(_)) = s.tx.try_send(ev.clone()) {
                    s.lagged.store(true, Ordering::SeqCst);
                }
            }
        }
    }
}

struct Reader {
    bus: Arc<Bus>,
    account: Uuid,
    audience: Audience,
    rx: mpsc::Receiver<Arc<live_event::Model>>,
    /// Set by the tailer when an event did not fit in the queue.
    lagged: Arc<AtomicBool>,
    _registration: Registration,
    after: Option<i64>,
    /// The last cursor passed (delivered or not for this audience); None until started.
    last: Option<i64>,
    /// Whether the database has nothing after `last` that the queue will not bring.
    caught_up: bool,
    backlog: std::collections::VecDeque<live_event::Model>,
}

impl Reader {
    async fn start(&mut self) -> Result<Option<Delivery>> {
        let (bus, account) = (self.bus.clone(), self.account);
        let (head, pruned) = crate::db::detached(async move { bus.counter(account).await }).await?;
        match self.after {
            Some(a) if a < pruned || a > head => {
                self.last = Some(head);
                self.caught_up = true;
                Ok(Some(Delivery::Resync { cursor: head, at: Utc::now() }))
            }
            Some(a) => {
                self.last = Some(a);
                self.caught_up = a == head;
                Ok(None)
            }
            None => {
                self.last = Some(head);
                self.caught_up = true;
                Ok(None)
            }
        }
    }

    async fn next(&mut self) -> Result<Option<Delivery>> {
        if self.last.is_none()
            && let Some(resync) = self.start().await?
        {
            return Ok(Some(resync));
        }
        loop {
            if let Some(ev) = self.backlog.pop_front() {
                if let Some(d) = self.pass(Arc::new(ev)).await? {
                    return Ok(Some(d));
                }
                continue;
            }
            let last = self.last.unwrap_or(0);
            if !self.caught_up {
                let (bus, account, audience) = (self.bus.clone(), self.account, self.audience);
                let page = crate::db::detached(async move { bus.page(account, last, Some(audience)).await }).await?;
                self.caught_up = (page.len() as u64) < PAGE;
                self.backlog.extend(page);
                continue;
            }
            let Some(ev) = self.rx.recv().await else { return Ok(None) };
            if self.lagged.swap(false, Ordering::SeqCst) {
                // Something did not fit: the database has it (and this one), from where this reader is.
                self.caught_up = false;
                continue;
            }
            if ev.seq <= last {
                continue;
            }
            if let Some(d) = self.pass(ev).await? {
                return Ok(Some(d));
            }
        }
    }

    async fn pass(&mut self, ev: Arc<live_event::Model>) -> Result<Option<Delivery>> {
        if ev.seq <= self.last.unwrap_or(0) {
            return Ok(None);
        }
        self.last = Some(ev.seq);
        Ok(self.bus.visible(self.audience, &ev).await?.then_some(Delivery::Event(ev)))
    }
}

/// Publishes committed events in cursor order, per account; woken in-process, by NOTIFY, or every second.
async fn tailer(bus: Arc<Bus>) {
    let mut heads: Option<HashMap<Uuid, i64>> = None;
    loop {
        match tail_once(&bus, &mut heads).await {
            Ok(()) => {}
            Err(e) => tracing::warn!(error = ?e, "live tailer pass failed; retrying"),
        }
        tokio::select! {
            _ = bus.tail.notified() => {}
            _ = tokio::time::sleep(SAFETY_POLL) => {}
        }
    }
}

async fn tail_once(bus: &Bus, heads: &mut Option<HashMap<Uuid, i64>>) -> Result<()> {
    let counters: Vec<(Uuid, i64)> = event_counter::Entity::find()
        .select_only()
        .column(event_counter::Column::AccountId)
        .column(event_counter::Column::LastSeq)
        .into_tuple()
        .all(&bus.db)
        .await?;
    let Some(known) = heads.as_mut() else {
        // Started: publish from now on (subscribers read what came before themselves).
        *heads = Some(counters.into_iter().collect());
        return Ok(());
    };
    for (account, last) in counters {
        let head = known.entry(account).or_insert(0);
        while *head < last {
            let page = bus.page(account, *head, None).await?;
            let Some(end) = page.last().map(|e| e.seq) else { break };
            bus.dispatch(page);
            *head = end;
        }
    }
    Ok(())
}

/// Sends one NOTIFY per account that committed events since it last ran (PostgreSQL), outside the
/// transactions that appended them.
async fn notifier(bus: Arc<Bus>) {
    use sea_orm::{ConnectionTrait, Statement};
    loop {
        bus.notify.notified().await;
        let pending: Vec<(Uuid, i64)> = match bus.pending.lock() {
            Ok(mut p) => p.drain().collect(),
            Err(_) => continue,
        };
        for (account, cursor) in pending {
            let stmt = Statement::from_sql_and_values(
                DatabaseBackend::Postgres,
                "SELECT pg_notify($1, $2)",
                [CHANNEL.into(), format!("{account}:{cursor}").into()],
            );
            if let Err(e) = bus.db.execute_raw(stmt).await {
                // Subscribers elsewhere get it on their next safety poll.
                tracing::warn!(error = %e, "live NOTIFY failed");
            }
        }
    }
}

/// Wakes the tailer on every NOTIFY of any process; reconnects after a lost connection and catches up at once
/// (what was notified meanwhile is read by cursor).
async fn listener(bus: Arc<Bus>) {
    let pool = bus.db.get_postgres_connection_pool().clone();
    loop {
        let mut listener = match apalis_postgres::PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "cannot open the live event listener; retrying");
                tokio::time::sleep(SAFETY_POLL).await;
                continue;
            }
        };
        if let Err(e) = listener.listen(CHANNEL).await {
            tracing::warn!(error = %e, "cannot LISTEN for live events; retrying");
            tokio::time::sleep(SAFETY_POLL).await;
            continue;
        }
        bus.tail.notify_one();
        loop {
            match listener.try_recv().await {
                Ok(Some(_)) => bus.tail.notify_one(),
                // The connection was lost (and is re-established by the next call): catch up by cursor.
                Ok(None) => {
                    tracing::warn!("live event listener reconnected; catching up");
                    bus.tail.notify_one();
                }
                Err(e) => {
                    tracing::warn!(error = %e, "live event listener lost; reconnecting");
                    break;
                }
            }
        }
    }
}

impl crate::store::Store {
    /// Deletes the events older than the retention, a gap-free prefix per account, and records how far each
    /// account was pruned (readers behind it get RESYNC_REQUIRED). Returns how many were deleted.
    pub async fn prune_events(&self) -> Result<u64> {
        let cutoff = Utc::now() - chrono::Duration::seconds(self.live.settings.retention.as_secs() as i64);
        let old: Vec<(Uuid, Option<i64>)> = live_event::Entity::find()
            .select_only()
            .column(live_event::Column::AccountId)
            .column_as(live_event::Column::Seq.max(), "max_seq")
            .filter(live_event::Column::At.lt(cutoff))
            .group_by(live_event::Column::AccountId)
            .into_tuple()
            .all(&self.db)
            .await?;
        let mut deleted = 0;
        for (account, through) in old {
            let Some(through) = through else { continue };
            let txn = self.begin_uow().await?;
            event_counter::Entity::update_many()
                .col_expr(event_counter::Column::PrunedThrough, sea_orm::sea_query::Expr::value(through))
                .filter(event_counter::Column::AccountId.eq(account))
                .filter(event_counter::Column::PrunedThrough.lt(through))
                .exec(&txn)
                .await?;
            let r = live_event::Entity::delete_many()
                .filter(live_event::Column::AccountId.eq(account))
                .filter(live_event::Column::Seq.lte(through))
                .exec(&txn)
                .await?;
            let _nothing_to_distribute = txn.commit().await?;
            deleted += r.rows_affected;
        }
        if deleted > 0 {
            tracing::info!(deleted, "live events pruned");
        }
        Ok(deleted)
    }
}

/// This process's open desktop connections (presence, in the ACD layer, keeps them and acts on them).
#[derive(Default)]
pub struct Presence {
    pub(crate) open: Mutex<HashSet<Uuid>>,
    pub(crate) heartbeat: OnceLock<()>,
}

/// How often a process refreshes its connections: a third of the grace, at most every 10 s.
pub fn heartbeat_interval(grace: Duration) -> Duration {
    (grace / 3).clamp(Duration::from_millis(200), Duration::from_secs(10))
}

/// The cursor as clients see it.
pub fn cursor_string(seq: i64) -> String {
    seq.to_string()
}

/// Parses a client's cursor.
pub fn parse_cursor(raw: &str) -> Option<i64> {
    raw.trim().parse::<i64>().ok().filter(|n| *n >= 0)
}
