//! Outbound messages and their delivery status.

use crate::{Engine, Result};
use chrono::Utc;
use entity::{DeliveryStatus, Direction, message};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

impl Engine {
    /// Applies a provider status to the outbound message with that provider id, never moving it backwards
    /// (FAILED may replace QUEUED or SENT, not DELIVERED or READ). Returns whether such a message exists.
    pub async fn apply_delivery_status(
        &self,
        provider_message_id: &str,
        status: DeliveryStatus,
        error: Option<String>,
    ) -> Result<bool> {
        let Some(m) = message::Entity::find()
            .filter(message::Column::Direction.eq(Direction::Outbound))
            .filter(message::Column::ProviderMessageId.eq(provider_message_id))
            .one(&self.db)
            .await?
        else {
            return Ok(false);
        };
        let current = m.delivery_status.unwrap_or(DeliveryStatus::Queued);
        let forward = match status {
            DeliveryStatus::Failed => current.rank() < DeliveryStatus::Delivered.rank(),
            s => s.rank() > current.rank() && current != DeliveryStatus::Failed,
        };
        if forward {
            let mut am: message::ActiveModel = m.into();
            am.delivery_status = Set(Some(status));
            am.delivery_error = Set(error.map(|e| e.chars().take(500).collect()));
            am.updated_at = Set(Utc::now());
            am.update(&self.db).await?;
        }
        Ok(true)
    }
}
