use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "chatbots")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub account_id: Uuid,
    pub name: String,
    /// Lower-cased name, unique within the account.
    pub name_key: String,
    pub description: Option<String>,
    /// Where the product posts signed events (absolute http/https); none: the chatbot cannot serve.
    pub endpoint_url: Option<String>,
    pub enabled: bool,
    /// SHA-256 of the bot token (`rotateChatbotCredentials`); none until first rotated.
    pub token_hash: Option<String>,
    /// The signing secret, encrypted at rest (the product signs with it, so it is not hashed).
    pub signing_secret_enc: Option<String>,
    pub credentials_rotated_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
