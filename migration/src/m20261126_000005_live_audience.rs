//! Readers catching up read their own audience's events: an agent's by user, in cursor order.

use crate::helpers::index;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_index(index("ix_live_events_user", "live_events", &["account_id", "user_id", "seq"])).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(Index::drop().name("ix_live_events_user").table(Alias::new("live_events")).to_owned()).await
    }
}
