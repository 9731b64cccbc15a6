//! The integration suite: the real server over real HTTP, against SQLite by default and PostgreSQL when
//! `TEST_POSTGRES_URL` is set.

mod access;
mod acd;
mod auth;
mod catalog;
mod channel_form;
mod jobs;
mod live;
mod numbers;
mod outbound;
mod protocol;
mod schema;
mod startup;
mod verification;
mod webhooks;
