//! ACD benchmark, on the real server and workers (SQLite by default, PostgreSQL with `TEST_POSTGRES_URL`):
//!
//! 1. offer latency: a client's webhook acknowledged -> its conversation ALERTING for an online agent
//!    (`--samples` sequential webhooks), p50 / p99;
//! 2. backlog drain: `--backlog` queued conversations, `--agents` agents with auto answer set ONLINE at once
//!    (through the engine, as `setMyStatus` does), assignments per second until all are INTERACTING;
//! 3. timer lateness: `--offers` offers left unanswered with a 5 s alerting timeout; how late after each deadline
//!    the requeue happened (the offer history's `ended_at - deadline`, both on the database clock), p50 / p99 /
//!    max; `--idle-secs` first lets the workers sit idle that long.
//!
//! Setup rows (agents, the backlog) are written straight to the database: what is measured is distribution and
//! the timers, not Argon2 or intake.
//!
//! cargo run --release -p tests --bin acd-bench -- --samples 200 --backlog 10000 --agents 500 --offers 1000

use chrono::{DateTime, Utc};
use clap::Parser;
use entity::{
    AgentStatus, ConversationStatus, ConversationSubstatus, OfferOutcome, agent_state, contact, conversation,
    conversation_offer,
};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use serde_json::json;
use std::time::{Duration, Instant};
use tests::TestApp;
use tests::bench::agents;
use tests::bench::pct;
use tests::provider_sim::message_event;
use uuid::Uuid;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 200)]
    samples: usize,
    #[arg(long, default_value_t = 10_000)]
    backlog: usize,
    #[arg(long, default_value_t = 500)]
    agents: usize,
    #[arg(long, default_value_t = 1000)]
    offers: usize,
    #[arg(long, default_value_t = 0)]
    idle_secs: u64,
}

const OUR: &str = "+14155550900";
type Stamp = Option<DateTime<Utc>>;
const KEY: &str = "bench-key-0900";

async fn channel(app: &TestApp, name: &str, settings: serde_json::Value) -> (String, Uuid) {
    let mut input = TestApp::channel_input(name);
    for (k, v) in settings.as_object().cloned().unwrap_or_default() {
        input[k] = v;
    }
    let id = app.create_channel_as(&app.admin_token, input).await;
    (id.clone(), id.parse().unwrap_or_default())
}

