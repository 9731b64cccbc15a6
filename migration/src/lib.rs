//! Database migrations, run by the binary's `migrate` subcommand and on start-up.
//! One file per change; a migration is never edited after it lands.

pub use sea_orm_migration::prelude::*;

mod helpers;
mod m20261125_000001_initial;
mod m20261125_000002_conversations;
mod m20261125_000003_acd;
mod m20261125_000004_live;
mod m20261126_000005_live_audience;
mod m20261126_000006_chatbots;
mod m20261126_000007_sign_in;
mod m20261204_000008_statistics;
mod m20261205_000009_open_stints_and_send_claims;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_initial::Migration),
            Box::new(m20261125_000002_conversations::Migration),
            Box::new(m20261125_000003_acd::Migration),
            Box::new(m20261125_000004_live::Migration),
            Box::new(m20261126_000005_live_audience::Migration),
            Box::new(m20261126_000006_chatbots::Migration),
            Box::new(m20261126_000007_sign_in::Migration),
            Box::new(m20261204_000008_statistics::Migration),
            Box::new(m20261205_000009_open_stints_and_send_claims::Migration),
        ]
    }
}
