//! A simulator of the Nova.ChatsConnector contract over a real socket, for the integration tests and for local
//! demos (`cargo run -p tests --bin provider-sim`). It answers verify and send the way `domain.md` says the provider
//! does (keys per number, deduplication by `clientMessageId`), records what it accepted, can be told to fail, go
//! down or slow down, and posts signed webhooks the way the provider would.
//!
//! The API is served both at the root (`sim.url()`) and under `/api` (`sim.url_with_path()`), so tests can prove
//! that an `apiUrl` with a path, with or without a trailing slash, is joined correctly; any other path is a 404.

use anyhow::Context;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use uuid::Uuid;
use worker::provider::signature::{self, SIGNATURE_HEADER, TIMESTAMP_HEADER};

/// A message the simulator accepted (once per `clientMessageId`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    /// The provider message id the simulator answered.
    pub id: String,
    pub from: String,
    pub to: String,
    pub text: String,
    pub client_message_id: Uuid,
}

#[derive(Debug, Clone)]
struct SimNumber {
    api_key: String,
    connected: bool,
}

#[derive(Debug, Default)]
struct SimState {
    numbers: HashMap<String, SimNumber>,
    sent: Vec<SentMessage>,
    by_client_id: HashMap<Uuid, String>,
    send_attempts: usize,
    verify_attempts: usize,
    /// The next `.0` requests answer status `.1`.
    fail_next: (usize, u16),
    down: bool,
    delay: Duration,
}

type Shared = Arc<Mutex<SimState>>;

fn lock(state: &Shared) -> MutexGuard<'_, SimState> {
    // A panicking test thread must not take the simulator down with it.
    state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The running simulator; it stops when dropped.
pub struct ProviderSim {
    addr: SocketAddr,
    state: Shared,
    http: reqwest::Client,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl ProviderSim {
    /// Starts on 127.0.0.1 with a random port; panics when it cannot (test support).
    pub async fn start() -> Self {
        let addr = SocketAddr::from(([127, 0, 0, 1], 0));
        Self::start_on(addr).await.unwrap_or_else(|e| panic!("cannot start the provider simulator: {e:#}"))
    }

    /// Starts on the given address (port 0 picks a free one).
    pub async fn start_on(addr: SocketAddr) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
        let addr = listener.local_addr()?;
        let state = Shared::default();
        let api = Router::new().route("/v1/numbers/{number}", get(verify)).route("/v1/messages", post(send));
        let app = Router::new()
            .merge(api.clone())
            .nest("/api", api)
            .fallback(|| async { error(StatusCode::NOT_FOUND, "no such endpoint") })
            .layer(middleware::from_fn_with_state(state.clone(), gate))
            .with_state(state.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let served = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = rx.await;
            });
            if let Err(e) = served.await {
                tracing::error!(error = %e, "provider simulator stopped");
            }
        });
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
        Ok(Self { addr, state, http, shutdown: Some(tx) })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL, without a trailing slash: `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The same API under a path: `http://127.0.0.1:<port>/api`.
    pub fn url_with_path(&self) -> String {
        format!("{}/api", self.url())
    }

    /// Registers (or replaces) a number with its API key.
    pub fn add_number(&self, e164: &str, api_key: &str, connected: bool) {
        lock(&self.state).numbers.insert(e164.to_owned(), SimNumber { api_key: api_key.to_owned(), connected });
    }

    /// Connects or disconnects a registered number.
    pub fn set_connected(&self, e164: &str, connected: bool) {
        if let Some(n) = lock(&self.state).numbers.get_mut(e164) {
            n.connected = connected;
        }
    }

    /// Forgets a number: verify answers 404 for it from now on.
    pub fn remove_number(&self, e164: &str) {
        lock(&self.state).numbers.remove(e164);
    }

    /// The messages accepted so far, in order, each once.
    pub fn sent(&self) -> Vec<SentMessage> {
        lock(&self.state).sent.clone()
    }

    /// Every `POST /v1/messages` received, including failed and duplicate ones.
    pub fn send_attempts(&self) -> usize {
        lock(&self.state).send_attempts
    }

    /// Every `GET /v1/numbers/...` received, including failed ones.
    pub fn verify_attempts(&self) -> usize {
        lock(&self.state).verify_attempts
    }

    /// The next `n` requests (of any kind) answer `status`; a 429 carries `Retry-After: 1`.
    pub fn fail_next(&self, n: usize, status: u16) {
        lock(&self.state).fail_next = (n, status);
    }

    /// While down, every request answers 503.
    pub fn set_down(&self, down: bool) {
        lock(&self.state).down = down;
    }

    /// Every answer is delayed by this much (zero for none).
    pub fn set_delay(&self, delay: Duration) {
        lock(&self.state).delay = delay;
    }

    /// Posts `body` to `webhook_url` signed with `signing_key` the way the provider does: `(status, body)`.
    pub async fn post_webhook(&self, webhook_url: &str, signing_key: &str, body: &Value) -> (u16, String) {
        send_signed_webhook(&self.http, webhook_url, signing_key, body)
            .await
            .unwrap_or_else(|e| panic!("cannot post the webhook to {webhook_url}: {e:#}"))
    }

    /// Posts raw bytes with exactly the given headers (no signature added): for tests of refused webhooks.
    pub async fn post_webhook_raw(&self, url: &str, headers: Vec<(String, String)>, body: Vec<u8>) -> (u16, String) {
        post_raw(&self.http, url, headers, body)
            .await
            .unwrap_or_else(|e| panic!("cannot post the webhook to {url}: {e:#}"))
    }
}

