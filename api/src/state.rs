//! What the two transports of `/graphql` share: the axum state (the schema, the engine, and this process's live
//! connections) and where a request comes from, so that GraphQL over HTTP (`http`) and over WebSocket (`ws`) need
//! nothing from each other.
//!
//! The live connections are registered here with their token, and re-checked together every 2 s in one query:
//! a logout, a revoked token or a deactivated user closes theirs (`ws` closes them with 4401).

use crate::graphql::AppSchema;
use axum::Extension;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, header};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::watch;
use uuid::Uuid;
use worker::Engine;

pub const TOKEN_CHECK_EVERY: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub struct GraphqlState {
    pub schema: AppSchema,
    pub engine: Engine,
    /// This process's live (WebSocket) connections.
    pub connections: Arc<Connections>,
}

/// The connection's peer, when the server was started with connect info (`app::serve`).
pub type Peer = Option<Extension<ConnectInfo<SocketAddr>>>;

/// Where a request comes from: the client's address (the peer's, or the `X-Forwarded-For` entry a trusted
/// proxy set; see `LoginSettings::client_addr`) and its user agent (at most 300 characters). For a WebSocket,
/// those of its upgrade request: what a `login` sent over it counts under.
pub fn client_info(engine: &Engine, peer: &Peer, headers: &HeaderMap) -> worker::actor::ClientInfo {
    let peer = peer.as_ref().map(|Extension(ConnectInfo(a))| a.ip());
    let forwarded = headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok());
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|u| u.chars().take(300).collect::<String>())
        .filter(|u| !u.is_empty());
    worker::actor::ClientInfo { addr: engine.login.client_addr(peer, forwarded), user_agent }
}

/// The live connections of this process, by id, with their token (re-checked together).
#[derive(Default)]
pub struct Connections {
    open: Mutex<HashMap<Uuid, (Uuid, watch::Sender<bool>)>>,
    checker: OnceLock<()>,
}

impl Connections {
    /// Registers a connection authenticated by `token_id`; the receiver turns true when the token is no longer
    /// live.
    pub(crate) fn add(self: &Arc<Self>, engine: &Engine, token_id: Uuid) -> (Uuid, watch::Receiver<bool>) {
        let id = Uuid::now_v7();
        let (tx, rx) = watch::channel(false);
        if let Ok(mut open) = self.open.lock() {
            open.insert(id, (token_id, tx));
        }
        self.checker.get_or_init(|| {
            tokio::spawn(check_tokens(Arc::downgrade(self), engine.clone()));
        });
        (id, rx)
    }

    pub(crate) fn remove(&self, id: Uuid) {
        if let Ok(mut open) = self.open.lock() {
            open.remove(&id);
        }
    }
}

/// Every few seconds: closes the connections whose token no longer authenticates.
async fn check_tokens(connections: std::sync::Weak<Connections>, engine: Engine) {
    let mut tick = tokio::time::interval(TOKEN_CHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(conns) = connections.upgrade() else { return };
        // The connections as they are now: one opened during the check is checked next time.
        let checked: Vec<(Uuid, Uuid)> = match conns.open.lock() {
            Ok(open) => open.iter().map(|(id, (t, _))| (*id, *t)).collect(),
            Err(_) => continue,
        };
        if checked.is_empty() {
            continue;
        }
        let tokens: Vec<Uuid> = checked.iter().map(|(_, t)| *t).collect();
        let live = match engine.live_tokens(&tokens).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = ?e, "cannot re-check the tokens of live connections; retrying");
                continue;
            }
        };
        if let Ok(open) = conns.open.lock() {
            for id in revoked(&checked, &live) {
                if let Some((_, tx)) = open.get(&id) {
                    let _ = tx.send(true);
                }
            }
        }
    }
}

/// The connections to close: among those whose tokens were checked (`(connection, token)`), the ones whose
/// token is not live. A connection opened while the check ran is not among them: it is checked next time
/// (closing it now, for a token the check never asked about, was a bug the live benchmark found).
fn revoked(checked: &[(Uuid, Uuid)], live: &std::collections::HashSet<Uuid>) -> Vec<Uuid> {
    checked.iter().filter(|(_, token)| !live.contains(token)).map(|(id, _)| *id).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_checked_connections_with_dead_tokens_are_closed() {
        let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let (live_token, dead_token) = (Uuid::now_v7(), Uuid::now_v7());
        let checked = vec![(a, live_token), (b, dead_token)];
        let live = [live_token].into_iter().collect();
        // `c` opened during the check (with a token the check never saw): untouched.
        assert_eq!(revoked(&checked, &live), vec![b]);
        assert!(!revoked(&checked, &live).contains(&c));
        assert!(revoked(&[], &live).is_empty());
    }
}
