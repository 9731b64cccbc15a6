//! Channels ("WhatsApp by phone"): create (after the same validation the review step runs), partial update,
//! soft delete, listing, webhook URLs, wrap-up codes and the agent list. Every query is scoped to the caller's
//! account; agents see only the channels whose agent list holds them.

mod agents;
mod codes;
pub mod form;
pub mod statistics;

pub use form::{ChannelForm, ChannelPatch, ChannelPlan, Settings, SettingsForm};

use crate::crypto::{random_token, sha256_hex};
use crate::domain::Domain;
use crate::error::is_unique_violation;
use crate::{Error, Result, actor::Actor, validate};
use chrono::Utc;
use entity::{channel, channel_agent, phone_number, wrap_up_code};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Select, Set,
};
use uuid::Uuid;

const WEBHOOK_TOKEN_PREFIX: &str = "wh_";
pub const WEBHOOK_PATH: &str = "/webhooks/nova/";

/// Where a page of the channel list starts: after this (name key, id).
#[derive(Debug, Clone)]
pub struct ChannelCursor {
    pub name_key: String,
    pub id: Uuid,
}

pub struct ChannelPage {
    pub channels: Vec<channel::Model>,
    pub has_next_page: bool,
}

fn name_conflict(e: DbErr) -> Error {
    if is_unique_violation(&e, "ux_channels_live_name", "channels.account_id, channels.name_key") {
        Error::Invalid(vec![form::name_taken()])
    } else {
        e.into()
    }
}

impl Domain {
    /// The channels the caller may see, before any other filter.
    fn visible_channels(&self, actor: &Actor) -> Select<channel::Entity> {
        let q = channel::Entity::find()
            .filter(channel::Column::AccountId.eq(actor.account_id))
            .filter(channel::Column::DeletedAt.is_null());
        if actor.is_staff() {
            q
        } else {
            q.filter(
                channel::Column::Id.in_subquery(
                    Query::select()
                        .column(channel_agent::Column::ChannelId)
                        .from(channel_agent::Entity)
                        .and_where(channel_agent::Column::UserId.eq(actor.user_id))
                        .to_owned(),
                ),
            )
        }
    }

    pub async fn channel(&self, actor: &Actor, id: Uuid) -> Result<channel::Model> {
        self.visible_channels(actor)
            .filter(channel::Column::Id.eq(id))
            .one(&self.db)
            .await?
            .ok_or(Error::NotFound("channel"))
    }

    /// A live channel of the caller's account, for changes (admins only).
    pub(crate) async fn channel_for_change<C: ConnectionTrait>(
        &self,
        db: &C,
        actor: &Actor,
        id: Uuid,
    ) -> Result<channel::Model> {
        actor.require_admin()?;
        channel::Entity::find_by_id(id)
            .filter(channel::Column::AccountId.eq(actor.account_id))
            .filter(channel::Column::DeletedAt.is_null())
            .one(db)
            .await?
            .ok_or(Error::NotFound("channel"))
    }

    /// One page of channels ordered by name, optionally filtered by a case-insensitive name substring.
    pub async fn channels(
        &self,
        actor: &Actor,
        name_contains: Option<&str>,
        after: Option<ChannelCursor>,
        first: u64,
    ) -> Result<ChannelPage> {
        let mut q = self.name_filter(actor, name_contains);
        if let Some(c) = after {
            q =
                q.filter(Condition::any().add(channel::Column::NameKey.gt(c.name_key.clone())).add(
                    Condition::all().add(channel::Column::NameKey.eq(c.name_key)).add(channel::Column::Id.gt(c.id)),
                ));
        }
        let mut channels = q
            .order_by_asc(channel::Column::NameKey)
            .order_by_asc(channel::Column::Id)
            .limit(first + 1)
            .all(&self.db)
            .await?;
        let has_next_page = channels.len() as u64 > first;
        channels.truncate(first as usize);
        Ok(ChannelPage { channels, has_next_page })
    }

    pub async fn channel_count(&self, actor: &Actor, name_contains: Option<&str>) -> Result<u64> {
        Ok(self.name_filter(actor, name_contains).count(&self.db).await?)
    }

    fn name_filter(&self, actor: &Actor, name_contains: Option<&str>) -> Select<channel::Entity> {
        let q = self.visible_channels(actor);
        match name_contains.map(validate::name_key).filter(|s| !s.is_empty()) {
            Some(needle) => {
                let escaped = needle.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
                q.filter(
                    Expr::col(channel::Column::NameKey)
                        .like(sea_orm::sea_query::LikeExpr::new(format!("%{escaped}%")).escape('\\')),
                )
            }
            None => q,
        }
    }

