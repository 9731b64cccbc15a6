//! Posting clients' messages to a conversation's chatbot, and the chatbot's timeout.
//!
//! A client's message stored while its conversation is PENDING gets a row in `chatbot_posts` (the outbox) and a
//! `chatbot_post` job, in the unit of work that stores it. apalis runs jobs in any order and at least once, so
//! the job does not post "its" message: it takes the conversation's lease (`chatbot_leases`, one holder at a
//! time, expiring so a crashed holder does not block it), posts the conversation's pending messages oldest
//! first, one at a time, marking each posted, then releases the lease and looks again (a message committed while
//! it held the lease, whose own job found the lease taken, is posted by this one; a job that finds the lease
//! taken also queues itself for when it runs out, in case its holder died). A post is signed like the
//! provider's webhooks, with the chatbot's signing secret, and carries the message id as `Idempotency-Key`, the
//! same on every retry, so a bot drops a repeat (a crash between the bot's answer and the mark re-posts it).
//! Transient failures wait with backoff (later messages wait behind the failed one: order holds); a post that
//! fails for good hands the conversation off (CHATBOT_UNREACHABLE).
//!
//! The chatbot timeout: a client's message sets the conversation's `bot_deadline` (unless one is already
//! running), the chatbot's message clears it; a `chatbot_timeout` job at the deadline, and the deadline sweeper
//! behind it, hand off a conversation whose deadline passed (CHATBOT_TIMEOUT).

use super::serving;
use crate::Result;
use crate::acd::lifecycle::{drop_pending_posts, hand_off};
use crate::chatbots::Chatbots;
use crate::clock::seconds;
use crate::jobs::{Due, Job, JobSpec, backoff, enqueue, enqueue_now};
use crate::live::Uow;
use crate::provider::signature::{self, BOT_IDEMPOTENCY_HEADER, BOT_SIGNATURE_HEADER, BOT_TIMESTAMP_HEADER};
use chrono::{DateTime, Utc};
use entity::{
    BotPostStatus, ConversationStatus, HandOffReason, channel, chatbot, chatbot_lease, chatbot_post, contact,
    conversation, message,
};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set, Statement};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// How long one post may take (connect, send, answer).
pub const POST_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts per message before the conversation is handed off (waits of 1, 2, 4 and 8 s between them).
pub const POST_ATTEMPTS: i32 = 5;
/// How long a job run holds a conversation's lease per post: longer than a post can take.
const LEASE: Duration = Duration::from_secs(15);
/// Posts one run makes before it queues a fresh run (keeps a run well inside its job timeout).
const POSTS_PER_RUN: usize = 20;

/// Posts a conversation's pending messages to its chatbot, in order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PostToChatbot {
    pub conversation_id: Uuid,
}

impl Job for PostToChatbot {
    const SPEC: JobSpec =
        JobSpec { queue: "chatbot_post", max_attempts: 5, timeout: Duration::from_secs(300), concurrency: 16 };
    type On = Chatbots;
    async fn run(&self, on: &Chatbots) -> Result<()> {
        on.run_chatbot_posts(self.conversation_id).await
    }
}

/// A conversation's chatbot timeout.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatbotTimeout {
    pub conversation_id: Uuid,
}

impl Job for ChatbotTimeout {
    const SPEC: JobSpec =
        JobSpec { queue: "chatbot_timeout", max_attempts: 5, timeout: Duration::from_secs(30), concurrency: 16 };
    type On = Chatbots;
    async fn run(&self, on: &Chatbots) -> Result<()> {
        if let Some(d) = on.expire_chatbot(self.conversation_id).await? {
            enqueue(&on.db, self, Due::At(d)).await?;
        }
        Ok(())
    }
}

