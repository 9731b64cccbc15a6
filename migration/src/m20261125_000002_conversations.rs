//! Contacts, conversations, messages and the webhook deliveries they come from.

use crate::helpers::{col, fk, id, index, unique};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("contacts"))
                    .col(id())
                    .col(col("account_id").uuid().not_null())
                    .col(col("e164").string_len(16).not_null())
                    .col(col("display_name").string_len(200).null())
                    .col(col("created_at").timestamp_with_time_zone().not_null())
                    .col(col("updated_at").timestamp_with_time_zone().not_null())
                    .foreign_key(&mut fk("contacts", "account_id", "accounts"))
                    .to_owned(),
            )
            .await?;
        manager.create_index(unique("ux_contacts_account_e164", "contacts", &["account_id", "e164"])).await?;

        manager
            .create_table(
                Table::create()
                    .table(Alias::new("conversations"))
                    .col(id())
                    .col(col("account_id").uuid().not_null())
                    .col(col("channel_id").uuid().not_null())
                    .col(col("contact_id").uuid().not_null())
                    .col(col("phone_number_id").uuid().not_null())
                    .col(col("status").string_len(20).not_null())
                    .col(col("substatus").string_len(20).null())
                    .col(col("assigned_user_id").uuid().null())
                    .col(col("enqueued_at").timestamp_with_time_zone().null())
                    .col(col("wrap_up_code_id").uuid().null())
                    .col(col("wrap_up_timed_out").boolean().not_null())
                    .col(col("created_at").timestamp_with_time_zone().not_null())
                    .col(col("updated_at").timestamp_with_time_zone().not_null())
                    .col(col("resolved_at").timestamp_with_time_zone().null())
                    .foreign_key(&mut fk("conversations", "account_id", "accounts"))
                    .foreign_key(&mut fk("conversations", "channel_id", "channels"))
                    .foreign_key(&mut fk("conversations", "contact_id", "contacts"))
                    .foreign_key(&mut fk("conversations", "phone_number_id", "phone_numbers"))
                    .to_owned(),
            )
            .await?;
        // At most one unresolved conversation per contact and channel: racing deliveries cannot open two.
        db.execute_unprepared(
            "CREATE UNIQUE INDEX ux_conversations_open ON conversations (channel_id, contact_id) \
             WHERE status <> 'RESOLVED'",
        )
        .await?;
        manager
            .create_index(index("ix_conversations_assigned", "conversations", &["assigned_user_id", "status"]))
            .await?;
        manager
            .create_index(index("ix_conversations_queue", "conversations", &["channel_id", "status", "enqueued_at"]))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Alias::new("messages"))
                    .col(id())
                    .col(col("account_id").uuid().not_null())
                    .col(col("conversation_id").uuid().not_null())
                    .col(col("direction").string_len(10).not_null())
                    .col(col("text").text().not_null())
                    .col(col("provider_message_id").string_len(200).null())
                    .col(col("delivery_status").string_len(20).null())
                    .col(col("delivery_error").string_len(500).null())
                    .col(col("sender_user_id").uuid().null())
                    .col(col("sent_at").timestamp_with_time_zone().null())
                    .col(col("created_at").timestamp_with_time_zone().not_null())
                    .col(col("updated_at").timestamp_with_time_zone().not_null())
                    .foreign_key(&mut fk("messages", "account_id", "accounts"))
                    .foreign_key(&mut fk("messages", "conversation_id", "conversations"))
                    .to_owned(),
            )
            .await?;
        // A provider message id is stored once per direction (NULLs, for unsent outbound messages, do not clash).
        manager
            .create_index(unique("ux_messages_provider_id", "messages", &["direction", "provider_message_id"]))
            .await?;
        manager.create_index(index("ix_messages_conversation", "messages", &["conversation_id", "created_at"])).await?;

        manager
            .create_table(
                Table::create()
                    .table(Alias::new("webhook_deliveries"))
                    .col(id())
                    .col(col("account_id").uuid().not_null())
                    .col(col("channel_id").uuid().not_null())
                    .col(col("phone_number_id").uuid().not_null())
                    .col(col("kind").string_len(10).not_null())
                    .col(col("dedupe_key").string_len(300).not_null())
                    .col(col("body").text().not_null())
                    .col(col("received_at").timestamp_with_time_zone().not_null())
                    .col(col("processed_at").timestamp_with_time_zone().null())
                    .col(col("error").string_len(500).null())
                    .to_owned(),
            )
            .await?;
        manager.create_index(unique("ux_webhook_deliveries_dedupe", "webhook_deliveries", &["dedupe_key"])).await?;
        manager
            .create_index(index(
                "ix_webhook_deliveries_pending",
                "webhook_deliveries",
                &["processed_at", "received_at"],
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in ["webhook_deliveries", "messages", "conversations", "contacts"] {
            manager.drop_table(Table::drop().table(Alias::new(t)).to_owned()).await?;
        }
        Ok(())
    }
}
