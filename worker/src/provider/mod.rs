//! The WhatsApp provider behind a trait, so the engine speaks to "a provider" and Nova.ChatsConnector is one
//! adapter among those that may follow. This module holds what every caller shares: the [`Provider`] trait (verify a
//! number's API key, send a message), the error taxonomy the verify and send jobs act on (retry or give up, and the
//! reason code stored on the number), and the webhook body the provider posts to us. The HTTP adapter lives in
//! [`nova`]; the webhook signature rule in [`signature`].

pub mod nova;
pub mod signature;

pub use nova::NovaClient;

use crate::crypto::Secret;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::time::Duration;

/// What the provider says about a number whose key it accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NumberStatus {
    Connected,
    Disconnected,
}

/// One outbound text message. `client_message_id` is ours; the provider deduplicates by it, so a retried send is
/// safe as long as the same id is used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboundMessage {
    pub from: String,
    pub to: String,
    pub text: String,
    pub client_message_id: uuid::Uuid,
}

/// Why a provider call failed. Never carries the API key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// 401/403: the provider refused the API key.
    #[error("the provider refused the API key")]
    InvalidKey,
    /// 404: the provider does not know the number.
    #[error("the provider does not know this number")]
    UnknownNumber,
    /// 429: too many requests; `retry_after` is the provider's `Retry-After` (seconds) when it gave one.
    #[error("the provider is rate limiting requests")]
    RateLimited { retry_after: Option<Duration> },
    /// 5xx, timeouts, connection failures: worth retrying.
    #[error("the provider is unreachable: {0}")]
    Transient(String),
    /// Another 4xx: the provider understood and refused the request (e.g. 400/422 for a send).
    #[error("the provider rejected the request ({status}): {message}")]
    Rejected { status: u16, message: String },
    /// A 2xx (or an unexpected status) whose body does not follow the contract.
    #[error("the provider answered outside the contract: {0}")]
    Protocol(String),
    /// The channel's `apiUrl` cannot be turned into a request URL (not an absolute http/https URL).
    #[error("the provider URL is not usable: {0}")]
    InvalidUrl(String),
    /// The channel's `apiUrl` is, or resolves to, a loopback, private or link-local address and the deployment does
    /// not allow those (`APP_ALLOW_PRIVATE_URLS`). Not retried: only a new URL or setting changes the answer.
    #[error("the provider URL is refused: {0}")]
    PrivateAddress(String),
}

impl ProviderError {
    /// Worth retrying with backoff: rate limiting and transient failures.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::RateLimited { .. } | Self::Transient(_))
    }

    /// The provider's own wait hint, when it gave one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after } => *retry_after,
            _ => None,
        }
    }

    /// The reason code stored on a number whose verification failed, or on a message whose send failed.
    pub fn reason_code(&self) -> &'static str {
        match self {
            Self::InvalidKey => "INVALID_KEY",
            Self::UnknownNumber => "UNKNOWN_NUMBER",
            Self::RateLimited { .. } | Self::Transient(_) => "PROVIDER_UNREACHABLE",
            Self::Rejected { .. } => "REJECTED",
            Self::Protocol(_) => "PROTOCOL_ERROR",
            Self::InvalidUrl(_) => "INVALID_API_URL",
            Self::PrivateAddress(_) => "PRIVATE_ADDRESS",
        }
    }
}

/// A WhatsApp provider as the engine uses it. Object safe: hold it as `Arc<dyn Provider>` and swap in a fake or
/// another adapter.
pub trait Provider: Send + Sync {
    /// Asks the provider whether `api_key` is valid for the number `e164` and whether the number is connected.
    fn verify<'a>(
        &'a self,
        api_url: &'a str,
        e164: &'a str,
        api_key: &'a Secret,
    ) -> BoxFuture<'a, Result<NumberStatus, ProviderError>>;

    /// Sends one text message; returns the provider's message id (the id its status webhooks will carry).
    fn send<'a>(
        &'a self,
        api_url: &'a str,
        api_key: &'a Secret,
        msg: &'a OutboundMessage,
    ) -> BoxFuture<'a, Result<String, ProviderError>>;
}

