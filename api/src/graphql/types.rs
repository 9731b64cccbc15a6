//! The GraphQL object types. Each wraps an entity model and exposes what an admin screen or an agent desktop
//! needs; related objects come through the request's DataLoaders.

use super::enums::{ConversationType, NumberState, Provider, Role, Verification};
use super::error::ApiResult;
use super::{actor, engine, loaders};
use async_graphql::{ComplexObject, Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{channel, chatbot, phone_number, user, wrap_up_code};

/// A person who can log in.
pub struct User(pub user::Model);

#[Object]
impl User {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Lower-cased; also the login name.
    async fn email(&self) -> &str {
        &self.0.email
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn role(&self) -> Role {
        self.0.role.into()
    }
    /// Deactivated users cannot log in and their tokens are revoked.
    async fn active(&self) -> bool {
        self.0.active
    }
    /// An admin reset the password (`resetUserPassword`): until the user changes it (`changeMyPassword`), every
    /// operation but `me`, `changeMyPassword` and `logout` is FORBIDDEN for them.
    async fn must_change_password(&self) -> bool {
        self.0.must_change_password
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// Agents and supervisors: their status for automatic distribution and what they hold (null for admins).
    /// Agents see their own; supervisors and admins everyone's in the account.
    async fn agent_state(&self, ctx: &Context<'_>) -> ApiResult<Option<super::acd::AgentState>> {
        let a = actor(ctx)?;
        if !(a.is_staff() || a.user_id == self.0.id) {
            return Ok(None);
        }
        if !worker::acd::status::has_agent_state(self.0.role) {
            return Ok(None);
        }
        Ok(loaders(ctx)?.agent_states.load_one(self.0.id).await?.map(super::acd::AgentState))
    }
}

/// A chatbot that can serve a channel's clients before an agent does.
pub struct Chatbot(pub chatbot::Model);

#[Object]
impl Chatbot {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    /// Where the product posts signed events.
    async fn endpoint_url(&self) -> Option<&str> {
        self.0.endpoint_url.as_deref()
    }
    async fn enabled(&self) -> bool {
        self.0.enabled
    }
    /// Whether a bot token and signing secret exist (they are never shown again).
    async fn has_credentials(&self) -> bool {
        self.0.token_hash.is_some()
    }
    async fn credentials_rotated_at(&self) -> Option<DateTime<Utc>> {
        self.0.credentials_rotated_at
    }
    /// Whether it serves clients now: enabled, with an endpoint and credentials. Otherwise its channels' new
    /// conversations go straight to the queue.
    async fn serving(&self) -> bool {
        worker::chatbots::serving(&self.0)
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// A code an agent picks when a conversation ends (its outcome).
pub struct WrapUpCode(pub wrap_up_code::Model);

#[Object]
impl WrapUpCode {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Archived codes are kept for history but no longer offered to agents.
    async fn archived(&self) -> bool {
        self.0.archived_at.is_some()
    }
    async fn archived_at(&self) -> Option<DateTime<Utc>> {
        self.0.archived_at
    }
    /// Display order within the channel (0 first).
    async fn position(&self) -> i32 {
        self.0.position
    }
}

/// A WhatsApp number connected to a channel. The API key is write-only: only its last four characters show.
pub struct PhoneNumber(pub phone_number::Model);

#[Object]
impl PhoneNumber {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn channel_id(&self) -> ID {
        ID(self.0.channel_id.to_string())
    }
    /// The number in E.164 form, e.g. `+14155550123`.
    async fn phone_number(&self) -> &str {
        &self.0.e164
    }
    /// The last four characters of the API key.
    async fn api_key_hint(&self) -> &str {
        &self.0.api_key_hint
    }
    /// A disabled number neither receives nor sends.
    async fn enabled(&self) -> bool {
        self.0.enabled
    }
    async fn verification(&self) -> Verification {
        self.0.verification.into()
    }
    /// Why the last verification failed (`INVALID_KEY`, `UNKNOWN_NUMBER`, `PROVIDER_UNREACHABLE`, ...).
    async fn verification_error(&self) -> Option<&str> {
        self.0.verification_error.as_deref()
    }
    async fn last_verified_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_verified_at
    }
    /// ACTIVE, or DELETED (in the channel's Deleted list, restorable).
    async fn state(&self) -> NumberState {
        worker::phone_numbers::NumberState::of(&self.0).into()
    }
    async fn deleted_at(&self) -> Option<DateTime<Utc>> {
        self.0.deleted_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// A "WhatsApp by phone" channel: an inbox with its numbers, handling settings, wrap-up codes and agents.
pub struct Channel(pub channel::Model);

#[Object]
impl Channel {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Unique within the account (case-insensitive), 1 to 100 characters.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// The chatbot that serves clients first, if any.
    async fn chatbot(&self, ctx: &Context<'_>) -> ApiResult<Option<Chatbot>> {
        let Some(id) = self.0.chatbot_id else {
            return Ok(None);
        };
        Ok(loaders(ctx)?.chatbots.load_one(id).await?.map(Chatbot))
    }
    async fn conversation_type(&self) -> ConversationType {
        self.0.conversation_type.into()
    }
    /// Whether an agent may start a conversation with a client who never wrote to this channel.
    async fn can_write_first(&self) -> bool {
        self.0.can_write_first
    }
    async fn provider(&self) -> Provider {
        self.0.provider.into()
    }
    /// The provider's base URL.
    async fn api_url(&self) -> &str {
        &self.0.api_url
    }
    /// Where the provider posts this channel's events. It holds a secret token: admins only.
    async fn webhook_url(&self, ctx: &Context<'_>) -> ApiResult<String> {
        actor(ctx)?.require_admin()?;
        Ok(engine(ctx)?.webhook_url(&self.0)?)
    }
    /// How much of an agent (0-100 %) one conversation of this channel occupies.
    async fn utilization(&self) -> i32 {
        self.0.utilization
    }
    /// The most conversations of this channel an agent holds at once through automatic distribution.
    async fn auto_assignment_limit(&self) -> i32 {
        self.0.auto_assignment_limit
    }
    /// When true, distributed conversations are accepted on assignment (no alerting step).
    async fn auto_answer(&self) -> bool {
        self.0.auto_answer
    }
    /// Seconds an agent has to accept an offer; null when `autoAnswer` is on.
    async fn alerting_timeout(&self) -> Option<i32> {
        self.0.alerting_timeout
    }
    /// Seconds an agent has to pick a wrap-up code after resolving; null for no limit.
    async fn wrap_up_timeout(&self) -> Option<i32> {
        self.0.wrap_up_timeout
    }
    /// Seconds the chatbot has to answer or hand off after a client's message.
    async fn chatbot_timeout(&self) -> i32 {
        self.0.chatbot_timeout
    }
    /// How the channel's service level is measured.
    async fn service_level(&self) -> super::stats::ServiceLevel {
        worker::channels::statistics::ServiceLevel::of(&self.0).into()
    }
    /// Messages telling waiting clients where they stand (admins and supervisors; agents get null).
    async fn queue_messages(&self, ctx: &Context<'_>) -> ApiResult<Option<super::stats::QueueMessages>> {
        if !super::actor(ctx)?.is_staff() {
            return Ok(None);
        }
        Ok(Some(worker::acd::queue_updates::QueueMessages::of(&self.0).into()))
    }
    /// The channel's wrap-up codes in display order.
    #[graphql(complexity = "10 * child_complexity")]
    async fn wrap_up_codes(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = false)] include_archived: bool,
    ) -> ApiResult<Vec<WrapUpCode>> {
        let all = loaders(ctx)?.codes.load_one(self.0.id).await?.unwrap_or_default();
        Ok(all.into_iter().filter(|c| include_archived || c.archived_at.is_none()).map(WrapUpCode).collect())
    }
    /// The users who receive this channel's conversations.
    #[graphql(complexity = "10 * child_complexity")]
    async fn agents(&self, ctx: &Context<'_>) -> ApiResult<Vec<User>> {
        let all = loaders(ctx)?.agents.load_one(self.0.id).await?.unwrap_or_default();
        Ok(all.into_iter().map(User).collect())
    }
    /// The channel's numbers: the Active list (default) or the Deleted list.
    #[graphql(complexity = "10 * child_complexity")]
    async fn phone_numbers(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "NumberState::Active")] state: NumberState,
    ) -> ApiResult<Vec<PhoneNumber>> {
        let all = loaders(ctx)?.numbers.load_one(self.0.id).await?.unwrap_or_default();
        let want: worker::phone_numbers::NumberState = state.into();
        Ok(all.into_iter().filter(|n| worker::phone_numbers::NumberState::of(n) == want).map(PhoneNumber).collect())
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// One problem with one field of an input.
#[derive(SimpleObject)]
pub struct InputError {
    /// Path of the field in the input, e.g. `name` or `wrapUpCodes[2]`.
    pub field: String,
    /// Machine-readable rule: REQUIRED, TOO_LONG, OUT_OF_RANGE, INVALID_URL, NOT_ALLOWED, TAKEN, DUPLICATE,
    /// NOT_FOUND, INVALID_ROLE, INACTIVE, TOO_MANY, ...
    pub code: String,
    pub message: String,
}

impl From<worker::FieldError> for InputError {
    fn from(e: worker::FieldError) -> Self {
        Self { field: e.field, code: e.code.to_owned(), message: e.message }
    }
}

/// The channel exactly as `createChannel` would create it (without generated values such as ids).
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct ChannelPreview {
    pub name: String,
    pub conversation_type: ConversationType,
    pub can_write_first: bool,
    pub provider: Provider,
    pub api_url: String,
    pub utilization: i32,
    pub auto_assignment_limit: i32,
    pub auto_answer: bool,
    pub alerting_timeout: Option<i32>,
    pub wrap_up_timeout: Option<i32>,
    pub chatbot_timeout: i32,
    /// The wrap-up code names, in order.
    pub wrap_up_codes: Vec<String>,
    #[graphql(skip)]
    pub chatbot_model: Option<chatbot::Model>,
    #[graphql(skip)]
    pub agent_models: Vec<user::Model>,
}

#[ComplexObject]
impl ChannelPreview {
    async fn chatbot(&self) -> Option<Chatbot> {
        self.chatbot_model.clone().map(Chatbot)
    }
    async fn agents(&self) -> Vec<User> {
        self.agent_models.iter().cloned().map(User).collect()
    }
}

impl From<worker::channels::ChannelPlan> for ChannelPreview {
    fn from(p: worker::channels::ChannelPlan) -> Self {
        let v = p.settings.values;
        Self {
            name: v.name,
            conversation_type: v.conversation_type.into(),
            can_write_first: v.can_write_first,
            provider: v.provider.into(),
            api_url: v.api_url,
            utilization: v.utilization,
            auto_assignment_limit: v.auto_assignment_limit,
            auto_answer: v.auto_answer,
            alerting_timeout: v.alerting_timeout,
            wrap_up_timeout: v.wrap_up_timeout,
            chatbot_timeout: v.chatbot_timeout,
            wrap_up_codes: p.wrap_up_codes,
            chatbot_model: p.settings.chatbot,
            agent_models: p.agents,
        }
    }
}

/// The outcome of `reviewChannel`: either the preview, or every problem found. Nothing is written either way.
#[derive(SimpleObject)]
pub struct ChannelReview {
    /// True when `createChannel` with the same input would succeed (barring concurrent changes).
    pub valid: bool,
    pub channel: Option<ChannelPreview>,
    pub errors: Vec<InputError>,
}

/// A bearer token of the caller: a sign-in, or a machine token.
pub struct Session {
    pub t: entity::api_token::Model,
    pub expires_at: Option<DateTime<Utc>>,
    pub current: bool,
}

#[Object]
impl Session {
    async fn id(&self) -> ID {
        ID(self.t.id.to_string())
    }
    /// SESSION (a sign-in) or MACHINE (automation: no idle expiry).
    async fn kind(&self) -> super::enums::TokenKind {
        self.t.kind.into()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.t.created_at
    }
    /// When it was last used (recorded at most once a minute).
    async fn last_used_at(&self) -> Option<DateTime<Utc>> {
        self.t.last_used_at
    }
    /// When it stops working unless used again (idle expiry) or at the latest (maximum age); null for machine
    /// tokens.
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.expires_at
    }
    /// The client address at sign-in.
    async fn client_address(&self) -> Option<&str> {
        self.t.client_addr.as_deref()
    }
    /// The user agent at sign-in.
    async fn user_agent(&self) -> Option<&str> {
        self.t.user_agent.as_deref()
    }
    /// True for the token of this request.
    async fn current(&self) -> bool {
        self.current
    }
}

/// A chatbot's credentials, shown once.
#[derive(SimpleObject)]
pub struct ChatbotCredentials {
    /// The bot's bearer token for the API: send it as `Authorization: Bearer <token>`.
    pub token: String,
    /// The key of the `X-Signature` HMAC on the product's posts to the chatbot.
    pub signing_secret: String,
    pub chatbot: Chatbot,
}

/// The outcome of `testChatbot`.
#[derive(SimpleObject)]
pub struct ChatbotTest {
    /// True when the endpoint answered 2xx.
    pub ok: bool,
    /// The status it answered; null when it did not answer.
    pub status_code: Option<i32>,
    pub latency_ms: i32,
    /// Why it failed.
    pub error: Option<String>,
}

/// The outcome of `resetUserPassword`.
#[derive(SimpleObject)]
pub struct PasswordReset {
    /// The temporary password: shown only here. Its user must change it at the next sign-in.
    pub temporary_password: String,
    pub user: User,
}

/// A new session.
#[derive(SimpleObject)]
pub struct LoginPayload {
    /// The bearer token: shown only here, send it as `Authorization: Bearer <token>`.
    pub token: String,
    pub user: User,
}
