//! Indexes for the live figures (`queueStats`, `agentStats`, the wallboard's snapshots): the open stints of an
//! account, and an account's conversations by status. Before them, the open stints were found by scanning every
//! stint the account ever had (`stats-bench`: 3.3 s at p50 on SQLite with a million ended stints).

use crate::helpers::index;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Partial: only the waits in progress, a few rows whatever the history. The condition is a literal in the
        // queries too, as SQLite requires to use a partial index.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX ix_queue_stints_open_account ON queue_stints (account_id, channel_id, started_at) \
                 WHERE ended_at IS NULL",
            )
            .await?;
        manager
            .create_index(index(
                "ix_conversations_account_status",
                "conversations",
                &["account_id", "status", "substatus"],
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (t, i) in
            [("conversations", "ix_conversations_account_status"), ("queue_stints", "ix_queue_stints_open_account")]
        {
            manager.drop_index(Index::drop().name(i).table(Alias::new(t)).to_owned()).await?;
        }
        Ok(())
    }
}
