//! A chatbot over a real socket, for the integration tests and for local demos (`cargo run -p tests --bin
//! chatbot-sim`). It receives the product's posts at `/bot` the way `domain.md` says a chatbot does: it checks the
//! signature (`X-Timestamp`, `X-Signature` keyed by the bot's signing secret, the product's own rule), drops a
//! repeat `Idempotency-Key`, answers 200 at once, and only then acts back through the product's GraphQL API with
//! the bot's bearer token. It records every post and every action, and can be told to fail, go down or slow down.
//!
//! The product reveals the bot's token and signing secret only once the bot exists, and the bot needs the sim's URL
//! to be created, so the sim starts unconfigured (every post answers 401) and is configured afterwards:
//!
//! ```ignore
//! let bot = ChatbotSim::start().await;
//! // create the chatbot with `endpointUrl: bot.url()`, which reveals its token and signing secret
//! bot.configure(&format!("{}/graphql", app.base), &token, &signing_secret);
//! // ... a client writes to a channel the bot serves ...
//! bot.wait_for_accepted(1, Duration::from_secs(10)).await?;
//! let actions = bot.wait_for_actions(2, Duration::from_secs(10)).await?; // the greeting, then the echo
//! ```
//!
//! In [`Mode::Echo`] (the default) the bot, for each accepted `message` post, in the order it accepted them:
//! - text `agent` (trimmed, any case): `sendMessage` "Connecting you to an agent." then `handOffConversation`;
//! - text `bye`: `resolveConversation`;
//! - anything else: on the first message of a conversation it acts on, a greeting (`Hi, NAME! I am a bot. ...`),
//!   then for every message `You said: TEXT`.
//!
//! In [`Mode::Silent`] it answers 200 and does nothing.

use anyhow::Context;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use worker::provider::signature::{self, BOT_IDEMPOTENCY_HEADER, BOT_SIGNATURE_HEADER, BOT_TIMESTAMP_HEADER};

/// The mutation the bot answers with: `$c` the conversation, `$t` the text.
pub const SEND_MESSAGE: &str = "mutation($c: ID!, $t: String!) { sendMessage(conversationId: $c, text: $t) { id } }";
/// The mutation the bot hands a conversation to the agents with.
pub const HAND_OFF_CONVERSATION: &str = "mutation($id: ID!) { handOffConversation(id: $id) { id status } }";
/// The mutation the bot closes a conversation with.
pub const RESOLVE_CONVERSATION: &str = "mutation($id: ID!) { resolveConversation(id: $id) { id status } }";

/// What the bot says before handing off on `agent`.
pub const HAND_OFF_TEXT: &str = "Connecting you to an agent.";

/// How the bot behaves on an accepted post.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Greets, echoes, hands off on `agent`, resolves on `bye`.
    #[default]
    Echo,
    /// Answers 200 and does nothing.
    Silent,
}

/// A request received at `/bot`, whatever was answered.
#[derive(Debug, Clone)]
pub struct ReceivedPost {
    /// The body as JSON; `Null` when it is not JSON.
    pub body: Value,
    /// The body as received (lossy UTF-8).
    pub raw: String,
    pub idempotency_key: Option<String>,
    /// The `X-Timestamp` header.
    pub timestamp: Option<String>,
    /// The `X-Signature` header.
    pub signature: Option<String>,
    /// Whether the signature verified against the configured secret (false while unconfigured).
    pub signature_valid: bool,
    /// A valid post whose `Idempotency-Key` had already been accepted.
    pub duplicate: bool,
    /// The status the sim answered.
    pub answered: u16,
    /// When it arrived.
    pub at: Instant,
}

impl ReceivedPost {
    /// The body's `type` (`message`, `ping`, ...).
    pub fn kind(&self) -> Option<&str> {
        self.body.get("type")?.as_str()
    }

    pub fn conversation_id(&self) -> Option<&str> {
        self.body.get("conversationId")?.as_str()
    }

    /// The client's text of a `message` post.
    pub fn text(&self) -> Option<&str> {
        self.body.pointer("/message/text")?.as_str()
    }

    /// Valid, not a duplicate, answered 200.
    pub fn is_accepted(&self) -> bool {
        self.signature_valid && !self.duplicate && self.answered == 200
    }

