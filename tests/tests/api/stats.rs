//! Supervisor statistics over real HTTP and WebSockets: queue stints written by the real ACD transitions, the
//! historical buckets under each abandon policy (from stints and assignments with known times), the live figures
//! and the wallboard subscription, expected waits, and queue messages to waiting clients.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::acd::desk_on;
use chrono::{DateTime, Duration as Span, Utc};
use entity::{AbandonReason, OfferOrigin, OfferOutcome, StintOutcome, StintStart, conversation_offer, queue_stint};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use std::time::Duration;
use tests::live::{LiveClient, TRANSPORT_WS};
use tests::{TestApp, eventually};
use uuid::Uuid;
use worker::acd::queue_updates::QueueUpdate;
use worker::acd::stints::slot;

const WAIT: Duration = Duration::from_secs(15);

const METRICS: &str = "query($from: DateTime!, $to: DateTime!, $g: Granularity!, $c: ID, $by: MetricsGroupBy!) {
    queueMetrics(from: $from, to: $to, granularity: $g, channelId: $c, groupBy: $by) {
        start end channelId agentId abandonPolicy offered answered abandoned shortAbandoned transferred
        answeredWithinTarget serviceLevel { numerator denominator value }
        speedOfAnswer { sum count average } handleTime { sum count } afterCallWork { sum count }
        waitTime { sum count } rejected timedOut } }";

const STATS: &str = "query($c: ID) { queueStats(channelId: $c) { channelId waiting alerting longestWaitingSince
    agentsOnline agentsAvailable agentsBusy { substatus count } agentsOffline interacting onHold afterCallWork
    offered answered abandoned serviceLevel { numerator denominator } averageSpeedOfAnswer averageHandleTime } }";

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// An ended stint with a known wait and end.
fn stint(
    app: &TestApp,
    channel: Uuid,
    conv: Uuid,
    ended: &str,
    wait_s: i64,
    outcome: StintOutcome,
    by: Option<Uuid>,
) -> queue_stint::ActiveModel {
    let end = at(ended);
    queue_stint::ActiveModel {
        id: Set(Uuid::now_v7()),
        account_id: Set(Uuid::parse_str(&app.account_id).unwrap()),
        channel_id: Set(channel),
        conversation_id: Set(conv),
        started_at: Set(end - Span::seconds(wait_s)),
        start_reason: Set(StintStart::New),
        ended_at: Set(Some(end)),
        ended_slot: Set(Some(slot(end))),
        outcome: Set(Some(outcome)),
        abandon_reason: Set((outcome == StintOutcome::Abandoned).then_some(AbandonReason::Resolved)),
        answered_by: Set(by),
        wait_ms: Set(Some(wait_s * 1000)),
        offers: Set(0),
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

/// An ended assignment with a known end, outcome and handle time.
#[allow(clippy::too_many_arguments)]
fn offer(
    app: &TestApp,
    channel: Uuid,
    conv: Uuid,
    user: Uuid,
    ended: &str,
    outcome: OfferOutcome,
    handle_s: Option<i64>,
    acw_s: Option<i64>,
) -> conversation_offer::ActiveModel {
    let end = at(ended);
    conversation_offer::ActiveModel {
        id: Set(Uuid::now_v7()),
        account_id: Set(Uuid::parse_str(&app.account_id).unwrap()),
        conversation_id: Set(conv),
        user_id: Set(user),
        origin: Set(OfferOrigin::Distribution),
        offered_at: Set(end - Span::seconds(handle_s.unwrap_or(10))),
        deadline: Set(None),
        outcome: Set(Some(outcome)),
        ended_at: Set(Some(end)),
        excludes: Set(false),
        channel_id: Set(Some(channel)),
        accepted_at: Set(handle_s.map(|h| end - Span::seconds(h))),
        after_call_work_at: Set(acw_s.map(|a| end - Span::seconds(a))),
        handle_ms: Set(handle_s.map(|h| h * 1000)),
        after_call_work_ms: Set(acw_s.map(|a| a * 1000)),
        ended_slot: Set(Some(slot(end))),
    }
}

async fn metrics(app: &TestApp, from: &str, to: &str, g: &str, channel: Option<&str>, by: &str) -> Vec<Value> {
    let r = app.admin(METRICS, json!({ "from": from, "to": to, "g": g, "c": channel, "by": by })).await;
    r.ok().data("/queueMetrics").as_array().unwrap().clone()
}

async fn set_policy(app: &TestApp, channel: &str, policy: &str) {
    app.admin(
        "mutation($c: ID!, $i: ServiceLevelInput!) { setChannelServiceLevel(channelId: $c, input: $i) {
            serviceLevel { targetSeconds shortAbandonSeconds abandonPolicy } } }",
        json!({ "c": channel, "i": { "targetSeconds": 20, "shortAbandonSeconds": 5, "abandonPolicy": policy } }),
    )
    .await
    .ok();
}

