//! Load generator for webhook intake: posts signed message webhooks (distinct provider ids, spread over a set of
//! clients) at a chosen concurrency over real HTTP, then reports accepted deliveries per second, ack latency
//! p50/p99, and how long the workers took to drain (process every delivery into conversations and messages).
//! On PostgreSQL it also runs `pgbench` with a one-row INSERT script at the same concurrency against the same
//! server and prints the ratio of webhook intake to raw single-row commits, and (when `node` and `npm` are
//! installed) graphile-worker's rate on as many no-op jobs at concurrency 8 in the same database
//! (`tests/reference/graphile`), with the ratio of the product's processing rate to it. With `--intake-only` the
//! job workers start only once every delivery is acknowledged: intake is measured alone, as pgbench runs alone,
//! then the processing of the whole backlog.
//!
//! SQLite:     cargo run --release -p tests --bin webhook-load -- --concurrency 16 --requests 5000
//! PostgreSQL: TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres cargo run --release -p tests --bin webhook-load

use clap::Parser;
use entity::AgentStatus;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use std::time::{Duration, Instant};
use tests::TestApp;
use tests::provider_sim::{message_event, signed_headers};

#[derive(Parser)]
struct Args {
    /// Requests in flight at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Deliveries in all.
    #[arg(long, default_value_t = 5000)]
    requests: usize,
    /// Distinct clients writing.
    #[arg(long, default_value_t = 200)]
    clients: usize,
    /// Seconds of pgbench (PostgreSQL only).
    #[arg(long, default_value_t = 10)]
    pgbench_seconds: u64,
    /// Skip the graphile-worker reference (PostgreSQL only).
    #[arg(long)]
    no_graphile: bool,
    /// Online agents on the channel (auto answer), with room for every client's conversation: distribution is
    /// in the path. 0 leaves conversations queued.
    #[arg(long, default_value_t = 50)]
    agents: usize,
    /// Job workers start only when every delivery is acknowledged: intake is measured alone (as pgbench runs
    /// alone), then processing of the whole backlog. Ack -> offered is not measured.
    #[arg(long)]
    intake_only: bool,
}

