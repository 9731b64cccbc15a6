//! Failed jobs for admins: read from apalis' own table (`Jobs` on SQLite, `apalis.jobs` on PostgreSQL) with raw
//! SQL through the sea-orm connection, and re-queued on request.
//!
//! Account isolation: a job is visible to an account's admins only when the object it concerns (named in the
//! job's JSON arguments, see `SUBJECTS`) belongs to their account; the query joins the job to that object's table
//! and filters on its `account_id`. Jobs about no account's object (the scheduled re-verification batch, which
//! spans all accounts) or about an object that no longer exists are shown to nobody through the API: they are in
//! the worker logs and counted in `jobs_failed_total`.

use super::Job;
use crate::conversations::inbound::ProcessWebhook;
use crate::conversations::outbound::SendMessage;
use crate::phone_numbers::verify::VerifyNumber;
use crate::{Engine, Error, Result, actor::Actor};
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement, Value};
use uuid::Uuid;

/// Which object a job type concerns: the JSON field of its arguments holding the object's id, and the table
/// (with an `account_id` column) the object lives in. A job type missing here is never listed to admins.
pub struct JobSubject {
    pub queue: &'static str,
    pub field: &'static str,
    pub table: &'static str,
    /// The GraphQL type name of the object.
    pub object_type: &'static str,
}

pub const SUBJECTS: &[JobSubject] = &[
    JobSubject {
        queue: VerifyNumber::SPEC.queue,
        field: "phone_number_id",
        table: "phone_numbers",
        object_type: "PhoneNumber",
    },
    JobSubject { queue: SendMessage::SPEC.queue, field: "message_id", table: "messages", object_type: "Message" },
    JobSubject {
        queue: ProcessWebhook::SPEC.queue,
        field: "delivery_id",
        table: "webhook_deliveries",
        object_type: "WebhookDelivery",
    },
];

/// Most failed jobs one request lists.
pub const MAX_FAILED_JOBS: i64 = 200;

/// apalis' task states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    Pending,
    Queued,
    Running,
    Done,
    /// Failed; it runs again while it has attempts left.
    Failed,
    /// Aborted for good.
    Killed,
}

impl JobState {
    fn parse(s: &str) -> Self {
        match s {
            "Pending" => JobState::Pending,
            "Queued" => JobState::Queued,
            "Running" => JobState::Running,
            "Done" => JobState::Done,
            "Killed" => JobState::Killed,
            _ => JobState::Failed,
        }
    }
}

/// One job as admins see it.
#[derive(Debug, Clone)]
pub struct JobRecord {
    /// apalis' task id (a ULID).
    pub id: String,
    /// The queue, i.e. the job type (`verify_number`, ...).
    pub queue: String,
    pub object_type: &'static str,
    pub object_id: Uuid,
    pub state: JobState,
    pub attempts: i64,
    pub max_attempts: i64,
    /// What the last run answered (the message `JobLayer` stored, or apalis' own, e.g. a worker that died).
    pub last_error: Option<String>,
    /// When the last run ended.
    pub finished_at: Option<DateTime<Utc>>,
}

impl JobRecord {
    /// Out of attempts (or aborted): only `retryJob` runs it again.
    pub fn failed_for_good(&self) -> bool {
        self.state == JobState::Killed || (self.state == JobState::Failed && self.attempts >= self.max_attempts)
    }
}

const FAILED_FOR_GOOD: &str = "((j.status = 'Failed' AND j.attempts >= j.max_attempts) OR j.status = 'Killed')";

/// Placeholders: `?` on SQLite, `$n` on PostgreSQL.
struct Params {
    backend: DatabaseBackend,
    values: Vec<Value>,
}

impl Params {
    fn bind(&mut self, v: impl Into<Value>) -> String {
        self.values.push(v.into());
        match self.backend {
            DatabaseBackend::Postgres => format!("${}", self.values.len()),
            _ => "?".to_owned(),
        }
    }
}

/// The SELECT over every subject's table for one account, optionally only failed-for-good jobs, optionally one id.
fn select(backend: DatabaseBackend, account: Uuid, failed_only: bool, id: Option<&str>, limit: i64) -> Statement {
    let mut p = Params { backend, values: Vec::new() };
    let parts: Vec<String> = SUBJECTS
        .iter()
        .map(|s| {
            let (from, columns) = match backend {
                DatabaseBackend::Postgres => (
                    format!(
                        "apalis.jobs j JOIN {table} o ON o.id::text = convert_from(j.job, 'UTF8')::jsonb ->> '{field}'",
                        table = s.table,
                        field = s.field
                    ),
                    "j.attempts::bigint AS attempts, j.max_attempts::bigint AS max_attempts, \
                     j.last_result::text AS last_result, EXTRACT(EPOCH FROM j.done_at)::bigint AS done_at",
                ),
                _ => (
                    // Ids are 16-byte blobs on SQLite; the JSON holds their hyphenated text.
                    format!(
                        "Jobs j JOIN {table} o ON o.id = unhex(replace(CASE WHEN json_valid(CAST(j.job AS TEXT)) \
                         THEN json_extract(CAST(j.job AS TEXT), '$.{field}') END, '-', ''))",
                        table = s.table,
                        field = s.field
                    ),
                    "j.attempts AS attempts, j.max_attempts AS max_attempts, j.last_result AS last_result, \
                     j.done_at AS done_at",
                ),
            };
            let mut sql = format!(
                "SELECT j.id AS id, j.job_type AS job_type, j.status AS status, {columns}, \
                 '{object_type}' AS object_type, o.id AS object_id FROM {from} WHERE j.job_type = {queue} \
                 AND o.account_id = {account}",
                object_type = s.object_type,
                queue = p.bind(s.queue),
                account = p.bind(account),
            );
            if failed_only {
                sql.push_str(&format!(" AND {FAILED_FOR_GOOD}"));
            }
            if let Some(id) = id {
                sql.push_str(&format!(" AND j.id = {}", p.bind(id)));
            }
            sql
        })
        .collect();
    let sql = format!("{} ORDER BY done_at DESC, id DESC LIMIT {}", parts.join(" UNION ALL "), p.bind(limit));
    Statement::from_sql_and_values(backend, sql, p.values)
}

