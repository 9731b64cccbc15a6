//! Outbound messages: an agent's reply (`send_message`) or first message (`start_conversation`) is stored as a
//! QUEUED message together with the `send_message` job that delivers it, in one transaction: a message can never
//! be stored without its job, nor a job queued for a message that was rolled back. The job calls the provider with
//! the message id as `clientMessageId` (the provider deduplicates by it, so a retried or re-run job never sends
//! twice) and records SENT with the provider's id, or FAILED with a reason after bounded retries with backoff.
//! Status webhooks then move the delivery status forward (`apply_delivery_status`), never backwards.

use crate::domain::Domain;
use crate::jobs::backoff;
use crate::jobs::{Due, Job, JobSpec, enqueue, enqueue_now};
use crate::live::{NewEvent, Uow};
use crate::phone::normalise_e164;
use crate::provider::OutboundMessage;
use crate::{Error, FieldError, Result, actor::Actor};
use chrono::{DateTime, Utc};
use entity::{
    ConversationStatus, ConversationSubstatus, DeliveryStatus, Direction, EventKind, OfferOrigin, channel, contact,
    conversation, message, phone_number,
};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{ColumnTrait, Condition, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, Set};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use uuid::Uuid;

/// The longest message text, in characters (WhatsApp's own limit).
pub const TEXT_MAX: usize = 4096;
/// Provider calls per message before a transient failure becomes PROVIDER_UNREACHABLE (waits of 1, 2, 4 and
/// 4 seconds between them: see [`send_backoff`]).
pub const SEND_ATTEMPTS: u32 = 5;
/// The longest wait between two provider calls for one message (unless the provider asks for more).
const SEND_BACKOFF_MAX: Duration = Duration::from_secs(4);
/// A provider's `Retry-After` is honoured up to this long.
const RETRY_AFTER_CAP: Duration = Duration::from_secs(300);
/// How long a send job holds a message while it calls the provider: longer than a provider call can take (its
/// connect and request timeouts), so a lease only runs out when its job died mid-call.
const SEND_LEASE: Duration = Duration::from_secs(60);

/// The wait before provider call `attempt + 1`: exponential from 1 s, capped at [`SEND_BACKOFF_MAX`]. An agent
/// is waiting for the outcome, so a message gives up (FAILED, PROVIDER_UNREACHABLE, resendable) after about
/// 11 seconds of outage rather than minutes.
pub fn send_backoff(attempt: u32) -> Duration {
    backoff(attempt).min(SEND_BACKOFF_MAX)
}

/// The first, in send order (by id), of `m`'s conversation's outbound messages still QUEUED on the side of `m`
/// that `side` names (before or after it): the one it waits for, or the one that waits for it.
fn queued_neighbour(
    m: &message::Model,
    side: sea_orm::sea_query::SimpleExpr,
) -> sea_orm::Selector<sea_orm::SelectGetableTuple<Uuid>> {
    message::Entity::find()
        .select_only()
        .column(message::Column::Id)
        .filter(message::Column::ConversationId.eq(m.conversation_id))
        .filter(message::Column::Direction.eq(Direction::Outbound))
        .filter(message::Column::DeliveryStatus.eq(DeliveryStatus::Queued))
        .filter(side)
        .order_by_asc(message::Column::Id)
        .into_tuple::<Uuid>()
}

/// Delivers one outbound message. `attempt` is 0 for the first provider call.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SendMessage {
    pub message_id: Uuid,
    #[serde(default)]
    pub attempt: u32,
}

impl Job for SendMessage {
    const SPEC: JobSpec =
        JobSpec { queue: "send_message", max_attempts: 3, timeout: Duration::from_secs(60), concurrency: 16 };
    type On = Domain;
    async fn run(&self, on: &Domain) -> Result<()> {
        on.run_send(self).await
    }
}

