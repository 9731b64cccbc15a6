//! Contacts, conversations and their messages. Who sees which conversation is decided once, in the ACD layer
//! ([`crate::acd::Acd::visible_conversations`]): admins and supervisors see every conversation of their account,
//! an agent only the conversations assigned to them; anything else, another account's ids included, answers
//! NOT_FOUND.
//! Sending lives in [`outbound`]; turning webhooks into conversations in [`inbound`].

pub mod chatbot_actions;
pub mod outbound;
pub mod queue_updates;
pub mod waits;

use crate::domain::Domain;
use crate::{Error, Result, actor::Actor};
use entity::{
    ConversationStatus, ConversationSubstatus, channel, contact, conversation, message, phone_number, user,
    wrap_up_code,
};
use sea_orm::sea_query::{Expr, Order, Query, WindowStatement};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select};
use std::collections::HashMap;
use uuid::Uuid;

/// The most conversations one list returns, and the most messages one conversation shows at once.
pub const MAX_CONVERSATIONS: u64 = 100;
pub const MAX_MESSAGES: u64 = 500;
/// The most conversations one page of `queue` lists.
pub const MAX_QUEUE: u64 = 100;

/// A conversation with the rows shown beside it (its client, channel, number and agent), loaded in batches.
#[derive(Debug, Clone)]
pub struct ConversationView {
    pub conversation: conversation::Model,
    pub contact: contact::Model,
    pub channel: channel::Model,
    pub phone_number: phone_number::Model,
    pub assigned_agent: Option<user::Model>,
}

/// Where a page of conversations continues: after this one, newest first.
#[derive(Debug, Clone, Copy)]
pub struct ConversationCursor {
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub id: Uuid,
}

/// Where a page of a queue ends: the last conversation's place (queued since, then id).
#[derive(Debug, Clone, Copy)]
pub struct QueueCursor {
    pub enqueued_at: chrono::DateTime<chrono::Utc>,
    pub id: Uuid,
}

/// A page of conversations.
#[derive(Debug, Clone)]
pub struct ConversationPage {
    pub conversations: Vec<ConversationView>,
    pub has_next_page: bool,
}

/// Which conversations a list returns (all filters optional), newest first.
#[derive(Debug, Clone, Default)]
pub struct ConversationFilter {
    pub channel_id: Option<Uuid>,
    pub status: Option<ConversationStatus>,
    pub substatus: Option<ConversationSubstatus>,
    pub assignee_id: Option<Uuid>,
}

impl Domain {
    /// A message of a conversation the caller may see, with its sender.
    pub async fn message(&self, actor: &Actor, id: Uuid) -> Result<(message::Model, Option<user::Model>)> {
        let m = message::Entity::find_by_id(id)
            .filter(message::Column::AccountId.eq(actor.account_id))
            .one(&self.db)
            .await?
            .ok_or(Error::NotFound("message"))?;
        self.conversation(actor, m.conversation_id).await.map_err(|_| Error::NotFound("message"))?;
        let sender = match m.sender_user_id {
            Some(u) => user::Entity::find_by_id(u).one(&self.db).await?,
            None => None,
        };
        Ok((m, sender))
    }

    /// A conversation the caller may see, with its client, channel, number and agent.
    pub async fn conversation_view(&self, actor: &Actor, id: Uuid) -> Result<ConversationView> {
        let c = self.conversation(actor, id).await?;
        self.views(vec![c]).await?.pop().ok_or(Error::NotFound("conversation"))
    }

    fn filtered(&self, actor: &Actor, filter: &ConversationFilter) -> Select<conversation::Entity> {
        let mut q = self.visible_conversations(actor);
        if let Some(ch) = filter.channel_id {
            q = q.filter(conversation::Column::ChannelId.eq(ch));
        }
        if let Some(s) = filter.status {
            q = q.filter(conversation::Column::Status.eq(s));
        }
        if let Some(s) = filter.substatus {
            q = q.filter(conversation::Column::Substatus.eq(s));
        }
        if let Some(u) = filter.assignee_id {
            q = q.filter(conversation::Column::AssignedUserId.eq(u));
        }
        q
    }

