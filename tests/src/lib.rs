//! Test support shared by the integration tests and the load generators: `TestApp` starts the real server on a
//! random port against a fresh, migrated database (SQLite by default, PostgreSQL when `TEST_POSTGRES_URL` is set)
//! and talks to it over real HTTP.

pub mod bench;
pub mod chatbot_sim;
pub mod live;
pub mod logs;
pub mod provider_sim;

use anyhow::Context;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::PathBuf;
use worker::Engine;
use worker::accounts::NewUser;
use worker::config::Backend;
use worker::crypto::{Cipher, Secret};

/// The environment variable that switches the suite to PostgreSQL: a server URL whose user may create databases,
/// e.g. `postgres://postgres@127.0.0.1:5432/postgres`.
pub const POSTGRES_ENV: &str = "TEST_POSTGRES_URL";

/// A database that exists for one test and is dropped with it.
pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(PathBuf),
    Postgres { admin_url: String, name: String },
}

impl TestDb {
    pub async fn fresh() -> anyhow::Result<Self> {
        match std::env::var(POSTGRES_ENV).ok().filter(|s| !s.is_empty()) {
            Some(admin_url) => {
                let name = format!("t_{}", uuid::Uuid::new_v4().simple());
                let admin = worker::db::connect_url(&admin_url, Backend::Postgres).await?;
                use sea_orm::ConnectionTrait;
                admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await?;
                admin.close().await.ok();
                let mut u = url::Url::parse(&admin_url).context("TEST_POSTGRES_URL is not a URL")?;
                u.set_path(&format!("/{name}"));
                Ok(Self {
                    url: u.to_string(),
                    backend: Backend::Postgres,
                    cleanup: Cleanup::Postgres { admin_url, name },
                })
            }
            None => {
                let dir = std::env::temp_dir().join(format!("wa-test-{}", uuid::Uuid::new_v4().simple()));
                std::fs::create_dir_all(&dir)?;
                let url = format!("sqlite://{}/app.db?mode=rwc", dir.display());
                Ok(Self { url, backend: Backend::Sqlite, cleanup: Cleanup::Dir(dir) })
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Dir(d) => {
                let _ = std::fs::remove_dir_all(d);
            }
            Cleanup::Postgres { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop runs inside the test's runtime: use a thread with a runtime of its own.
                let _ = std::thread::spawn(move || {
                    let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                        return;
                    };
                    rt.block_on(async move {
                        if let Ok(db) = worker::db::connect_url(&admin_url, Backend::Postgres).await {
                            use sea_orm::ConnectionTrait;
                            let _ =
                                db.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
                            let _ = db.close().await;
                        }
                    })
                })
                .join();
            }
        }
    }
}

/// A GraphQL response as the client saw it.
#[derive(Debug, Clone)]
pub struct Gql {
    pub status: u16,
    pub raw: String,
    pub body: Value,
}