/// The text of a message: trimmed, 1 to [`TEXT_MAX`] characters, no control characters but line breaks and tabs.
pub fn check_text(raw: &str) -> Result<String, FieldError> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(FieldError::new("text", "REQUIRED", "must not be empty"));
    }
    if text.chars().count() > TEXT_MAX {
        return Err(FieldError::new("text", "TOO_LONG", format!("must be at most {TEXT_MAX} characters")));
    }
    if text.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Err(FieldError::new("text", "INVALID", "must not contain control characters (line breaks are fine)"));
    }
    Ok(text.to_owned())
}

/// A number sends only while it is live (not deleted) and enabled; `field` names the input that chose it.
fn check_can_send(n: &phone_number::Model, field: &str) -> Result<()> {
    let why = if n.deleted_at.is_some() {
        "it is deleted"
    } else if !n.enabled {
        "it is disabled"
    } else {
        return Ok(());
    };
    Err(Error::conflict(field, format!("the channel number {} cannot send: {why}", n.e164)))
}

/// The failure code a message gets when its number stopped being able to send after it was queued.
fn number_unusable(n: &phone_number::Model) -> Option<&'static str> {
    if n.deleted_at.is_some() {
        Some("NUMBER_DELETED")
    } else if !n.enabled {
        Some("NUMBER_DISABLED")
    } else {
        None
    }
}

/// Who writes an outbound message: an agent (or staff), or the conversation's chatbot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Author {
    User(Uuid),
    Chatbot(Uuid),
    /// The product itself (queue messages).
    Automatic,
}

fn new_outbound(
    account_id: Uuid,
    conversation_id: Uuid,
    author: Author,
    text: String,
    now: DateTime<Utc>,
) -> message::Model {
    let (sender_user_id, chatbot_id) = match author {
        Author::User(u) => (Some(u), None),
        Author::Chatbot(b) => (None, Some(b)),
        Author::Automatic => (None, None),
    };
    message::Model {
        id: Uuid::now_v7(),
        account_id,
        conversation_id,
        direction: Direction::Outbound,
        text,
        provider_message_id: None,
        delivery_status: Some(DeliveryStatus::Queued),
        delivery_error: None,
        sender_user_id,
        chatbot_id,
        sent_at: None,
        automatic: author == Author::Automatic,
        send_claimed_until: None,
        created_at: now,
        updated_at: now,
    }
}

/// Queues an outbound message on `txn`: the row, its MESSAGE_CREATED event and its send job (the one way an
/// outbound message enters the send path).
pub(crate) async fn queue_message(txn: &Uow, conv: &conversation::Model, msg: &message::Model) -> Result<()> {
    message::Entity::insert(msg.clone().into_active_model()).exec(txn).await?;
    txn.emit(NewEvent::message(EventKind::MessageCreated, conv, msg.id, msg.created_at));
    enqueue_now(txn, &SendMessage { message_id: msg.id, attempt: 0 }, None).await?;
    Ok(())
}

/// A message the product writes to a conversation's client.
pub(crate) fn automatic_message(conv: &conversation::Model, text: String, now: DateTime<Utc>) -> message::Model {
    new_outbound(conv.account_id, conv.id, Author::Automatic, text, now)
}

/// The rows one send writes: maybe a contact (kept if the account already has one for the number), maybe a new
/// conversation, and the queued message.
struct SendRows<'a> {
    contact: Option<&'a contact::Model>,
    conversation: Option<&'a conversation::Model>,
    message: &'a message::Model,
}

/// The refusal when the client already has an unresolved conversation in the channel.
fn already_open(id: Option<Uuid>) -> Error {
    let which = id.map(|id| format!(" ({id})")).unwrap_or_default();
    Error::conflict(
        "to",
        format!("this client already has an unresolved conversation{which} in this channel: write there instead"),
    )
}

