//! GraphQL over WebSocket on `/graphql`: `graphql-transport-ws` and the legacy `graphql-ws` (Apollo's
//! subscriptions-transport-ws). async-graphql speaks the protocols; this wraps it with what it lacks:
//!
//! - the token in `connection_init` (`{"authorization": "Bearer <token>"}`, or the upgrade request's
//!   `Authorization` header); a missing or bad one closes with 4403 before any subscription runs;
//! - 10 s to send `connection_init`, then 4408;
//! - a WebSocket ping every 15 s (proxies keep the connection; browsers answer by themselves), and a
//!   connection silent for 45 s (no pong, no message) is dropped as dead;
//! - the process re-checks the tokens of its connections every 2 s in one query: a logout, a revoked token or a
//!   deactivated user closes theirs with 4401;
//! - a client that does not read what it is sent for 10 s is closed with 4409 (it resubscribes with `after`
//!   and misses nothing: streams read the event log, nothing piles up per connection);
//! - each operation runs as a task of its own ([`OwnTasks`]), so a slow client never keeps a pooled connection;
//! - agents' and supervisors' connections count for presence while they last;
//! - queries and mutations sent over the connection come from its upgrade request's client (address and user
//!   agent, as over HTTP): a `login` counts under that address's limit.

use crate::graphql::{Caller, Loaders};
use crate::state::{GraphqlState, Peer, client_info};
use async_graphql::Data;
use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, WebSocketProtocols, WsMessage};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch};
use uuid::Uuid;
use worker::actor::Actor;

pub const INIT_TIMEOUT: Duration = Duration::from_secs(10);
pub const PING_EVERY: Duration = Duration::from_secs(15);
pub const DEAD_AFTER: Duration = Duration::from_secs(45);
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Close codes (documented in docs/behaviour.md, "Live events").
pub const CLOSE_FORBIDDEN: u16 = 4403;
pub const CLOSE_INIT_TIMEOUT: u16 = 4408;
pub const CLOSE_TOKEN_REVOKED: u16 = 4401;
pub const CLOSE_TOO_SLOW: u16 = 4409;

fn bearer(raw: &str) -> Option<&str> {
    let t = raw.trim();
    let t = match t.get(..7) {
        Some(p) if p.eq_ignore_ascii_case("bearer ") => t[7..].trim(),
        _ if t.eq_ignore_ascii_case("bearer") => "",
        _ => t,
    };
    (!t.is_empty()).then_some(t)
}

/// The token of `connection_init`'s payload (`authorization`, any case), else the upgrade request's header.
fn init_token(payload: &serde_json::Value, header: Option<&str>) -> Option<String> {
    let from_payload = payload
        .as_object()
        .and_then(|m| m.iter().find(|(k, _)| k.eq_ignore_ascii_case("authorization")).and_then(|(_, v)| v.as_str()));
    from_payload.or(header).and_then(bearer).map(str::to_owned)
}

/// `GET /graphql` with `Upgrade: websocket`.
pub async fn upgrade(state: GraphqlState, headers: HeaderMap, peer: Peer, ws: WebSocketUpgrade) -> Response {
    let protocol = headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .and_then(|p| p.split(',').find_map(|p| WebSocketProtocols::from_str(p.trim()).ok()));
    let Some(protocol) = protocol else {
        return (StatusCode::BAD_REQUEST, "Sec-WebSocket-Protocol must be graphql-transport-ws or graphql-ws")
            .into_response();
    };
    let header = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
    // Operations sent over the connection come from where its upgrade request came from (a `login` counts there).
    let client = client_info(&state.engine, &peer, &headers);
    // Small buffers: an idle desktop costs little (tungstenite reads into 128 KiB by default); events are small.
    ws.protocols(ALL_WEBSOCKET_PROTOCOLS)
        .read_buffer_size(4 * 1024)
        .write_buffer_size(4 * 1024)
        .max_message_size(64 * 1024)
        .on_upgrade(move |socket| serve(socket, state, protocol, header, client))
}

fn why_refused(refused: &Mutex<Option<String>>) -> Option<String> {
    refused.lock().ok().and_then(|r| r.clone())
}

fn close(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame { code, reason: reason.into() }))
}