const OUR: &str = "+14155550100";
const KEY: &str = "load-test-key-0001";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let app =
        if args.intake_only { TestApp::spawn_without_workers(false).await } else { TestApp::spawn_with(false).await };
    let backend = format!("{:?}", app.db.backend);
    // Room for every client's conversation: `clients / agents` each, within 100 % utilization.
    let per_agent = args.clients.div_ceil(args.agents.max(1)).max(1);
    let mut input = TestApp::channel_input("Load");
    input["autoAssignmentLimit"] = serde_json::json!(per_agent);
    input["utilization"] = serde_json::json!(100 / per_agent);
    input["autoAnswer"] = serde_json::json!(true);
    input["alertingTimeout"] = serde_json::Value::Null;
    let channel = app.create_channel_as(&app.admin_token, input).await;
    tests::bench::agents(&app, app.account_id.parse()?, channel.parse()?, args.agents, AgentStatus::Online).await?;
    app.add_number(&channel, OUR, KEY).await;
    let url = app.webhook_url(&channel).await;

    let commits_before = commits(&app).await;
    let batches_before = app.engine.intake.batches();
    let storing_before = app.engine.intake.storing_time();
    let statements_before = app.engine.statements.load(std::sync::atomic::Ordering::Relaxed);
    // Every delivery is built and signed before the clock starts (as pgbench parses its script first), so the
    // generator's own work on the same cores is only sending.
    let url = reqwest::Url::parse(&url)?;
    let per = args.requests.div_ceil(args.concurrency);
    let signed_at = chrono::Utc::now().timestamp();
    let mut prepared = Vec::new();
    for w in 0..args.concurrency {
        let range = (w * per)..((w + 1) * per).min(args.requests);
        let mut requests = Vec::with_capacity(range.len());
        for i in range {
            let from = format!("+4915{:09}", i % args.clients);
            let body = serde_json::to_vec(&message_event(&format!("load-{i}"), OUR, &from, "hello"))?;
            let mut headers = reqwest::header::HeaderMap::new();
            for (k, v) in signed_headers(KEY, signed_at, &body) {
                headers.insert(reqwest::header::HeaderName::try_from(k)?, reqwest::header::HeaderValue::try_from(v)?);
            }
            requests.push((i, from, body, headers));
        }
        prepared.push(requests);
    }
    let started = Instant::now();
    let mut handles = Vec::new();
    for requests in prepared {
        let (http, url) = (app.http.clone(), url.clone());
        handles.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(requests.len());
            for (i, from, body, headers) in requests {
                let t = Instant::now();
                let resp = http.post(url.clone()).headers(headers).body(body).send().await?;
                if resp.status() != 200 {
                    anyhow::bail!("delivery {i} refused: {} {}", resp.status(), resp.text().await.unwrap_or_default());
                }
                resp.bytes().await?;
                lat.push((t.elapsed(), from, chrono::Utc::now()));
            }
            anyhow::Ok(lat)
        }));
    }
    let mut lat = Vec::new();
    // Each client's first acknowledgement: its conversation is offered after it.
    let mut first_ack = std::collections::HashMap::new();
    for h in handles {
        for (took, from, acked) in h.await?? {
            lat.push(took);
            let at = first_ack.entry(from).or_insert(acked);
            *at = (*at).min(acked);
        }
    }
    let intake = started.elapsed();
    let batches = app.engine.intake.batches() - batches_before;
    let storing = app.engine.intake.storing_time() - storing_before;
    // Processing is timed from the start, or from the workers' start when intake ran alone.
    let processing_from = if args.intake_only {
        app.start_workers();
        Instant::now()
    } else {
        started
    };
    let pending = || async {
        entity::webhook_delivery::Entity::find()
            .filter(entity::webhook_delivery::Column::ProcessedAt.is_null())
            .count(&app.engine.db)
            .await
            .unwrap_or(u64::MAX)
    };
    tests::eventually(Duration::from_secs(600), "every delivery processed", || async {
        (pending().await == 0).then_some(())
    })
    .await;
    let drained = processing_from.elapsed();
    let messages = app.count("messages").await;
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)].as_secs_f64() * 1000.0;
    let rate = lat.len() as f64 / intake.as_secs_f64();
    let processing = lat.len() as f64 / drained.as_secs_f64();
    println!(
        "backend={backend} concurrency={} deliveries={} accepted/s={rate:.0} ack_p50={:.2}ms ack_p99={:.2}ms \
         intake={:.2}s drained_after={:.2}s{} (processing {:.0}/s) messages={messages}",
        args.concurrency,
        lat.len(),
        pct(0.50),
        pct(0.99),
        intake.as_secs_f64(),
        drained.as_secs_f64(),
        if args.intake_only { " from the workers' start" } else { "" },
        processing,
    );
    let statements = app.engine.statements.load(std::sync::atomic::Ordering::Relaxed) - statements_before;
    println!(
        "intake commits (group commit batches): {batches}, {:.1} deliveries per commit, {:.2} ms per commit, \
         writer busy {:.0}% of the intake; SQL statements per delivery, intake and processing together: {:.2}",
        lat.len() as f64 / batches.max(1) as f64,
        storing.as_secs_f64() * 1000.0 / batches.max(1) as f64,
        100.0 * storing.as_secs_f64() / intake.as_secs_f64(),
        statements as f64 / lat.len() as f64,
    );
    if messages != lat.len() as i64 {
        anyhow::bail!("{} deliveries accepted but {messages} messages stored", lat.len());
    }
    if args.agents > 0 && !args.intake_only {
        let mut offered = ack_to_offer(&app, &first_ack).await?;
        println!(
            "webhook ack -> conversation offered ({} agents, {} conversations): p50={:.1}ms p99={:.1}ms",
            args.agents,
            offered.len(),
            tests::bench::pct(&mut offered, 0.5),
            tests::bench::pct(&mut offered, 0.99)
        );
    }
    if let (Some(before), true) = (commits_before, app.db.backend == worker::config::Backend::Postgres) {
        // The cumulative statistics are flushed by each backend about once a second.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        if let Some(after) = commits(&app).await {
            println!(
                "database commits per delivery, intake and processing together: {:.2}",
                (after - before) as f64 / lat.len() as f64
            );
        }
    }
    // The HTTP floor of this machine and process: the same client and server, no database, no signature.
    let floor = healthz_rate(&app, args.concurrency, args.requests).await?;
    println!(
        "HTTP reference: GET /healthz, concurrency={}: {floor:.0}/s; webhook intake / bare HTTP = {:.2}",
        args.concurrency,
        rate / floor
    );
    if app.db.backend == worker::config::Backend::Postgres {
        let tps = pgbench(&app.db.url, args.concurrency, args.pgbench_seconds).await?;
        println!(
            "pgbench one-row INSERT: concurrency={} tps={tps:.0}; webhook intake / raw commits = {:.2}",
            args.concurrency,
            rate / tps
        );
        if !args.no_graphile {
            match graphile(&app.db.url, lat.len()).await {
                Ok(jobs_per_sec) => println!(
                    "graphile-worker no-op jobs, concurrency 8: {jobs_per_sec:.0}/s; processing / graphile-worker = {:.2}",
                    processing / jobs_per_sec
                ),
                Err(e) => println!("graphile-worker reference not run: {e:#}"),
            }
        }
    }
    Ok(())
}

