//! Token lifetimes and sessions: sign-in tokens expire after 30 days without use and 90 days at most (moved in
//! time by rewriting the token's timestamps, never by waiting), machine tokens never go idle, the last use is
//! recorded at most once a minute, and a user lists and ends their own sessions (a revoked session's
//! subscriptions are closed).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use std::time::Duration;
use tests::TestApp;
use tests::live::{LiveClient, TRANSPORT_WS};

const SESSIONS: &str = "{ mySessions { id kind createdAt lastUsedAt expiresAt clientAddress userAgent current } }";
const PASSWORD: &str = "correct horse battery";

async fn email_of(app: &TestApp, token: &str) -> String {
    app.gql(Some(token), "{ me { email } }", json!({})).await.ok().str("/me/email")
}

/// Signs in over HTTP with a user agent; returns the token.
async fn login(app: &TestApp, email: &str, agent: &str) -> String {
    let r = app
        .http
        .post(format!("{}/graphql", app.base))
        .header("user-agent", agent)
        .json(&json!({
            "query": "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }",
            "variables": { "e": email, "p": PASSWORD },
        }))
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    body["data"]["login"]["token"].as_str().unwrap_or_else(|| panic!("login failed: {body}")).to_owned()
}

async fn token_row(app: &TestApp, token: &str) -> entity::api_token::Model {
    entity::api_token::Entity::find()
        .filter(entity::api_token::Column::TokenHash.eq(worker::crypto::sha256_hex(token)))
        .one(&app.engine.db)
        .await
        .unwrap()
        .unwrap()
}

/// Moves a token's timestamps back in time.
async fn age(app: &TestApp, token: &str, created_days: i64, used_days: i64) {
    let now = chrono::Utc::now();
    entity::api_token::Entity::update_many()
        .col_expr(entity::api_token::Column::CreatedAt, Expr::value(now - chrono::Duration::days(created_days)))
        .col_expr(entity::api_token::Column::LastUsedAt, Expr::value(Some(now - chrono::Duration::days(used_days))))
        .filter(entity::api_token::Column::TokenHash.eq(worker::crypto::sha256_hex(token)))
        .exec(&app.engine.db)
        .await
        .unwrap();
}

async fn me_code(app: &TestApp, token: &str) -> String {
    let r = app.gql(Some(token), "{ me { id } }", json!({})).await;
    if r.body["errors"].is_null() { "OK".into() } else { r.code() }
}

#[tokio::test]
async fn sessions_are_listed_with_where_they_were_signed_in_from() {
    let app = TestApp::spawn().await;
    let email = email_of(&app, &app.admin_token).await;
    let desk = login(&app, &email, "DeskApp/1.0 (shared desk 12)").await;
    let phone = login(&app, &email, "PhoneApp/2.1").await;
    let r = app.gql(Some(&desk), SESSIONS, json!({})).await;
    let list = r.ok().data("/mySessions").as_array().unwrap().clone();
    assert_eq!(list.len(), 3, "the bootstrap token and two sign-ins: {list:?}");
    assert_eq!(list[0]["userAgent"], json!("PhoneApp/2.1"), "newest first");
    assert_eq!(list[1]["userAgent"], json!("DeskApp/1.0 (shared desk 12)"));
    assert_eq!(list.iter().filter(|s| s["current"] == json!(true)).count(), 1);
    assert_eq!(list[1]["current"], json!(true));
    for s in &list[..2] {
        assert_eq!(s["kind"], json!("SESSION"));
        assert_eq!(s["clientAddress"], json!("127.0.0.1"));
        let at = |k: &str| chrono::DateTime::parse_from_rfc3339(s[k].as_str().unwrap()).unwrap();
        let idle = at("expiresAt") - at("lastUsedAt");
        assert_eq!(idle.num_days(), 30, "{s}");
    }
    // No token text is ever listed.
    assert!(!r.raw.contains(&desk) && !r.raw.contains(&phone));

    // Ending one: that token stops working, the others go on.
    let phone_id = list[0]["id"].as_str().unwrap().to_owned();
    let r = app.gql(Some(&desk), "mutation($id: ID!) { revokeSession(id: $id) }", json!({ "id": phone_id })).await;
    assert_eq!(r.ok().data("/revokeSession"), &json!(true));
    assert_eq!(me_code(&app, &phone).await, "UNAUTHENTICATED");
    assert_eq!(me_code(&app, &desk).await, "OK");
    let r = app.gql(Some(&desk), SESSIONS, json!({})).await;
    assert_eq!(r.ok().data("/mySessions").as_array().unwrap().len(), 2);

    // Another user's session, or one already ended: NOT_FOUND.
    let (_, agent) = app.user_with_token("AGENT").await;
    let agent_session = app.gql(Some(&agent), SESSIONS, json!({})).await.ok().str("/mySessions/0/id");
    for id in [agent_session, phone_id] {
        let r = app.gql(Some(&desk), "mutation($id: ID!) { revokeSession(id: $id) }", json!({ "id": id })).await;
        assert_eq!(r.code(), "NOT_FOUND");
    }
    assert_eq!(me_code(&app, &agent).await, "OK");
}

