//! Login, logout, users and their tokens, and the first start of an empty deployment.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, Statement};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use tests::TestApp;

const LOGIN: &str =
    "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token user { id email role active } } }";
const ME: &str = "{ me { id email name role active } }";
const CREATE_USER: &str = "mutation($i: CreateUserInput!) { createUser(input: $i) { id email name role active } }";
const DEACTIVATE: &str = "mutation($id: ID!) { deactivateUser(id: $id) { id active } }";
const PASSWORD: &str = "a long password 42";

fn unique_email(tag: &str) -> String {
    format!("{tag}-{}@example.com", uuid::Uuid::new_v4().simple())
}

/// Creates a user as the admin with `PASSWORD`: `(id, stored email)`.
async fn create_user(app: &TestApp, email: &str, role: &str) -> (String, String) {
    let r = app
        .admin(CREATE_USER, json!({ "i": { "email": email, "name": "Someone", "password": PASSWORD, "role": role } }))
        .await;
    r.ok();
    (r.str("/createUser/id"), r.str("/createUser/email"))
}

async fn login(app: &TestApp, email: &str, password: &str) -> tests::Gql {
    app.gql(None, LOGIN, json!({ "e": email, "p": password })).await
}

async fn me(app: &TestApp, token: &str) -> tests::Gql {
    app.gql(Some(token), ME, json!({})).await
}

fn assert_unauthenticated(r: &tests::Gql, what: &str) {
    assert_eq!(r.code(), "UNAUTHENTICATED", "{what}: {}", r.raw);
    assert!(r.body.get("data").is_none_or(Value::is_null), "{what}: {}", r.raw);
}

#[tokio::test]
async fn login_is_case_insensitive_and_hides_which_part_was_wrong() {
    let app = TestApp::spawn().await;
    let email = format!("Ana.Lopez-{}@Example.COM", uuid::Uuid::new_v4().simple());
    let (id, stored) = create_user(&app, &email, "SUPERVISOR").await;
    assert_eq!(stored, email.to_lowercase(), "emails are stored lower-cased");

    let typed = format!("  {}  ", email.to_uppercase());
    let r = login(&app, &typed, PASSWORD).await;
    r.ok();
    assert_eq!(r.str("/login/user/id"), id);
    let token = r.str("/login/token");
    let m = me(&app, &token).await;
    m.ok();
    assert_eq!(m.str("/me/id"), id);
    assert_eq!(m.str("/me/email"), stored);
    assert_eq!(m.str("/me/role"), "SUPERVISOR");

    let wrong_password = login(&app, &email, "a long password 43").await;
    assert_unauthenticated(&wrong_password, "wrong password");
    let unknown_email = login(&app, &unique_email("nobody"), PASSWORD).await;
    assert_unauthenticated(&unknown_email, "unknown email");
    let not_an_email = login(&app, "not an email", PASSWORD).await;
    assert_unauthenticated(&not_an_email, "not an email");
    let message = |r: &tests::Gql| r.errors()[0]["message"].clone();
    assert_eq!(message(&wrong_password), message(&unknown_email), "the refusals tell the cases apart");
    assert_eq!(message(&wrong_password), message(&not_an_email));
    // The password is case-sensitive.
    let r = login(&app, &email, &PASSWORD.to_uppercase()).await;
    assert_unauthenticated(&r, "password in upper case");
    // No token at all, a bogus token, and a malformed header are refused on `me`.
    assert_unauthenticated(&app.gql(None, ME, json!({})).await, "no token");
    assert_unauthenticated(&me(&app, "nva_not-a-real-token").await, "bogus token");
}

#[tokio::test]
async fn logout_revokes_only_the_token_used() {
    let app = TestApp::spawn().await;
    let (_, email) = create_user(&app, &unique_email("agent"), "AGENT").await;
    let first = login(&app, &email, PASSWORD).await.ok().str("/login/token");
    let second = login(&app, &email, PASSWORD).await.ok().str("/login/token");
    assert_ne!(first, second, "each login issues its own token");
    me(&app, &first).await.ok();
    me(&app, &second).await.ok();

    let r = app.gql(Some(&first), "mutation { logout }", json!({})).await;
    r.ok();
    assert_eq!(*r.data("/logout"), json!(true));

    assert_unauthenticated(&me(&app, &first).await, "the revoked token");
    me(&app, &second).await.ok();
    me(&app, &app.admin_token).await.ok();
    // Logging out again with the revoked token is refused too.
    let r = app.gql(Some(&first), "mutation { logout }", json!({})).await;
    assert_unauthenticated(&r, "logout with a revoked token");
    // Logging in again works and gives a fresh token.
    let third = login(&app, &email, PASSWORD).await.ok().str("/login/token");
    me(&app, &third).await.ok();
}

