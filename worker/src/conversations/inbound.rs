//! Processing of accepted webhook deliveries (the `process_webhook` job): a client's message becomes a contact,
//! a conversation (the contact's unresolved one in the channel, or a new one: PENDING when the channel has a
//! chatbot, otherwise OPEN / IN_QUEUE waiting for distribution) and an inbound message; a status event moves an
//! outbound message's delivery status forward. Delivery is at least once, so every step is idempotent.

use crate::Result;
use crate::domain::Domain;
use crate::jobs::{Due, Job, JobSpec, backoff, enqueue_keyed};
use crate::live::NewEvent;
use crate::provider::{DeliveryStatus as ProviderStatus, WebhookEvent, parse_webhook};
use chrono::{DateTime, Utc};
use entity::{
    ConversationStatus, ConversationSubstatus, DeliveryStatus, Direction, EventKind, channel, chatbot, contact,
    conversation, message, webhook_delivery,
};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Duration;
use uuid::Uuid;

/// How often a status for a message we do not know yet is retried (the send may not have recorded the
/// provider's id yet).
pub const UNKNOWN_MESSAGE_ATTEMPTS: u32 = 4;

/// Most deliveries one processing job carries (processed in one transaction).
pub const MAX_DELIVERIES_PER_JOB: usize = 32;

/// Processes deliveries stored together: the first (`delivery_id`, the job's subject as admins see it) and
/// `more` of the same channel, committed in the same group commit.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProcessWebhook {
    pub delivery_id: Uuid,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more: Vec<Uuid>,
    #[serde(default)]
    pub attempt: u32,
}

impl ProcessWebhook {
    /// One delivery's job.
    pub fn one(delivery_id: Uuid, attempt: u32) -> Self {
        Self { delivery_id, more: Vec::new(), attempt }
    }

    /// The jobs of deliveries stored together, given as `(delivery, channel)` in arrival order: one per channel
    /// (so that a job concerns one account), of at most [`MAX_DELIVERIES_PER_JOB`], keeping that order.
    pub fn for_stored(stored: impl IntoIterator<Item = (Uuid, Uuid)>) -> Vec<Self> {
        let mut jobs: Vec<(Uuid, Self)> = Vec::new();
        for (delivery, channel) in stored {
            match jobs.iter_mut().rev().find(|(c, j)| *c == channel && j.more.len() + 1 < MAX_DELIVERIES_PER_JOB) {
                Some((_, job)) => job.more.push(delivery),
                None => jobs.push((channel, Self::one(delivery, 0))),
            }
        }
        jobs.into_iter().map(|(_, job)| job).collect()
    }

    /// Every delivery of the job.
    pub fn deliveries(&self) -> impl Iterator<Item = Uuid> + '_ {
        std::iter::once(self.delivery_id).chain(self.more.iter().copied())
    }
}

