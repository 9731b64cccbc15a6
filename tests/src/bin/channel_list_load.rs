//! Load generator for the admin screen's channel list: seeds channels (each with a chatbot, numbers, wrap-up
//! codes and agents), then runs the list query at a chosen concurrency over real HTTP and reports requests per
//! second, p50/p99 latency and SQL statements per request.
//!
//! SQLite:     cargo run --release -p tests --bin channel-list-load -- --concurrency 16 --requests 2000
//! PostgreSQL: TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres cargo run --release -p tests --bin channel-list-load

use clap::Parser;
use serde_json::json;
use std::time::{Duration, Instant};
use tests::TestApp;

#[derive(Parser)]
struct Args {
    /// Requests in flight at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Requests in all (after a warm-up of `concurrency` requests).
    #[arg(long, default_value_t = 2000)]
    requests: usize,
    /// Channels to seed.
    #[arg(long, default_value_t = 50)]
    channels: usize,
}

const LIST: &str = "query { channels(first: 100) { totalCount edges { cursor node { id name conversationType \
    utilization autoAssignmentLimit autoAnswer alertingTimeout wrapUpTimeout chatbot { id name } \
    phoneNumbers { id phoneNumber apiKeyHint enabled verification } wrapUpCodes { id name } agents { id name } } } \
    pageInfo { hasNextPage endCursor } } }";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let app = TestApp::spawn_with(false).await;
    let backend = format!("{:?}", app.db.backend);
    let mut agents = Vec::new();
    for _ in 0..3 {
        agents.push(app.user_with_token("AGENT").await.0);
    }
    for i in 0..args.channels {
        let bot = app
            .admin(
                "mutation($n: String!) { createChatbot(input: {name: $n}) { id } }",
                json!({ "n": format!("Bot {i}") }),
            )
            .await
            .ok()
            .str("/createChatbot/id");
        let mut input = TestApp::channel_input(&format!("Channel {i:03}"));
        input["chatbotId"] = json!(bot);
        input["agentIds"] = json!(agents);
        input["wrapUpCodes"] = json!(["Sold", "Callback", "Not interested"]);
        let id = app.create_channel_as(&app.admin_token, input).await;
        for n in 0..2 {
            app.add_number(&id, &format!("+1555{:03}{:04}", i, n), "bench-api-key-123").await;
        }
    }

    let run = |n: usize| {
        let app = &app;
        async move {
            let mut lat = Vec::with_capacity(n);
            let mut handles = Vec::new();
            let per = n.div_ceil(args.concurrency);
            for w in 0..args.concurrency {
                let count = per.min(n.saturating_sub(w * per));
                let http = app.http.clone();
                let url = format!("{}/graphql", app.base);
                let token = app.admin_token.clone();
                handles.push(tokio::spawn(async move {
                    let mut v = Vec::with_capacity(count);
                    for _ in 0..count {
                        let t = Instant::now();
                        let r = http.post(&url).bearer_auth(&token).json(&json!({ "query": LIST })).send().await;
                        let ok = match r {
                            Ok(r) if r.status().is_success() => {
                                r.text().await.map(|b| !b.contains("\"errors\"")).unwrap_or(false)
                            }
                            _ => false,
                        };
                        if !ok {
                            return Err(anyhow::anyhow!("a request failed"));
                        }
                        v.push(t.elapsed());
                    }
                    Ok(v)
                }));
            }
            for h in handles {
                lat.extend(h.await??);
            }
            anyhow::Ok(lat)
        }
    };

    run(args.concurrency).await?; // warm-up
    let statements_before = app.statements().await;
    let started = Instant::now();
    let mut lat = run(args.requests).await?;
    let elapsed = started.elapsed();
    let statements = app.statements().await - statements_before;
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "backend={backend} channels={} concurrency={} requests={} rps={:.0} p50={:.2}ms p99={:.2}ms statements/request={:.2}",
        args.channels,
        args.concurrency,
        lat.len(),
        lat.len() as f64 / elapsed.as_secs_f64(),
        ms(pct(0.50)),
        ms(pct(0.99)),
        statements as f64 / lat.len() as f64,
    );
    Ok(())
}
