#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The Nova adapter against the provider simulator over a real socket: every status of the contract maps to the
//! error the jobs act on, sends are idempotent by `clientMessageId`, and the base URL is joined correctly.

use std::time::{Duration, Instant};
use tests::provider_sim::{ProviderSim, message_event, signed_headers, status_event};
use uuid::Uuid;
use worker::crypto::Secret;
use worker::provider::signature;
use worker::provider::{NovaClient, NumberStatus, OutboundMessage, Provider, ProviderError, WebhookEvent};

const OURS: &str = "+14155550123";
const CLIENT: &str = "+14155550999";
const KEY: &str = "sim-key-123";

async fn setup() -> (ProviderSim, NovaClient) {
    tests::logs::install();
    let sim = ProviderSim::start().await;
    sim.add_number(OURS, KEY, true);
    (sim, NovaClient::new().unwrap())
}

fn key() -> Secret {
    Secret::new(KEY)
}

fn message(text: &str) -> OutboundMessage {
    OutboundMessage { from: OURS.into(), to: CLIENT.into(), text: text.into(), client_message_id: Uuid::new_v4() }
}

#[tokio::test]
async fn verify_reports_connected_and_disconnected() {
    let (sim, nova) = setup().await;
    sim.add_number("+14155550124", "other-key", false);
    assert_eq!(nova.verify(&sim.url(), OURS, &key()).await, Ok(NumberStatus::Connected));
    let other = Secret::new("other-key");
    assert_eq!(nova.verify(&sim.url(), "+14155550124", &other).await, Ok(NumberStatus::Disconnected));
    sim.set_connected(OURS, false);
    assert_eq!(nova.verify(&sim.url(), OURS, &key()).await, Ok(NumberStatus::Disconnected));
    assert_eq!(sim.verify_attempts(), 3);
}

#[tokio::test]
async fn verify_works_through_the_trait_object() {
    let (sim, nova) = setup().await;
    let provider: std::sync::Arc<dyn Provider> = std::sync::Arc::new(nova);
    assert_eq!(provider.verify(&sim.url(), OURS, &key()).await, Ok(NumberStatus::Connected));
}

#[tokio::test]
async fn api_url_with_and_without_trailing_slash_and_path() {
    let (sim, nova) = setup().await;
    for base in [sim.url(), format!("{}/", sim.url()), sim.url_with_path(), format!("{}/", sim.url_with_path())] {
        assert_eq!(nova.verify(&base, OURS, &key()).await, Ok(NumberStatus::Connected), "{base}");
        let id = nova.send(&base, &key(), &message("hi")).await;
        assert!(id.is_ok(), "{base}: {id:?}");
    }
    assert_eq!(sim.sent().len(), 4);
    // A base the simulator does not serve is a 404: proof that the join is exact (no doubled slashes).
    let wrong = format!("{}/other", sim.url());
    assert_eq!(nova.verify(&wrong, OURS, &key()).await, Err(ProviderError::UnknownNumber));
}

#[tokio::test]
async fn invalid_key_and_unknown_number() {
    let (sim, nova) = setup().await;
    let wrong = Secret::new("wrong-key");
    let e = nova.verify(&sim.url(), OURS, &wrong).await.unwrap_err();
    assert_eq!(e, ProviderError::InvalidKey);
    assert_eq!(e.reason_code(), "INVALID_KEY");
    assert!(!e.is_transient());
    let e = nova.verify(&sim.url(), "+14155550100", &key()).await.unwrap_err();
    assert_eq!(e, ProviderError::UnknownNumber);
    assert_eq!(e.reason_code(), "UNKNOWN_NUMBER");
}

#[tokio::test]
async fn server_errors_are_transient() {
    let (sim, nova) = setup().await;
    sim.fail_next(1, 500);
    let e = nova.verify(&sim.url(), OURS, &key()).await.unwrap_err();
    assert!(matches!(e, ProviderError::Transient(_)), "{e:?}");
    assert!(e.is_transient());
    assert_eq!(e.reason_code(), "PROVIDER_UNREACHABLE");
    // Only the next request failed.
    assert_eq!(nova.verify(&sim.url(), OURS, &key()).await, Ok(NumberStatus::Connected));
}

