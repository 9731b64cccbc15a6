//! What a chatbot does with its token: write to the client, hand the conversation off to the channel's queue,
//! or resolve it, on PENDING conversations of channels it serves and nothing else (the API refuses a bot token
//! everywhere else). Another account's conversation, or one that does not exist, is NOT_FOUND; a conversation of
//! a channel the chatbot does not serve is FORBIDDEN; one that left the chatbot is a CONFLICT.

use crate::acd::lifecycle::{finish, hand_off};
use crate::chatbots::{BOT_TOKEN_PREFIX, serving};
use crate::crypto::sha256_hex;
use crate::domain::Domain;
use crate::{Error, Result};
use entity::{ConversationStatus, HandOffReason, Resolution, channel, chatbot, conversation, message};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

/// A chatbot calling the API with its token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BotActor {
    pub chatbot_id: Uuid,
    pub account_id: Uuid,
}

/// Whether a bearer token is a chatbot's (by its prefix: one lookup, in the right table).
pub fn is_bot_token(token: &str) -> bool {
    token.starts_with(BOT_TOKEN_PREFIX)
}

fn not_pending(conv: &conversation::Model) -> Error {
    Error::conflict(
        "id",
        format!("the conversation is {:?}; a chatbot acts only on PENDING conversations", conv.status),
    )
}

impl Domain {
    /// Resolves a chatbot's token. Unknown and replaced tokens answer the same.
    pub async fn authenticate_bot(&self, token: &str) -> Result<BotActor> {
        let bot = chatbot::Entity::find()
            .filter(chatbot::Column::TokenHash.eq(sha256_hex(token)))
            .one(&self.db)
            .await?
            .ok_or(Error::Unauthenticated("the token is invalid or revoked"))?;
        Ok(BotActor { chatbot_id: bot.id, account_id: bot.account_id })
    }

    /// A conversation the chatbot may act on: PENDING, in a live channel it serves, while it is enabled.
    pub(crate) async fn served_conversation<C: ConnectionTrait>(
        &self,
        db: &C,
        bot: &BotActor,
        id: Uuid,
    ) -> Result<conversation::Model> {
        let conv = conversation::Entity::find_by_id(id)
            .filter(conversation::Column::AccountId.eq(bot.account_id))
            .one(db)
            .await?
            .ok_or(Error::NotFound("conversation"))?;
        let (ch, me) = futures::try_join!(
            channel::Entity::find_by_id(conv.channel_id).one(db),
            chatbot::Entity::find_by_id(bot.chatbot_id).one(db),
        )?;
        let me = me.ok_or(Error::Unauthenticated("the token is invalid or revoked"))?;
        if !ch.is_some_and(|c| c.chatbot_id == Some(me.id) && c.deleted_at.is_none()) {
            return Err(Error::Forbidden("this chatbot does not serve the conversation's channel"));
        }
        if !serving(&me) {
            return Err(Error::Forbidden("this chatbot is disabled"));
        }
        if conv.status != ConversationStatus::Pending {
            return Err(not_pending(&conv));
        }
        Ok(conv)
    }

    /// `sendMessage` as the chatbot: the message names the chatbot (no user), and answering stops the chatbot's
    /// timeout until the client writes again.
    pub async fn bot_send_message(&self, bot: &BotActor, conversation_id: Uuid, text: &str) -> Result<message::Model> {
        let conv = self.served_conversation(&self.db, bot, conversation_id).await?;
        self.reply(&conv, crate::conversations::outbound::Author::Chatbot(bot.chatbot_id), text).await
    }

    /// `handOffConversation` as the chatbot: to the channel's queue, queued from now; ACD takes over.
    pub async fn bot_hand_off(&self, bot: &BotActor, id: Uuid) -> Result<conversation::Model> {
        let (txn, now) = self.begin_acd(bot.account_id).await?;
        let conv = self.served_conversation(&txn, bot, id).await?;
        if !hand_off(&txn, &conv, HandOffReason::Chatbot, now).await? {
            return Err(Error::conflict("id", "the conversation changed meanwhile; reload it"));
        }
        self.commit(txn).await?;
        self.conversation_row(id).await
    }

    /// `resolveConversation` as the chatbot: resolved at once, without a code (never after-call work).
    pub async fn bot_resolve(&self, bot: &BotActor, id: Uuid) -> Result<conversation::Model> {
        let (txn, now) = self.begin_acd(bot.account_id).await?;
        let conv = self.served_conversation(&txn, bot, id).await?;
        if !finish(&txn, &conv, Resolution::Chatbot, None, false, now).await? {
            return Err(Error::conflict("id", "the conversation changed meanwhile; reload it"));
        }
        self.commit(txn).await?;
        self.conversation_row(id).await
    }

    async fn conversation_row(&self, id: Uuid) -> Result<conversation::Model> {
        conversation::Entity::find_by_id(id).one(&self.db).await?.ok_or(Error::NotFound("conversation"))
    }
}
