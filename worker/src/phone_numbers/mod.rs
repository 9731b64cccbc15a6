//! Phone numbers of a channel: added with an API key (encrypted at rest, shown only as its last four
//! characters), enabled or disabled, soft-deleted to the channel's Deleted list and restored from it. A number is
//! unique among the deployment's non-deleted numbers, enforced by a partial unique index.

pub mod reverify;
pub mod verify;
mod webhook_cache;

pub use webhook_cache::WebhookNumbers;

use crate::domain::Domain;
use crate::error::is_unique_violation;
use crate::phone::normalise_e164;
use crate::{Error, FieldError, Result, actor::Actor};
use chrono::Utc;
use entity::{Verification, phone_number};
use sea_orm::{ActiveModelTrait, ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, Set};
use std::collections::HashMap;
use uuid::Uuid;

pub const API_KEY_MIN: usize = 8;
pub const API_KEY_MAX: usize = 512;

/// Which of a channel's lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NumberState {
    Active,
    Deleted,
}

impl NumberState {
    pub fn of(n: &phone_number::Model) -> Self {
        if n.deleted_at.is_some() { NumberState::Deleted } else { NumberState::Active }
    }
}

/// A checked API key and its display hint (the last four characters).
fn check_api_key(raw: &str, errors: &mut Vec<FieldError>) -> (String, String) {
    let key = raw.trim();
    let n = key.chars().count();
    if n == 0 {
        errors.push(FieldError::new("apiKey", "REQUIRED", "must not be empty"));
    } else if !(API_KEY_MIN..=API_KEY_MAX).contains(&n) {
        errors.push(FieldError::new(
            "apiKey",
            "INVALID_LENGTH",
            format!("must be {API_KEY_MIN} to {API_KEY_MAX} characters"),
        ));
    } else if key.chars().any(char::is_whitespace) {
        errors.push(FieldError::new("apiKey", "INVALID", "must not contain spaces"));
    }
    let hint: String = key.chars().skip(n.saturating_sub(4)).collect();
    (key.to_owned(), hint)
}

fn number_taken(e: DbErr) -> Error {
    if is_unique_violation(&e, "ux_phone_numbers_live_e164", "phone_numbers.e164") {
        Error::conflict("phoneNumber", "this number is already connected to a channel")
    } else {
        e.into()
    }
}

impl Domain {
    pub async fn add_phone_number(
        &self,
        actor: &Actor,
        channel_id: Uuid,
        phone: &str,
        api_key: &str,
    ) -> Result<phone_number::Model> {
        let ch = self.channel_for_change(&self.db, actor, channel_id).await?;
        let mut errors = Vec::new();
        let e164 = normalise_e164("phoneNumber", phone).map_err(|e| errors.push(e)).unwrap_or_default();
        let (key, hint) = check_api_key(api_key, &mut errors);
        if !errors.is_empty() {
            return Err(Error::Invalid(errors));
        }
        let now = Utc::now();
        phone_number::ActiveModel {
            id: Set(Uuid::now_v7()),
            account_id: Set(actor.account_id),
            channel_id: Set(ch.id),
            e164: Set(e164),
            api_key_enc: Set(self.cipher.encrypt(&key)?),
            api_key_hint: Set(hint),
            enabled: Set(true),
            verification: Set(Verification::Unverified),
            verification_error: Set(None),
            last_verified_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            deleted_at: Set(None),
        }
        .insert(&self.db)
        .await
        .map_err(number_taken)
        .inspect(|_| self.webhook_numbers.forget())
    }

    /// A number of the caller's account, in any state. Agents see the numbers of their channels.
    pub async fn phone_number(&self, actor: &Actor, id: Uuid) -> Result<phone_number::Model> {
        let n = phone_number::Entity::find_by_id(id)
            .filter(phone_number::Column::AccountId.eq(actor.account_id))
            .one(&self.db)
            .await?
            .ok_or(Error::NotFound("phone number"))?;
        self.channel(actor, n.channel_id).await.map_err(|_| Error::NotFound("phone number"))?;
        Ok(n)
    }

    async fn number_for_change(&self, actor: &Actor, id: Uuid) -> Result<phone_number::Model> {
        actor.require_admin()?;
        self.phone_number(actor, id).await
    }

    /// Replaces the API key; verification starts over.
    pub async fn update_phone_number_api_key(
        &self,
        actor: &Actor,
        id: Uuid,
        api_key: &str,
    ) -> Result<phone_number::Model> {
        let mut errors = Vec::new();
        let (key, hint) = check_api_key(api_key, &mut errors);
        if !errors.is_empty() {
            return Err(Error::Invalid(errors));
        }
        let n = self.number_for_change(actor, id).await?;
        let mut am: phone_number::ActiveModel = n.into();
        am.api_key_enc = Set(self.cipher.encrypt(&key)?);
        am.api_key_hint = Set(hint);
        am.verification = Set(Verification::Unverified);
        am.verification_error = Set(None);
        am.last_verified_at = Set(None);
        am.updated_at = Set(Utc::now());
        let n = am.update(&self.db).await?;
        self.webhook_numbers.forget();
        Ok(n)
    }

    pub async fn set_phone_number_enabled(
        &self,
        actor: &Actor,
        id: Uuid,
        enabled: bool,
    ) -> Result<phone_number::Model> {
        let n = self.number_for_change(actor, id).await?;
        if n.deleted_at.is_some() {
            return Err(Error::conflict("id", "a deleted number cannot be enabled or disabled; restore it first"));
        }
        let mut am: phone_number::ActiveModel = n.into();
        am.enabled = Set(enabled);
        am.updated_at = Set(Utc::now());
        let n = am.update(&self.db).await?;
        self.webhook_numbers.forget();
        Ok(n)
    }

    /// Moves a number to the channel's Deleted list. Deleting a deleted number changes nothing.
    pub async fn delete_phone_number(&self, actor: &Actor, id: Uuid) -> Result<phone_number::Model> {
        let n = self.number_for_change(actor, id).await?;
        if n.deleted_at.is_some() {
            return Ok(n);
        }
        let mut am: phone_number::ActiveModel = n.into();
        let now = Utc::now();
        am.deleted_at = Set(Some(now));
        am.updated_at = Set(now);
        let n = am.update(&self.db).await?;
        self.webhook_numbers.forget();
        Ok(n)
    }

    /// Brings a deleted number back to the Active list, unless another live number took it meanwhile.
    pub async fn restore_phone_number(&self, actor: &Actor, id: Uuid) -> Result<phone_number::Model> {
        let n = self.number_for_change(actor, id).await?;
        if n.deleted_at.is_none() {
            return Ok(n);
        }
        let mut am: phone_number::ActiveModel = n.into();
        am.deleted_at = Set(None);
        am.updated_at = Set(Utc::now());
        am.update(&self.db).await.map_err(number_taken).inspect(|_| self.webhook_numbers.forget())
    }

    /// Numbers of several channels at once, both lists, oldest first: one query.
    pub async fn phone_numbers_of(&self, channel_ids: &[Uuid]) -> Result<HashMap<Uuid, Vec<phone_number::Model>>> {
        let mut out: HashMap<Uuid, Vec<phone_number::Model>> = HashMap::new();
        for n in phone_number::Entity::find()
            .filter(phone_number::Column::ChannelId.is_in(channel_ids.iter().copied()))
            .order_by_asc(phone_number::Column::CreatedAt)
            .order_by_asc(phone_number::Column::Id)
            .all(&self.db)
            .await?
        {
            out.entry(n.channel_id).or_default().push(n);
        }
        Ok(out)
    }
}
