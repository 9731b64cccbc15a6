//! Chatbots of an account: external services that serve a channel's clients first. A chatbot has an endpoint the
//! product posts signed events to (`delivery`), and a bot token it calls the API with (`conversations::chatbot_actions`, a layer above); both
//! credentials are revealed once by `rotate_chatbot_credentials` and stored only hashed (the token) or encrypted
//! (the signing secret, which the product signs with). A chatbot serves only while it is enabled and has an
//! endpoint and credentials; otherwise its channels' new conversations go straight to the queue, and turning it
//! off hands off the ones it was serving. A chatbot in use by a live channel cannot be deleted.

pub mod delivery;

use crate::acd::Acd;
use crate::crypto::{Secret, random_token, sha256_hex};
use crate::error::is_unique_violation;
use crate::live::Uow;
use crate::{Error, FieldError, Result, actor::Actor, validate};
use chrono::Utc;
use entity::{HandOffReason, channel, chatbot};
use sea_orm::{ActiveModelTrait, ColumnTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set};
use std::collections::HashMap;
use uuid::Uuid;

pub const DESCRIPTION_MAX: usize = 1000;
pub const ENDPOINT_MAX: usize = 2048;
/// Bot tokens start with this (user tokens with `nva_`), so a token is looked up in one place.
pub const BOT_TOKEN_PREFIX: &str = "nvb_";
const SIGNING_SECRET_PREFIX: &str = "nvs_";

/// The chatbots layer's handle: the ACD, and the HTTP client of posts to chatbots.
#[derive(Clone)]
pub struct Chatbots {
    pub(crate) below: Acd,
    /// The HTTP client of posts to chatbots (shared connection pool; guarded by `url_policy`).
    pub chatbot_http: reqwest::Client,
}

impl Chatbots {
    pub(crate) fn new(below: Acd, chatbot_http: reqwest::Client) -> Self {
        Self { below, chatbot_http }
    }
}

impl std::ops::Deref for Chatbots {
    type Target = Acd;
    fn deref(&self) -> &Acd {
        &self.below
    }
}

/// What an admin may set on a chatbot; `None` leaves a field as it is, `Some(None)` clears an optional one.
#[derive(Debug, Clone, Default)]
pub struct ChatbotPatch {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub endpoint_url: Option<Option<String>>,
    pub enabled: Option<bool>,
}

/// Both credentials of a chatbot, in plain text: only at the moment they are made.
pub struct ChatbotCredentials {
    pub token: Secret,
    pub signing_secret: Secret,
    pub chatbot: chatbot::Model,
}

/// The outcome of `testChatbot`.
#[derive(Debug, Clone)]
pub struct ChatbotTest {
    pub ok: bool,
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    pub error: Option<String>,
}

/// The validated values of a patch.
struct Checked {
    name: Option<String>,
    description: Option<Option<String>>,
    endpoint_url: Option<Option<String>>,
}

fn check(p: &ChatbotPatch) -> Result<Checked> {
    let mut errors = Vec::new();
    let name = p.name.as_deref().map(|n| validate::name("name", n, 100, &mut errors));
    let description = p.description.as_ref().map(|d| {
        let d = d.as_deref().map(str::trim).filter(|d| !d.is_empty()).map(str::to_owned);
        if d.as_ref().is_some_and(|d| d.chars().count() > DESCRIPTION_MAX) {
            errors.push(FieldError::new(
                "description",
                "TOO_LONG",
                format!("must be at most {DESCRIPTION_MAX} characters"),
            ));
        }
        d
    });
    let endpoint_url = p.endpoint_url.as_ref().map(|u| {
        let u = u.as_deref().map(str::trim).filter(|u| !u.is_empty())?;
        if u.len() > ENDPOINT_MAX {
            errors.push(FieldError::new(
                "endpointUrl",
                "TOO_LONG",
                format!("must be at most {ENDPOINT_MAX} characters"),
            ));
        }
        Some(validate::http_url("endpointUrl", u, &mut errors))
    });
    if errors.is_empty() { Ok(Checked { name, description, endpoint_url }) } else { Err(Error::Invalid(errors)) }
}

fn taken(e: DbErr) -> Error {
    if is_unique_violation(&e, "ux_chatbots_account_name", "chatbots.account_id, chatbots.name_key") {
        Error::Invalid(vec![FieldError::new("name", "TAKEN", "another chatbot of this account has this name")])
    } else {
        e.into()
    }
}

