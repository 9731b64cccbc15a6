//! Real worker processes (`app work`, the product's binary) sharing one fresh database, against the provider
//! simulator: the scheduled re-verification runs once per tick with two processes (PostgreSQL), a process killed
//! with SIGKILL in the middle of jobs loses none of them (another process finishes them), and SIGTERM lets a
//! running job finish. The database and the numbers are prepared in-process with the same encryption key the
//! processes get; no worker runs in the test process itself.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use sea_orm::{ConnectionTrait, EntityTrait, Statement};
use serde_json::Value;
use std::time::{Duration, Instant};
use tests::provider_sim::ProviderSim;

#[path = "common/proc.rs"]
mod proc;
use proc::Proc;
use tests::{PUBLIC_BASE, TestDb};
use uuid::Uuid;
use worker::Engine;
use worker::accounts::NewUser;
use worker::actor::Actor;
use worker::channels::{ChannelForm, SettingsForm};
use worker::config::Backend;
use worker::crypto::{Cipher, Secret};

/// A fresh migrated database with one account, a channel on the simulator and `n` numbers the simulator knows.
struct World {
    db: TestDb,
    engine: Engine,
    key: Secret,
    admin: Actor,
    numbers: Vec<Uuid>,
}

impl World {
    async fn new(sim: &ProviderSim, n: usize) -> Self {
        let db = TestDb::fresh().await.unwrap();
        let conn = worker::db::connect_migrated(&db.url, db.backend).await.unwrap();
        let key = Cipher::generate_key();
        let engine = Engine::new(conn, Cipher::from_base64_key(&key).unwrap(), PUBLIC_BASE).unwrap();
        engine.jobs.setup(&db.url).await.unwrap();
        let admin = NewUser {
            email: "admin@example.com".into(),
            name: "Admin".into(),
            password: Secret::new("correct horse battery"),
            role: entity::Role::Admin,
        };
        let (_, issued) = engine.create_account("Processes", admin, None).await.unwrap();
        let admin = engine.authenticate(issued.token.expose()).await.unwrap();
        let form = ChannelForm {
            settings: SettingsForm {
                name: "Processes".into(),
                chatbot_id: None,
                conversation_type: entity::ConversationType::Chat,
                can_write_first: false,
                provider: entity::Provider::NovaChatsConnector,
                api_url: sim.url(),
                utilization: 25,
                auto_assignment_limit: 4,
                auto_answer: true,
                alerting_timeout: None,
                wrap_up_timeout: None,
                chatbot_timeout: worker::channels::form::CHATBOT_TIMEOUT_DEFAULT,
            },
            wrap_up_codes: vec![],
            agent_ids: vec![],
        };
        let channel = engine.create_channel(&admin, &form).await.unwrap();
        let mut numbers = Vec::new();
        for i in 0..n {
            let phone = format!("+1415555{:04}", 1000 + i);
            let api_key = format!("key-{i:04}");
            sim.add_number(&phone, &api_key, true);
            numbers.push(engine.add_phone_number(&admin, channel.id, &phone, &api_key).await.unwrap().id);
        }
        World { db, engine, key, admin, numbers }
    }

    fn start(&self, name: &str, env: &[(&str, &str)]) -> Proc {
        Proc::start(name, &self.db.url, &self.key, env)
    }

    async fn verifications(&self) -> Vec<entity::Verification> {
        let mut out = Vec::new();
        for id in &self.numbers {
            let n = entity::phone_number::Entity::find_by_id(*id).one(&self.engine.db).await.unwrap().unwrap();
            out.push(n.verification);
        }
        out
    }

    /// Polls until every number is VERIFIED; how long it took, or `None` after `limit`.
    async fn all_verified_within(&self, limit: Duration) -> Option<Duration> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if self.verifications().await.iter().all(|v| *v == entity::Verification::Verified) {
                return Some(started.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        None
    }

    fn jobs_table(&self) -> &'static str {
        worker::jobs::table(self.engine.db.get_database_backend())
    }

