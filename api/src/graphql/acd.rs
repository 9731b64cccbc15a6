//! The ACD over GraphQL: agent status and busy reasons, offers (accept, reject), a conversation's life (hold,
//! resume, resolve, wrap-up code), what supervisors do by hand (assign, transfer, requeue, hand off) and the
//! queue of a channel.

use super::conversations::{Conversation, QueueConnection};
use super::enums::{AgentStatus, AgentSubstatus};
use super::error::ApiResult;
use super::{Acting, acting, actor, engine, uuid};
use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};
use entity::{BusyKind, busy_reason};
use worker::acd::status::AgentView;

/// An account-defined reason for being BUSY (break, lunch, ...).
pub struct BusyReason(pub busy_reason::Model);

#[Object]
impl BusyReason {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Archived reasons cannot be chosen any more.
    async fn archived(&self) -> bool {
        self.0.archived_at.is_some()
    }
    async fn archived_at(&self) -> Option<DateTime<Utc>> {
        self.0.archived_at
    }
}

/// An agent's substatus: ONLINE: IDLE or INTERACTING (whether they hold conversations); BUSY: SYSTEM,
/// NOT_RESPONDING or BUSY_REASON; none when OFFLINE.
pub(crate) fn substatus(status: entity::AgentStatus, kind: Option<BusyKind>, held: i64) -> Option<AgentSubstatus> {
    match status {
        entity::AgentStatus::Online if held > 0 => Some(AgentSubstatus::Interacting),
        entity::AgentStatus::Online => Some(AgentSubstatus::Idle),
        entity::AgentStatus::Busy => Some(match kind {
            Some(BusyKind::NotResponding) => AgentSubstatus::NotResponding,
            Some(BusyKind::Reason) => AgentSubstatus::BusyReason,
            _ => AgentSubstatus::System,
        }),
        entity::AgentStatus::Offline => None,
    }
}

/// An agent's (or supervisor's) status for automatic distribution, and what they hold.
pub struct AgentState(pub AgentView);

#[Object]
impl AgentState {
    async fn status(&self) -> AgentStatus {
        self.0.status.into()
    }
    /// ONLINE: IDLE or INTERACTING (whether they hold conversations); BUSY: SYSTEM, NOT_RESPONDING or
    /// BUSY_REASON; null when OFFLINE.
    async fn substatus(&self) -> Option<AgentSubstatus> {
        substatus(self.0.status, self.0.busy_kind, i64::from(self.0.conversation_count))
    }
    /// The busy reason, when the substatus is BUSY_REASON.
    async fn busy_reason(&self) -> Option<BusyReason> {
        self.0.busy_reason.clone().map(BusyReason)
    }
    /// When the status last changed (null: never signed in).
    async fn since(&self) -> Option<DateTime<Utc>> {
        self.0.since
    }
    /// The sum of the costs (channel `utilization` at assignment) of the conversations they hold: ringing,
    /// interacting, on hold and in after-call work. Above 100 only through manual assignment.
    async fn utilization(&self) -> i32 {
        self.0.utilization
    }
    /// How many conversations they hold.
    async fn conversation_count(&self) -> i32 {
        self.0.conversation_count
    }
}

#[derive(Default)]
pub struct AcdQuery;

#[Object]
impl AcdQuery {
    /// The account's busy reasons, archived ones included (any signed-in user: agents choose from them).
    async fn busy_reasons(&self, ctx: &Context<'_>) -> ApiResult<Vec<BusyReason>> {
        Ok(engine(ctx)?.busy_reasons(actor(ctx)?).await?.into_iter().map(BusyReason).collect())
    }

    /// The conversations waiting in a channel's queue, in the order they will be offered (supervisors and
    /// admins), a page at a time.
    #[graphql(complexity = "first.clamp(0, 100) as usize * child_complexity")]
    async fn queue(
        &self,
        ctx: &Context<'_>,
        channel_id: ID,
        #[graphql(default = 50, desc = "How many, 0 to 100 (default 50).")] first: i32,
        #[graphql(desc = "The `cursor` of the edge to continue after.")] after: Option<String>,
    ) -> ApiResult<QueueConnection> {
        QueueConnection::load(ctx, &channel_id, first, after).await
    }
}

#[derive(Default)]
pub struct AcdMutation;

async fn conversation(ctx: &Context<'_>, c: entity::conversation::Model) -> ApiResult<Conversation> {
    Ok(Conversation(engine(ctx)?.view_of(c).await?))
}

#[Object]
impl AcdMutation {
    /// Sets the caller's status: ONLINE, or BUSY (with `busyReasonId`, one of the account's active busy reasons,
    /// or without one: SYSTEM). OFFLINE is set by signing out. Agents and supervisors only.
    async fn set_my_status(
        &self,
        ctx: &Context<'_>,
        status: AgentStatus,
        busy_reason_id: Option<ID>,
    ) -> ApiResult<AgentState> {
        let reason = busy_reason_id.map(|id| uuid(&id, "busy reason")).transpose()?;
        Ok(AgentState(engine(ctx)?.set_my_status(actor(ctx)?, status.into(), reason).await?))
    }

    /// Adds a busy reason (admins). Names: 1 to 60 characters, unique in the account.
    async fn create_busy_reason(&self, ctx: &Context<'_>, name: String) -> ApiResult<BusyReason> {
        Ok(BusyReason(engine(ctx)?.create_busy_reason(actor(ctx)?, &name).await?))
    }