/// Whether a chatbot can serve clients now: enabled, with an endpoint to post to and a secret to sign with.
pub fn serving(bot: &chatbot::Model) -> bool {
    bot.enabled && bot.endpoint_url.is_some() && bot.signing_secret_enc.is_some()
}

impl Chatbots {
    pub async fn chatbots(&self, actor: &Actor) -> Result<Vec<chatbot::Model>> {
        actor.require_staff()?;
        Ok(chatbot::Entity::find()
            .filter(chatbot::Column::AccountId.eq(actor.account_id))
            .order_by_asc(chatbot::Column::NameKey)
            .all(&self.db)
            .await?)
    }

    /// Creates a chatbot. It has no credentials until `rotate_chatbot_credentials`, so it serves nobody yet.
    pub async fn create_chatbot(
        &self,
        actor: &Actor,
        name: &str,
        description: Option<&str>,
        endpoint_url: Option<&str>,
        enabled: bool,
    ) -> Result<chatbot::Model> {
        actor.require_admin()?;
        let c = check(&ChatbotPatch {
            name: Some(name.to_owned()),
            description: Some(description.map(str::to_owned)),
            endpoint_url: Some(endpoint_url.map(str::to_owned)),
            enabled: Some(enabled),
        })?;
        let endpoint_url = c.endpoint_url.flatten();
        if let Some(u) = &endpoint_url {
            self.url_policy.check_at_save("endpointUrl", u).await.map_err(|e| Error::Invalid(vec![e]))?;
        }
        let name = c.name.unwrap_or_default();
        let now = Utc::now();
        chatbot::ActiveModel {
            id: Set(Uuid::now_v7()),
            account_id: Set(actor.account_id),
            name_key: Set(validate::name_key(&name)),
            name: Set(name),
            description: Set(c.description.flatten()),
            endpoint_url: Set(endpoint_url),
            enabled: Set(enabled),
            token_hash: Set(None),
            signing_secret_enc: Set(None),
            credentials_rotated_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&self.db)
        .await
        .map_err(taken)
    }

    /// Partial update. A chatbot that stops serving (disabled, or its endpoint removed) hands off at once every
    /// conversation it was serving, in the same transaction.
    pub async fn update_chatbot(&self, actor: &Actor, id: Uuid, patch: ChatbotPatch) -> Result<chatbot::Model> {
        actor.require_admin()?;
        let c = check(&patch)?;
        if let Some(Some(u)) = &c.endpoint_url {
            self.url_policy.check_at_save("endpointUrl", u).await.map_err(|e| Error::Invalid(vec![e]))?;
        }
        let txn = self.begin_uow().await?;
        let bot = chatbot_in_account(&txn, actor, id).await?;
        let was_serving = serving(&bot);
        let mut am: chatbot::ActiveModel = bot.into();
        if let Some(n) = c.name {
            am.name_key = Set(validate::name_key(&n));
            am.name = Set(n);
        }
        if let Some(d) = c.description {
            am.description = Set(d);
        }
        if let Some(u) = c.endpoint_url {
            am.endpoint_url = Set(u);
        }
        if let Some(e) = patch.enabled {
            am.enabled = Set(e);
        }
        am.updated_at = Set(Utc::now());
        let bot = am.update(&txn).await.map_err(taken)?;
        if was_serving && !serving(&bot) {
            self.stop_serving(&txn, &bot).await?;
        }
        self.commit(txn).await?;
        Ok(bot)
    }

    /// Makes a new bot token and signing secret, replacing both at once, and returns them in plain text: the only
    /// time they are shown.
    pub async fn rotate_chatbot_credentials(&self, actor: &Actor, id: Uuid) -> Result<ChatbotCredentials> {
        actor.require_admin()?;
        let token = random_token(BOT_TOKEN_PREFIX);
        let signing_secret = random_token(SIGNING_SECRET_PREFIX);
        let bot = chatbot_in_account(&self.db, actor, id).await?;
        let mut am: chatbot::ActiveModel = bot.into();
        let now = Utc::now();
        am.token_hash = Set(Some(sha256_hex(token.expose())));
        am.signing_secret_enc = Set(Some(self.cipher.encrypt(signing_secret.expose())?));
        am.credentials_rotated_at = Set(Some(now));
        am.updated_at = Set(now);
        let chatbot = am.update(&self.db).await?;
        tracing::info!(chatbot_id = %chatbot.id, "chatbot credentials rotated");
        Ok(ChatbotCredentials { token, signing_secret, chatbot })
    }

