//! Conversations and messages: reading them (under the engine's visibility rule), replying and writing first.

use super::connection::PageInfo;
use super::enums::{
    ConversationStatus, ConversationSubstatus, DeliveryStatus, HandOffReason, MessageDirection, Resolution,
};
use super::error::{ApiError, ApiResult};
use super::types::{Channel, Chatbot, PhoneNumber, User, WrapUpCode};
use super::{Acting, acting, actor, engine, loaders, uuid};
use async_graphql::{Context, ID, Object};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use entity::{contact, message, user};
use worker::conversations::{
    ConversationCursor, ConversationFilter, ConversationPage, ConversationView, MAX_CONVERSATIONS, MAX_MESSAGES,
    MAX_QUEUE, QueueCursor,
};

/// A count argument within `0..=max`, or BAD_USER_INPUT on `field`.
fn count(field: &str, n: i32, max: u64) -> ApiResult<u64> {
    u64::try_from(n)
        .ok()
        .filter(|n| *n <= max)
        .ok_or_else(|| ApiError::bad_input(field, "OUT_OF_RANGE", format!("must be between 0 and {max}")))
}

/// A client: a phone number that writes to (or is written to by) the contact center.
pub struct Contact(pub contact::Model);

#[Object]
impl Contact {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The client's number in E.164 form, e.g. `+14155550123`.
    async fn phone_number(&self) -> &str {
        &self.0.e164
    }
    /// The name the client's WhatsApp profile gives, when the provider sent one.
    async fn display_name(&self) -> Option<&str> {
        self.0.display_name.as_deref()
    }
}

/// One message of a conversation.
pub struct Message(pub message::Model, pub Option<user::Model>);

