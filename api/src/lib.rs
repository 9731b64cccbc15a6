//! The transport: axum router, GraphQL schema (thin resolvers over the `worker` engine), health and metrics,
//! and the binary's subcommands.

pub mod app;
pub mod cli;
pub mod console;
pub mod graphql;
pub mod http;
pub mod state;
pub mod telemetry;
pub mod webhook;
pub mod ws;
