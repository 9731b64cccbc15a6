//! String-backed enums shared by several tables.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A user's role within their account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(20))")]
pub enum Role {
    #[sea_orm(string_value = "ADMIN")]
    Admin,
    #[sea_orm(string_value = "SUPERVISOR")]
    Supervisor,
    #[sea_orm(string_value = "AGENT")]
    Agent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(20))")]
pub enum ConversationType {
    #[sea_orm(string_value = "CHAT")]
    Chat,
    #[sea_orm(string_value = "SOCIAL_MEDIA")]
    SocialMedia,
    #[sea_orm(string_value = "EMAIL")]
    Email,
    #[sea_orm(string_value = "CALL")]
    Call,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(40))")]
pub enum Provider {
    #[sea_orm(string_value = "NOVA_CHATS_CONNECTOR")]
    NovaChatsConnector,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(20))")]
pub enum Verification {
    #[sea_orm(string_value = "UNVERIFIED")]
    Unverified,
    #[sea_orm(string_value = "PENDING")]
    Pending,
    #[sea_orm(string_value = "VERIFIED")]
    Verified,
    #[sea_orm(string_value = "FAILED")]
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(20))")]
pub enum ConversationStatus {
    /// A chatbot is serving the client.
    #[sea_orm(string_value = "PENDING")]
    Pending,
    #[sea_orm(string_value = "OPEN")]
    Open,
    #[sea_orm(string_value = "RESOLVED")]
    Resolved,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(20))")]
pub enum ConversationSubstatus {
    #[sea_orm(string_value = "IN_QUEUE")]
    InQueue,
    #[sea_orm(string_value = "ALERTING")]
    Alerting,
    #[sea_orm(string_value = "INTERACTING")]
    Interacting,
    #[sea_orm(string_value = "HOLD")]
    Hold,
    #[sea_orm(string_value = "AFTER_CALL_WORK")]
    AfterCallWork,
}

impl ConversationSubstatus {
    /// Substatuses in which a conversation is held by its agent and counts toward their utilization and limits.
    pub const HELD: [ConversationSubstatus; 4] = [
        ConversationSubstatus::Alerting,
        ConversationSubstatus::Interacting,
        ConversationSubstatus::Hold,
        ConversationSubstatus::AfterCallWork,
    ];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(10))")]
pub enum Direction {
    #[sea_orm(string_value = "INBOUND")]
    Inbound,
    #[sea_orm(string_value = "OUTBOUND")]
    Outbound,
}

/// Delivery of an outbound message: QUEUED -> SENT -> DELIVERED -> READ, or FAILED.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(20))")]
pub enum DeliveryStatus {
    #[sea_orm(string_value = "QUEUED")]
    Queued,
    #[sea_orm(string_value = "SENT")]
    Sent,
    #[sea_orm(string_value = "DELIVERED")]
    Delivered,
    #[sea_orm(string_value = "READ")]
    Read,
    #[sea_orm(string_value = "FAILED")]
    Failed,
}