/// A day of waits with known answers, abandons (one short) and a transfer, in the account's time zone (Madrid,
/// UTC+1 in November): the hour and day buckets are exactly what the definitions say, under each abandon policy.
#[tokio::test]
async fn a_day_of_stints_gives_the_expected_buckets_under_each_abandon_policy() {
    let d = desk_on(TestApp::spawn().await, 2, json!({})).await;
    let app = &d.app;
    app.admin("mutation { setAccountTimeZone(timeZone: \"Europe/Madrid\") { timeZone } }", json!({})).await.ok();
    let conv = Uuid::parse_str(&d.write("+491510000001", "hello").await).unwrap();
    let ch = Uuid::parse_str(&d.channel).unwrap();
    let (a0, a1) = (Uuid::parse_str(d.id(0)).unwrap(), Uuid::parse_str(d.id(1)).unwrap());
    use StintOutcome::*;
    let rows = vec![
        // 09:00-10:00 in Madrid.
        stint(app, ch, conv, "2026-11-10T08:10:00Z", 10, Answered, Some(a0)),
        stint(app, ch, conv, "2026-11-10T08:20:00Z", 30, Answered, Some(a0)),
        stint(app, ch, conv, "2026-11-10T08:30:00Z", 3, Abandoned, None),
        stint(app, ch, conv, "2026-11-10T08:40:00Z", 60, Abandoned, None),
        // 10:00-11:00.
        stint(app, ch, conv, "2026-11-10T09:05:00Z", 5, Answered, Some(a1)),
        stint(app, ch, conv, "2026-11-10T09:50:00Z", 40, Transferred, Some(a1)),
        // The day before, in Madrid (23:30 UTC on the 9th is 00:30 on the 10th: the same local day).
        stint(app, ch, conv, "2026-11-09T23:30:00Z", 7, Answered, Some(a0)),
    ];
    queue_stint::Entity::insert_many(rows).exec(&app.engine.db).await.unwrap();
    let offers = vec![
        offer(app, ch, conv, a0, "2026-11-10T08:15:00Z", OfferOutcome::Rejected, None, None),
        offer(app, ch, conv, a1, "2026-11-10T09:10:00Z", OfferOutcome::Expired, None, None),
        offer(app, ch, conv, a1, "2026-11-10T09:30:00Z", OfferOutcome::Resolved, Some(600), Some(60)),
    ];
    conversation_offer::Entity::insert_many(offers).exec(&app.engine.db).await.unwrap();

    let hours = metrics(app, "2026-11-10T08:00:00Z", "2026-11-10T10:00:00Z", "HOUR", Some(&d.channel), "CHANNEL").await;
    assert_eq!(hours.len(), 2, "{hours:#?}");
    let (h9, h10) = (&hours[0], &hours[1]);
    assert_eq!(h9["start"], json!("2026-11-10T08:00:00+00:00"));
    assert_eq!(h9["end"], json!("2026-11-10T09:00:00+00:00"));
    assert_eq!(h9["channelId"], json!(d.channel));
    assert_eq!(
        (h9["offered"].clone(), h9["answered"].clone(), h9["abandoned"].clone(), h9["shortAbandoned"].clone()),
        (json!(4), json!(2), json!(2), json!(1))
    );
    assert_eq!(h9["answeredWithinTarget"], json!(1));
    assert_eq!(h9["speedOfAnswer"], json!({ "sum": 40.0, "count": 2, "average": 20.0 }));
    assert_eq!(h9["waitTime"], json!({ "sum": 103.0, "count": 4 }));
    assert_eq!(h9["rejected"], json!(1));
    assert_eq!(h9["abandonPolicy"], json!("COUNT_AS_MISSED"));
    assert_eq!(h9["serviceLevel"], json!({ "numerator": 1, "denominator": 4, "value": 0.25 }));
    assert_eq!((h10["offered"].clone(), h10["transferred"].clone()), (json!(2), json!(1)));
    assert_eq!(h10["timedOut"], json!(1));
    assert_eq!(h10["handleTime"], json!({ "sum": 600.0, "count": 1 }));
    assert_eq!(h10["afterCallWork"], json!({ "sum": 60.0, "count": 1 }));
    assert_eq!(h10["serviceLevel"]["denominator"], json!(1));

    // The local day: 23:00 UTC to 23:00 UTC, the 00:30 wait included.
    let days = metrics(app, "2026-11-10T12:00:00Z", "2026-11-10T12:00:00Z", "DAY", None, "CHANNEL").await;
    assert_eq!(days.len(), 1, "{days:#?}");
    assert_eq!(days[0]["start"], json!("2026-11-09T23:00:00+00:00"));
    assert_eq!(days[0]["end"], json!("2026-11-10T23:00:00+00:00"));
    assert_eq!(days[0]["offered"], json!(7));
    assert_eq!(days[0]["serviceLevel"], json!({ "numerator": 3, "denominator": 6, "value": 0.5 }));

    // The same waits under the other policies.
    set_policy(app, &d.channel, "EXCLUDE").await;
    let h = metrics(app, "2026-11-10T08:00:00Z", "2026-11-10T09:00:00Z", "HOUR", None, "CHANNEL").await;
    assert_eq!(h[0]["serviceLevel"], json!({ "numerator": 1, "denominator": 2, "value": 0.5 }));
    assert_eq!(h[0]["abandonPolicy"], json!("EXCLUDE"));
    set_policy(app, &d.channel, "EXCLUDE_SHORT").await;
    let h = metrics(app, "2026-11-10T08:00:00Z", "2026-11-10T09:00:00Z", "HOUR", None, "CHANNEL").await;
    assert_eq!(h[0]["serviceLevel"]["denominator"], json!(3));
    assert_eq!(h[0]["abandonPolicy"], json!("EXCLUDE_SHORT"));

    // Fifteen-minute buckets add up to the hour.
    let q = metrics(app, "2026-11-10T08:00:00Z", "2026-11-10T09:00:00Z", "FIFTEEN_MINUTES", None, "CHANNEL").await;
    assert_eq!(q.iter().map(|b| b["offered"].as_i64().unwrap()).sum::<i64>(), 4);
    assert_eq!(q.iter().map(|b| b["serviceLevel"]["denominator"].as_i64().unwrap()).sum::<i64>(), 3);

    // Per agent: the waits each answered, the offers each rejected or let time out.
    let by_agent = metrics(app, "2026-11-10T08:00:00Z", "2026-11-10T10:00:00Z", "DAY", None, "AGENT").await;
    let of = |id: Option<&str>| by_agent.iter().find(|b| b["agentId"].as_str() == id).cloned().unwrap();
    assert_eq!(of(Some(d.id(0)))["answered"], json!(3));
    assert_eq!(of(Some(d.id(0)))["rejected"], json!(1));
    assert_eq!(of(Some(d.id(1)))["answered"], json!(1));
    assert_eq!(of(Some(d.id(1)))["transferred"], json!(1));
    assert_eq!(of(Some(d.id(1)))["timedOut"], json!(1));
    assert_eq!(of(None)["abandoned"], json!(2));
}

