use crate::Verification;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "phone_numbers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub account_id: Uuid,
    pub channel_id: Uuid,
    /// Normalised E.164 (`+` and up to 15 digits); unique among non-deleted numbers of the deployment.
    pub e164: String,
    /// The provider API key, encrypted at rest (see `worker::crypto`).
    pub api_key_enc: String,
    /// The key's last four characters, the only part ever shown.
    pub api_key_hint: String,
    pub enabled: bool,
    pub verification: Verification,
    pub verification_error: Option<String>,
    pub last_verified_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub deleted_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