async fn serve(
    socket: WebSocket,
    state: GraphqlState,
    protocol: WebSocketProtocols,
    header: Option<String>,
    client: worker::actor::ClientInfo,
) {
    let GraphqlState { schema, engine, connections } = state;
    let (mut sink, incoming) = socket.split();
    let heard = Arc::new(Mutex::new(Instant::now()));
    let heard_in = heard.clone();
    let input = incoming.take_while(|m| futures::future::ready(m.is_ok())).filter_map(move |m| {
        if let Ok(mut h) = heard_in.lock() {
            *h = Instant::now();
        }
        futures::future::ready(match m {
            Ok(Message::Text(t)) => Some(t.as_bytes().to_vec()),
            Ok(Message::Binary(b)) => Some(b.to_vec()),
            _ => None,
        })
    });

    let (accepted_tx, mut accepted) = oneshot::channel::<Actor>();
    // Why `connection_init` was refused, once it was.
    let refused: Arc<Mutex<Option<String>>> = Arc::default();
    let on_init = {
        let engine = engine.clone();
        let refused = refused.clone();
        move |payload: serde_json::Value| async move {
            let refuse = |msg: &str| {
                if let Ok(mut r) = refused.lock() {
                    *r = Some(msg.to_owned());
                }
                async_graphql::Error::new(msg)
            };
            let Some(token) = init_token(&payload, header.as_deref()) else {
                return Err(refuse("Forbidden: send connection_init with {\"authorization\": \"Bearer <token>\"}"));
            };
            match engine.authenticate(&token).await {
                Ok(actor) => {
                    let mut data = Data::default();
                    data.insert(Caller::User(actor));
                    data.insert(Loaders::new(&engine));
                    data.insert(client);
                    let _ = accepted_tx.send(actor);
                    Ok(data)
                }
                Err(worker::Error::Unauthenticated(_)) => Err(refuse("Forbidden: the token is invalid or revoked")),
                Err(e) => {
                    tracing::error!(error = ?e, "authentication lookup failed");
                    Err(refuse("Forbidden: authentication is unavailable; retry"))
                }
            }
        }
    };
    // Boxed so that it can be dropped (with the subscriptions it runs) before the connection's end is recorded.
    let mut gql =
        Box::pin(async_graphql::http::WebSocket::new(OwnTasks(schema), input, protocol).on_connection_init(on_init));

    let init_deadline = tokio::time::sleep(INIT_TIMEOUT);
    futures::pin_mut!(init_deadline);
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
    let mut actor: Option<Actor> = None;
    let mut registered: Option<(Uuid, watch::Receiver<bool>)> = None;
    let mut desktop: Option<Uuid> = None;
    // Recording the desktop connection, as a task of its own: this loop keeps polling `gql` meanwhile.
    let mut recording: Option<tokio::task::JoinHandle<worker::Result<Option<Uuid>>>> = None;
    let mut init_done = false;

    let ending: Option<Message> = loop {
        let revoked = async {
            match registered.as_mut() {
                Some((_, rx)) => {
                    let _ = rx.wait_for(|r| *r).await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        let recorded = async {
            match recording.as_mut() {
                Some(task) => task.await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            out = gql.next() => {
                let msg = match out {
                    None => break None,
                    Some(WsMessage::Text(t)) => Message::Text(t.into()),
                    Some(WsMessage::Close(code, reason)) => match why_refused(&refused) {
                        Some(why) => break Some(close(CLOSE_FORBIDDEN, &why)),
                        None => break Some(close(code, &reason)),
                    },
                };
                match tokio::time::timeout(SEND_TIMEOUT, sink.send(msg)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => break None,
                    Err(_) => break Some(close(CLOSE_TOO_SLOW, "too slow: resubscribe with `after`")),
                }
                // The legacy protocol refuses with a connection_error message and leaves the socket open.
                if actor.is_none()
                    && let Some(why) = why_refused(&refused)
                {
                    break Some(close(CLOSE_FORBIDDEN, &why));
                }
            }
            a = &mut accepted, if !init_done => {
                init_done = true;
                let Ok(a) = a else { continue };
                actor = Some(a);
                registered = Some(connections.add(&engine, a.token_id));
                // Not awaited here: the loop goes on serving the connection meanwhile.
                let engine = engine.clone();
                recording = Some(tokio::spawn(async move { engine.desktop_connected(&a).await }));
            }
            done = recorded => {
                recording = None;
                desktop = recorded_desktop(done);
            }
            _ = &mut init_deadline, if actor.is_none() => {
                break Some(close(CLOSE_INIT_TIMEOUT, "Connection initialisation timeout"));
            }
            _ = ping.tick() => {
                let silent = heard.lock().map(|h| h.elapsed()).unwrap_or_default();
                if silent > DEAD_AFTER {
                    tracing::info!("live connection silent past {DEAD_AFTER:?}; dropped");
                    break None;
                }
                match tokio::time::timeout(SEND_TIMEOUT, sink.send(Message::Ping(Default::default()))).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => break None,
                    Err(_) => break Some(close(CLOSE_TOO_SLOW, "too slow: resubscribe with `after`")),
                }
            }
            _ = revoked => {
                break Some(close(CLOSE_TOKEN_REVOKED, "the token was revoked or expired: sign in again"));
            }
        }
    };
    // The operations end first: nothing of theirs waits on this client's socket.
    drop(gql);
    if let Some(frame) = ending {
        let _ = tokio::time::timeout(Duration::from_secs(1), sink.send(frame)).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
    if let Some((id, _)) = registered {
        connections.remove(id);
    }
    if let Some(task) = recording {
        desktop = recorded_desktop(task.await);
    }
    if let Some(id) = desktop
        && let Err(e) = engine.desktop_closed(id).await
    {
        tracing::warn!(error = ?e, "cannot record the end of a desktop connection");
    }
}

/// The schema as a WebSocket connection runs it: each operation (subscriptions, and queries and mutations sent
/// over the socket) is driven by a task of its own and hands its results over through a small queue; dropping
/// the operation's stream (the client completes it, or the connection ends) aborts the task.
///
/// Why: the connection's loop polls its operations only between sending frames, and a frame to a slow client
/// can take up to [`SEND_TIMEOUT`]. A resolver's query waiting for a pooled connection in between would be
/// handed it (the pool serves its waiters in order, polled or not) and keep it that long, and on SQLite's pool
/// of 8 a reconnecting crowd held every connection that way (see `worker::db::detached`). Driven by its own task,
/// an operation blocks only on its queue, between two results, when it holds nothing.
#[derive(Clone)]
struct OwnTasks(crate::graphql::AppSchema);

/// Results an operation may run ahead of the connection that sends them.
const OPERATION_QUEUE: usize = 16;

impl async_graphql::Executor for OwnTasks {
    fn execute(&self, request: async_graphql::Request) -> impl Future<Output = async_graphql::Response> + Send {
        self.0.execute(request)
    }

    fn execute_stream(
        &self,
        request: async_graphql::Request,
        session_data: Option<Arc<Data>>,
    ) -> futures::stream::BoxStream<'static, async_graphql::Response> {
        let mut results = async_graphql::Executor::execute_stream(&self.0, request, session_data);
        let (tx, rx) = tokio::sync::mpsc::channel(OPERATION_QUEUE);
        let task = tokio::spawn(async move {
            while let Some(r) = results.next().await {
                // Boxed: the queue's slots are allocated 32 at a time, and an idle subscription should not pay
                // for 32 whole responses.
                if tx.send(Box::new(r)).await.is_err() {
                    break;
                }
            }
        });
        let driver = worker::runtime::AbortOnDrop(vec![task]);
        Box::pin(futures::stream::unfold((rx, driver), |(mut rx, driver)| async move {
            rx.recv().await.map(|r| (*r, (rx, driver)))
        }))
    }
}

/// The desktop connection's id once its recording task ended (`None`, logged, when it failed).
fn recorded_desktop(done: Result<worker::Result<Option<Uuid>>, tokio::task::JoinError>) -> Option<Uuid> {
    match done {
        Ok(Ok(id)) => id,
        Ok(Err(e)) => {
            tracing::warn!(error = ?e, "cannot record the desktop connection");
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot record the desktop connection");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_comes_from_the_init_payload_or_the_header() {
        let p = serde_json::json!({ "Authorization": "Bearer abc" });
        assert_eq!(init_token(&p, Some("Bearer zzz")).as_deref(), Some("abc"));
        assert_eq!(init_token(&serde_json::json!({}), Some("Bearer zzz")).as_deref(), Some("zzz"));
        assert_eq!(init_token(&serde_json::json!({ "authorization": "Bearer " }), None), None);
        assert_eq!(init_token(&serde_json::Value::Null, None), None);
    }
}