#[tokio::test]
async fn bad_metrics_requests_name_the_field_and_agents_are_forbidden() {
    let d = desk_on(TestApp::spawn().await, 1, json!({})).await;
    let app = &d.app;
    let q = |from: &str, to: &str, g: &str, c: Option<String>| json!({ "from": from, "to": to, "g": g, "c": c, "by": "CHANNEL" });
    let r = app.admin(METRICS, q("2026-11-10T08:00:00Z", "2026-11-09T08:00:00Z", "HOUR", None)).await;
    assert_eq!(r.code(), "BAD_USER_INPUT");
    assert_eq!(r.input_errors()[0].0, "to");
    let r = app.admin(METRICS, q("2026-01-01T00:00:00Z", "2026-04-05T00:00:00Z", "FIFTEEN_MINUTES", None)).await;
    assert_eq!(r.input_errors()[0], ("to".to_owned(), "RANGE_TOO_LONG".to_owned()));
    let unknown = Some(Uuid::now_v7().to_string());
    let r = app.admin(METRICS, q("2026-11-10T08:00:00Z", "2026-11-10T09:00:00Z", "HOUR", unknown)).await;
    assert_eq!(r.input_errors()[0].0, "channelId");
    let r = app.gql(Some(d.token(0)), STATS, json!({})).await;
    assert_eq!(r.code(), "FORBIDDEN");
    let r = app.gql(Some(d.token(0)), METRICS, q("2026-11-10T08:00:00Z", "2026-11-10T09:00:00Z", "HOUR", None)).await;
    assert_eq!(r.code(), "FORBIDDEN");
    let r = app
        .admin(
            "mutation($c: ID!) { setChannelQueueMessages(channelId: $c, input: { enabled: true, everySeconds: 60, maxPerWait: 0 }) { id } }",
            json!({ "c": d.channel }),
        )
        .await;
    let fields: Vec<String> = r.input_errors().into_iter().map(|(f, _)| f).collect();
    assert_eq!(fields, ["everySeconds", "maxPerWait"]);
    let r = app.admin("mutation { setAccountTimeZone(timeZone: \"Mars/Olympus\") { timeZone } }", json!({})).await;
    assert_eq!(r.input_errors()[0].0, "timeZone");
}

