//! Passwords: `changeMyPassword` (the current password checked, the new one judged by its strength, the caller's
//! other sessions revoked), an admin's `resetUserPassword` (a temporary password shown once, every session of
//! the user revoked, a change required at the next sign-in, everything else FORBIDDEN until then), and the same
//! strength rule on `createUser`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use std::time::Duration;
use tests::live::{LiveClient, TRANSPORT_WS};
use tests::{Gql, TestApp};

const PASSWORD: &str = "correct horse battery";
const NEW_PASSWORD: &str = "violet tractor sings 88";
const LOGIN: &str = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }";
const CHANGE: &str = "mutation($c: String!, $n: String!) { changeMyPassword(currentPassword: $c, newPassword: $n) }";
const RESET: &str = "mutation($id: ID!) { resetUserPassword(userId: $id) { temporaryPassword \
                     user { id mustChangePassword } } }";
const CREATE_USER: &str = "mutation($i: CreateUserInput!) { createUser(input: $i) { id } }";

async fn login(app: &TestApp, email: &str, password: &str) -> Gql {
    app.gql(None, LOGIN, json!({ "e": email, "p": password })).await
}

async fn token(app: &TestApp, email: &str, password: &str) -> String {
    login(app, email, password).await.ok().str("/login/token")
}

async fn email_of(app: &TestApp, token: &str) -> String {
    app.gql(Some(token), "{ me { email } }", json!({})).await.ok().str("/me/email")
}

async fn change(app: &TestApp, token: &str, current: &str, new: &str) -> Gql {
    app.gql(Some(token), CHANGE, json!({ "c": current, "n": new })).await
}

/// "OK", or the code of the first error.
async fn code_of(app: &TestApp, token: &str, query: &str) -> String {
    let r = app.gql(Some(token), query, json!({})).await;
    if r.errors().is_empty() { "OK".into() } else { r.code() }
}

async fn me_code(app: &TestApp, token: &str) -> String {
    code_of(app, token, "{ me { id } }").await
}

async fn password_hash(app: &TestApp, id: &str) -> String {
    use sea_orm::EntityTrait;
    let id = uuid::Uuid::parse_str(id).unwrap();
    entity::user::Entity::find_by_id(id).one(&app.engine.db).await.unwrap().unwrap().password_hash
}

/// The message of the first input error.
fn input_message(r: &Gql) -> String {
    r.errors()[0].pointer("/extensions/errors/0/message").and_then(Value::as_str).unwrap_or_default().to_owned()
}

async fn agent_status(app: &TestApp, id: &str) -> Value {
    let r = app.admin("query($id: ID!) { user(id: $id) { agentState { status } } }", json!({ "id": id })).await;
    r.ok().data("/user/agentState/status").clone()
}

#[tokio::test]
async fn a_wrong_current_password_or_a_weak_new_one_changes_nothing() {
    let app = TestApp::spawn().await;
    let (id, tok) = app.user_with_token("AGENT").await;
    let email = email_of(&app, &tok).await;
    let other = token(&app, &email, PASSWORD).await;
    let hash = password_hash(&app, &id).await;

    let r = change(&app, &tok, "not my password at all", NEW_PASSWORD).await;
    assert_eq!(r.code(), "BAD_USER_INPUT", "{}", r.raw);
    assert_eq!(r.input_errors(), vec![("currentPassword".to_owned(), "WRONG_PASSWORD".to_owned())]);
    assert!(r.body["data"].is_null(), "{}", r.raw);

    for weak in ["password123", email.as_str(), "Summer2024!"] {
        let r = change(&app, &tok, PASSWORD, weak).await;
        assert_eq!(r.input_errors(), vec![("newPassword".to_owned(), "WEAK_PASSWORD".to_owned())], "{weak}: {}", r.raw);
        let why = input_message(&r);
        assert!(why.starts_with("too easy to guess: ") && why.len() > "too easy to guess: ".len(), "{weak}: {why}");
    }
    let r = change(&app, &tok, PASSWORD, &email).await;
    assert!(input_message(&r).contains("your email address or name"), "{}", r.raw);
    let r = change(&app, &tok, PASSWORD, "Summer2024!").await;
    assert_eq!(
        input_message(&r),
        "too easy to guess: This is similar to a commonly used password. Add another word or two. Uncommon words \
         are better."
    );
    let r = change(&app, &tok, PASSWORD, "short").await;
    assert_eq!(r.input_errors(), vec![("newPassword".to_owned(), "TOO_SHORT".to_owned())]);
    let r = change(&app, &tok, PASSWORD, PASSWORD).await;
    assert_eq!(r.input_errors(), vec![("newPassword".to_owned(), "SAME_PASSWORD".to_owned())]);

    // Nothing changed: the same hash, both sessions alive, the old password still signs in.
    assert_eq!(password_hash(&app, &id).await, hash);
    assert_eq!(me_code(&app, &tok).await, "OK");
    assert_eq!(me_code(&app, &other).await, "OK");
    login(&app, &email, PASSWORD).await.ok();
}