#[Object]
impl Message {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn conversation_id(&self) -> ID {
        ID(self.0.conversation_id.to_string())
    }
    /// INBOUND from the client, OUTBOUND from an agent.
    async fn direction(&self) -> MessageDirection {
        self.0.direction.into()
    }
    async fn text(&self) -> &str {
        &self.0.text
    }
    /// Written by the product itself (a queue message to a waiting client).
    async fn automatic(&self) -> bool {
        self.0.automatic
    }
    /// Outbound messages only: QUEUED, SENT, DELIVERED, READ or FAILED.
    async fn delivery_status(&self) -> Option<DeliveryStatus> {
        self.0.delivery_status.map(Into::into)
    }
    /// Why an outbound message FAILED: `INVALID_KEY`, `UNKNOWN_NUMBER`, `PROVIDER_UNREACHABLE`, `REJECTED`,
    /// `NUMBER_DISABLED`, `NUMBER_DELETED`, ..., or the provider's own error from a status update.
    async fn delivery_error(&self) -> Option<&str> {
        self.0.delivery_error.as_deref()
    }
    /// The user who wrote an outbound message (null when its chatbot did).
    async fn sender(&self) -> Option<User> {
        self.1.clone().map(User)
    }
    /// The chatbot that wrote an outbound message.
    async fn chatbot(&self, ctx: &Context<'_>) -> ApiResult<Option<Chatbot>> {
        let Some(id) = self.0.chatbot_id else { return Ok(None) };
        Ok(loaders(ctx)?.chatbots.load_one(id).await?.map(Chatbot))
    }
    /// The provider's id for the message (inbound: from the webhook; outbound: once SENT).
    async fn provider_message_id(&self) -> Option<&str> {
        self.0.provider_message_id.as_deref()
    }
    /// Inbound: when the client sent it; outbound: when the provider accepted it.
    async fn sent_at(&self) -> Option<DateTime<Utc>> {
        self.0.sent_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// A conversation with one client through one channel number.
pub struct Conversation(pub ConversationView);

#[Object]
impl Conversation {
    async fn id(&self) -> ID {
        ID(self.0.conversation.id.to_string())
    }
    /// The channel the conversation belongs to.
    async fn channel(&self) -> Channel {
        Channel(self.0.channel.clone())
    }
    /// The client.
    async fn contact(&self) -> Contact {
        Contact(self.0.contact.clone())
    }
    /// The channel number the conversation came through, and that replies leave from.
    async fn phone_number(&self) -> PhoneNumber {
        PhoneNumber(self.0.phone_number.clone())
    }
    async fn status(&self) -> ConversationStatus {
        self.0.conversation.status.into()
    }
    /// The step of an OPEN conversation; null otherwise.
    async fn substatus(&self) -> Option<ConversationSubstatus> {
        self.0.conversation.substatus.map(Into::into)
    }
    /// The agent working (or offered) the conversation.
    async fn assigned_agent(&self) -> Option<User> {
        self.0.assigned_agent.clone().map(User)
    }
    /// When the conversation first entered the queue; kept across requeues (it sets the queue order).
    async fn enqueued_at(&self) -> Option<DateTime<Utc>> {
        self.0.conversation.enqueued_at
    }
    /// True when the wrap-up time ran out and the conversation was resolved without a code.
    async fn wrap_up_timed_out(&self) -> bool {
        self.0.conversation.wrap_up_timed_out
    }
    /// While ALERTING: when the offer times out (it then goes back to the queue).
    async fn offer_deadline(&self) -> Option<DateTime<Utc>> {
        self.0.conversation.offer_deadline
    }
    /// While in AFTER_CALL_WORK with a wrap-up timeout: when it is resolved without a code.
    async fn wrap_up_deadline(&self) -> Option<DateTime<Utc>> {
        self.0.conversation.wrap_up_deadline
    }
    /// The wrap-up code chosen when it was resolved.
    async fn wrap_up_code(&self, ctx: &Context<'_>) -> ApiResult<Option<WrapUpCode>> {
        let Some(id) = self.0.conversation.wrap_up_code_id else { return Ok(None) };
        Ok(loaders(ctx)?.wrap_up_codes.load_one(id).await?.map(WrapUpCode))
    }
    /// While IN_QUEUE: its place in the channel's queue, from 1.
    async fn queue_position(&self, ctx: &Context<'_>) -> ApiResult<Option<u64>> {
        if self.0.conversation.substatus != Some(entity::ConversationSubstatus::InQueue) {
            return Ok(None);
        }
        loaders(ctx)?.queue_positions.load_one(self.0.conversation.id).await
    }
    /// How it was resolved.
    async fn resolution(&self) -> Option<Resolution> {
        self.0.conversation.resolution.map(Into::into)
    }
    /// While PENDING, after a client's message: when the conversation is handed off unless the chatbot answers
    /// or hands off first.
    async fn chatbot_deadline(&self) -> Option<DateTime<Utc>> {
        self.0.conversation.bot_deadline
    }
    /// While IN_QUEUE or ALERTING: how long the client will likely still wait, or why there is no guess.
    async fn estimated_wait(&self, ctx: &Context<'_>) -> ApiResult<Option<EstimatedWait>> {
        use entity::ConversationSubstatus as S;
        if !matches!(self.0.conversation.substatus, Some(S::InQueue | S::Alerting)) {
            return Ok(None);
        }
        let id = self.0.conversation.id;
        let mut found = engine(ctx)?.estimated_waits(&[id]).await?;
        Ok(found.remove(&id).map(|e| EstimatedWait {
            seconds: e.seconds,
            low: e.low,
            high: e.high,
            basis: e.basis.into(),
            position: e.position as i64,
        }))
    }
    /// Why a conversation a chatbot served went to the queue.
    async fn hand_off_reason(&self) -> Option<HandOffReason> {
        self.0.conversation.hand_off_reason.map(Into::into)
    }
    async fn handed_off_at(&self) -> Option<DateTime<Utc>> {
        self.0.conversation.handed_off_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.conversation.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.conversation.updated_at
    }
    async fn resolved_at(&self) -> Option<DateTime<Utc>> {
        self.0.conversation.resolved_at
    }
    /// The last `last` messages (0 to 500, default 50), oldest first.
    #[graphql(complexity = "last.clamp(0, 500) as usize * child_complexity")]
    async fn messages(&self, ctx: &Context<'_>, #[graphql(default = 50)] last: i32) -> ApiResult<Vec<Message>> {
        let last = count("last", last, MAX_MESSAGES)?;
        let c = &self.0.conversation;
        let key = loaders::MessagesKey { account: c.account_id, conversation: c.id, last };
        let rows = loaders(ctx)?.messages.load_one(key).await?.unwrap_or_default();
        Ok(rows.into_iter().map(|(m, u)| Message(m, u)).collect())
    }
}

#[derive(Default)]
pub struct ConversationQuery;

#[Object]
impl ConversationQuery {
    /// A conversation the caller may see: admins and supervisors see every conversation of the account, agents
    /// only those assigned to them.
    async fn conversation(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Conversation> {
        let view = engine(ctx)?.conversation_view(actor(ctx)?, uuid(&id, "conversation")?).await?;
        Ok(Conversation(view))
    }

    /// Conversations the caller may see (agents: those assigned or offered to them), newest first, as a Relay
    /// connection, optionally of one channel, status, substatus and assignee.
    #[graphql(complexity = "first.clamp(0, 100) as usize * child_complexity")]
    #[allow(clippy::too_many_arguments)]
    async fn conversations(
        &self,
        ctx: &Context<'_>,
        channel_id: Option<ID>,
        status: Option<ConversationStatus>,
        substatus: Option<ConversationSubstatus>,
        #[graphql(desc = "Only those assigned (or offered) to this user.")] assignee_id: Option<ID>,
        #[graphql(default = 50, desc = "How many, 0 to 100 (default 50).")] first: i32,
        #[graphql(desc = "The `cursor` of the edge to continue after.")] after: Option<String>,
    ) -> ApiResult<ConversationConnection> {
        let first = count("first", first, MAX_CONVERSATIONS)?;
        let after = after.map(|a| decode_cursor(&a)).transpose()?;
        // An id that is not a UUID matches nothing: an empty page, like another account's id.
        let parse = |id: Option<ID>| match id {
            Some(id) => uuid::Uuid::parse_str(id.as_str()).map(Some).map_err(|_| ()),
            None => Ok(None),
        };
        let (Ok(channel_id), Ok(assignee_id)) = (parse(channel_id), parse(assignee_id)) else {
            let page = ConversationPage { conversations: Vec::new(), has_next_page: false };
            return Ok(ConversationConnection { page: CursoredPage { page, cursor: encode_cursor }, filter: None });
        };
        let filter = ConversationFilter {
            channel_id,
            status: status.map(Into::into),
            substatus: substatus.map(Into::into),
            assignee_id,
        };
        let page = engine(ctx)?.conversations(actor(ctx)?, &filter, first, after).await?;
        Ok(ConversationConnection { page: CursoredPage { page, cursor: encode_cursor }, filter: Some(filter) })
    }
}

fn encode_cursor(c: &entity::conversation::Model) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}\n{}", c.id, c.created_at.to_rfc3339()))
}

fn decode_cursor(s: &str) -> ApiResult<ConversationCursor> {
    let (id, created_at) = decode_id_and_time(s)?;
    Ok(ConversationCursor { created_at, id })
}

/// A queue's cursor: the conversation's place (queued since, then id).
fn encode_queue_cursor(c: &entity::conversation::Model) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}\n{}", c.id, c.enqueued_at.unwrap_or(c.created_at).to_rfc3339()))
}