#[tokio::test]
async fn create_user_validates_each_field() {
    let app = TestApp::spawn().await;
    let before = app.snapshot().await;
    let base = json!({ "email": unique_email("v"), "name": "Valid Name", "password": PASSWORD, "role": "AGENT" });
    let cases = [
        (json!({ "email": "not-an-email" }), "email", "INVALID_EMAIL"),
        (json!({ "email": "two@@example.com" }), "email", "INVALID_EMAIL"),
        (json!({ "email": "" }), "email", "INVALID_EMAIL"),
        (json!({ "password": "123456789" }), "password", "TOO_SHORT"),
        (json!({ "password": "" }), "password", "TOO_SHORT"),
        (json!({ "name": "" }), "name", "REQUIRED"),
        (json!({ "name": "   " }), "name", "REQUIRED"),
    ];
    for (patch, field, code) in cases {
        let mut input = base.clone();
        for (k, v) in patch.as_object().unwrap() {
            input[k] = v.clone();
        }
        let r = app.admin(CREATE_USER, json!({ "i": input })).await;
        assert_eq!(r.code(), "BAD_USER_INPUT", "{patch}: {}", r.raw);
        assert_eq!(r.input_errors(), vec![(field.to_owned(), code.to_owned())], "{patch}");
        assert_eq!(r.errors()[0]["extensions"]["field"], json!(field), "{patch}");
        assert!(!r.raw.contains(PASSWORD), "{patch}: the password came back");
    }
    // Every problem at once, in field order.
    let r = app
        .admin(CREATE_USER, json!({ "i": { "email": "nope", "name": " ", "password": "short", "role": "AGENT" } }))
        .await;
    assert_eq!(r.code(), "BAD_USER_INPUT", "{}", r.raw);
    let mut got = r.input_errors();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("email".to_owned(), "INVALID_EMAIL".to_owned()),
            ("name".to_owned(), "REQUIRED".to_owned()),
            ("password".to_owned(), "TOO_SHORT".to_owned()),
        ]
    );
    assert_eq!(app.snapshot().await, before, "a refused createUser wrote");
}

#[tokio::test]
async fn duplicate_emails_conflict_whatever_their_case() {
    let app = TestApp::spawn().await;
    let email = unique_email("dup");
    create_user(&app, &email, "AGENT").await;
    let before = app.snapshot().await;
    for again in [email.clone(), email.to_uppercase(), format!("  {email} ")] {
        let r = app
            .admin(
                CREATE_USER,
                json!({ "i": { "email": again, "name": "Twin", "password": PASSWORD, "role": "SUPERVISOR" } }),
            )
            .await;
        assert_eq!(r.code(), "CONFLICT", "{again}: {}", r.raw);
        assert_eq!(r.errors()[0]["extensions"]["field"], json!("email"), "{again}");
    }
    // The email of another account's user is taken too (login is by email alone).
    let other_admin = app.other_account().await;
    let r = app
        .gql(
            Some(&other_admin),
            CREATE_USER,
            json!({ "i": { "email": email, "name": "Twin", "password": PASSWORD, "role": "AGENT" } }),
        )
        .await;
    assert_eq!(r.code(), "CONFLICT", "{}", r.raw);
    let mut after = app.snapshot().await;
    // other_account added one account, one user and one token.
    for (table, n) in &mut after {
        if matches!(table.as_str(), "accounts" | "users" | "api_tokens") {
            *n -= 1;
        }
    }
    assert_eq!(after, before, "a conflicting createUser wrote");
}