/// Delivery status of an outbound message, as a status webhook reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    Sent,
    Delivered,
    Read,
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "sent" => Some(Self::Sent),
            "delivered" => Some(Self::Delivered),
            "read" => Some(Self::Read),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// A webhook body the provider posts to a channel's webhook URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum WebhookEvent {
    /// A client wrote to one of our numbers.
    Message {
        /// The provider's message id: redeliveries carry the same one.
        id: String,
        /// Our number (E.164).
        to: String,
        /// The client's number (E.164).
        from: String,
        /// Unix seconds at which the client sent it.
        timestamp: i64,
        text: String,
        #[serde(rename = "contactName", default, skip_serializing_if = "Option::is_none")]
        contact_name: Option<String>,
    },
    /// A delivery status change of a message we sent.
    Status {
        /// The provider message id `send` returned.
        id: String,
        status: DeliveryStatus,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
}

/// Why a webhook body was refused; the message names the offending field and is safe to return to the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct WebhookParseError {
    /// The field at fault, when one is (`None` when the body is not a JSON object at all).
    pub field: Option<&'static str>,
    pub message: String,
}

impl WebhookParseError {
    fn body(message: impl Into<String>) -> Self {
        Self { field: None, message: message.into() }
    }
    fn field(field: &'static str, message: impl Into<String>) -> Self {
        Self { field: Some(field), message: message.into() }
    }
}

/// Parses a webhook's raw body (after its signature was checked). Unknown extra fields are ignored so the
/// provider can add some; missing or mistyped ones are refused with the field's name.
pub fn parse_webhook(body: &[u8]) -> Result<WebhookEvent, WebhookParseError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| WebhookParseError::body(format!("body is not valid JSON: {e}")))?;
    let Value::Object(obj) = value else {
        return Err(WebhookParseError::body("body must be a JSON object"));
    };
    match required_str(&obj, "type")?.as_str() {
        "message" => Ok(WebhookEvent::Message {
            id: non_empty(&obj, "id")?,
            to: non_empty(&obj, "to")?,
            from: non_empty(&obj, "from")?,
            timestamp: match obj.get("timestamp") {
                None | Some(Value::Null) => return Err(missing("timestamp")),
                Some(v) => v.as_i64().ok_or_else(|| {
                    WebhookParseError::field("timestamp", "field `timestamp` must be an integer (unix seconds)")
                })?,
            },
            text: required_str(&obj, "text")?,
            contact_name: optional_str(&obj, "contactName")?,
        }),
        "status" => {
            let id = non_empty(&obj, "id")?;
            let status = required_str(&obj, "status")?;
            let status = DeliveryStatus::parse(&status).ok_or_else(|| {
                WebhookParseError::field("status", "field `status` must be one of sent, delivered, read, failed")
            })?;
            Ok(WebhookEvent::Status { id, status, error: optional_str(&obj, "error")? })
        }
        _ => Err(WebhookParseError::field("type", "field `type` must be \"message\" or \"status\"")),
    }
}

fn missing(field: &'static str) -> WebhookParseError {
    WebhookParseError::field(field, format!("missing field `{field}`"))
}

fn required_str(obj: &Map<String, Value>, field: &'static str) -> Result<String, WebhookParseError> {
    optional_str(obj, field)?.ok_or_else(|| missing(field))
}

fn non_empty(obj: &Map<String, Value>, field: &'static str) -> Result<String, WebhookParseError> {
    let s = required_str(obj, field)?;
    if s.trim().is_empty() {
        return Err(WebhookParseError::field(field, format!("field `{field}` must not be empty")));
    }
    Ok(s)
}