#[tokio::test]
async fn rate_limiting_carries_retry_after() {
    let (sim, nova) = setup().await;
    sim.fail_next(2, 429);
    let e = nova.verify(&sim.url(), OURS, &key()).await.unwrap_err();
    assert_eq!(e, ProviderError::RateLimited { retry_after: Some(Duration::from_secs(1)) });
    assert!(e.is_transient());
    assert_eq!(e.reason_code(), "PROVIDER_UNREACHABLE");
    let e = nova.send(&sim.url(), &key(), &message("hi")).await.unwrap_err();
    assert_eq!(e.retry_after(), Some(Duration::from_secs(1)));
    assert!(sim.sent().is_empty());
    assert_eq!(sim.send_attempts(), 1);
}

#[tokio::test]
async fn a_provider_that_is_down_is_transient() {
    let (sim, nova) = setup().await;
    sim.set_down(true);
    let e = nova.verify(&sim.url(), OURS, &key()).await.unwrap_err();
    assert!(matches!(e, ProviderError::Transient(_)), "{e:?}");
    let e = nova.send(&sim.url(), &key(), &message("hi")).await.unwrap_err();
    assert!(matches!(e, ProviderError::Transient(_)), "{e:?}");
    sim.set_down(false);
    assert_eq!(nova.verify(&sim.url(), OURS, &key()).await, Ok(NumberStatus::Connected));
}

#[tokio::test]
async fn a_closed_port_is_transient() {
    let nova = NovaClient::new().unwrap();
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let e = nova.verify(&format!("http://{addr}"), OURS, &key()).await.unwrap_err();
    assert!(matches!(e, ProviderError::Transient(_)), "{e:?}");
}

#[tokio::test]
async fn slower_than_the_timeout_is_transient() {
    let (sim, _) = setup().await;
    let nova = NovaClient::with_timeout(Duration::from_millis(300)).unwrap();
    sim.set_delay(Duration::from_secs(2));
    let started = Instant::now();
    let e = nova.verify(&sim.url(), OURS, &key()).await.unwrap_err();
    assert!(matches!(&e, ProviderError::Transient(m) if m.contains("timed out")), "{e:?}");
    assert!(started.elapsed() < Duration::from_secs(2), "the client waited {:?}", started.elapsed());
    // Within the timeout, a slow answer is still an answer.
    sim.set_delay(Duration::from_millis(50));
    assert_eq!(nova.verify(&sim.url(), OURS, &key()).await, Ok(NumberStatus::Connected));
}

#[tokio::test]
async fn send_returns_the_provider_id_and_is_recorded() {
    let (sim, nova) = setup().await;
    let msg = message("Hello from the contact center");
    let id = nova.send(&sim.url(), &key(), &msg).await.unwrap();
    assert!(!id.is_empty());
    let sent = sim.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].id, id);
    assert_eq!(sent[0].from, OURS);
    assert_eq!(sent[0].to, CLIENT);
    assert_eq!(sent[0].text, "Hello from the contact center");
    assert_eq!(sent[0].client_message_id, msg.client_message_id);
}

#[tokio::test]
async fn a_retried_send_is_deduplicated() {
    let (sim, nova) = setup().await;
    let msg = message("once");
    let first = nova.send(&sim.url(), &key(), &msg).await.unwrap();
    let second = nova.send(&sim.url(), &key(), &msg).await.unwrap();
    assert_eq!(first, second);
    assert_eq!(sim.sent().len(), 1);
    assert_eq!(sim.send_attempts(), 2);
    // A failed attempt, then the retry: still one message.
    let msg = message("after a failure");
    sim.fail_next(1, 503);
    assert!(nova.send(&sim.url(), &key(), &msg).await.unwrap_err().is_transient());
    let id = nova.send(&sim.url(), &key(), &msg).await.unwrap();
    assert_ne!(id, first);
    assert_eq!(sim.sent().len(), 2);
    assert_eq!(sim.send_attempts(), 4);
}

#[tokio::test]
async fn send_with_a_wrong_key_is_invalid_key() {
    let (sim, nova) = setup().await;
    sim.add_number("+14155550124", "other-key", true);
    // The key of another number does not send from this one.
    let e = nova.send(&sim.url(), &Secret::new("other-key"), &message("hi")).await.unwrap_err();
    assert_eq!(e, ProviderError::InvalidKey);
    let e = nova.send(&sim.url(), &Secret::new("nope"), &message("hi")).await.unwrap_err();
    assert_eq!(e, ProviderError::InvalidKey);
    assert!(sim.sent().is_empty());
    assert_eq!(sim.send_attempts(), 2);
}

