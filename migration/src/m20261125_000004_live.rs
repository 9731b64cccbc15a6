//! The live event log: one row per watched state change, appended in the transaction of the change, with a
//! per-account cursor allocated from `event_counters` at the end of that transaction (the counter row's lock
//! orders the commits of an account, so cursors are increasing in commit order). `desktop_connections` are
//! the subscription connections agents hold, with heartbeats, for presence.

use crate::helpers::{col, index, ts, ts_null};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("event_counters"))
                    .col(col("account_id").uuid().not_null().primary_key())
                    .col(col("last_seq").big_integer().not_null())
                    .col(col("pruned_through").big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("live_events"))
                    .col(col("account_id").uuid().not_null())
                    .col(col("seq").big_integer().not_null())
                    .col(col("kind").string_len(30).not_null())
                    .col(col("reason").string_len(30).null())
                    .col(col("user_id").uuid().null())
                    .col(col("channel_id").uuid().null())
                    .col(col("staff").boolean().not_null())
                    .col(col("conversation_id").uuid().null())
                    .col(col("message_id").uuid().null())
                    .col(col("agent_id").uuid().null())
                    .col(col("phone_number_id").uuid().null())
                    .col(ts_null("deadline"))
                    .col(ts("at"))
                    .primary_key(Index::create().col(Alias::new("account_id")).col(Alias::new("seq")))
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("ix_live_events_at", "live_events", &["at"])).await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("desktop_connections"))
                    .col(col("id").uuid().not_null().primary_key())
                    .col(col("user_id").uuid().not_null())
                    .col(col("account_id").uuid().not_null())
                    .col(ts("connected_at"))
                    .col(ts("seen_at"))
                    .col(ts_null("closed_at"))
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("ix_desktop_connections_user", "desktop_connections", &["user_id"])).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in ["desktop_connections", "live_events", "event_counters"] {
            manager.drop_table(Table::drop().table(Alias::new(t)).to_owned()).await?;
        }
        Ok(())
    }
}
