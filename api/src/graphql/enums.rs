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
