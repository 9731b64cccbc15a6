//! Load generator for webhook intake: posts signed message webhooks (distinct provider ids, spread over a set of
//! clients) at a chosen concurrency over real HTTP, then reports accepted deliveries per second, ack latency
//! p50/p99, and how long the workers took to drain (process every delivery into conversations and messages).
//! On PostgreSQL it also runs `pgbench` with a one-row INSERT script at the same concurrency against the same
//! server and prints the ratio of webhook intake to raw single-row commits.
//!
//! SQLite:     cargo run --release -p tests --bin webhook-load -- --concurrency 16 --requests 5000
//! PostgreSQL: TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres cargo run --release -p tests --bin webhook-load

use clap::Parser;
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
}

const OUR: &str = "+14155550100";
const KEY: &str = "load-test-key-0001";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let app = TestApp::spawn_with(false).await;
    let backend = format!("{:?}", app.db.backend);
    let channel = app.create_channel("Load").await;
    app.add_number(&channel, OUR, KEY).await;
    let url = app.webhook_url(&channel).await;

    let commits_before = commits(&app).await;
    let started = Instant::now();
    let per = args.requests.div_ceil(args.concurrency);
    let mut handles = Vec::new();
    for w in 0..args.concurrency {
        let (http, url) = (app.http.clone(), url.clone());
        let clients = args.clients;
        let range = (w * per)..((w + 1) * per).min(args.requests);
        handles.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(range.len());
            for i in range {
                let from = format!("+4915{:09}", i % clients);
                let body = serde_json::to_vec(&message_event(&format!("load-{i}"), OUR, &from, "hello"))?;
                let mut req = http.post(&url).body(body.clone()).header("content-type", "application/json");
                for (k, v) in signed_headers(KEY, chrono::Utc::now().timestamp(), &body) {
                    req = req.header(k, v);
                }
                let t = Instant::now();
                let resp = req.send().await?;
                if resp.status() != 200 {
                    anyhow::bail!("delivery {i} refused: {} {}", resp.status(), resp.text().await.unwrap_or_default());
                }
                lat.push(t.elapsed());
            }
            anyhow::Ok(lat)
        }));
    }
    let mut lat = Vec::new();
    for h in handles {
        lat.extend(h.await??);
    }
    let intake = started.elapsed();
    let pending = || async {
        entity::webhook_delivery::Entity::find()
            .filter(entity::webhook_delivery::Column::ProcessedAt.is_null())
            .count(&app.engine.db)
            .await
            .unwrap_or(u64::MAX)
    };
    while pending().await > 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let drained = started.elapsed();
    let messages = app.count("messages").await;
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)].as_secs_f64() * 1000.0;
    let rate = lat.len() as f64 / intake.as_secs_f64();
    println!(
        "backend={backend} concurrency={} deliveries={} accepted/s={rate:.0} ack_p50={:.2}ms ack_p99={:.2}ms \
         intake={:.2}s drained_after={:.2}s (processing {:.0}/s) messages={messages}",
        args.concurrency,
        lat.len(),
        pct(0.50),
        pct(0.99),
        intake.as_secs_f64(),
        drained.as_secs_f64(),
        lat.len() as f64 / drained.as_secs_f64(),
    );
    if messages != lat.len() as i64 {
        anyhow::bail!("{} deliveries accepted but {messages} messages stored", lat.len());
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
    if app.db.backend == worker::config::Backend::Postgres {
        let tps = pgbench(&app.db.url, args.concurrency, args.pgbench_seconds).await?;
        println!(
            "pgbench one-row INSERT: concurrency={} tps={tps:.0}; webhook intake / raw commits = {:.2}",
            args.concurrency,
            rate / tps
        );
    }
    Ok(())
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
