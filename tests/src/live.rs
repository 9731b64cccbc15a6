//! A real GraphQL-over-WebSocket client for tests and load generators: `graphql-transport-ws` or the legacy
//! `graphql-ws`, over a real socket.

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const TRANSPORT_WS: &str = "graphql-transport-ws";
pub const LEGACY_WS: &str = "graphql-ws";

/// What the server sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Json(Value),
    Closed(Option<u16>, String),
}

pub struct LiveClient {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub protocol: &'static str,
}

impl LiveClient {
    /// Opens the socket (no `connection_init` yet). `header` is sent as `Authorization` on the upgrade.
    pub async fn open(addr: SocketAddr, protocol: &'static str, header: Option<&str>) -> anyhow::Result<Self> {
        let headers: Vec<(&str, &str)> = header.map(|h| ("authorization", h)).into_iter().collect();
        Self::open_url(&format!("ws://{addr}/graphql"), protocol, &headers).await
    }

    /// Opens the socket at `url` (no `connection_init` yet), sending `headers` on the upgrade request.
    pub async fn open_url(url: &str, protocol: &'static str, headers: &[(&str, &str)]) -> anyhow::Result<Self> {
        let mut req = url.into_client_request()?;
        req.headers_mut().insert("sec-websocket-protocol", HeaderValue::from_static(protocol));
        for (name, value) in headers {
            req.headers_mut().insert(
                tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes())?,
                HeaderValue::from_str(value)?,
            );
        }
        let (ws, _) = tokio_tungstenite::connect_async(req).await?;
        Ok(Self { ws, protocol })
    }

    /// Sends `connection_init` with the token and waits for the acknowledgement.
    pub async fn init_with_token(&mut self, token: &str) -> anyhow::Result<()> {
        self.init(json!({ "authorization": format!("Bearer {token}") })).await?;
        match self.next(Duration::from_secs(10)).await {
            Some(Frame::Json(m)) if m["type"] == "connection_ack" => Ok(()),
            other => anyhow::bail!("no connection_ack: {other:?}"),
        }
    }

    /// Opens, sends `connection_init` with the token and waits for the acknowledgement.
    pub async fn connect(addr: SocketAddr, protocol: &'static str, token: &str) -> anyhow::Result<Self> {
        let mut c = Self::open(addr, protocol, None).await?;
        c.init_with_token(token).await?;
        Ok(c)
    }

    pub async fn send_json(&mut self, v: Value) -> anyhow::Result<()> {
        self.ws.send(Message::Text(v.to_string().into())).await?;
        Ok(())
    }

    pub async fn init(&mut self, payload: Value) -> anyhow::Result<()> {
        self.send_json(json!({ "type": "connection_init", "payload": payload })).await
    }

    /// Starts a subscription under `id`.
    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) -> anyhow::Result<()> {
        let ty = if self.protocol == TRANSPORT_WS { "subscribe" } else { "start" };
        self.send_json(json!({ "id": id, "type": ty, "payload": { "query": query, "variables": variables } })).await
    }

    /// The next text message or the close, skipping pings and pongs; `None` after `limit`.
    pub async fn next(&mut self, limit: Duration) -> Option<Frame> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.ws.next()).await.ok()?;
            match msg {
                None => return Some(Frame::Closed(None, String::new())),
                Some(Err(e)) => return Some(Frame::Closed(None, e.to_string())),
                Some(Ok(Message::Text(t))) => {
                    return Some(Frame::Json(serde_json::from_str(t.as_str()).unwrap_or(Value::Null)));
                }
                Some(Ok(Message::Close(f))) => {
                    return Some(match f {
                        Some(f) => Frame::Closed(Some(u16::from(f.code)), f.reason.to_string()),
                        None => Frame::Closed(None, String::new()),
                    });
                }
                Some(Ok(_)) => continue,
            }
        }
    }

    /// The data of the next result of subscription `id` (protocol messages of other kinds are skipped);
    /// panics with what came instead when none comes within `limit`.
    pub async fn event(&mut self, id: &str, limit: Duration) -> Value {
        match self.try_event(id, limit).await {
            Ok(v) => v,
            Err(e) => panic!("no event on subscription {id}: {e}"),
        }
    }

    pub async fn try_event(&mut self, id: &str, limit: Duration) -> Result<Value, String> {
        let payload = self.payload(id, limit).await?;
        if let Some(errors) = payload.get("errors") {
            return Err(format!("errors: {errors}"));
        }
        Ok(payload["data"].clone())
    }

    /// The whole payload (`data` and `errors`) of the next result of operation `id`: what a query or mutation
    /// sent with [`LiveClient::subscribe`] answers, errors included.
    pub async fn payload(&mut self, id: &str, limit: Duration) -> Result<Value, String> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                None => return Err("timed out".into()),
                Some(Frame::Closed(code, reason)) => return Err(format!("closed {code:?} {reason}")),
                Some(Frame::Json(m)) => {
                    let is_result = m["type"] == "next" || m["type"] == "data";
                    if is_result && m["id"] == id {
                        return Ok(m["payload"].clone());
                    }
                    if m["type"] == "error" && m["id"] == id {
                        return Err(format!("error: {}", m["payload"]));
                    }
                }
            }
        }
    }

    /// Waits for the server to close; returns its code and reason.
    pub async fn closed(&mut self, limit: Duration) -> Option<(Option<u16>, String)> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await? {
                Frame::Closed(code, reason) => return Some((code, reason)),
                Frame::Json(_) => continue,
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}
