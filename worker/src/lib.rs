//! The engine: domain services that own the product's rules, in layers (ARCHITECTURE.md). Bottom to top, each
//! importing only from lower ones (the test `worker/tests/layers.rs` reads the `use` lines and enforces it):
//! - base: [`error`], [`actor`], [`clock`], [`validate`], [`phone`], [`crypto`], [`net`], [`db`];
//! - storage: [`store`], [`jobs`], [`live`], [`provider`];
//! - the ACD: [`acd`];
//! - chatbots: [`chatbots`];
//! - domain: [`domain`], [`accounts`], [`channels`], [`phone_numbers`], [`conversations`];
//! - intake: [`intake`];
//! - application: [`engine`], [`config`], [`runtime`].
//!
//! Nothing here knows about HTTP or GraphQL.

pub mod error;

pub mod actor;
pub mod clock;
pub mod crypto;
pub mod db;
pub mod net;
pub mod phone;
pub mod validate;

pub mod jobs;
pub mod live;
pub mod provider;
pub mod store;

pub mod acd;

pub mod chatbots;

pub mod accounts;
pub mod channels;
pub mod conversations;
pub mod domain;
pub mod phone_numbers;

pub mod intake;

pub mod config;
pub mod engine;
pub mod runtime;

pub use engine::Engine;
pub use error::{Error, FieldError, Result};
