//! Supervisor-statistics benchmark, over real HTTP against the real server (SQLite by default, PostgreSQL with
//! `TEST_POSTGRES_URL`):
//!
//! - `--channels` channels with `--open` conversations waiting in their queues (each with its open stint), and
//!   `--stints` ended stints plus half as many ended assignments spread over `--days` days (random outcomes and
//!   waits), written straight to the database;
//! - `queueStats` of every channel, `--runs` times: p50 / p99 / max;
//! - `queueMetrics` for the last 30 days by HOUR, for one channel and for every channel (grouped by channel):
//!   p50 / p99 / max.
//!
//! cargo run --release -p tests --bin stats-bench -- --channels 50 --open 10000 --stints 1000000

use chrono::{Duration as Span, Utc};
use clap::Parser;
use entity::{
    ConversationStatus, ConversationSubstatus, OfferOrigin, OfferOutcome, StintOutcome, StintStart, contact,
    conversation, conversation_offer, queue_stint,
};
use rand::Rng;
use sea_orm::{EntityTrait, Set};
use serde_json::json;
use std::time::Instant;
use tests::TestApp;
use tests::bench::pct;
use uuid::Uuid;
use worker::acd::stints::slot;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 50)]
    channels: usize,
    #[arg(long, default_value_t = 10_000)]
    open: usize,
    #[arg(long, default_value_t = 1_000_000)]
    stints: usize,
    #[arg(long, default_value_t = 90)]
    days: i64,
    #[arg(long, default_value_t = 200)]
    runs: usize,
}

const CHUNK: usize = 1000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let app = TestApp::spawn_without_workers(false).await;
    let account: Uuid = app.account_id.parse()?;
    let db = &app.engine.db;
    let now = Utc::now();
    let t = Instant::now();

    // Channels, each with a number, and the waiting conversations with their open stints.
    let mut channels = Vec::new();
    for i in 0..args.channels {
        let id = app.create_channel(&format!("Bench {i:03}")).await;
        let number = app.add_number(&id, &format!("+1415555{i:04}"), &format!("bench-key-{i:04}")).await;
        channels.push((id.parse::<Uuid>()?, number.parse::<Uuid>()?));
    }
    let mut convs: Vec<(Uuid, Uuid)> = Vec::with_capacity(args.open);
    let ids: Vec<usize> = (0..args.open).collect();
    for chunk in ids.chunks(CHUNK / 2) {
        let mut contacts = Vec::new();
        let mut rows = Vec::new();
        let mut open = Vec::new();
        for i in chunk {
            let (ch, number) = channels[i % channels.len()];
            let at = now - Span::seconds((args.open - i) as i64 % 3600);
            let c = Uuid::now_v7();
            contacts.push(contact::ActiveModel {
                id: Set(c),
                account_id: Set(account),
                e164: Set(format!("+49151{i:08}")),
                display_name: Set(None),
                created_at: Set(at),
                updated_at: Set(at),
            });
            let conv = Uuid::now_v7();
            convs.push((conv, ch));
            rows.push(conversation::ActiveModel {
                id: Set(conv),
                account_id: Set(account),
                channel_id: Set(ch),
                contact_id: Set(c),
                phone_number_id: Set(number),
                status: Set(ConversationStatus::Open),
                substatus: Set(Some(ConversationSubstatus::InQueue)),
                assigned_user_id: Set(None),
                enqueued_at: Set(Some(at)),
                wrap_up_code_id: Set(None),
                wrap_up_timed_out: Set(false),
                created_at: Set(at),
                updated_at: Set(at),
                resolved_at: Set(None),
                offer_id: Set(None),
                offer_deadline: Set(None),
                wrap_up_deadline: Set(None),
                assignment_cost: Set(None),
                resolution: Set(None),
                bot_deadline: Set(None),
                hand_off_reason: Set(None),
                handed_off_at: Set(None),
            });
            open.push(stint(account, ch, conv, at, None, StintOutcome::Answered, 0));
        }
        contact::Entity::insert_many(contacts).exec(db).await?;
        conversation::Entity::insert_many(rows).exec(db).await?;
        queue_stint::Entity::insert_many(open).exec(db).await?;
    }

    // History: ended stints and assignments over the last `days` days.
    let mut rng = rand::thread_rng();
    let agent: Uuid = app.admin("{ me { id } }", json!({})).await.str("/me/id").parse()?;
    let span = args.days * 86_400;
    let mut written = 0;
    while written < args.stints {
        let n = CHUNK.min(args.stints - written);
        let mut stints = Vec::with_capacity(n);
        let mut offers = Vec::with_capacity(n / 2);
        for k in 0..n {
            let (conv, ch) = convs[(written + k) % convs.len()];
            let end = now - Span::seconds(rng.gen_range(60..span));
            let wait_ms = rng.gen_range(0..180_000);
            let outcome = match rng.gen_range(0..10) {
                0 | 1 => StintOutcome::Abandoned,
                2 => StintOutcome::Transferred,
                _ => StintOutcome::Answered,
            };
            stints.push(stint(account, ch, conv, end - Span::milliseconds(wait_ms), Some(end), outcome, wait_ms));
            if k % 2 == 0 {
                let handle = rng.gen_range(30_000..900_000);
                offers.push(conversation_offer::ActiveModel {
                    id: Set(Uuid::now_v7()),
                    account_id: Set(account),
                    conversation_id: Set(conv),
                    user_id: Set(agent),
                    origin: Set(OfferOrigin::Distribution),
                    offered_at: Set(end - Span::milliseconds(handle)),
                    deadline: Set(None),
                    outcome: Set(Some(OfferOutcome::Resolved)),
                    ended_at: Set(Some(end)),
                    excludes: Set(false),
                    channel_id: Set(Some(ch)),
                    accepted_at: Set(Some(end - Span::milliseconds(handle))),
                    after_call_work_at: Set(None),
                    handle_ms: Set(Some(handle)),
                    after_call_work_ms: Set(None),
                    ended_slot: Set(Some(slot(end))),
                });
            }
        }
        queue_stint::Entity::insert_many(stints).exec(db).await?;
        if !offers.is_empty() {
            conversation_offer::Entity::insert_many(offers).exec(db).await?;
        }
        written += n;
    }
    println!(
        "seeded {} channels, {} waiting, {} ended stints, {} ended assignments in {:.1} s ({:?})",
        args.channels,
        args.open,
        args.stints,
        args.stints.div_ceil(2),
        t.elapsed().as_secs_f64(),
        app.db.backend
    );

    let stats = "{ queueStats { channelId waiting alerting longestWaitingSince agentsOnline agentsAvailable
        interacting offered answered abandoned serviceLevel { numerator denominator } averageSpeedOfAnswer
        averageHandleTime } }";
    let mut v = time(&app, args.runs, stats, json!({}), "/queueStats").await?;
    report("queueStats (all channels)", &mut v);

    let metrics = "query($from: DateTime!, $to: DateTime!, $c: ID) { queueMetrics(from: $from, to: $to,
        granularity: HOUR, channelId: $c, groupBy: CHANNEL) { start offered answered serviceLevel { numerator
        denominator } speedOfAnswer { sum count } handleTime { sum count } } }";
    let from = (now - Span::days(30)).to_rfc3339();
    let to = now.to_rfc3339();
    let one = channels[0].0.to_string();
    let runs = args.runs.min(50);
    let mut v = time(&app, runs, metrics, json!({ "from": from, "to": to, "c": one }), "/queueMetrics").await?;
    report("queueMetrics 30 days by HOUR, one channel", &mut v);
    let mut v = time(&app, runs.min(20), metrics, json!({ "from": from, "to": to }), "/queueMetrics").await?;
    report("queueMetrics 30 days by HOUR, every channel", &mut v);
    Ok(())
}

