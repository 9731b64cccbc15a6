//! The ACD's entry points for the layers above: what signing in, signing out and deactivation mean for an agent's
//! status and what they hold. Accounts (sign-in, sessions, passwords) decide *when* these happen, presence
//! ([`super::presence`]) decides it for desktops; these functions decide *what* happens, in the caller's unit of
//! work; what they put back in a queue is distributed when that unit of work commits.

use super::lifecycle::finish;
use super::offers::withdraw_alerting;
use super::status::{has_agent_state, write_status};
use super::{lock_account, requeue};
use crate::Result;
use crate::clock::db_now;
use crate::live::Uow;
use entity::ConversationSubstatus as Sub;
use entity::{
    AgentStatus, BusyKind, ConversationStatus, EventReason, OfferOutcome, Resolution, agent_state, conversation, user,
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

/// Sign-in (a login, or a desktop connecting while the agent is OFFLINE): an OFFLINE agent becomes BUSY /
/// SYSTEM; one already signed in elsewhere keeps their status.
pub async fn on_sign_in(db: &Uow, u: &user::Model) -> Result<()> {
    if !has_agent_state(u.role) {
        return Ok(());
    }
    lock_account(db, u.account_id).await?;
    let current = agent_state::Entity::find_by_id(u.id).one(db).await?;
    if current.is_none_or(|s| s.status == AgentStatus::Offline) {
        write_status(db, u, AgentStatus::Busy, Some((BusyKind::System, None)), db_now(db).await?).await?;
    }
    Ok(())
}

/// The agent has no way in any more (the caller decided: their last working token is gone, they were
/// deactivated, or their desktop is gone past the grace): OFFLINE, and ringing offers go back to the queue at once
/// (no NOT_RESPONDING). Returns whether the agent has a status (false for admins).
pub async fn on_sign_out(db: &Uow, u: &user::Model) -> Result<bool> {
    if !has_agent_state(u.role) {
        return Ok(false);
    }
    lock_account(db, u.account_id).await?;
    let now = db_now(db).await?;
    write_status(db, u, AgentStatus::Offline, None, now).await?;
    let reason = if u.active { EventReason::Offline } else { EventReason::Deactivated };
    withdraw_alerting(db, sea_orm::Condition::all().add(conversation::Column::AssignedUserId.eq(u.id)), reason, now)
        .await?;
    Ok(true)
}

/// An agent is deactivated: offers withdrawn, conversations they were working requeued, after-call work resolved
/// without a code (AGENT_DEACTIVATED), and OFFLINE.
pub async fn on_user_deactivated(db: &Uow, u: &user::Model) -> Result<()> {
    lock_account(db, u.account_id).await?;
    let now = db_now(db).await?;
    let held = conversation::Entity::find()
        .filter(conversation::Column::AssignedUserId.eq(u.id))
        .filter(conversation::Column::Status.eq(ConversationStatus::Open))
        .all(db)
        .await?;
    for conv in &held {
        match conv.substatus {
            Some(Sub::Alerting | Sub::Interacting | Sub::Hold) => {
                requeue(db, conv, OfferOutcome::Withdrawn, EventReason::Deactivated, now).await?;
            }
            Some(Sub::AfterCallWork) => {
                finish(db, conv, Resolution::AgentDeactivated, None, false, now).await?;
            }
            _ => {}
        }
    }
    on_sign_out(db, u).await?;
    Ok(())
}