fn optional_str(obj: &Map<String, Value>, field: &'static str) -> Result<Option<String>, WebhookParseError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(WebhookParseError::field(field, format!("field `{field}` must be a string"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<WebhookEvent, WebhookParseError> {
        parse_webhook(v.to_string().as_bytes())
    }

    #[test]
    fn parses_a_message() {
        let e = parse(json!({"type":"message","id":"m1","to":"+14155550123","from":"+14155550999",
            "timestamp":1700000000,"text":"hi","contactName":"Ann","extra":true}))
        .unwrap();
        assert_eq!(
            e,
            WebhookEvent::Message {
                id: "m1".into(),
                to: "+14155550123".into(),
                from: "+14155550999".into(),
                timestamp: 1_700_000_000,
                text: "hi".into(),
                contact_name: Some("Ann".into()),
            }
        );
        // The serde shape is the same contract: round trip through the derived (de)serializer.
        let back: WebhookEvent = serde_json::from_value(serde_json::to_value(&e).unwrap()).unwrap();
        assert_eq!(back, e);
        assert_eq!(serde_json::to_value(&e).unwrap()["contactName"], "Ann");
    }

    #[test]
    fn parses_statuses() {
        for (s, want) in [
            ("sent", DeliveryStatus::Sent),
            ("delivered", DeliveryStatus::Delivered),
            ("read", DeliveryStatus::Read),
            ("failed", DeliveryStatus::Failed),
        ] {
            let e = parse(json!({"type":"status","id":"p1","status":s})).unwrap();
            assert_eq!(e, WebhookEvent::Status { id: "p1".into(), status: want, error: None });
            assert_eq!(want.as_str(), s);
        }
        let e = parse(json!({"type":"status","id":"p1","status":"failed","error":"blocked"})).unwrap();
        assert_eq!(
            e,
            WebhookEvent::Status { id: "p1".into(), status: DeliveryStatus::Failed, error: Some("blocked".into()) }
        );
    }

    #[test]
    fn contact_name_is_optional() {
        let e = parse(json!({"type":"message","id":"m1","to":"+1","from":"+2","timestamp":1,"text":"",
            "contactName":null}))
        .unwrap();
        assert!(matches!(e, WebhookEvent::Message { contact_name: None, .. }));
    }

    #[test]
    fn errors_name_the_field() {
        let msg = json!({"type":"message","id":"m1","to":"+1","from":"+2","timestamp":1,"text":"hi"});
        for (field, bad) in [
            ("type", None),
            ("type", Some(json!("reaction"))),
            ("type", Some(json!(1))),
            ("id", None),
            ("id", Some(json!(""))),
            ("id", Some(json!(5))),
            ("to", None),
            ("from", Some(json!(["+2"]))),
            ("timestamp", None),
            ("timestamp", Some(json!("1700000000"))),
            ("timestamp", Some(json!(1.5))),
            ("text", None),
            ("text", Some(json!({"body":"hi"}))),
            ("contactName", Some(json!(7))),
        ] {
            let mut v = msg.clone();
            match bad {
                None => {
                    v.as_object_mut().unwrap().remove(field);
                }
                Some(b) => v[field] = b,
            }
            let err = parse(v).unwrap_err();
            assert_eq!(err.field, Some(field), "{err}");
            assert!(err.message.contains(&format!("`{field}`")), "{err}");
        }
        let err = parse(json!({"type":"status","id":"p1","status":"seen"})).unwrap_err();
        assert_eq!(err.field, Some("status"));
        let err = parse(json!({"type":"status","id":"p1"})).unwrap_err();
        assert_eq!(err.message, "missing field `status`");
        let err = parse(json!({"type":"status","id":"p1","status":"failed","error":false})).unwrap_err();
        assert_eq!(err.field, Some("error"));
    }

    #[test]
    fn non_objects_are_refused() {
        assert_eq!(parse_webhook(b"not json").unwrap_err().field, None);
        assert_eq!(parse_webhook(b"[1,2]").unwrap_err().message, "body must be a JSON object");
        assert!(parse_webhook(b"").unwrap_err().message.starts_with("body is not valid JSON"));
    }

    #[test]
    fn error_taxonomy() {
        let transient = [ProviderError::RateLimited { retry_after: None }, ProviderError::Transient("x".into())];
        for e in &transient {
            assert!(e.is_transient());
            assert_eq!(e.reason_code(), "PROVIDER_UNREACHABLE");
        }
        for (e, code) in [
            (ProviderError::InvalidKey, "INVALID_KEY"),
            (ProviderError::UnknownNumber, "UNKNOWN_NUMBER"),
            (ProviderError::Rejected { status: 422, message: "x".into() }, "REJECTED"),
            (ProviderError::Protocol("x".into()), "PROTOCOL_ERROR"),
            (ProviderError::InvalidUrl("x".into()), "INVALID_API_URL"),
            (ProviderError::PrivateAddress("x".into()), "PRIVATE_ADDRESS"),
        ] {
            assert!(!e.is_transient());
            assert_eq!(e.reason_code(), code);
        }
        let e = ProviderError::RateLimited { retry_after: Some(Duration::from_secs(3)) };
        assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));
    }

    #[test]
    fn outbound_message_uses_the_contract_names() {
        let id = uuid::Uuid::new_v4();
        let m = OutboundMessage { from: "+1".into(), to: "+2".into(), text: "hi".into(), client_message_id: id };
        assert_eq!(
            serde_json::to_value(&m).unwrap(),
            json!({"from":"+1","to":"+2","text":"hi","clientMessageId":id.to_string()})
        );
    }
}
