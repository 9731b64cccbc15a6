use super::error::ApiResult;
use super::inputs::{
    ChannelInput, ChannelUpdateInput, ChatbotInput, ChatbotUpdateInput, CreateUserInput, PhoneNumberInput,
};
use super::types::{
    Channel, ChannelPreview, ChannelReview, Chatbot, ChatbotCredentials, ChatbotTest, LoginPayload, PasswordReset,
    PhoneNumber, User, WrapUpCode,
};
use super::{actor, engine, uuid};
use async_graphql::{Context, ID, Object};
use worker::accounts::NewUser;
use worker::channels::ChannelForm;
use worker::crypto::Secret;

#[derive(Default)]
pub struct CoreMutation;

#[Object]
impl CoreMutation {
    /// Exchanges an email and password for a new bearer token (a session: it expires after 30 days without use
    /// and 90 days at most). Throttled: after too many failed attempts, TOO_MANY_ATTEMPTS with
    /// `extensions.retryAfter` (seconds).
    async fn login(&self, ctx: &Context<'_>, email: String, password: String) -> ApiResult<LoginPayload> {
        let client = ctx.data_opt::<worker::actor::ClientInfo>().cloned().unwrap_or_default();
        let issued = engine(ctx)?.login(&email, &password, &client).await?;
        Ok(LoginPayload { token: issued.token.expose().to_owned(), user: User(issued.user) })
    }

    /// Revokes the token of this request.
    async fn logout(&self, ctx: &Context<'_>) -> ApiResult<bool> {
        engine(ctx)?.logout(actor(ctx)?).await?;
        Ok(true)
    }

    /// Ends one of the caller's sessions (`mySessions`); its live subscriptions are closed within seconds.
    async fn revoke_session(&self, ctx: &Context<'_>, id: ID) -> ApiResult<bool> {
        engine(ctx)?.revoke_session(actor(ctx)?, uuid(&id, "session")?).await?;
        Ok(true)
    }

    /// Changes the caller's password. `currentPassword` must be right (else BAD_USER_INPUT, WRONG_PASSWORD); the
    /// new one must be 10 to 256 characters and hard to guess, the caller's email and name counting as easy
    /// guesses (else WEAK_PASSWORD, with the reason). Every other session of the caller is revoked; this one
    /// keeps working. Also ends a pending `mustChangePassword`.
    async fn change_my_password(
        &self,
        ctx: &Context<'_>,
        current_password: String,
        new_password: String,
    ) -> ApiResult<bool> {
        let (current, new) = (Secret::new(current_password), Secret::new(new_password));
        engine(ctx)?.change_my_password(actor(ctx)?, &current, &new).await?;
        Ok(true)
    }

    /// Gives a user of the account a random temporary password, returned only in this answer (admins; not
    /// yourself: use `changeMyPassword`). All the user's sessions are revoked (an agent goes OFFLINE), and they
    /// must change the password at the next sign-in (`mustChangePassword`).
    async fn reset_user_password(&self, ctx: &Context<'_>, user_id: ID) -> ApiResult<PasswordReset> {
        let r = engine(ctx)?.reset_user_password(actor(ctx)?, uuid(&user_id, "user")?).await?;
        Ok(PasswordReset { temporary_password: r.temporary_password.expose().to_owned(), user: User(r.user) })
    }

    /// Creates a user in the caller's account (admins). The password follows the rule of `changeMyPassword`
    /// (TOO_SHORT, TOO_LONG, WEAK_PASSWORD with the reason).
    async fn create_user(&self, ctx: &Context<'_>, input: CreateUserInput) -> ApiResult<User> {
        let new = NewUser {
            email: input.email,
            name: input.name,
            password: Secret::new(input.password),
            role: input.role.into(),
        };
        Ok(User(engine(ctx)?.create_user(actor(ctx)?, new).await?))
    }

    /// Deactivates a user and revokes their tokens (admins; not yourself).
    async fn deactivate_user(&self, ctx: &Context<'_>, id: ID) -> ApiResult<User> {
        Ok(User(engine(ctx)?.deactivate_user(actor(ctx)?, uuid(&id, "user")?).await?))
    }

    /// Creates a chatbot (admins). It serves nobody until it has credentials (`rotateChatbotCredentials`).
    async fn create_chatbot(&self, ctx: &Context<'_>, input: ChatbotInput) -> ApiResult<Chatbot> {
        let bot = engine(ctx)?
            .create_chatbot(
                actor(ctx)?,
                &input.name,
                input.description.as_deref(),
                input.endpoint_url.as_deref(),
                input.enabled,
            )
            .await?;
        Ok(Chatbot(bot))
    }

