//! Per-request DataLoaders with a per-request cache: listing N channels with their chatbot, numbers, codes and
//! agents costs a constant number of queries, not a few per channel. The channel list also prefetches what the
//! query selects (`prefetch`), so the count stays constant under load, when time-based batching alone would
//! split a page into several batches.

use super::error::{ApiError, ApiResult};
use async_graphql::Lookahead;
use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use entity::{channel, chatbot, message, phone_number, user, wrap_up_code};
use std::collections::HashMap;
use uuid::Uuid;
use worker::Engine;

macro_rules! loader {
    ($name:ident, $value:ty, $method:ident $(, $fill:ident)?) => {
        pub struct $name(pub Engine);

        impl Loader<Uuid> for $name {
            type Value = $value;
            type Error = ApiError;

            async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
                #[allow(unused_mut)]
                let mut found = self.0.$method(keys).await?;
                $( $fill(&mut found, keys); )?
                Ok(found)
            }
        }
    };
}

/// An empty list is an answer too: cache it, so the key is not asked for again.
fn every_key<V>(found: &mut HashMap<Uuid, Vec<V>>, keys: &[Uuid]) {
    for k in keys {
        found.entry(*k).or_default();
    }
}

loader!(ChatbotById, chatbot::Model, chatbots_by_id);
loader!(NumbersOfChannel, Vec<phone_number::Model>, phone_numbers_of, every_key);
loader!(CodesOfChannel, Vec<wrap_up_code::Model>, wrap_up_codes_of, every_key);
loader!(AgentsOfChannel, Vec<user::Model>, agents_of, every_key);
loader!(AgentStateOf, worker::acd::status::AgentView, agent_views);
loader!(QueuePositionOf, u64, queue_positions);
loader!(WrapUpCodeById, wrap_up_code::Model, wrap_up_codes_by_id);

/// The last `last` messages of a conversation of `account`, oldest first, with their senders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MessagesKey {
    pub account: Uuid,
    pub conversation: Uuid,
    pub last: u64,
}

pub struct MessagesOf(pub Engine);

impl Loader<MessagesKey> for MessagesOf {
    type Value = Vec<(message::Model, Option<user::Model>)>;
    type Error = ApiError;

    /// One query (and one for the senders) per distinct account and `last`: normally one for the whole batch.
    async fn load(&self, keys: &[MessagesKey]) -> Result<HashMap<MessagesKey, Self::Value>, Self::Error> {
        let mut groups: HashMap<(Uuid, u64), Vec<Uuid>> = HashMap::new();
        for k in keys {
            groups.entry((k.account, k.last)).or_default().push(k.conversation);
        }
        let mut out = HashMap::new();
        for ((account, last), conversations) in groups {
            let mut found = self.0.messages_of_many(account, &conversations, last).await?;
            for conversation in conversations {
                let rows = found.remove(&conversation).unwrap_or_default();
                out.insert(MessagesKey { account, conversation, last }, rows);
            }
        }
        Ok(out)
    }
}

/// The loaders of one request.
pub struct Loaders {
    pub chatbots: DataLoader<ChatbotById, HashMapCache>,
    pub numbers: DataLoader<NumbersOfChannel, HashMapCache>,
    pub codes: DataLoader<CodesOfChannel, HashMapCache>,
    pub agents: DataLoader<AgentsOfChannel, HashMapCache>,
    pub agent_states: DataLoader<AgentStateOf, HashMapCache>,
    pub queue_positions: DataLoader<QueuePositionOf, HashMapCache>,
    pub wrap_up_codes: DataLoader<WrapUpCodeById, HashMapCache>,
    pub messages: DataLoader<MessagesOf, HashMapCache>,
}

impl Loaders {
    pub fn new(engine: &Engine) -> Self {
        Self {
            chatbots: DataLoader::with_cache(ChatbotById(engine.clone()), tokio::spawn, HashMapCache::default()),
            numbers: DataLoader::with_cache(NumbersOfChannel(engine.clone()), tokio::spawn, HashMapCache::default()),
            codes: DataLoader::with_cache(CodesOfChannel(engine.clone()), tokio::spawn, HashMapCache::default()),
            agents: DataLoader::with_cache(AgentsOfChannel(engine.clone()), tokio::spawn, HashMapCache::default()),
            agent_states: DataLoader::with_cache(AgentStateOf(engine.clone()), tokio::spawn, HashMapCache::default()),
            queue_positions: DataLoader::with_cache(
                QueuePositionOf(engine.clone()),
                tokio::spawn,
                HashMapCache::default(),
            ),
            wrap_up_codes: DataLoader::with_cache(
                WrapUpCodeById(engine.clone()),
                tokio::spawn,
                HashMapCache::default(),
            ),
            messages: DataLoader::with_cache(MessagesOf(engine.clone()), tokio::spawn, HashMapCache::default()),
        }
    }

    /// Forgets everything loaded (a live connection's loaders, before the objects of each event are resolved).
    pub fn clear(&self) {
        self.chatbots.clear::<Uuid>();
        self.numbers.clear::<Uuid>();
        self.codes.clear::<Uuid>();
        self.agents.clear::<Uuid>();
        self.agent_states.clear::<Uuid>();
        self.queue_positions.clear::<Uuid>();
        self.wrap_up_codes.clear::<Uuid>();
        self.messages.clear::<MessagesKey>();
    }

    /// Loads, in one batch each, the related objects that `node` (the selection on each channel) asks for.
    pub async fn prefetch(&self, channels: &[channel::Model], node: Lookahead<'_>) -> ApiResult<()> {
        let ids: Vec<Uuid> = channels.iter().map(|c| c.id).collect();
        let bots: Vec<Uuid> = channels.iter().filter_map(|c| c.chatbot_id).collect();
        let (a, b, c, d) = futures::join!(
            async {
                if node.field("chatbot").exists() && !bots.is_empty() {
                    self.chatbots.load_many(bots.iter().copied()).await?;
                }
                ApiResult::Ok(())
            },
            async {
                if node.field("phoneNumbers").exists() {
                    self.numbers.load_many(ids.iter().copied()).await?;
                }
                ApiResult::Ok(())
            },
            async {
                if node.field("wrapUpCodes").exists() {
                    self.codes.load_many(ids.iter().copied()).await?;
                }
                ApiResult::Ok(())
            },
            async {
                if node.field("agents").exists() {
                    self.agents.load_many(ids.iter().copied()).await?;
                }
                ApiResult::Ok(())
            },
        );
        a.and(b).and(c).and(d)
    }
}