#[tokio::test]
async fn passwords_are_argon2id_hashes_and_never_returned() {
    let app = TestApp::spawn().await;
    let email = unique_email("hash");
    let secret = "a very distinctive password";
    let r = app
        .admin(CREATE_USER, json!({ "i": { "email": email, "name": "Hashed", "password": secret, "role": "AGENT" } }))
        .await;
    r.ok();
    assert!(!r.raw.contains(secret), "createUser returned the password");
    let id = r.str("/createUser/id");
    let r = app.gql(None, LOGIN, json!({ "e": email, "p": secret })).await;
    r.ok();
    assert!(!r.raw.contains(secret), "login returned the password");
    let users = app.admin("{ users { id email name role active createdAt } }", json!({})).await;
    users.ok();
    assert!(!users.raw.contains(secret));
    assert!(!users.raw.contains("argon2"), "a hash reached the API");
    // The type has no field for it.
    for field in ["password", "passwordHash"] {
        let r = app.admin(&format!("{{ users {{ id {field} }} }}"), json!({})).await;
        assert_eq!(r.status, 400, "{field}: {}", r.raw);
    }

    let row = entity::user::Entity::find()
        .filter(entity::user::Column::Email.eq(email.as_str()))
        .one(&app.engine.db)
        .await
        .unwrap()
        .expect("the user row");
    assert_eq!(row.id.to_string(), id);
    assert!(row.password_hash.starts_with("$argon2id$"), "not an Argon2id PHC string: {}", row.password_hash);
    assert!(!row.password_hash.contains(secret));
    // Salted: the same password gives another hash.
    let other = unique_email("hash2");
    create_user_with_password(&app, &other, secret).await;
    let row2 = entity::user::Entity::find()
        .filter(entity::user::Column::Email.eq(other.as_str()))
        .one(&app.engine.db)
        .await
        .unwrap()
        .expect("the second user row");
    assert_ne!(row.password_hash, row2.password_hash, "hashes are not salted");
}

async fn create_user_with_password(app: &TestApp, email: &str, password: &str) {
    app.admin(
        CREATE_USER,
        json!({ "i": { "email": email, "name": "Someone", "password": password, "role": "AGENT" } }),
    )
    .await
    .ok();
}

/// Every value of every row of `table`, as text where the column holds text or bytes.
async fn text_cells(app: &TestApp, table: &str) -> Vec<(String, String)> {
    let db = &app.engine.db;
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), format!("SELECT * FROM {table}")))
        .await
        .unwrap();
    let mut out = Vec::new();
    for row in rows {
        for col in row.column_names() {
            let text = row
                .try_get::<Option<String>>("", &col)
                .ok()
                .flatten()
                .or_else(|| {
                    row.try_get::<Option<Vec<u8>>>("", &col)
                        .ok()
                        .flatten()
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                })
                .or_else(|| row.try_get::<Option<uuid::Uuid>>("", &col).ok().flatten().map(|u| u.to_string()));
            if let Some(t) = text {
                out.push((col.clone(), t));
            }
        }
    }
    out
}