    /// One line for logs and timeout errors.
    fn brief(&self) -> String {
        format!(
            "{} {} conversation={} text={:?} key={} signature_ok={} duplicate={}",
            self.answered,
            self.kind().unwrap_or("<no type>"),
            self.conversation_id().unwrap_or("-"),
            self.text().unwrap_or(""),
            self.idempotency_key.as_deref().unwrap_or("-"),
            self.signature_valid,
            self.duplicate,
        )
    }
}

/// A GraphQL call the bot made, with its outcome.
#[derive(Debug, Clone)]
pub struct Action {
    pub conversation_id: String,
    /// `sendMessage`, `handOffConversation` or `resolveConversation`.
    pub kind: &'static str,
    /// The text of a `sendMessage`.
    pub text: Option<String>,
    /// The answer's `data`, or `CODE: message` (the first GraphQL error's `extensions.code` and message; `NETWORK`
    /// or `HTTP_<status>` when there was no GraphQL answer).
    pub result: Result<Value, String>,
}

impl Action {
    pub fn is_ok(&self) -> bool {
        self.result.is_ok()
    }

    fn brief(&self) -> String {
        let outcome = match &self.result {
            Ok(_) => "ok".to_owned(),
            Err(e) => format!("failed: {e}"),
        };
        match &self.text {
            Some(t) => format!("{} {} {t:?}: {outcome}", self.kind, self.conversation_id),
            None => format!("{} {}: {outcome}", self.kind, self.conversation_id),
        }
    }
}

/// What the product revealed about the bot. Never logged.
struct Credentials {
    graphql_url: String,
    token: String,
    signing_secret: String,
}

#[derive(Default)]
struct SimState {
    credentials: Option<Arc<Credentials>>,
    mode: Mode,
    /// The next `.0` posts answer status `.1`.
    fail_next: (usize, u16),
    down: bool,
    delay: Duration,
    posts: Vec<ReceivedPost>,
    /// Requests that reached `/bot`, counted on arrival (before any delay): a post in flight is counted.
    arrivals: usize,
    accepted_keys: HashSet<String>,
    /// Conversations the bot has greeted (acted on) already.
    greeted: HashSet<String>,
    actions: Vec<Action>,
}

type Shared = Arc<Mutex<SimState>>;

fn lock(state: &Shared) -> MutexGuard<'_, SimState> {
    // A panicking test thread must not take the simulator down with it.
    state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// An accepted message the bot will act on.
#[derive(Debug)]
struct Job {
    conversation_id: String,
    text: String,
    name: Option<String>,
    first: bool,
}

#[derive(Clone)]
struct AppState {
    state: Shared,
    jobs: mpsc::UnboundedSender<Job>,
}

/// The running simulator; it stops (server and pending actions) when dropped.
pub struct ChatbotSim {
    addr: SocketAddr,
    state: Shared,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    actor: tokio::task::JoinHandle<()>,
}

impl ChatbotSim {
    /// Starts on 127.0.0.1 with a random port; panics when it cannot (test support).
    pub async fn start() -> Self {
        let addr = SocketAddr::from(([127, 0, 0, 1], 0));
        Self::start_on(addr).await.unwrap_or_else(|e| panic!("cannot start the chatbot simulator: {e:#}"))
    }

