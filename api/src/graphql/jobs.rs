//! Background jobs for admins: the account's failed jobs with a retry, and re-verification of every number on
//! demand. A job is the account's when the object it concerns is (see `worker::runtime::admin`).

use super::enums::JobStatus;
use super::error::ApiResult;
use super::{actor, engine};
use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};
use worker::runtime::admin::JobRecord;

/// A background job.
pub struct Job(JobRecord);

#[Object]
impl Job {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// The job type: `verify_number`, `send_message` or `process_webhook`.
    #[graphql(name = "type")]
    async fn job_type(&self) -> &str {
        &self.0.queue
    }
    /// The type of the object the job concerns: `PhoneNumber`, `Message` or `WebhookDelivery`.
    async fn object_type(&self) -> &str {
        self.0.object_type
    }
    /// The id of the object the job concerns.
    async fn object_id(&self) -> ID {
        ID(self.0.object_id.to_string())
    }
    async fn status(&self) -> JobStatus {
        self.0.state.into()
    }
    /// Runs so far (a run cut short by a dead worker counts too).
    async fn attempts(&self) -> i32 {
        i32::try_from(self.0.attempts).unwrap_or(i32::MAX)
    }
    async fn max_attempts(&self) -> i32 {
        i32::try_from(self.0.max_attempts).unwrap_or(i32::MAX)
    }
    /// Why the last run failed (database details stay in the worker logs).
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }
    /// When the last run ended: for a failed job, when it failed.
    async fn finished_at(&self) -> Option<DateTime<Utc>> {
        self.0.finished_at
    }
}

const DEFAULT_FAILED_JOBS: i32 = 50;

#[derive(Default)]
pub struct JobsQuery;

#[Object]
impl JobsQuery {
    /// The account's jobs that failed for good (attempts exhausted), most recent first (admins).
    #[graphql(complexity = "first.unwrap_or(DEFAULT_FAILED_JOBS).clamp(0, 200) as usize * child_complexity")]
    async fn failed_jobs(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 50, desc = "How many, 0 to 200 (default 50).")] first: Option<i32>,
    ) -> ApiResult<Vec<Job>> {
        let first = first.unwrap_or(DEFAULT_FAILED_JOBS);
        let jobs = engine(ctx)?.failed_jobs(actor(ctx)?, i64::from(first)).await?;
        Ok(jobs.into_iter().map(Job).collect())
    }
}

#[derive(Default)]
pub struct JobsMutation;

#[Object]
impl JobsMutation {
    /// Queues a failed job again, with its attempts reset, to run now (admins). CONFLICT when it has not failed
    /// for good (it is still running or retrying, or was retried already).
    async fn retry_job(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Job> {
        Ok(Job(engine(ctx)?.retry_job(actor(ctx)?, id.as_str()).await?))
    }

    /// Re-verifies every active number of the caller's account now, as the scheduled batch does (admins): each
    /// becomes PENDING and its check is queued, spread over time per provider `apiUrl`. Numbers already being
    /// verified are skipped. Returns how many were queued.
    async fn reverify_all_numbers(&self, ctx: &Context<'_>) -> ApiResult<i32> {
        let queued = engine(ctx)?.reverify_all_numbers(actor(ctx)?).await?;
        Ok(i32::try_from(queued).unwrap_or(i32::MAX))
    }
}