    async fn scalar(&self, sql: &str) -> i64 {
        let backend = self.engine.db.get_database_backend();
        let row = self.engine.db.query_one_raw(Statement::from_string(backend, sql)).await.unwrap().unwrap();
        row.try_get_by_index::<i64>(0).unwrap()
    }

    /// `(status, attempts, last result)` of a queue's rows.
    async fn job_statuses(&self, queue: &str) -> Vec<(String, i64, Option<String>)> {
        let backend = self.engine.db.get_database_backend();
        let last = if backend == sea_orm::DatabaseBackend::Postgres { "last_result::text" } else { "last_result" };
        let sql = format!(
            "SELECT status, CAST(attempts AS BIGINT) AS attempts, {last} AS last FROM {} WHERE job_type = '{queue}'",
            self.jobs_table()
        );
        let rows = self.engine.db.query_all_raw(Statement::from_string(backend, sql)).await.unwrap();
        rows.iter()
            .map(|r| {
                (r.try_get("", "status").unwrap(), r.try_get("", "attempts").unwrap(), r.try_get("", "last").unwrap())
            })
            .collect()
    }

    /// Rows of a queue in apalis' table, optionally only those in `status`.
    async fn jobs(&self, queue: &str, status: Option<&str>) -> i64 {
        let filter = status.map(|s| format!(" AND status = '{s}'")).unwrap_or_default();
        self.scalar(&format!("SELECT COUNT(*) FROM {} WHERE job_type = '{queue}'{filter}", self.jobs_table())).await
    }
}

fn postgres_only(test: &str) -> bool {
    if std::env::var(tests::POSTGRES_ENV).map(|v| v.is_empty()).unwrap_or(true) {
        eprintln!("{test}: skipped, it runs on PostgreSQL only (set {})", tests::POSTGRES_ENV);
        return false;
    }
    true
}

