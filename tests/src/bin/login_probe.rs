//! The attacker's probe of sign-in: fires wrong passwords at one account over real HTTP, a number at a time,
//! and reports how they were answered (checked and wrong, or refused by the throttle), how many password hashes
//! the server computed, and how long it took. Then the same from many addresses behind a trusted proxy, to show
//! the per-email limit.
//!
//! SQLite:     cargo run --release -p tests --bin login-probe -- --guesses 200 --concurrency 16
//! PostgreSQL: TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres cargo run --release -p tests --bin login-probe

use clap::Parser;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Instant;
use tests::TestApp;

#[derive(Parser)]
struct Args {
    /// Wrong passwords to try.
    #[arg(long, default_value_t = 200)]
    guesses: usize,
    /// Guesses in flight at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
}

const LOGIN: &str = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }";

/// Fires the guesses; `forwarded(i)` is the `X-Forwarded-For` of guess `i`, if any.
async fn run(
    app: &TestApp,
    email: &str,
    args: &Args,
    forwarded: impl Fn(usize) -> Option<String>,
) -> anyhow::Result<()> {
    let checks_before = app.engine.password_checks.load(Ordering::Relaxed);
    let started = Instant::now();
    let mut answers: BTreeMap<String, usize> = BTreeMap::new();
    let guesses: Vec<usize> = (0..args.guesses).collect();
    for chunk in guesses.chunks(args.concurrency.max(1)) {
        let calls = chunk.iter().map(|&i| {
            let mut req = app
                .http
                .post(format!("{}/graphql", app.base))
                .json(&json!({ "query": LOGIN, "variables": { "e": email, "p": format!("guess-{i}-wrong") } }));
            if let Some(f) = forwarded(i) {
                req = req.header("x-forwarded-for", f);
            }
            async move {
                let body: Value = req.send().await?.json().await?;
                anyhow::Ok(body["errors"][0]["extensions"]["code"].as_str().unwrap_or("OK").to_owned())
            }
        });
        for code in futures::future::join_all(calls).await {
            *answers.entry(code?).or_default() += 1;
        }
    }
    let took = started.elapsed();
    let checks = app.engine.password_checks.load(Ordering::Relaxed) - checks_before;
    println!(
        "  {} guesses in {:.2} s ({:.0}/s): {answers:?}; password hashes computed: {checks}",
        args.guesses,
        took.as_secs_f64(),
        args.guesses as f64 / took.as_secs_f64()
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let proxy = worker::accounts::throttle::LoginSettings {
        trusted_networks: vec![],
        trusted_proxies: vec!["127.0.0.1/32".parse()?],
    };
    let app = TestApp::spawn_with_login(proxy).await;
    let r = app.admin("{ me { email } }", json!({})).await;
    let email = r.str("/me/email");
    println!("login-probe on {:?}, concurrency {}", app.db.backend, args.concurrency);
    println!("one attacker address:");
    run(&app, &email, &args, |_| Some("203.0.113.7".into())).await?;
    println!("a new address for every guess (the per-email limit):");
    run(&app, &email, &args, |i| Some(format!("198.51.{}.{}", i / 250, i % 250 + 1))).await?;
    Ok(())
}