/// The real transitions write the stints: a reject and an accept are one wait with two offers; a supervisor
/// closing a waiting conversation abandons it; the live figures count what waits, rings and is worked.
#[tokio::test]
async fn the_acd_writes_stints_and_the_live_figures_follow_them() {
    let d = desk_on(TestApp::spawn().await, 2, json!({})).await;
    let app = &d.app;
    let first = d.write("+491510000011", "hi").await;
    let second = d.write("+491510000012", "hello").await;
    let s = app.admin(STATS, json!({ "c": d.channel })).await;
    let s = s.ok().data("/queueStats/0").clone();
    assert_eq!((s["waiting"].clone(), s["alerting"].clone()), (json!(2), json!(0)));
    assert!(s["longestWaitingSince"].is_string());
    assert_eq!(s["agentsOnline"], json!(0));
    assert_eq!(s["agentsBusy"], json!([{ "substatus": "SYSTEM", "count": 2 }]));

    d.online(0).await;
    d.until(&first, "ALERTING").await;
    d.act(d.token(0), "rejectConversation", &first).await.ok();
    d.online(1).await;
    eventually(WAIT, "the first conversation offered to agent 1", || async {
        let c = d.conv(&first).await;
        (c["substatus"] == json!("ALERTING") && c["assignedAgent"]["id"] == json!(d.id(1))).then_some(())
    })
    .await;
    d.act(d.token(1), "acceptConversation", &first).await.ok();
    // The second waits (agent 0 is ringing with it, or it waits): a supervisor closes it.
    d.act(&app.admin_token, "resolveConversation", &second).await.ok();

    let stints = queue_stint::Entity::find().all(&app.engine.db).await.unwrap();
    let of = |c: &str| stints.iter().find(|s| s.conversation_id.to_string() == c).cloned().unwrap();
    let a = of(&first);
    assert_eq!(a.outcome, Some(StintOutcome::Answered));
    assert_eq!(a.answered_by.map(|u| u.to_string()), Some(d.id(1).to_owned()));
    assert_eq!((a.offers, a.rejects, a.timeouts), (2, 1, 0));
    let b = of(&second);
    assert_eq!(b.outcome, Some(StintOutcome::Abandoned));
    assert_eq!(b.abandon_reason, Some(AbandonReason::Resolved));
    assert_eq!(stints.len(), 2);

    let s = app.admin(STATS, json!({ "c": d.channel })).await;
    let s = s.ok().data("/queueStats/0").clone();
    assert_eq!((s["waiting"].clone(), s["alerting"].clone(), s["interacting"].clone()), (json!(0), json!(0), json!(1)));
    assert_eq!((s["offered"].clone(), s["answered"].clone(), s["abandoned"].clone()), (json!(2), json!(1), json!(1)));
    assert_eq!(s["serviceLevel"]["denominator"], json!(2));
    assert_eq!(s["agentsOnline"], json!(2));
    assert!(s["averageSpeedOfAnswer"].as_f64().unwrap() >= 0.0);

    // A supervisor's requeue of the answered conversation is a new wait.
    d.act(&app.admin_token, "requeueConversation", &first).await.ok();
    let open =
        queue_stint::Entity::find().filter(queue_stint::Column::EndedAt.is_null()).all(&app.engine.db).await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].start_reason, StintStart::Requeue);

    let agents = app.admin("{ agentStats { agentId status answered rejected conversationsHeld } }", json!({})).await;
    let agents = agents.ok().data("/agentStats").as_array().unwrap().clone();
    let one = agents.iter().find(|a| a["agentId"] == json!(d.id(1))).unwrap();
    assert_eq!(one["answered"], json!(1));
    let zero = agents.iter().find(|a| a["agentId"] == json!(d.id(0))).unwrap();
    assert_eq!(zero["rejected"], json!(1));
}

