//! Two changes:
//!
//! - An index for the live figures (`queueStats`, `agentStats`, the wallboard's snapshots): the open stints of an
//!   account. Before it, the open stints were found by scanning every stint the account ever had (`stats-bench`:
//!   3.3 s at p50 on SQLite with a million ended stints).
//! - An index on an account's conversations by status and substatus: the live figures count the conversations
//!   being worked and every agent's load from it, which otherwise reads every conversation the account ever had.
//! - `messages.send_claimed_until`: the lease a send job takes on a QUEUED message before it calls the provider,
//!   so that two send jobs of one message (its own and the one its predecessor's outcome queues) never both call.

use crate::helpers::{add_column, index, ts_null};
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
        add_column(manager, "messages", ts_null("send_claimed_until")).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter().table(Alias::new("messages")).drop_column(Alias::new("send_claimed_until")).to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop().name("ix_conversations_account_status").table(Alias::new("conversations")).to_owned(),
            )
            .await?;
        manager
            .drop_index(Index::drop().name("ix_queue_stints_open_account").table(Alias::new("queue_stints")).to_owned())
            .await?;
        Ok(())
    }
}
