//! Webhook intake: the checks a provider delivery must pass before anything is stored, and the durable store.
//! The signature is verified on the raw bytes, against the keys of the channel's numbers, before the body is
//! parsed; an accepted delivery is written together with the job that processes it, in one transaction (one
//! commit), so it is durable before the 2xx and can never be stored without its job. A redelivery (same provider
//! id) finds its dedupe key taken and is acknowledged without storing anything.

use crate::conversations::inbound::ProcessWebhook;
use crate::jobs::{Due, Job, enqueue};
use crate::provider::signature::{self, SignatureError};
use crate::provider::{WebhookEvent, parse_webhook};
use crate::{Engine, Result};
use chrono::Utc;
use entity::{channel, phone_number, webhook_delivery};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

/// Why a delivery was refused. Nothing is stored for any of these.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("unknown webhook URL")]
    UnknownChannel,
    #[error("{0}")]
    Signature(SignatureError),
    #[error("the signature matches no number of this channel")]
    NoMatchingKey,
    #[error("number {0} is not connected to this channel")]
    UnknownNumber(String),
    #[error("number {0} is deleted")]
    DeletedNumber(String),
    #[error("number {0} is disabled")]
    DisabledNumber(String),
    #[error("invalid body: {0}")]
    BadBody(String),
}

impl Refusal {
    /// The HTTP status the provider gets.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::UnknownChannel | Refusal::UnknownNumber(_) => 404,
            Refusal::Signature(SignatureError::MissingSignature | SignatureError::MissingTimestamp) => 401,
            Refusal::Signature(_) | Refusal::NoMatchingKey => 401,
            Refusal::DeletedNumber(_) => 410,
            Refusal::DisabledNumber(_) => 403,
            Refusal::BadBody(_) => 400,
        }
    }

    /// A machine-readable code for the response body.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::UnknownChannel => "UNKNOWN_CHANNEL",
            Refusal::Signature(e) => e.code(),
            Refusal::NoMatchingKey => "BAD_SIGNATURE",
            Refusal::UnknownNumber(_) => "UNKNOWN_NUMBER",
            Refusal::DeletedNumber(_) => "NUMBER_DELETED",
            Refusal::DisabledNumber(_) => "NUMBER_DISABLED",
            Refusal::BadBody(_) => "BAD_BODY",
        }
    }
}

/// What happened to an accepted delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    Stored(Uuid),
    Duplicate,
}

pub enum Outcome {
    Accepted(Accepted),
    Refused(Refusal),
}

fn dedupe_key(event: &WebhookEvent) -> String {
    match event {
        WebhookEvent::Message { id, .. } => format!("message:{id}"),
        WebhookEvent::Status { id, status, .. } => format!("status:{id}:{}", status.as_str()),
    }
}

/// Only to word the refusal of an unverifiable delivery: which number the body says it is for.
fn claimed_number(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    v.get("to")?.as_str().and_then(|s| crate::phone::normalise_e164("to", s).ok())
}