/// graphile-worker's rate on `jobs` no-op jobs at concurrency 8 in the database at `url` (installing its npm
/// packages on first use).
async fn graphile(url: &str, jobs: usize) -> anyhow::Result<f64> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("reference/graphile");
    if !dir.join("node_modules").exists() {
        let npm = tokio::process::Command::new("npm")
            .args(["ci", "--silent", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .output()
            .await?;
        anyhow::ensure!(npm.status.success(), "npm ci failed: {}", String::from_utf8_lossy(&npm.stderr));
    }
    let out = tokio::process::Command::new("node")
        .arg("bench.mjs")
        .args([url, &jobs.to_string(), "8"])
        .current_dir(&dir)
        .output()
        .await?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("graphile-worker jobs/s="))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no rate from graphile-worker: {text} {}", String::from_utf8_lossy(&out.stderr)))
}

/// For each client, its first acknowledgement -> its conversation's first offer, in milliseconds; waits (up to
/// 60 s) until every client's conversation has been offered.
async fn ack_to_offer(
    app: &TestApp,
    first_ack: &std::collections::HashMap<String, chrono::DateTime<chrono::Utc>>,
) -> anyhow::Result<Vec<f64>> {
    use entity::{contact, conversation, conversation_offer};
    let offers = tests::eventually(Duration::from_secs(60), "every client's conversation to be offered", || async {
        let offers = conversation_offer::Entity::find().all(&app.engine.db).await.ok()?;
        let offered: std::collections::HashSet<_> = offers.iter().map(|o| o.conversation_id).collect();
        (offered.len() >= first_ack.len()).then_some(offers)
    })
    .await;
    let contacts: std::collections::HashMap<_, _> =
        contact::Entity::find().all(&app.engine.db).await?.into_iter().map(|c| (c.id, c.e164)).collect();
    let conversations: std::collections::HashMap<_, _> =
        conversation::Entity::find().all(&app.engine.db).await?.into_iter().map(|c| (c.id, c.contact_id)).collect();
    let mut first_offer = std::collections::HashMap::new();
    for o in offers {
        let Some(e164) = conversations.get(&o.conversation_id).and_then(|c| contacts.get(c)) else { continue };
        let at = first_offer.entry(e164.clone()).or_insert(o.offered_at);
        *at = (*at).min(o.offered_at);
    }
    Ok(first_ack
        .iter()
        .filter_map(|(from, acked)| Some((*first_offer.get(from)? - *acked).num_microseconds()? as f64 / 1000.0))
        .collect())
}

/// Transactions committed in the test database so far (PostgreSQL's statistics).
async fn commits(app: &TestApp) -> Option<i64> {
    use sea_orm::{ConnectionTrait, Statement};
    if app.db.backend != worker::config::Backend::Postgres {
        return None;
    }
    let sql = "SELECT xact_commit AS n FROM pg_stat_database WHERE datname = current_database()";
    let row =
        app.engine.db.query_one_raw(Statement::from_string(app.engine.db.get_database_backend(), sql)).await.ok()??;
    row.try_get::<i64>("", "n").ok()
}

/// Requests per second of `GET /healthz` over the load generator's own client at `concurrency`.
async fn healthz_rate(app: &TestApp, concurrency: usize, requests: usize) -> anyhow::Result<f64> {
    let url = format!("{}/healthz", app.base);
    let per = requests.div_ceil(concurrency);
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (http, url) = (app.http.clone(), url.clone());
            tokio::spawn(async move {
                for _ in 0..per {
                    let resp = http.get(&url).send().await?;
                    anyhow::ensure!(resp.status() == 200, "healthz answered {}", resp.status());
                    resp.bytes().await?;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for t in tasks {
        t.await??;
    }
    Ok((per * concurrency) as f64 / started.elapsed().as_secs_f64())
}

/// Runs pgbench with a one-row INSERT script; returns transactions per second.
async fn pgbench(url: &str, concurrency: usize, seconds: u64) -> anyhow::Result<f64> {
    use sea_orm::ConnectionTrait;
    let db = worker::db::connect_url(url, worker::config::Backend::Postgres).await?;
    db.execute_unprepared("CREATE TABLE IF NOT EXISTS pgbench_rows (id bigserial PRIMARY KEY, body text NOT NULL)")
        .await?;
    let script = std::env::temp_dir().join(format!("insert-{}.sql", uuid::Uuid::new_v4().simple()));
    std::fs::write(&script, "INSERT INTO pgbench_rows (body) VALUES ('{\"type\":\"message\"}');\n")?;
    let out = tokio::process::Command::new("pgbench")
        .args(["-n", "-M", "prepared", "-c", &concurrency.to_string(), "-j", "2", "-T", &seconds.to_string(), "-f"])
        .arg(&script)
        .arg(url)
        .output()
        .await?;
    let _ = std::fs::remove_file(&script);
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("pgbench gave no tps: {text} {}", String::from_utf8_lossy(&out.stderr)))
}