#[tokio::test]
async fn a_change_keeps_this_session_and_ends_the_others() {
    let app = TestApp::spawn().await;
    let (id, tok) = app.user_with_token("AGENT").await;
    let email = email_of(&app, &tok).await;
    let other = token(&app, &email, PASSWORD).await;

    let r = change(&app, &tok, PASSWORD, NEW_PASSWORD).await;
    assert_eq!(r.ok().data("/changeMyPassword"), &json!(true));
    assert_eq!(me_code(&app, &tok).await, "OK", "the session that changed it keeps working");
    assert_eq!(me_code(&app, &other).await, "UNAUTHENTICATED", "another session of the same user");
    assert_eq!(login(&app, &email, PASSWORD).await.code(), "UNAUTHENTICATED", "the old password");
    let fresh = token(&app, &email, NEW_PASSWORD).await;
    assert_eq!(me_code(&app, &fresh).await, "OK");
    // The agent stayed signed in: their remaining session keeps them out of OFFLINE.
    assert_ne!(agent_status(&app, &id).await, json!("OFFLINE"));
    let r = app.gql(Some(&tok), "{ me { mustChangePassword } }", json!({})).await;
    assert_eq!(r.ok().data("/me/mustChangePassword"), &json!(false));
}

#[tokio::test]
async fn an_admin_reset_requires_a_change_at_the_next_sign_in() {
    let app = TestApp::spawn().await;
    let (id, tok) = app.user_with_token("AGENT").await;
    let email = email_of(&app, &tok).await;
    let other = token(&app, &email, PASSWORD).await;
    assert_ne!(agent_status(&app, &id).await, json!("OFFLINE"));

    let r = app.admin(RESET, json!({ "id": id })).await;
    r.ok();
    let temporary = r.str("/resetUserPassword/temporaryPassword");
    assert_eq!(temporary.chars().count(), 20, "{temporary}");
    assert_eq!(r.data("/resetUserPassword/user"), &json!({ "id": id, "mustChangePassword": true }));
    // Every session of the user is gone (and the agent with them), and only the temporary password signs in.
    assert_eq!(me_code(&app, &tok).await, "UNAUTHENTICATED");
    assert_eq!(me_code(&app, &other).await, "UNAUTHENTICATED");
    assert_eq!(agent_status(&app, &id).await, json!("OFFLINE"));
    assert_eq!(login(&app, &email, PASSWORD).await.code(), "UNAUTHENTICATED");
    let due = token(&app, &email, &temporary).await;
    let spare = token(&app, &email, &temporary).await;

    let r = app.gql(Some(&due), "{ me { id email mustChangePassword agentState { status } } }", json!({})).await;
    assert_eq!(r.ok().data("/me/mustChangePassword"), &json!(true));
    // Anything else is refused, saying why, aliases included.
    for q in [
        "{ channels(first: 1) { nodes { id } } }",
        "{ me: channels(first: 1) { nodes { id } } }",
        "{ mySessions { id } }",
        "query($id: ID!) { user(id: $id) { id } }",
        "mutation { logout: revokeSession(id: \"00000000-0000-0000-0000-000000000000\") }",
    ] {
        let r = app.gql(Some(&due), q, json!({ "id": id })).await;
        assert_eq!(r.code(), "FORBIDDEN", "{q}: {}", r.raw);
        let message = r.errors()[0]["message"].as_str().unwrap_or_default().to_owned();
        assert!(message.contains("changeMyPassword"), "{q}: {message}");
    }
    // In one document, `me` answers and the rest is refused.
    let r = app.gql(Some(&due), "{ me { id } channels(first: 1) { nodes { id } } }", json!({})).await;
    assert_eq!(r.data("/me/id"), &json!(id));
    assert_eq!(r.code(), "FORBIDDEN");
    // Subscriptions too.
    let mut live = LiveClient::connect(app.addr, TRANSPORT_WS, &due).await.unwrap();
    live.subscribe("1", "subscription { myEvents { kind } }", json!({})).await.unwrap();
    let err = live.try_event("1", Duration::from_secs(10)).await.unwrap_err();
    assert!(err.contains("FORBIDDEN") && err.contains("changeMyPassword"), "{err}");
    live.close().await;
    // logout works.
    assert_eq!(code_of(&app, &spare, "mutation { logout }").await, "OK");
    assert_eq!(me_code(&app, &spare).await, "UNAUTHENTICATED");

    // changeMyPassword works, with the same rules; then everything does.
    let r = change(&app, &due, &temporary, "password123").await;
    assert_eq!(r.input_errors(), vec![("newPassword".to_owned(), "WEAK_PASSWORD".to_owned())]);
    change(&app, &due, &temporary, NEW_PASSWORD).await.ok();
    let r = app.gql(Some(&due), "{ me { mustChangePassword } channels(first: 1) { nodes { id } } }", json!({})).await;
    assert_eq!(r.ok().data("/me/mustChangePassword"), &json!(false));
    assert_eq!(code_of(&app, &due, "{ mySessions { id } }").await, "OK");
    assert_eq!(login(&app, &email, &temporary).await.code(), "UNAUTHENTICATED", "the temporary password is spent");
    login(&app, &email, NEW_PASSWORD).await.ok();

    // The temporary password was never logged.
    let logs = tests::eventually(Duration::from_secs(5), "the requests' logs in the capture", || async {
        let logs = tests::logs::captured_logs();
        logs.contains("route=\"/graphql\"").then_some(logs)
    })
    .await;
    assert!(!logs.contains(&temporary), "the temporary password was logged");
}