#[tokio::test]
async fn tokens_are_stored_only_as_sha256_hashes() {
    let app = TestApp::spawn().await;
    let (_, email) = create_user(&app, &unique_email("tok"), "AGENT").await;
    let token = login(&app, &email, PASSWORD).await.ok().str("/login/token");
    let mut tokens = vec![app.admin_token.clone(), token];
    tokens.push(login(&app, &email, PASSWORD).await.ok().str("/login/token"));

    let cells = text_cells(&app, "api_tokens").await;
    // The reading works: every token's hash is among the cells read.
    for t in &tokens {
        let hash = worker::crypto::sha256_hex(t);
        assert!(cells.iter().any(|(_, v)| *v == hash), "the raw read of api_tokens missed the hash column: {cells:?}");
    }
    for t in &tokens {
        assert!(t.len() >= 20, "a short token: {t}");
        for (col, value) in &cells {
            assert!(!value.contains(t.as_str()), "api_tokens.{col} holds a token in clear");
        }
    }
    let rows = entity::api_token::Entity::find().all(&app.engine.db).await.unwrap();
    assert_eq!(rows.len(), tokens.len());
    for t in &tokens {
        let hash = worker::crypto::sha256_hex(t);
        assert_eq!(hash.len(), 64);
        assert!(hash.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(rows.iter().filter(|r| r.token_hash == hash).count(), 1, "the SHA-256 of a token is not stored");
    }
}

#[tokio::test]
async fn deactivating_a_user_revokes_their_tokens_and_blocks_login() {
    let app = TestApp::spawn().await;
    let (id, email) = create_user(&app, &unique_email("leaver"), "SUPERVISOR").await;
    let t1 = login(&app, &email, PASSWORD).await.ok().str("/login/token");
    let t2 = login(&app, &email, PASSWORD).await.ok().str("/login/token");
    me(&app, &t1).await.ok();
    let (_, bystander) = app.user_with_token("AGENT").await;

    let r = app.admin(DEACTIVATE, json!({ "id": id })).await;
    r.ok();
    assert_eq!(r.str("/deactivateUser/id"), id);
    assert_eq!(*r.data("/deactivateUser/active"), json!(false));

    assert_unauthenticated(&me(&app, &t1).await, "first token after deactivation");
    assert_unauthenticated(&me(&app, &t2).await, "second token after deactivation");
    let refused = login(&app, &email, PASSWORD).await;
    assert_unauthenticated(&refused, "login of a deactivated user");
    let wrong = login(&app, &email, "a long password 43").await;
    assert_eq!(
        refused.errors()[0]["message"],
        wrong.errors()[0]["message"],
        "the refusal tells a deactivated user apart"
    );
    // Every token row of the user is revoked in the database.
    let uid = uuid::Uuid::parse_str(&id).unwrap();
    let tokens = entity::api_token::Entity::find()
        .filter(entity::api_token::Column::UserId.eq(uid))
        .all(&app.engine.db)
        .await
        .unwrap();
    assert_eq!(tokens.len(), 2);
    assert!(tokens.iter().all(|t| t.revoked_at.is_some()));
    // Others keep working.
    me(&app, &bystander).await.ok();
    me(&app, &app.admin_token).await.ok();

    let users = app.admin("{ users { id email active } }", json!({})).await;
    users.ok();
    let listed: Vec<&Value> =
        users.data("/users").as_array().unwrap().iter().filter(|u| u["id"] == json!(id)).collect();
    assert_eq!(listed.len(), 1, "{}", users.raw);
    assert_eq!(listed[0]["active"], json!(false));
    assert_eq!(listed[0]["email"], json!(email));
    let one = app.admin("query($id: ID!) { user(id: $id) { active } }", json!({ "id": id })).await;
    assert_eq!(*one.ok().data("/user/active"), json!(false));
}

#[tokio::test]
async fn an_admin_cannot_deactivate_themselves() {
    let app = TestApp::spawn().await;
    let my_id = app.admin(ME, json!({})).await.ok().str("/me/id");
    let r = app.admin(DEACTIVATE, json!({ "id": my_id })).await;
    assert_eq!(r.code(), "CONFLICT", "{}", r.raw);
    let m = app.admin(ME, json!({})).await;
    m.ok();
    assert_eq!(*m.data("/me/active"), json!(true));
    // Another admin can.
    let (_, other_admin) = app.user_with_token("ADMIN").await;
    let r = app.gql(Some(&other_admin), DEACTIVATE, json!({ "id": my_id })).await;
    r.ok();
    assert_unauthenticated(&app.admin(ME, json!({})).await, "the deactivated admin");
}

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn bootstrap_creates_the_first_account_once_with_the_configured_admin() {
    tests::logs::install();
    let dir = TempDir(std::env::temp_dir().join(format!("wa-boot-{}", uuid::Uuid::new_v4().simple())));
    std::fs::create_dir_all(&dir.0).unwrap();
    let token = "bootstrap-token-0123456789abcdef";
    assert_eq!(token.len(), 32);
    let password = "bootstrap password 1";
    let email = "first.admin@example.com";
    let env: HashMap<&str, String> = HashMap::from([
        ("APP_DATABASE_URL", format!("sqlite://{}/app.db?mode=rwc", dir.0.display())),
        ("APP_DATA_DIR", dir.0.display().to_string()),
        ("APP_BOOTSTRAP_ADMIN_TOKEN", token.to_owned()),
        ("APP_BOOTSTRAP_ADMIN_PASSWORD", password.to_owned()),
        ("APP_BOOTSTRAP_ADMIN_EMAIL", email.to_owned()),
    ]);
    let config = worker::config::Config::load(|k| env.get(k).cloned()).unwrap();
    let engine = api::cli::engine(&config).await.unwrap();
    api::cli::bootstrap(&engine, &config).await.unwrap();
    api::cli::bootstrap(&engine, &config).await.unwrap();
    let accounts = entity::account::Entity::find().count(&engine.db).await.unwrap();
    assert_eq!(accounts, 1, "bootstrap ran twice");
    let users = entity::user::Entity::find().count(&engine.db).await.unwrap();
    assert_eq!(users, 1);

    // A restart (a new engine on the same database and data directory) does not bootstrap again either.
    let restarted = api::cli::engine(&config).await.unwrap();
    api::cli::bootstrap(&restarted, &config).await.unwrap();
    let accounts = entity::account::Entity::find().count(&restarted.db).await.unwrap();
    assert_eq!(accounts, 1, "bootstrap ran again after a restart");

    let key = dir.0.join("secret.key");
    assert!(key.exists(), "no secret.key in the data directory");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "secret.key mode is {:o}", mode & 0o777);
    }

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let served = restarted.clone();
    let server = tokio::spawn(async move {
        api::app::serve(listener, served, async move {
            let _ = rx.await;
        })
        .await
    });
    let http = reqwest::Client::new();
    let gql = |token: Option<&str>, query: &str, variables: Value| {
        let mut req = http
            .post(format!("{base}/graphql"))
            .header("accept", "application/graphql-response+json")
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap();
            (status, body)
        }
    };

    let (status, body) = gql(Some(token), ME, json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["me"]["role"], json!("ADMIN"));
    assert_eq!(body["data"]["me"]["email"], json!(email));

    let (status, body) = gql(None, LOGIN, json!({ "e": email.to_uppercase(), "p": password })).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["login"]["user"]["role"], json!("ADMIN"));
    let fresh = body["data"]["login"]["token"].as_str().unwrap().to_owned();
    assert_ne!(fresh, token);
    let (_, body) = gql(Some(&fresh), ME, json!({})).await;
    assert_eq!(body["data"]["me"]["role"], json!("ADMIN"), "{body}");

    // The fixed token is stored hashed like any other.
    let stored = entity::api_token::Entity::find().all(&restarted.db).await.unwrap();
    assert!(stored.iter().all(|t| !t.token_hash.contains(token)));

    let _ = tx.send(());
    server.await.unwrap().unwrap();
    restarted.db.close_by_ref().await.ok();
    engine.db.close_by_ref().await.ok();
}