fn stint(
    account: Uuid,
    ch: Uuid,
    conv: Uuid,
    started: chrono::DateTime<Utc>,
    ended: Option<chrono::DateTime<Utc>>,
    outcome: StintOutcome,
    wait_ms: i64,
) -> queue_stint::ActiveModel {
    queue_stint::ActiveModel {
        id: Set(Uuid::now_v7()),
        account_id: Set(account),
        channel_id: Set(ch),
        conversation_id: Set(conv),
        started_at: Set(started),
        start_reason: Set(StintStart::New),
        ended_at: Set(ended),
        ended_slot: Set(ended.map(slot)),
        outcome: Set(ended.map(|_| outcome)),
        abandon_reason: Set(None),
        answered_by: Set(None),
        wait_ms: Set(ended.map(|_| wait_ms)),
        offers: Set(1),
        rejects: Set(0),
        timeouts: Set(0),
        estimate_seconds: Set(None),
        estimate_basis: Set(None),
        updates_sent: Set(0),
        last_update_at: Set(None),
        last_update_position: Set(None),
        updates_stopped: Set(false),
    }
}

/// Milliseconds per request over HTTP; fails on the first error (what is timed must be an answer).
async fn time(app: &TestApp, runs: usize, q: &str, vars: serde_json::Value, field: &str) -> anyhow::Result<Vec<f64>> {
    let mut out = Vec::with_capacity(runs);
    for i in 0..=runs {
        let t = Instant::now();
        let r = app.admin(q, vars.clone()).await;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        if !r.errors().is_empty() {
            anyhow::bail!("{field}: {:?}", r.errors());
        }
        if i == 0 {
            let n = r.data(&format!("/{}", field.trim_start_matches('/'))).as_array().map_or(0, Vec::len);
            println!("{field}: {n} rows per answer");
            continue;
        }
        out.push(ms);
    }
    Ok(out)
}

fn report(what: &str, v: &mut [f64]) {
    let max = v.iter().copied().fold(0.0, f64::max);
    println!("{what}: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} runs)", pct(v, 0.5), pct(v, 0.99), max, v.len());
}