impl Gql {
    /// `data` at a JSON pointer such as `/createChannel/id`; panics with the whole response when absent.
    pub fn data(&self, pointer: &str) -> &Value {
        match self.body.pointer(&format!("/data{pointer}")) {
            Some(v) if !v.is_null() || self.errors().is_empty() => v,
            _ => panic!("no data at {pointer}: {}", self.raw),
        }
    }
    pub fn str(&self, pointer: &str) -> String {
        self.data(pointer).as_str().unwrap_or_else(|| panic!("not a string at {pointer}: {}", self.raw)).to_owned()
    }
    pub fn errors(&self) -> Vec<Value> {
        self.body.get("errors").and_then(Value::as_array).cloned().unwrap_or_default()
    }
    /// The `extensions.code` of the first error; panics when the request succeeded.
    pub fn code(&self) -> String {
        let errs = self.errors();
        let first = errs.first().unwrap_or_else(|| panic!("expected an error: {}", self.raw));
        first.pointer("/extensions/code").and_then(Value::as_str).unwrap_or("<none>").to_owned()
    }
    /// `(field, code)` of every input error reported in `extensions.errors`.
    pub fn input_errors(&self) -> Vec<(String, String)> {
        self.errors()
            .first()
            .and_then(|e| e.pointer("/extensions/errors"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|e| {
                        (e["field"].as_str().unwrap_or("").to_owned(), e["code"].as_str().unwrap_or("").to_owned())
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
    pub fn ok(&self) -> &Self {
        assert!(self.errors().is_empty() && self.status == 200, "request failed: {}", self.raw);
        self
    }
}

/// The password of the users the helpers create.
pub const TEST_PASSWORD: &str = "correct horse battery";

pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub http: reqwest::Client,
    pub engine: Engine,
    pub admin_token: String,
    pub account_id: String,
    pub db: TestDb,
    /// The encryption key the engine uses, for worker processes started beside it.
    pub encryption_key: Secret,
    /// Whether the teardown fails the test when a job was left failed (tests; not the load generators).
    check_failed_jobs: std::sync::atomic::AtomicBool,
    shutdown: Option<tokio::sync::watch::Sender<bool>>,
}

pub const PUBLIC_BASE: &str = "https://hooks.example.test";

impl TestApp {
    /// The real server on a random port, a fresh database and a first account with its admin.
    pub async fn spawn() -> Self {
        Self::spawn_with(true).await
    }

    /// As `spawn`; `capture_logs: false` leaves logging alone (load generators).
    pub async fn spawn_with(capture_logs: bool) -> Self {
        Self::spawn_live(capture_logs, worker::live::LiveSettings::default()).await
    }

    /// As `spawn_with`, with other live settings (retention, presence grace).
    pub async fn spawn_live(capture_logs: bool, live: worker::live::LiveSettings) -> Self {
        Self::spawn_full(capture_logs, live, worker::net::UrlPolicy::default()).await
    }

    /// As `spawn`, refusing admin-typed URLs that reach private addresses (PostgreSQL's default).
    pub async fn spawn_strict_urls() -> Self {
        Self::spawn_full(true, worker::live::LiveSettings::default(), worker::net::UrlPolicy { allow_private: false })
            .await
    }

    async fn spawn_full(capture_logs: bool, live: worker::live::LiveSettings, urls: worker::net::UrlPolicy) -> Self {
        match Self::try_spawn(capture_logs, live, urls, Default::default(), true).await {
            Ok(app) => app,
            Err(e) => panic!("cannot start the test app: {e:#}"),
        }
    }

    /// As `spawn_with`, with no job workers until [`TestApp::start_workers`] (load generators that measure
    /// intake alone, then processing of the backlog).
    pub async fn spawn_without_workers(capture_logs: bool) -> Self {
        let (live, urls) = (worker::live::LiveSettings::default(), worker::net::UrlPolicy::default());
        match Self::try_spawn(capture_logs, live, urls, Default::default(), false).await {
            Ok(app) => app,
            Err(e) => panic!("cannot start the test app: {e:#}"),
        }
    }

    /// Starts the job workers of an app spawned without them; they stop with the app.
    pub fn start_workers(&self) {
        let Some(tx) = self.shutdown.as_ref() else { return };
        let mut rx = tx.subscribe();
        let stopped = async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        tokio::spawn(worker::runtime::run_workers_with(self.engine.clone(), Self::worker_settings(), stopped));
    }

    /// No re-verification ticker: a tick at the top of the hour would re-verify the test's numbers.
    fn worker_settings() -> worker::runtime::WorkerSettings {
        worker::runtime::WorkerSettings { reverify_schedule: None, ..Default::default() }
    }

    /// As `spawn`, with login throttling settings (trusted proxies and networks).
    pub async fn spawn_with_login(login: worker::accounts::throttle::LoginSettings) -> Self {
        let (live, urls) = (worker::live::LiveSettings::default(), worker::net::UrlPolicy::default());
        match Self::try_spawn(true, live, urls, login, true).await {
            Ok(app) => app,
            Err(e) => panic!("cannot start the test app: {e:#}"),
        }
    }

    async fn try_spawn(
        capture_logs: bool,
        live: worker::live::LiveSettings,
        urls: worker::net::UrlPolicy,
        login: worker::accounts::throttle::LoginSettings,
        workers: bool,
    ) -> anyhow::Result<Self> {
        if capture_logs {
            logs::install();
        }
        let db = TestDb::fresh().await?;
        let conn = worker::db::connect_migrated(&db.url, db.backend).await?;
        let encryption_key = Cipher::generate_key();
        let cipher = Cipher::from_base64_key(&encryption_key)?;
        let engine = Engine::new(conn, cipher, PUBLIC_BASE)?.with_live_settings(live).with_url_policy(urls)?;
        let engine = engine.with_sign_in_settings(worker::accounts::TokenSettings::default(), login);
        engine.jobs.setup(&db.url).await?;
        let admin = NewUser {
            email: format!("admin-{}@example.com", uuid::Uuid::new_v4().simple()),
            name: "Admin".into(),
            password: Secret::new(TEST_PASSWORD),
            role: entity::Role::Admin,
        };
        let (account, issued) =
            engine.create_account("Test account", admin, None).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = tokio::sync::watch::channel(false);
        let stopped = move || {
            let mut rx = rx.clone();
            async move {
                let _ = rx.wait_for(|s| *s).await;
            }
        };
        tokio::spawn(api::app::serve(listener, engine.clone(), stopped()));
        if workers {
            tokio::spawn(worker::runtime::run_workers_with(engine.clone(), Self::worker_settings(), stopped()));
        }
        Ok(Self {
            addr,
            base: format!("http://{addr}"),
            http: reqwest::Client::new(),
            engine,
            admin_token: issued.token.expose().to_owned(),
            account_id: account.id.to_string(),
            db,
            encryption_key,
            check_failed_jobs: std::sync::atomic::AtomicBool::new(capture_logs),
            shutdown: Some(tx),
        })
    }

    /// POSTs a GraphQL request with `Accept: application/graphql-response+json`.
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Gql {
        let mut req = self
            .http
            .post(format!("{}/graphql", self.base))
            .header("accept", "application/graphql-response+json")
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("request failed: {e}"));
        let status = resp.status().as_u16();
        let raw = resp.text().await.unwrap_or_default();
        logs::record_body(&raw);
        let body = serde_json::from_str(&raw).unwrap_or(Value::Null);
        Gql { status, raw, body }
    }

    /// A GraphQL request as the account's first admin.
    pub async fn admin(&self, query: &str, variables: Value) -> Gql {
        self.gql(Some(&self.admin_token), query, variables).await
    }

    /// Creates a user with the role (`ADMIN`, `SUPERVISOR`, `AGENT`) and logs them in: `(id, token)`.
    pub async fn user_with_token(&self, role: &str) -> (String, String) {
        self.user_with_token_as(&self.admin_token, role).await
    }

    pub async fn user_with_token_as(&self, admin_token: &str, role: &str) -> (String, String) {
        let (id, email) = self.user_as(admin_token, role).await;
        (id, self.login(&email).await)
    }

    /// Creates a user with the role and the test password ([`TEST_PASSWORD`]): `(id, email)`.
    pub async fn user_as(&self, admin_token: &str, role: &str) -> (String, String) {
        let email = format!("{}-{}@example.com", role.to_lowercase(), uuid::Uuid::new_v4().simple());
        let r = self
            .gql(
                Some(admin_token),
                "mutation($i: CreateUserInput!) { createUser(input: $i) { id } }",
                json!({ "i": { "email": email, "name": format!("{role} user"), "password": TEST_PASSWORD, "role": role } }),
            )
            .await;
        (r.ok().str("/createUser/id"), email)
    }

    /// Signs in with the test password: a new session token.
    pub async fn login(&self, email: &str) -> String {
        let r = self
            .gql(
                None,
                "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }",
                json!({ "e": email, "p": TEST_PASSWORD }),
            )
            .await;
        r.ok().str("/login/token")
    }

    /// Another account with its own admin: the admin's token.
    pub async fn other_account(&self) -> String {
        let admin = NewUser {
            email: format!("other-{}@example.com", uuid::Uuid::new_v4().simple()),
            name: "Other admin".into(),
            password: Secret::new(TEST_PASSWORD),
            role: entity::Role::Admin,
        };
        let (_, issued) = self
            .engine
            .create_account("Other account", admin, None)
            .await
            .unwrap_or_else(|e| panic!("cannot create another account: {e}"));
        issued.token.expose().to_owned()
    }

    /// A valid channel form, with the given name.
    pub fn channel_input(name: &str) -> Value {
        json!({
            "name": name,
            "apiUrl": "https://nova.example.test/api",
            "utilization": 25,
            "autoAssignmentLimit": 4,
            "autoAnswer": false,
            "alertingTimeout": 30,
            "wrapUpTimeout": 60,
            "wrapUpCodes": ["Sold", "Not interested"],
        })
    }

    /// Creates a channel as `token` and returns its id.
    pub async fn create_channel_as(&self, token: &str, input: Value) -> String {
        self.gql(Some(token), "mutation($i: ChannelInput!) { createChannel(input: $i) { id } }", json!({ "i": input }))
            .await
            .ok()
            .str("/createChannel/id")
    }

    pub async fn create_channel(&self, name: &str) -> String {
        self.create_channel_as(&self.admin_token, Self::channel_input(name)).await
    }

    /// Adds a number to a channel as the admin; returns its id.
    pub async fn add_number(&self, channel_id: &str, phone: &str, api_key: &str) -> String {
        self.admin(
            "mutation($c: ID!, $i: PhoneNumberInput!) { addPhoneNumber(channelId: $c, input: $i) { id } }",
            json!({ "c": channel_id, "i": { "phoneNumber": phone, "apiKey": api_key } }),
        )
        .await
        .ok()
        .str("/addPhoneNumber/id")
    }

    /// The channel's webhook URL as the admin sees it, pointed at this test server (the URL carries the public
    /// base URL; the test server listens elsewhere).
    pub async fn webhook_url(&self, channel_id: &str) -> String {
        self.admin("query($id: ID!) { channel(id: $id) { webhookUrl } }", json!({ "id": channel_id }))
            .await
            .ok()
            .str("/channel/webhookUrl")
            .replace(PUBLIC_BASE, &self.base)
    }

    /// Rows in a table, straight from the database.
    pub async fn count(&self, table: &str) -> i64 {
        use sea_orm::{ConnectionTrait, Statement};
        let stmt =
            Statement::from_string(self.engine.db.get_database_backend(), format!("SELECT COUNT(*) AS n FROM {table}"));
        let row =
            self.engine.db.query_one_raw(stmt).await.ok().flatten().unwrap_or_else(|| panic!("cannot count {table}"));
        row.try_get::<i64>("", "n").unwrap_or_else(|e| panic!("count {table}: {e}"))
    }

    /// Row counts of every product table: to prove a request wrote nothing.
    pub async fn snapshot(&self) -> Vec<(String, i64)> {
        let mut out = Vec::new();
        for t in [
            "accounts",
            "users",
            "api_tokens",
            "chatbots",
            "channels",
            "channel_agents",
            "wrap_up_codes",
            "phone_numbers",
        ] {
            out.push((t.to_owned(), self.count(t).await));
        }
        out
    }

    /// The statement counter the server exposes on `/metrics`.
    pub async fn statements(&self) -> u64 {
        let text = self.http.get(format!("{}/metrics", self.base)).send().await.ok();
        let text = match text {
            Some(r) => r.text().await.unwrap_or_default(),
            None => String::new(),
        };
        text.lines()
            .find_map(|l| l.strip_prefix("db_statements_total "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no db_statements_total in /metrics: {text}"))
    }
}

impl TestApp {
    /// For tests that leave failed jobs on purpose (the failed-jobs screen): the teardown does not fail them.
    pub fn allow_failed_jobs(&self) {
        self.check_failed_jobs.store(false, std::sync::atomic::Ordering::Relaxed);
    }

    /// Failed jobs, counted on a connection of its own (usable from `Drop`); None when it cannot tell.
    fn failed_jobs_blocking(&self) -> Option<i64> {
        let (url, backend) = (self.db.url.clone(), self.db.backend);
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async move {
                use sea_orm::{ConnectionTrait, Statement};
                let db = worker::db::connect_url(&url, backend).await.ok()?;
                let sql = failed_jobs_sql(db.get_database_backend());
                let row = db.query_one_raw(Statement::from_string(db.get_database_backend(), sql)).await.ok()??;
                let n = row.try_get::<i64>("", "n").ok();
                db.close().await.ok();
                n
            })
        })
        .join()
        .ok()
        .flatten()
    }
}

/// The teardown: stops the server and workers, and fails the test when a job was left failed (unless the test
/// said it expects that, or is already failing).
impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(true);
        }
        if self.check_failed_jobs.load(std::sync::atomic::Ordering::Relaxed) && !std::thread::panicking() {
            let failed = self.failed_jobs_blocking();
            assert_eq!(failed, Some(0), "jobs were left failed (or the teardown could not count them)");
        }
    }
}

