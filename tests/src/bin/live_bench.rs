//! Live events benchmark: the product's binary as separate `api` and `work` processes (PostgreSQL, with
//! `TEST_POSTGRES_URL`; one `serve` process on SQLite), `--agents` agent desktops subscribed to `myEvents` over
//! real WebSockets on the one `api` process, and `--rate` client messages per second through signed webhooks.
//!
//! 1. memory of the `api` process per idle subscription (RSS before and after the desktops subscribed);
//! 2. webhook acknowledged -> `OFFERED` received by the desktop, p50 / p99, for `--secs` of traffic;
//! 3. every desktop disconnects, `--gap-secs` of traffic go on, then all reconnect at once with `after`: time
//!    until every one has received every event of its own after its cursor (checked against the event log:
//!    none missing, none twice, in order).
//!
//! `--trace` prints the slowest 10 deliveries of step 2 with where their time went, from the times the product
//! stores anyway (no instrumentation of its own): ack -> the inbound unit of work's first write (the job's pickup,
//! and on SQLite the wait for the write lock), that unit of work (to its last statement before commit), -> the
//! distribution batch that offered it took the ACD lock, -> received by the desktop (the rest of the batch, its
//! commit and the fan-out); with the batch's size (offers it wrote at that instant).
//!
//! Setup rows (agents, their tokens and statuses) are written straight to the database.
//!
//! TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!   cargo run --release -p tests --bin live-bench -- --agents 1000 --rate 100 --secs 20 --gap-secs 30

use chrono::{DateTime, Utc};
use clap::Parser;
use entity::{AgentStatus, Role, agent_state, api_token, channel_agent, live_event, user};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set};
use serde_json::json;
use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tests::TestDb;
use tests::bench::pct;
use tests::live::{LiveClient, TRANSPORT_WS};
use tests::provider_sim::{ProviderSim, message_event};
use uuid::Uuid;
use worker::Engine;
use worker::accounts::NewUser;
use worker::config::Backend;
use worker::crypto::{Cipher, Secret, sha256_hex};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 1000)]
    agents: usize,
    #[arg(long, default_value_t = 100)]
    rate: u64,
    #[arg(long, default_value_t = 20)]
    secs: u64,
    #[arg(long, default_value_t = 30)]
    gap_secs: u64,
    /// Print the slowest 10 deliveries' breakdown.
    #[arg(long)]
    trace: bool,
}

const OUR: &str = "+14155550777";
const KEY: &str = "live-bench-key";
const MY_EVENTS: &str = "subscription($after: String) { myEvents(after: $after) { cursor kind conversationId at } }";

static CONNECTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn spawn(command: &str, db: &TestDb, key: &Secret, log: &std::path::Path) -> anyhow::Result<Child> {
    let exe = std::env::current_exe()?.with_file_name("app");
    let out = std::fs::File::create(log)?;
    Ok(Command::new(exe)
        .arg(command)
        .env("APP_DATABASE_URL", &db.url)
        .env("APP_ENCRYPTION_KEY", key.expose())
        .env("APP_LISTEN_ADDR", "127.0.0.1:0")
        .env("APP_DATA_DIR", log.parent().unwrap_or(std::path::Path::new(".")))
        .env("APP_REVERIFY_SCHEDULE", "off")
        // The simulators listen on 127.0.0.1.
        .env("APP_ALLOW_PRIVATE_URLS", "true")
        .env("RUST_LOG", std::env::var("BENCH_CHILD_LOG").unwrap_or_else(|_| "warn".into()))
        .stdout(Stdio::from(out.try_clone()?))
        .stderr(Stdio::from(out))
        .spawn()?)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// A delivery whose OFFERED reached its desktop: (ms from ack, conversation, client, its message id, acked,
/// received).
type Delivery = (f64, String, String, String, DateTime<Utc>, DateTime<Utc>);

/// One desktop: what it received (cursor, kind, conversation, when).
type Received = Arc<Mutex<Vec<(i64, String, String, Instant, f64, DateTime<Utc>)>>>;

async fn desktop(addr: std::net::SocketAddr, token: String, after: Option<i64>, got: Received) -> anyhow::Result<()> {
    let mut c = match LiveClient::connect(addr, TRANSPORT_WS, &token).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("desktop cannot connect: {e}");
            return Err(e);
        }
    };
    CONNECTED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    c.subscribe("1", MY_EVENTS, json!({ "after": after.map(|a| a.to_string()) })).await?;
    loop {
        let d = match c.try_event("1", Duration::from_secs(3600)).await {
            Ok(d) => d,
            Err(e) => {
                eprintln!("desktop stream ended: {e}");
                return Ok(());
            }
        };
        let e = &d["myEvents"];
        let cursor = e["cursor"].as_str().and_then(|c| c.parse().ok()).unwrap_or(-1);
        let conv = e["conversationId"].as_str().unwrap_or_default().to_owned();
        // How long after the event's own time (the database clock, on this host) it reached this desktop.
        let lag = e["at"].as_str().and_then(|a| chrono::DateTime::parse_from_rfc3339(a).ok()).map_or(f64::NAN, |at| {
            (Utc::now() - at.with_timezone(&Utc)).num_microseconds().unwrap_or(0) as f64 / 1000.0
        });
        if let Ok(mut g) = got.lock() {
            let kind = e["kind"].as_str().unwrap_or_default().to_owned();
            g.push((cursor, kind, conv, Instant::now(), lag, Utc::now()));
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let db = TestDb::fresh().await?;
    let conn = worker::db::connect_migrated(&db.url, db.backend).await?;
    let key = Cipher::generate_key();
    let engine = Engine::new(conn, Cipher::from_base64_key(&key)?, "http://unused.example")?;
    engine.jobs.setup(&db.url).await?;
    let sim = ProviderSim::start().await;
    sim.add_number(OUR, KEY, true);
    let admin = NewUser {
        email: "admin@example.com".into(),
        name: "Admin".into(),
        password: Secret::new("correct horse battery"),
        role: Role::Admin,
    };
    let (account, issued) =
        engine.create_account("Live bench", admin, None).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let admin = engine.authenticate(issued.token.expose()).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let form = worker::channels::ChannelForm {
        settings: worker::channels::SettingsForm {
            name: "Live".into(),
            chatbot_id: None,
            conversation_type: entity::ConversationType::Chat,
            can_write_first: false,
            provider: entity::Provider::NovaChatsConnector,
            api_url: sim.url(),
            utilization: 1,
            auto_assignment_limit: 100,
            auto_answer: false,
            alerting_timeout: Some(3600),
            wrap_up_timeout: None,
            chatbot_timeout: worker::channels::form::CHATBOT_TIMEOUT_DEFAULT,
        },
        wrap_up_codes: vec![],
        agent_ids: vec![],
    };
    let ch = engine.create_channel(&admin, &form).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    engine.add_phone_number(&admin, ch.id, OUR, KEY).await.map_err(|e| anyhow::anyhow!("{e}"))?;

    // Agents ONLINE on the channel, each with a token.
    let now = Utc::now();
    let mut tokens = Vec::new();
    let mut ids = Vec::new();
    for chunk in (0..args.agents).collect::<Vec<_>>().chunks(200) {
        let mut users = Vec::new();
        let mut toks = Vec::new();
        for i in chunk {
            let id = Uuid::now_v7();
            let token = format!("nva_bench_{i}_{}", Uuid::new_v4().simple());
            users.push(user::ActiveModel {
                id: Set(id),
                account_id: Set(account.id),
                email: Set(format!("agent-{i}@example.com")),
                name: Set(format!("Agent {i}")),
                role: Set(Role::Agent),
                password_hash: Set("not-a-login".into()),
                active: Set(true),
                must_change_password: Set(false),
                created_at: Set(now),
            });
            toks.push(api_token::ActiveModel {
                id: Set(Uuid::now_v7()),
                user_id: Set(id),
                token_hash: Set(sha256_hex(&token)),
                created_at: Set(now),
                revoked_at: Set(None),
                kind: Set(entity::TokenKind::Machine),
                last_used_at: Set(Some(now)),
                client_addr: Set(None),
                user_agent: Set(None),
            });
            ids.push(id);
            tokens.push(token);
        }
        user::Entity::insert_many(users).exec(&engine.db).await?;
        api_token::Entity::insert_many(toks).exec(&engine.db).await?;
    }
    for chunk in ids.chunks(200) {
        channel_agent::Entity::insert_many(chunk.iter().map(|u| channel_agent::ActiveModel {
            channel_id: Set(ch.id),
            user_id: Set(*u),
            created_at: Set(now),
        }))
        .exec(&engine.db)
        .await?;
        agent_state::Entity::insert_many(chunk.iter().map(|u| agent_state::ActiveModel {
            user_id: Set(*u),
            account_id: Set(account.id),
            status: Set(AgentStatus::Online),
            busy_kind: Set(None),
            busy_reason_id: Set(None),
            since: Set(now),
            last_assigned_at: Set(None),
        }))
        .exec(&engine.db)
        .await?;
    }

    // Statistics for the rows just written, as a deployment that has been running has them (without, PostgreSQL
    // plans the agent lookups of distribution as nested loops over "1 row" and each run takes ~100 ms).
    {
        use sea_orm::ConnectionTrait;
        engine.db.execute_unprepared("ANALYZE").await?;
    }

    // The product: separate api and work processes on PostgreSQL; one serve process on SQLite.
    let dir = std::env::temp_dir().join(format!("live-bench-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let backend = format!("{:?}", db.backend);
    let mut children = Children(Vec::new());
    let api_log = dir.join("api.log");
    if db.backend == Backend::Postgres {
        children.0.push(spawn("api", &db, &key, &api_log)?);
        children.0.push(spawn("work", &db, &key, &dir.join("work.log"))?);
    } else {
        children.0.push(spawn("serve", &db, &key, &api_log)?);
    }
    let api_pid = children.0[0].id();
    let addr = {
        let started = Instant::now();
        loop {
            let text = std::fs::read_to_string(&api_log).unwrap_or_default();
            let found = text.lines().find_map(|l| {
                l.strip_prefix("GraphQL: http://").and_then(|r| r.split('/').next()).and_then(|a| a.parse().ok())
            });
            if let Some(a) = found {
                break a;
            }
            anyhow::ensure!(started.elapsed() < Duration::from_secs(60), "the api process did not start: {text}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let hook = engine.webhook_url(&ch).map_err(|e| anyhow::anyhow!("{e}"))?;
    let hook = format!("http://{addr}/webhooks/{}", hook.split("/webhooks/").nth(1).unwrap_or_default());

    // 1. Memory per idle subscription.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = rss_kib(api_pid);
    let received: Vec<Received> = (0..args.agents).map(|_| Received::default()).collect();
    let mut tasks = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        tasks.push(tokio::spawn(desktop(addr, t.clone(), None, received[i].clone())));
        if i % 100 == 99 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // Give the server a moment to finish the subscriptions before reading its memory.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = rss_kib(api_pid);
    println!(
        "[{backend}] {} idle subscriptions: api RSS {} -> {} MiB, {:.1} KiB per subscription",
        args.agents,
        before / 1024,
        after / 1024,
        after.saturating_sub(before) as f64 / args.agents as f64
    );

    // 2. Traffic: webhook ack -> OFFERED on the desktop.
    /// Client -> (acknowledged, the same on the wall clock, the message's id).
    type Acks = HashMap<String, (Instant, DateTime<Utc>, String)>;
    let acks: Arc<Mutex<Acks>> = Arc::default();
    let sim = Arc::new(sim);
    let send = |from: usize, n: usize| {
        let sim = sim.clone();
        let hook = hook.clone();
        let acks = acks.clone();
        let rate = args.rate;
        async move {
            let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
            let mut posts = Vec::new();
            for i in from..from + n {
                tick.tick().await;
                let client = format!("+4916{i:09}");
                let (sim, hook, acks) = (sim.clone(), hook.clone(), acks.clone());
                // Each post is its own task, so its acknowledgement is stamped when it arrives.
                posts.push(tokio::spawn(async move {
                    let id = format!("live-{i}");
                    let body = message_event(&id, OUR, &client, "hello");
                    let (status, _) = sim.post_webhook(&hook, KEY, &body).await;
                    let acked = (Instant::now(), Utc::now(), id);
                    if status == 200
                        && let Ok(mut a) = acks.lock()
                    {
                        a.insert(client, acked);
                    }
                }));
            }
            for p in posts {
                let _ = p.await;
            }
        }
    };
    let n1 = (args.rate * args.secs) as usize;
    send(0, n1).await;
    // Until every message's offer reached its desktop (or 30 s: then the figures say how many did).
    let offered_count = || {
        received
            .iter()
            .map(|r| r.lock().map(|g| g.iter().filter(|e| e.1 == "OFFERED").count()).unwrap_or(0))
            .sum::<usize>()
    };
    let waiting = Instant::now();
    while offered_count() < n1 && waiting.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let convs = conversation_clients(&engine).await?;
    let mut lat = Vec::new();
    let mut fanout = Vec::new();
    // Every OFFERED matched to its acknowledgement.
    let mut deliveries: Vec<Delivery> = Vec::new();
    {
        let acks = acks.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
        for r in &received {
            let Ok(g) = r.lock() else { continue };
            for (_, kind, conv, at, lag, wall) in g.iter() {
                if kind != "OFFERED" {
                    continue;
                }
                fanout.push(*lag);
                if let Some((client, (acked, acked_wall, id))) = convs.get(conv).and_then(|c| Some((c, acks.get(c)?))) {
                    let ms = at.saturating_duration_since(*acked).as_secs_f64() * 1000.0;
                    lat.push(ms);
                    deliveries.push((ms, conv.clone(), client.clone(), id.clone(), *acked_wall, *wall));
                }
            }
        }
    }
    let offered = lat.len();
    let raw_offered: usize =
        received.iter().map(|r| r.lock().map(|g| g.iter().filter(|e| e.1 == "OFFERED").count()).unwrap_or(0)).sum();
    let logged = live_event::Entity::find()
        .filter(live_event::Column::Kind.eq(entity::EventKind::Offered))
        .all(&engine.db)
        .await?
        .len();
    let ended = tasks.iter().filter(|t| t.is_finished()).count();
    println!(
        "[{backend}] OFFERED received {raw_offered}, in the event log {logged}; desktop streams ended early {ended}"
    );
    let acked = acks.lock().map(|a| a.len()).unwrap_or(0);
    let alerting = entity::conversation::Entity::find()
        .filter(entity::conversation::Column::Substatus.eq(entity::ConversationSubstatus::Alerting))
        .all(&engine.db)
        .await?
        .len();
    println!(
        "[{backend}] {n1} messages at {}/s to {} desktops ({acked} acknowledged, {alerting} offers ringing): {offered} OFFERED received; ack -> OFFERED p50 {:.1} ms, p99 {:.1} ms",
        args.rate,
        args.agents,
        pct(&mut lat, 0.5),
        pct(&mut lat, 0.99)
    );
    println!(
        "[{backend}]   of which the event's commit (its `at`) -> received by the desktop: p50 {:.1} ms, p99 {:.1} ms",
        pct(&mut fanout, 0.5),
        pct(&mut fanout, 0.99)
    );
    if args.trace {
        deliveries.sort_by(|a, b| b.0.total_cmp(&a.0));
        deliveries.truncate(10);
        trace(&engine, &backend, &deliveries).await?;
    }

    // 3. Everyone disconnects; events go on; everyone reconnects with `after` at once.
    for t in &tasks {
        t.abort();
    }
    let cursors: Vec<Option<i64>> =
        received.iter().map(|r| r.lock().ok().and_then(|g| g.iter().map(|(c, ..)| *c).max())).collect();
    let n2 = (args.rate * args.gap_secs) as usize;
    send(n1, n2).await;
    // Until every message of the gap has been offered (its events are in the log).
    let waiting = Instant::now();
    loop {
        let offered = live_event::Entity::find()
            .filter(live_event::Column::Kind.eq(entity::EventKind::Offered))
            .count(&engine.db)
            .await?;
        if offered as usize >= n1 + n2 || waiting.elapsed() > Duration::from_secs(60) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut expected: Vec<Vec<i64>> = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let rows = live_event::Entity::find()
            .filter(live_event::Column::AccountId.eq(account.id))
            .filter(live_event::Column::UserId.eq(*id))
            .filter(live_event::Column::Seq.gt(cursors[i].unwrap_or(0)))
            .order_by_asc(live_event::Column::Seq)
            .all(&engine.db)
            .await?;
        expected.push(rows.iter().map(|r| r.seq).collect());
    }
    let total: usize = expected.iter().map(Vec::len).sum();
    CONNECTED.store(0, std::sync::atomic::Ordering::SeqCst);
    let again: Vec<Received> = (0..args.agents).map(|_| Received::default()).collect();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        tasks.push(tokio::spawn(desktop(addr, t.clone(), Some(cursors[i].unwrap_or(0)), again[i].clone())));
    }
    let mut connected_at = None;
    let caught_up = loop {
        if connected_at.is_none() && CONNECTED.load(std::sync::atomic::Ordering::SeqCst) >= args.agents {
            connected_at = Some(started.elapsed());
        }
        let done = again.iter().zip(&expected).all(|(r, e)| r.lock().map(|g| g.len() >= e.len()).unwrap_or(false));
        if done {
            // All connected at the latest now (the last ones may have connected since the check above).
            let now = started.elapsed();
            connected_at.get_or_insert(now);
            break now;
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(300), "not caught up after 300 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let mut missing = 0;
    let mut twice_or_disordered = 0;
    for (r, e) in again.iter().zip(&expected) {
        let got: Vec<i64> = r.lock().map(|g| g.iter().map(|(c, ..)| *c).collect()).unwrap_or_default();
        let got = &got[..got.len().min(e.len())];
        if got != e.as_slice() {
            let set: std::collections::HashSet<i64> = got.iter().copied().collect();
            missing += e.iter().filter(|c| !set.contains(c)).count();
            twice_or_disordered += 1;
        }
    }
    println!(
        "[{backend}] {} desktops reconnected at once with `after` after {} s of events: {total} missed events replayed; all connected in {:.2} s, all caught up in {:.2} s; missing {missing}, desktops with a wrong sequence {twice_or_disordered}",
        args.agents,
        args.gap_secs,
        connected_at.unwrap_or_default().as_secs_f64(),
        caught_up.as_secs_f64()
    );
    for t in tasks {
        t.abort();
    }
    drop(children);
    Ok(())
}

/// The slowest deliveries' breakdown, from the times the product stored (see the module's doc).
async fn trace(engine: &Engine, backend: &str, slowest: &[Delivery]) -> anyhow::Result<()> {
    use entity::{contact, conversation, conversation_offer, webhook_delivery};
    let ms = |a: DateTime<Utc>, b: DateTime<Utc>| (b - a).num_microseconds().unwrap_or(0) as f64 / 1000.0;
    println!(
        "[{backend}] slowest {}: total = ack->pickup + inbound + ->distribution + ->desktop (ms; batch = offers written with it)",
        slowest.len()
    );
    for (total, conv, client, id, acked, received) in slowest {
        let delivery = webhook_delivery::Entity::find()
            .filter(webhook_delivery::Column::DedupeKey.eq(format!("message:{id}")))
            .one(&engine.db)
            .await?;
        let Some(c) = conversation::Entity::find_by_id(conv.parse::<Uuid>()?).one(&engine.db).await? else {
            continue;
        };
        let first_write = contact::Entity::find_by_id(c.contact_id).one(&engine.db).await?.map(|k| k.created_at);
        let offer = conversation_offer::Entity::find()
            .filter(conversation_offer::Column::ConversationId.eq(c.id))
            .order_by_asc(conversation_offer::Column::OfferedAt)
            .one(&engine.db)
            .await?;
        let batch = match &offer {
            Some(o) => {
                conversation_offer::Entity::find()
                    .filter(conversation_offer::Column::OfferedAt.eq(o.offered_at))
                    .count(&engine.db)
                    .await?
            }
            None => 0,
        };
        match (first_write, delivery.and_then(|d| d.processed_at), offer) {
            (Some(w), Some(p), Some(o)) => println!(
                "  {total:7.1} = {:7.1} + {:6.1} + {:7.1} + {:7.1}  batch {batch:4}  {client}",
                ms(*acked, w),
                ms(w, p),
                ms(p, o.offered_at),
                ms(o.offered_at, *received)
            ),
            _ => println!("  {total:7.1}  (times not found)  {client}"),
        }
    }
    Ok(())
}

/// Conversation id -> its client's number.
async fn conversation_clients(engine: &Engine) -> anyhow::Result<HashMap<String, String>> {
    let contacts: HashMap<Uuid, String> =
        entity::contact::Entity::find().all(&engine.db).await?.into_iter().map(|c| (c.id, c.e164)).collect();
    Ok(entity::conversation::Entity::find()
        .all(&engine.db)
        .await?
        .into_iter()
        .filter_map(|c| contacts.get(&c.contact_id).map(|e| (c.id.to_string(), e.clone())))
        .collect())
}
