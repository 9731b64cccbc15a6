//! Input types, converted into the engine's forms at the edge.

use super::enums::{ConversationType, Provider, Role};
use async_graphql::{ID, InputObject, MaybeUndefined};
use worker::channels::{ChannelForm, ChannelPatch, SettingsForm};

/// The whole channel form: basic, provider and conversation-handling settings, wrap-up codes and agents.
#[derive(InputObject)]
pub struct ChannelInput {
    /// 1 to 100 characters, unique within the account (case-insensitive).
    pub name: String,
    /// A chatbot of the same account.
    pub chatbot_id: Option<ID>,
    #[graphql(default_with = "ConversationType::Chat")]
    pub conversation_type: ConversationType,
    /// Whether agents may write first to a client who never wrote to this channel.
    #[graphql(default = false)]
    pub can_write_first: bool,
    #[graphql(default_with = "Provider::NovaChatsConnector")]
    pub provider: Provider,
    /// The provider's base URL (absolute http or https).
    pub api_url: String,
    /// 0 to 100: how much of an agent one conversation occupies.
    pub utilization: i32,
    /// At least 1: the most conversations of this channel an agent holds through automatic distribution.
    pub auto_assignment_limit: i32,
    /// Accept distributed conversations on assignment.
    pub auto_answer: bool,
    /// Seconds (at least 5) to accept an offer. Required when `autoAnswer` is false, refused when it is true.
    pub alerting_timeout: Option<i32>,
    /// Seconds (at least 1) to pick a wrap-up code after resolving; omit for no limit.
    pub wrap_up_timeout: Option<i32>,
    /// Seconds (5 to 86400, default 60) the chatbot has to answer or hand off after a client's message; the
    /// conversation is handed off when it has done neither.
    #[graphql(default = 60)]
    pub chatbot_timeout: i32,
    /// Wrap-up code names, in display order, unique within the channel.
    #[graphql(default)]
    pub wrap_up_codes: Vec<String>,
    /// Users (role AGENT or SUPERVISOR) who receive the channel's conversations.
    #[graphql(default)]
    pub agent_ids: Vec<ID>,
}

impl From<ChannelInput> for ChannelForm {
    fn from(i: ChannelInput) -> Self {
        ChannelForm {
            settings: SettingsForm {
                name: i.name,
                chatbot_id: i.chatbot_id.map(|id| id.0),
                conversation_type: i.conversation_type.into(),
                can_write_first: i.can_write_first,
                provider: i.provider.into(),
                api_url: i.api_url,
                utilization: i.utilization,
                auto_assignment_limit: i.auto_assignment_limit,
                auto_answer: i.auto_answer,
                alerting_timeout: i.alerting_timeout,
                wrap_up_timeout: i.wrap_up_timeout,
                chatbot_timeout: i.chatbot_timeout,
            },
            wrap_up_codes: i.wrap_up_codes,
            agent_ids: i.agent_ids.into_iter().map(|id| id.0).collect(),
        }
    }
}

/// A partial update of a channel's settings: omitted fields stay as they are, `null` clears an optional one.
/// Setting `autoAnswer: true` clears `alertingTimeout`; setting it to false requires one. Codes and agents have
/// their own mutations.
#[derive(InputObject, Default)]
pub struct ChannelUpdateInput {
    pub name: Option<String>,
    pub chatbot_id: MaybeUndefined<ID>,
    pub conversation_type: Option<ConversationType>,
    pub can_write_first: Option<bool>,
    pub provider: Option<Provider>,
    pub api_url: Option<String>,
    pub utilization: Option<i32>,
    pub auto_assignment_limit: Option<i32>,
    pub auto_answer: Option<bool>,
    pub alerting_timeout: MaybeUndefined<i32>,
    pub wrap_up_timeout: MaybeUndefined<i32>,
    pub chatbot_timeout: Option<i32>,
}

fn tri<T, U>(v: MaybeUndefined<T>, f: impl FnOnce(T) -> U) -> Option<Option<U>> {
    match v {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(f(v))),
    }
}

impl From<ChannelUpdateInput> for ChannelPatch {
    fn from(i: ChannelUpdateInput) -> Self {
        ChannelPatch {
            name: i.name,
            chatbot_id: tri(i.chatbot_id, |id| id.0),
            conversation_type: i.conversation_type.map(Into::into),
            can_write_first: i.can_write_first,
            provider: i.provider.map(Into::into),
            api_url: i.api_url,
            utilization: i.utilization,
            auto_assignment_limit: i.auto_assignment_limit,
            auto_answer: i.auto_answer,
            alerting_timeout: tri(i.alerting_timeout, |v| v),
            wrap_up_timeout: tri(i.wrap_up_timeout, |v| v),
            chatbot_timeout: i.chatbot_timeout,
        }
    }
}

/// A number to connect to a channel.
#[derive(InputObject)]
pub struct PhoneNumberInput {
    /// An international number; spaces, dashes, dots and parentheses are ignored, `00` reads as `+`.
    pub phone_number: String,
    /// The provider API key for this number (8 to 512 characters). Write-only.
    pub api_key: String,
}

#[derive(InputObject)]
pub struct CreateUserInput {
    pub email: String,
    pub name: String,
    /// At least 10 characters.
    pub password: String,
    pub role: Role,
}

#[derive(InputObject)]
pub struct ChatbotInput {
    /// 1 to 100 characters, unique within the account.
    pub name: String,
    /// At most 1000 characters.
    pub description: Option<String>,
    /// Where the product posts signed events (absolute http or https). Without one the chatbot serves nobody.
    pub endpoint_url: Option<String>,
    /// A disabled chatbot serves nobody: its channels' new conversations go straight to the queue.
    #[graphql(default = true)]
    pub enabled: bool,
}

/// Omitted fields stay as they are; `description: null` clears it.
#[derive(InputObject)]
pub struct ChatbotUpdateInput {
    pub name: Option<String>,
    pub description: MaybeUndefined<String>,
    /// `null` removes it (the chatbot then stops serving: its conversations are handed off).
    pub endpoint_url: MaybeUndefined<String>,
    /// Disabling hands off at once every conversation the chatbot was serving.
    pub enabled: Option<bool>,
}

impl From<ChatbotUpdateInput> for worker::chatbots::ChatbotPatch {
    fn from(i: ChatbotUpdateInput) -> Self {
        Self {
            name: i.name,
            description: tri(i.description, |d| d),
            endpoint_url: tri(i.endpoint_url, |u| u),
            enabled: i.enabled,
        }
    }
}
