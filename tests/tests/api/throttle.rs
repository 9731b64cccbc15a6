//! Login throttling: 5 attempts per email and client address, 20 per email, 50 per address (trusted networks
//! exempt from the last), in 15-minute windows kept in the database; unknown emails answered like known ones,
//! no password hash computed for a refused attempt, and a success clears the email's counts. Requests come
//! from 127.0.0.1; apps that trust it as a proxy take the client's address from `X-Forwarded-For`. No test
//! waits for a window to pass: it moves `window_start` back in the table.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use entity::login_throttle;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use std::sync::atomic::Ordering;
use std::time::Duration;
use tests::live::{LiveClient, TRANSPORT_WS};
use tests::{Gql, TestApp};
use worker::accounts::throttle::LoginSettings;

const LOGIN: &str = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }";
const RIGHT: &str = "correct horse battery";
const WRONG: &str = "not the password";

/// An app that trusts 127.0.0.1 as a proxy (tests pick their client address with `X-Forwarded-For`) and
/// 192.0.2.0/24 as a network exempt from the per-address limit.
async fn behind_proxy() -> TestApp {
    TestApp::spawn_with_login(LoginSettings {
        trusted_networks: vec!["192.0.2.0/24".parse().unwrap()],
        trusted_proxies: vec!["127.0.0.1/32".parse().unwrap()],
    })
    .await
}

