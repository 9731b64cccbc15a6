//! Chatbots as external services: an endpoint the product posts signed events to, an on/off switch, a bot token
//! (hashed) and a signing secret (encrypted). Channels get a chatbot timeout; conversations the bot's deadline
//! and why they were handed off; messages the chatbot that sent them. `chatbot_posts` is the per-message outbox
//! of posts to a conversation's bot (posted in order), `chatbot_leases` the per-conversation lease of the one
//! job posting them.

use crate::helpers::{add_column, col, index, ts, ts_null, unique};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        add_column(manager, "chatbots", col("endpoint_url").string_len(2048).null().to_owned()).await?;
        add_column(manager, "chatbots", col("enabled").boolean().not_null().default(true).to_owned()).await?;
        add_column(manager, "chatbots", col("token_hash").string_len(64).null().to_owned()).await?;
        add_column(manager, "chatbots", col("signing_secret_enc").text().null().to_owned()).await?;
        add_column(manager, "chatbots", ts_null("credentials_rotated_at")).await?;
        manager.create_index(unique("ux_chatbots_token_hash", "chatbots", &["token_hash"])).await?;
        add_column(manager, "channels", col("chatbot_timeout").integer().not_null().default(60).to_owned()).await?;
        add_column(manager, "conversations", ts_null("bot_deadline")).await?;
        add_column(manager, "conversations", col("hand_off_reason").string_len(30).null().to_owned()).await?;
        add_column(manager, "conversations", ts_null("handed_off_at")).await?;
        manager.create_index(index("ix_conversations_bot_deadline", "conversations", &["bot_deadline"])).await?;
        add_column(manager, "messages", col("chatbot_id").uuid().null().to_owned()).await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("chatbot_posts"))
                    .col(col("message_id").uuid().not_null().primary_key())
                    .col(col("account_id").uuid().not_null())
                    .col(col("conversation_id").uuid().not_null())
                    .col(col("chatbot_id").uuid().not_null())
                    .col(col("status").string_len(20).not_null())
                    .col(col("attempts").integer().not_null().default(0))
                    .col(ts("next_attempt_at"))
                    .col(col("last_error").string_len(500).null())
                    .col(ts("created_at"))
                    .col(ts_null("posted_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_chatbot_posts_conversation",
                "chatbot_posts",
                &["conversation_id", "status", "message_id"],
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("chatbot_leases"))
                    .col(col("conversation_id").uuid().not_null().primary_key())
                    .col(col("holder").uuid().not_null())
                    .col(ts("until"))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in ["chatbot_leases", "chatbot_posts"] {
            manager.drop_table(Table::drop().table(Alias::new(t)).to_owned()).await?;
        }
        manager
            .drop_index(
                Index::drop().name("ix_conversations_bot_deadline").table(Alias::new("conversations")).to_owned(),
            )
            .await?;
        manager
            .drop_index(Index::drop().name("ux_chatbots_token_hash").table(Alias::new("chatbots")).to_owned())
            .await?;
        for (t, c) in [
            ("messages", "chatbot_id"),
            ("conversations", "handed_off_at"),
            ("conversations", "hand_off_reason"),
            ("conversations", "bot_deadline"),
            ("channels", "chatbot_timeout"),
            ("chatbots", "credentials_rotated_at"),
            ("chatbots", "signing_secret_enc"),
            ("chatbots", "token_hash"),
            ("chatbots", "enabled"),
            ("chatbots", "endpoint_url"),
        ] {
            manager.alter_table(Table::alter().table(Alias::new(t)).drop_column(Alias::new(c)).to_owned()).await?;
        }
        Ok(())
    }
}
