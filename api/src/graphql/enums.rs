//! GraphQL enums, mirrored one to one from the entities' enums (the schema is a contract of its own).

use async_graphql::Enum;

macro_rules! mirror {
    ($(#[$doc:meta])* $name:ident = $entity:path { $($(#[$vdoc:meta])* $v:ident),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
        pub enum $name { $($(#[$vdoc])* $v),* }

        impl From<$entity> for $name {
            fn from(v: $entity) -> Self {
                match v { $(<$entity>::$v => $name::$v),* }
            }
        }

        impl From<$name> for $entity {
            fn from(v: $name) -> Self {
                match v { $($name::$v => <$entity>::$v),* }
            }
        }
    };
}

mirror!(
    /// What a user may do in their account.
    Role = entity::Role {
        /// Configures channels, numbers, chatbots, wrap-up codes and users.
        Admin,
        /// Sees everything in the account; cannot change configuration.
        Supervisor,
        /// Sees and works only the conversations assigned to them.
        Agent,
    }
);

mirror!(
    /// The kind of conversations a channel carries.
    ConversationType = entity::ConversationType { Chat, SocialMedia, Email, Call }
);

mirror!(
    /// The WhatsApp connector a channel talks to.
    Provider = entity::Provider {
        /// Nova.ChatsConnector.
        NovaChatsConnector,
    }
);

mirror!(
    /// Whether the provider accepted the number's API key.
    Verification = entity::Verification {
        /// Never checked since the key was set.
        Unverified,
        /// A check is queued.
        Pending,
        /// The provider accepted the key for this number.
        Verified,
        /// The last check failed; see `verificationError`.
        Failed,
    }
);

mirror!(
    /// Which of a channel's number lists.
    NumberState = worker::phone_numbers::NumberState {
        /// Numbers that are not deleted (enabled or disabled).
        Active,
        /// Soft-deleted numbers, which can be restored.
        Deleted,
    }
);

mirror!(
    /// Where a conversation stands.
    ConversationStatus = entity::ConversationStatus {
        /// A chatbot is serving the client.
        Pending,
        /// Handled by people: see the substatus.
        Open,
        /// Finished (with a wrap-up code, or without one when the wrap-up time ran out).
        Resolved,
    }
);

mirror!(
    /// The step of an OPEN conversation.
    ConversationSubstatus = entity::ConversationSubstatus {
        /// Waiting for automatic distribution.
        InQueue,
        /// Offered to an agent, waiting for them to accept.
        Alerting,
        /// An agent is working it.
        Interacting,
        /// Put on hold by its agent.
        Hold,
        /// Resolved by its agent, waiting for a wrap-up code.
        AfterCallWork,
    }
);

mirror!(
    /// Who wrote a message.
    MessageDirection = entity::Direction {
        /// From the client.
        Inbound,
        /// From an agent, to the client.
        Outbound,
    }
);

mirror!(
    /// Delivery of an outbound message: QUEUED -> SENT -> DELIVERED -> READ, or FAILED.
    DeliveryStatus = entity::DeliveryStatus {
        /// Stored and waiting to be handed to the provider.
        Queued,
        /// Accepted by the provider.
        Sent,
        /// Delivered to the client's phone.
        Delivered,
        /// Read by the client.
        Read,
        /// Not delivered; see `deliveryError`.
        Failed,
    }
);

mirror!(
    /// Where a job is in its life.
    JobStatus = worker::runtime::admin::JobState {
        /// Waiting for its time or for a worker.
        Pending,
        /// Fetched by a worker, about to run.
        Queued,
        Running,
        Done,
        /// Its last run failed; with attempts left it runs again, without (as in `failedJobs`) only `retryJob` runs it.
        Failed,
        /// Aborted; only `retryJob` runs it again.
        Killed,
    }
);

mirror!(
    /// An agent's presence for automatic distribution.
    AgentStatus = entity::AgentStatus {
        /// Receives conversations (substatus IDLE or INTERACTING).
        Online,
        /// Keeps their conversations but receives no new ones (substatus SYSTEM, NOT_RESPONDING or BUSY_REASON).
        Busy,
        /// Signed out. Never chosen by hand.
        Offline,
    }
);

mirror!(
    /// How a conversation came to be RESOLVED.
    Resolution = entity::Resolution {
        /// Resolved by its agent without a code (the channel had none to choose).
        Agent,
        /// A wrap-up code was chosen.
        WrapUpCode,
        /// After-call work ran out of time: no code.
        WrapUpTimeout,
        /// Its channel was deleted while it waited.
        ChannelDeleted,
        /// Its agent was deactivated during after-call work.
        AgentDeactivated,
        /// Its chatbot resolved it (no agent, no code).
        Chatbot,
    }
);

mirror!(
    /// What a bearer token is for.
    TokenKind = entity::TokenKind {
        /// A sign-in: expires after a time without use and after a maximum age.
        Session,
        /// Automation (the bootstrap admin token): no idle expiry.
        Machine,
    }
);

mirror!(
    /// Why a conversation a chatbot served went to its channel's queue.
    HandOffReason = entity::HandOffReason {
        /// The chatbot handed it off.
        Chatbot,
        /// A supervisor or admin handed it off.
        Staff,
        /// Posting the client's message to the chatbot failed for good.
        ChatbotUnreachable,
        /// The chatbot neither answered nor handed off within the channel's `chatbotTimeout`.
        ChatbotTimeout,
        /// The chatbot was disabled or lost its endpoint.
        ChatbotDisabled,
        /// The channel's chatbot was changed or removed.
        ChatbotRemoved,
    }
);

/// The detail of an agent's status.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum AgentSubstatus {
    /// ONLINE, holding no conversation.
    Idle,
    /// ONLINE, holding at least one conversation.
    Interacting,
    /// BUSY since signing in (or chosen without a reason).
    System,
    /// BUSY because an offer timed out; back to ONLINE by hand.
    NotResponding,
    /// BUSY with one of the account's busy reasons (see `busyReason`).
    BusyReason,
}

/// What a live event says happened.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum LiveEventKind {
    /// A conversation rings for the agent; `deadline` says until when (count down from `deadline - at`).
    Offered,
    /// A conversation became an agent's: accepted, auto-answered, assigned or transferred by hand.
    Assigned,
    /// A conversation was taken from the agent; `reason` says why (TIMEOUT, REJECTED, OFFLINE, ...).
    Withdrawn,
    /// Held, resumed, after-call work, resolved, wrap-up chosen or timed out, client wrote back.
    ConversationUpdated,
    MessageCreated,
    MessageStatusChanged,
    AgentStatusChanged,
    /// A conversation entered its channel's queue (new; requeued or handed off from its chatbot: `reason`).
    QueueChanged,
    /// A number's verification finished (see `phoneNumber.verification`).
    NumberVerified,
    /// The cursor given as `after` is older than the retention (or unknown): reload the screen, then carry on
    /// with the events that follow.
    ResyncRequired,
}

impl From<entity::EventKind> for LiveEventKind {
    fn from(k: entity::EventKind) -> Self {
        use entity::EventKind as K;
        match k {
            K::Offered => Self::Offered,
            K::Assigned => Self::Assigned,
            K::Withdrawn => Self::Withdrawn,
            K::ConversationUpdated => Self::ConversationUpdated,
            K::MessageCreated => Self::MessageCreated,
            K::MessageStatusChanged => Self::MessageStatusChanged,
            K::AgentStatusChanged => Self::AgentStatusChanged,
            K::QueueChanged => Self::QueueChanged,
            K::NumberVerified => Self::NumberVerified,
        }
    }
}

mirror!(
    /// Why a live event happened.
    LiveEventReason = entity::EventReason {
        /// The alerting timeout passed.
        Timeout,
        Rejected,
        /// The agent went OFFLINE (signed out, or their desktop was gone past the grace).
        Offline,
        Transferred,
        /// Someone else's ringing offer was assigned to another person by hand.
        Reassigned,
        /// A supervisor put it back in the queue.
        Requeued,
        RemovedFromChannel,
        Deactivated,
        ChannelDeleted,
        WrapUpTimeout,
        HandedOff,
        Held,
        Resumed,
        AfterCallWork,
        Resolved,
        WrapUpChosen,
        /// The client wrote during after-call work: INTERACTING again.
        ClientWrote,
    }
);

mirror!(
    /// How abandoned waits count in a channel's service level.
    AbandonPolicy = entity::AbandonPolicy {
        /// Every abandon counts as a wait not answered within the target.
        CountAsMissed,
        /// Abandons are left out of the service level.
        Exclude,
        /// Short abandons are left out; longer ones count as missed.
        ExcludeShort,
    }
);

/// The length of a `queueMetrics` bucket (in the account's time zone).
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum Granularity {
    FifteenMinutes,
    Hour,
    Day,
}

/// What `queueMetrics` buckets are per.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum MetricsGroupBy {
    Channel,
    /// Waits by the agent who answered them (abandoned ones: no agent); offers and handle times by agent.
    Agent,
    /// By the conversation's wrap-up code (none: no code chosen yet, or none at all).
    WrapUpCode,
}

/// What an expected wait is based on.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum EstimateBasis {
    /// How many waits of the channel were answered in the last 30 minutes.
    RecentAnswers,
    /// Too few recent answers: the average handle time over the capacity of the ONLINE agents of the channel.
    HandleTime,
    /// No agent of the channel is ONLINE: no guess.
    NoAgents,
    /// Too little history for a guess.
    InsufficientData,
}

impl From<worker::conversations::waits::Basis> for EstimateBasis {
    fn from(b: worker::conversations::waits::Basis) -> Self {
        use worker::conversations::waits::Basis;
        match b {
            Basis::RecentAnswers => Self::RecentAnswers,
            Basis::HandleTime => Self::HandleTime,
            Basis::NoAgents => Self::NoAgents,
            Basis::InsufficientData => Self::InsufficientData,
        }
    }
}

/// A `queueStatsChanged` message.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum QueueStatsUpdateKind {
    /// Full figures of every channel subscribed to.
    Snapshot,
    /// Nothing changed for 15 seconds: the stream is alive (no figures).
    Heartbeat,
}