/// A login from `from` (sent as `X-Forwarded-For`; None: the peer's own address).
async fn login_from(app: &TestApp, from: Option<&str>, email: &str, password: &str) -> Gql {
    let mut req = app
        .http
        .post(format!("{}/graphql", app.base))
        .header("accept", "application/graphql-response+json")
        .json(&json!({ "query": LOGIN, "variables": { "e": email, "p": password } }));
    if let Some(addr) = from {
        req = req.header("x-forwarded-for", addr);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let raw = resp.text().await.unwrap();
    let body = serde_json::from_str(&raw).unwrap_or(Value::Null);
    Gql { status, raw, body }
}

/// A login sent as a GraphQL operation over the live connection `ws`, read like an HTTP answer (a WebSocket
/// message has no status: 200 stands for its arrival).
async fn login_over(ws: &mut LiveClient, id: &str, email: &str, password: &str) -> Gql {
    ws.subscribe(id, LOGIN, json!({ "e": email, "p": password })).await.unwrap();
    let body = ws.payload(id, Duration::from_secs(15)).await.unwrap();
    Gql { status: 200, raw: body.to_string(), body }
}

async fn admin_email(app: &TestApp) -> String {
    app.admin("{ me { email } }", json!({})).await.ok().str("/me/email")
}

fn unknown_email(tag: &str) -> String {
    format!("{tag}-{}@example.com", uuid::Uuid::new_v4().simple())
}

#[track_caller]
fn assert_wrong(r: &Gql, what: &str) {
    assert_eq!(r.code(), "UNAUTHENTICATED", "{what}: {}", r.raw);
    assert_eq!(r.errors()[0]["message"], "wrong email or password", "{what}: {}", r.raw);
}

/// Asserts a refusal and returns its `retryAfter`.
#[track_caller]
fn assert_throttled(r: &Gql, what: &str) -> u64 {
    assert_eq!(r.status, 200, "{what}: {}", r.raw);
    assert_eq!(r.code(), "TOO_MANY_ATTEMPTS", "{what}: {}", r.raw);
    let e = &r.errors()[0];
    let secs = e["extensions"]["retryAfter"].as_u64().unwrap_or_else(|| panic!("{what}: no retryAfter: {}", r.raw));
    assert!(secs > 0 && secs <= 900, "{what}: retryAfter {secs}");
    assert_eq!(e["message"], format!("too many sign-in attempts: try again in {secs} seconds"), "{what}: {}", r.raw);
    assert!(r.body["data"].is_null() || r.body["data"]["login"].is_null(), "{what}: {}", r.raw);
    secs
}

/// Moves every window of the table to have started `minutes` ago.
async fn windows_started_ago(app: &TestApp, minutes: i64) {
    let start = chrono::Utc::now() - chrono::TimeDelta::minutes(minutes);
    login_throttle::Entity::update_many()
        .col_expr(login_throttle::Column::WindowStart, Expr::value(start))
        .exec(&app.engine.db)
        .await
        .unwrap();
}

async fn attempts(app: &TestApp, scope: &str, subject: &str) -> Option<i32> {
    login_throttle::Entity::find()
        .filter(login_throttle::Column::Scope.eq(scope))
        .filter(login_throttle::Column::Subject.eq(subject))
        .one(&app.engine.db)
        .await
        .unwrap()
        .map(|r| r.attempts)
}

#[tokio::test]
async fn five_wrong_passwords_from_one_address_refuse_the_sixth_there_only_until_the_window_passes() {
    let app = behind_proxy().await;
    let email = admin_email(&app).await;
    let here = Some("198.51.100.1");
    for i in 1..=5 {
        assert_wrong(&login_from(&app, here, &email, WRONG).await, &format!("attempt {i}"));
    }
    // The sixth is refused even with the right password.
    assert_throttled(&login_from(&app, here, &email, RIGHT).await, "the sixth, right password");
    // The email's owner elsewhere signs in (and that clears the email's counts).
    login_from(&app, Some("203.0.113.50"), &email, RIGHT).await.ok();
    login_from(&app, here, &email, RIGHT).await.ok();

    for i in 1..=5 {
        assert_wrong(&login_from(&app, here, &email, WRONG).await, &format!("again, attempt {i}"));
    }
    assert_throttled(&login_from(&app, here, &email, RIGHT).await, "again, the sixth");
    // 14 minutes into the window: at most a minute left.
    windows_started_ago(&app, 14).await;
    let secs = assert_throttled(&login_from(&app, here, &email, RIGHT).await, "a minute before the end");
    assert!(secs <= 60, "retryAfter {secs} with a minute left");
    // The window has passed: the right password works from there again.
    windows_started_ago(&app, 16).await;
    login_from(&app, here, &email, RIGHT).await.ok();
}

#[tokio::test]
async fn twenty_attempts_for_one_email_from_anywhere_refuse_the_next() {
    let app = behind_proxy().await;
    let email = admin_email(&app).await;
    for n in 1..=4 {
        let from = format!("198.51.100.{n}");
        for i in 1..=5 {
            assert_wrong(&login_from(&app, Some(&from), &email, WRONG).await, &format!("{from}, attempt {i}"));
        }
    }
    assert_eq!(attempts(&app, "EMAIL", &email).await, Some(20));
    for from in ["198.51.100.99", "192.0.2.1"] {
        assert_throttled(&login_from(&app, Some(from), &email, RIGHT).await, &format!("the 21st, from {from}"));
    }
    // Another email is not concerned.
    assert_wrong(&login_from(&app, Some("198.51.100.99"), &unknown_email("other"), WRONG).await, "another email");
}

#[tokio::test]
async fn fifty_attempts_from_one_address_refuse_the_next_except_from_a_trusted_network() {
    let app = behind_proxy().await;
    let email = admin_email(&app).await;
    for (from, exempt) in [("198.51.100.9", false), ("192.0.2.9", true)] {
        // 10 emails, 5 attempts each, concurrently per email.
        let guesses = (0..10).map(|n| {
            let app = &app;
            async move {
                let other = unknown_email(&format!("nobody{n}"));
                for _ in 0..5 {
                    assert_wrong(&login_from(app, Some(from), &other, WRONG).await, &format!("{other} from {from}"));
                }
            }
        });
        futures::future::join_all(guesses).await;
        let r = login_from(&app, Some(from), &email, RIGHT).await;
        if exempt {
            r.ok();
        } else {
            assert_throttled(&r, &format!("the 51st from {from}"));
        }
    }
    assert_eq!(attempts(&app, "ADDR", "198.51.100.9").await, Some(51));
    assert_eq!(attempts(&app, "ADDR", "192.0.2.9").await, None, "a trusted network is not counted per address");
    // The per-email limits still hold for a trusted network.
    for i in 1..=5 {
        assert_wrong(&login_from(&app, Some("192.0.2.9"), &email, WRONG).await, &format!("trusted, attempt {i}"));
    }
    assert_throttled(&login_from(&app, Some("192.0.2.9"), &email, RIGHT).await, "trusted, the sixth");
}

#[tokio::test]
async fn logins_over_a_websocket_count_under_the_upgrade_requests_client_address() {
    let app = behind_proxy().await;
    let email = admin_email(&app).await;
    let from = "198.51.100.7";
    let url = format!("ws://{}/graphql", app.addr);
    let mut ws = LiveClient::open_url(&url, TRANSPORT_WS, &[("x-forwarded-for", from)]).await.unwrap();
    ws.init_with_token(&app.admin_token).await.unwrap();
    // 45 over the WebSocket and 5 over HTTP from the same address: 9 and 1 emails, 5 attempts each.
    for n in 0..9 {
        let other = unknown_email(&format!("nobody{n}"));
        for i in 0..5 {
            let r = login_over(&mut ws, &format!("{n}-{i}"), &other, WRONG).await;
            assert_wrong(&r, &format!("{other} over the WebSocket"));
        }
    }
    assert_eq!(attempts(&app, "ADDR", from).await, Some(45), "the WebSocket's attempts count under its address");
    let other = unknown_email("nobody-http");
    for _ in 0..5 {
        assert_wrong(&login_from(&app, Some(from), &other, WRONG).await, &format!("{other} over HTTP"));
    }
    // The 51st is refused over the WebSocket, and then over HTTP, even with the right password.
    assert_throttled(&login_over(&mut ws, "51", &email, RIGHT).await, "the 51st, over the WebSocket");
    assert_throttled(&login_from(&app, Some(from), &email, RIGHT).await, "the 52nd, over HTTP");
    assert_eq!(attempts(&app, "ADDR", from).await, Some(52));
    // Another address is not concerned.
    login_from(&app, Some("198.51.100.8"), &email, RIGHT).await.ok();
    ws.close().await;
}

#[tokio::test]
async fn an_unknown_email_is_answered_exactly_like_a_known_one() {
    let app = TestApp::spawn().await;
    let known = admin_email(&app).await;
    let unknown = unknown_email("nobody");
    let mut answers: Vec<Vec<String>> = Vec::new();
    for email in [&known, &unknown] {
        let mut seen = Vec::new();
        for i in 1..=6 {
            let r = login_from(&app, None, email, WRONG).await;
            if i <= 5 {
                assert_wrong(&r, &format!("{email}, attempt {i}"));
                seen.push(format!("{} {}", r.status, r.raw));
            } else {
                let secs = assert_throttled(&r, &format!("{email}, attempt {i}"));
                seen.push(format!("{} {}", r.status, r.raw.replace(&secs.to_string(), "N")));
            }
        }
        answers.push(seen);
    }
    assert_eq!(answers[0], answers[1]);
}

#[tokio::test]
async fn sixteen_concurrent_guesses_cannot_slip_past_a_limit_of_five() {
    let app = TestApp::spawn().await;
    let email = admin_email(&app).await;
    let guesses = (0..16).map(|_| login_from(&app, None, &email, WRONG));
    let answers = futures::future::join_all(guesses).await;
    let codes: Vec<String> = answers.iter().map(Gql::code).collect();
    let wrong = codes.iter().filter(|c| *c == "UNAUTHENTICATED").count();
    let refused = codes.iter().filter(|c| *c == "TOO_MANY_ATTEMPTS").count();
    assert_eq!((wrong, refused), (5, 11), "{codes:?}");
    assert_eq!(attempts(&app, "EMAIL_ADDR", &format!("{email} 127.0.0.1")).await, Some(16));
}

#[tokio::test]
async fn a_refused_attempt_computes_no_password_hash() {
    let app = TestApp::spawn().await;
    let email = admin_email(&app).await;
    let checks = || app.engine.password_checks.load(Ordering::SeqCst);
    for email in [email.clone(), unknown_email("nobody")] {
        for i in 1..=5 {
            let before = checks();
            assert_wrong(&login_from(&app, None, &email, WRONG).await, &format!("attempt {i}"));
            assert_eq!(checks(), before + 1, "{email}: a counted attempt checks one hash");
        }
        let before = checks();
        assert_throttled(&login_from(&app, None, &email, RIGHT).await, "the sixth");
        assert_throttled(&login_from(&app, None, &email, WRONG).await, "the seventh");
        assert_eq!(checks(), before, "{email}: a refused attempt checked a password");
    }
}

#[tokio::test]
async fn a_success_clears_the_email_counts_and_only_failures_accumulate_per_address() {
    let app = TestApp::spawn().await;
    let email = admin_email(&app).await;
    for i in 1..=4 {
        assert_wrong(&login_from(&app, None, &email, WRONG).await, &format!("attempt {i}"));
    }
    login_from(&app, None, &email, RIGHT).await.ok();
    assert_eq!(attempts(&app, "EMAIL", &email).await, None);
    assert_eq!(attempts(&app, "EMAIL_ADDR", &format!("{email} 127.0.0.1")).await, None);
    for i in 1..=5 {
        assert_wrong(&login_from(&app, None, &email, WRONG).await, &format!("after the success, attempt {i}"));
    }
    assert_throttled(&login_from(&app, None, &email, RIGHT).await, "after the success, the sixth");
    // 4 + 5 failures and 1 refusal from 127.0.0.1; the success is not among them.
    assert_eq!(attempts(&app, "ADDR", "127.0.0.1").await, Some(10));
}

#[tokio::test]
async fn an_email_with_like_wildcards_clears_only_its_own_counts() {
    let app = TestApp::spawn().await;
    let r = app
        .admin(
            "mutation($i: CreateUserInput!) { createUser(input: $i) { email } }",
            json!({ "i": { "email": "a_b%c@example.com", "name": "Wild", "password": RIGHT, "role": "AGENT" } }),
        )
        .await;
    let wild = r.ok().str("/createUser/email");
    // "axb%c@..." would match the pattern "a_b%c@... %" if the wildcards were not escaped.
    let lookalike = "axbyyc@example.com";
    for _ in 0..3 {
        assert_wrong(&login_from(&app, None, lookalike, WRONG).await, "lookalike");
        assert_wrong(&login_from(&app, None, &wild, WRONG).await, "wild");
    }
    login_from(&app, None, &wild, RIGHT).await.ok();
    assert_eq!(attempts(&app, "EMAIL_ADDR", &format!("{wild} 127.0.0.1")).await, None);
    assert_eq!(attempts(&app, "EMAIL_ADDR", &format!("{lookalike} 127.0.0.1")).await, Some(3));
}
