//! The ACD: agent states, busy reasons, offers (the history of who was offered which conversation, which also
//! says who is excluded from it in its current queue stint), and the conversation's assignment and timer columns.

use crate::helpers::{col, fk, id, index, ts, ts_null};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("busy_reasons"))
                    .col(id())
                    .col(col("account_id").uuid().not_null())
                    .col(col("name").string_len(100).not_null())
                    .col(ts_null("archived_at"))
                    .col(ts("created_at"))
                    .foreign_key(&mut fk("busy_reasons", "account_id", "accounts"))
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("ix_busy_reasons_account", "busy_reasons", &["account_id"])).await?;

        manager
            .create_table(
                Table::create()
                    .table(Alias::new("agent_states"))
                    .col(col("user_id").uuid().not_null().primary_key())
                    .col(col("account_id").uuid().not_null())
                    .col(col("status").string_len(20).not_null())
                    .col(col("busy_kind").string_len(20).null())
                    .col(col("busy_reason_id").uuid().null())
                    .col(ts("since"))
                    .col(ts_null("last_assigned_at"))
                    .foreign_key(&mut fk("agent_states", "user_id", "users"))
                    .foreign_key(&mut fk("agent_states", "account_id", "accounts"))
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("ix_agent_states_account", "agent_states", &["account_id", "status"])).await?;

        manager
            .create_table(
                Table::create()
                    .table(Alias::new("conversation_offers"))
                    .col(id())
                    .col(col("account_id").uuid().not_null())
                    .col(col("conversation_id").uuid().not_null())
                    .col(col("user_id").uuid().not_null())
                    .col(col("origin").string_len(20).not_null())
                    .col(ts("offered_at"))
                    .col(ts_null("deadline"))
                    .col(col("outcome").string_len(20).null())
                    .col(ts_null("ended_at"))
                    .col(col("excludes").boolean().not_null())
                    .foreign_key(&mut fk("conversation_offers", "conversation_id", "conversations"))
                    .foreign_key(&mut fk("conversation_offers", "user_id", "users"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("ix_conversation_offers_conversation", "conversation_offers", &["conversation_id"]))
            .await?;

        // SQLite adds one column per ALTER TABLE.
        for c in [
            col("offer_id").uuid().null().to_owned(),
            ts_null("offer_deadline"),
            ts_null("wrap_up_deadline"),
            col("assignment_cost").integer().null().to_owned(),
            col("resolution").string_len(30).null().to_owned(),
        ] {
            manager.alter_table(Table::alter().table(Alias::new("conversations")).add_column(c).to_owned()).await?;
        }
        manager.create_index(index("ix_conversations_offer_deadline", "conversations", &["offer_deadline"])).await?;
        manager
            .create_index(index("ix_conversations_wrap_up_deadline", "conversations", &["wrap_up_deadline"]))
            .await?;
        Ok(())
    }
}