/// In the unit of work that stored a client's message in a PENDING conversation: queue its post to the chatbot,
/// and start the chatbot's timeout unless one is running.
pub(crate) async fn on_pending_message(
    db: &Uow,
    conv: &conversation::Model,
    ch: &channel::Model,
    chatbot_id: Option<Uuid>,
    message_id: Uuid,
    now: DateTime<Utc>,
) -> Result<()> {
    if let Some(chatbot_id) = chatbot_id {
        chatbot_post::Entity::insert(chatbot_post::ActiveModel {
            message_id: Set(message_id),
            account_id: Set(conv.account_id),
            conversation_id: Set(conv.id),
            chatbot_id: Set(chatbot_id),
            status: Set(BotPostStatus::Pending),
            attempts: Set(0),
            next_attempt_at: Set(now),
            last_error: Set(None),
            created_at: Set(now),
            posted_at: Set(None),
        })
        .on_conflict_do_nothing()
        .exec_without_returning(db)
        .await?;
    }
    if conv.bot_deadline.is_none() {
        // On the database's clock, like every deadline (the sweeper compares it with that clock).
        let deadline = crate::clock::db_now(db).await? + seconds(ch.chatbot_timeout);
        let r = conversation::Entity::update_many()
            .col_expr(conversation::Column::BotDeadline, Expr::value(Some(deadline)))
            .filter(conversation::Column::Id.eq(conv.id))
            .filter(conversation::Column::Status.eq(ConversationStatus::Pending))
            .filter(conversation::Column::BotDeadline.is_null())
            .exec(db)
            .await?;
        if r.rows_affected == 1 {
            enqueue(db, &ChatbotTimeout { conversation_id: conv.id }, Due::At(deadline)).await?;
        }
    }
    if chatbot_id.is_some() {
        enqueue_now(db, &PostToChatbot { conversation_id: conv.id }, None).await?;
    }
    Ok(())
}

/// How a post went wrong.
#[derive(Debug)]
pub(crate) struct PostError {
    /// Worth another attempt (no answer, timeout, 408, 429, 5xx); otherwise another attempt would fail the same
    /// way (refused address, other 4xx, no signing secret).
    pub transient: bool,
    /// The status the chatbot answered, if it answered.
    pub status: Option<u16>,
    pub message: String,
}

impl PostError {
    fn permanent(message: impl Into<String>) -> Self {
        Self { transient: false, status: None, message: message.into() }
    }
}

/// What one run of the drain left behind.
enum Drain {
    /// Nothing due is pending.
    Done,
    /// The oldest pending post waits until then (backoff).
    RetryAt(DateTime<Utc>),
    /// More to post than one run posts.
    More,
    /// Another run holds the lease now.
    Lost,
}

/// A post's body: the contract of the chatbot endpoint.
pub(crate) fn message_body(
    conv: &conversation::Model,
    msg: &message::Model,
    who: Option<&contact::Model>,
) -> serde_json::Value {
    serde_json::json!({
        "type": "message",
        "conversationId": conv.id,
        "channelId": conv.channel_id,
        "message": { "id": msg.id, "text": msg.text, "sentAt": msg.sent_at },
        "contact": {
            "phoneNumber": who.map(|c| c.e164.as_str()),
            "name": who.and_then(|c| c.display_name.as_deref()),
        },
    })
}

impl Chatbots {
    /// The `chatbot_post` job: posts while it holds the conversation's lease, then looks again after releasing
    /// it (see the module's doc).
    #[tracing::instrument(skip(self))]
    pub async fn run_chatbot_posts(&self, conversation_id: Uuid) -> Result<()> {
        loop {
            let holder = Uuid::new_v4();
            if !self.claim_lease(conversation_id, holder).await? {
                // Another run posts, and looks again after releasing the lease. Should it have died holding
                // the lease, this job takes over when the lease runs out.
                let until = chatbot_lease::Entity::find_by_id(conversation_id).one(&self.db).await?.map(|l| l.until);
                if let Some(at) = until {
                    enqueue(&self.db, &PostToChatbot { conversation_id }, Due::At(at)).await?;
                    return Ok(());
                }
                continue; // released meanwhile: try again
            }
            let drained = self.drain_posts(conversation_id, holder).await;
            chatbot_lease::Entity::delete_many()
                .filter(chatbot_lease::Column::ConversationId.eq(conversation_id))
                .filter(chatbot_lease::Column::Holder.eq(holder))
                .exec(&self.db)
                .await?;
            match drained? {
                Drain::Done | Drain::Lost => {
                    let pending = chatbot_post::Entity::find()
                        .filter(chatbot_post::Column::ConversationId.eq(conversation_id))
                        .filter(chatbot_post::Column::Status.eq(BotPostStatus::Pending))
                        .one(&self.db)
                        .await?;
                    if pending.is_none() {
                        return Ok(());
                    }
                }
                Drain::RetryAt(at) => {
                    enqueue(&self.db, &PostToChatbot { conversation_id }, Due::At(at)).await?;
                    return Ok(());
                }
                Drain::More => {
                    enqueue(&self.db, &PostToChatbot { conversation_id }, Due::Now).await?;
                    self.wakeups.wake(PostToChatbot::SPEC.queue);
                    return Ok(());
                }
            }
        }
    }