/// Today's live figures equal today's DAY bucket of `queueMetrics` however they are read: the settled slots of
/// the day are read once and kept, the current one every time, and a change of the channel's service-level
/// settings is seen at once.
#[tokio::test]
async fn live_figures_of_today_equal_the_day_bucket_as_slots_settle_and_settings_change() {
    let d = desk_on(TestApp::spawn().await, 2, json!({})).await;
    let app = &d.app;
    let conv = Uuid::parse_str(&d.write("+491510000021", "hello").await).unwrap();
    let ch = Uuid::parse_str(&d.channel).unwrap();
    let a0 = Uuid::parse_str(d.id(0)).unwrap();
    let now = Utc::now();
    let fmt = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    // A time in a settled slot of today (UTC, the account's zone): a slot that ended more than two minutes ago.
    let settled_end = DateTime::<Utc>::from_timestamp(slot(now - Span::minutes(2)) * 900, 0).unwrap();
    let day_start = now.date_naive().and_hms_opt(0, 0, 0).unwrap().and_utc();
    let earlier = (settled_end - Span::seconds(60) >= day_start).then(|| settled_end - Span::seconds(60));
    let (today_bucket, live) = (
        || async {
            let n = fmt(Utc::now());
            metrics(app, &n, &n, "DAY", Some(&d.channel), "CHANNEL").await.first().cloned().unwrap_or(json!({}))
        },
        || async { app.admin(STATS, json!({ "c": d.channel })).await.ok().data("/queueStats/0").clone() },
    );
    let same = |bucket: &Value, s: &Value| {
        for (b, l) in [("offered", "offered"), ("answered", "answered"), ("abandoned", "abandoned")] {
            assert_eq!(bucket[b].as_i64().unwrap_or(0), s[l].as_i64().unwrap(), "{b}: {bucket:#} vs {s:#}");
        }
        assert_eq!(
            bucket["serviceLevel"]["numerator"].as_i64().unwrap_or(0),
            s["serviceLevel"]["numerator"].as_i64().unwrap()
        );
        assert_eq!(
            bucket["serviceLevel"]["denominator"].as_i64().unwrap_or(0),
            s["serviceLevel"]["denominator"].as_i64().unwrap()
        );
    };

    // Waits that ended earlier today: one answered in 10 s, one abandoned after 3 s (short).
    if let Some(t) = earlier {
        let rows = vec![
            stint(app, ch, conv, &fmt(t), 10, StintOutcome::Answered, Some(a0)),
            stint(app, ch, conv, &fmt(t), 3, StintOutcome::Abandoned, None),
        ];
        queue_stint::Entity::insert_many(rows).exec(&app.engine.db).await.unwrap();
    } else {
        eprintln!("the day started less than 17 minutes ago: no slot of today is settled yet");
    }
    let s = live().await;
    same(&today_bucket().await, &s);
    let base = if earlier.is_some() { 2 } else { 0 };
    assert_eq!(s["offered"], json!(base));
    // Read again: the settled slots now come from the cache, with the same result.
    assert_eq!(live().await, s);

    // A wait that ends now, in the current slot: counted at once.
    let rows = vec![stint(app, ch, conv, &fmt(Utc::now()), 30, StintOutcome::Answered, Some(a0))];
    queue_stint::Entity::insert_many(rows).exec(&app.engine.db).await.unwrap();
    let s = live().await;
    assert_eq!(s["offered"], json!(base + 1));
    assert_eq!(s["answered"], json!(base / 2 + 1));
    same(&today_bucket().await, &s);
    // Target 20 s: the 10 s answer is within it, the 30 s one is not.
    assert_eq!(s["serviceLevel"]["numerator"], json!(base / 2));

    // A 5 s target counts neither answer within it, settled slots included.
    app.admin(
        "mutation($c: ID!, $i: ServiceLevelInput!) { setChannelServiceLevel(channelId: $c, input: $i) { id } }",
        json!({ "c": d.channel, "i": { "targetSeconds": 5, "shortAbandonSeconds": 5, "abandonPolicy": "COUNT_AS_MISSED" } }),
    )
    .await
    .ok();
    let s = live().await;
    assert_eq!(s["serviceLevel"]["numerator"], json!(0));
    same(&today_bucket().await, &s);
    // Short abandons excluded: the 3 s abandon leaves the denominator.
    set_policy(app, &d.channel, "EXCLUDE_SHORT").await;
    let s = live().await;
    assert_eq!(s["serviceLevel"]["denominator"], json!(base / 2 + 1));
    same(&today_bucket().await, &s);
}

