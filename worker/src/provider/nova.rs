//! The Nova.ChatsConnector adapter: the provider contract of `domain.md` over HTTP, with one shared
//! `reqwest::Client` (connection reuse across every number and channel). Statuses map onto [`ProviderError`] so the
//! jobs can decide between retrying and giving up; the API key travels only in the `Authorization` header and is
//! never logged nor put into an error.

use super::{NumberStatus, OutboundMessage, Provider, ProviderError};
use crate::crypto::Secret;
use crate::net::UrlPolicy;
use futures::future::BoxFuture;
use reqwest::header::RETRY_AFTER;
use reqwest::{RequestBuilder, Response, StatusCode};
use serde::Deserialize;
use std::time::Duration;
use url::Url;

/// How long establishing a connection may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a whole request (connect, send, read the answer) may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// The most of an answer's body we read: the contract's bodies are tiny.
const MAX_BODY: usize = 64 * 1024;
/// The most of an error body we quote in an error message.
const MAX_DETAIL: usize = 200;

/// The HTTP client of Nova.ChatsConnector. Cheap to clone (the connection pool is shared).
#[derive(Debug, Clone)]
pub struct NovaClient {
    http: reqwest::Client,
    /// Which addresses the channel's `apiUrl` may reach (its client's resolver applies it to names).
    policy: UrlPolicy,
}

impl NovaClient {
    /// A client with the production timeouts (connect 5 s, request 15 s) that may reach any address.
    pub fn new() -> Result<Self, reqwest::Error> {
        Self::with_timeout(REQUEST_TIMEOUT)
    }

    /// A client with the production timeouts that reaches only the addresses `policy` allows.
    pub fn with_policy(policy: UrlPolicy) -> Result<Self, reqwest::Error> {
        Self::build(policy, REQUEST_TIMEOUT)
    }

    /// A client whose requests time out after `timeout` (the connect timeout is 5 s or `timeout`, the smaller).
    pub fn with_timeout(timeout: Duration) -> Result<Self, reqwest::Error> {
        Self::build(UrlPolicy::default(), timeout)
    }

    fn build(policy: UrlPolicy, timeout: Duration) -> Result<Self, reqwest::Error> {
        let http = policy
            .client_builder()
            .connect_timeout(CONNECT_TIMEOUT.min(timeout))
            .timeout(timeout)
            // The key is in a header: never follow the provider (or anyone) elsewhere with it.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("wa-contact-center/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { http, policy })
    }

    /// The request URL for `segments` under `api_url`, if the policy lets us connect to its host.
    fn target(&self, api_url: &str, segments: &[&str]) -> Result<Url, ProviderError> {
        let url = endpoint(api_url, segments)?;
        self.policy.check_connect(&url).map_err(|e| ProviderError::PrivateAddress(e.to_string()))?;
        Ok(url)
    }

    #[tracing::instrument(name = "nova.verify", skip_all, fields(number = %e164))]
    async fn verify_number(&self, api_url: &str, e164: &str, api_key: &Secret) -> Result<NumberStatus, ProviderError> {
        let url = self.target(api_url, &["v1", "numbers", e164])?;
        let result = async {
            let body = call(self.http.get(url).bearer_auth(api_key.expose())).await?;
            let answer: NumberAnswer = serde_json::from_slice(&body)
                .map_err(|e| ProviderError::Protocol(format!("unexpected verify answer: {e}")))?;
            if answer.number != e164 {
                return Err(ProviderError::Protocol(format!(
                    "asked about {e164}, the provider answered about {}",
                    quote(&answer.number)
                )));
            }
            match answer.state.as_str() {
                "connected" => Ok(NumberStatus::Connected),
                "disconnected" => Ok(NumberStatus::Disconnected),
                other => Err(ProviderError::Protocol(format!("unknown number state {}", quote(other)))),
            }
        }
        .await;
        match &result {
            Ok(status) => tracing::debug!(?status, "number verified"),
            Err(e) => tracing::info!(error = %e, reason = e.reason_code(), "number verification failed"),
        }
        result
    }

    #[tracing::instrument(name = "nova.send", skip_all, fields(from = %msg.from, client_message_id = %msg.client_message_id))]
    async fn send_message(
        &self,
        api_url: &str,
        api_key: &Secret,
        msg: &OutboundMessage,
    ) -> Result<String, ProviderError> {
        let url = self.target(api_url, &["v1", "messages"])?;
        let result = async {
            let body = call(self.http.post(url).bearer_auth(api_key.expose()).json(msg)).await?;
            let answer: SendAnswer = serde_json::from_slice(&body)
                .map_err(|e| ProviderError::Protocol(format!("unexpected send answer: {e}")))?;
            if answer.id.trim().is_empty() {
                return Err(ProviderError::Protocol("the send answer has an empty id".into()));
            }
            Ok(answer.id)
        }
        .await;
        match &result {
            Ok(id) => tracing::debug!(provider_message_id = %id, "message accepted"),
            Err(e) => tracing::info!(error = %e, reason = e.reason_code(), "message send failed"),
        }
        result
    }
}