    /// Takes the conversation's lease for `holder` unless another holder's is still running.
    async fn claim_lease(&self, conversation_id: Uuid, holder: Uuid) -> Result<bool> {
        let now = Utc::now();
        let until = now + chrono::Duration::from_std(LEASE).unwrap_or(chrono::Duration::MAX);
        let backend = self.db.get_database_backend();
        let sql = "INSERT INTO chatbot_leases (conversation_id, holder, until) VALUES ($1, $2, $3) \
                   ON CONFLICT (conversation_id) DO UPDATE SET holder = excluded.holder, until = excluded.until \
                   WHERE chatbot_leases.until < $4 RETURNING holder";
        let values: Vec<sea_orm::Value> = vec![conversation_id.into(), holder.into(), until.into(), now.into()];
        let row = self.db.query_one_raw(Statement::from_sql_and_values(backend, sql, values)).await?;
        Ok(row.is_some())
    }

    /// Extends `holder`'s lease before a post; false when another run took it over.
    async fn renew_lease(&self, conversation_id: Uuid, holder: Uuid) -> Result<bool> {
        let until = Utc::now() + chrono::Duration::from_std(LEASE).unwrap_or(chrono::Duration::MAX);
        let r = chatbot_lease::Entity::update_many()
            .col_expr(chatbot_lease::Column::Until, Expr::value(until))
            .filter(chatbot_lease::Column::ConversationId.eq(conversation_id))
            .filter(chatbot_lease::Column::Holder.eq(holder))
            .exec(&self.db)
            .await?;
        Ok(r.rows_affected == 1)
    }