    /// Changes a chatbot (admins). A chatbot that stops serving (disabled, endpoint removed) hands off at once
    /// every conversation it was serving.
    async fn update_chatbot(&self, ctx: &Context<'_>, id: ID, input: ChatbotUpdateInput) -> ApiResult<Chatbot> {
        let bot = engine(ctx)?.update_chatbot(actor(ctx)?, uuid(&id, "chatbot")?, input.into()).await?;
        Ok(Chatbot(bot))
    }

    /// Makes a new bot token and signing secret for a chatbot (admins), replacing both at once: the old token
    /// stops working and posts are signed with the new secret. This answer is the only time they are shown.
    async fn rotate_chatbot_credentials(&self, ctx: &Context<'_>, id: ID) -> ApiResult<ChatbotCredentials> {
        let c = engine(ctx)?.rotate_chatbot_credentials(actor(ctx)?, uuid(&id, "chatbot")?).await?;
        Ok(ChatbotCredentials {
            token: c.token.expose().to_owned(),
            signing_secret: c.signing_secret.expose().to_owned(),
            chatbot: Chatbot(c.chatbot),
        })
    }

    /// Revokes a chatbot's bot token and signing secret without making new ones (admins): the token stops working
    /// at once and the chatbot stops serving, so the conversations it was serving are handed off to the queue, as
    /// when it is disabled. `rotateChatbotCredentials` gives it new ones.
    async fn revoke_chatbot_credentials(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Chatbot> {
        let bot = engine(ctx)?.revoke_chatbot_credentials(actor(ctx)?, uuid(&id, "chatbot")?).await?;
        Ok(Chatbot(bot))
    }

    /// Posts a signed ping (`{"type":"ping"}`) to a chatbot's endpoint (admins) and reports its answer.
    async fn test_chatbot(&self, ctx: &Context<'_>, id: ID) -> ApiResult<ChatbotTest> {
        let t = engine(ctx)?.test_chatbot(actor(ctx)?, uuid(&id, "chatbot")?).await?;
        Ok(ChatbotTest {
            ok: t.ok,
            status_code: t.status_code.map(i32::from),
            latency_ms: i32::try_from(t.latency_ms).unwrap_or(i32::MAX),
            error: t.error,
        })
    }

    /// Deletes a chatbot; refused with CONFLICT while a channel uses it.
    async fn delete_chatbot(&self, ctx: &Context<'_>, id: ID) -> ApiResult<bool> {
        engine(ctx)?.delete_chatbot(actor(ctx)?, uuid(&id, "chatbot")?).await?;
        Ok(true)
    }

    /// Validates the whole channel form and shows what would be created, or every problem found. Writes
    /// nothing.
    async fn review_channel(&self, ctx: &Context<'_>, input: ChannelInput) -> ApiResult<ChannelReview> {
        let form: ChannelForm = input.into();
        match engine(ctx)?.plan_channel(actor(ctx)?, &form).await {
            Ok(plan) => Ok(ChannelReview { valid: true, channel: Some(ChannelPreview::from(plan)), errors: vec![] }),
            Err(worker::Error::Invalid(errors)) => {
                Ok(ChannelReview { valid: false, channel: None, errors: errors.into_iter().map(Into::into).collect() })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Creates a channel with its codes and agents, all or nothing, after the same validation as
    /// `reviewChannel` (errors: BAD_USER_INPUT with `extensions.errors`).
    async fn create_channel(&self, ctx: &Context<'_>, input: ChannelInput) -> ApiResult<Channel> {
        let form: ChannelForm = input.into();
        Ok(Channel(engine(ctx)?.create_channel(actor(ctx)?, &form).await?))
    }

    /// Changes some of a channel's settings; the result is validated as a whole.
    async fn update_channel(&self, ctx: &Context<'_>, id: ID, input: ChannelUpdateInput) -> ApiResult<Channel> {
        let ch = engine(ctx)?.update_channel(actor(ctx)?, uuid(&id, "channel")?, input.into()).await?;
        Ok(Channel(ch))
    }

    /// Deletes a channel: it leaves every list, its webhook stops and its numbers move to the Deleted list.
    async fn delete_channel(&self, ctx: &Context<'_>, id: ID) -> ApiResult<bool> {
        engine(ctx)?.delete_channel(actor(ctx)?, uuid(&id, "channel")?).await?;
        Ok(true)
    }

    /// Issues a new webhook URL; the old one stops working at once.
    async fn rotate_webhook_url(&self, ctx: &Context<'_>, channel_id: ID) -> ApiResult<Channel> {
        let ch = engine(ctx)?.rotate_webhook_url(actor(ctx)?, uuid(&channel_id, "channel")?).await?;
        Ok(Channel(ch))
    }

    async fn add_wrap_up_code(&self, ctx: &Context<'_>, channel_id: ID, name: String) -> ApiResult<WrapUpCode> {
        let code = engine(ctx)?.add_wrap_up_code(actor(ctx)?, uuid(&channel_id, "channel")?, &name).await?;
        Ok(WrapUpCode(code))
    }

    async fn rename_wrap_up_code(&self, ctx: &Context<'_>, id: ID, name: String) -> ApiResult<WrapUpCode> {
        let code = engine(ctx)?.rename_wrap_up_code(actor(ctx)?, uuid(&id, "wrap-up code")?, &name).await?;
        Ok(WrapUpCode(code))
    }

    /// Archives a code (or restores it with `archived: false`). Codes are never deleted.
    async fn archive_wrap_up_code(
        &self,
        ctx: &Context<'_>,
        id: ID,
        #[graphql(default = true)] archived: bool,
    ) -> ApiResult<WrapUpCode> {
        let code = engine(ctx)?.set_wrap_up_code_archived(actor(ctx)?, uuid(&id, "wrap-up code")?, archived).await?;
        Ok(WrapUpCode(code))
    }

    /// Adds a user (AGENT or SUPERVISOR) to a channel's agent list.
    async fn add_channel_agent(&self, ctx: &Context<'_>, channel_id: ID, user_id: ID) -> ApiResult<User> {
        let u = engine(ctx)?.add_channel_agent(actor(ctx)?, uuid(&channel_id, "channel")?, &user_id).await?;
        Ok(User(u))
    }

    async fn remove_channel_agent(&self, ctx: &Context<'_>, channel_id: ID, user_id: ID) -> ApiResult<bool> {
        engine(ctx)?
            .remove_channel_agent(actor(ctx)?, uuid(&channel_id, "channel")?, uuid(&user_id, "channel agent")?)
            .await?;
        Ok(true)
    }

    /// Connects a number to a channel. The key is stored encrypted; only its last four characters show.
    async fn add_phone_number(
        &self,
        ctx: &Context<'_>,
        channel_id: ID,
        input: PhoneNumberInput,
    ) -> ApiResult<PhoneNumber> {
        let n = engine(ctx)?
            .add_phone_number(actor(ctx)?, uuid(&channel_id, "channel")?, &input.phone_number, &input.api_key)
            .await?;
        Ok(PhoneNumber(n))
    }

    /// Replaces a number's API key; its verification starts over (UNVERIFIED).
    async fn update_phone_number_api_key(&self, ctx: &Context<'_>, id: ID, api_key: String) -> ApiResult<PhoneNumber> {
        let n = engine(ctx)?.update_phone_number_api_key(actor(ctx)?, uuid(&id, "phone number")?, &api_key).await?;
        Ok(PhoneNumber(n))
    }

    /// Enables or disables a number. A disabled number neither receives nor sends.
    async fn set_phone_number_enabled(&self, ctx: &Context<'_>, id: ID, enabled: bool) -> ApiResult<PhoneNumber> {
        let n = engine(ctx)?.set_phone_number_enabled(actor(ctx)?, uuid(&id, "phone number")?, enabled).await?;
        Ok(PhoneNumber(n))
    }

    /// Queues a check of the number's API key with the provider and returns at once (verification PENDING);
    /// the result (VERIFIED, or FAILED with a reason) is recorded on the number.
    async fn verify_phone_number(&self, ctx: &Context<'_>, id: ID) -> ApiResult<PhoneNumber> {
        Ok(PhoneNumber(engine(ctx)?.verify_phone_number(actor(ctx)?, uuid(&id, "phone number")?).await?))
    }

    /// Moves a number to its channel's Deleted list.
    async fn delete_phone_number(&self, ctx: &Context<'_>, id: ID) -> ApiResult<PhoneNumber> {
        Ok(PhoneNumber(engine(ctx)?.delete_phone_number(actor(ctx)?, uuid(&id, "phone number")?).await?))
    }

    /// Brings a number back to the Active list; CONFLICT when another live number took it meanwhile.
    async fn restore_phone_number(&self, ctx: &Context<'_>, id: ID) -> ApiResult<PhoneNumber> {
        Ok(PhoneNumber(engine(ctx)?.restore_phone_number(actor(ctx)?, uuid(&id, "phone number")?).await?))
    }
}