    /// Validates and creates a channel with its codes and agents in one transaction: all or nothing.
    pub async fn create_channel(&self, actor: &Actor, form: &ChannelForm) -> Result<channel::Model> {
        let plan = self.plan_channel(actor, form).await?;
        let s = plan.settings;
        let now = Utc::now();
        let token = random_token(WEBHOOK_TOKEN_PREFIX);
        let txn = self.begin_uow().await?;
        let mut am = channel::ActiveModel {
            id: Set(Uuid::now_v7()),
            account_id: Set(actor.account_id),
            webhook_token_hash: Set(sha256_hex(token.expose())),
            webhook_token_enc: Set(self.cipher.encrypt(token.expose())?),
            created_at: Set(now),
            updated_at: Set(now),
            deleted_at: Set(None),
            ..Default::default()
        };
        s.apply_to(&mut am);
        let ch = am.insert(&txn).await.map_err(name_conflict)?;
        if !plan.wrap_up_codes.is_empty() {
            let codes = plan.wrap_up_codes.iter().enumerate().map(|(i, n)| wrap_up_code::ActiveModel {
                id: Set(Uuid::now_v7()),
                channel_id: Set(ch.id),
                name: Set(n.clone()),
                name_key: Set(validate::name_key(n)),
                position: Set(i as i32),
                created_at: Set(now),
                archived_at: Set(None),
            });
            wrap_up_code::Entity::insert_many(codes).exec(&txn).await?;
        }
        if !plan.agents.is_empty() {
            let agents = plan.agents.iter().map(|u| channel_agent::ActiveModel {
                channel_id: Set(ch.id),
                user_id: Set(u.id),
                created_at: Set(now),
            });
            channel_agent::Entity::insert_many(agents).exec(&txn).await?;
        }
        txn.distribute(ch.account_id);
        self.commit(txn).await?;
        tracing::info!(channel_id = %ch.id, account_id = %actor.account_id, "channel created");
        Ok(ch)
    }

    /// Applies a partial update after validating the resulting channel as a whole.
    pub async fn update_channel(&self, actor: &Actor, id: Uuid, patch: ChannelPatch) -> Result<channel::Model> {
        let current = self.channel_for_change(&self.db, actor, id).await?;
        let form = SettingsForm::from_model(&current).apply(patch);
        let mut errors = Vec::new();
        let s = match self.check_settings(actor, &form, Some(id), &mut errors).await? {
            Some(s) if errors.is_empty() => s,
            _ => return Err(Error::Invalid(form::in_form_order(errors))),
        };
        let bot_before = current.chatbot_id;
        let mut am: channel::ActiveModel = current.into();
        s.apply_to(&mut am);
        am.updated_at = Set(Utc::now());
        let txn = self.begin_uow().await?;
        let ch = am.update(&txn).await.map_err(name_conflict)?;
        if ch.chatbot_id != bot_before {
            // The chatbot that served this channel's clients no longer does: none is left waiting for it.
            let reason = entity::HandOffReason::ChatbotRemoved;
            crate::acd::lifecycle::hand_off_channels(&txn, ch.account_id, &[ch.id], reason).await?;
        }
        // New settings apply to later assignments only; they can make room for waiting conversations.
        txn.distribute(ch.account_id);
        self.commit(txn).await?;
        Ok(ch)
    }

    /// Soft-deletes a channel: it disappears from every list, its webhook stops working and its numbers move to
    /// the Deleted list (freeing them for other channels).
    pub async fn delete_channel(&self, actor: &Actor, id: Uuid) -> Result<channel::Model> {
        let txn = self.begin_uow().await?;
        let current = self.channel_for_change(&txn, actor, id).await?;
        let now = Utc::now();
        phone_number::Entity::update_many()
            .col_expr(phone_number::Column::DeletedAt, Expr::value(now))
            .col_expr(phone_number::Column::UpdatedAt, Expr::value(now))
            .filter(phone_number::Column::ChannelId.eq(id))
            .filter(phone_number::Column::DeletedAt.is_null())
            .exec(&txn)
            .await?;
        let mut am: channel::ActiveModel = current.into();
        am.deleted_at = Set(Some(now));
        am.updated_at = Set(now);
        let ch = am.update(&txn).await?;
        crate::acd::lifecycle::on_channel_deleted(&txn, &ch).await?;
        self.commit(txn).await?;
        self.webhook_numbers.forget();
        Ok(ch)
    }

    /// The URL the provider posts this channel's webhooks to.
    pub fn webhook_url(&self, ch: &channel::Model) -> Result<String> {
        let token = self.cipher.decrypt(&ch.webhook_token_enc)?;
        Ok(format!("{}{WEBHOOK_PATH}{}", self.public_base_url, token.expose()))
    }

    /// Replaces the webhook token; the old URL stops working at once.
    pub async fn rotate_webhook_url(&self, actor: &Actor, id: Uuid) -> Result<channel::Model> {
        let current = self.channel_for_change(&self.db, actor, id).await?;
        let token = random_token(WEBHOOK_TOKEN_PREFIX);
        let mut am: channel::ActiveModel = current.into();
        am.webhook_token_hash = Set(sha256_hex(token.expose()));
        am.webhook_token_enc = Set(self.cipher.encrypt(token.expose())?);
        am.updated_at = Set(Utc::now());
        let ch = am.update(&self.db).await?;
        self.webhook_numbers.forget();
        Ok(ch)
    }

    /// The live channel a webhook token belongs to.
    pub async fn channel_by_webhook_token(&self, token: &str) -> Result<Option<channel::Model>> {
        Ok(channel::Entity::find()
            .filter(channel::Column::WebhookTokenHash.eq(sha256_hex(token)))
            .filter(channel::Column::DeletedAt.is_null())
            .one(&self.db)
            .await?)
    }
}