fn record(row: &sea_orm::QueryResult) -> Result<JobRecord> {
    let object_type: String = row.try_get("", "object_type")?;
    let object_type = SUBJECTS.iter().map(|s| s.object_type).find(|t| *t == object_type).unwrap_or("Unknown");
    let last_result: Option<String> = row.try_get("", "last_result")?;
    let status: String = row.try_get("", "status")?;
    let done_at: Option<i64> = row.try_get("", "done_at")?;
    Ok(JobRecord {
        id: row.try_get("", "id")?,
        queue: row.try_get("", "job_type")?,
        object_type,
        object_id: row.try_get("", "object_id")?,
        state: JobState::parse(&status),
        attempts: row.try_get("", "attempts")?,
        max_attempts: row.try_get("", "max_attempts")?,
        last_error: last_result.map(|r| error_text(&r)),
        finished_at: done_at.and_then(|s| DateTime::from_timestamp(s, 0)),
    })
}

/// apalis stores a run's result as JSON `{"Err": "..."}` / `{"Ok": ...}`.
fn error_text(stored: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(stored) {
        Ok(serde_json::Value::Object(m)) => match m.get("Err") {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => stored.to_owned(),
        },
        _ => stored.to_owned(),
    }
}

impl Engine {
    /// The account's jobs that failed for good, most recent first (admins).
    pub async fn failed_jobs(&self, actor: &Actor, first: i64) -> Result<Vec<JobRecord>> {
        actor.require_admin()?;
        if !(0..=MAX_FAILED_JOBS).contains(&first) {
            return Err(Error::invalid("first", "OUT_OF_RANGE", format!("must be from 0 to {MAX_FAILED_JOBS}")));
        }
        if first == 0 {
            return Ok(Vec::new());
        }
        let stmt = select(self.db.get_database_backend(), actor.account_id, true, None, first);
        let rows = self.db.query_all_raw(stmt).await?;
        rows.iter().map(record).collect()
    }

    /// One job of the account, whatever its state.
    pub async fn job(&self, actor: &Actor, id: &str) -> Result<JobRecord> {
        actor.require_admin()?;
        let stmt = select(self.db.get_database_backend(), actor.account_id, false, Some(id), 1);
        match self.db.query_one_raw(stmt).await? {
            Some(row) => record(&row),
            None => Err(Error::NotFound("job")),
        }
    }

    /// Re-queues a job that failed for good, with its attempts reset, to run now (admins).
    pub async fn retry_job(&self, actor: &Actor, id: &str) -> Result<JobRecord> {
        let job = self.job(actor, id).await?;
        if !job.failed_for_good() {
            return Err(Error::conflict("id", "only a job that failed for good can be retried"));
        }
        let backend = self.db.get_database_backend();
        let (sql, id_value) = match backend {
            DatabaseBackend::Postgres => (
                format!(
                    "UPDATE apalis.jobs j SET status = 'Pending', attempts = 0, run_at = now(), done_at = NULL, \
                     lock_by = NULL, lock_at = NULL WHERE j.id = $1 AND {FAILED_FOR_GOOD}"
                ),
                Value::from(job.id.clone()),
            ),
            _ => (
                format!(
                    "UPDATE Jobs AS j SET status = 'Pending', attempts = 0, run_at = strftime('%s', 'now'), \
                     done_at = NULL, lock_by = NULL, lock_at = NULL WHERE j.id = ? AND {FAILED_FOR_GOOD}"
                ),
                Value::from(job.id.clone()),
            ),
        };
        let done = self.db.execute_raw(Statement::from_sql_and_values(backend, sql, [id_value])).await?;
        if done.rows_affected() == 0 {
            return Err(Error::conflict("id", "the job was retried or changed meanwhile"));
        }
        tracing::info!(queue = %job.queue, task_id = %job.id, "failed job re-queued by an admin");
        self.job(actor, id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_results_become_messages() {
        assert_eq!(error_text(r#"{"Err":"the job timed out after 60s"}"#), "the job timed out after 60s");
        assert_eq!(error_text("not json"), "not json");
    }

    #[test]
    fn every_subject_is_placeholdered_per_backend() {
        let s = select(DatabaseBackend::Postgres, Uuid::nil(), true, Some("x"), 5);
        assert!(s.sql.contains("$1") && s.sql.contains(&format!("${}", SUBJECTS.len() * 3 + 1)));
        let s = select(DatabaseBackend::Sqlite, Uuid::nil(), true, None, 5);
        assert_eq!(s.sql.matches('?').count(), SUBJECTS.len() * 2 + 1);
    }
}
