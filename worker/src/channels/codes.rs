//! Wrap-up codes of a channel: add, rename, archive, restore. Codes are never hard-deleted, so conversations
//! that used one keep pointing at it.

use super::form::{WRAP_UP_CODE_MAX, WRAP_UP_CODES_MAX};
use crate::domain::Domain;
use crate::error::is_unique_violation;
use crate::{Error, FieldError, Result, actor::Actor, validate};
use chrono::Utc;
use entity::wrap_up_code;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use std::collections::HashMap;
use uuid::Uuid;

fn code_name(raw: &str) -> Result<String> {
    let mut errors = Vec::new();
    let name = validate::name("name", raw, WRAP_UP_CODE_MAX, &mut errors);
    if errors.is_empty() { Ok(name) } else { Err(Error::Invalid(errors)) }
}

fn code_taken(e: DbErr) -> Error {
    if is_unique_violation(&e, "ux_wrap_up_codes_channel_name", "wrap_up_codes.channel_id, wrap_up_codes.name_key") {
        Error::Invalid(vec![FieldError::new("name", "TAKEN", "this channel already has a code with this name")])
    } else {
        e.into()
    }
}

impl Domain {
    pub async fn add_wrap_up_code(&self, actor: &Actor, channel_id: Uuid, name: &str) -> Result<wrap_up_code::Model> {
        let name = code_name(name)?;
        let txn = self.begin_uow().await?;
        let ch = self.channel_for_change(&txn, actor, channel_id).await?;
        let existing = wrap_up_code::Entity::find().filter(wrap_up_code::Column::ChannelId.eq(ch.id));
        if existing.clone().count(&txn).await? >= WRAP_UP_CODES_MAX as u64 {
            return Err(Error::invalid("name", "TOO_MANY", format!("a channel has at most {WRAP_UP_CODES_MAX} codes")));
        }
        let position = existing
            .select_only()
            .column_as(wrap_up_code::Column::Position.max(), "max")
            .into_tuple::<Option<i32>>()
            .one(&txn)
            .await?
            .flatten()
            .map_or(0, |p| p + 1);
        let code = wrap_up_code::ActiveModel {
            id: Set(Uuid::now_v7()),
            channel_id: Set(ch.id),
            name_key: Set(validate::name_key(&name)),
            name: Set(name),
            position: Set(position),
            created_at: Set(Utc::now()),
            archived_at: Set(None),
        }
        .insert(&txn)
        .await
        .map_err(code_taken)?;
        self.commit(txn).await?;
        Ok(code)
    }

    pub async fn rename_wrap_up_code(&self, actor: &Actor, id: Uuid, name: &str) -> Result<wrap_up_code::Model> {
        let name = code_name(name)?;
        let code = self.code_for_change(&self.db, actor, id).await?;
        let mut am: wrap_up_code::ActiveModel = code.into();
        am.name_key = Set(validate::name_key(&name));
        am.name = Set(name);
        am.update(&self.db).await.map_err(code_taken)
    }

    /// Archives (`archived: true`) or restores a code. Archived codes are no longer offered to agents.
    pub async fn set_wrap_up_code_archived(
        &self,
        actor: &Actor,
        id: Uuid,
        archived: bool,
    ) -> Result<wrap_up_code::Model> {
        let code = self.code_for_change(&self.db, actor, id).await?;
        if code.archived_at.is_some() == archived {
            return Ok(code);
        }
        let mut am: wrap_up_code::ActiveModel = code.into();
        am.archived_at = Set(archived.then(Utc::now));
        Ok(am.update(&self.db).await?)
    }

    async fn code_for_change<C: ConnectionTrait>(
        &self,
        db: &C,
        actor: &Actor,
        id: Uuid,
    ) -> Result<wrap_up_code::Model> {
        actor.require_admin()?;
        let code = wrap_up_code::Entity::find_by_id(id).one(db).await?.ok_or(Error::NotFound("wrap-up code"))?;
        self.channel_for_change(db, actor, code.channel_id).await.map_err(|e| match e {
            Error::NotFound(_) => Error::NotFound("wrap-up code"),
            e => e,
        })?;
        Ok(code)
    }

    /// Codes of several channels at once (archived included), in display order: one query.
    pub async fn wrap_up_codes_of(&self, channel_ids: &[Uuid]) -> Result<HashMap<Uuid, Vec<wrap_up_code::Model>>> {
        let mut out: HashMap<Uuid, Vec<wrap_up_code::Model>> = HashMap::new();
        for c in wrap_up_code::Entity::find()
            .filter(wrap_up_code::Column::ChannelId.is_in(channel_ids.iter().copied()))
            .order_by_asc(wrap_up_code::Column::Position)
            .all(&self.db)
            .await?
        {
            out.entry(c.channel_id).or_default().push(c);
        }
        Ok(out)
    }
}
