//! Key verification: `verifyPhoneNumber` marks the number PENDING and queues a job; the job asks the provider and
//! records VERIFIED or FAILED with a reason. Transient failures (rate limits, 5xx, timeouts) retry with
//! exponential backoff, then end as PROVIDER_UNREACHABLE.

use crate::domain::Domain;
use crate::jobs::{Due, Job, JobSpec, backoff, enqueue, enqueue_now};
use crate::provider::NumberStatus;
use crate::{Error, Result, actor::Actor};
use anyhow::Context;
use chrono::Utc;
use entity::{Verification, channel, phone_number};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use uuid::Uuid;

/// Provider attempts before a transient failure becomes PROVIDER_UNREACHABLE.
pub const VERIFY_ATTEMPTS: u32 = 4;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VerifyNumber {
    pub phone_number_id: Uuid,
    /// 0 for the first provider call.
    pub attempt: u32,
}

impl Job for VerifyNumber {
    const SPEC: JobSpec =
        JobSpec { queue: "verify_number", max_attempts: 3, timeout: Duration::from_secs(60), concurrency: 8 };
    type On = Domain;
    async fn run(&self, on: &Domain) -> Result<()> {
        on.run_verification(self).await
    }
}

impl Domain {
    /// Marks a number PENDING and queues its verification; returns at once.
    pub async fn verify_phone_number(&self, actor: &Actor, id: Uuid) -> Result<phone_number::Model> {
        actor.require_admin()?;
        let n = self.phone_number(actor, id).await?;
        if n.deleted_at.is_some() {
            return Err(Error::conflict("id", "a deleted number cannot be verified; restore it first"));
        }
        self.queue_verification(n.id).await?;
        self.phone_number(actor, id).await
    }

    /// Sets PENDING and queues the job (also used by the scheduled re-verification).
    pub async fn queue_verification(&self, id: Uuid) -> Result<()> {
        let txn = self.begin_uow().await?;
        phone_number::Entity::update_many()
            .col_expr(phone_number::Column::Verification, Expr::value(Verification::Pending))
            .col_expr(phone_number::Column::VerificationError, Expr::value(Option::<String>::None))
            .col_expr(phone_number::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(phone_number::Column::Id.eq(id))
            .exec(&txn)
            .await?;
        enqueue_now(&txn, &VerifyNumber { phone_number_id: id, attempt: 0 }, None).await?;
        self.commit(txn).await
    }

    /// The job: one provider call, then the result or a delayed retry.
    #[tracing::instrument(skip(self), fields(phone_number_id = %job.phone_number_id, attempt = job.attempt))]
    pub async fn run_verification(&self, job: &VerifyNumber) -> Result<()> {
        let Some(n) = phone_number::Entity::find_by_id(job.phone_number_id).one(&self.db).await? else {
            return Ok(()); // deleted for good: nothing to do
        };
        // A changed key (UNVERIFIED) or a deleted number makes this job moot.
        if n.verification != Verification::Pending || n.deleted_at.is_some() {
            tracing::info!("verification no longer pending; skipped");
            return Ok(());
        }
        let Some(ch) = channel::Entity::find_by_id(n.channel_id).one(&self.db).await? else { return Ok(()) };
        // Fails when the key was stored under another APP_ENCRYPTION_KEY: an error for apalis to retry, then a
        // failed job admins see (`failedJobs`); the number stays PENDING until its key is entered again (the
        // scheduled batch retries a number PENDING for over an hour).
        let key = self
            .cipher
            .decrypt(&n.api_key_enc)
            .context("the number's stored API key cannot be decrypted with this deployment's encryption key")?;
        let outcome = self.provider.verify(&ch.api_url, &n.e164, &key).await;
        let (state, reason) = match outcome {
            Ok(NumberStatus::Connected) => (Verification::Verified, None),
            Ok(NumberStatus::Disconnected) => (Verification::Failed, Some("DISCONNECTED")),
            Err(e) if e.is_transient() && job.attempt + 1 < VERIFY_ATTEMPTS => {
                let delay = e.retry_after().map_or(backoff(job.attempt), |d| d.max(backoff(job.attempt)));
                tracing::warn!(error = %e, ?delay, "provider unavailable; verification retried later");
                let next = VerifyNumber { phone_number_id: n.id, attempt: job.attempt + 1 };
                enqueue(&self.db, &next, Due::After(delay)).await?;
                return Ok(());
            }
            Err(e) => {
                tracing::warn!(error = %e, "verification failed");
                (Verification::Failed, Some(e.reason_code()))
            }
        };
        // Only a still-pending verification of the same key takes the result.
        let now = Utc::now();
        let txn = self.begin_uow().await?;
        let r = phone_number::Entity::update_many()
            .col_expr(phone_number::Column::Verification, Expr::value(state))
            .col_expr(phone_number::Column::VerificationError, Expr::value(reason.map(str::to_owned)))
            .col_expr(phone_number::Column::LastVerifiedAt, Expr::value(Some(Utc::now())))
            .col_expr(phone_number::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(phone_number::Column::Id.eq(n.id))
            .filter(phone_number::Column::Verification.eq(Verification::Pending))
            .filter(phone_number::Column::ApiKeyEnc.eq(n.api_key_enc))
            .exec(&txn)
            .await?;
        if r.rows_affected == 1 {
            txn.emit(crate::live::NewEvent::number_verified(n.account_id, n.channel_id, n.id, now));
        }
        self.commit(txn).await?;
        tracing::info!(?state, "verification recorded");
        Ok(())
    }
}
