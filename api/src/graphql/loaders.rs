//! Per-request DataLoaders: listing N channels with their chatbot, numbers, codes and agents costs a constant
//! number of queries, not a few per channel.

use super::error::ApiError;
use async_graphql::dataloader::{DataLoader, Loader};
use entity::{chatbot, phone_number, user, wrap_up_code};
use std::collections::HashMap;
use uuid::Uuid;
use worker::Engine;

macro_rules! loader {
    ($name:ident, $value:ty, $method:ident) => {
        pub struct $name(pub Engine);

        impl Loader<Uuid> for $name {
            type Value = $value;
            type Error = ApiError;

            async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
                Ok(self.0.$method(keys).await?)
            }
        }
    };
}

loader!(ChatbotById, chatbot::Model, chatbots_by_id);
loader!(NumbersOfChannel, Vec<phone_number::Model>, phone_numbers_of);
loader!(CodesOfChannel, Vec<wrap_up_code::Model>, wrap_up_codes_of);
loader!(AgentsOfChannel, Vec<user::Model>, agents_of);

/// The loaders of one request.
pub struct Loaders {
    pub chatbots: DataLoader<ChatbotById>,
    pub numbers: DataLoader<NumbersOfChannel>,
    pub codes: DataLoader<CodesOfChannel>,
    pub agents: DataLoader<AgentsOfChannel>,
}

impl Loaders {
    pub fn new(engine: &Engine) -> Self {
        Self {
            chatbots: DataLoader::new(ChatbotById(engine.clone()), tokio::spawn),
            numbers: DataLoader::new(NumbersOfChannel(engine.clone()), tokio::spawn),
            codes: DataLoader::new(CodesOfChannel(engine.clone()), tokio::spawn),
            agents: DataLoader::new(AgentsOfChannel(engine.clone()), tokio::spawn),
        }
    }
}