/// The wallboard: a snapshot at once, a new one when a client starts waiting; agents are refused.
#[tokio::test]
async fn the_wallboard_gets_a_snapshot_then_one_per_change() {
    let d = desk_on(TestApp::spawn().await, 1, json!({})).await;
    let sub = "subscription($c: ID) { queueStatsChanged(channelId: $c) { kind stats { channelId waiting } } }";
    let mut c = LiveClient::connect(d.app.addr, TRANSPORT_WS, &d.app.admin_token).await.unwrap();
    c.subscribe("1", sub, json!({ "c": d.channel })).await.unwrap();
    let first = c.event("1", WAIT).await;
    assert_eq!(first["queueStatsChanged"]["kind"], json!("SNAPSHOT"));
    assert_eq!(first["queueStatsChanged"]["stats"][0]["waiting"], json!(0));
    d.write("+491510000021", "hi").await;
    let next = loop {
        let e = c.event("1", WAIT).await;
        if e["queueStatsChanged"]["stats"][0]["waiting"] == json!(1) {
            break e;
        }
    };
    assert_eq!(next["queueStatsChanged"]["kind"], json!("SNAPSHOT"));

    let mut agent = LiveClient::connect(d.app.addr, TRANSPORT_WS, d.token(0)).await.unwrap();
    agent.subscribe("1", sub, json!({})).await.unwrap();
    let refused = agent.try_event("1", WAIT).await.unwrap_err();
    assert!(refused.contains("FORBIDDEN"), "{refused}");
}

