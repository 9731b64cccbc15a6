//! Supervisor statistics: one row per queue stint (a conversation's wait in its channel's queue, from entering it
//! to being answered, abandoned or taken out by hand), the times an assignment was accepted and went to after-call
//! work (with the durations and 15-minute slot written when it ends), the account's time zone, and the channel's
//! service-level and queue-message settings.
//!
//! Durations are stored in milliseconds and end times also as a 15-minute slot number (unix seconds / 900): every
//! time zone's offset is a multiple of 15 minutes, so a local hour or day is a whole number of slots, and the
//! historical figures are sums grouped by slot on either database.

use crate::helpers::{add_column, col, fk, id, index, ts, ts_null};
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
                    .table(Alias::new("queue_stints"))
                    .col(id())
                    .col(col("account_id").uuid().not_null())
                    .col(col("channel_id").uuid().not_null())
                    .col(col("conversation_id").uuid().not_null())
                    .col(ts("started_at"))
                    .col(col("start_reason").string_len(20).not_null())
                    .col(ts_null("ended_at"))
                    .col(col("ended_slot").big_integer().null())
                    .col(col("outcome").string_len(20).null())
                    .col(col("abandon_reason").string_len(30).null())
                    .col(col("answered_by").uuid().null())
                    .col(col("wait_ms").big_integer().null())
                    .col(col("offers").integer().not_null().default(0))
                    .col(col("rejects").integer().not_null().default(0))
                    .col(col("timeouts").integer().not_null().default(0))
                    .col(col("estimate_seconds").integer().null())
                    .col(col("estimate_basis").string_len(30).null())
                    .col(col("updates_sent").integer().not_null().default(0))
                    .col(ts_null("last_update_at"))
                    .col(col("last_update_position").integer().null())
                    .col(col("updates_stopped").boolean().not_null().default(false))
                    .foreign_key(&mut fk("queue_stints", "conversation_id", "conversations"))
                    .to_owned(),
            )
            .await?;
        // At most one open stint per conversation.
        db.execute_unprepared(
            "CREATE UNIQUE INDEX ux_queue_stints_open ON queue_stints (conversation_id) WHERE ended_at IS NULL",
        )
        .await?;
        db.execute_unprepared(
            "CREATE INDEX ix_queue_stints_waiting ON queue_stints (channel_id, started_at) WHERE ended_at IS NULL",
        )
        .await?;
        // The historical figures: a range of slots of the account, read from the index alone where it can.
        manager
            .create_index(index(
                "ix_queue_stints_ended",
                "queue_stints",
                &["account_id", "ended_slot", "channel_id", "outcome", "wait_ms"],
            ))
            .await?;
        // One channel's range (queueMetrics with a channelId, the recent answers of expected waits).
        manager
            .create_index(index("ix_queue_stints_channel_ended", "queue_stints", &["channel_id", "ended_slot"]))
            .await?;
        manager.create_index(index("ix_queue_stints_conversation", "queue_stints", &["conversation_id"])).await?;

        add_column(manager, "conversation_offers", col("channel_id").uuid().null().to_owned()).await?;
        add_column(manager, "conversation_offers", ts_null("accepted_at")).await?;
        add_column(manager, "conversation_offers", ts_null("after_call_work_at")).await?;
        add_column(manager, "conversation_offers", col("handle_ms").big_integer().null().to_owned()).await?;
        add_column(manager, "conversation_offers", col("after_call_work_ms").big_integer().null().to_owned()).await?;
        add_column(manager, "conversation_offers", col("ended_slot").big_integer().null().to_owned()).await?;
        db.execute_unprepared(
            "UPDATE conversation_offers SET channel_id = \
             (SELECT c.channel_id FROM conversations c WHERE c.id = conversation_offers.conversation_id)",
        )
        .await?;
        manager
            .create_index(index(
                "ix_conversation_offers_ended",
                "conversation_offers",
                &["account_id", "ended_slot", "channel_id", "user_id"],
            ))
            .await?;
        manager
            .create_index(index("ix_conversation_offers_user", "conversation_offers", &["user_id", "ended_slot"]))
            .await?;
        manager
            .create_index(index(
                "ix_conversation_offers_channel_ended",
                "conversation_offers",
                &["channel_id", "ended_slot"],
            ))
            .await?;

        add_column(manager, "messages", col("automatic").boolean().not_null().default(false).to_owned()).await?;
        add_column(manager, "accounts", col("time_zone").string_len(64).not_null().default("UTC").to_owned()).await?;
        add_column(manager, "channels", col("sl_target_seconds").integer().not_null().default(20).to_owned()).await?;
        add_column(manager, "channels", col("sl_short_abandon_seconds").integer().not_null().default(5).to_owned())
            .await?;
        add_column(
            manager,
            "channels",
            col("sl_abandon_policy").string_len(20).not_null().default("COUNT_AS_MISSED").to_owned(),
        )
        .await?;
        add_column(manager, "channels", col("queue_messages").text().null().to_owned()).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (t, i) in [
            ("conversation_offers", "ix_conversation_offers_channel_ended"),
            ("conversation_offers", "ix_conversation_offers_user"),
            ("conversation_offers", "ix_conversation_offers_ended"),
        ] {
            manager.drop_index(Index::drop().name(i).table(Alias::new(t)).to_owned()).await?;
        }
        for (t, c) in [
            ("channels", "queue_messages"),
            ("channels", "sl_abandon_policy"),
            ("channels", "sl_short_abandon_seconds"),
            ("channels", "sl_target_seconds"),
            ("accounts", "time_zone"),
            ("messages", "automatic"),
            ("conversation_offers", "ended_slot"),
            ("conversation_offers", "after_call_work_ms"),
            ("conversation_offers", "handle_ms"),
            ("conversation_offers", "after_call_work_at"),
            ("conversation_offers", "accepted_at"),
            ("conversation_offers", "channel_id"),
        ] {
            manager.alter_table(Table::alter().table(Alias::new(t)).drop_column(Alias::new(c)).to_owned()).await?;
        }
        manager.drop_table(Table::drop().table(Alias::new("queue_stints")).to_owned()).await
    }
}