#[tokio::test]
async fn only_admins_reset_and_only_other_users_of_their_account() {
    let app = TestApp::spawn().await;
    let (agent, agent_token) = app.user_with_token("AGENT").await;
    let (supervisor, supervisor_token) = app.user_with_token("SUPERVISOR").await;
    let (other_admin, other_admin_token) = app.user_with_token("ADMIN").await;
    let hash = password_hash(&app, &agent).await;

    for (who, tok, target) in [
        ("supervisor", &supervisor_token, &agent),
        ("agent", &agent_token, &supervisor),
        ("agent", &agent_token, &agent),
    ] {
        let r = app.gql(Some(tok), RESET, json!({ "id": target })).await;
        assert_eq!(r.code(), "FORBIDDEN", "{who}: {}", r.raw);
    }
    let me = app.admin("{ me { id } }", json!({})).await.ok().str("/me/id");
    let r = app.admin(RESET, json!({ "id": me })).await;
    assert_eq!(r.code(), "CONFLICT", "{}", r.raw);
    assert!(r.errors()[0]["message"].as_str().unwrap_or_default().contains("changeMyPassword"), "{}", r.raw);
    // Another admin of the account may be reset.
    let r = app.admin(RESET, json!({ "id": other_admin })).await;
    assert_eq!(r.ok().data("/resetUserPassword/user/mustChangePassword"), &json!(true));
    assert_eq!(me_code(&app, &other_admin_token).await, "UNAUTHENTICATED");
    // Another account's admin cannot see our users; a malformed id answers the same.
    let outsider = app.other_account().await;
    for id in [agent.as_str(), "not-an-id", "00000000-0000-0000-0000-000000000000"] {
        let r = app.gql(Some(&outsider), RESET, json!({ "id": id })).await;
        assert_eq!(r.code(), "NOT_FOUND", "{id}: {}", r.raw);
    }
    // A deactivated user is not reset.
    app.admin("mutation($id: ID!) { deactivateUser(id: $id) { id } }", json!({ "id": supervisor })).await.ok();
    assert_eq!(app.admin(RESET, json!({ "id": supervisor })).await.code(), "CONFLICT");

    // None of the refusals touched the agent.
    assert_eq!(password_hash(&app, &agent).await, hash);
    assert_eq!(me_code(&app, &agent_token).await, "OK");
}

#[tokio::test]
async fn create_user_refuses_weak_passwords_with_the_reason() {
    let app = TestApp::spawn().await;
    let before = app.count("users").await;
    let email = format!("weak-{}@example.com", uuid::Uuid::new_v4().simple());
    for weak in ["password123", "Summer2024!", email.as_str(), "Weak Person 1"] {
        let i = json!({ "email": email, "name": "Weak Person", "password": weak, "role": "AGENT" });
        let r = app.admin(CREATE_USER, json!({ "i": i })).await;
        assert_eq!(r.input_errors(), vec![("password".to_owned(), "WEAK_PASSWORD".to_owned())], "{weak}: {}", r.raw);
        assert!(input_message(&r).starts_with("too easy to guess: "), "{weak}: {}", r.raw);
    }
    assert_eq!(app.count("users").await, before, "a user with a weak password was created");
    let i = json!({ "email": email, "name": "Weak Person", "password": PASSWORD, "role": "AGENT" });
    app.admin(CREATE_USER, json!({ "i": i })).await.ok();
    login(&app, &email, PASSWORD).await.ok();
}
