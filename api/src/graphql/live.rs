//! Live events over GraphQL subscriptions: `myEvents` (an agent's own stream) and `channelEvents` (supervisors
//! and admins). Each event carries its cursor; subscribing with `after` replays what followed it, then goes on
//! live. The objects an event concerns are resolved at delivery with the subscriber's permissions.

use super::conversations::{Conversation, Message};
use super::enums::{LiveEventKind, LiveEventReason, QueueStatsUpdateKind};
use super::error::{ApiError, ApiResult};
use super::stats::QueueStatsUpdate;
use super::types::{PhoneNumber, User};
use super::{actor, engine, loaders, uuid};
use async_graphql::{Context, ID, Object, Subscription};
use chrono::{DateTime, Utc};
use entity::live_event;
use futures::{Stream, StreamExt};
use std::sync::Arc;
use uuid::Uuid;
use worker::live::{Audience, Delivery, cursor_string, parse_cursor};

/// Something that happened, as a live event.
pub struct LiveEvent(Delivery);

impl LiveEvent {
    fn event(&self) -> Option<&Arc<live_event::Model>> {
        match &self.0 {
            Delivery::Event(e) => Some(e),
            Delivery::Resync { .. } => None,
        }
    }

    fn id_of(&self, f: impl Fn(&live_event::Model) -> Option<Uuid>) -> Option<ID> {
        self.event().and_then(|e| f(e)).map(|id| ID(id.to_string()))
    }
}

#[Object]
impl LiveEvent {
    /// Pass it as `after` when subscribing again to receive what followed this event.
    async fn cursor(&self) -> String {
        match &self.0 {
            Delivery::Event(e) => cursor_string(e.seq),
            Delivery::Resync { cursor, .. } => cursor_string(*cursor),
        }
    }
    async fn kind(&self) -> LiveEventKind {
        match &self.0 {
            Delivery::Event(e) => e.kind.into(),
            Delivery::Resync { .. } => LiveEventKind::ResyncRequired,
        }
    }
    /// When it happened (on the server's clock: compare `deadline` with this, not with the desktop's clock).
    async fn at(&self) -> DateTime<Utc> {
        match &self.0 {
            Delivery::Event(e) => e.at,
            Delivery::Resync { at, .. } => *at,
        }
    }
    async fn reason(&self) -> Option<LiveEventReason> {
        self.event().and_then(|e| e.reason).map(Into::into)
    }
    /// OFFERED: when the offer stops ringing.
    async fn deadline(&self) -> Option<DateTime<Utc>> {
        self.event().and_then(|e| e.deadline)
    }
    async fn conversation_id(&self) -> Option<ID> {
        self.id_of(|e| e.conversation_id)
    }
    async fn message_id(&self) -> Option<ID> {
        self.id_of(|e| e.message_id)
    }
    /// The agent it concerns (offers, assignments, withdrawals, status changes).
    async fn agent_id(&self) -> Option<ID> {
        self.id_of(|e| e.agent_id)
    }
    async fn phone_number_id(&self) -> Option<ID> {
        self.id_of(|e| e.phone_number_id)
    }
    async fn channel_id(&self) -> Option<ID> {
        self.id_of(|e| e.channel_id)
    }
    /// The conversation as it is now, when the subscriber may still see it (null once it was taken away).
    async fn conversation(&self, ctx: &Context<'_>) -> ApiResult<Option<Conversation>> {
        let Some(id) = self.event().and_then(|e| e.conversation_id) else { return Ok(None) };
        loaders(ctx)?.clear();
        Ok(engine(ctx)?.conversation_view(actor(ctx)?, id).await.ok().map(Conversation))
    }
    async fn message(&self, ctx: &Context<'_>) -> ApiResult<Option<Message>> {
        let Some(id) = self.event().and_then(|e| e.message_id) else { return Ok(None) };
        Ok(engine(ctx)?.message(actor(ctx)?, id).await.ok().map(|(m, u)| Message(m, u)))
    }
    async fn agent(&self, ctx: &Context<'_>) -> ApiResult<Option<User>> {
        let Some(id) = self.event().and_then(|e| e.agent_id) else { return Ok(None) };
        loaders(ctx)?.clear();
        Ok(engine(ctx)?.user(actor(ctx)?, id).await.ok().map(User))
    }
    async fn phone_number(&self, ctx: &Context<'_>) -> ApiResult<Option<PhoneNumber>> {
        let Some(id) = self.event().and_then(|e| e.phone_number_id) else { return Ok(None) };
        Ok(engine(ctx)?.phone_number(actor(ctx)?, id).await.ok().map(PhoneNumber))
    }
}

fn after_cursor(after: Option<String>) -> ApiResult<Option<i64>> {
    match after {
        None => Ok(None),
        Some(raw) => parse_cursor(&raw).map(Some).ok_or_else(|| {
            ApiError::from(worker::Error::invalid("after", "INVALID_CURSOR", "must be the cursor of a LiveEvent"))
        }),
    }
}

/// Ends the stream after its first error (the client resubscribes with `after`).
fn events(
    s: impl Stream<Item = worker::Result<Delivery>> + Send + 'static,
) -> impl Stream<Item = ApiResult<LiveEvent>> + Send + 'static {
    s.scan(false, |failed, item| {
        let out = if *failed {
            None
        } else {
            match item {
                Ok(d) => Some(Ok(LiveEvent(d))),
                Err(e) => {
                    tracing::error!(error = ?e, "live stream failed; the client resumes with `after`");
                    *failed = true;
                    Some(Err(ApiError::from(e)))
                }
            }
        };
        futures::future::ready(out)
    })
}