impl Domain {
    /// Stores the rows and queues their send job in one transaction. A contact created meanwhile by a client's
    /// message is reused; a conversation opened meanwhile is a conflict.
    async fn store_with_send_job(&self, rows: &SendRows<'_>) -> Result<()> {
        let txn = self.begin_uow().await?;
        let mut contact_id = None;
        if let Some(c) = rows.contact {
            contact::Entity::insert(c.clone().into_active_model())
                .on_conflict_do_nothing_on([contact::Column::AccountId, contact::Column::E164])
                .exec(&txn)
                .await?;
            let found = contact::Entity::find()
                .filter(contact::Column::AccountId.eq(c.account_id))
                .filter(contact::Column::E164.eq(&c.e164))
                .one(&txn)
                .await?
                .ok_or_else(|| anyhow::anyhow!("contact vanished after upsert"))?;
            contact_id = Some(found.id);
        }
        if let Some(c) = rows.conversation {
            let mut am = c.clone().into_active_model();
            if let Some(id) = contact_id {
                am.contact_id = Set(id);
            }
            match conversation::Entity::insert(am).exec(&txn).await {
                Ok(_) => {}
                // The partial unique index on unresolved conversations: a client's message opened one meanwhile.
                Err(e) if crate::error::is_unique_violation(&e, "ux_conversations_open", "conversations.") => {
                    return Err(already_open(None));
                }
                Err(e) => return Err(e.into()),
            }
            if let Some(agent) = c.assigned_user_id {
                let offer =
                    crate::acd::record_offer(&txn, c, agent, OfferOrigin::WriteFirst, c.created_at, None, true).await?;
                conversation::Entity::update_many()
                    .col_expr(conversation::Column::OfferId, Expr::value(Some(offer)))
                    .filter(conversation::Column::Id.eq(c.id))
                    .exec(&txn)
                    .await?;
                txn.emit(NewEvent::conversation(EventKind::Assigned, c, Some(agent), c.created_at));
            }
        }
        if rows.message.chatbot_id.is_some() {
            // The chatbot answered: its timeout stops until the client writes again. Only while the conversation
            // is still the chatbot's (a hand-off committed meanwhile wins).
            let r = conversation::Entity::update_many()
                .col_expr(conversation::Column::BotDeadline, Expr::value(Option::<DateTime<Utc>>::None))
                .filter(conversation::Column::Id.eq(rows.message.conversation_id))
                .filter(conversation::Column::Status.eq(ConversationStatus::Pending))
                .exec(&txn)
                .await?;
            if r.rows_affected != 1 {
                return Err(Error::conflict(
                    "conversationId",
                    "the conversation is no longer PENDING; a chatbot writes only while it serves the client",
                ));
            }
        }
        let conv = match rows.conversation {
            Some(c) => c.clone(),
            None => conversation::Entity::find_by_id(rows.message.conversation_id)
                .one(&txn)
                .await?
                .ok_or(Error::NotFound("conversation"))?,
        };
        queue_message(&txn, &conv, rows.message).await?;
        self.commit(txn).await?;
        tracing::info!(message_id = %rows.message.id, conversation_id = %rows.message.conversation_id, "message queued");
        Ok(())
    }

