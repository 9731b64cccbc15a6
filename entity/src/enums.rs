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