/// Polls `f` until it returns `Some`, for at most `limit`; panics naming `what` otherwise. Tests wait for the
/// work they expect, never for a fixed time.
pub async fn eventually<T, F, Fut>(limit: std::time::Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = std::time::Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(started.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

/// Counts the jobs that exhausted their attempts.
fn failed_jobs_sql(backend: sea_orm::DatabaseBackend) -> String {
    format!(
        "SELECT COUNT(*) AS n FROM {} WHERE status IN ('Failed','Killed') AND attempts >= max_attempts",
        worker::jobs::table(backend)
    )
}

impl TestApp {
    /// apalis' job table in this app's database.
    pub fn jobs_table(&self) -> &'static str {
        worker::jobs::table(self.engine.db.get_database_backend())
    }

    /// Jobs that are due and not finished (pending, queued or running), straight from apalis' table.
    pub async fn jobs_due(&self) -> i64 {
        use sea_orm::{ConnectionTrait, Statement};
        let backend = self.engine.db.get_database_backend();
        let now = match backend {
            sea_orm::DatabaseBackend::Postgres => "now()",
            _ => "strftime('%s','now')",
        };
        let sql = format!(
            "SELECT COUNT(*) AS n FROM {} WHERE status IN ('Pending','Queued','Running') AND run_at <= {now}",
            self.jobs_table()
        );
        let row = self.engine.db.query_one_raw(Statement::from_string(backend, sql)).await.ok().flatten();
        row.and_then(|r| r.try_get::<i64>("", "n").ok()).unwrap_or(-1)
    }

    /// Waits until every due job has run (instead of sleeping), then fails if any job was left failed.
    pub async fn drain_jobs(&self) {
        eventually(std::time::Duration::from_secs(20), "due jobs to drain", || async {
            (self.jobs_due().await == 0).then_some(())
        })
        .await;
        self.assert_no_failed_jobs().await;
    }

    /// Fails when a job exhausted its attempts.
    pub async fn assert_no_failed_jobs(&self) {
        use sea_orm::{ConnectionTrait, Statement};
        let backend = self.engine.db.get_database_backend();
        let sql = failed_jobs_sql(backend);
        let row = self.engine.db.query_one_raw(Statement::from_string(backend, sql)).await.ok().flatten();
        let n = row.and_then(|r| r.try_get::<i64>("", "n").ok()).unwrap_or(-1);
        assert_eq!(n, 0, "jobs were left failed");
    }
}

/// A chatbot serving clients: created with the simulator's endpoint, its credentials rotated and handed to the
/// simulator (which calls this app's API with them).
pub struct ServingChatbot {
    pub id: String,
    pub token: String,
    pub signing_secret: String,
}

impl TestApp {
    /// Creates a chatbot posting to `sim` and gives `sim` its credentials.
    pub async fn serving_chatbot(&self, name: &str, sim: &chatbot_sim::ChatbotSim) -> ServingChatbot {
        let r = self
            .admin(
                "mutation($i: ChatbotInput!) { createChatbot(input: $i) { id } }",
                json!({ "i": { "name": name, "endpointUrl": sim.url() } }),
            )
            .await;
        let id = r.ok().str("/createChatbot/id");
        let r = self
            .admin(
                "mutation($id: ID!) { rotateChatbotCredentials(id: $id) { token signingSecret } }",
                json!({ "id": id }),
            )
            .await;
        let token = r.ok().str("/rotateChatbotCredentials/token");
        let signing_secret = r.str("/rotateChatbotCredentials/signingSecret");
        sim.configure(&format!("{}/graphql", self.base), &token, &signing_secret);
        ServingChatbot { id, token, signing_secret }
    }
}