/// Ticks (unix seconds) a process logged as queued by itself / found queued by another process.
fn ticks(p: &Proc) -> (Vec<i64>, Vec<i64>) {
    let (mut mine, mut theirs) = (Vec::new(), Vec::new());
    for line in p.log_lines() {
        let message = line.pointer("/fields/message").and_then(Value::as_str).unwrap_or_default();
        let tick = line.pointer("/span/tick").and_then(Value::as_i64);
        match (tick, message) {
            (Some(t), "re-verification batch queued for this tick") => mine.push(t),
            (Some(t), "re-verification batch for this tick already queued by another process") => theirs.push(t),
            _ => {}
        }
    }
    (mine, theirs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduled_batch_runs_once_per_tick_with_two_worker_processes() {
    if !postgres_only("the_scheduled_batch_runs_once_per_tick_with_two_worker_processes") {
        return;
    }
    const NUMBERS: usize = 3;
    let sim = ProviderSim::start().await;
    let world = World::new(&sim, NUMBERS).await;
    let every_2s = [("APP_REVERIFY_SCHEDULE", "*/2 * * * * *")];
    let mut a = world.start("worker-a", &every_2s);
    let mut b = world.start("worker-b", &every_2s);
    tokio::time::sleep(Duration::from_secs(9)).await;
    assert!(world.all_verified_within(Duration::from_secs(5)).await.is_some(), "{:?}", world.verifications().await);
    a.terminate();
    b.terminate();
    assert!(a.wait_exit(Duration::from_secs(25)).await.is_some_and(|s| s.success()), "worker-a did not stop cleanly");
    assert!(b.wait_exit(Duration::from_secs(25)).await.is_some_and(|s| s.success()), "worker-b did not stop cleanly");

    // Both processes ticked; for every tick exactly one of them queued the batch, the other found it queued.
    let (a_mine, a_theirs) = ticks(&a);
    let (b_mine, b_theirs) = ticks(&b);
    let mut queued: Vec<i64> = a_mine.iter().chain(&b_mine).copied().collect();
    queued.sort_unstable();
    let distinct = {
        let mut d = queued.clone();
        d.dedup();
        d
    };
    assert_eq!(queued, distinct, "a tick's batch was queued twice: a {a_mine:?}, b {b_mine:?}");
    let mut seen_by_both = 0;
    for t in a_theirs.iter().chain(&b_theirs) {
        assert!(queued.contains(t), "tick {t} found queued, but nobody queued it");
        seen_by_both += 1;
    }
    assert!(queued.len() >= 3, "expected a few ticks in 9 s, got {queued:?}");
    assert!(seen_by_both >= 2, "the processes did not tick together: queued {queued:?}, a {a_theirs:?} b {b_theirs:?}");

    // One batch row per tick, each fanned out once: NUMBERS checks per batch that ran.
    let batches = world.jobs("reverify_batch", None).await;
    assert_eq!(batches, queued.len() as i64);
    let ran = world.jobs("reverify_batch", Some("Done")).await;
    assert!(ran >= 3, "{ran} batches ran");
    let checks = world.jobs("verify_number", None).await;
    assert_eq!(checks, ran * NUMBERS as i64, "{checks} verify jobs for {ran} batches");
    eprintln!(
        "scheduled batch: {} ticks, {ran} batches ran, {checks} checks, provider saw {} (worker-a queued {}, worker-b {})",
        queued.len(),
        sim.verify_attempts(),
        a_mine.len(),
        b_mine.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_in_the_middle_of_jobs_loses_none_of_them() {
    const NUMBERS: usize = 6;
    let sim = ProviderSim::start().await;
    let world = World::new(&sim, NUMBERS).await;
    for id in &world.numbers {
        world.engine.verify_phone_number(&world.admin, *id).await.unwrap();
    }
    // Every check hangs long enough for the kill to land in the middle of it.
    sim.set_delay(Duration::from_secs(3));
    let mut a = world.start("worker-a", &[]);
    let started = Instant::now();
    while sim.verify_attempts() < NUMBERS && started.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(sim.verify_attempts(), NUMBERS, "worker-a did not start every check");
    let b = world.start("worker-b", &[]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    a.kill();
    let killed = Instant::now();
    let took = world.all_verified_within(Duration::from_secs(60)).await;
    assert!(took.is_some(), "not all verified after the kill: {:?}", world.verifications().await);
    let took = killed.elapsed();
    assert!(sim.verify_attempts() >= 2 * NUMBERS, "the orphaned checks did not run again: {}", sim.verify_attempts());
    // apalis records the runs as done (its acknowledgement follows the handler by a moment).
    let started = Instant::now();
    while world.jobs("verify_number", Some("Done")).await < NUMBERS as i64 && started.elapsed() < Duration::from_secs(5)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(world.jobs("verify_number", Some("Done")).await, NUMBERS as i64);
    assert_eq!(world.jobs("verify_number", None).await, NUMBERS as i64);
    eprintln!(
        "{:?}: {NUMBERS} checks orphaned by SIGKILL finished by the other process {:.1} s after the kill \
         (heartbeat 1 s, dead after 3 missed, checks take 3 s)",
        world.db.backend,
        took.as_secs_f64()
    );
    drop(b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_running_job_finish() {
    let sim = ProviderSim::start().await;
    let world = World::new(&sim, 1).await;
    world.engine.verify_phone_number(&world.admin, world.numbers[0]).await.unwrap();
    sim.set_delay(Duration::from_secs(3));
    let mut a = world.start("worker", &[("APP_WORKER_HEARTBEAT_SECS", "10")]);
    let started = Instant::now();
    while sim.verify_attempts() < 1 && started.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(sim.verify_attempts(), 1, "the worker never called the provider");
    a.terminate();
    let signalled = Instant::now();
    let status = a.wait_exit(Duration::from_secs(30)).await.expect("the worker did not exit after SIGTERM");
    assert!(status.success(), "exit status {status}");
    let waited = signalled.elapsed();
    assert_eq!(world.verifications().await, vec![entity::Verification::Verified]);
    let done = world.jobs("verify_number", Some("Done")).await;
    if done != 1 {
        let statuses = world.job_statuses("verify_number").await;
        panic!("the job's row is not Done: {statuses:?}");
    }
    assert_eq!(sim.verify_attempts(), 1);
    assert!(waited < worker::runtime::SHUTDOWN_GRACE, "{waited:?}");
    eprintln!(
        "{:?}: SIGTERM during a 3 s check: exited {:.1} s later, the check recorded",
        world.db.backend,
        waited.as_secs_f64()
    );
}

/// A job queued by another process is woken by PostgreSQL's notification, not found by polling: the worker
/// process polls (and beats, which also fetches) only every 10 minutes here, yet the check runs at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_queued_elsewhere_starts_on_its_notification() {
    let sim = ProviderSim::start().await;
    let world = World::new(&sim, 1).await;
    if world.db.backend != Backend::Postgres {
        return; // on SQLite only the queuing process wakes its own workers; others poll
    }
    let w = world.start("worker", &[("APP_WORKER_POLL_MS", "600000"), ("APP_WORKER_HEARTBEAT_SECS", "600")]);
    tests::eventually(Duration::from_secs(20), "the worker to listen for notifications", || async {
        w.log_text().contains("listening for job notifications").then_some(())
    })
    .await;
    world.engine.verify_phone_number(&world.admin, world.numbers[0]).await.unwrap();
    let took = world.all_verified_within(Duration::from_secs(30)).await;
    assert!(took.is_some(), "the check never ran: {:?}", world.verifications().await);
    eprintln!("verified {:?} after queuing, by a worker that polls every 10 minutes", took.unwrap_or_default());
}

/// The `GraphQL: http://ADDR/graphql` line an `api` process prints when it listens.
async fn listening_addr(p: &Proc) -> std::net::SocketAddr {
    tests::eventually(Duration::from_secs(30), "the api process to listen", || async {
        p.log_text().lines().find_map(|l| {
            l.strip_prefix("GraphQL: http://").and_then(|r| r.split('/').next()).and_then(|a| a.parse().ok())
        })
    })
    .await
}

#[tokio::test]
async fn events_of_a_work_process_reach_subscribers_of_an_api_process_even_when_its_listener_is_killed() {
    let sim = ProviderSim::start().await;
    let world = World::new(&sim, 1).await;
    if world.db.backend != Backend::Postgres {
        return; // separate api and work processes are a PostgreSQL deployment
    }
    let api = Proc::start_as("api", "api", &world.db.url, &world.key, &[]);
    let _work = world.start("worker", &[]);
    let addr = listening_addr(&api).await;
    let token =
        world.engine.login("admin@example.com", "correct horse battery", &Default::default()).await.unwrap().token;
    let mut live = tests::live::LiveClient::connect(addr, tests::live::TRANSPORT_WS, token.expose()).await.unwrap();
    // From the log's head now: the server starts the subscription after this returns, and without a cursor an
    // event committed in between (the work process verifies within milliseconds) would be before its start.
    let head = world
        .engine
        .db
        .query_one_raw(Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            "SELECT COALESCE(MAX(last_seq), 0) AS head FROM event_counters",
        ))
        .await
        .unwrap()
        .and_then(|r| r.try_get::<i64>("", "head").ok())
        .unwrap_or(0);
    live.subscribe(
        "1",
        "subscription($after: String) { channelEvents(after: $after) { cursor kind phoneNumberId \
         phoneNumber { verification } } }",
        serde_json::json!({ "after": head.to_string() }),
    )
    .await
    .unwrap();
    let wait = Duration::from_secs(20);
    let mut last = 0i64;
    for round in 0..4 {
        if round == 2 {
            // Kill the api process's LISTEN connection: it reconnects and catches up; nothing is lost.
            let killed = world
                .engine
                .db
                .query_all_raw(Statement::from_string(
                    sea_orm::DatabaseBackend::Postgres,
                    "SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity \
                     WHERE query ILIKE 'LISTEN%live_events%' AND datname = current_database()",
                ))
                .await
                .unwrap();
            assert!(!killed.is_empty(), "the api process listens for live events");
        }
        // A verification runs in the work process and appends NUMBER_VERIFIED there.
        world.engine.verify_phone_number(&world.admin, world.numbers[0]).await.unwrap();
        let ev = loop {
            let d = live.event("1", wait).await;
            if d["channelEvents"]["kind"] == "NUMBER_VERIFIED" {
                break d["channelEvents"].clone();
            }
        };
        let cursor: i64 = ev["cursor"].as_str().unwrap().parse().unwrap();
        assert!(cursor > last, "round {round}: cursors increase");
        last = cursor;
        assert_eq!(ev["phoneNumberId"], Value::String(world.numbers[0].to_string()));
    }
    // The listener noticed and came back (events meanwhile were read by cursor).
    tests::eventually(wait, "the api process to reconnect its listener", || async {
        api.log_text().contains("live event listener").then_some(())
    })
    .await;
}

#[tokio::test]
async fn an_agent_whose_api_process_dies_goes_offline_after_the_grace() {
    let sim = ProviderSim::start().await;
    let world = World::new(&sim, 0).await;
    if world.db.backend != Backend::Postgres {
        return; // separate api and work processes are a PostgreSQL deployment
    }
    let agent = NewUser {
        email: "agent@example.com".into(),
        name: "Agent".into(),
        password: Secret::new("correct horse battery"),
        role: entity::Role::Agent,
    };
    let agent = world.engine.create_user(&world.admin, agent).await.unwrap();
    let token =
        world.engine.login("agent@example.com", "correct horse battery", &Default::default()).await.unwrap().token;
    let actor = world.engine.authenticate(token.expose()).await.unwrap();
    world.engine.set_my_status(&actor, entity::AgentStatus::Online, None).await.unwrap();

    let grace = [("APP_PRESENCE_GRACE_SECS", "2")];
    let mut api = Proc::start_as("api", "api", &world.db.url, &world.key, &grace);
    let _work = world.start("worker", &grace);
    let addr = listening_addr(&api).await;
    let mut desk = tests::live::LiveClient::connect(addr, tests::live::TRANSPORT_WS, token.expose()).await.unwrap();
    desk.subscribe("1", "subscription { myEvents { cursor kind } }", serde_json::json!({})).await.unwrap();
    let wait = Duration::from_secs(30);
    tests::eventually(wait, "the desktop connection to be recorded", || async {
        let rows = entity::desktop_connection::Entity::find().all(&world.engine.db).await.unwrap();
        rows.iter().any(|r| r.user_id == agent.id).then_some(())
    })
    .await;

    // The api process dies without closing anything: its heartbeats stop, and after the grace the work
    // process's sweep takes the agent OFFLINE.
    api.kill();
    let status = || async { world.engine.agent_views(&[agent.id]).await.unwrap().remove(&agent.id).map(|v| v.status) };
    tests::eventually(wait, "the agent to go OFFLINE", || async {
        (status().await == Some(entity::AgentStatus::Offline)).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chatbot_post_cut_by_a_crash_reaches_the_bot_once_with_its_key() {
    use tests::chatbot_sim::{ChatbotSim, Mode};
    let sim = ProviderSim::start().await;
    let world = World::new(&sim, 1).await;
    let bot_sim = ChatbotSim::start().await;
    bot_sim.set_mode(Mode::Silent);
    // The bot answers slowly: the kill lands while the post is in flight.
    bot_sim.set_delay(Duration::from_secs(3));
    let e = &world.engine;
    let bot = e.create_chatbot(&world.admin, "Greeter", None, Some(&bot_sim.url()), true).await.unwrap();
    let creds = e.rotate_chatbot_credentials(&world.admin, bot.id).await.unwrap();
    bot_sim.configure("http://127.0.0.1:9/graphql", creds.token.expose(), creds.signing_secret.expose());
    let number = entity::phone_number::Entity::find_by_id(world.numbers[0]).one(&e.db).await.unwrap().unwrap();
    let patch = worker::channels::ChannelPatch { chatbot_id: Some(Some(bot.id.to_string())), ..Default::default() };
    let ch = e.update_channel(&world.admin, number.channel_id, patch).await.unwrap();
    // A client writes (stored in-process: no worker runs here).
    let url = e.webhook_url(&ch).unwrap();
    let token = url.rsplit('/').next().unwrap().to_owned();
    let body = serde_json::to_vec(&tests::provider_sim::message_event("wamid-1", &number.e164, "+4915100000001", "hi"))
        .unwrap();
    let now = chrono::Utc::now().timestamp();
    let sig = worker::provider::signature::sign("key-0000", now, &body);
    e.receive_webhook(&token, Some(&now.to_string()), Some(&sig), &body).await.unwrap();

    let mut a = world.start("worker-a", &[]);
    // The kill lands while the bot holds the post (it answers after 3 s).
    tests::eventually(Duration::from_secs(20), "worker-a's post to reach the bot", || async {
        (bot_sim.arrivals() > 0).then_some(())
    })
    .await;
    a.kill();
    let _b = world.start("worker-b", &[]);
    let posted = "SELECT COUNT(*) AS n FROM chatbot_posts WHERE status = 'POSTED'";
    let started = Instant::now();
    tests::eventually(Duration::from_secs(60), "the other process to complete the post", || async {
        (world.scalar(posted).await > 0).then_some(())
    })
    .await;
    let message_id: Uuid = entity::message::Entity::find().one(&e.db).await.unwrap().unwrap().id;
    let posts = bot_sim.posts();
    assert!(posts.iter().all(|p| p.idempotency_key == Some(message_id.to_string())), "{posts:?}");
    assert_eq!(bot_sim.accepted().len(), 1, "the bot acted on the message once: {posts:?}");
    let conv = entity::conversation::Entity::find().one(&e.db).await.unwrap().unwrap();
    assert_eq!(conv.status, entity::ConversationStatus::Pending, "a crash is not a reason to hand off");
    eprintln!(
        "{:?}: the post cut by SIGKILL completed by the other process {:.1} s after the kill ({} request(s) reached \
         the bot, one key)",
        world.db.backend,
        started.elapsed().as_secs_f64(),
        posts.len()
    );
}

#[tokio::test]
async fn login_throttling_holds_across_two_api_processes() {
    if !postgres_only("login_throttling_holds_across_two_api_processes") {
        return;
    }
    let sim = ProviderSim::start().await;
    let world = World::new(&sim, 0).await;
    let api_a = Proc::start_as("api", "api-a", &world.db.url, &world.key, &[]);
    let api_b = Proc::start_as("api", "api-b", &world.db.url, &world.key, &[]);
    let addrs = [listening_addr(&api_a).await, listening_addr(&api_b).await];
    assert_ne!(addrs[0], addrs[1]);
    let http = reqwest::Client::new();
    let login = |addr: std::net::SocketAddr, password: &'static str| {
        let req = http
            .post(format!("http://{addr}/graphql"))
            .header("accept", "application/graphql-response+json")
            .json(&serde_json::json!({
                "query": "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }",
                "variables": { "e": "admin@example.com", "p": password },
            }));
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    for attempt in 1..=8 {
        let addr = addrs[attempt % 2];
        let body = login(addr, "not the password").await;
        let code = body.pointer("/errors/0/extensions/code").and_then(Value::as_str);
        if attempt <= 5 {
            assert_eq!(code, Some("UNAUTHENTICATED"), "attempt {attempt} on {addr}: {body}");
        } else {
            assert_eq!(code, Some("TOO_MANY_ATTEMPTS"), "attempt {attempt} on {addr}: {body}");
            let secs = body.pointer("/errors/0/extensions/retryAfter").and_then(Value::as_u64).unwrap_or(0);
            assert!(secs > 0 && secs <= 900, "attempt {attempt}: retryAfter {secs}");
        }
    }
    // Even the right password, on either process.
    for addr in addrs {
        let body = login(addr, "correct horse battery").await;
        assert_eq!(body.pointer("/errors/0/extensions/code").and_then(Value::as_str), Some("TOO_MANY_ATTEMPTS"));
    }
}