    /// Renames a busy reason (admins).
    async fn rename_busy_reason(&self, ctx: &Context<'_>, id: ID, name: String) -> ApiResult<BusyReason> {
        let id = uuid(&id, "busy reason")?;
        Ok(BusyReason(engine(ctx)?.rename_busy_reason(actor(ctx)?, id, &name).await?))
    }

    /// Archives a busy reason (admins): it can no longer be chosen; agents busy with it stay so.
    async fn archive_busy_reason(&self, ctx: &Context<'_>, id: ID) -> ApiResult<BusyReason> {
        let id = uuid(&id, "busy reason")?;
        Ok(BusyReason(engine(ctx)?.archive_busy_reason(actor(ctx)?, id).await?))
    }

    /// Accepts a conversation offered to the caller, before its `offerDeadline`: it becomes INTERACTING. Refused
    /// with CONFLICT and `extensions.reason` OFFER_EXPIRED (the deadline passed) or OFFER_WITHDRAWN (it was
    /// rejected, taken away or offered to someone else). Repeating a successful accept returns it unchanged.
    async fn accept_conversation(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Conversation> {
        let c = engine(ctx)?.accept_conversation(actor(ctx)?, uuid(&id, "conversation")?).await?;
        conversation(ctx, c).await
    }

    /// Rejects a conversation offered to the caller: it goes back to the queue at its original position and is
    /// offered to someone else; the caller stays ONLINE. Answers with the conversation as the reject left it.
    async fn reject_conversation(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Conversation> {
        let c = engine(ctx)?.reject_conversation(actor(ctx)?, uuid(&id, "conversation")?).await?;
        conversation(ctx, c).await
    }

    /// Puts an INTERACTING conversation on HOLD (it still counts toward utilization and limits).
    async fn hold_conversation(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Conversation> {
        let c = engine(ctx)?.hold_conversation(actor(ctx)?, uuid(&id, "conversation")?).await?;
        conversation(ctx, c).await
    }

    /// Takes a conversation off HOLD: INTERACTING again.
    async fn resume_conversation(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Conversation> {
        let c = engine(ctx)?.resume_conversation(actor(ctx)?, uuid(&id, "conversation")?).await?;
        conversation(ctx, c).await
    }

    /// Resolves a conversation: AFTER_CALL_WORK when its channel has wrap-up codes (with a `wrapUpDeadline` when
    /// the channel has a wrap-up timeout), otherwise RESOLVED at once. With a chatbot's token: resolves a PENDING
    /// conversation it serves at once, without a code (resolution CHATBOT).
    async fn resolve_conversation(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Conversation> {
        let (e, id) = (engine(ctx)?, uuid(&id, "conversation")?);
        let c = match acting(ctx)? {
            Acting::User(a) => e.resolve_conversation(a, id).await?,
            Acting::Bot(b) => e.bot_resolve(b, id).await?,
        };
        conversation(ctx, c).await
    }

    /// Chooses the wrap-up code of a conversation in after-call work, which resolves it. Refused with CONFLICT
    /// and `extensions.reason` WRAP_UP_EXPIRED after the wrap-up deadline.
    async fn set_wrap_up_code(
        &self,
        ctx: &Context<'_>,
        conversation_id: ID,
        wrap_up_code_id: ID,
    ) -> ApiResult<Conversation> {
        let code = uuid(&wrap_up_code_id, "wrap-up code")?;
        let c = engine(ctx)?.set_wrap_up_code(actor(ctx)?, uuid(&conversation_id, "conversation")?, code).await?;
        conversation(ctx, c).await
    }

    /// Gives a waiting conversation (PENDING, IN_QUEUE or ALERTING) to a person by hand (supervisors and admins):
    /// INTERACTING for them at once, even beyond their utilization and the channel's limit. The assignee must be
    /// an active agent or supervisor of the account who is not OFFLINE.
    async fn assign_conversation(&self, ctx: &Context<'_>, id: ID, user_id: ID) -> ApiResult<Conversation> {
        let user = uuid(&user_id, "user")?;
        let c = engine(ctx)?.assign_conversation(actor(ctx)?, uuid(&id, "conversation")?, user).await?;
        conversation(ctx, c).await
    }

    /// Moves a conversation someone holds (ALERTING, INTERACTING or HOLD) to another person (supervisors and
    /// admins), with the same rules as `assignConversation`.
    async fn transfer_conversation(&self, ctx: &Context<'_>, id: ID, user_id: ID) -> ApiResult<Conversation> {
        let user = uuid(&user_id, "user")?;
        let c = engine(ctx)?.transfer_conversation(actor(ctx)?, uuid(&id, "conversation")?, user).await?;
        conversation(ctx, c).await
    }

    /// Puts a conversation someone holds back in its channel's queue at its original position (supervisors and
    /// admins).
    async fn requeue_conversation(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Conversation> {
        let c = engine(ctx)?.requeue_conversation(actor(ctx)?, uuid(&id, "conversation")?).await?;
        conversation(ctx, c).await
    }

    /// Hands a PENDING conversation (served by a chatbot) to its channel's queue, queued from now (supervisors
    /// and admins, or the chatbot serving it with its token); `handOffReason` records who (STAFF or CHATBOT).
    async fn hand_off_conversation(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Conversation> {
        let (e, id) = (engine(ctx)?, uuid(&id, "conversation")?);
        let c = match acting(ctx)? {
            Acting::User(a) => e.hand_off_conversation(a, id).await?,
            Acting::Bot(b) => e.bot_hand_off(b, id).await?,
        };
        conversation(ctx, c).await
    }
}
