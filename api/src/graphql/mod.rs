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
mod types;

pub use error::{ApiError, ApiResult};
pub use loaders::Loaders;

use async_graphql::{Context, ID, Schema, SchemaBuilder};
pub use live::Subscription;
use uuid::Uuid;
use worker::Engine;
use worker::auth::Actor;

/// Everything that can be read. (In the code: one object per area, merged here.)
#[derive(async_graphql::MergedObject, Default)]
pub struct Query(query::CoreQuery, conversations::ConversationQuery, acd::AcdQuery, jobs::JobsQuery);

/// Everything that can be changed. (In the code: one object per area, merged here.)
#[derive(async_graphql::MergedObject, Default)]
pub struct Mutation(mutation::CoreMutation, conversations::ConversationMutation, acd::AcdMutation, jobs::JobsMutation);

pub type AppSchema = Schema<Query, Mutation, Subscription>;

pub const MAX_DEPTH: usize = 15;
pub const MAX_COMPLEXITY: usize = 20_000;

/// Who is calling, as the HTTP layer found it.
#[derive(Clone, Copy, Debug)]
pub enum Caller {
    Anonymous,
    InvalidToken,
    User(Actor),
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

/// The authenticated caller, or UNAUTHENTICATED.
pub(crate) fn actor<'a>(ctx: &Context<'a>) -> ApiResult<&'a Actor> {
    match ctx.data_opt::<Caller>() {
        Some(Caller::User(a)) => Ok(a),
        Some(Caller::InvalidToken) => Err(ApiError::unauthenticated("the token is invalid or revoked")),
        _ => Err(ApiError::unauthenticated("authentication required: send Authorization: Bearer <token>")),
    }
}

/// Parses an id argument. A malformed id answers exactly like an id that does not exist.
pub(crate) fn uuid(id: &ID, what: &'static str) -> ApiResult<Uuid> {
    Uuid::parse_str(id.as_str()).map_err(|_| ApiError::not_found(what))
}
