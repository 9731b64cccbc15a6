//! The integration suite: the real server over real HTTP, against SQLite by default and PostgreSQL when
//! `TEST_POSTGRES_URL` is set.

mod access;
mod acd;
mod auth;
mod batching;
mod catalog;
mod channel_form;
mod chatbots;
mod jobs;
mod live;
mod numbers;
mod outbound;
mod passwords;
mod protocol;
mod schema;
mod sessions;
mod startup;
mod stats;
mod throttle;
mod verification;
mod webhooks;
