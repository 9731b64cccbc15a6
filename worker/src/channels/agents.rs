//! The agent list of a channel: the team that receives its conversations.

use crate::domain::Domain;
use crate::{Error, Result, actor::Actor};
use chrono::Utc;
use entity::{channel_agent, user};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use std::collections::HashMap;
use uuid::Uuid;

impl Domain {
    /// Adds a user to a channel's agent list. Adding someone already listed is refused as a duplicate.
    pub async fn add_channel_agent(&self, actor: &Actor, channel_id: Uuid, user_id: &str) -> Result<user::Model> {
        // The agent is checked (on the pool) before the transaction begins, so this request never holds the write
        // lock (SQLite) while it waits for a second pooled connection.
        let mut errors = Vec::new();
        let mut agents = self.check_agents(actor, &[user_id.to_owned()], "userId", false, &mut errors).await?;
        let txn = self.begin_uow().await?;
        let ch = self.channel_for_change(&txn, actor, channel_id).await?;
        let Some(agent) = agents.pop().filter(|_| errors.is_empty()) else {
            return Err(Error::Invalid(errors));
        };
        let already = channel_agent::Entity::find_by_id((ch.id, agent.id)).one(&txn).await?;
        if already.is_some() {
            return Err(Error::invalid("userId", "DUPLICATE", "is already an agent of this channel"));
        }
        channel_agent::ActiveModel { channel_id: Set(ch.id), user_id: Set(agent.id), created_at: Set(Utc::now()) }
            .insert(&txn)
            .await?;
        txn.distribute(ch.account_id);
        self.commit(txn).await?;
        Ok(agent)
    }

    /// Removes a user from a channel's agent list; NOT_FOUND when they were not on it.
    /// Their ringing offers of this channel go back to the queue.
    pub async fn remove_channel_agent(&self, actor: &Actor, channel_id: Uuid, user_id: Uuid) -> Result<()> {
        let txn = self.begin_uow().await?;
        let ch = self.channel_for_change(&txn, actor, channel_id).await?;
        let res = channel_agent::Entity::delete_by_id((ch.id, user_id)).exec(&txn).await?;
        if res.rows_affected == 0 {
            return Err(Error::NotFound("channel agent"));
        }
        crate::acd::lifecycle::on_agent_removed(&txn, &ch, user_id).await?;
        self.commit(txn).await
    }

    /// Agents of several channels at once, ordered by name: two queries whatever the number of channels.
    pub async fn agents_of(&self, channel_ids: &[Uuid]) -> Result<HashMap<Uuid, Vec<user::Model>>> {
        let links = channel_agent::Entity::find()
            .filter(channel_agent::Column::ChannelId.is_in(channel_ids.iter().copied()))
            .all(&self.db)
            .await?;
        if links.is_empty() {
            return Ok(HashMap::new());
        }
        let users: HashMap<Uuid, user::Model> = user::Entity::find()
            .filter(user::Column::Id.is_in(links.iter().map(|l| l.user_id)))
            .order_by_asc(user::Column::Name)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|u| (u.id, u))
            .collect();
        let mut out: HashMap<Uuid, Vec<user::Model>> = HashMap::new();
        for l in links {
            if let Some(u) = users.get(&l.user_id) {
                out.entry(l.channel_id).or_default().push(u.clone());
            }
        }
        for v in out.values_mut() {
            v.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        }
        Ok(out)
    }

    pub async fn users_by_id(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, user::Model>> {
        self.rows_by_id::<user::Entity>(user::Column::Id, ids, |u| u.id).await
    }
}
