//! The GraphQL schema: thin resolvers that authorise, call the engine and map the result.

mod acd;
mod connection;
mod conversations;
mod enums;
mod error;
mod inputs;
mod jobs;
mod live;
mod loaders;
mod mutation;
mod query;
mod stats;
mod types;

pub use error::{ApiError, ApiResult};
pub use loaders::Loaders;

use async_graphql::{Context, ID, Schema, SchemaBuilder};
pub use live::Subscription;
use uuid::Uuid;
use worker::Engine;
use worker::actor::Actor;
use worker::conversations::chatbot_actions::BotActor;

/// Everything that can be read. (In the code: one object per area, merged here.)
#[derive(async_graphql::MergedObject, Default)]
pub struct Query(query::CoreQuery, conversations::ConversationQuery, acd::AcdQuery, jobs::JobsQuery, stats::StatsQuery);

/// Everything that can be changed. (In the code: one object per area, merged here.)
#[derive(async_graphql::MergedObject, Default)]
pub struct Mutation(
    mutation::CoreMutation,
    conversations::ConversationMutation,
    acd::AcdMutation,
    jobs::JobsMutation,
    stats::StatsMutation,
);

pub type AppSchema = Schema<Query, Mutation, Subscription>;

pub const MAX_DEPTH: usize = 15;
pub const MAX_COMPLEXITY: usize = 20_000;

/// Who is calling, as the HTTP layer found it.
#[derive(Clone, Copy, Debug)]
pub enum Caller {
    Anonymous,
    /// A token that does not authenticate, and why (invalid or revoked, or expired).
    InvalidToken(&'static str),
    User(Actor),
    /// A chatbot's token: it may only act on the conversations it serves (see [`acting`]).
    Bot(BotActor),
}

/// Who acts in the few operations a chatbot may call too.
pub(crate) enum Acting<'a> {
    User(&'a Actor),
    Bot(&'a BotActor),
}

fn builder() -> SchemaBuilder<Query, Mutation, Subscription> {
    Schema::build(Query::default(), Mutation::default(), Subscription)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
}

pub fn build_schema(engine: Engine) -> AppSchema {
    builder().data(engine).finish()
}

/// The schema in SDL, fields sorted so the committed `schema.graphql` diffs cleanly.
pub fn sdl() -> String {
    builder()
        .finish()
        .sdl_with_options(async_graphql::SDLExportOptions::new().sorted_fields().sorted_arguments().sorted_enum_items())
}

pub(crate) fn engine<'a>(ctx: &Context<'a>) -> ApiResult<&'a Engine> {
    ctx.data::<Engine>().map_err(|_| worker::Error::Internal(anyhow::anyhow!("engine missing from schema data")).into())
}

pub(crate) fn loaders<'a>(ctx: &Context<'a>) -> ApiResult<&'a Loaders> {
    ctx.data::<Loaders>()
        .map_err(|_| worker::Error::Internal(anyhow::anyhow!("loaders missing from request data")).into())
}

/// The authenticated caller, or UNAUTHENTICATED. A caller whose password an admin reset may only use
/// [`ALLOWED_WHILE_PASSWORD_DUE`] until they change it: anything else is FORBIDDEN.
pub(crate) fn actor<'a>(ctx: &Context<'a>) -> ApiResult<&'a Actor> {
    match ctx.data_opt::<Caller>() {
        Some(Caller::User(a)) if a.must_change_password && !allowed_while_password_due(ctx) => {
            Err(worker::Error::Forbidden("your password was reset: change it first (changeMyPassword)").into())
        }
        Some(Caller::User(a)) => Ok(a),
        Some(Caller::Bot(_)) => Err(bot_refused()),
        Some(Caller::InvalidToken(why)) => Err(ApiError::unauthenticated(why)),
        _ => Err(ApiError::unauthenticated("authentication required: send Authorization: Bearer <token>")),
    }
}

/// The root fields a caller who must change their password may use (and everything under them).
pub(crate) const ALLOWED_WHILE_PASSWORD_DUE: [&str; 3] = ["me", "changeMyPassword", "logout"];

/// Whether the current resolver runs under an allowed root field. In the root field's own resolver that is its
/// real name (an alias does not count); below it, the root's response key: the root resolver, which checked its
/// real name through `actor()` (every root field but `login` does), already refused an aliased forbidden field.
fn allowed_while_password_due(ctx: &Context<'_>) -> bool {
    let root = match &ctx.path_node {
        Some(node) if node.parent.is_some() => root_segment(node),
        _ => Some(ctx.field().name()),
    };
    root.is_some_and(|name| ALLOWED_WHILE_PASSWORD_DUE.contains(&name))
}

/// The first segment of a resolution path: the response key of its root field.
fn root_segment<'a>(node: &async_graphql::QueryPathNode<'a>) -> Option<&'a str> {
    let mut n = node;
    while let Some(parent) = n.parent {
        n = parent;
    }
    match n.segment {
        async_graphql::QueryPathSegment::Name(name) => Some(name),
        async_graphql::QueryPathSegment::Index(_) => None,
    }
}

fn bot_refused() -> ApiError {
    worker::Error::Forbidden(
        "a chatbot token may only call sendMessage, handOffConversation and resolveConversation on the \
         conversations its chatbot serves",
    )
    .into()
}

/// The caller of an operation a chatbot may call too (`sendMessage`, `handOffConversation`,
/// `resolveConversation`): a user, or a chatbot.
pub(crate) fn acting<'a>(ctx: &Context<'a>) -> ApiResult<Acting<'a>> {
    match ctx.data_opt::<Caller>() {
        Some(Caller::Bot(b)) => Ok(Acting::Bot(b)),
        _ => actor(ctx).map(Acting::User),
    }
}

/// Parses an id argument. A malformed id answers exactly like an id that does not exist.
pub(crate) fn uuid(id: &ID, what: &'static str) -> ApiResult<Uuid> {
    Uuid::parse_str(id.as_str()).map_err(|_| ApiError::not_found(what))
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::{QueryPathNode, QueryPathSegment};

    #[test]
    fn the_root_segment_is_the_first_name_of_the_path() {
        let root = QueryPathNode { parent: None, segment: QueryPathSegment::Name("me") };
        let list = QueryPathNode { parent: Some(&root), segment: QueryPathSegment::Name("channels") };
        let item = QueryPathNode { parent: Some(&list), segment: QueryPathSegment::Index(2) };
        let leaf = QueryPathNode { parent: Some(&item), segment: QueryPathSegment::Name("name") };
        assert_eq!(root_segment(&leaf), Some("me"));
        assert_eq!(root_segment(&root), Some("me"));
        let odd = QueryPathNode { parent: None, segment: QueryPathSegment::Index(0) };
        assert_eq!(root_segment(&odd), None);
    }
}
