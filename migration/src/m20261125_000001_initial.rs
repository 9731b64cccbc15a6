//! Accounts, users, tokens, chatbots, channels with their handling settings, agents, wrap-up codes and phone
//! numbers. Ids are UUIDs; enums are stored as short strings so the same schema runs on SQLite and PostgreSQL.

use crate::helpers::{fk, id, index, ts, ts_null, unique};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("accounts"))
                    .col(id())
                    .col(ColumnDef::new(Alias::new("name")).string_len(200).not_null())
                    .col(ts("created_at"))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Alias::new("users"))
                    .col(id())
                    .col(ColumnDef::new(Alias::new("account_id")).uuid().not_null())
                    .col(ColumnDef::new(Alias::new("email")).string_len(254).not_null())
                    .col(ColumnDef::new(Alias::new("name")).string_len(200).not_null())
                    .col(ColumnDef::new(Alias::new("role")).string_len(20).not_null())
                    .col(ColumnDef::new(Alias::new("password_hash")).string_len(200).not_null())
                    .col(ColumnDef::new(Alias::new("active")).boolean().not_null())
                    .col(ts("created_at"))
                    .foreign_key(&mut fk("users", "account_id", "accounts"))
                    .to_owned(),
            )
            .await?;
        manager.create_index(unique("ux_users_email", "users", &["email"])).await?;
        manager.create_index(index("ix_users_account", "users", &["account_id"])).await?;

        manager
            .create_table(
                Table::create()
                    .table(Alias::new("api_tokens"))
                    .col(id())
                    .col(ColumnDef::new(Alias::new("user_id")).uuid().not_null())
                    .col(ColumnDef::new(Alias::new("token_hash")).string_len(64).not_null())
                    .col(ts("created_at"))
                    .col(ts_null("revoked_at"))
                    .foreign_key(&mut fk("api_tokens", "user_id", "users"))
                    .to_owned(),
            )
            .await?;
        manager.create_index(unique("ux_api_tokens_hash", "api_tokens", &["token_hash"])).await?;

        manager
            .create_table(
                Table::create()
                    .table(Alias::new("chatbots"))
                    .col(id())
                    .col(ColumnDef::new(Alias::new("account_id")).uuid().not_null())
                    .col(ColumnDef::new(Alias::new("name")).string_len(100).not_null())
                    .col(ColumnDef::new(Alias::new("name_key")).string_len(100).not_null())
                    .col(ColumnDef::new(Alias::new("description")).string_len(1000).null())
                    .col(ts("created_at"))
                    .col(ts("updated_at"))
                    .foreign_key(&mut fk("chatbots", "account_id", "accounts"))
                    .to_owned(),
            )
            .await?;
        manager.create_index(unique("ux_chatbots_account_name", "chatbots", &["account_id", "name_key"])).await?;

        manager
            .create_table(
                Table::create()
                    .table(Alias::new("channels"))
                    .col(id())
                    .col(ColumnDef::new(Alias::new("account_id")).uuid().not_null())
                    .col(ColumnDef::new(Alias::new("name")).string_len(100).not_null())
                    .col(ColumnDef::new(Alias::new("name_key")).string_len(100).not_null())
                    .col(ColumnDef::new(Alias::new("chatbot_id")).uuid().null())
                    .col(ColumnDef::new(Alias::new("conversation_type")).string_len(20).not_null())
                    .col(ColumnDef::new(Alias::new("can_write_first")).boolean().not_null())
                    .col(ColumnDef::new(Alias::new("provider")).string_len(40).not_null())
                    .col(ColumnDef::new(Alias::new("api_url")).string_len(2048).not_null())
                    .col(ColumnDef::new(Alias::new("webhook_token_hash")).string_len(64).not_null())
                    .col(ColumnDef::new(Alias::new("webhook_token_enc")).string_len(200).not_null())
                    .col(ColumnDef::new(Alias::new("utilization")).integer().not_null())
                    .col(ColumnDef::new(Alias::new("auto_assignment_limit")).integer().not_null())
                    .col(ColumnDef::new(Alias::new("auto_answer")).boolean().not_null())
                    .col(ColumnDef::new(Alias::new("alerting_timeout")).integer().null())
                    .col(ColumnDef::new(Alias::new("wrap_up_timeout")).integer().null())
                    .col(ts("created_at"))
                    .col(ts("updated_at"))
                    .col(ts_null("deleted_at"))
                    .foreign_key(&mut fk("channels", "account_id", "accounts"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_channels_chatbot_id")
                            .from(Alias::new("channels"), Alias::new("chatbot_id"))
                            .to(Alias::new("chatbots"), Alias::new("id"))
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager.create_index(unique("ux_channels_webhook_token", "channels", &["webhook_token_hash"])).await?;
        manager.create_index(index("ix_channels_account_name", "channels", &["account_id", "name_key"])).await?;
        // Partial unique indexes: the same statement works on SQLite and PostgreSQL.
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE UNIQUE INDEX ux_channels_live_name ON channels (account_id, name_key) \
             WHERE deleted_at IS NULL",
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Alias::new("channel_agents"))
                    .col(ColumnDef::new(Alias::new("channel_id")).uuid().not_null())
                    .col(ColumnDef::new(Alias::new("user_id")).uuid().not_null())
                    .col(ts("created_at"))
                    .primary_key(Index::create().col(Alias::new("channel_id")).col(Alias::new("user_id")))
                    .foreign_key(&mut fk("channel_agents", "channel_id", "channels"))
                    .foreign_key(&mut fk("channel_agents", "user_id", "users"))
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("ix_channel_agents_user", "channel_agents", &["user_id"])).await?;

        manager
            .create_table(
                Table::create()
                    .table(Alias::new("wrap_up_codes"))
                    .col(id())
                    .col(ColumnDef::new(Alias::new("channel_id")).uuid().not_null())
                    .col(ColumnDef::new(Alias::new("name")).string_len(100).not_null())
                    .col(ColumnDef::new(Alias::new("name_key")).string_len(100).not_null())
                    .col(ColumnDef::new(Alias::new("position")).integer().not_null())
                    .col(ts("created_at"))
                    .col(ts_null("archived_at"))
                    .foreign_key(&mut fk("wrap_up_codes", "channel_id", "channels"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(unique("ux_wrap_up_codes_channel_name", "wrap_up_codes", &["channel_id", "name_key"]))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Alias::new("phone_numbers"))
                    .col(id())
                    .col(ColumnDef::new(Alias::new("account_id")).uuid().not_null())
                    .col(ColumnDef::new(Alias::new("channel_id")).uuid().not_null())
                    .col(ColumnDef::new(Alias::new("e164")).string_len(16).not_null())
                    .col(ColumnDef::new(Alias::new("api_key_enc")).text().not_null())
                    .col(ColumnDef::new(Alias::new("api_key_hint")).string_len(4).not_null())
                    .col(ColumnDef::new(Alias::new("enabled")).boolean().not_null())
                    .col(ColumnDef::new(Alias::new("verification")).string_len(20).not_null())
                    .col(ColumnDef::new(Alias::new("verification_error")).string_len(40).null())
                    .col(ts_null("last_verified_at"))
                    .col(ts("created_at"))
                    .col(ts("updated_at"))
                    .col(ts_null("deleted_at"))
                    .foreign_key(&mut fk("phone_numbers", "account_id", "accounts"))
                    .foreign_key(&mut fk("phone_numbers", "channel_id", "channels"))
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("ix_phone_numbers_channel", "phone_numbers", &["channel_id"])).await?;
        db.execute_unprepared(
            "CREATE UNIQUE INDEX ux_phone_numbers_live_e164 ON phone_numbers (e164) \
             WHERE deleted_at IS NULL",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            "phone_numbers",
            "wrap_up_codes",
            "channel_agents",
            "channels",
            "chatbots",
            "api_tokens",
            "users",
            "accounts",
        ] {
            manager.drop_table(Table::drop().table(Alias::new(t)).to_owned()).await?;
        }
        Ok(())
    }
}
