//! Job pickup latency: how long after its commit an immediate job starts. It queues a number's verification (the
//! `verify_number` job, committed and woken exactly as the API does it) and times until the provider simulator
//! receives the verification call, over many samples: first with idle workers, then while a stream of client
//! webhooks keeps the workers busy. Prints p50/p99 for both.
//!
//! SQLite:     cargo run --release -p tests --bin pickup-probe -- --samples 200
//! PostgreSQL: TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres cargo run --release -p tests --bin pickup-probe
//!
//! `PROBE_SLOW=1` prints each sample slower than 50 ms with its commit time (to read against `RUST_LOG` traces).

use clap::Parser;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tests::TestApp;
use tests::provider_sim::{ProviderSim, message_event, signed_headers};

#[derive(Parser)]
struct Args {
    /// Jobs timed in each phase.
    #[arg(long, default_value_t = 200)]
    samples: usize,
    /// Webhooks in flight at once during the busy phase.
    #[arg(long, default_value_t = 8)]
    busy_concurrency: usize,
}

const OUR: &str = "+14155550100";
const KEY: &str = "pickup-key-0001";

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
}

/// Queues `samples` verifications one after another and times each from its commit to the provider's call. A job
/// that has not started after 20 s ends the phase (reported as stuck).
async fn phase(
    app: &TestApp,
    sim: &ProviderSim,
    number: uuid::Uuid,
    samples: usize,
) -> anyhow::Result<(Vec<Duration>, bool)> {
    let mut lat = Vec::with_capacity(samples);
    for i in 0..samples {
        let before = sim.verify_attempts();
        app.engine.queue_verification(number).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let committed = Instant::now();
        while sim.verify_attempts() == before {
            if committed.elapsed() > Duration::from_secs(20) {
                eprintln!("verification {i} did not start within 20 s");
                lat.sort();
                return Ok((lat, true));
            }
            // Polled every millisecond (the figures are good to about 1 ms; spinning would take a core).
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        if committed.elapsed() > Duration::from_millis(50) && std::env::var_os("PROBE_SLOW").is_some() {
            eprintln!(
                "SLOW sample {i}: {:?}, committed at {}",
                committed.elapsed(),
                chrono::Utc::now() - committed.elapsed()
            );
        }
        lat.push(committed.elapsed());
        // The job must record its result before the next one is queued: a job still finishing would overwrite
        // the next one's PENDING, and the next job would then skip its (no longer pending) check.
        while pending(app, number).await? {
            if committed.elapsed() > Duration::from_secs(20) {
                anyhow::bail!("verification {i} started but never finished");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    lat.sort();
    Ok((lat, false))
}

async fn pending(app: &TestApp, number: uuid::Uuid) -> anyhow::Result<bool> {
    use sea_orm::EntityTrait;
    let n = entity::phone_number::Entity::find_by_id(number).one(&app.engine.db).await?;
    Ok(n.is_some_and(|n| n.verification == entity::Verification::Pending))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    }
    let app = TestApp::spawn_with(false).await;
    let sim = ProviderSim::start().await;
    sim.add_number(OUR, KEY, true);
    let mut input = TestApp::channel_input("Pickup");
    input["apiUrl"] = serde_json::json!(sim.url());
    let channel = app.create_channel_as(&app.admin_token, input).await;
    let number: uuid::Uuid = app.add_number(&channel, OUR, KEY).await.parse()?;
    let url = app.webhook_url(&channel).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let idle = phase(&app, &sim, number, args.samples).await?;

    let stop = Arc::new(AtomicBool::new(false));
    let mut flood = Vec::new();
    for w in 0..args.busy_concurrency {
        let (http, url, stop) = (app.http.clone(), url.clone(), stop.clone());
        flood.push(tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let from = format!("+4915{:03}{:06}", w, i % 50);
                let Ok(body) = serde_json::to_vec(&message_event(&format!("busy-{w}-{i}"), OUR, &from, "hi")) else {
                    break;
                };
                let mut req = http.post(&url).body(body.clone()).header("content-type", "application/json");
                for (k, v) in signed_headers(KEY, chrono::Utc::now().timestamp(), &body) {
                    req = req.header(k, v);
                }
                let _ = req.send().await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let busy = phase(&app, &sim, number, args.samples).await?;
    stop.store(true, Ordering::Relaxed);
    for f in flood {
        let _ = f.await;
    }

    println!("pickup-probe on {:?}: commit of an immediate job -> its start (the provider call)", app.db.backend);
    for (name, (lat, stuck)) in [("idle", &idle), ("busy", &busy)] {
        println!(
            "  {name}: n={} p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms{}",
            lat.len(),
            pct(lat, 0.5),
            pct(lat, 0.99),
            pct(lat, 1.0),
            if *stuck { "; then a job did not start within 20 s" } else { "" }
        );
    }
    Ok(())
}