fn decode_queue_cursor(s: &str) -> ApiResult<QueueCursor> {
    let (id, enqueued_at) = decode_id_and_time(s)?;
    Ok(QueueCursor { enqueued_at, id })
}

/// Both lists' cursors: an id and a time, base64.
fn decode_id_and_time(s: &str) -> ApiResult<(uuid::Uuid, DateTime<Utc>)> {
    let bad = || ApiError::bad_input("after", "INVALID_CURSOR", "is not a cursor returned by this list");
    let raw = URL_SAFE_NO_PAD.decode(s).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let (id, at) = text.split_once('\n').ok_or_else(bad)?;
    let id = uuid::Uuid::parse_str(id).map_err(|_| bad())?;
    Ok((id, DateTime::parse_from_rfc3339(at).map_err(|_| bad())?.with_timezone(&Utc)))
}

/// A conversation in a page, with the cursor to continue after it.
pub struct ConversationEdge {
    view: ConversationView,
    cursor: String,
}

#[Object]
impl ConversationEdge {
    async fn cursor(&self) -> &str {
        &self.cursor
    }
    async fn node(&self) -> Conversation {
        Conversation(self.view.clone())
    }
}

/// A page of conversations with its list's cursor rule: what both connections serve.
struct CursoredPage {
    page: ConversationPage,
    cursor: fn(&entity::conversation::Model) -> String,
}

impl CursoredPage {
    fn edges(&self) -> Vec<ConversationEdge> {
        let edge = |v: &ConversationView| ConversationEdge { cursor: (self.cursor)(&v.conversation), view: v.clone() };
        self.page.conversations.iter().map(edge).collect()
    }
    fn nodes(&self) -> Vec<Conversation> {
        self.page.conversations.iter().cloned().map(Conversation).collect()
    }
    fn page_info(&self) -> PageInfo {
        let c = &self.page.conversations;
        PageInfo {
            has_next_page: self.page.has_next_page,
            has_previous_page: false,
            start_cursor: c.first().map(|v| (self.cursor)(&v.conversation)),
            end_cursor: c.last().map(|v| (self.cursor)(&v.conversation)),
        }
    }
}

/// A page of conversations.
pub struct ConversationConnection {
    page: CursoredPage,
    /// None: the filter can match nothing.
    filter: Option<ConversationFilter>,
}