    /// A page of up to `first` conversations the caller may see, newest first, after `after`.
    pub async fn conversations(
        &self,
        actor: &Actor,
        filter: &ConversationFilter,
        first: u64,
        after: Option<ConversationCursor>,
    ) -> Result<ConversationPage> {
        use sea_orm::Condition;
        let mut q = self.filtered(actor, filter);
        if let Some(c) = after {
            q = q.filter(
                Condition::any().add(conversation::Column::CreatedAt.lt(c.created_at)).add(
                    Condition::all()
                        .add(conversation::Column::CreatedAt.eq(c.created_at))
                        .add(conversation::Column::Id.lt(c.id)),
                ),
            );
        }
        let first = first.min(MAX_CONVERSATIONS);
        let mut rows = q
            .order_by_desc(conversation::Column::CreatedAt)
            .order_by_desc(conversation::Column::Id)
            .limit(first + 1)
            .all(&self.db)
            .await?;
        let has_next_page = rows.len() as u64 > first;
        rows.truncate(first as usize);
        Ok(ConversationPage { conversations: self.views(rows).await?, has_next_page })
    }

    /// How many conversations the caller may see match the filter.
    pub async fn conversation_count(&self, actor: &Actor, filter: &ConversationFilter) -> Result<u64> {
        use sea_orm::PaginatorTrait;
        Ok(self.filtered(actor, filter).count(&self.db).await?)
    }

    /// A conversation with its related rows (the caller was already allowed to see it).
    pub async fn view_of(&self, c: conversation::Model) -> Result<ConversationView> {
        self.views(vec![c]).await?.pop().ok_or(Error::NotFound("conversation"))
    }

    /// A page of the conversations waiting in a channel's queue, in the order distribution offers them (queued
    /// since, then id), after `after` (supervisors and admins).
    pub async fn queue(
        &self,
        actor: &Actor,
        channel_id: Uuid,
        first: u64,
        after: Option<QueueCursor>,
    ) -> Result<ConversationPage> {
        use sea_orm::Condition;
        let mut q = self.waiting_in(actor, channel_id).await?;
        if let Some(c) = after {
            q = q.filter(
                Condition::any().add(conversation::Column::EnqueuedAt.gt(c.enqueued_at)).add(
                    Condition::all()
                        .add(conversation::Column::EnqueuedAt.eq(c.enqueued_at))
                        .add(conversation::Column::Id.gt(c.id)),
                ),
            );
        }
        let first = first.min(MAX_QUEUE);
        let mut rows = q
            .order_by_asc(conversation::Column::EnqueuedAt)
            .order_by_asc(conversation::Column::Id)
            .limit(first + 1)
            .all(&self.db)
            .await?;
        let has_next_page = rows.len() as u64 > first;
        rows.truncate(first as usize);
        Ok(ConversationPage { conversations: self.views(rows).await?, has_next_page })
    }

    /// How many conversations wait in a channel's queue (supervisors and admins).
    pub async fn queue_length(&self, actor: &Actor, channel_id: Uuid) -> Result<u64> {
        use sea_orm::PaginatorTrait;
        Ok(self.waiting_in(actor, channel_id).await?.count(&self.db).await?)
    }

    /// The conversations waiting in a channel's queue, unordered (staff only; the channel must be theirs).
    async fn waiting_in(&self, actor: &Actor, channel_id: Uuid) -> Result<Select<conversation::Entity>> {
        actor.require_staff()?;
        let ch = self.channel(actor, channel_id).await?;
        Ok(conversation::Entity::find()
            .filter(conversation::Column::ChannelId.eq(ch.id))
            .filter(conversation::Column::Status.eq(ConversationStatus::Open))
            .filter(conversation::Column::Substatus.eq(ConversationSubstatus::InQueue)))
    }

