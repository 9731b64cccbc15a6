//! Failed jobs are never silent. Every job runs inside `JobLayer`, which enforces the job's timeout, turns a
//! panic into an ordinary failure, and reports each failure: a warning while apalis still has attempts left, and
//! once they are exhausted an error log line (queue, task id, attempts, cause chain) plus the process counter
//! `jobs_failed_total{queue}` on `/metrics`. The message apalis stores as the job's last result is the one admins
//! read through `failedJobs`, so it is written for them: database errors are summarised (details stay in the
//! logs), everything else keeps its first line.
//!
//! The failed jobs themselves stay in apalis' table (`Jobs` on SQLite, `apalis.jobs` on PostgreSQL) until
//! `retryJob` re-queues them; `admin.rs` reads them per account.

use crate::Error;
use apalis::prelude::{BoxDynError, Layer, Service, Status, Task};
use futures::FutureExt;
use futures::future::BoxFuture;
use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

static FAILED: Mutex<BTreeMap<&'static str, u64>> = Mutex::new(BTreeMap::new());

fn failed() -> MutexGuard<'static, BTreeMap<&'static str, u64>> {
    FAILED.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Jobs of `queue` that failed for good in this process since it started.
pub fn failed_total(queue: &str) -> u64 {
    failed().get(queue).copied().unwrap_or(0)
}

/// The counter in Prometheus text format, one line per queue this process runs.
pub fn metrics_text() -> String {
    let mut out = String::from(
        "# HELP jobs_failed_total Jobs that failed for good (apalis attempts exhausted) in this process.\n\
         # TYPE jobs_failed_total counter\n",
    );
    for (queue, n) in failed().iter() {
        out.push_str(&format!("jobs_failed_total{{queue=\"{queue}\"}} {n}\n"));
    }
    out
}

/// The message stored with a failed job (and shown to admins as its last error).
#[derive(Debug)]
pub struct JobFailure(pub String);

impl std::fmt::Display for JobFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for JobFailure {}

/// What admins may read about an error: engine client errors as they are, internal errors by their outermost
/// message (the context the code gave them) except raw database errors, which only say "database error".
pub fn public_message(err: &(dyn std::error::Error + 'static)) -> String {
    match err.downcast_ref::<Error>() {
        Some(Error::Internal(cause)) => match cause.chain().next() {
            Some(outer) if outer.is::<sea_orm::DbErr>() || outer.is::<sea_orm::sqlx::Error>() => {
                "database error (details in the worker logs)".to_owned()
            }
            _ => cause.to_string(),
        },
        Some(other) => other.to_string(),
        None => err.to_string(),
    }
}

/// The whole cause chain on one line, for the logs.
pub fn cause_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut next = err.source();
    while let Some(e) = next {
        out.push_str(": ");
        out.push_str(&e.to_string());
        next = e.source();
    }
    out
}

/// Wraps every job run: timeout, panics, reporting. See the module docs.
#[derive(Clone, Debug)]
pub struct JobLayer {
    queue: &'static str,
    timeout: Duration,
}

impl JobLayer {
    pub fn new(queue: &'static str, timeout: Duration) -> Self {
        failed().entry(queue).or_insert(0);
        Self { queue, timeout }
    }
}

impl<S> Layer<S> for JobLayer {
    type Service = JobService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        JobService { inner, queue: self.queue, timeout: self.timeout }
    }
}

#[derive(Clone, Debug)]
pub struct JobService<S> {
    inner: S,
    queue: &'static str,
    timeout: Duration,
}