#[Object]
impl ConversationConnection {
    async fn edges(&self) -> Vec<ConversationEdge> {
        self.page.edges()
    }
    /// The conversations of the page, without cursors.
    async fn nodes(&self) -> Vec<Conversation> {
        self.page.nodes()
    }
    async fn page_info(&self) -> PageInfo {
        self.page.page_info()
    }
    /// How many conversations match the filter, over all pages.
    async fn total_count(&self, ctx: &Context<'_>) -> ApiResult<u64> {
        match &self.filter {
            Some(f) => Ok(engine(ctx)?.conversation_count(actor(ctx)?, f).await?),
            None => Ok(0),
        }
    }
}

/// A page of a channel's queue, in the order distribution offers it.
pub struct QueueConnection {
    page: CursoredPage,
    channel_id: uuid::Uuid,
}

impl QueueConnection {
    /// The page of `channel_id`'s queue after `after` (a cursor of this list).
    pub async fn load(ctx: &Context<'_>, channel_id: &ID, first: i32, after: Option<String>) -> ApiResult<Self> {
        let first = count("first", first, MAX_QUEUE)?;
        let after = after.map(|a| decode_queue_cursor(&a)).transpose()?;
        let channel_id = uuid(channel_id, "channel")?;
        let page = engine(ctx)?.queue(actor(ctx)?, channel_id, first, after).await?;
        Ok(Self { page: CursoredPage { page, cursor: encode_queue_cursor }, channel_id })
    }
}

#[Object]
impl QueueConnection {
    async fn edges(&self) -> Vec<ConversationEdge> {
        self.page.edges()
    }
    /// The conversations of the page, without cursors.
    async fn nodes(&self) -> Vec<Conversation> {
        self.page.nodes()
    }
    async fn page_info(&self) -> PageInfo {
        self.page.page_info()
    }
    /// How many conversations wait in the queue, over all pages.
    async fn total_count(&self, ctx: &Context<'_>) -> ApiResult<u64> {
        Ok(engine(ctx)?.queue_length(actor(ctx)?, self.channel_id).await?)
    }
}

#[derive(Default)]
pub struct ConversationMutation;

#[Object]
impl ConversationMutation {
    /// Replies in a conversation: the assigned agent, or an admin or supervisor of the account. The text
    /// (trimmed, 1 to 4096 characters) is stored as a QUEUED message and handed to the provider in the
    /// background; follow `deliveryStatus` (SENT, DELIVERED, READ, or FAILED with `deliveryError`). Refused with
    /// CONFLICT when the conversation is resolved or its number is disabled or deleted. With a chatbot's token:
    /// writes as the chatbot (`sender` null, `chatbot` set) in a PENDING conversation it serves, which stops its
    /// `chatbotDeadline` until the client writes again.
    async fn send_message(&self, ctx: &Context<'_>, conversation_id: ID, text: String) -> ApiResult<Message> {
        let e = engine(ctx)?;
        let id = uuid(&conversation_id, "conversation")?;
        match acting(ctx)? {
            Acting::User(a) => {
                let m = e.send_message(a, id, &text).await?;
                let sender = worker::actor::user_in_account(&e.db, a, a.user_id).await?;
                Ok(Message(m, Some(sender)))
            }
            Acting::Bot(b) => Ok(Message(e.bot_send_message(b, id, &text).await?, None)),
        }
    }

    /// Writes first to a client: starts a conversation through one of the channel's numbers, assigned to the
    /// caller and INTERACTING, and sends `text` as its first message. The caller must see the channel (agents:
    /// be in its agent list). Refused with CONFLICT (field `to`) when the channel does not allow writing first
    /// and the client never wrote to it, or when the client already has an unresolved conversation in the
    /// channel; with CONFLICT (field `phoneNumberId`) when the number is disabled or deleted.
    async fn start_conversation(
        &self,
        ctx: &Context<'_>,
        channel_id: ID,
        phone_number_id: ID,
        #[graphql(desc = "The client's number with its country code, e.g. +14155550123.")] to: String,
        text: String,
    ) -> ApiResult<Conversation> {
        let a = actor(ctx)?;
        let e = engine(ctx)?;
        let conv = e
            .start_conversation(a, uuid(&channel_id, "channel")?, uuid(&phone_number_id, "phone number")?, &to, &text)
            .await?;
        Ok(Conversation(e.conversation_view(a, conv.id).await?))
    }
}

/// An expected wait: seconds from now with a range, and what it is based on (no figures with NO_AGENTS or
/// INSUFFICIENT_DATA).
#[derive(async_graphql::SimpleObject)]
pub struct EstimatedWait {
    pub seconds: Option<i64>,
    pub low: Option<i64>,
    pub high: Option<i64>,
    pub basis: super::enums::EstimateBasis,
    /// The place in the queue it is computed for (1 while an offer rings).
    pub position: i64,
}
