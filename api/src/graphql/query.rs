use super::connection::{ChannelConnection, decode_cursor, page_size};
use super::error::ApiResult;
use super::types::{Channel, Chatbot, PhoneNumber, Session, User};
use super::{actor, engine, uuid};
use async_graphql::{Context, ID, Object};

#[derive(Default)]
pub struct CoreQuery;

#[Object]
impl CoreQuery {
    /// The caller.
    async fn me(&self, ctx: &Context<'_>) -> ApiResult<User> {
        let a = actor(ctx)?;
        Ok(User(engine(ctx)?.user(a, a.user_id).await?))
    }

    /// The caller's sessions that still authenticate (signed-in tokens and machine tokens), newest first.
    async fn my_sessions(&self, ctx: &Context<'_>) -> ApiResult<Vec<Session>> {
        let a = actor(ctx)?;
        let e = engine(ctx)?;
        let rows = e.my_sessions(a).await?;
        Ok(rows
            .into_iter()
            .map(|t| Session { expires_at: e.tokens.expires_at(&t), current: t.id == a.token_id, t })
            .collect())
    }

    /// Users of the account (admins and supervisors).
    #[graphql(complexity = "100 * child_complexity")]
    async fn users(&self, ctx: &Context<'_>) -> ApiResult<Vec<User>> {
        Ok(engine(ctx)?.users(actor(ctx)?).await?.into_iter().map(User).collect())
    }

    /// A user of the account; agents can only look themselves up.
    async fn user(&self, ctx: &Context<'_>, id: ID) -> ApiResult<User> {
        Ok(User(engine(ctx)?.user(actor(ctx)?, uuid(&id, "user")?).await?))
    }

    /// Chatbots of the account (admins and supervisors).
    #[graphql(complexity = "100 * child_complexity")]
    async fn chatbots(&self, ctx: &Context<'_>) -> ApiResult<Vec<Chatbot>> {
        Ok(engine(ctx)?.chatbots(actor(ctx)?).await?.into_iter().map(Chatbot).collect())
    }

    /// A channel the caller may see (agents: the channels they are agents of).
    async fn channel(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Channel> {
        Ok(Channel(engine(ctx)?.channel(actor(ctx)?, uuid(&id, "channel")?).await?))
    }

    /// Channels ordered by name, optionally filtered by a case-insensitive part of the name.
    #[graphql(
        complexity = "first.unwrap_or(super::connection::DEFAULT_PAGE).clamp(1, super::connection::MAX_PAGE) as usize * child_complexity"
    )]
    async fn channels(
        &self,
        ctx: &Context<'_>,
        name_contains: Option<String>,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "The `endCursor` of the previous page.")] after: Option<String>,
    ) -> ApiResult<ChannelConnection> {
        let first = page_size(first)?;
        let after = after.as_deref().map(decode_cursor).transpose()?;
        let page = engine(ctx)?.channels(actor(ctx)?, name_contains.as_deref(), after, first).await?;
        Ok(ChannelConnection { page, name_contains })
    }

    /// A phone number of a channel the caller may see, in either list.
    async fn phone_number(&self, ctx: &Context<'_>, id: ID) -> ApiResult<PhoneNumber> {
        Ok(PhoneNumber(engine(ctx)?.phone_number(actor(ctx)?, uuid(&id, "phone number")?).await?))
    }
}
