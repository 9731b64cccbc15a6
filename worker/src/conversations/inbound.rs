//! Processing of accepted webhook deliveries (the `process_webhook` job): a client's message becomes a contact,
//! a conversation (the contact's unresolved one in the channel, or a new one: PENDING when the channel has a
//! chatbot, otherwise OPEN / IN_QUEUE waiting for distribution) and an inbound message; a status event moves an
//! outbound message's delivery status forward. Delivery is at least once, so every step is idempotent.

use crate::jobs::{Due, Job, JobSpec, enqueue, verify::backoff};
use crate::live::NewEvent;
use crate::provider::{DeliveryStatus as ProviderStatus, WebhookEvent, parse_webhook};
use crate::{Engine, Result};
use chrono::{DateTime, Utc};
use entity::{
    ConversationStatus, ConversationSubstatus, DeliveryStatus, Direction, EventKind, channel, contact, conversation,
    message, webhook_delivery,
};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use uuid::Uuid;

/// How often a status for a message we do not know yet is retried (the send may not have recorded the
/// provider's id yet).
pub const UNKNOWN_MESSAGE_ATTEMPTS: u32 = 4;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProcessWebhook {
    pub delivery_id: Uuid,
    #[serde(default)]
    pub attempt: u32,
}

impl Job for ProcessWebhook {
    const SPEC: JobSpec =
        JobSpec { queue: "process_webhook", max_attempts: 5, timeout: Duration::from_secs(30), concurrency: 16 };
    async fn run(&self, engine: &Engine) -> Result<()> {
        engine.process_webhook(self).await
    }
}

impl From<ProviderStatus> for DeliveryStatus {
    fn from(s: ProviderStatus) -> Self {
        match s {
            ProviderStatus::Sent => DeliveryStatus::Sent,
            ProviderStatus::Delivered => DeliveryStatus::Delivered,
            ProviderStatus::Read => DeliveryStatus::Read,
            ProviderStatus::Failed => DeliveryStatus::Failed,
        }
    }
}

impl Engine {
    #[tracing::instrument(skip(self), fields(delivery_id = %job.delivery_id))]
    pub async fn process_webhook(&self, job: &ProcessWebhook) -> Result<()> {
        let Some(d) = webhook_delivery::Entity::find_by_id(job.delivery_id).one(&self.db).await? else {
            return Ok(());
        };
        if d.processed_at.is_some() {
            return Ok(());
        }
        let event = match parse_webhook(d.body.as_bytes()) {
            Ok(e) => e,
            Err(e) => return self.finish_delivery(&self.db, d.id, Some(e.message)).await,
        };
        match event {
            WebhookEvent::Message { id, from, timestamp, text, contact_name, .. } => {
                let Some(ch) = channel::Entity::find_by_id(d.channel_id).one(&self.db).await? else {
                    return self.finish_delivery(&self.db, d.id, Some("channel deleted".into())).await;
                };
                let from = match crate::phone::normalise_e164("from", &from) {
                    Ok(f) => f,
                    Err(e) => return self.finish_delivery(&self.db, d.id, Some(e.message)).await,
                };
                let txn = self.begin_uow().await?;
                let contact = upsert_contact(&txn, d.account_id, &from, contact_name.as_deref()).await?;
                let (conv, created) = open_conversation(&txn, &ch, contact.id, d.phone_number_id).await?;
                let sent_at = DateTime::<Utc>::from_timestamp(timestamp, 0);
                let now = Utc::now();
                let message_id = Uuid::now_v7();
                let stored = message::Entity::insert(message::ActiveModel {
                    id: Set(message_id),
                    account_id: Set(d.account_id),
                    conversation_id: Set(conv.id),
                    direction: Set(Direction::Inbound),
                    text: Set(text),
                    provider_message_id: Set(Some(id)),
                    delivery_status: Set(None),
                    delivery_error: Set(None),
                    sender_user_id: Set(None),
                    sent_at: Set(sent_at),
                    created_at: Set(now),
                    updated_at: Set(now),
                })
                .on_conflict_do_nothing_on([message::Column::Direction, message::Column::ProviderMessageId])
                .exec_without_returning(&txn)
                .await?;
                if created && conv.substatus == Some(ConversationSubstatus::InQueue) {
                    txn.emit(NewEvent::conversation(EventKind::QueueChanged, &conv, None, now));
                }
                if matches!(stored, sea_orm::TryInsertResult::Inserted(n) if n > 0) {
                    txn.emit(NewEvent::message(EventKind::MessageCreated, &conv, message_id, now));
                }
                self.finish_delivery(&txn, d.id, None).await?;
                crate::acd::lifecycle::on_client_message(&txn, &conv).await?;
                txn.commit().await?;
                tracing::info!(conversation_id = %conv.id, "inbound message stored");
                if conv.substatus == Some(ConversationSubstatus::InQueue) {
                    self.redistribute(conv.account_id).await;
                }
                Ok(())
            }
            WebhookEvent::Status { id, status, error } => {
                if self.apply_delivery_status(&id, status.into(), error).await? {
                    return self.finish_delivery(&self.db, d.id, None).await;
                }
                if job.attempt + 1 < UNKNOWN_MESSAGE_ATTEMPTS {
                    let next = ProcessWebhook { delivery_id: d.id, attempt: job.attempt + 1 };
                    enqueue(&self.db, &next, Due::After(backoff(job.attempt))).await?;
                    return Ok(());
                }
                self.finish_delivery(&self.db, d.id, Some("UNKNOWN_MESSAGE".into())).await
            }
        }
    }

