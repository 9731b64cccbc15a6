//! The sweeper loop of a worker process: every layer's passes over its deadlines and queues, on one clock. Each
//! pass belongs to its layer (the ACD's deadlines and queues, chatbots' deadlines, presence, the event log); this
//! loop only schedules them.

use crate::Engine;
use std::time::Duration;

/// How often the sweeper looks for passed deadlines: a deadline fires at most this late (plus the work).
pub const SWEEP_INTERVAL: Duration = Duration::from_millis(250);
/// How often the sweeper re-runs distribution for accounts with waiting conversations and ONLINE agents.
pub const REDISTRIBUTE_EVERY: u32 = 8;
/// Presence is swept every second.
pub const PRESENCE_EVERY: u32 = 4;
/// Live events are pruned every minute (and on the first pass).
pub const PRUNE_EVERY: u32 = 240;

/// The sweeper loop of a worker process; ends with the process (the runtime aborts it on shutdown).
pub async fn sweep_forever(engine: Engine) {
    let mut tick = tokio::time::interval(SWEEP_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut pass: u32 = 0;
    loop {
        tick.tick().await;
        pass = pass.wrapping_add(1);
        if let Err(e) = engine.sweep_deadlines().await {
            tracing::warn!(error = ?e, "deadline sweep failed; next pass retries");
        }
        if let Err(e) = engine.sweep_chatbot_deadlines().await {
            tracing::warn!(error = ?e, "chatbot deadline sweep failed; next pass retries");
        }
        if pass.is_multiple_of(REDISTRIBUTE_EVERY)
            && let Err(e) = engine.sweep_queues().await
        {
            tracing::warn!(error = ?e, "queue sweep failed; next pass retries");
        }
        if pass.is_multiple_of(PRESENCE_EVERY)
            && let Err(e) = engine.sweep_presence().await
        {
            tracing::warn!(error = ?e, "presence sweep failed; next pass retries");
        }
        if pass % PRUNE_EVERY == 1
            && let Err(e) = engine.prune_events().await
        {
            tracing::warn!(error = ?e, "live event pruning failed; next pass retries");
        }
    }
}