#[tokio::test]
async fn a_new_bootstrap_token_replaces_the_old_one_on_restart() {
    tests::logs::install();
    let db = tests::TestDb::fresh().await.unwrap();
    let key = worker::crypto::Cipher::generate_key();
    let (old, new) = ("bootstrap-token-A-0123456789abcdef", "bootstrap-token-B-0123456789abcdef");
    let email = "first.admin@example.com";
    let config = |token: Option<&str>| {
        let mut env: HashMap<&str, String> = HashMap::from([
            ("APP_DATABASE_URL", db.url.clone()),
            ("APP_ENCRYPTION_KEY", key.expose().to_owned()),
            ("APP_BOOTSTRAP_ADMIN_PASSWORD", PASSWORD.to_owned()),
            ("APP_BOOTSTRAP_ADMIN_EMAIL", email.to_owned()),
        ]);
        if let Some(t) = token {
            env.insert("APP_BOOTSTRAP_ADMIN_TOKEN", t.to_owned());
        }
        worker::config::Config::load(|k| env.get(k).cloned()).unwrap()
    };
    // First start with token A; the admin also signs in with their password.
    let first = api::cli::engine(&config(Some(old))).await.unwrap();
    api::cli::bootstrap(&first, &config(Some(old))).await.unwrap();
    let session = first.login(email, PASSWORD, &Default::default()).await.unwrap().token;
    first.db.close_by_ref().await.ok();

    // Restarted with token B (twice: the second start changes nothing), then once without any.
    let restarted = api::cli::engine(&config(Some(new))).await.unwrap();
    api::cli::bootstrap(&restarted, &config(Some(new))).await.unwrap();
    api::cli::bootstrap(&restarted, &config(Some(new))).await.unwrap();
    api::cli::bootstrap(&restarted, &config(None)).await.unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/graphql", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(api::app::serve(listener, restarted.clone(), async move {
        let _ = rx.await;
    }));
    let http = reqwest::Client::new();
    let me_as = |token: &str| {
        let req = http.post(&base).bearer_auth(token).json(&json!({ "query": ME }));
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let body = me_as(new).await;
    assert_eq!(
        (body["data"]["me"]["email"].clone(), body["data"]["me"]["role"].clone()),
        (json!(email), json!("ADMIN"))
    );
    let body = me_as(old).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], json!("UNAUTHENTICATED"), "the replaced token: {body}");
    let body = me_as(session.expose()).await;
    assert_eq!(body["data"]["me"]["email"], json!(email), "the admin's sign-ins are left alone: {body}");
    let machine = entity::api_token::Entity::find()
        .filter(entity::api_token::Column::Kind.eq(entity::TokenKind::Machine))
        .filter(entity::api_token::Column::RevokedAt.is_null())
        .count(&restarted.db)
        .await
        .unwrap();
    assert_eq!(machine, 1, "one bootstrap token at a time");
    assert_eq!(entity::account::Entity::find().count(&restarted.db).await.unwrap(), 1);

    let _ = tx.send(());
    server.await.unwrap().unwrap();
    restarted.db.close_by_ref().await.ok();
}