    async fn message_by_id(&self, id: Uuid) -> Result<message::Model> {
        message::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("message {id} vanished after insert")))
    }

    /// An agent's reply in a conversation: the assigned agent, or an admin or supervisor of the account (the
    /// visibility rule: anyone else gets NOT_FOUND). Stores the message QUEUED and queues its delivery.
    #[tracing::instrument(skip(self, actor, text), fields(user_id = %actor.user_id))]
    pub async fn send_message(&self, actor: &Actor, conversation_id: Uuid, text: &str) -> Result<message::Model> {
        let conv = self.conversation(actor, conversation_id).await?;
        self.reply(&conv, Author::User(actor.user_id), text).await
    }

    /// A message in an existing conversation, by whoever may write there (checked by the caller): stored QUEUED
    /// with its delivery job.
    pub(crate) async fn reply(&self, conv: &conversation::Model, author: Author, text: &str) -> Result<message::Model> {
        let text = check_text(text).map_err(|e| Error::Invalid(vec![e]))?;
        if conv.status == ConversationStatus::Resolved {
            return Err(Error::conflict(
                "conversationId",
                "the conversation is resolved; start a new conversation to write to this client",
            ));
        }
        let number = phone_number::Entity::find_by_id(conv.phone_number_id)
            .one(&self.db)
            .await?
            .ok_or(Error::NotFound("phone number"))?;
        check_can_send(&number, "conversationId")?;
        let msg = new_outbound(conv.account_id, conv.id, author, text, Utc::now());
        self.store_with_send_job(&SendRows { contact: None, conversation: None, message: &msg }).await?;
        self.message_by_id(msg.id).await
    }

    /// Writing first: starts a conversation with `to` through one of the channel's numbers, assigned to the
    /// caller and INTERACTING, and sends `text` as its first message. The caller must see the channel (agents:
    /// be in its agent list). Refused (CONFLICT on `to`) when the channel does not allow writing first and the
    /// client never wrote to it, or when the client already has an unresolved conversation in the channel.
    #[tracing::instrument(skip(self, actor, to, text), fields(user_id = %actor.user_id))]
    pub async fn start_conversation(
        &self,
        actor: &Actor,
        channel_id: Uuid,
        phone_number_id: Uuid,
        to: &str,
        text: &str,
    ) -> Result<conversation::Model> {
        let ch = self.channel(actor, channel_id).await?;
        let mut errors = Vec::new();
        let to = normalise_e164("to", to).map_err(|e| errors.push(e)).unwrap_or_default();
        let text = check_text(text).map_err(|e| errors.push(e)).unwrap_or_default();
        if !errors.is_empty() {
            return Err(Error::Invalid(errors));
        }
        let number = phone_number::Entity::find_by_id(phone_number_id)
            .filter(phone_number::Column::AccountId.eq(actor.account_id))
            .filter(phone_number::Column::ChannelId.eq(ch.id))
            .one(&self.db)
            .await?
            .ok_or(Error::NotFound("phone number"))?;
        check_can_send(&number, "phoneNumberId")?;
        if to == number.e164 {
            return Err(Error::invalid("to", "INVALID", "must not be the channel's own number"));
        }
        let existing = contact::Entity::find()
            .filter(contact::Column::AccountId.eq(actor.account_id))
            .filter(contact::Column::E164.eq(&to))
            .one(&self.db)
            .await?;
        if !ch.can_write_first && !self.client_wrote_to(&ch, existing.as_ref()).await? {
            return Err(Error::conflict(
                "to",
                "this channel does not allow writing first to a client who never wrote to it",
            ));
        }
        if let Some(c) = &existing
            && let Some(open) = conversation::Entity::find()
                .filter(conversation::Column::ChannelId.eq(ch.id))
                .filter(conversation::Column::ContactId.eq(c.id))
                .filter(conversation::Column::Status.ne(ConversationStatus::Resolved))
                .one(&self.db)
                .await?
        {
            // Name it only to someone who may open it.
            let visible = actor.is_staff() || open.assigned_user_id == Some(actor.user_id);
            return Err(already_open(visible.then_some(open.id)));
        }
        let now = Utc::now();
        let new_contact = contact::Model {
            id: Uuid::now_v7(),
            account_id: actor.account_id,
            e164: to,
            display_name: None,
            created_at: now,
            updated_at: now,
        };
        let conv = conversation::Model {
            id: Uuid::now_v7(),
            account_id: actor.account_id,
            channel_id: ch.id,
            contact_id: existing.as_ref().map_or(new_contact.id, |c| c.id),
            phone_number_id: number.id,
            status: ConversationStatus::Open,
            substatus: Some(ConversationSubstatus::Interacting),
            assigned_user_id: Some(actor.user_id),
            enqueued_at: None,
            wrap_up_code_id: None,
            wrap_up_timed_out: false,
            created_at: now,
            updated_at: now,
            resolved_at: None,
            offer_id: None,
            offer_deadline: None,
            wrap_up_deadline: None,
            // Writing first counts toward the agent's utilization and the channel's limit like any assignment.
            assignment_cost: Some(ch.utilization),
            resolution: None,
            bot_deadline: None,
            hand_off_reason: None,
            handed_off_at: None,
        };
        let msg = new_outbound(actor.account_id, conv.id, Author::User(actor.user_id), text, now);
        let rows = SendRows {
            contact: if existing.is_some() { None } else { Some(&new_contact) },
            conversation: Some(&conv),
            message: &msg,
        };
        self.store_with_send_job(&rows).await?;
        tracing::info!(conversation_id = %conv.id, channel_id = %ch.id, "conversation started by an agent");
        self.conversation(actor, conv.id).await
    }

    /// Whether the client ever wrote to the channel: an inbound message in any of its conversations there.
    /// (A conversation an agent started, which the client never answered, does not count.)
    async fn client_wrote_to(&self, ch: &channel::Model, contact: Option<&contact::Model>) -> Result<bool> {
        let Some(c) = contact else { return Ok(false) };
        let found = message::Entity::find()
            .select_only()
            .column(message::Column::Id)
            .filter(message::Column::Direction.eq(Direction::Inbound))
            .filter(
                message::Column::ConversationId.in_subquery(
                    Query::select()
                        .column(conversation::Column::Id)
                        .from(conversation::Entity)
                        .and_where(conversation::Column::ChannelId.eq(ch.id))
                        .and_where(conversation::Column::ContactId.eq(c.id))
                        .to_owned(),
                ),
            )
            .limit(1)
            .into_tuple::<Uuid>()
            .one(&self.db)
            .await?;
        Ok(found.is_some())
    }

    /// The `send_message` job: one provider call, then SENT, FAILED or a delayed retry. Idempotent: a message no
    /// longer QUEUED is left alone, and the provider deduplicates by the message id.
    #[tracing::instrument(skip(self), fields(message_id = %job.message_id, attempt = job.attempt))]
    pub async fn run_send(&self, job: &SendMessage) -> Result<()> {
        let Some(m) = message::Entity::find_by_id(job.message_id).one(&self.db).await? else {
            return Ok(()); // deleted with its conversation: nothing to send
        };
        if m.direction != Direction::Outbound || m.delivery_status != Some(DeliveryStatus::Queued) {
            tracing::info!(status = ?m.delivery_status, "message no longer queued; skipped");
            return Ok(());
        }
        // A conversation's messages reach the client in the order they were written: while an earlier one of
        // its conversation is still QUEUED (being sent, or waiting for a retry), this one waits. Its job ends
        // here; the earlier one's outcome (SENT or FAILED) queues the send of the next one, in the same commit
        // (see `finish_send`), so none is left waiting and none waits longer than that.
        if let Some(earlier) = queued_neighbour(&m, message::Column::Id.lt(m.id)).one(&self.db).await? {
            tracing::debug!(%earlier, "an earlier message of the conversation is not sent yet; waits for it");
            return Ok(());
        }
        // A message can have two send jobs: its own, and the one its predecessor's outcome queued. Whichever
        // claims it calls the provider; the other checks again when the claim's lease ends (by then the message
        // is no longer QUEUED, unless the claiming job died mid-call).
        if !self.claim_send(&m).await? {
            tracing::debug!("another send job holds the message; checked again when its lease ends");
            enqueue(&self.db, job, Due::After(SEND_LEASE)).await?;
            return Ok(());
        }
        let Some(conv) = conversation::Entity::find_by_id(m.conversation_id).one(&self.db).await? else {
            return Ok(());
        };
        let (number, ch, to) = futures::try_join!(
            phone_number::Entity::find_by_id(conv.phone_number_id).one(&self.db),
            channel::Entity::find_by_id(conv.channel_id).one(&self.db),
            contact::Entity::find_by_id(conv.contact_id).one(&self.db),
        )?;
        let (Some(number), Some(ch), Some(to)) = (number, ch, to) else {
            return self.finish_send(&m, DeliveryStatus::Failed, None, Some("NUMBER_DELETED")).await;
        };
        if let Some(code) = number_unusable(&number) {
            tracing::warn!(code, "the number cannot send any more");
            return self.finish_send(&m, DeliveryStatus::Failed, None, Some(code)).await;
        }
        // A key stored under another encryption key is an error for apalis to retry and then a failed job admins
        // see and can retry once the key is fixed; the message stays QUEUED meanwhile.
        let key = match self.cipher.decrypt(&number.api_key_enc) {
            Ok(key) => key,
            Err(e) => {
                self.release_send(m.id).await?;
                return Err(e
                    .context("the number's stored API key cannot be decrypted with this deployment's encryption key")
                    .into());
            }
        };
        let out = OutboundMessage {
            from: number.e164.clone(),
            to: to.e164.clone(),
            text: m.text.clone(),
            client_message_id: m.id,
        };
        match self.provider.send(&ch.api_url, &key, &out).await {
            Ok(provider_id) => {
                tracing::info!(%provider_id, "message sent");
                self.finish_send(&m, DeliveryStatus::Sent, Some(provider_id), None).await
            }
            Err(e) if e.is_transient() && job.attempt + 1 < SEND_ATTEMPTS => {
                let wait = send_backoff(job.attempt);
                let delay = e.retry_after().map_or(wait, |d| d.min(RETRY_AFTER_CAP).max(wait));
                tracing::warn!(error = %e, ?delay, "provider unavailable; send retried later");
                let next = SendMessage { message_id: m.id, attempt: job.attempt + 1 };
                enqueue(&self.db, &next, Due::After(delay)).await?;
                self.release_send(m.id).await
            }
            Err(e) => {
                tracing::warn!(error = %e, "send failed");
                self.finish_send(&m, DeliveryStatus::Failed, None, Some(e.reason_code())).await
            }
        }
    }

    /// Takes the message for this job's provider call: only while it is QUEUED and no other job holds it (or the
    /// holder's lease ran out). One conditional UPDATE, so of two racing jobs exactly one gets it.
    async fn claim_send(&self, m: &message::Model) -> Result<bool> {
        let now = Utc::now();
        let until = now + chrono::Duration::from_std(SEND_LEASE).unwrap_or_default();
        let r = message::Entity::update_many()
            .col_expr(message::Column::SendClaimedUntil, Expr::value(Some(until)))
            .filter(message::Column::Id.eq(m.id))
            .filter(message::Column::DeliveryStatus.eq(DeliveryStatus::Queued))
            .filter(
                Condition::any()
                    .add(message::Column::SendClaimedUntil.is_null())
                    .add(message::Column::SendClaimedUntil.lt(now)),
            )
            .exec(&self.db)
            .await?;
        Ok(r.rows_affected == 1)
    }

    /// Lets go of a message whose provider call is retried later, so that the retry can take it at once.
    async fn release_send(&self, message_id: Uuid) -> Result<()> {
        message::Entity::update_many()
            .col_expr(message::Column::SendClaimedUntil, Expr::value(Option::<DateTime<Utc>>::None))
            .filter(message::Column::Id.eq(message_id))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Records a send's outcome, only while the message is still QUEUED (a re-run job changes nothing), and
    /// queues the send of the next QUEUED message of the conversation, which waited for this one.
    async fn finish_send(
        &self,
        m: &message::Model,
        status: DeliveryStatus,
        provider_id: Option<String>,
        error: Option<&str>,
    ) -> Result<()> {
        let now = Utc::now();
        let mut q = message::Entity::update_many()
            .col_expr(message::Column::DeliveryStatus, Expr::value(Some(status)))
            .col_expr(message::Column::DeliveryError, Expr::value(error.map(str::to_owned)))
            .col_expr(message::Column::UpdatedAt, Expr::value(now))
            .col_expr(message::Column::SendClaimedUntil, Expr::value(Option::<DateTime<Utc>>::None));
        if let Some(pid) = provider_id {
            q = q
                .col_expr(message::Column::ProviderMessageId, Expr::value(Some(pid)))
                .col_expr(message::Column::SentAt, Expr::value(Some(now)));
        }
        let txn = self.begin_uow().await?;
        let r = q
            .filter(message::Column::Id.eq(m.id))
            .filter(message::Column::DeliveryStatus.eq(DeliveryStatus::Queued))
            .exec(&txn)
            .await?;
        if r.rows_affected == 1 {
            status_changed(&txn, m.id, now).await?;
            if let Some(next) = queued_neighbour(m, message::Column::Id.gt(m.id)).one(&txn).await? {
                // Never attempted (it waited from its first run): attempt 0. Keyed by this outcome, so that it is
                // queued once.
                let job = SendMessage { message_id: next, attempt: 0 };
                enqueue_now(&txn, &job, Some(&format!("after:{}", m.id))).await?;
            }
        }
        self.commit(txn).await
    }

    /// Applies a provider status to the outbound message with that provider id, never moving it backwards:
    /// QUEUED -> SENT -> DELIVERED -> READ, and FAILED may replace QUEUED or SENT but not DELIVERED or READ (a
    /// failed message stays failed). The update is conditional on the current status, so racing status webhooks
    /// cannot undo each other. Returns whether such a message exists (applied or not).
    pub async fn apply_delivery_status(
        &self,
        provider_message_id: &str,
        status: DeliveryStatus,
        error: Option<String>,
    ) -> Result<bool> {
        let Some(m) = message::Entity::find()
            .filter(message::Column::Direction.eq(Direction::Outbound))
            .filter(message::Column::ProviderMessageId.eq(provider_message_id))
            .one(&self.db)
            .await?
        else {
            return Ok(false);
        };
        let before: Vec<DeliveryStatus> = match status {
            DeliveryStatus::Failed => vec![DeliveryStatus::Queued, DeliveryStatus::Sent],
            s => [DeliveryStatus::Queued, DeliveryStatus::Sent, DeliveryStatus::Delivered]
                .into_iter()
                .filter(|p| p.rank() < s.rank())
                .collect(),
        };
        if before.is_empty() {
            return Ok(true);
        }
        let error = match status {
            DeliveryStatus::Failed => error.map(|e| e.chars().take(500).collect::<String>()),
            _ => None,
        };
        let now = Utc::now();
        let txn = self.begin_uow().await?;
        let r = message::Entity::update_many()
            .col_expr(message::Column::DeliveryStatus, Expr::value(Some(status)))
            .col_expr(message::Column::DeliveryError, Expr::value(error))
            .col_expr(message::Column::UpdatedAt, Expr::value(now))
            .filter(message::Column::Id.eq(m.id))
            .filter(message::Column::DeliveryStatus.is_in(before))
            .exec(&txn)
            .await?;
        if r.rows_affected == 1 {
            status_changed(&txn, m.id, now).await?;
        }
        self.commit(txn).await?;
        tracing::info!(message_id = %m.id, ?status, applied = r.rows_affected == 1, "delivery status");
        Ok(true)
    }
}

/// MESSAGE_STATUS_CHANGED for a message whose delivery status the unit of work just changed.
async fn status_changed(txn: &Uow, message_id: Uuid, now: chrono::DateTime<Utc>) -> Result<()> {
    let conv = conversation::Entity::find()
        .filter(
            conversation::Column::Id.in_subquery(
                Query::select()
                    .column(message::Column::ConversationId)
                    .from(message::Entity)
                    .and_where(message::Column::Id.eq(message_id))
                    .to_owned(),
            ),
        )
        .one(txn)
        .await?;
    if let Some(conv) = conv {
        txn.emit(NewEvent::message(EventKind::MessageStatusChanged, &conv, message_id, now));
    }
    Ok(())
}
