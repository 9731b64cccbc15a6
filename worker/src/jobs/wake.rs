//! Wake-ups: a job due now starts when it is committed, not at the next poll. Each queue's worker listens on a
//! stream here besides its interval poll (which stays as the safety net and serves delayed jobs). Two sources
//! feed the streams:
//! - on PostgreSQL, apalis' own trigger NOTIFYs `apalis::job::insert` with the job's queue at commit for every
//!   job due now, whichever process queued it; one `LISTEN` connection per worker process forwards those;
//! - in every process, code that just committed a job due now calls [`Wakeups::wake`] (the only source on
//!   SQLite, where jobs queued by another process wait for the poll).
//!
//! A wake-up only makes the worker poll its queue; losing one (a full channel, a dropped listener connection)
//! delays a job until the next poll, never loses it.

use futures::Stream;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::mpsc;

/// The NOTIFY channel of apalis-postgres' insert trigger.
pub const CHANNEL: &str = "apalis::job::insert";

/// One wake-up channel per queue name.
#[derive(Default)]
pub struct Wakeups {
    senders: Mutex<HashMap<String, mpsc::Sender<()>>>,
}

/// The stream a queue's worker polls on: an item per wake-up, and after the last of a burst two echoes.
///
/// Why the echoes: apalis fetches from its poll loop and takes one stream item per poll, whatever it is doing. A
/// wake-up taken while a fetch is in flight is spent on that fetch, which began before the job's commit and finds
/// nothing; the worker then sleeps until the next interval poll (up to `POLL_INTERVAL`, seen as a p99 of 280 ms
/// with idle workers on PostgreSQL, where a fetch follows every acknowledgement). An echo ECHO_FIRST later, and
/// another ECHO_SECOND after that, make a fetch that starts after the stale one returned. A new wake-up re-arms
/// them, so a busy queue (woken every few milliseconds) gets no extra fetches; an idle one gets two per burst.
pub struct WakeStream {
    wakes: mpsc::Receiver<()>,
    echo: Option<Pin<Box<tokio::time::Sleep>>>,
    echoes_left: u8,
}

const ECHO_FIRST: Duration = Duration::from_millis(10);
const ECHO_SECOND: Duration = Duration::from_millis(100);

impl Stream for WakeStream {
    type Item = ();
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<()>> {
        match self.wakes.poll_recv(cx) {
            Poll::Ready(Some(())) => {
                // Polled once now so that it wakes the worker when due, even if nothing polls this stream again.
                let mut echo = Box::pin(tokio::time::sleep(ECHO_FIRST));
                let _ = echo.as_mut().poll(cx);
                self.echo = Some(echo);
                self.echoes_left = 2;
                return Poll::Ready(Some(()));
            }
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => {}
        }
        let Some(echo) = self.echo.as_mut() else { return Poll::Pending };
        if echo.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.echoes_left = self.echoes_left.saturating_sub(1);
        self.echo = None;
        if self.echoes_left > 0 {
            let mut echo = Box::pin(tokio::time::sleep(ECHO_SECOND));
            let _ = echo.as_mut().poll(cx);
            self.echo = Some(echo);
        }
        Poll::Ready(Some(()))
    }
}

impl Wakeups {
    /// The stream of a queue's wake-ups (one worker per queue and process subscribes; a later subscription
    /// replaces an earlier one, as a restarted worker's does).
    pub fn subscribe(&self, queue: &str) -> WakeStream {
        // One pending wake-up is enough: the worker then fetches everything due.
        let (tx, rx) = mpsc::channel(1);
        if let Ok(mut s) = self.senders.lock() {
            s.insert(queue.to_owned(), tx);
        }
        WakeStream { wakes: rx, echo: None, echoes_left: 0 }
    }

    /// Tells the queue's worker in this process that a job is due now (after the commit that queued it).
    pub fn wake(&self, queue: &str) {
        if let Ok(s) = self.senders.lock()
            && let Some(tx) = s.get(queue)
        {
            let _ = tx.try_send(());
        }
    }
}

/// Forwards apalis' insert notifications to the queues' wake-ups until the process ends; reconnects after a
/// lost connection (what was notified meanwhile waits for the poll).
pub async fn listen_postgres(pool: apalis_postgres::PgPool, wakeups: std::sync::Arc<Wakeups>) {
    #[derive(serde::Deserialize)]
    struct Inserted {
        job_type: String,
    }
    loop {
        let mut listener = match apalis_postgres::PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "cannot open the job notification listener; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Err(e) = listener.listen(CHANNEL).await {
            tracing::warn!(error = %e, "cannot LISTEN for job notifications; retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        tracing::info!("listening for job notifications");
        loop {
            match listener.recv().await {
                Ok(n) => match serde_json::from_str::<Inserted>(n.payload()) {
                    Ok(i) => wakeups.wake(&i.job_type),
                    Err(e) => tracing::debug!(error = %e, "unreadable job notification"),
                },
                Err(e) => {
                    tracing::warn!(error = %e, "job notification listener lost; reconnecting");
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    async fn next(s: &mut WakeStream, within: Duration) -> bool {
        matches!(tokio::time::timeout(within, s.next()).await, Ok(Some(())))
    }

    /// The contract the worker relies on: a wake-up at once, then two echoes on their own (no further wake-up),
    /// then nothing until the next wake-up, which re-arms them.
    #[tokio::test]
    async fn a_wake_up_is_followed_by_two_echoes_then_silence() {
        let w = Wakeups::default();
        let mut s = w.subscribe("q");
        assert!(!next(&mut s, Duration::from_millis(50)).await, "nothing before a wake-up");
        for round in 0..2 {
            w.wake("q");
            assert!(next(&mut s, Duration::from_secs(5)).await, "round {round}: the wake-up");
            assert!(next(&mut s, Duration::from_secs(5)).await, "round {round}: the first echo");
            assert!(next(&mut s, Duration::from_secs(5)).await, "round {round}: the second echo");
            assert!(!next(&mut s, ECHO_SECOND * 3).await, "round {round}: no third echo");
        }
    }
}