/// A subscription's events.
pub type LiveStream = std::pin::Pin<Box<dyn Stream<Item = ApiResult<LiveEvent>> + Send>>;

#[derive(Default)]
pub struct Subscription;

#[Subscription]
impl Subscription {
    /// The caller's own stream: offers (with their deadline), assignments, withdrawals, messages and delivery
    /// statuses of their conversations, their own status changes. With `after`, every event after that cursor
    /// first, in order, then live ones.
    async fn my_events(&self, ctx: &Context<'_>, after: Option<String>) -> Result<LiveStream, ApiError> {
        let actor = *actor(ctx)?;
        let after = after_cursor(after)?;
        let engine = engine(ctx)?;
        Ok(Box::pin(events(engine.live.stream(actor.account_id, Audience::Agent(actor.user_id), after))))
    }

    /// Supervisors and admins: a channel's events (all the account's channels when `channelId` is omitted):
    /// queue changes, offers and assignments, conversation state changes, messages, agent status changes (of
    /// the channel's agents) and number verification results.
    async fn channel_events(
        &self,
        ctx: &Context<'_>,
        channel_id: Option<ID>,
        after: Option<String>,
    ) -> Result<LiveStream, ApiError> {
        let actor = *actor(ctx)?;
        actor.require_staff()?;
        let engine = engine(ctx)?;
        let channel = match channel_id {
            Some(id) => Some(engine.channel(&actor, uuid(&id, "channel")?).await?.id),
            None => None,
        };
        let after = after_cursor(after)?;
        Ok(Box::pin(events(engine.live.stream(actor.account_id, Audience::Staff(channel), after))))
    }

    /// Supervisors and admins, for wallboards: a SNAPSHOT of `queueStats` (one channel, or every channel) at
    /// once, then a new SNAPSHOT at most once a second when something happened in those channels, and a
    /// HEARTBEAT after 15 seconds without one.
    async fn queue_stats_changed(
        &self,
        ctx: &Context<'_>,
        channel_id: Option<ID>,
    ) -> Result<std::pin::Pin<Box<dyn Stream<Item = ApiResult<QueueStatsUpdate>> + Send>>, ApiError> {
        let actor = *actor(ctx)?;
        actor.require_staff()?;
        let engine = engine(ctx)?.clone();
        let channel = match channel_id {
            Some(id) => Some(engine.channel(&actor, uuid(&id, "channel")?).await?.id),
            None => None,
        };
        let changes = engine.live.stream(actor.account_id, Audience::Staff(channel), None);
        Ok(Box::pin(queue_stats_stream(engine, actor, channel, Box::pin(changes))))
    }
}

/// The most often a wallboard gets a new snapshot, and how long it goes without any message.
const SNAPSHOT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
const HEARTBEAT_EVERY: std::time::Duration = std::time::Duration::from_secs(15);

type Changes = std::pin::Pin<Box<dyn Stream<Item = worker::Result<Delivery>> + Send>>;

/// Snapshots when the channels' events say something changed (coalesced to one a second), heartbeats when
/// nothing did. Ends after the first error (the client subscribes again).
fn queue_stats_stream(
    engine: worker::Engine,
    actor: worker::actor::Actor,
    channel: Option<Uuid>,
    changes: Changes,
) -> impl Stream<Item = ApiResult<QueueStatsUpdate>> + Send {
    struct State {
        engine: worker::Engine,
        actor: worker::actor::Actor,
        channel: Option<Uuid>,
        changes: Changes,
        last: Option<tokio::time::Instant>,
        dirty: bool,
        done: bool,
    }
    let state = State { engine, actor, channel, changes, last: None, dirty: true, done: false };
    futures::stream::unfold(state, |mut st| async move {
        if st.done {
            return None;
        }
        loop {
            let now = tokio::time::Instant::now();
            let due = match (st.last, st.dirty) {
                (None, _) => now,
                (Some(l), true) => l + SNAPSHOT_EVERY,
                (Some(l), false) => l + HEARTBEAT_EVERY,
            };
            tokio::select! {
                change = st.changes.next() => match change {
                    Some(Ok(_)) => st.dirty = true,
                    Some(Err(e)) => {
                        st.done = true;
                        return Some((Err(ApiError::from(e)), st));
                    }
                    None => return None,
                },
                _ = tokio::time::sleep_until(due) => {
                    st.last = Some(tokio::time::Instant::now());
                    if !st.dirty {
                        let beat = QueueStatsUpdate { kind: QueueStatsUpdateKind::Heartbeat, at: Utc::now(), stats: vec![] };
                        return Some((Ok(beat), st));
                    }
                    st.dirty = false;
                    return match st.engine.queue_stats(&st.actor, st.channel).await {
                        Ok(stats) => {
                            let at = stats.first().map_or_else(Utc::now, |s| s.at);
                            Some((Ok(QueueStatsUpdate { kind: QueueStatsUpdateKind::Snapshot, at, stats }), st))
                        }
                        Err(e) => {
                            st.done = true;
                            Some((Err(ApiError::from(e)), st))
                        }
                    };
                }
            }
        }
    })
}