/// Queue messages: the first after `firstAfterSeconds` with the position and a wait in words, marked automatic;
/// "stop" ends them with one answer and the client keeps their place; none while an offer rings.
#[tokio::test]
async fn waiting_clients_are_told_their_place_until_they_say_stop() {
    let d = desk_on(TestApp::spawn().await, 1, json!({})).await;
    d.sim.add_number(crate::acd::OUR, crate::acd::KEY, true);
    let app = &d.app;
    let r = app
        .admin(
            "mutation($c: ID!) { setChannelQueueMessages(channelId: $c, input: { enabled: true, firstAfterSeconds: 1 }) {
                queueMessages { enabled firstAfterSeconds everySeconds maxPerWait stopKeyword texts { first } } } }",
            json!({ "c": d.channel }),
        )
        .await;
    let qm = r.ok().data("/setChannelQueueMessages/queueMessages").clone();
    assert_eq!(qm["everySeconds"], json!(300));
    assert!(qm["texts"]["first"].as_str().unwrap().contains("{position}"));

    let client = "+491510000031";
    let conv = d.write(client, "hello").await;
    let sent = eventually(WAIT, "the first queue message", || async {
        let s: Vec<_> = d.sim.sent().into_iter().filter(|m| m.to == client).collect();
        (!s.is_empty()).then_some(s)
    })
    .await;
    assert_eq!(sent.len(), 1);
    assert!(sent[0].text.contains("number 1 in the queue"), "{}", sent[0].text);
    assert!(sent[0].text.contains("not known yet"), "no agent is online: {}", sent[0].text);
    let msgs = app
        .admin(
            "query($id: ID!) { conversation(id: $id) { estimatedWait { basis position } messages { text automatic direction } } }",
            json!({ "id": conv }),
        )
        .await;
    let c = msgs.ok().data("/conversation").clone();
    assert_eq!(c["estimatedWait"], json!({ "basis": "NO_AGENTS", "position": 1 }));
    assert!(c["messages"].as_array().unwrap().iter().any(|m| m["automatic"] == json!(true)));

    d.write(client, "STOP").await;
    eventually(WAIT, "the answer to stop", || async {
        let s: Vec<_> = d.sim.sent().into_iter().filter(|m| m.to == client).collect();
        (s.len() == 2).then_some(())
    })
    .await;
    let stint = queue_stint::Entity::find().all(&app.engine.db).await.unwrap();
    assert!(stint[0].updates_stopped);
    assert_eq!(stint[0].updates_sent, 1);
    assert_eq!(d.conv(&conv).await["substatus"], json!("IN_QUEUE"), "the client keeps their place");

    // A ringing conversation is not told anything: its check finds the offer ringing and only looks again later.
    d.online(0).await;
    d.until(&conv, "ALERTING").await;
    let wait = queue_stint::Entity::find().all(&app.engine.db).await.unwrap().remove(0);
    let check = QueueUpdate { stint_id: wait.id, conversation_id: wait.conversation_id };
    queue_stint::Entity::update_many()
        .col_expr(queue_stint::Column::UpdatesStopped, sea_orm::sea_query::Expr::value(false))
        .exec(&app.engine.db)
        .await
        .unwrap();
    app.engine.run_queue_update(&check).await.unwrap();
    assert_eq!(d.sim.sent().iter().filter(|m| m.to == client).count(), 2, "a ringing conversation was told its place");
    // Nor one an agent took.
    d.act(d.token(0), "acceptConversation", &conv).await.ok();
    app.engine.run_queue_update(&check).await.unwrap();
    assert_eq!(d.sim.sent().iter().filter(|m| m.to == client).count(), 2, "a taken conversation was told its place");
    let after = queue_stint::Entity::find_by_id(wait.id).one(&app.engine.db).await.unwrap().unwrap();
    assert_eq!(after.updates_sent, 1);
}