impl Drop for ProviderSim {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The headers the provider sends with a webhook body: content type, timestamp and signature.
pub fn signed_headers(signing_key: &str, timestamp: i64, body: &[u8]) -> Vec<(String, String)> {
    vec![
        ("content-type".to_owned(), "application/json".to_owned()),
        (TIMESTAMP_HEADER.to_owned(), timestamp.to_string()),
        (SIGNATURE_HEADER.to_owned(), signature::sign(signing_key, timestamp, body)),
    ]
}

/// Posts `body` signed now with `signing_key`: `(status, response body)`.
pub async fn send_signed_webhook(
    http: &reqwest::Client,
    webhook_url: &str,
    signing_key: &str,
    body: &Value,
) -> anyhow::Result<(u16, String)> {
    let raw = serde_json::to_vec(body)?;
    let headers = signed_headers(signing_key, chrono::Utc::now().timestamp(), &raw);
    post_raw(http, webhook_url, headers, raw).await
}

async fn post_raw(
    http: &reqwest::Client,
    url: &str,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
) -> anyhow::Result<(u16, String)> {
    let mut req = http.post(url).body(body);
    for (name, value) in headers {
        req = req.header(name, value);
    }
    let resp = req.send().await?;
    let status = resp.status().as_u16();
    Ok((status, resp.text().await?))
}

/// A `message` webhook body: a client (`from`) wrote `text` to our number (`to`), now.
pub fn message_event(id: &str, to: &str, from: &str, text: &str) -> Value {
    json!({
        "type": "message",
        "id": id,
        "to": to,
        "from": from,
        "timestamp": chrono::Utc::now().timestamp(),
        "text": text,
    })
}

/// A `status` webhook body for an outbound message's provider id; `status` is sent, delivered, read or failed.
pub fn status_event(id: &str, status: &str, error: Option<&str>) -> Value {
    let mut v = json!({ "type": "status", "id": id, "status": status });
    if let Some(e) = error {
        v["error"] = json!(e);
    }
    v
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

/// Counts requests, applies the delay, and answers for the failure controls before the real handlers run.
async fn gate(State(state): State<Shared>, req: Request, next: Next) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let (delay, forced) = {
        let mut s = lock(&state);
        if method == Method::POST && path.ends_with("/v1/messages") {
            s.send_attempts += 1;
        } else if method == Method::GET && path.contains("/v1/numbers/") {
            s.verify_attempts += 1;
        }
        let forced = if s.down {
            Some(503)
        } else if s.fail_next.0 > 0 {
            s.fail_next.0 -= 1;
            Some(s.fail_next.1)
        } else {
            None
        };
        (s.delay, forced)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let resp = match forced.map(|c| StatusCode::from_u16(c).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)) {
        Some(StatusCode::SERVICE_UNAVAILABLE) => error(StatusCode::SERVICE_UNAVAILABLE, "provider down (simulated)"),
        Some(StatusCode::TOO_MANY_REQUESTS) => {
            let mut r = error(StatusCode::TOO_MANY_REQUESTS, "rate limited (simulated)");
            r.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
            r
        }
        Some(code) => error(code, "simulated failure"),
        None => next.run(req).await,
    };
    tracing::info!(target: "provider_sim", %method, %path, status = resp.status().as_u16(), "provider-sim");
    resp
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ")
}

async fn verify(State(state): State<Shared>, Path(number): Path<String>, headers: HeaderMap) -> Response {
    let Some(n) = lock(&state).numbers.get(&number).cloned() else {
        return error(StatusCode::NOT_FOUND, "unknown number");
    };
    if bearer(&headers) != Some(n.api_key.as_str()) {
        return error(StatusCode::UNAUTHORIZED, "invalid api key");
    }
    let state = if n.connected { "connected" } else { "disconnected" };
    (StatusCode::OK, axum::Json(json!({ "number": number, "state": state }))).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SendBody {
    from: String,
    to: String,
    text: String,
    client_message_id: Uuid,
}

async fn send(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let msg: SendBody = match serde_json::from_slice(&body) {
        Ok(m) => m,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("invalid body: {e}")),
    };
    let mut s = lock(&state);
    let Some(n) = s.numbers.get(&msg.from) else {
        return error(StatusCode::UNAUTHORIZED, "invalid api key for this number");
    };
    if bearer(&headers) != Some(n.api_key.as_str()) {
        return error(StatusCode::UNAUTHORIZED, "invalid api key for this number");
    }
    let connected = n.connected;
    // A retry of an accepted send gets the same id, whatever happened since.
    if let Some(id) = s.by_client_id.get(&msg.client_message_id) {
        return (StatusCode::ACCEPTED, axum::Json(json!({ "id": id }))).into_response();
    }
    if !connected {
        return error(StatusCode::UNPROCESSABLE_ENTITY, "the number is disconnected");
    }
    if msg.to.trim().is_empty() || msg.text.is_empty() {
        return error(StatusCode::UNPROCESSABLE_ENTITY, "to and text are required");
    }
    let id = format!("nova-{}", Uuid::new_v4().simple());
    s.by_client_id.insert(msg.client_message_id, id.clone());
    s.sent.push(SentMessage {
        id: id.clone(),
        from: msg.from,
        to: msg.to,
        text: msg.text,
        client_message_id: msg.client_message_id,
    });
    tracing::info!(target: "provider_sim", provider_message_id = %id, "message accepted");
    (StatusCode::ACCEPTED, axum::Json(json!({ "id": id }))).into_response()
}
