//! Chatbots of an account (name and description for now). A chatbot in use by a live channel cannot be deleted.

use crate::error::is_unique_violation;
use crate::{Engine, Error, FieldError, Result, auth::Actor, validate};
use chrono::Utc;
use entity::{channel, chatbot};
use sea_orm::{ActiveModelTrait, ColumnTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set};
use std::collections::HashMap;
use uuid::Uuid;

pub const DESCRIPTION_MAX: usize = 1000;

fn check(name: Option<&str>, description: Option<&str>) -> Result<(Option<String>, Option<String>)> {
    let mut errors = Vec::new();
    let name = name.map(|n| validate::name("name", n, 100, &mut errors));
    let description = description.map(str::trim).map(str::to_owned);
    if description.as_ref().is_some_and(|d| d.chars().count() > DESCRIPTION_MAX) {
        errors.push(FieldError::new(
            "description",
            "TOO_LONG",
            format!("must be at most {DESCRIPTION_MAX} characters"),
        ));
    }
    if errors.is_empty() { Ok((name, description)) } else { Err(Error::Invalid(errors)) }
}

fn taken(e: DbErr) -> Error {
    if is_unique_violation(&e, "ux_chatbots_account_name", "chatbots.account_id, chatbots.name_key") {
        Error::Invalid(vec![FieldError::new("name", "TAKEN", "another chatbot of this account has this name")])
    } else {
        e.into()
    }
}

impl Engine {
    pub async fn chatbots(&self, actor: &Actor) -> Result<Vec<chatbot::Model>> {
        actor.require_staff()?;
        Ok(chatbot::Entity::find()
            .filter(chatbot::Column::AccountId.eq(actor.account_id))
            .order_by_asc(chatbot::Column::NameKey)
            .all(&self.db)
            .await?)
    }

    pub async fn create_chatbot(&self, actor: &Actor, name: &str, description: Option<&str>) -> Result<chatbot::Model> {
        actor.require_admin()?;
        let (name, description) = check(Some(name), description)?;
        let name = name.unwrap_or_default();
        let now = Utc::now();
        chatbot::ActiveModel {
            id: Set(Uuid::now_v7()),
            account_id: Set(actor.account_id),
            name_key: Set(validate::name_key(&name)),
            name: Set(name),
            description: Set(description.filter(|d| !d.is_empty())),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&self.db)
        .await
        .map_err(taken)
    }

    /// Partial update: `description: Some(None)` clears it.
    pub async fn update_chatbot(
        &self,
        actor: &Actor,
        id: Uuid,
        name: Option<&str>,
        description: Option<Option<&str>>,
    ) -> Result<chatbot::Model> {
        actor.require_admin()?;
        let (name, _) = check(name, None)?;
        let (_, description_checked) = check(None, description.flatten())?;
        let bot = self.chatbot_in_account(actor, id).await?;
        let mut am: chatbot::ActiveModel = bot.into();
        if let Some(n) = name {
            am.name_key = Set(validate::name_key(&n));
            am.name = Set(n);
        }
        if description.is_some() {
            am.description = Set(description_checked.filter(|d| !d.is_empty()));
        }
        am.updated_at = Set(Utc::now());
        am.update(&self.db).await.map_err(taken)
    }

    pub async fn delete_chatbot(&self, actor: &Actor, id: Uuid) -> Result<()> {
        actor.require_admin()?;
        let txn = self.begin_write().await?;
        let bot = self.chatbot_in_account(actor, id).await?;
        let users = channel::Entity::find()
            .filter(channel::Column::ChatbotId.eq(bot.id))
            .filter(channel::Column::DeletedAt.is_null())
            .count(&txn)
            .await?;
        if users > 0 {
            return Err(Error::conflict("id", format!("this chatbot is used by {users} channel(s)")));
        }
        // Deleted channels keep history but no longer hold the chatbot.
        channel::Entity::update_many()
            .col_expr(channel::Column::ChatbotId, sea_orm::sea_query::Expr::value(Option::<Uuid>::None))
            .filter(channel::Column::ChatbotId.eq(bot.id))
            .exec(&txn)
            .await?;
        chatbot::Entity::delete_by_id(bot.id).exec(&txn).await?;
        txn.commit().await?;
        Ok(())
    }

    async fn chatbot_in_account(&self, actor: &Actor, id: Uuid) -> Result<chatbot::Model> {
        chatbot::Entity::find_by_id(id)
            .filter(chatbot::Column::AccountId.eq(actor.account_id))
            .one(&self.db)
            .await?
            .ok_or(Error::NotFound("chatbot"))
    }

    pub async fn chatbots_by_id(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, chatbot::Model>> {
        self.rows_by_id::<chatbot::Entity>(chatbot::Column::Id, ids, |c| c.id).await
    }
}