impl DeliveryStatus {
    /// Progress order: a status update never moves a message backwards (READ after DELIVERED, not the reverse).
    pub fn rank(self) -> u8 {
        match self {
            DeliveryStatus::Queued => 0,
            DeliveryStatus::Sent => 1,
            DeliveryStatus::Delivered => 2,
            DeliveryStatus::Read => 3,
            DeliveryStatus::Failed => 4,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(20))")]
pub enum AgentStatus {
    #[sea_orm(string_value = "ONLINE")]
    Online,
    #[sea_orm(string_value = "BUSY")]
    Busy,
    #[sea_orm(string_value = "OFFLINE")]
    Offline,
}

/// Why a BUSY agent is busy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(20))")]
pub enum BusyKind {
    /// Set on sign-in.
    #[sea_orm(string_value = "SYSTEM")]
    System,
    /// Set by the system when an offer timed out.
    #[sea_orm(string_value = "NOT_RESPONDING")]
    NotResponding,
    /// An account-defined busy reason (`busy_reason_id`).
    #[sea_orm(string_value = "REASON")]
    Reason,
}

/// How a conversation came to a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(20))")]
pub enum OfferOrigin {
    #[sea_orm(string_value = "DISTRIBUTION")]
    Distribution,
    #[sea_orm(string_value = "MANUAL")]
    Manual,
    #[sea_orm(string_value = "TRANSFER")]
    Transfer,
    #[sea_orm(string_value = "WRITE_FIRST")]
    WriteFirst,
}

/// How an assignment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(20))")]
pub enum OfferOutcome {
    /// Accepted: the assignment goes on (INTERACTING); `ended_at` stays null until it ends another way.
    #[sea_orm(string_value = "ACCEPTED")]
    Accepted,
    #[sea_orm(string_value = "REJECTED")]
    Rejected,
    /// The alerting timeout passed.
    #[sea_orm(string_value = "EXPIRED")]
    Expired,
    /// Taken away: the agent went offline, left the channel's list, was deactivated, or a supervisor moved it.
    #[sea_orm(string_value = "WITHDRAWN")]
    Withdrawn,
    /// The conversation was resolved.
    #[sea_orm(string_value = "RESOLVED")]
    Resolved,
}

/// How a conversation came to be RESOLVED.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(30))")]
pub enum Resolution {
    /// Resolved by the agent (no wrap-up codes, or none left to choose).
    #[sea_orm(string_value = "AGENT")]
    Agent,
    /// A wrap-up code was chosen.
    #[sea_orm(string_value = "WRAP_UP_CODE")]
    WrapUpCode,
    /// After-call work ran out of time.
    #[sea_orm(string_value = "WRAP_UP_TIMEOUT")]
    WrapUpTimeout,
    /// Its channel was deleted while it waited.
    #[sea_orm(string_value = "CHANNEL_DELETED")]
    ChannelDeleted,
    /// Its agent was deactivated during after-call work.
    #[sea_orm(string_value = "AGENT_DEACTIVATED")]
    AgentDeactivated,
    /// The chatbot resolved it (never after-call work).
    #[sea_orm(string_value = "CHATBOT")]
    Chatbot,
}

/// What a bearer token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(10))")]
pub enum TokenKind {
    /// A sign-in (`login`): expires after a time without use, and after a maximum age.
    #[sea_orm(string_value = "SESSION")]
    Session,
    /// Automation (the bootstrap admin token): no idle expiry; revocable.
    #[sea_orm(string_value = "MACHINE")]
    Machine,
}

/// Why a conversation a chatbot served went to its channel's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(30))")]
pub enum HandOffReason {
    /// The chatbot handed it off.
    #[sea_orm(string_value = "CHATBOT")]
    Chatbot,
    /// A supervisor or admin handed it off.
    #[sea_orm(string_value = "STAFF")]
    Staff,
    /// Posting to the chatbot failed for good.
    #[sea_orm(string_value = "CHATBOT_UNREACHABLE")]
    ChatbotUnreachable,
    /// The chatbot neither answered nor handed off within the channel's chatbot timeout.
    #[sea_orm(string_value = "CHATBOT_TIMEOUT")]
    ChatbotTimeout,
    /// The chatbot was disabled (or lost its endpoint).
    #[sea_orm(string_value = "CHATBOT_DISABLED")]
    ChatbotDisabled,
    /// The channel's chatbot was changed or removed.
    #[sea_orm(string_value = "CHATBOT_REMOVED")]
    ChatbotRemoved,
}

/// Where a post to a chatbot stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(20))")]
pub enum BotPostStatus {
    #[sea_orm(string_value = "PENDING")]
    Pending,
    #[sea_orm(string_value = "POSTED")]
    Posted,
    /// Every attempt failed (the conversation was handed off).
    #[sea_orm(string_value = "FAILED")]
    Failed,
    /// Not posted: the conversation left the chatbot first.
    #[sea_orm(string_value = "DROPPED")]
    Dropped,
}

/// What a live event says happened (the GraphQL `LiveEventKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(30))")]
pub enum EventKind {
    /// A conversation rings for an agent (with its deadline).
    #[sea_orm(string_value = "OFFERED")]
    Offered,
    /// A conversation became an agent's: accepted, auto-answered, assigned or transferred by hand.
    #[sea_orm(string_value = "ASSIGNED")]
    Assigned,
    /// A conversation was taken from an agent (the reason says why).
    #[sea_orm(string_value = "WITHDRAWN")]
    Withdrawn,
    /// Held, resumed, after-call work, resolved, wrap-up chosen or timed out, client wrote back.
    #[sea_orm(string_value = "CONVERSATION_UPDATED")]
    ConversationUpdated,
    #[sea_orm(string_value = "MESSAGE_CREATED")]
    MessageCreated,
    #[sea_orm(string_value = "MESSAGE_STATUS_CHANGED")]
    MessageStatusChanged,
    #[sea_orm(string_value = "AGENT_STATUS_CHANGED")]
    AgentStatusChanged,
    /// A conversation entered its channel's queue (new, requeued, or handed off by its chatbot).
    #[sea_orm(string_value = "QUEUE_CHANGED")]
    QueueChanged,
    #[sea_orm(string_value = "NUMBER_VERIFIED")]
    NumberVerified,
}

/// Why a live event happened, where that matters to the one watching.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(30))")]
pub enum EventReason {
    #[sea_orm(string_value = "TIMEOUT")]
    Timeout,
    #[sea_orm(string_value = "REJECTED")]
    Rejected,
    #[sea_orm(string_value = "OFFLINE")]
    Offline,
    #[sea_orm(string_value = "TRANSFERRED")]
    Transferred,
    #[sea_orm(string_value = "REASSIGNED")]
    Reassigned,
    #[sea_orm(string_value = "REQUEUED")]
    Requeued,
    #[sea_orm(string_value = "REMOVED_FROM_CHANNEL")]
    RemovedFromChannel,
    #[sea_orm(string_value = "DEACTIVATED")]
    Deactivated,
    #[sea_orm(string_value = "CHANNEL_DELETED")]
    ChannelDeleted,
    #[sea_orm(string_value = "WRAP_UP_TIMEOUT")]
    WrapUpTimeout,
    #[sea_orm(string_value = "HANDED_OFF")]
    HandedOff,
    #[sea_orm(string_value = "HELD")]
    Held,
    #[sea_orm(string_value = "RESUMED")]
    Resumed,
    #[sea_orm(string_value = "AFTER_CALL_WORK")]
    AfterCallWork,
    #[sea_orm(string_value = "RESOLVED")]
    Resolved,
    #[sea_orm(string_value = "WRAP_UP_CHOSEN")]
    WrapUpChosen,
    #[sea_orm(string_value = "CLIENT_WROTE")]
    ClientWrote,
}

/// How a queue stint began.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(20))")]
pub enum StintStart {
    /// A new conversation in a channel without a chatbot.
    #[sea_orm(string_value = "NEW")]
    New,
    /// A chatbot's conversation handed off.
    #[sea_orm(string_value = "HAND_OFF")]
    HandOff,
    /// An answered conversation put back in the queue by a supervisor.
    #[sea_orm(string_value = "REQUEUE")]
    Requeue,
}

/// How a queue stint ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(20))")]
pub enum StintOutcome {
    /// Accepted by an agent, or assigned with auto answer.
    #[sea_orm(string_value = "ANSWERED")]
    Answered,
    /// Resolved while it waited, or its channel was deleted.
    #[sea_orm(string_value = "ABANDONED")]
    Abandoned,
    /// A supervisor gave it to someone by hand while it waited.
    #[sea_orm(string_value = "TRANSFERRED")]
    Transferred,
}

/// Why a waiting conversation was abandoned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(30))")]
pub enum AbandonReason {
    /// A supervisor or admin resolved it while it waited.
    #[sea_orm(string_value = "RESOLVED")]
    Resolved,
    #[sea_orm(string_value = "CHANNEL_DELETED")]
    ChannelDeleted,
}

/// How abandoned waits count in a channel's service level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(20))")]
pub enum AbandonPolicy {
    /// Every abandon is a wait not answered within the target.
    #[sea_orm(string_value = "COUNT_AS_MISSED")]
    CountAsMissed,
    /// Abandons are left out of the service level.
    #[sea_orm(string_value = "EXCLUDE")]
    Exclude,
    /// Short abandons are left out; longer ones count as missed.
    #[sea_orm(string_value = "EXCLUDE_SHORT")]
    ExcludeShort,
}
