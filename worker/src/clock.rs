//! Base layer: the database's clock, on which every deadline is computed and compared.

use crate::Result;
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};

/// The database's clock, on which every deadline is computed and compared, so several hosts agree (PostgreSQL:
/// `clock_timestamp()`, the time of the call, not of the transaction's start). SQLite is embedded: its clock is
/// this host's.
pub async fn db_now<C: ConnectionTrait>(db: &C) -> Result<DateTime<Utc>> {
    if db.get_database_backend() == DatabaseBackend::Postgres {
        let row = db
            .query_one_raw(Statement::from_string(DatabaseBackend::Postgres, "SELECT clock_timestamp() AS now"))
            .await?
            .ok_or_else(|| anyhow::anyhow!("clock_timestamp() returned no row"))?;
        return Ok(row.try_get::<DateTime<Utc>>("", "now")?);
    }
    Ok(Utc::now())
}

/// A setting in whole seconds as a duration (negative counts as zero).
pub fn seconds(s: i32) -> chrono::Duration {
    chrono::Duration::seconds(i64::from(s.max(0)))
}