impl Engine {
    /// Checks, and stores, one webhook delivery for the channel whose token is in the URL.
    #[tracing::instrument(skip_all, fields(channel_id))]
    pub async fn receive_webhook(
        &self,
        token: &str,
        timestamp: Option<&str>,
        signature_header: Option<&str>,
        body: &[u8],
    ) -> Result<Outcome> {
        let Some(ch) = self.channel_by_webhook_token(token).await? else {
            return Ok(Outcome::Refused(Refusal::UnknownChannel));
        };
        tracing::Span::current().record("channel_id", tracing::field::display(ch.id));
        let numbers =
            phone_number::Entity::find().filter(phone_number::Column::ChannelId.eq(ch.id)).all(&self.db).await?;
        let now = Utc::now().timestamp();
        // The numbers whose key signed these exact bytes.
        let mut signers = Vec::new();
        let mut last_error = None;
        for n in numbers {
            let key = self.cipher.decrypt(&n.api_key_enc)?;
            match signature::verify(key.expose(), timestamp, signature_header, body, now) {
                Ok(()) => signers.push(n),
                Err(SignatureError::BadSignature) => {}
                Err(e) => last_error = Some(e),
            }
        }
        if signers.is_empty() {
            if let Some(e) = last_error {
                return Ok(Outcome::Refused(Refusal::Signature(e)));
            }
            // No key matched: say why in the provider's terms when the body names a number we do not have.
            if let Some(to) = claimed_number(body)
                && !self.is_live_number_of(&ch, &to).await?
            {
                return Ok(Outcome::Refused(Refusal::UnknownNumber(to)));
            }
            let e = match (timestamp, signature_header) {
                (None, _) => Refusal::Signature(SignatureError::MissingTimestamp),
                (_, None) => Refusal::Signature(SignatureError::MissingSignature),
                _ => Refusal::NoMatchingKey,
            };
            return Ok(Outcome::Refused(e));
        }
        let event = match parse_webhook(body) {
            Ok(e) => e,
            Err(e) => return Ok(Outcome::Refused(Refusal::BadBody(e.message))),
        };
        // The receiving number: named by a message; for a status, the number that signed it.
        let number = match &event {
            WebhookEvent::Message { to, .. } => {
                let to = crate::phone::normalise_e164("to", to).unwrap_or_else(|_| to.clone());
                match signers.iter().find(|n| n.e164 == to && n.deleted_at.is_none()) {
                    Some(n) => n.clone(),
                    None => match signers.iter().find(|n| n.e164 == to) {
                        Some(n) => n.clone(),
                        None => return Ok(Outcome::Refused(Refusal::UnknownNumber(to))),
                    },
                }
            }
            WebhookEvent::Status { .. } => {
                match signers.iter().find(|n| n.deleted_at.is_none() && n.enabled).or(signers.first()) {
                    Some(n) => n.clone(),
                    None => return Ok(Outcome::Refused(Refusal::NoMatchingKey)),
                }
            }
        };
        if number.deleted_at.is_some() {
            return Ok(Outcome::Refused(Refusal::DeletedNumber(number.e164)));
        }
        if !number.enabled {
            return Ok(Outcome::Refused(Refusal::DisabledNumber(number.e164)));
        }
        let kind = match event {
            WebhookEvent::Message { .. } => "message",
            WebhookEvent::Status { .. } => "status",
        };
        let delivery = NewDelivery {
            id: Uuid::now_v7(),
            account_id: ch.account_id,
            channel_id: ch.id,
            phone_number_id: number.id,
            kind,
            dedupe_key: dedupe_key(&event),
            body: String::from_utf8_lossy(body).into_owned(),
        };
        let accepted = self.store_delivery(&delivery).await?;
        tracing::info!(?accepted, kind, "webhook accepted");
        Ok(Outcome::Accepted(accepted))
    }

    async fn is_live_number_of(&self, ch: &channel::Model, e164: &str) -> Result<bool> {
        Ok(phone_number::Entity::find()
            .filter(phone_number::Column::ChannelId.eq(ch.id))
            .filter(phone_number::Column::E164.eq(e164))
            .filter(phone_number::Column::DeletedAt.is_null())
            .one(&self.db)
            .await?
            .is_some())
    }

    /// Inserts the delivery and its processing job in one transaction; a taken dedupe key stores nothing.
    async fn store_delivery(&self, d: &NewDelivery) -> Result<Accepted> {
        let txn = self.begin_write().await?;
        let inserted = webhook_delivery::Entity::insert(webhook_delivery::ActiveModel {
            id: Set(d.id),
            account_id: Set(d.account_id),
            channel_id: Set(d.channel_id),
            phone_number_id: Set(d.phone_number_id),
            kind: Set(d.kind.to_owned()),
            dedupe_key: Set(d.dedupe_key.clone()),
            body: Set(d.body.clone()),
            received_at: Set(Utc::now()),
            processed_at: Set(None),
            error: Set(None),
        })
        .on_conflict_do_nothing_on([webhook_delivery::Column::DedupeKey])
        .exec_without_returning(&txn)
        .await?;
        let stored = matches!(inserted, sea_orm::TryInsertResult::Inserted(1));
        if stored {
            enqueue(&txn, &ProcessWebhook { delivery_id: d.id, attempt: 0 }, Due::Now).await?;
        }
        txn.commit().await?;
        if stored {
            self.wakeups.wake(ProcessWebhook::SPEC.queue);
        }
        Ok(if stored { Accepted::Stored(d.id) } else { Accepted::Duplicate })
    }
}

struct NewDelivery {
    id: Uuid,
    account_id: Uuid,
    channel_id: Uuid,
    phone_number_id: Uuid,
    kind: &'static str,
    dedupe_key: String,
    body: String,
}