    /// Starts on the given address (port 0 picks a free one).
    pub async fn start_on(addr: SocketAddr) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
        let addr = listener.local_addr()?;
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
        let state = Shared::default();
        let (jobs, queue) = mpsc::unbounded_channel();
        let app = Router::new()
            .route("/bot", post(receive))
            .fallback(|| async { error(StatusCode::NOT_FOUND, "no such endpoint") })
            .with_state(AppState { state: state.clone(), jobs });
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let served = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = rx.await;
            });
            if let Err(e) = served.await {
                tracing::error!(error = %e, "chatbot simulator stopped");
            }
        });
        let actor = tokio::spawn(act(state.clone(), http, queue));
        Ok(Self { addr, state, shutdown: Some(tx), actor })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The endpoint URL to give the chatbot as `endpointUrl`: `http://127.0.0.1:<port>/bot`.
    pub fn url(&self) -> String {
        format!("http://{}/bot", self.addr)
    }

    /// Sets (or replaces) what the product revealed: its GraphQL URL, the bot's token and its signing secret.
    pub fn configure(&self, graphql_url: &str, token: &str, signing_secret: &str) {
        lock(&self.state).credentials = Some(Arc::new(Credentials {
            graphql_url: graphql_url.to_owned(),
            token: token.to_owned(),
            signing_secret: signing_secret.to_owned(),
        }));
    }

    pub fn set_mode(&self, mode: Mode) {
        lock(&self.state).mode = mode;
    }

    /// The next `n` posts answer `status` without acting or counting as accepted; a 429 carries `Retry-After: 1`.
    pub fn fail_next(&self, n: usize, status: u16) {
        lock(&self.state).fail_next = (n, status);
    }

    /// While down, every post answers 503.
    pub fn set_down(&self, down: bool) {
        lock(&self.state).down = down;
    }

    /// Every answer is delayed by this much (zero for none).
    pub fn set_delay(&self, delay: Duration) {
        lock(&self.state).delay = delay;
    }

    /// Requests that have reached `/bot`, including those still being answered (see `set_delay`).
    pub fn arrivals(&self) -> usize {
        lock(&self.state).arrivals
    }

    /// Every request received at `/bot`, in arrival order, whatever was answered.
    pub fn posts(&self) -> Vec<ReceivedPost> {
        lock(&self.state).posts.clone()
    }

    /// The posts that were valid, not duplicates, and answered 200.
    pub fn accepted(&self) -> Vec<ReceivedPost> {
        lock(&self.state).posts.iter().filter(|p| p.is_accepted()).cloned().collect()
    }

    /// The client texts of the accepted `message` posts of a conversation, in order.
    pub fn accepted_texts(&self, conversation_id: &str) -> Vec<String> {
        lock(&self.state)
            .posts
            .iter()
            .filter(|p| p.is_accepted() && p.kind() == Some("message") && p.conversation_id() == Some(conversation_id))
            .map(|p| p.text().unwrap_or_default().to_owned())
            .collect()
    }

    /// The GraphQL calls made so far, in order, with their outcomes.
    pub fn actions(&self) -> Vec<Action> {
        lock(&self.state).actions.clone()
    }

    /// Waits until at least `n` posts were accepted; the error lists every post received.
    pub async fn wait_for_accepted(&self, n: usize, timeout: Duration) -> anyhow::Result<Vec<ReceivedPost>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let accepted = self.accepted();
            if accepted.len() >= n {
                return Ok(accepted);
            }
            if tokio::time::Instant::now() >= deadline {
                let posts = self.posts();
                let list: Vec<String> = posts.iter().map(|p| format!("\n  {}", p.brief())).collect();
                anyhow::bail!(
                    "expected {n} accepted posts within {timeout:?}, got {} (of {} received):{}",
                    accepted.len(),
                    posts.len(),
                    list.concat()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until at least `n` actions were made (successful or not); the error lists them.
    pub async fn wait_for_actions(&self, n: usize, timeout: Duration) -> anyhow::Result<Vec<Action>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let actions = self.actions();
            if actions.len() >= n {
                return Ok(actions);
            }
            if tokio::time::Instant::now() >= deadline {
                let list: Vec<String> = actions.iter().map(|a| format!("\n  {}", a.brief())).collect();
                anyhow::bail!(
                    "expected {n} actions within {timeout:?}, got {} (after {} accepted posts):{}",
                    actions.len(),
                    self.accepted().len(),
                    list.concat()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for ChatbotSim {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.actor.abort();
    }
}

fn error(status: StatusCode, code: &str) -> Response {
    (status, axum::Json(json!({ "error": code }))).into_response()
}

fn header_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// `POST /bot`: the failure controls, the delay, the signature, deduplication; then queues the work and answers.
async fn receive(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let at = Instant::now();
    let (delay, forced) = {
        let mut s = lock(&app.state);
        s.arrivals += 1;
        let forced = if s.down {
            Some(StatusCode::SERVICE_UNAVAILABLE)
        } else if s.fail_next.0 > 0 {
            s.fail_next.0 -= 1;
            Some(StatusCode::from_u16(s.fail_next.1).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        } else {
            None
        };
        (s.delay, forced)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mut post = ReceivedPost {
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        raw: String::from_utf8_lossy(&body).into_owned(),
        idempotency_key: header_value(&headers, BOT_IDEMPOTENCY_HEADER),
        timestamp: header_value(&headers, BOT_TIMESTAMP_HEADER),
        signature: header_value(&headers, BOT_SIGNATURE_HEADER),
        signature_valid: false,
        duplicate: false,
        answered: 0,
        at,
    };
    let (status, answer) = {
        let mut s = lock(&app.state);
        let checked = s.credentials.as_ref().map(|c| {
            let now = chrono::Utc::now().timestamp();
            signature::verify(&c.signing_secret, post.timestamp.as_deref(), post.signature.as_deref(), &body, now)
        });
        post.signature_valid = matches!(checked, Some(Ok(())));
        let answer = match (forced, checked) {
            (Some(StatusCode::SERVICE_UNAVAILABLE), _) => {
                (StatusCode::SERVICE_UNAVAILABLE, json!({ "error": "chatbot down (simulated)" }))
            }
            (Some(code), _) => (code, json!({ "error": "simulated failure" })),
            (None, None) => (StatusCode::UNAUTHORIZED, json!({ "error": "NOT_CONFIGURED" })),
            (None, Some(Err(e))) => (StatusCode::UNAUTHORIZED, json!({ "error": e.code() })),
            (None, Some(Ok(()))) => accept(&mut s, &app.jobs, &mut post),
        };
        post.answered = answer.0.as_u16();
        tracing::info!(
            target: "chatbot_sim",
            status = post.answered,
            kind = post.kind().unwrap_or("-"),
            conversation = post.conversation_id().unwrap_or("-"),
            text = post.text().unwrap_or(""),
            signature_ok = post.signature_valid,
            duplicate = post.duplicate,
            "chatbot-sim post"
        );
        s.posts.push(post);
        answer
    };
    let mut resp = (status, axum::Json(answer)).into_response();
    if status == StatusCode::TOO_MANY_REQUESTS {
        resp.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    }
    resp
}

/// A post whose signature verified: a duplicate, a malformed message, or accepted (queued for the bot to act on
/// once the answer is on its way).
fn accept(s: &mut SimState, jobs: &mpsc::UnboundedSender<Job>, post: &mut ReceivedPost) -> (StatusCode, Value) {
    if let Some(key) = &post.idempotency_key
        && s.accepted_keys.contains(key)
    {
        post.duplicate = true;
        return (StatusCode::OK, json!({ "ok": true, "duplicate": true }));
    }
    let job = if post.kind() == Some("message") {
        let Some(conversation_id) = post.conversation_id() else {
            return (StatusCode::BAD_REQUEST, json!({ "error": "BAD_BODY", "message": "conversationId is required" }));
        };
        let name = post.body.pointer("/contact/name").and_then(Value::as_str).filter(|n| !n.trim().is_empty());
        Some(Job {
            conversation_id: conversation_id.to_owned(),
            text: post.text().unwrap_or_default().to_owned(),
            name: name.map(str::to_owned),
            first: false,
        })
    } else {
        // A ping, or a type this bot does not know: answered and ignored.
        None
    };
    if let Some(key) = &post.idempotency_key {
        s.accepted_keys.insert(key.clone());
    }
    if let Some(mut job) = job
        && s.mode == Mode::Echo
    {
        job.first = s.greeted.insert(job.conversation_id.clone());
        // The receiver lives as long as the sim; a send can only fail while it is being dropped.
        let _ = jobs.send(job);
    }
    (StatusCode::OK, json!({ "ok": true }))
}

/// What the bot does for a message, in order: `(mutation, text of a sendMessage)`.
fn plan(job: &Job) -> Vec<(&'static str, Option<String>)> {
    match job.text.trim().to_lowercase().as_str() {
        "agent" => vec![("sendMessage", Some(HAND_OFF_TEXT.to_owned())), ("handOffConversation", None)],
        "bye" => vec![("resolveConversation", None)],
        _ => {
            let mut steps = Vec::new();
            if job.first {
                let hi = match &job.name {
                    Some(name) => format!("Hi, {name}!"),
                    None => "Hi!".to_owned(),
                };
                steps.push(("sendMessage", Some(format!("{hi} I am a bot. Write \"agent\" to talk to a person."))));
            }
            steps.push(("sendMessage", Some(format!("You said: {}", job.text))));
            steps
        }
    }
}

/// The one background task that acts on accepted messages, strictly in the order they were accepted.
async fn act(state: Shared, http: reqwest::Client, mut queue: mpsc::UnboundedReceiver<Job>) {
    while let Some(job) = queue.recv().await {
        for (kind, text) in plan(&job) {
            // Read per call: the sim may have been reconfigured since the post was accepted.
            let credentials = lock(&state).credentials.clone();
            let result = call(&http, credentials.as_deref(), kind, &job.conversation_id, text.as_deref()).await;
            match &result {
                Ok(_) => tracing::info!(
                    target: "chatbot_sim",
                    action = kind,
                    conversation = %job.conversation_id,
                    text = text.as_deref().unwrap_or(""),
                    "chatbot-sim action ok"
                ),
                Err(e) => tracing::warn!(
                    target: "chatbot_sim",
                    action = kind,
                    conversation = %job.conversation_id,
                    text = text.as_deref().unwrap_or(""),
                    error = %e,
                    "chatbot-sim action failed"
                ),
            }
            lock(&state).actions.push(Action { conversation_id: job.conversation_id.clone(), kind, text, result });
        }
    }
}

/// One GraphQL mutation with the bot's token: the answer's `data`, or `CODE: message`.
async fn call(
    http: &reqwest::Client,
    credentials: Option<&Credentials>,
    kind: &'static str,
    conversation_id: &str,
    text: Option<&str>,
) -> Result<Value, String> {
    let Some(c) = credentials else {
        return Err("NOT_CONFIGURED: the simulator has no GraphQL URL and token".to_owned());
    };
    let (query, variables) = match kind {
        "sendMessage" => (SEND_MESSAGE, json!({ "c": conversation_id, "t": text.unwrap_or_default() })),
        "handOffConversation" => (HAND_OFF_CONVERSATION, json!({ "id": conversation_id })),
        _ => (RESOLVE_CONVERSATION, json!({ "id": conversation_id })),
    };
    let resp = http
        .post(&c.graphql_url)
        .bearer_auth(&c.token)
        .header(header::ACCEPT, "application/graphql-response+json, application/json")
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .map_err(|e| format!("NETWORK: {}", chain(&e)))?;
    let status = resp.status();
    let raw = resp.text().await.map_err(|e| format!("NETWORK: {}", chain(&e)))?;
    let short = || raw.chars().take(200).collect::<String>();
    let body: Value = serde_json::from_str(&raw).map_err(|_| format!("HTTP_{}: {}", status.as_u16(), short()))?;
    if let Some(first) = body.get("errors").and_then(Value::as_array).and_then(|a| a.first()) {
        let code = first.pointer("/extensions/code").and_then(Value::as_str).unwrap_or("ERROR");
        let message = first.get("message").and_then(Value::as_str).unwrap_or("");
        return Err(format!("{code}: {message}"));
    }
    if !status.is_success() {
        return Err(format!("HTTP_{}: {}", status.as_u16(), short()));
    }
    Ok(body.get("data").cloned().unwrap_or(Value::Null))
}

/// An error with its causes, `a: b: c`.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Json;

    const SECRET: &str = "bot-secret-123";
    const TOKEN: &str = "bot-token-456";

    /// A stub of the product's GraphQL API: records `(authorization, query, variables)` and answers `data`, or a
    /// FORBIDDEN error for any token but `TOKEN`.
    struct StubGraphql {
        url: String,
        calls: Arc<Mutex<Vec<(String, String, Value)>>>,
        _shutdown: tokio::sync::oneshot::Sender<()>,
    }

    impl StubGraphql {
        async fn start() -> Self {
            let calls: Arc<Mutex<Vec<(String, String, Value)>>> = Arc::default();
            let recorded = calls.clone();
            let app = Router::new().route(
                "/graphql",
                post(move |headers: HeaderMap, Json(req): Json<Value>| {
                    let recorded = recorded.clone();
                    async move {
                        let auth = header_value(&headers, "authorization").unwrap_or_default();
                        let query = req["query"].as_str().unwrap_or_default().to_owned();
                        let vars = req["variables"].clone();
                        recorded.lock().unwrap().push((auth.clone(), query.clone(), vars.clone()));
                        if auth != format!("Bearer {TOKEN}") {
                            return Json(json!({ "data": null, "errors": [
                                { "message": "not allowed", "extensions": { "code": "FORBIDDEN" } }
                            ] }));
                        }
                        let data = if query.contains("sendMessage") {
                            json!({ "sendMessage": { "id": "m1" } })
                        } else if query.contains("handOffConversation") {
                            json!({ "handOffConversation": { "id": vars["id"], "status": "QUEUED" } })
                        } else {
                            json!({ "resolveConversation": { "id": vars["id"], "status": "RESOLVED" } })
                        };
                        Json(json!({ "data": data }))
                    }
                }),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}/graphql", listener.local_addr().unwrap());
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            tokio::spawn(async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = rx.await;
                    })
                    .await
                    .unwrap();
            });
            Self { url, calls, _shutdown: tx }
        }

        fn calls(&self) -> Vec<(String, String, Value)> {
            self.calls.lock().unwrap().clone()
        }
    }

    fn message(conversation: &str, text: &str, name: Option<&str>) -> Value {
        json!({
            "type": "message",
            "conversationId": conversation,
            "channelId": uuid::Uuid::new_v4().to_string(),
            "message": { "id": uuid::Uuid::new_v4().to_string(), "text": text, "sentAt": chrono::Utc::now().to_rfc3339() },
            "contact": { "phoneNumber": "+14155550999", "name": name },
        })
    }

    /// Posts `body` signed with `secret` at `timestamp`: `(status, answer)`.
    async fn post_signed_at(url: &str, secret: &str, timestamp: i64, key: &str, body: &Value) -> (u16, Value) {
        let raw = serde_json::to_vec(body).unwrap();
        let resp = reqwest::Client::new()
            .post(url)
            .header("content-type", "application/json")
            .header(BOT_TIMESTAMP_HEADER, timestamp.to_string())
            .header(BOT_SIGNATURE_HEADER, signature::sign(secret, timestamp, &raw))
            .header(BOT_IDEMPOTENCY_HEADER, key)
            .body(raw)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn post_signed(url: &str, key: &str, body: &Value) -> (u16, Value) {
        post_signed_at(url, SECRET, chrono::Utc::now().timestamp(), key, body).await
    }

    async fn configured_sim(graphql_url: &str) -> ChatbotSim {
        let sim = ChatbotSim::start().await;
        sim.configure(graphql_url, TOKEN, SECRET);
        sim
    }

    #[tokio::test]
    async fn a_signed_ping_is_accepted_and_nothing_else_is_served() {
        let sim = configured_sim("http://127.0.0.1:9/graphql").await;
        assert!(sim.url().ends_with("/bot"));
        let (status, _) = post_signed(&sim.url(), "ping-1", &json!({ "type": "ping" })).await;
        assert_eq!(status, 200);
        let accepted = sim.wait_for_accepted(1, Duration::from_secs(5)).await.unwrap();
        assert_eq!(accepted[0].kind(), Some("ping"));
        assert!(accepted[0].signature_valid && !accepted[0].duplicate);
        // An unknown type is answered and ignored.
        let (status, _) = post_signed(&sim.url(), "other-1", &json!({ "type": "typing" })).await;
        assert_eq!(status, 200);
        assert!(sim.actions().is_empty());
        let other = format!("http://{}/other", sim.addr());
        let (status, _) = post_signed(&other, "x", &json!({ "type": "ping" })).await;
        assert_eq!(status, 404);
        assert_eq!(sim.posts().len(), 2, "only /bot is recorded");
    }

    #[tokio::test]
    async fn an_unconfigured_sim_answers_401() {
        let sim = ChatbotSim::start().await;
        let (status, answer) = post_signed(&sim.url(), "k", &json!({ "type": "ping" })).await;
        assert_eq!((status, answer["error"].as_str()), (401, Some("NOT_CONFIGURED")));
        sim.configure("http://127.0.0.1:9/graphql", TOKEN, SECRET);
        assert_eq!(post_signed(&sim.url(), "k", &json!({ "type": "ping" })).await.0, 200);
    }

    #[tokio::test]
    async fn a_badly_signed_post_is_refused_and_recorded_invalid() {
        let sim = configured_sim("http://127.0.0.1:9/graphql").await;
        let now = chrono::Utc::now().timestamp();
        let body = message("c1", "hello", None);
        let (status, answer) = post_signed_at(&sim.url(), "another-secret", now, "k1", &body).await;
        assert_eq!((status, answer["error"].as_str()), (401, Some("BAD_SIGNATURE")));
        let (status, answer) = post_signed_at(&sim.url(), SECRET, now - 3600, "k2", &body).await;
        assert_eq!((status, answer["error"].as_str()), (401, Some("STALE_TIMESTAMP")));
        let resp = reqwest::Client::new().post(sim.url()).json(&body).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 401);
        let posts = sim.posts();
        assert_eq!(posts.len(), 3);
        assert!(posts.iter().all(|p| !p.signature_valid && p.answered == 401));
        assert_eq!(posts[0].idempotency_key.as_deref(), Some("k1"));
        assert_eq!(posts[0].text(), Some("hello"));
        assert!(sim.accepted().is_empty());
    }

    #[tokio::test]
    async fn a_repeated_idempotency_key_is_a_duplicate() {
        let stub = StubGraphql::start().await;
        let sim = configured_sim(&stub.url).await;
        sim.set_mode(Mode::Silent);
        let body = message("c1", "hello", None);
        assert_eq!(post_signed(&sim.url(), "m-1", &body).await.0, 200);
        let (status, answer) = post_signed(&sim.url(), "m-1", &body).await;
        assert_eq!((status, answer["duplicate"].as_bool()), (200, Some(true)));
        let posts = sim.posts();
        assert_eq!(posts.iter().map(|p| p.duplicate).collect::<Vec<_>>(), [false, true]);
        assert_eq!(sim.accepted().len(), 1);
        assert_eq!(sim.accepted_texts("c1"), ["hello"]);
        // Silent: nothing was done. Actions run in acceptance order, so once a later message's actions are done,
        // any action for "c1" would have been done before them.
        sim.set_mode(Mode::Echo);
        assert_eq!(post_signed(&sim.url(), "m-2", &message("c2", "later", None)).await.0, 200);
        let actions = sim.wait_for_actions(2, Duration::from_secs(5)).await.unwrap();
        assert!(actions.iter().all(|a| a.conversation_id == "c2"), "{actions:?}");
        assert_eq!(stub.calls().len(), 2);
    }

    #[tokio::test]
    async fn failure_knobs_answer_their_status() {
        let sim = configured_sim("http://127.0.0.1:9/graphql").await;
        sim.fail_next(2, 500);
        let ping = json!({ "type": "ping" });
        assert_eq!(post_signed(&sim.url(), "a", &ping).await.0, 500);
        assert_eq!(post_signed(&sim.url(), "a", &ping).await.0, 500);
        assert_eq!(post_signed(&sim.url(), "a", &ping).await.0, 200, "the failed posts were not accepted");
        sim.set_down(true);
        assert_eq!(post_signed(&sim.url(), "b", &ping).await.0, 503);
        sim.set_down(false);
        sim.fail_next(1, 429);
        let resp = reqwest::Client::new().post(sim.url()).body("{}").send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 429);
        assert_eq!(resp.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
        sim.set_delay(Duration::from_millis(150));
        let started = Instant::now();
        assert_eq!(post_signed(&sim.url(), "c", &ping).await.0, 200);
        assert!(started.elapsed() >= Duration::from_millis(150));
        let answered: Vec<u16> = sim.posts().iter().map(|p| p.answered).collect();
        assert_eq!(answered, [500, 500, 200, 503, 429, 200]);
        assert_eq!(sim.accepted().len(), 2);
    }

    #[tokio::test]
    async fn echo_greets_then_echoes_and_hands_off_on_agent() {
        let stub = StubGraphql::start().await;
        let sim = configured_sim(&stub.url).await;
        assert_eq!(post_signed(&sim.url(), "m1", &message("c1", "hello", Some("Ana"))).await.0, 200);
        let actions = sim.wait_for_actions(2, Duration::from_secs(5)).await.unwrap();
        let texts: Vec<_> = actions.iter().map(|a| (a.kind, a.text.clone().unwrap_or_default())).collect();
        assert_eq!(
            texts,
            [
                ("sendMessage", "Hi, Ana! I am a bot. Write \"agent\" to talk to a person.".to_owned()),
                ("sendMessage", "You said: hello".to_owned()),
            ]
        );
        assert!(actions.iter().all(|a| a.is_ok() && a.conversation_id == "c1"));

        // Not the first message any more: no greeting. Then `agent`: a message and the hand-off.
        assert_eq!(post_signed(&sim.url(), "m2", &message("c1", "again", Some("Ana"))).await.0, 200);
        assert_eq!(post_signed(&sim.url(), "m3", &message("c1", "  Agent ", Some("Ana"))).await.0, 200);
        let actions = sim.wait_for_actions(5, Duration::from_secs(5)).await.unwrap();
        let tail: Vec<_> = actions[2..].iter().map(|a| (a.kind, a.text.clone())).collect();
        assert_eq!(
            tail,
            [
                ("sendMessage", Some("You said: again".to_owned())),
                ("sendMessage", Some(HAND_OFF_TEXT.to_owned())),
                ("handOffConversation", None),
            ]
        );
        assert_eq!(actions[4].result.as_ref().unwrap()["handOffConversation"]["status"], "QUEUED");

        // What the stub received: the bearer token, the contract's mutations and variables, in order.
        let calls = stub.calls();
        assert_eq!(calls.len(), 5);
        assert!(calls.iter().all(|(auth, _, _)| auth == &format!("Bearer {TOKEN}")));
        assert_eq!(calls[0].1, SEND_MESSAGE);
        assert_eq!(calls[1].2, json!({ "c": "c1", "t": "You said: hello" }));
        assert_eq!(calls[4].1, HAND_OFF_CONVERSATION);
        assert_eq!(calls[4].2, json!({ "id": "c1" }));
        assert_eq!(sim.accepted_texts("c1"), ["hello", "again", "  Agent "]);
    }

    #[tokio::test]
    async fn bye_resolves_and_graphql_errors_are_recorded() {
        let stub = StubGraphql::start().await;
        let sim = configured_sim(&stub.url).await;
        assert_eq!(post_signed(&sim.url(), "m1", &message("c2", "BYE", None)).await.0, 200);
        let actions = sim.wait_for_actions(1, Duration::from_secs(5)).await.unwrap();
        assert_eq!((actions[0].kind, actions[0].is_ok()), ("resolveConversation", true));
        assert_eq!(stub.calls()[0].1, RESOLVE_CONVERSATION);

        // A replaced (wrong) token: the stub refuses; the failure is recorded with its code. No name: "Hi!".
        sim.configure(&stub.url, "wrong-token", SECRET);
        assert_eq!(post_signed(&sim.url(), "m2", &message("c3", "hi", None)).await.0, 200);
        let actions = sim.wait_for_actions(3, Duration::from_secs(5)).await.unwrap();
        assert!(actions[1].text.as_deref().unwrap_or_default().starts_with("Hi! I am a bot."));
        assert_eq!(actions[1].result, Err("FORBIDDEN: not allowed".to_owned()));
        assert_eq!(actions[2].result, Err("FORBIDDEN: not allowed".to_owned()));
    }

    #[tokio::test]
    async fn a_timeout_lists_what_arrived() {
        let sim = configured_sim("http://127.0.0.1:9/graphql").await;
        sim.set_mode(Mode::Silent);
        assert_eq!(post_signed(&sim.url(), "m1", &message("c9", "only one", None)).await.0, 200);
        let err = sim.wait_for_accepted(2, Duration::from_millis(100)).await.unwrap_err().to_string();
        assert!(err.contains("got 1 (of 1 received)") && err.contains("only one"), "{err}");
    }
}