    async fn drain_posts(&self, conversation_id: Uuid, holder: Uuid) -> Result<Drain> {
        for _ in 0..POSTS_PER_RUN {
            let Some(post) = chatbot_post::Entity::find()
                .filter(chatbot_post::Column::ConversationId.eq(conversation_id))
                .filter(chatbot_post::Column::Status.eq(BotPostStatus::Pending))
                .order_by_asc(chatbot_post::Column::MessageId)
                .one(&self.db)
                .await?
            else {
                return Ok(Drain::Done);
            };
            if post.next_attempt_at > Utc::now() {
                return Ok(Drain::RetryAt(post.next_attempt_at));
            }
            let Some(conv) = conversation::Entity::find_by_id(conversation_id).one(&self.db).await? else {
                drop_pending_posts(&self.db, conversation_id).await?;
                return Ok(Drain::Done);
            };
            if conv.status != ConversationStatus::Pending {
                drop_pending_posts(&self.db, conversation_id).await?;
                return Ok(Drain::Done);
            }
            let (ch, bot, msg, who) = futures::try_join!(
                channel::Entity::find_by_id(conv.channel_id).one(&self.db),
                chatbot::Entity::find_by_id(post.chatbot_id).one(&self.db),
                message::Entity::find_by_id(post.message_id).one(&self.db),
                contact::Entity::find_by_id(conv.contact_id).one(&self.db),
            )?;
            let bot = bot.filter(|b| serving(b) && ch.as_ref().is_some_and(|c| c.chatbot_id == Some(b.id)));
            let (Some(bot), Some(msg)) = (bot, msg) else {
                // The chatbot stopped serving this conversation (the change that did so hands it off; this
                // catches a race with it).
                self.give_up(&conv, None, HandOffReason::ChatbotDisabled, "the chatbot no longer serves it").await?;
                return Ok(Drain::Done);
            };
            if !self.renew_lease(conversation_id, holder).await? {
                return Ok(Drain::Lost);
            }
            let body = message_body(&conv, &msg, who.as_ref());
            match self.post_to_chatbot(&bot, &body, &msg.id.to_string()).await.1 {
                Ok(_) => {
                    chatbot_post::Entity::update_many()
                        .col_expr(chatbot_post::Column::Status, Expr::value(BotPostStatus::Posted))
                        .col_expr(chatbot_post::Column::PostedAt, Expr::value(Some(Utc::now())))
                        .filter(chatbot_post::Column::MessageId.eq(post.message_id))
                        .filter(chatbot_post::Column::Status.eq(BotPostStatus::Pending))
                        .exec(&self.db)
                        .await?;
                    tracing::info!(message_id = %msg.id, chatbot_id = %bot.id, "message posted to the chatbot");
                }
                Err(PostError { transient: true, message: e, .. }) if post.attempts + 1 < POST_ATTEMPTS => {
                    let wait = backoff(u32::try_from(post.attempts).unwrap_or(0));
                    let at = Utc::now() + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX);
                    tracing::warn!(message_id = %msg.id, error = %e, ?wait, "chatbot post failed; retried later");
                    chatbot_post::Entity::update_many()
                        .col_expr(chatbot_post::Column::Attempts, Expr::value(post.attempts + 1))
                        .col_expr(chatbot_post::Column::NextAttemptAt, Expr::value(at))
                        .col_expr(chatbot_post::Column::LastError, Expr::value(Some(clip(&e))))
                        .filter(chatbot_post::Column::MessageId.eq(post.message_id))
                        .filter(chatbot_post::Column::Status.eq(BotPostStatus::Pending))
                        .exec(&self.db)
                        .await?;
                    return Ok(Drain::RetryAt(at));
                }
                Err(e) => {
                    tracing::warn!(message_id = %msg.id, error = %e.message, "chatbot post failed for good; handing off");
                    let reason = HandOffReason::ChatbotUnreachable;
                    self.give_up(&conv, Some(post.message_id), reason, &e.message).await?;
                    return Ok(Drain::Done);
                }
            }
        }
        Ok(Drain::More)
    }

    /// Hands a PENDING conversation off because its chatbot cannot serve it, recording why on the failed post.
    async fn give_up(
        &self,
        conv: &conversation::Model,
        failed: Option<Uuid>,
        reason: HandOffReason,
        why: &str,
    ) -> Result<()> {
        let (txn, now) = self.begin_acd(conv.account_id).await?;
        if let Some(id) = failed {
            chatbot_post::Entity::update_many()
                .col_expr(chatbot_post::Column::Status, Expr::value(BotPostStatus::Failed))
                .col_expr(chatbot_post::Column::LastError, Expr::value(Some(clip(why))))
                .filter(chatbot_post::Column::MessageId.eq(id))
                .exec(&txn)
                .await?;
        }
        let current = conversation::Entity::find_by_id(conv.id).one(&txn).await?;
        let handed = match current.filter(|c| c.status == ConversationStatus::Pending) {
            Some(c) => hand_off(&txn, &c, reason, now).await?,
            None => false,
        };
        self.commit(txn).await?;
        if handed {
            tracing::warn!(conversation_id = %conv.id, ?reason, why, "conversation handed off from its chatbot");
        }
        Ok(())
    }

    /// One signed post to a chatbot's endpoint: how long it took, and the status it answered.
    pub(crate) async fn post_to_chatbot(
        &self,
        bot: &chatbot::Model,
        body: &serde_json::Value,
        idempotency_key: &str,
    ) -> (Duration, Result<u16, PostError>) {
        let started = Instant::now();
        let result = self.try_post(bot, body, idempotency_key).await;
        (started.elapsed(), result)
    }

    async fn try_post(
        &self,
        bot: &chatbot::Model,
        body: &serde_json::Value,
        idempotency_key: &str,
    ) -> Result<u16, PostError> {
        let Some(endpoint) = bot.endpoint_url.as_deref() else {
            return Err(PostError::permanent("the chatbot has no endpoint URL"));
        };
        let Some(secret_enc) = bot.signing_secret_enc.as_deref() else {
            return Err(PostError::permanent("the chatbot has no signing secret: rotate its credentials"));
        };
        let url = url::Url::parse(endpoint).map_err(|_| PostError::permanent("the endpoint URL is invalid"))?;
        self.url_policy.check_connect(&url).map_err(|e| PostError::permanent(e.to_string()))?;
        let secret = self
            .cipher
            .decrypt(secret_enc)
            .map_err(|_| PostError::permanent("the signing secret cannot be decrypted with this deployment's key"))?;
        let raw = serde_json::to_vec(body).map_err(|e| PostError::permanent(format!("encoding the post: {e}")))?;
        let ts = Utc::now().timestamp();
        let answer = self
            .chatbot_http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(BOT_TIMESTAMP_HEADER, ts.to_string())
            .header(BOT_SIGNATURE_HEADER, signature::sign(secret.expose(), ts, &raw))
            .header(BOT_IDEMPOTENCY_HEADER, idempotency_key)
            .timeout(POST_TIMEOUT)
            .body(raw)
            .send()
            .await;
        let status = match answer {
            Ok(r) => r.status(),
            Err(e) => {
                return Err(match crate::net::request_failure(&e) {
                    Ok(what) => PostError { transient: true, status: None, message: format!("the chatbot: {what}") },
                    Err(refused) => PostError::permanent(refused.to_string()),
                });
            }
        };
        let code = status.as_u16();
        if status.is_success() {
            return Ok(code);
        }
        let transient = status.is_server_error() || code == 408 || code == 429;
        Err(PostError { transient, status: Some(code), message: format!("the chatbot answered {code}") })
    }

    /// The chatbot timeout of a conversation: hands it off when its deadline has passed on the database clock;
    /// returns the deadline when it is still ahead (the job reschedules itself), `None` when nothing is left to do.
    pub async fn expire_chatbot(&self, conversation_id: Uuid) -> Result<Option<DateTime<Utc>>> {
        let Some(conv) = conversation::Entity::find_by_id(conversation_id).one(&self.db).await? else {
            return Ok(None);
        };
        if conv.status != ConversationStatus::Pending || conv.bot_deadline.is_none() {
            return Ok(None);
        }
        let (txn, now) = self.begin_acd(conv.account_id).await?;
        let Some(conv) = conversation::Entity::find_by_id(conversation_id).one(&txn).await? else {
            return Ok(None);
        };
        let deadline = match (conv.status, conv.bot_deadline) {
            (ConversationStatus::Pending, Some(d)) => d,
            _ => return Ok(None),
        };
        if deadline > now {
            return Ok(Some(deadline));
        }
        let handed = hand_off(&txn, &conv, HandOffReason::ChatbotTimeout, now).await?;
        self.commit(txn).await?;
        if handed {
            tracing::info!(%conversation_id, "the chatbot did not answer in time; conversation handed off");
        }
        Ok(None)
    }

    /// One pass of the sweeper over chatbot deadlines: every PENDING conversation whose chatbot did not answer
    /// in time is handed off. Returns how many.
    pub async fn sweep_chatbot_deadlines(&self) -> Result<usize> {
        let now = crate::clock::db_now(&self.db).await?;
        let mut n = 0;
        for id in self.overdue_chatbots(now, crate::acd::timers::SWEEP_BATCH).await? {
            if self.expire_chatbot(id).await?.is_none() {
                n += 1;
            }
        }
        Ok(n)
    }

    /// PENDING conversations whose chatbot deadline has passed (the sweeper hands them off).
    async fn overdue_chatbots(&self, now: DateTime<Utc>, limit: u64) -> Result<Vec<Uuid>> {
        use sea_orm::QuerySelect;
        Ok(conversation::Entity::find()
            .select_only()
            .column(conversation::Column::Id)
            .filter(conversation::Column::Status.eq(ConversationStatus::Pending))
            .filter(conversation::Column::BotDeadline.lte(now))
            .limit(limit)
            .into_tuple()
            .all(&self.db)
            .await?)
    }
}

/// The client of posts to chatbots: no redirects (a post is signed for one endpoint), the URL policy's resolver,
/// short connect timeout.
pub(crate) fn http_client(policy: crate::net::UrlPolicy) -> Result<reqwest::Client, reqwest::Error> {
    policy
        .client_builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(POST_TIMEOUT)
        .user_agent(concat!("wa-contact-center/", env!("CARGO_PKG_VERSION")))
        .build()
}

fn clip(s: &str) -> String {
    s.chars().take(500).collect()
}
