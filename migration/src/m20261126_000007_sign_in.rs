//! Sign-in hardening: login throttling counters shared by every `api` process (one row per scope and subject,
//! a fixed 15-minute window), token sessions (kind, last use, where they were signed in from) and passwords an
//! admin reset (the user must change them).

use crate::helpers::{add_column, col, ts, ts_null};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("login_throttle"))
                    .col(col("scope").string_len(16).not_null())
                    .col(col("subject").string_len(400).not_null())
                    .col(ts("window_start"))
                    .col(col("attempts").integer().not_null())
                    .primary_key(Index::create().col(Alias::new("scope")).col(Alias::new("subject")))
                    .to_owned(),
            )
            .await?;
        add_column(manager, "api_tokens", col("kind").string_len(10).not_null().default("SESSION").to_owned()).await?;
        add_column(manager, "api_tokens", ts_null("last_used_at")).await?;
        add_column(manager, "api_tokens", col("client_addr").string_len(64).null().to_owned()).await?;
        add_column(manager, "api_tokens", col("user_agent").string_len(300).null().to_owned()).await?;
        add_column(manager, "users", col("must_change_password").boolean().not_null().default(false).to_owned())
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (t, c) in [
            ("users", "must_change_password"),
            ("api_tokens", "user_agent"),
            ("api_tokens", "client_addr"),
            ("api_tokens", "last_used_at"),
            ("api_tokens", "kind"),
        ] {
            manager.alter_table(Table::alter().table(Alias::new(t)).drop_column(Alias::new(c)).to_owned()).await?;
        }
        manager.drop_table(Table::drop().table(Alias::new("login_throttle")).to_owned()).await
    }
}
