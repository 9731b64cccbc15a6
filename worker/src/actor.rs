//! Base layer: who is calling. Every service takes an [`Actor`]; requests also carry [`ClientInfo`].

use crate::{Error, Result};
use entity::{Role, user};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

/// Where a request comes from: the client's address (the peer's, or the one a trusted proxy forwarded) and its
/// user agent. Recorded on sessions; the address is what login throttling counts by.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    pub addr: Option<std::net::IpAddr>,
    pub user_agent: Option<String>,
}

/// The authenticated caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    pub user_id: Uuid,
    pub account_id: Uuid,
    pub role: Role,
    pub token_id: Uuid,
    /// An admin reset the password: until the user changes it, only `changeMyPassword`, `me` and `logout`.
    pub must_change_password: bool,
}

impl Actor {
    /// Configuration changes: admins only.
    pub fn require_admin(&self) -> Result<()> {
        if self.role == Role::Admin { Ok(()) } else { Err(Error::forbidden()) }
    }

    /// Account-wide reads: admins and supervisors.
    pub fn require_staff(&self) -> Result<()> {
        if self.is_staff() { Ok(()) } else { Err(Error::forbidden()) }
    }

    pub fn is_staff(&self) -> bool {
        matches!(self.role, Role::Admin | Role::Supervisor)
    }
}

/// A user of the caller's account (NOT_FOUND for another account's).
pub async fn user_in_account<C: ConnectionTrait>(db: &C, actor: &Actor, id: Uuid) -> Result<user::Model> {
    user::Entity::find_by_id(id)
        .filter(user::Column::AccountId.eq(actor.account_id))
        .one(db)
        .await?
        .ok_or(Error::NotFound("user"))
}