    /// The places in their channels' queues (from 1) of those of `ids` that are waiting: one query for the
    /// conversations and one per channel concerned (the waiting ids of that channel, in queue order).
    pub async fn queue_positions(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, u64>> {
        let waiting: Vec<(Uuid, Uuid)> = conversation::Entity::find()
            .select_only()
            .column(conversation::Column::Id)
            .column(conversation::Column::ChannelId)
            .filter(conversation::Column::Id.is_in(ids.iter().copied()))
            .filter(conversation::Column::Status.eq(ConversationStatus::Open))
            .filter(conversation::Column::Substatus.eq(ConversationSubstatus::InQueue))
            .into_tuple()
            .all(&self.db)
            .await?;
        let mut channels: Vec<Uuid> = waiting.iter().map(|(_, ch)| *ch).collect();
        channels.sort_unstable();
        channels.dedup();
        let wanted: std::collections::HashSet<Uuid> = waiting.iter().map(|(id, _)| *id).collect();
        let mut out = HashMap::new();
        for ch in channels {
            let queue: Vec<Uuid> = conversation::Entity::find()
                .select_only()
                .column(conversation::Column::Id)
                .filter(conversation::Column::ChannelId.eq(ch))
                .filter(conversation::Column::Status.eq(ConversationStatus::Open))
                .filter(conversation::Column::Substatus.eq(ConversationSubstatus::InQueue))
                .order_by_asc(conversation::Column::EnqueuedAt)
                .order_by_asc(conversation::Column::Id)
                .into_tuple()
                .all(&self.db)
                .await?;
            for (i, id) in queue.into_iter().enumerate() {
                if wanted.contains(&id) {
                    out.insert(id, i as u64 + 1);
                }
            }
        }
        Ok(out)
    }

    pub async fn wrap_up_codes_by_id(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, wrap_up_code::Model>> {
        self.rows_by_id::<wrap_up_code::Entity>(wrap_up_code::Column::Id, ids, |c| c.id).await
    }

    /// Joins conversations with their related rows: one query per related table, whatever the list's length.
    async fn views(&self, rows: Vec<conversation::Model>) -> Result<Vec<ConversationView>> {
        fn ids(rows: &[conversation::Model], f: impl Fn(&conversation::Model) -> Option<Uuid>) -> Vec<Uuid> {
            let mut v: Vec<Uuid> = rows.iter().filter_map(f).collect();
            v.sort_unstable();
            v.dedup();
            v
        }
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let contact_ids = ids(&rows, |c| Some(c.contact_id));
        let channel_ids = ids(&rows, |c| Some(c.channel_id));
        let number_ids = ids(&rows, |c| Some(c.phone_number_id));
        let agent_ids = ids(&rows, |c| c.assigned_user_id);
        let (contacts, channels, numbers, agents) = futures::try_join!(
            contact::Entity::find().filter(contact::Column::Id.is_in(contact_ids)).all(&self.db),
            channel::Entity::find().filter(channel::Column::Id.is_in(channel_ids)).all(&self.db),
            phone_number::Entity::find().filter(phone_number::Column::Id.is_in(number_ids)).all(&self.db),
            async {
                if agent_ids.is_empty() {
                    Ok(Vec::new())
                } else {
                    user::Entity::find().filter(user::Column::Id.is_in(agent_ids)).all(&self.db).await
                }
            },
        )?;
        let contacts: HashMap<Uuid, contact::Model> = contacts.into_iter().map(|c| (c.id, c)).collect();
        let channels: HashMap<Uuid, channel::Model> = channels.into_iter().map(|c| (c.id, c)).collect();
        let numbers: HashMap<Uuid, phone_number::Model> = numbers.into_iter().map(|n| (n.id, n)).collect();
        let agents: HashMap<Uuid, user::Model> = agents.into_iter().map(|u| (u.id, u)).collect();
        let mut out = Vec::with_capacity(rows.len());
        for c in rows {
            // Foreign keys guarantee the related rows; a missing one is a broken database, not a client error.
            let missing = |what: &str| Error::Internal(anyhow::anyhow!("conversation {} has no {what}", c.id));
            out.push(ConversationView {
                contact: contacts.get(&c.contact_id).cloned().ok_or_else(|| missing("contact"))?,
                channel: channels.get(&c.channel_id).cloned().ok_or_else(|| missing("channel"))?,
                phone_number: numbers.get(&c.phone_number_id).cloned().ok_or_else(|| missing("phone number"))?,
                assigned_agent: c.assigned_user_id.and_then(|u| agents.get(&u).cloned()),
                conversation: c,
            });
        }
        Ok(out)
    }

    /// The last `last` messages of a conversation the caller was already allowed to see, oldest first, each with
    /// the user who wrote it (outbound).
    pub async fn messages_of(
        &self,
        conversation: &conversation::Model,
        last: u64,
    ) -> Result<Vec<(message::Model, Option<user::Model>)>> {
        let mut all = self.messages_of_many(conversation.account_id, &[conversation.id], last).await?;
        Ok(all.remove(&conversation.id).unwrap_or_default())
    }

    /// The last `last` messages (at most [`MAX_MESSAGES`]) of each of the account's `conversation_ids`, oldest
    /// first, each with its sender: one query for the messages of all the conversations (a window function
    /// ranks each conversation's messages, newest first) and one for their senders. Every id asked for has an
    /// entry, empty when it has no messages or is not a conversation of the account.
    pub async fn messages_of_many(
        &self,
        account_id: Uuid,
        conversation_ids: &[Uuid],
        last: u64,
    ) -> Result<HashMap<Uuid, Vec<(message::Model, Option<user::Model>)>>> {
        let mut out: HashMap<Uuid, Vec<(message::Model, Option<user::Model>)>> =
            conversation_ids.iter().map(|id| (*id, Vec::new())).collect();
        let last = last.min(MAX_MESSAGES);
        if conversation_ids.is_empty() || last == 0 {
            return Ok(out);
        }
        let mut newest_first = WindowStatement::partition_by(message::Column::ConversationId);
        newest_first.order_by(message::Column::CreatedAt, Order::Desc).order_by(message::Column::Id, Order::Desc);
        let ranked = Query::select()
            .column(message::Column::Id)
            .expr_window_as(Expr::cust("ROW_NUMBER()"), newest_first, "rn")
            .from(message::Entity)
            .and_where(message::Column::AccountId.eq(account_id))
            .and_where(message::Column::ConversationId.is_in(conversation_ids.iter().copied()))
            .to_owned();
        let kept = Query::select()
            .column("id")
            .from_subquery(ranked, "ranked")
            .and_where(sea_orm::sea_query::ExprTrait::lte(Expr::col("rn"), last))
            .to_owned();
        let rows = message::Entity::find()
            .filter(message::Column::AccountId.eq(account_id))
            .filter(message::Column::Id.in_subquery(kept))
            .order_by_asc(message::Column::CreatedAt)
            .order_by_asc(message::Column::Id)
            .all(&self.db)
            .await?;
        let mut sender_ids: Vec<Uuid> = rows.iter().filter_map(|m| m.sender_user_id).collect();
        sender_ids.sort_unstable();
        sender_ids.dedup();
        let senders = if sender_ids.is_empty() { HashMap::new() } else { self.users_by_id(&sender_ids).await? };
        for m in rows {
            let s = m.sender_user_id.and_then(|u| senders.get(&u).cloned());
            out.entry(m.conversation_id).or_default().push((m, s));
        }
        Ok(out)
    }
}

pub mod inbound;
