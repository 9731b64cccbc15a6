//! A Relay connection for the channel list: forward pagination (`first`, `after`) over channels ordered by
//! name, with a lazily counted `totalCount`.

use super::error::{ApiError, ApiResult};
use super::types::Channel;
use super::{actor, engine, loaders};
use async_graphql::{Context, Object, SimpleObject};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use worker::channels::ChannelCursor;

pub const DEFAULT_PAGE: i32 = 20;
pub const MAX_PAGE: i32 = 100;

pub fn encode_cursor(c: &entity::channel::Model) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}\n{}", c.id, c.name_key))
}

pub fn decode_cursor(s: &str) -> ApiResult<ChannelCursor> {
    let bad = || ApiError::bad_input("after", "INVALID_CURSOR", "is not a cursor returned by this list");
    let raw = URL_SAFE_NO_PAD.decode(s).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let (id, name_key) = text.split_once('\n').ok_or_else(bad)?;
    let id = uuid::Uuid::parse_str(id).map_err(|_| bad())?;
    Ok(ChannelCursor { name_key: name_key.to_owned(), id })
}

pub fn page_size(first: Option<i32>) -> ApiResult<u64> {
    match first.unwrap_or(DEFAULT_PAGE) {
        n @ 0..=MAX_PAGE => Ok(n as u64),
        _ => Err(ApiError::bad_input("first", "OUT_OF_RANGE", format!("must be between 0 and {MAX_PAGE}"))),
    }
}

/// Pagination state of a connection page.
#[derive(SimpleObject)]
pub struct PageInfo {
    pub has_next_page: bool,
    /// Always false: the list pages forward only.
    pub has_previous_page: bool,
    pub start_cursor: Option<String>,
    pub end_cursor: Option<String>,
}

/// A channel in a page, with the cursor to continue after it.
pub struct ChannelEdge(pub entity::channel::Model);

#[Object]
impl ChannelEdge {
    async fn cursor(&self) -> String {
        encode_cursor(&self.0)
    }
    async fn node(&self) -> Channel {
        Channel(self.0.clone())
    }
}

/// A page of channels.
pub struct ChannelConnection {
    pub page: worker::channels::ChannelPage,
    pub name_contains: Option<String>,
}

#[Object]
impl ChannelConnection {
    async fn edges(&self, ctx: &Context<'_>) -> ApiResult<Vec<ChannelEdge>> {
        loaders(ctx)?.prefetch(&self.page.channels, ctx.look_ahead().field("node")).await?;
        Ok(self.page.channels.iter().cloned().map(ChannelEdge).collect())
    }
    /// The channels of the page, without cursors.
    async fn nodes(&self, ctx: &Context<'_>) -> ApiResult<Vec<Channel>> {
        loaders(ctx)?.prefetch(&self.page.channels, ctx.look_ahead()).await?;
        Ok(self.page.channels.iter().cloned().map(Channel).collect())
    }
    async fn page_info(&self) -> PageInfo {
        PageInfo {
            has_next_page: self.page.has_next_page,
            has_previous_page: false,
            start_cursor: self.page.channels.first().map(encode_cursor),
            end_cursor: self.page.channels.last().map(encode_cursor),
        }
    }
    /// How many channels match the filter, over all pages.
    async fn total_count(&self, ctx: &Context<'_>) -> ApiResult<u64> {
        Ok(engine(ctx)?.channel_count(actor(ctx)?, self.name_contains.as_deref()).await?)
    }
}
