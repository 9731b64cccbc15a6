//! Setup shared by the benchmarks: rows written straight to the database, so that what a benchmark measures is
//! the path under test, not Argon2 or the admin API.

use chrono::Utc;
use entity::{AgentStatus, Role, agent_state, channel_agent, user};
use sea_orm::{EntityTrait, Set};
use uuid::Uuid;

use crate::TestApp;

/// The `p` quantile (0 to 1) of `v`, which it sorts; NaN when empty.
pub fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// `n` agents of the account, on the channel's agent list, in `status`.
pub async fn agents(
    app: &TestApp,
    account: Uuid,
    ch: Uuid,
    n: usize,
    status: AgentStatus,
) -> anyhow::Result<Vec<Uuid>> {
    let now = Utc::now();
    let ids: Vec<Uuid> = (0..n).map(|_| Uuid::now_v7()).collect();
    for chunk in ids.chunks(200) {
        user::Entity::insert_many(chunk.iter().map(|&id| user::ActiveModel {
            id: Set(id),
            account_id: Set(account),
            email: Set(format!("bench-{}@example.com", id.simple())),
            name: Set("Bench agent".into()),
            role: Set(Role::Agent),
            password_hash: Set("not-a-login".into()),
            active: Set(true),
            must_change_password: Set(false),
            created_at: Set(now),
        }))
        .exec(&app.engine.db)
        .await?;
        channel_agent::Entity::insert_many(chunk.iter().map(|u| channel_agent::ActiveModel {
            channel_id: Set(ch),
            user_id: Set(*u),
            created_at: Set(now),
        }))
        .exec(&app.engine.db)
        .await?;
        agent_state::Entity::insert_many(chunk.iter().map(|u| agent_state::ActiveModel {
            user_id: Set(*u),
            account_id: Set(account),
            status: Set(status),
            busy_kind: Set(None),
            busy_reason_id: Set(None),
            since: Set(now),
            last_assigned_at: Set(None),
        }))
        .exec(&app.engine.db)
        .await?;
    }
    Ok(ids)
}