/// `n` conversations waiting in the channel's queue.
async fn backlog(app: &TestApp, account: Uuid, ch: Uuid, number: Uuid, n: usize) -> anyhow::Result<()> {
    let start = Utc::now() - chrono::Duration::seconds(3600);
    for chunk in (0..n).collect::<Vec<_>>().chunks(200) {
        let mut contacts = Vec::new();
        let mut convs = Vec::new();
        for i in chunk {
            let at = start + chrono::Duration::milliseconds(*i as i64);
            let c = Uuid::now_v7();
            contacts.push(contact::ActiveModel {
                id: Set(c),
                account_id: Set(account),
                e164: Set(format!("+49{}{:08}", ch.as_u128() % 1000, i)),
                display_name: Set(None),
                created_at: Set(at),
                updated_at: Set(at),
            });
            convs.push(conversation::ActiveModel {
                id: Set(Uuid::now_v7()),
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
        }
        contact::Entity::insert_many(contacts).exec(&app.engine.db).await?;
        conversation::Entity::insert_many(convs).exec(&app.engine.db).await?;
    }
    Ok(())
}

async fn count(app: &TestApp, ch: Uuid, sub: ConversationSubstatus) -> anyhow::Result<u64> {
    Ok(conversation::Entity::find()
        .filter(conversation::Column::ChannelId.eq(ch))
        .filter(conversation::Column::Substatus.eq(sub))
        .count(&app.engine.db)
        .await?)
}

/// Posts one webhook per sample from a new client and times acknowledgement -> the conversation ALERTING.
async fn offer_latency(
    app: &TestApp,
    sim: &tests::provider_sim::ProviderSim,
    url: &str,
    ch: Uuid,
    samples: std::ops::Range<usize>,
) -> anyhow::Result<Vec<f64>> {
    let mut lat = Vec::new();
    for i in samples {
        let (status, body) =
            sim.post_webhook(url, KEY, &message_event(&format!("lat-{i}"), OUR, &format!("+4917{i:08}"), "hi")).await;
        anyhow::ensure!(status == 200, "webhook refused: {body}");
        let acked = Instant::now();
        loop {
            if count(app, ch, ConversationSubstatus::Alerting).await? > i as u64 {
                break;
            }
            anyhow::ensure!(acked.elapsed() < Duration::from_secs(30), "no offer after 30 s");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        lat.push(acked.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(lat)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    }
    let app = TestApp::spawn_with(false).await;
    let backend = format!("{:?}", app.db.backend);
    let account: Uuid = app.account_id.parse()?;
    let sim = tests::provider_sim::ProviderSim::start().await;

    // 1. Offer latency.
    let (ch1, ch1_id) =
        channel(&app, "Latency", json!({ "utilization": 0, "autoAssignmentLimit": 1000, "alertingTimeout": 3600 }))
            .await;
    app.add_number(&ch1, OUR, KEY).await;
    agents(&app, account, ch1_id, 1, AgentStatus::Online).await?;
    let url = app.webhook_url(&ch1).await;
    let mut lat = offer_latency(&app, &sim, &url, ch1_id, 0..args.samples).await?;
    println!(
        "[{backend}] webhook ack -> ALERTING: samples={} p50={:.1} ms p99={:.1} ms",
        args.samples,
        pct(&mut lat, 0.5),
        pct(&mut lat, 0.99)
    );

    // 2. Backlog drain with auto answer.
    let per_agent = args.backlog.div_ceil(args.agents.max(1)).max(1) as i64;
    let cost = (100 / per_agent).max(0);
    let (ch2, ch2_id) = channel(
        &app,
        "Backlog",
        json!({ "utilization": cost, "autoAssignmentLimit": per_agent, "autoAnswer": true, "alertingTimeout": null }),
    )
    .await;
    let number: Uuid = app.add_number(&ch2, "+14155550901", "bench-key-0901").await.parse()?;
    let ids = agents(&app, account, ch2_id, args.agents, AgentStatus::Busy).await?;
    backlog(&app, account, ch2_id, number, args.backlog).await?;
    let started = Instant::now();
    agent_state::Entity::update_many()
        .col_expr(agent_state::Column::Status, sea_orm::sea_query::Expr::value(AgentStatus::Online))
        .col_expr(agent_state::Column::BusyKind, sea_orm::sea_query::Expr::value(Option::<entity::BusyKind>::None))
        .filter(agent_state::Column::UserId.is_in(ids))
        .exec(&app.engine.db)
        .await?;
    app.engine.run_distribution(account).await?;
    loop {
        let n = count(&app, ch2_id, ConversationSubstatus::Interacting).await?;
        if n >= args.backlog as u64 {
            break;
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(300), "drain stuck at {n}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "[{backend}] backlog drain: {} conversations to {} agents (cost {cost}, limit {per_agent}) in {secs:.2} s = {:.0} assignments/s",
        args.backlog,
        args.agents,
        args.backlog as f64 / secs
    );

    // 3. Timer lateness.
    if args.idle_secs > 0 {
        println!("[{backend}] idling {} s before the timers", args.idle_secs);
        tokio::time::sleep(Duration::from_secs(args.idle_secs)).await;
        let mut lat = offer_latency(&app, &sim, &url, ch1_id, args.samples..args.samples + 20).await?;
        println!(
            "[{backend}] after {} s idle, webhook ack -> ALERTING: samples=20 p50={:.1} ms max={:.1} ms",
            args.idle_secs,
            pct(&mut lat, 0.5),
            pct(&mut lat, 1.0)
        );
    }
    let (ch3, ch3_id) =
        channel(&app, "Timers", json!({ "utilization": 0, "autoAssignmentLimit": 1000, "alertingTimeout": 5 })).await;
    let number: Uuid = app.add_number(&ch3, "+14155550902", "bench-key-0902").await.parse()?;
    backlog(&app, account, ch3_id, number, args.offers).await?;
    let online = agents(&app, account, ch3_id, 1, AgentStatus::Online).await?;
    app.engine.run_distribution(account).await?;
    let offered = count(&app, ch3_id, ConversationSubstatus::Alerting).await?;
    let started = Instant::now();
    loop {
        let expired = conversation_offer::Entity::find()
            .filter(conversation_offer::Column::UserId.is_in(online.clone()))
            .filter(conversation_offer::Column::Outcome.eq(OfferOutcome::Expired))
            .count(&app.engine.db)
            .await?;
        if expired >= offered {
            break;
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(120), "only {expired} of {offered} offers expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rows: Vec<(Stamp, Stamp)> = conversation_offer::Entity::find()
        .select_only()
        .column(conversation_offer::Column::Deadline)
        .column(conversation_offer::Column::EndedAt)
        .filter(conversation_offer::Column::UserId.is_in(online))
        .filter(conversation_offer::Column::Outcome.eq(OfferOutcome::Expired))
        .into_tuple()
        .all(&app.engine.db)
        .await?;
    let mut late: Vec<f64> =
        rows.iter().filter_map(|(d, e)| Some(((*e)? - (*d)?).num_microseconds()? as f64 / 1000.0)).collect();
    let early = late.iter().filter(|l| **l < 0.0).count();
    let max = late.iter().copied().fold(f64::MIN, f64::max);
    println!(
        "[{backend}] alerting timeout, {} offers: requeued after the deadline p50={:.0} ms p99={:.0} ms max={max:.0} ms; early={early}",
        late.len(),
        pct(&mut late, 0.5),
        pct(&mut late, 0.99),
    );
    Ok(())
}

use sea_orm::QuerySelect;