    /// Revokes a chatbot's bot token and signing secret without making new ones: the token stops working at once
    /// and the chatbot no longer serves, so the conversations it was serving are handed off (CHATBOT_DISABLED), as
    /// when it is disabled. Revoking again changes nothing; `rotate_chatbot_credentials` makes new ones.
    pub async fn revoke_chatbot_credentials(&self, actor: &Actor, id: Uuid) -> Result<chatbot::Model> {
        actor.require_admin()?;
        let txn = self.begin_uow().await?;
        let bot = chatbot_in_account(&txn, actor, id).await?;
        if bot.token_hash.is_none() && bot.signing_secret_enc.is_none() {
            return Ok(bot);
        }
        let was_serving = serving(&bot);
        let mut am: chatbot::ActiveModel = bot.into();
        am.token_hash = Set(None);
        am.signing_secret_enc = Set(None);
        am.updated_at = Set(Utc::now());
        let bot = am.update(&txn).await?;
        if was_serving {
            self.stop_serving(&txn, &bot).await?;
        }
        self.commit(txn).await?;
        tracing::info!(chatbot_id = %bot.id, "chatbot credentials revoked");
        Ok(bot)
    }

    /// The chatbot stopped serving (disabled, endpoint removed, credentials revoked): every conversation it was
    /// serving is handed off (CHATBOT_DISABLED) in the caller's unit of work (which then distributes them).
    async fn stop_serving(&self, txn: &Uow, bot: &chatbot::Model) -> Result<()> {
        let channels = self.channels_served_by(txn, bot.id).await?;
        let reason = HandOffReason::ChatbotDisabled;
        let handed_off = crate::acd::lifecycle::hand_off_channels(txn, bot.account_id, &channels, reason).await?;
        if handed_off > 0 {
            tracing::info!(chatbot_id = %bot.id, handed_off, "chatbot stopped serving; its conversations were handed off");
        }
        Ok(())
    }

    /// `testChatbot`: posts a signed ping to the chatbot's endpoint and reports what it answered and how fast.
    pub async fn test_chatbot(&self, actor: &Actor, id: Uuid) -> Result<ChatbotTest> {
        actor.require_admin()?;
        let bot = chatbot_in_account(&self.db, actor, id).await?;
        let body = serde_json::json!({ "type": "ping", "chatbotId": bot.id, "at": Utc::now() });
        let (took, result) = self.post_to_chatbot(&bot, &body, &Uuid::new_v4().to_string()).await;
        let latency_ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
        Ok(match result {
            Ok(code) => ChatbotTest { ok: true, status_code: Some(code), latency_ms, error: None },
            Err(e) => ChatbotTest { ok: false, status_code: e.status, latency_ms, error: Some(e.message) },
        })
    }

    pub async fn delete_chatbot(&self, actor: &Actor, id: Uuid) -> Result<()> {
        actor.require_admin()?;
        let txn = self.begin_uow().await?;
        let bot = chatbot_in_account(&txn, actor, id).await?;
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
        self.commit(txn).await?;
        Ok(())
    }

    /// The live channels a chatbot serves.
    async fn channels_served_by<C: sea_orm::ConnectionTrait>(&self, db: &C, bot: Uuid) -> Result<Vec<Uuid>> {
        use sea_orm::QuerySelect;
        Ok(channel::Entity::find()
            .select_only()
            .column(channel::Column::Id)
            .filter(channel::Column::ChatbotId.eq(bot))
            .filter(channel::Column::DeletedAt.is_null())
            .into_tuple()
            .all(db)
            .await?)
    }

    pub async fn chatbots_by_id(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, chatbot::Model>> {
        self.rows_by_id::<chatbot::Entity>(chatbot::Column::Id, ids, |c| c.id).await
    }
}

async fn chatbot_in_account<C: sea_orm::ConnectionTrait>(db: &C, actor: &Actor, id: Uuid) -> Result<chatbot::Model> {
    chatbot::Entity::find_by_id(id)
        .filter(chatbot::Column::AccountId.eq(actor.account_id))
        .one(db)
        .await?
        .ok_or(Error::NotFound("chatbot"))
}