#[tokio::test]
async fn a_refused_send_is_rejected_with_the_providers_reason() {
    let (sim, nova) = setup().await;
    sim.set_connected(OURS, false);
    let e = nova.send(&sim.url(), &key(), &message("hi")).await.unwrap_err();
    assert_eq!(e, ProviderError::Rejected { status: 422, message: "the number is disconnected".into() });
    assert_eq!(e.reason_code(), "REJECTED");
    assert!(!e.is_transient());
}

#[tokio::test]
async fn the_key_never_reaches_errors_or_logs() {
    let (sim, nova) = setup().await;
    let secret = format!("very-secret-{}", Uuid::new_v4().simple());
    sim.add_number("+14155550124", &secret, true);
    let s = Secret::new(secret.clone());
    let mut errors = Vec::new();
    sim.fail_next(1, 500);
    errors.push(nova.verify(&sim.url(), "+14155550124", &s).await.unwrap_err());
    errors.push(nova.send(&sim.url(), &s, &message("hi")).await.unwrap_err());
    sim.set_delay(Duration::from_secs(2));
    let quick = NovaClient::with_timeout(Duration::from_millis(200)).unwrap();
    errors.push(quick.verify(&sim.url(), "+14155550124", &s).await.unwrap_err());
    for e in &errors {
        assert!(!format!("{e} {e:?}").contains(&secret), "{e:?}");
    }
    assert!(!format!("{nova:?}").contains(&secret));
    let logs = tests::logs::captured_logs();
    assert!(logs.contains("number verification failed"), "the adapter's logs were not captured");
    assert!(!logs.contains(&secret));
}

/// The simulator's webhook side signs exactly what the signature rule verifies.
#[tokio::test]
async fn simulator_webhooks_are_signed_by_the_shared_rule() {
    tests::logs::install();
    let body = message_event("m1", OURS, CLIENT, "hi");
    let raw = serde_json::to_vec(&body).unwrap();
    let now = chrono::Utc::now().timestamp();
    let headers = signed_headers(KEY, now, &raw);
    let get = |name: &str| headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
    assert_eq!(signature::verify(KEY, get("x-nova-timestamp"), get("x-nova-signature"), &raw, now), Ok(()));
    let parsed = worker::provider::parse_webhook(&raw).unwrap();
    assert!(matches!(parsed, WebhookEvent::Message { ref id, .. } if id == "m1"));
    let parsed = worker::provider::parse_webhook(status_event("p1", "failed", Some("blocked")).to_string().as_bytes());
    assert!(matches!(parsed, Ok(WebhookEvent::Status { error: Some(ref e), .. }) if e == "blocked"));
}

/// `post_webhook` really posts the signed body over HTTP: a tiny receiver checks it with the shared rule.
#[tokio::test]
async fn post_webhook_sends_signed_requests() {
    use axum::http::HeaderMap;
    let sim = ProviderSim::start().await;
    let receiver = axum::Router::new().route(
        "/hook",
        axum::routing::post(|headers: HeaderMap, body: axum::body::Bytes| async move {
            let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(str::to_owned);
            let now = chrono::Utc::now().timestamp();
            match signature::verify(KEY, h("x-nova-timestamp").as_deref(), h("x-nova-signature").as_deref(), &body, now)
            {
                Ok(()) => (axum::http::StatusCode::OK, "ok".to_owned()),
                Err(e) => (axum::http::StatusCode::UNAUTHORIZED, e.code().to_owned()),
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, receiver).await });

    let body = message_event("m1", OURS, CLIENT, "hi");
    assert_eq!(sim.post_webhook(&url, KEY, &body).await, (200, "ok".to_owned()));
    assert_eq!(sim.post_webhook(&url, "another-key", &body).await, (401, "BAD_SIGNATURE".to_owned()));
    let raw = serde_json::to_vec(&body).unwrap();
    let mut headers = signed_headers(KEY, chrono::Utc::now().timestamp() - 600, &raw);
    assert_eq!(sim.post_webhook_raw(&url, headers.clone(), raw.clone()).await, (401, "STALE_TIMESTAMP".to_owned()));
    headers.retain(|(n, _)| !n.eq_ignore_ascii_case("x-nova-signature"));
    assert_eq!(sim.post_webhook_raw(&url, headers, raw).await, (401, "MISSING_SIGNATURE".to_owned()));
}