/// Queue messages after the first: only when the position improved AND `everySeconds` passed since the last one
/// (however early a check runs), never outside the 24-hour window since the client's last message, at most
/// `maxPerWait`. Time is moved by writing the stored times back (the last message's time, the client's last
/// message), and the check is run directly, as its job would.
#[tokio::test]
async fn queue_updates_wait_for_a_better_place_the_interval_and_the_window() {
    let d = desk_on(TestApp::spawn().await, 1, json!({})).await;
    d.sim.add_number(crate::acd::OUR, crate::acd::KEY, true);
    let app = &d.app;
    let db = &app.engine.db;
    app.admin(
        "mutation($c: ID!) { setChannelQueueMessages(channelId: $c,
            input: { enabled: true, firstAfterSeconds: 1, everySeconds: 120, maxPerWait: 3 }) { id } }",
        json!({ "c": d.channel }),
    )
    .await
    .ok();
    let (a, b, c) = ("+491510000041", "+491510000042", "+491510000043");
    let (ca, cb, cc) = (d.write(a, "hi").await, d.write(b, "hi").await, d.write(c, "hi").await);
    let told = |conv: String| async move {
        let r = app
            .admin("query($id: ID!) { conversation(id: $id) { messages { text automatic } } }", json!({ "id": conv }))
            .await;
        let msgs = r.ok().data("/conversation/messages").as_array().unwrap().clone();
        msgs.into_iter()
            .filter(|m| m["automatic"] == json!(true))
            .map(|m| m["text"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    for conv in [&ca, &cb, &cc] {
        eventually(WAIT, "every waiting client's first message", || async {
            (told(conv.clone()).await.len() == 1).then_some(())
        })
        .await;
    }
    assert!(told(cc.clone()).await[0].contains("number 3 in the queue"));
    let wait = queue_stint::Entity::find()
        .filter(queue_stint::Column::ConversationId.eq(cc.parse::<Uuid>().unwrap()))
        .one(db)
        .await
        .unwrap()
        .unwrap();
    let check = QueueUpdate { stint_id: wait.id, conversation_id: wait.conversation_id };
    let (sid, cid) = (wait.id, wait.conversation_id);
    // The last message `everySeconds` (120) and one more second ago; optionally at another position.
    let back = |position: Option<i32>| async move {
        let s = queue_stint::Entity::find_by_id(sid).one(db).await.unwrap().unwrap();
        let mut m: queue_stint::ActiveModel = s.clone().into();
        m.last_update_at = Set(s.last_update_at.map(|t| t - Span::seconds(121)));
        if let Some(p) = position {
            m.last_update_position = Set(Some(p));
        }
        queue_stint::Entity::update(m).exec(db).await.unwrap();
    };

    // The first ahead leaves: a better place, but everySeconds has not passed yet.
    d.act(&app.admin_token, "resolveConversation", &ca).await.ok();
    app.engine.run_queue_update(&check).await.unwrap();
    assert_eq!(told(cc.clone()).await.len(), 1, "an update came before everySeconds passed");
    back(None).await;
    app.engine.run_queue_update(&check).await.unwrap();
    let now_told = told(cc.clone()).await;
    assert_eq!(now_told.len(), 2);
    assert!(now_told[1].contains("now number 2 in the queue"), "{}", now_told[1]);
    // Time passed, but the place is the same: nothing.
    back(None).await;
    app.engine.run_queue_update(&check).await.unwrap();
    assert_eq!(told(cc.clone()).await.len(), 2, "an update without a better place");

    // The second ahead leaves, but the client last wrote 25 hours ago: outside the window, nothing.
    d.act(&app.admin_token, "resolveConversation", &cb).await.ok();
    let inbound = |at: DateTime<Utc>| async move {
        entity::message::Entity::update_many()
            .col_expr(entity::message::Column::CreatedAt, sea_orm::sea_query::Expr::value(at))
            .filter(entity::message::Column::ConversationId.eq(cid))
            .filter(entity::message::Column::Direction.eq(entity::Direction::Inbound))
            .exec(db)
            .await
            .unwrap();
    };
    inbound(Utc::now() - Span::hours(25)).await;
    back(None).await;
    app.engine.run_queue_update(&check).await.unwrap();
    assert_eq!(told(cc.clone()).await.len(), 2, "an update outside the 24-hour window");
    inbound(Utc::now() - Span::hours(23)).await;
    app.engine.run_queue_update(&check).await.unwrap();
    let now_told = told(cc.clone()).await;
    assert_eq!(now_told.len(), 3);
    assert!(now_told[2].contains("now number 1 in the queue"), "{}", now_told[2]);

    // maxPerWait (3) reached: nothing more, even at a better place after everySeconds.
    back(Some(9)).await;
    app.engine.run_queue_update(&check).await.unwrap();
    assert_eq!(told(cc.clone()).await.len(), 3, "more than maxPerWait updates");
    let after = queue_stint::Entity::find_by_id(sid).one(db).await.unwrap().unwrap();
    assert_eq!((after.updates_sent, after.last_update_position), (3, Some(9)));
    assert_eq!(d.conv(&cc).await["substatus"], json!("IN_QUEUE"));
}