    async fn finish_delivery<C: ConnectionTrait>(&self, db: &C, id: Uuid, error: Option<String>) -> Result<()> {
        if let Some(e) = &error {
            tracing::warn!(delivery_id = %id, error = %e, "webhook delivery not applied");
        }
        webhook_delivery::Entity::update_many()
            .col_expr(webhook_delivery::Column::ProcessedAt, Expr::value(Some(Utc::now())))
            .col_expr(webhook_delivery::Column::Error, Expr::value(error))
            .filter(webhook_delivery::Column::Id.eq(id))
            .exec(db)
            .await?;
        Ok(())
    }
}

/// The account's contact for a number, created on first contact; a display name given by the provider is kept
/// up to date.
async fn upsert_contact<C: ConnectionTrait>(
    db: &C,
    account_id: Uuid,
    e164: &str,
    name: Option<&str>,
) -> Result<contact::Model> {
    let now = Utc::now();
    let name = name.map(str::trim).filter(|n| !n.is_empty()).map(|n| n.chars().take(200).collect::<String>());
    contact::Entity::insert(contact::ActiveModel {
        id: Set(Uuid::now_v7()),
        account_id: Set(account_id),
        e164: Set(e164.to_owned()),
        display_name: Set(name.clone()),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .on_conflict_do_nothing_on([contact::Column::AccountId, contact::Column::E164])
    .exec(db)
    .await?;
    let c = contact::Entity::find()
        .filter(contact::Column::AccountId.eq(account_id))
        .filter(contact::Column::E164.eq(e164))
        .one(db)
        .await?
        .ok_or_else(|| anyhow::anyhow!("contact vanished after upsert"))?;
    match name {
        Some(n) if c.display_name.as_deref() != Some(n.as_str()) => {
            let mut am: contact::ActiveModel = c.into();
            am.display_name = Set(Some(n));
            am.updated_at = Set(now);
            Ok(am.update(db).await?)
        }
        _ => Ok(c),
    }
}

/// The contact's unresolved conversation in the channel, or a new one (then `true`). The partial unique index
/// on unresolved conversations makes a racing second insert a no-op, after which the winner's row is read.
async fn open_conversation<C: ConnectionTrait>(
    db: &C,
    ch: &channel::Model,
    contact_id: Uuid,
    phone_number_id: Uuid,
) -> Result<(conversation::Model, bool)> {
    let find = || {
        conversation::Entity::find()
            .filter(conversation::Column::ChannelId.eq(ch.id))
            .filter(conversation::Column::ContactId.eq(contact_id))
            .filter(conversation::Column::Status.ne(ConversationStatus::Resolved))
    };
    if let Some(c) = find().one(db).await? {
        return Ok((c, false));
    }
    let now = Utc::now();
    let (status, substatus, enqueued_at) = if ch.chatbot_id.is_some() {
        (ConversationStatus::Pending, None, None)
    } else {
        (ConversationStatus::Open, Some(ConversationSubstatus::InQueue), Some(now))
    };
    let inserted = conversation::Entity::insert(conversation::ActiveModel {
        id: Set(Uuid::now_v7()),
        account_id: Set(ch.account_id),
        channel_id: Set(ch.id),
        contact_id: Set(contact_id),
        phone_number_id: Set(phone_number_id),
        status: Set(status),
        substatus: Set(substatus),
        assigned_user_id: Set(None),
        enqueued_at: Set(enqueued_at),
        wrap_up_code_id: Set(None),
        wrap_up_timed_out: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
        resolved_at: Set(None),
        offer_id: Set(None),
        offer_deadline: Set(None),
        wrap_up_deadline: Set(None),
        assignment_cost: Set(None),
        resolution: Set(None),
    })
    .on_conflict_do_nothing()
    .exec_without_returning(db)
    .await?;
    let created = matches!(inserted, sea_orm::TryInsertResult::Inserted(n) if n > 0);
    let c = find().one(db).await?.ok_or_else(|| anyhow::anyhow!("conversation vanished after insert"))?;
    Ok((c, created))
}
