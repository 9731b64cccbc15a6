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

/// The stream a queue's worker polls on.
pub struct WakeStream(mpsc::Receiver<()>);

impl Stream for WakeStream {
    type Item = ();
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<()>> {
        self.0.poll_recv(cx)
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
        WakeStream(rx)
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