impl<S, Args> Service<Task<Args>> for JobService<S>
where
    S: Service<Task<Args>>,
    S::Future: Send + 'static,
    S::Error: Into<BoxDynError>,
    S::Response: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxDynError;
    type Future = BoxFuture<'static, Result<S::Response, BoxDynError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, task: Task<Args>) -> Self::Future {
        let ctx = task.ctx().clone();
        let (queue, timeout) = (self.queue, self.timeout);
        let run = self.inner.call(task);
        async move {
            let err: BoxDynError = match tokio::time::timeout(timeout, AssertUnwindSafe(run).catch_unwind()).await {
                Ok(Ok(Ok(response))) => return Ok(response),
                Ok(Ok(Err(e))) => e.into(),
                // apalis' lifecycle sets the status when the run returns; a panic or a timeout drops the run
                // first, which would leave the row `Running` under a live worker for ever.
                Ok(Err(panic)) => {
                    ctx.raw_status().store(Status::Failed);
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    Box::new(JobFailure(format!("the job panicked: {what}")))
                }
                Err(_) => {
                    ctx.raw_status().store(Status::Failed);
                    Box::new(JobFailure(format!("the job timed out after {timeout:?}")))
                }
            };
            let task_id = ctx.task_id().map(|id| id.to_string()).unwrap_or_default();
            let attempt = ctx.attempt();
            let max_attempts = ctx.max_attempts().unwrap_or(1);
            let status = ctx.status();
            let error = cause_chain(&*err);
            if status == Status::Killed || (status == Status::Failed && attempt >= max_attempts) {
                *failed().entry(queue).or_insert(0) += 1;
                tracing::error!(queue, task_id, attempt, max_attempts, %error, "job failed for good: attempts exhausted");
            } else {
                tracing::warn!(queue, task_id, attempt, max_attempts, %error, "job failed; it runs again");
            }
            Err(Box::new(JobFailure(public_message(&*err))) as BoxDynError)
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use apalis::prelude::TaskBuilder;

    /// A job body for the layer to wrap.
    #[derive(Clone)]
    struct Body(fn() -> BoxFuture<'static, Result<(), BoxDynError>>);

    impl Service<Task<()>> for Body {
        type Response = ();
        type Error = BoxDynError;
        type Future = BoxFuture<'static, Result<(), BoxDynError>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, _: Task<()>) -> Self::Future {
            (self.0)()
        }
    }

    /// Runs `body` once as the last of one attempt; returns the stored message and the status apalis will save.
    async fn run_last_attempt(queue: &'static str, body: Body) -> (String, Status) {
        let mut svc = JobLayer::new(queue, Duration::from_millis(50)).layer(body);
        // apalis' lifecycle layer would have counted this run already.
        let task = TaskBuilder::new(()).max_attempts(1).attempt(1).build();
        let ctx = task.ctx().clone();
        let err = svc.call(task).await.err().map(|e| e.to_string()).unwrap_or_default();
        (err, ctx.status())
    }

    #[tokio::test]
    async fn a_run_past_its_timeout_fails_and_is_counted() {
        let (err, status) = run_last_attempt(
            "test_timeout",
            Body(|| {
                async {
                    tokio::time::sleep(Duration::from_secs(10)).await;
                    Ok(())
                }
                .boxed()
            }),
        )
        .await;
        assert_eq!(err, "the job timed out after 50ms");
        assert_eq!(status, Status::Failed);
        assert_eq!(failed_total("test_timeout"), 1);
        assert!(metrics_text().contains("jobs_failed_total{queue=\"test_timeout\"} 1\n"));
    }

    #[tokio::test]
    async fn a_panicking_run_fails_instead_of_taking_the_worker_down() {
        let (err, status) = run_last_attempt("test_panic", Body(|| async { panic!("boom") }.boxed())).await;
        assert_eq!(err, "the job panicked: boom");
        assert_eq!(status, Status::Failed);
        assert_eq!(failed_total("test_panic"), 1);
    }

    #[test]
    fn public_messages_hide_database_details() {
        let db = Error::from(sea_orm::DbErr::Custom("relation \"secret\" does not exist".into()));
        assert_eq!(public_message(&db), "database error (details in the worker logs)");
        let ours = Error::Internal(anyhow::anyhow!("inner detail").context("the stored API key cannot be decrypted"));
        assert_eq!(public_message(&ours), "the stored API key cannot be decrypted");
        assert!(cause_chain(&ours).ends_with("the stored API key cannot be decrypted: inner detail"));
        assert_eq!(public_message(&Error::NotFound("phone number")), "phone number not found");
    }
}