#[tokio::test]
async fn a_revoked_session_loses_its_subscriptions() {
    let app = TestApp::spawn().await;
    let (_, agent) = app.user_with_token("AGENT").await;
    let mut ws = LiveClient::connect(app.addr, TRANSPORT_WS, &agent).await.unwrap();
    ws.subscribe("1", "subscription { myEvents { cursor kind } }", json!({})).await.unwrap();
    let id = app.gql(Some(&agent), SESSIONS, json!({})).await.ok().str("/mySessions/0/id");
    app.gql(Some(&agent), "mutation($id: ID!) { revokeSession(id: $id) }", json!({ "id": id })).await.ok();
    let (code, _) = ws.closed(Duration::from_secs(15)).await.expect("the connection to be closed");
    assert_eq!(code, Some(4401));
}

#[tokio::test]
async fn sign_in_tokens_expire_after_30_idle_days_or_90_days_in_all() {
    let app = TestApp::spawn().await;
    let email = email_of(&app, &app.admin_token).await;

    let idle = login(&app, &email, "t").await;
    age(&app, &idle, 40, 29).await;
    assert_eq!(me_code(&app, &idle).await, "OK", "29 days unused is still fine");
    age(&app, &idle, 40, 31).await;
    let r = app.gql(Some(&idle), "{ me { id } }", json!({})).await;
    assert_eq!(r.code(), "UNAUTHENTICATED");
    assert!(r.raw.contains("expired"), "{}", r.raw);

    let old = login(&app, &email, "t").await;
    age(&app, &old, 89, 0).await;
    assert_eq!(me_code(&app, &old).await, "OK");
    age(&app, &old, 91, 0).await;
    assert_eq!(me_code(&app, &old).await, "UNAUTHENTICATED", "used every day, but older than 90 days");

    // Expired sessions are not listed.
    let r = app.gql(Some(&app.admin_token), SESSIONS, json!({})).await;
    assert_eq!(r.ok().data("/mySessions").as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn the_bootstrap_machine_token_never_goes_idle() {
    let app = TestApp::spawn().await;
    let fixed = worker::crypto::Secret::new("nva_automation_token_0123456789");
    let admin = worker::accounts::NewUser {
        email: "ops@example.com".into(),
        name: "Ops".into(),
        password: worker::crypto::Secret::new(PASSWORD),
        role: entity::Role::Admin,
    };
    app.engine.create_account("Machines", admin, Some(&fixed)).await.unwrap();
    let token = fixed.expose();
    age(&app, token, 400, 365).await;
    assert_eq!(me_code(&app, token).await, "OK");
    let r = app.gql(Some(token), SESSIONS, json!({})).await;
    let s = r.ok().data("/mySessions/0").clone();
    assert_eq!((s["kind"].clone(), s["expiresAt"].clone()), (json!("MACHINE"), Value::Null));
    // Revocable like any other.
    let id = s["id"].as_str().unwrap();
    app.gql(Some(token), "mutation($id: ID!) { revokeSession(id: $id) }", json!({ "id": id })).await.ok();
    assert_eq!(me_code(&app, token).await, "UNAUTHENTICATED");
}

#[tokio::test]
async fn the_last_use_is_written_at_most_once_a_minute() {
    let app = TestApp::spawn().await;
    let email = email_of(&app, &app.admin_token).await;
    let token = login(&app, &email, "t").await;
    let first = token_row(&app, &token).await.last_used_at.unwrap();
    for _ in 0..3 {
        assert_eq!(me_code(&app, &token).await, "OK");
    }
    assert_eq!(token_row(&app, &token).await.last_used_at, Some(first), "no write per request");
    // A use more than a minute after the recorded one is recorded.
    age(&app, &token, 1, 0).await;
    let now = chrono::Utc::now();
    entity::api_token::Entity::update_many()
        .col_expr(entity::api_token::Column::LastUsedAt, Expr::value(Some(now - chrono::Duration::seconds(61))))
        .filter(entity::api_token::Column::TokenHash.eq(worker::crypto::sha256_hex(&token)))
        .exec(&app.engine.db)
        .await
        .unwrap();
    assert_eq!(me_code(&app, &token).await, "OK");
    let recorded = token_row(&app, &token).await.last_used_at.unwrap();
    assert!(recorded >= now - chrono::Duration::seconds(5), "{recorded} should be about {now}");
}

#[tokio::test]
async fn signing_out_of_the_last_working_token_makes_the_agent_offline_despite_expired_ones() {
    let d = crate::acd::desk_on(TestApp::spawn().await, 1, json!({ "alertingTimeout": 60 })).await;
    let app = &d.app;
    // The agent signed in on a desk (the token `desk_on` made) and again on a laptop, then went ONLINE.
    let old_desk = d.token(0).to_owned();
    let email = email_of(app, &old_desk).await;
    let laptop = login(app, &email, "Laptop").await;
    d.online(0).await;
    // The desk's token expires unused (never signed out of).
    age(app, &old_desk, 40, 31).await;
    assert_eq!(me_code(app, &old_desk).await, "UNAUTHENTICATED");

    // Signing out of the only token that still works: OFFLINE.
    app.gql(Some(&laptop), "mutation { logout }", json!({})).await.ok();
    let r = app.admin("query($id: ID!) { user(id: $id) { agentState { status } } }", json!({ "id": d.id(0) })).await;
    assert_eq!(r.ok().data("/user/agentState/status"), &json!("OFFLINE"), "signed out everywhere that works");

    // And offered nothing: a client's conversation waits in the queue.
    let conv = d.write(&crate::acd::client(1), "Hello").await;
    app.drain_jobs().await;
    let c = d.conv(&conv).await;
    assert_eq!((c["substatus"].clone(), c["assignedAgent"].clone()), (json!("IN_QUEUE"), Value::Null));
}