impl Job for ProcessWebhook {
    const SPEC: JobSpec =
        JobSpec { queue: "process_webhook", max_attempts: 5, timeout: Duration::from_secs(30), concurrency: 16 };
    type On = Domain;
    async fn run(&self, on: &Domain) -> Result<()> {
        on.process_webhook(self).await
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

/// A client's message, checked and waiting to be stored.
struct Inbound {
    delivery: webhook_delivery::Model,
    channel: channel::Model,
    provider_message_id: String,
    from: String,
    sent_at: Option<DateTime<Utc>>,
    text: String,
    contact_name: Option<String>,
}

impl Domain {
    #[tracing::instrument(skip(self), fields(delivery_id = %job.delivery_id, deliveries = job.more.len() + 1))]
    pub async fn process_webhook(&self, job: &ProcessWebhook) -> Result<()> {
        // The deliveries and their channel in one read, in arrival order (their ids are UUIDv7s from intake).
        let mut found = webhook_delivery::Entity::find()
            .filter(webhook_delivery::Column::Id.is_in(job.deliveries()))
            .find_also_related(channel::Entity)
            .all(&self.db)
            .await?;
        found.sort_by_key(|(d, _)| d.id);
        let (mut messages, mut statuses) = (Vec::new(), Vec::new());
        for (d, channel) in found {
            if d.processed_at.is_some() {
                continue;
            }
            // A delivery that cannot be applied is recorded as processed, with why.
            let refusal = match parse_webhook(d.body.as_bytes()) {
                Err(e) => e.message,
                Ok(WebhookEvent::Status { id, status, error }) => {
                    statuses.push((d.id, id, status, error));
                    continue;
                }
                Ok(WebhookEvent::Message { id, from, timestamp, text, contact_name, .. }) => {
                    match (channel, crate::phone::normalise_e164("from", &from)) {
                        (None, _) => "channel deleted".into(),
                        (_, Err(e)) => e.message,
                        (Some(channel), Ok(from)) => {
                            let sent_at = DateTime::<Utc>::from_timestamp(timestamp, 0);
                            let provider_message_id = id;
                            messages.push(Inbound {
                                delivery: d,
                                channel,
                                provider_message_id,
                                from,
                                sent_at,
                                text,
                                contact_name,
                            });
                            continue;
                        }
                    }
                }
            };
            self.finish_deliveries(&self.db, &[d.id], Some(refusal)).await?;
        }
        // Nothing holds back anything else: the job fails (to be retried, skipping what was processed) with the
        // first error, after everything else was done.
        let mut failed = self.store_messages(messages).await.err();
        for (delivery_id, id, status, error) in statuses {
            if let Err(e) = self.apply_status(delivery_id, &id, status, error, job.attempt).await {
                failed.get_or_insert(e);
            }
        }
        failed.map_or(Ok(()), Err)
    }

    /// Stores clients' messages together; when that fails, each on its own (one bad message must not hold back
    /// the others), returning the first error that remains.
    async fn store_messages(&self, mut messages: Vec<Inbound>) -> Result<()> {
        if messages.len() <= 1 {
            return self.store_inbound(&messages).await;
        }
        // Every job takes its rows in one order (by client, then arrival, which keeps each client's order), so
        // concurrent jobs cannot deadlock on them.
        messages.sort_by(|a, b| (&a.from, a.delivery.id).cmp(&(&b.from, b.delivery.id)));
        let Err(e) = self.store_inbound(&messages).await else { return Ok(()) };
        tracing::warn!(error = %e, deliveries = messages.len(), "storing messages together failed; storing each alone");
        let mut failed = None;
        for m in &messages {
            if let Err(e) = self.store_inbound(std::slice::from_ref(m)).await {
                tracing::error!(delivery_id = %m.delivery.id, error = %e, "a client's message could not be stored");
                failed.get_or_insert(e);
            }
        }
        failed.map_or(Ok(()), Err)
    }

    /// Applies a status event to the outbound message it names. A message not known yet (the send may not have
    /// recorded the provider's id) is tried again later, by a job of that delivery alone, queued once per attempt
    /// however often this job runs.
    async fn apply_status(
        &self,
        delivery_id: Uuid,
        provider_message_id: &str,
        status: ProviderStatus,
        error: Option<String>,
        attempt: u32,
    ) -> Result<()> {
        if self.apply_delivery_status(provider_message_id, status.into(), error).await? {
            return self.finish_deliveries(&self.db, &[delivery_id], None).await;
        }
        if attempt + 1 < UNKNOWN_MESSAGE_ATTEMPTS {
            let next = ProcessWebhook::one(delivery_id, attempt + 1);
            let key = format!("status:{delivery_id}:{}", attempt + 1);
            enqueue_keyed(&self.db, &next, Due::After(backoff(attempt)), Some(&key)).await?;
            return Ok(());
        }
        self.finish_deliveries(&self.db, &[delivery_id], Some("UNKNOWN_MESSAGE".into())).await
    }

    /// Stores clients' messages in one unit of work: each one's contact, conversation and message, its live
    /// events, its post to the chatbot serving the conversation, its delivery marked processed; then wakes the
    /// chatbot posts and distributes the accounts whose queue grew.
    async fn store_inbound(&self, messages: &[Inbound]) -> Result<()> {
        if messages.is_empty() {
            return Ok(());
        }
        // The chatbots that serve the channels' clients now: a disabled one serves nobody.
        let mut bot_ids: Vec<Uuid> = messages.iter().filter_map(|m| m.channel.chatbot_id).collect();
        bot_ids.dedup();
        let mut bots = self.rows_by_id::<chatbot::Entity>(chatbot::Column::Id, &bot_ids, |b| b.id).await?;
        bots.retain(|_, b| crate::chatbots::serving(b));
        let txn = self.begin_uow().await?;
        // The clients' known contacts and their unresolved conversations, one read each for the whole batch; a
        // contact or conversation an earlier message of the batch made joins them as it is made.
        let mut contacts: HashMap<(Uuid, String), contact::Model> = contact::Entity::find()
            .filter(contact::Column::AccountId.is_in(messages.iter().map(|m| m.delivery.account_id)))
            .filter(contact::Column::E164.is_in(messages.iter().map(|m| m.from.clone())))
            .all(&txn)
            .await?
            .into_iter()
            .map(|c| ((c.account_id, c.e164.clone()), c))
            .collect();
        // The conversations are locked (PostgreSQL; SQLite's writers are serial) before any message id is
        // drawn, in id order so that jobs cannot deadlock on them: a conversation's messages then commit in the
        // order of their ids, the order the conversation lists them and its chatbot is posted them.
        let mut open: HashMap<(Uuid, Uuid), conversation::Model> = if contacts.is_empty() {
            HashMap::new()
        } else {
            conversation::Entity::find()
                .filter(conversation::Column::ChannelId.is_in(messages.iter().map(|m| m.channel.id)))
                .filter(conversation::Column::ContactId.is_in(contacts.values().map(|c| c.id)))
                .filter(conversation::Column::Status.ne(ConversationStatus::Resolved))
                .order_by_asc(conversation::Column::Id)
                .lock_exclusive()
                .all(&txn)
                .await?
                .into_iter()
                .map(|c| ((c.channel_id, c.contact_id), c))
                .collect()
        };
        let mut done = Vec::with_capacity(messages.len());
        let mut queued = std::collections::BTreeSet::new();
        for m in messages {
            let (d, ch) = (&m.delivery, &m.channel);
            let bot = ch.chatbot_id.and_then(|id| bots.get(&id));
            let client = (d.account_id, m.from.clone());
            let known = contacts.remove(&client);
            let contact = upsert_contact(&txn, d.account_id, &m.from, m.contact_name.as_deref(), known).await?;
            let contact_id = contact.id;
            contacts.insert(client, contact);
            let known = open.remove(&(ch.id, contact_id));
            let (conv, created) =
                open_conversation(&txn, ch, bot.is_some(), contact_id, d.phone_number_id, known).await?;
            // The message's time is its id's (to the millisecond): messages processed concurrently are then in
            // the same order by (created_at, id), as the conversation lists them, as by id, as the chatbot is
            // sent them. Two clock reads could disagree when a job is preempted between them.
            let message_id = Uuid::now_v7();
            let now = message_id
                .get_timestamp()
                .map(|t| t.to_unix())
                .and_then(|(secs, nanos)| DateTime::<Utc>::from_timestamp(secs as i64, nanos))
                .unwrap_or_else(Utc::now);
            let stored = message::Entity::insert(message::ActiveModel {
                id: Set(message_id),
                account_id: Set(d.account_id),
                conversation_id: Set(conv.id),
                direction: Set(Direction::Inbound),
                text: Set(m.text.clone()),
                provider_message_id: Set(Some(m.provider_message_id.clone())),
                delivery_status: Set(None),
                delivery_error: Set(None),
                sender_user_id: Set(None),
                chatbot_id: Set(None),
                sent_at: Set(m.sent_at),
                automatic: Set(false),
                send_claimed_until: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
            })
            .on_conflict_do_nothing_on([message::Column::Direction, message::Column::ProviderMessageId])
            .exec_without_returning(&txn)
            .await?;
            if created && conv.substatus == Some(ConversationSubstatus::InQueue) {
                txn.emit(NewEvent::conversation(EventKind::QueueChanged, &conv, None, now));
            }
            let inserted = matches!(stored, sea_orm::TryInsertResult::Inserted(n) if n > 0);
            if inserted {
                txn.emit(NewEvent::message(EventKind::MessageCreated, &conv, message_id, now));
            }
            // While a chatbot serves the conversation, the client's message goes to it (the chatbot the
            // conversation had, even if the channel's changed meanwhile: that change hands it off).
            // (Were the channel's chatbot removed in a race with this message, the chatbot timeout still hands
            // the conversation off.)
            if inserted && conv.status == ConversationStatus::Pending {
                let bot_id = bot.map(|b| b.id).or(ch.chatbot_id);
                crate::chatbots::delivery::on_pending_message(&txn, &conv, ch, bot_id, message_id, now).await?;
            }
            crate::acd::lifecycle::on_client_message(&txn, &conv).await?;
            if inserted
                && matches!(conv.substatus, Some(ConversationSubstatus::InQueue | ConversationSubstatus::Alerting))
            {
                super::queue_updates::on_client_text(&txn, ch, &conv, &m.text, now).await?;
            }
            if conv.substatus == Some(ConversationSubstatus::InQueue) {
                queued.insert(conv.account_id);
            }
            // A conversation in after-call work has just changed: a later message of the batch reads it again.
            if conv.substatus != Some(ConversationSubstatus::AfterCallWork) {
                open.insert((ch.id, contact_id), conv.clone());
            }
            done.push((conv.id, d.id));
        }
        let ids: Vec<Uuid> = done.iter().map(|&(_, delivery_id)| delivery_id).collect();
        self.finish_deliveries(&txn, &ids, None).await?;
        for account_id in queued {
            txn.distribute(account_id);
        }
        self.commit(txn).await?;
        for (conversation_id, delivery_id) in done {
            tracing::info!(%conversation_id, %delivery_id, "inbound message stored");
        }
        Ok(())
    }

    /// Marks deliveries processed, with why they were not applied if so.
    async fn finish_deliveries<C: ConnectionTrait>(&self, db: &C, ids: &[Uuid], error: Option<String>) -> Result<()> {
        if let Some(e) = &error {
            tracing::warn!(delivery_ids = ?ids, error = %e, "webhook delivery not applied");
        }
        webhook_delivery::Entity::update_many()
            .col_expr(webhook_delivery::Column::ProcessedAt, Expr::value(Some(Utc::now())))
            .col_expr(webhook_delivery::Column::Error, Expr::value(error))
            .filter(webhook_delivery::Column::Id.is_in(ids.iter().copied()))
            .exec(db)
            .await?;
        Ok(())
    }
}

/// The account's contact for a number (`known` when already read), created on first contact; a display name given
/// by the provider is kept up to date.
async fn upsert_contact<C: ConnectionTrait>(
    db: &C,
    account_id: Uuid,
    e164: &str,
    name: Option<&str>,
    known: Option<contact::Model>,
) -> Result<contact::Model> {
    let now = Utc::now();
    let name = name.map(str::trim).filter(|n| !n.is_empty()).map(|n| n.chars().take(200).collect::<String>());
    let find = || {
        contact::Entity::find().filter(contact::Column::AccountId.eq(account_id)).filter(contact::Column::E164.eq(e164))
    };
    // A new contact is inserted and returned by the same statement; a racing insert of the same contact is a
    // no-op, after which the winner's row is read.
    let c = match known {
        Some(c) => c,
        None => {
            let inserted = contact::Entity::insert(contact::ActiveModel {
                id: Set(Uuid::now_v7()),
                account_id: Set(account_id),
                e164: Set(e164.to_owned()),
                display_name: Set(name.clone()),
                created_at: Set(now),
                updated_at: Set(now),
            })
            .on_conflict_do_nothing_on([contact::Column::AccountId, contact::Column::E164])
            .exec_with_returning(db)
            .await?;
            match inserted {
                sea_orm::TryInsertResult::Inserted(c) => c,
                _ => find().one(db).await?.ok_or_else(|| anyhow::anyhow!("contact vanished after upsert"))?,
            }
        }
    };
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

/// The contact's unresolved conversation in the channel (`known` when already read), or a new one (then `true`),
/// returned by its insert. The partial unique index on unresolved conversations makes a racing second insert a
/// no-op, after which the winner's row is read.
async fn open_conversation<C: ConnectionTrait>(
    db: &C,
    ch: &channel::Model,
    bot_serving: bool,
    contact_id: Uuid,
    phone_number_id: Uuid,
    known: Option<conversation::Model>,
) -> Result<(conversation::Model, bool)> {
    let find = || {
        conversation::Entity::find()
            .filter(conversation::Column::ChannelId.eq(ch.id))
            .filter(conversation::Column::ContactId.eq(contact_id))
            .filter(conversation::Column::Status.ne(ConversationStatus::Resolved))
    };
    if let Some(c) = known {
        return Ok((c, false));
    }
    let now = Utc::now();
    let (status, substatus, enqueued_at) = if bot_serving {
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
        bot_deadline: Set(None),
        hand_off_reason: Set(None),
        handed_off_at: Set(None),
    })
    .on_conflict_do_nothing()
    .exec_with_returning(db)
    .await?;
    match inserted {
        sea_orm::TryInsertResult::Inserted(c) => {
            if !bot_serving {
                crate::acd::stints::start(db, &c, entity::StintStart::New, now).await?;
            }
            Ok((c, true))
        }
        // Another job made it and has committed; locked as the batch's known conversations are.
        _ => Ok((
            find()
                .lock_exclusive()
                .one(db)
                .await?
                .ok_or_else(|| anyhow::anyhow!("conversation vanished after insert"))?,
            false,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliveries_stored_together_get_one_job_per_channel_in_arrival_order_and_bounded() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let ids: Vec<Uuid> = (0..MAX_DELIVERIES_PER_JOB + 3).map(|_| Uuid::now_v7()).collect();
        // Channel a: every delivery but the second; channel b: the second.
        let stored: Vec<(Uuid, Uuid)> = ids.iter().enumerate().map(|(i, &d)| (d, if i == 1 { b } else { a })).collect();
        let jobs = ProcessWebhook::for_stored(stored);
        let carried: Vec<Vec<Uuid>> = jobs.iter().map(|j| j.deliveries().collect()).collect();
        let mut on_a: Vec<Uuid> = ids.iter().enumerate().filter(|(i, _)| *i != 1).map(|(_, &d)| d).collect();
        let rest = on_a.split_off(MAX_DELIVERIES_PER_JOB);
        assert_eq!(carried, vec![on_a, vec![ids[1]], rest]);
        assert!(jobs.iter().all(|j| j.attempt == 0));
    }

    #[test]
    fn a_job_queued_before_batching_still_reads() {
        let id = Uuid::now_v7();
        let job: ProcessWebhook = serde_json::from_str(&format!(r#"{{"delivery_id":"{id}","attempt":2}}"#)).unwrap();
        assert_eq!((job.deliveries().collect::<Vec<_>>(), job.attempt), (vec![id], 2));
        let one = serde_json::to_value(ProcessWebhook::one(id, 0)).unwrap();
        assert_eq!(one, serde_json::json!({ "delivery_id": id, "attempt": 0 }), "one delivery's job keeps its shape");
    }
}