impl Provider for NovaClient {
    fn verify<'a>(
        &'a self,
        api_url: &'a str,
        e164: &'a str,
        api_key: &'a Secret,
    ) -> BoxFuture<'a, Result<NumberStatus, ProviderError>> {
        Box::pin(self.verify_number(api_url, e164, api_key))
    }

    fn send<'a>(
        &'a self,
        api_url: &'a str,
        api_key: &'a Secret,
        msg: &'a OutboundMessage,
    ) -> BoxFuture<'a, Result<String, ProviderError>> {
        Box::pin(self.send_message(api_url, api_key, msg))
    }
}

#[derive(Deserialize)]
struct NumberAnswer {
    number: String,
    state: String,
}

#[derive(Deserialize)]
struct SendAnswer {
    id: String,
}

/// `{api_url}/{segments...}`, whether or not `api_url` ends with `/` and whatever path it already has; each segment
/// is percent-encoded, so a number cannot change the path.
fn endpoint(api_url: &str, segments: &[&str]) -> Result<Url, ProviderError> {
    let mut url = Url::parse(api_url.trim()).map_err(|e| ProviderError::InvalidUrl(format!("{e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ProviderError::InvalidUrl(format!("unsupported scheme {}", quote(url.scheme()))));
    }
    url.set_fragment(None);
    url.path_segments_mut()
        .map_err(|_| ProviderError::InvalidUrl("not a base URL".into()))?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

/// Sends the request; a 2xx gives the body, anything else the matching error.
async fn call(request: RequestBuilder) -> Result<Vec<u8>, ProviderError> {
    let response = request.send().await.map_err(transport_error)?;
    let status = response.status();
    if status.is_success() {
        return read_body(response).await;
    }
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = read_body(response).await.unwrap_or_default();
    Err(status_error(status, retry_after, &body))
}

fn status_error(status: StatusCode, retry_after: Option<Duration>, body: &[u8]) -> ProviderError {
    let code = status.as_u16();
    match code {
        401 | 403 => ProviderError::InvalidKey,
        404 => ProviderError::UnknownNumber,
        429 => ProviderError::RateLimited { retry_after },
        408 | 500..=599 => ProviderError::Transient(with_detail(format!("the provider answered {code}"), body)),
        400..=499 => ProviderError::Rejected {
            status: code,
            message: detail(body).unwrap_or_else(|| status.canonical_reason().unwrap_or("rejected").to_owned()),
        },
        _ => ProviderError::Protocol(with_detail(format!("unexpected status {code}"), body)),
    }
}

/// Reads at most `MAX_BODY` bytes of the answer.
async fn read_body(mut response: Response) -> Result<Vec<u8>, ProviderError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(ProviderError::Protocol(format!("the answer is larger than {MAX_BODY} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A transport failure as a transient error: what went wrong, down to the root cause, without the URL (which
/// could hold credentials) and, like every request detail, without the API key. A refusal of the URL policy's
/// resolver (the name resolves only to private addresses) is not transient.
fn transport_error(e: reqwest::Error) -> ProviderError {
    match crate::net::request_failure(&e) {
        Ok(what) => ProviderError::Transient(what),
        Err(refused) => ProviderError::PrivateAddress(refused.to_string()),
    }
}

/// The provider's explanation in an error body: `error` or `message` of a JSON object, else the text itself;
/// shortened and stripped of control characters.
fn detail(body: &[u8]) -> Option<String> {
    let from_json = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| ["error", "message"].iter().find_map(|k| v.get(k).and_then(|m| m.as_str()).map(str::to_owned)));
    let text = from_json.unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    let clean: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let clean = clean.trim();
    if clean.is_empty() {
        return None;
    }
    let mut short: String = clean.chars().take(MAX_DETAIL).collect();
    if short.len() < clean.len() {
        short.push('…');
    }
    Some(short)
}

fn with_detail(head: String, body: &[u8]) -> String {
    match detail(body) {
        Some(d) => format!("{head}: {d}"),
        None => head,
    }
}

fn quote(s: &str) -> String {
    format!("{:?}", s.chars().take(MAX_DETAIL).collect::<String>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joined(base: &str, segments: &[&str]) -> String {
        endpoint(base, segments).unwrap().to_string()
    }

    #[test]
    fn joins_base_and_path() {
        let n = ["v1", "numbers", "+14155550123"];
        for base in ["http://h:9090", "http://h:9090/"] {
            assert_eq!(joined(base, &n), "http://h:9090/v1/numbers/+14155550123");
        }
        for base in
            ["https://nova.example.test/api", "https://nova.example.test/api/", " https://nova.example.test/api "]
        {
            assert_eq!(joined(base, &["v1", "messages"]), "https://nova.example.test/api/v1/messages");
        }
        // A number cannot walk the path.
        assert_eq!(joined("http://h/", &["v1", "numbers", "../x/y"]), "http://h/v1/numbers/..%2Fx%2Fy");
        assert_eq!(joined("http://h/api?x=1#f", &["v1", "messages"]), "http://h/api/v1/messages?x=1");
    }

    #[test]
    fn unusable_urls() {
        for base in ["", "nova.example.test", "ftp://h/", "mailto:a@b", "http://"] {
            assert!(matches!(endpoint(base, &["v1"]), Err(ProviderError::InvalidUrl(_))), "{base}");
        }
    }

    #[test]
    fn statuses_map_to_errors() {
        let s = |c: u16| StatusCode::from_u16(c).unwrap();
        assert_eq!(status_error(s(401), None, b""), ProviderError::InvalidKey);
        assert_eq!(status_error(s(403), None, b""), ProviderError::InvalidKey);
        assert_eq!(status_error(s(404), None, b""), ProviderError::UnknownNumber);
        let ra = Some(Duration::from_secs(2));
        assert_eq!(status_error(s(429), ra, b""), ProviderError::RateLimited { retry_after: ra });
        assert!(matches!(status_error(s(500), None, b""), ProviderError::Transient(_)));
        assert!(matches!(status_error(s(503), None, b""), ProviderError::Transient(_)));
        assert!(matches!(status_error(s(408), None, b""), ProviderError::Transient(_)));
        assert_eq!(
            status_error(s(422), None, br#"{"error":"text too long"}"#),
            ProviderError::Rejected { status: 422, message: "text too long".into() }
        );
        assert_eq!(
            status_error(s(400), None, b""),
            ProviderError::Rejected { status: 400, message: "Bad Request".into() }
        );
        assert!(matches!(status_error(s(302), None, b""), ProviderError::Protocol(_)));
    }

    #[test]
    fn details_are_short_and_clean() {
        assert_eq!(detail(b"  line\none\r\n").as_deref(), Some("line one"));
        assert_eq!(detail(br#"{"message":"nope"}"#).as_deref(), Some("nope"));
        assert_eq!(detail(b"   "), None);
        let long = "x".repeat(1000);
        assert_eq!(detail(long.as_bytes()).unwrap().chars().count(), MAX_DETAIL + 1);
    }

    #[test]
    fn builds_with_any_timeout() {
        assert!(NovaClient::new().is_ok());
        assert!(NovaClient::with_timeout(Duration::from_millis(200)).is_ok());
    }

    #[tokio::test]
    async fn private_api_urls_are_refused_for_good() {
        let strict = NovaClient::with_policy(UrlPolicy { allow_private: false }).unwrap();
        let key = Secret::new("k");
        let msg = OutboundMessage {
            from: "+14155550123".into(),
            to: "+14155550999".into(),
            text: "hi".into(),
            client_message_id: uuid::Uuid::new_v4(),
        };
        // An IP literal is refused before any connection; a name by the resolver.
        for api_url in ["http://127.0.0.1:9/api", "http://[::1]:9/", "http://localhost:9/"] {
            let e = strict.verify(api_url, "+14155550123", &key).await.unwrap_err();
            assert!(matches!(e, ProviderError::PrivateAddress(_)), "{api_url}: {e:?}");
            assert!(!e.is_transient());
            assert_eq!(e.reason_code(), "PRIVATE_ADDRESS");
            let e = strict.send(api_url, &key, &msg).await.unwrap_err();
            assert!(matches!(e, ProviderError::PrivateAddress(_)), "{api_url}: {e:?}");
        }
        let e = strict.verify("http://nova.localhost:9/", "+1", &key).await.unwrap_err();
        assert!(e.to_string().contains("APP_ALLOW_PRIVATE_URLS=true"), "{e}");
        // The permissive default tries to connect (nothing listens on port 9): a transient failure.
        let open = NovaClient::with_policy(UrlPolicy::default()).unwrap();
        let e = open.verify("http://127.0.0.1:9/api", "+14155550123", &key).await.unwrap_err();
        assert!(e.is_transient(), "{e:?}");
    }
}
