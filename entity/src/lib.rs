//! sea-orm entities, one file per table. Enums are string-backed so the same entities run on SQLite and
//! PostgreSQL. No GraphQL derives here: the API schema is a contract, the table layout is not.

pub mod account;
pub mod agent_state;
pub mod api_token;
pub mod busy_reason;
pub mod channel;
pub mod channel_agent;
pub mod chatbot;
pub mod chatbot_lease;
pub mod chatbot_post;
pub mod contact;
pub mod conversation;
pub mod conversation_offer;
pub mod desktop_connection;
pub mod enums;
pub mod event_counter;
pub mod live_event;
pub mod login_throttle;
pub mod message;
pub mod phone_number;
pub mod queue_stint;
pub mod user;
pub mod webhook_delivery;
pub mod wrap_up_code;

pub use enums::*;
