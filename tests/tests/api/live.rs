//! Live events over real WebSockets: both protocols, authentication, the init timeout, revoked tokens, the
//! offer flow as desktops and supervisors see it, replay with `after`, RESYNC_REQUIRED, isolation, cursor order
//! under concurrent writers, and presence.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::acd::{Desk, client, desk_on};
use serde_json::{Value, json};
use std::time::Duration;
use tests::live::{Frame, LEGACY_WS, LiveClient, TRANSPORT_WS};
use tests::{TestApp, eventually};

const WAIT: Duration = Duration::from_secs(15);
const FIELDS: &str = "cursor kind at reason deadline conversationId messageId agentId phoneNumberId
    conversation { id substatus } agent { id agentState { status substatus } } message { id text }";

fn my_events() -> String {
    format!("subscription($after: String) {{ myEvents(after: $after) {{ {FIELDS} }} }}")
}

fn channel_events() -> String {
    format!("subscription($c: ID, $after: String) {{ channelEvents(channelId: $c, after: $after) {{ {FIELDS} }} }}")
}

async fn live(app: &TestApp, token: &str) -> LiveClient {
    LiveClient::connect(app.addr, TRANSPORT_WS, token).await.unwrap()
}

/// Subscribes to `myEvents` (after `after`) and returns the client.
async fn mine(app: &TestApp, token: &str, after: Option<&str>) -> LiveClient {
    let mut c = live(app, token).await;
    c.subscribe("1", &my_events(), json!({ "after": after })).await.unwrap();
    c
}

/// The next event of subscription 1, as `/myEvents` or `/channelEvents`.
async fn next(c: &mut LiveClient) -> Value {
    let d = c.event("1", WAIT).await;
    d.get("myEvents").or_else(|| d.get("channelEvents")).cloned().unwrap()
}

/// Events of subscription 1 until one of `kind` (returned with those before it).
async fn until_kind(c: &mut LiveClient, kind: &str) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let e = next(c).await;
        let done = e["kind"] == json!(kind);
        seen.push(e);
        if done {
            return seen;
        }
    }
}

/// Proves the subscription is live: a status change of `token`'s agent arrives on `c` (its own stream).
async fn settled(d: &Desk, c: &mut LiveClient, i: usize) -> Value {
    settle_with(d, c, i, "BUSY").await
}

/// Sets agent `i`'s status until `c` shows the change: a subscription without `after` starts from when the
/// server reads it, which may be after the first change committed.
async fn settle_with(d: &Desk, c: &mut LiveClient, i: usize, status: &str) -> Value {
    for _ in 0..15 {
        d.status(d.token(i), status).await.ok();
        loop {
            match c.try_event("1", Duration::from_secs(1)).await {
                Ok(data) => {
                    let e = data.get("myEvents").or_else(|| data.get("channelEvents")).cloned().unwrap();
                    if e["kind"] == json!("AGENT_STATUS_CHANGED") && e["agentId"] == json!(d.id(i)) {
                        return e;
                    }
                }
                Err(e) if e == "timed out" => break,
                Err(e) => panic!("the stream failed: {e}"),
            }
        }
    }
    panic!("the subscription never showed agent {i}'s status change");
}

#[tokio::test]
async fn both_protocols_deliver_the_same_events() {
    let d = desk_on(TestApp::spawn().await, 1, json!({})).await;
    let mut modern = live(&d.app, d.token(0)).await;
    modern.subscribe("1", &my_events(), json!({})).await.unwrap();
    settled(&d, &mut modern, 0).await;
    let mut legacy = LiveClient::connect(d.app.addr, LEGACY_WS, d.token(0)).await.unwrap();
    legacy.subscribe("1", &my_events(), json!({})).await.unwrap();
    let b = settle_with(&d, &mut legacy, 0, "ONLINE").await;
    // The live modern stream got that very event, with the same cursor.
    let a = loop {
        let e = next(&mut modern).await;
        if e["cursor"] == b["cursor"] {
            break e;
        }
    };
    assert_eq!(a, b, "the same event on both protocols");
    assert_eq!(a["kind"], json!("AGENT_STATUS_CHANGED"));
    assert_eq!(a["agentId"], json!(d.id(0)));
    assert_eq!(a["agent"]["id"], json!(d.id(0)));
}

/// A subscription the client completes ends on the server (its task is stopped: nothing more is sent under its
/// id) while the connection goes on, and its id can start a new one; a query sent over the same connection is
/// answered meanwhile.
#[tokio::test]
async fn a_completed_subscription_stops_and_its_id_serves_again() {
    let d = desk_on(TestApp::spawn().await, 1, json!({})).await;
    let mut c = live(&d.app, d.token(0)).await;
    c.subscribe("1", &my_events(), json!({})).await.unwrap();
    settled(&d, &mut c, 0).await;
    c.send_json(json!({ "id": "1", "type": "complete" })).await.unwrap();
    // Another operation on the same connection, answered while subscription 1 is gone.
    c.subscribe("q", "query { me { id } }", json!({})).await.unwrap();
    assert_eq!(c.try_event("q", WAIT).await.unwrap()["me"]["id"], json!(d.id(0)));
    d.status(d.token(0), "ONLINE").await.ok();
    assert_eq!(c.try_event("1", Duration::from_secs(2)).await, Err("timed out".to_owned()), "nothing after complete");
    c.subscribe("1", &my_events(), json!({})).await.unwrap();
    let e = settled(&d, &mut c, 0).await;
    assert_eq!(e["kind"], json!("AGENT_STATUS_CHANGED"));
}

/// GraphiQL (`GET /graphql` from a browser) opens subscriptions where its page says, as the README's live tour
/// promises: its fetcher resolves the subscription endpoint against the page's origin with `ws:`.
#[tokio::test]
async fn graphiql_subscribes_on_the_endpoint_its_page_names() {
    let d = desk_on(TestApp::spawn().await, 1, json!({})).await;
    let resp = d
        .app
        .http
        .get(format!("{}/graphql", d.app.base))
        .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let page = resp.text().await.unwrap();
    let endpoint = page
        .split("subscriptionUrl: createUrl('")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .unwrap_or_else(|| panic!("GraphiQL is given no subscription endpoint: {page}"));
    let url = match endpoint {
        path if path.starts_with('/') => format!("ws://{}{path}", d.app.addr),
        url if url.starts_with("ws://") => url.to_owned(),
        other => panic!("not a path or ws:// URL: {other}"),
    };
    let mut c = LiveClient::open_url(&url, TRANSPORT_WS, &[]).await.unwrap();
    c.init_with_token(d.token(0)).await.unwrap();
    c.subscribe("1", &my_events(), json!({})).await.unwrap();
    settled(&d, &mut c, 0).await;
}

#[tokio::test]
async fn a_missing_or_bad_token_is_refused_before_any_subscription() {
    let app = TestApp::spawn().await;
    for protocol in [TRANSPORT_WS, LEGACY_WS] {
        let mut c = LiveClient::open(app.addr, protocol, None).await.unwrap();
        c.init(json!({})).await.unwrap();
        let (code, reason) = c.closed(WAIT).await.unwrap();
        assert_eq!(code, Some(4403), "{protocol}: {reason}");
        let mut c = LiveClient::open(app.addr, protocol, None).await.unwrap();
        c.init(json!({ "authorization": "Bearer nva_not-a-token" })).await.unwrap();
        let (code, reason) = c.closed(WAIT).await.unwrap();
        assert_eq!(code, Some(4403), "{protocol}: {reason}");
        assert!(reason.contains("invalid or revoked"), "{reason}");
    }
    // A subscription sent without an accepted init never runs.
    let mut c = LiveClient::open(app.addr, TRANSPORT_WS, None).await.unwrap();
    c.subscribe("1", &my_events(), json!({})).await.unwrap();
    let (code, _) = c.closed(WAIT).await.unwrap();
    assert_ne!(code, None);
    // The token may also travel as the upgrade request's header.
    let mut c = LiveClient::open(app.addr, TRANSPORT_WS, Some(&format!("Bearer {}", app.admin_token))).await.unwrap();
    c.init(json!({})).await.unwrap();
    assert!(matches!(c.next(WAIT).await, Some(Frame::Json(m)) if m["type"] == "connection_ack"));
}

#[tokio::test]
async fn a_connection_without_init_is_closed_after_ten_seconds() {
    let app = TestApp::spawn().await;
    let mut c = LiveClient::open(app.addr, TRANSPORT_WS, None).await.unwrap();
    let started = std::time::Instant::now();
    let (code, reason) = c.closed(Duration::from_secs(20)).await.unwrap();
    assert_eq!(code, Some(4408), "{reason}");
    assert!(started.elapsed() >= Duration::from_secs(9), "closed after {:?}", started.elapsed());
}

#[tokio::test]
async fn logout_and_deactivation_end_the_connections_of_those_tokens() {
    let d = desk_on(TestApp::spawn().await, 2, json!({})).await;
    let mut c0 = mine(&d.app, d.token(0), None).await;
    settled(&d, &mut c0, 0).await;
    d.app.gql(Some(d.token(0)), "mutation { logout }", json!({})).await.ok();
    let (code, reason) = c0.closed(WAIT).await.unwrap();
    assert_eq!(code, Some(4401), "{reason}");

    let mut c1 = mine(&d.app, d.token(1), None).await;
    settled(&d, &mut c1, 1).await;
    d.app.admin("mutation($id: ID!) { deactivateUser(id: $id) { id } }", json!({ "id": d.id(1) })).await.ok();
    let (code, reason) = c1.closed(WAIT).await.unwrap();
    assert_eq!(code, Some(4401), "{reason}");
}

#[tokio::test]
async fn the_offer_flow_is_seen_live_by_the_agent_and_the_supervisor() {
    let d = desk_on(TestApp::spawn().await, 1, json!({ "alertingTimeout": 5 })).await;
    let (_, sup) = d.app.user_with_token("SUPERVISOR").await;
    let mut agent = mine(&d.app, d.token(0), None).await;
    settled(&d, &mut agent, 0).await;
    let mut desk = live(&d.app, &sup).await;
    desk.subscribe("1", &channel_events(), json!({ "c": d.channel })).await.unwrap();
    // The supervisor's stream is live once it shows the agent going ONLINE.
    let status = settle_with(&d, &mut desk, 0, "ONLINE").await;
    assert_eq!(status["agentId"], json!(d.id(0)));

    let conv = d.write(&client(1), "hello").await;
    let seen = until_kind(&mut agent, "OFFERED").await;
    let offered = seen.last().unwrap();
    assert_eq!(offered["conversationId"], json!(conv));
    assert_eq!(offered["conversation"]["substatus"], json!("ALERTING"));
    let at = chrono::DateTime::parse_from_rfc3339(offered["at"].as_str().unwrap()).unwrap();
    let deadline = chrono::DateTime::parse_from_rfc3339(offered["deadline"].as_str().unwrap()).unwrap();
    let ring = (deadline - at).num_milliseconds();
    assert!((4_900..=5_100).contains(&ring), "rings for {ring} ms, the channel says 5 s");

    let withdrawn = until_kind(&mut agent, "WITHDRAWN").await.pop().unwrap();
    assert_eq!(withdrawn["reason"], json!("TIMEOUT"));
    assert_eq!(withdrawn["conversationId"], json!(conv));
    assert_eq!(withdrawn["conversation"], Value::Null, "no longer theirs to see");
    let status = until_kind(&mut agent, "AGENT_STATUS_CHANGED").await.pop().unwrap();
    assert_eq!(status["agent"]["agentState"]["substatus"], json!("NOT_RESPONDING"));

    // The supervisor saw the conversation queue, ring and come back to the queue.
    let seen = until_kind(&mut desk, "QUEUE_CHANGED").await;
    assert!(seen.last().unwrap()["reason"].is_null(), "new in the queue: {seen:?}");
    let seen = until_kind(&mut desk, "QUEUE_CHANGED").await;
    assert!(seen.iter().any(|e| e["kind"] == json!("OFFERED") && e["conversationId"] == json!(conv)), "{seen:?}");
    assert_eq!(seen.last().unwrap()["reason"], json!("TIMEOUT"));
    assert!(!seen.iter().any(|e| e["kind"] == json!("WITHDRAWN")), "WITHDRAWN is the agent's own event");
}

#[tokio::test]
async fn a_message_reaches_the_agent_holding_the_conversation() {
    let d = desk_on(TestApp::spawn().await, 1, json!({ "autoAnswer": true, "alertingTimeout": null })).await;
    let mut agent = mine(&d.app, d.token(0), None).await;
    settled(&d, &mut agent, 0).await;
    d.online(0).await;
    let conv = d.write(&client(2), "first").await;
    let assigned = until_kind(&mut agent, "ASSIGNED").await.pop().unwrap();
    assert_eq!(assigned["conversationId"], json!(conv));
    d.write(&client(2), "second message").await;
    let created = until_kind(&mut agent, "MESSAGE_CREATED").await.pop().unwrap();
    assert_eq!(created["conversationId"], json!(conv));
    assert_eq!(created["message"]["text"], json!("second message"));
}

#[tokio::test]
async fn a_desktop_that_reconnects_with_after_gets_every_missed_event_once_in_order() {
    let d = desk_on(TestApp::spawn().await, 1, json!({})).await;
    let mut c = mine(&d.app, d.token(0), None).await;
    let last = settled(&d, &mut c, 0).await;
    let cursor = last["cursor"].as_str().unwrap().to_owned();
    c.close().await;

    // Missed while disconnected.
    for s in ["ONLINE", "BUSY", "ONLINE", "BUSY", "ONLINE"] {
        d.status(d.token(0), s).await.ok();
    }
    let mut c = mine(&d.app, d.token(0), Some(&cursor)).await;
    let mut cursors = Vec::new();
    let mut states = Vec::new();
    for _ in 0..5 {
        let e = next(&mut c).await;
        assert_eq!(e["kind"], json!("AGENT_STATUS_CHANGED"), "{e}");
        cursors.push(e["cursor"].as_str().unwrap().parse::<i64>().unwrap());
        states.push(e["agent"]["agentState"]["status"].clone());
    }
    assert!(cursors.windows(2).all(|w| w[0] < w[1]), "in order: {cursors:?}");
    assert!(cursors[0] > cursor.parse::<i64>().unwrap(), "nothing before the cursor again");
    // Then live ones, without a duplicate at the seam.
    d.status(d.token(0), "BUSY").await.ok();
    let e = next(&mut c).await;
    assert!(e["cursor"].as_str().unwrap().parse::<i64>().unwrap() > cursors[4], "{e}");
    assert_eq!(e["agent"]["agentState"]["status"], json!("BUSY"));
}

#[tokio::test]
async fn a_cursor_older_than_the_retention_asks_for_a_resync() {
    let d = desk_on(TestApp::spawn().await, 1, json!({})).await;
    let mut c = mine(&d.app, d.token(0), None).await;
    let first = settled(&d, &mut c, 0).await;
    c.close().await;
    d.status(d.token(0), "ONLINE").await.ok();
    // Every event so far becomes older than the retention, and the pruner runs.
    let db = &d.app.engine.db;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
    entity::live_event::Entity::update_many()
        .col_expr(entity::live_event::Column::At, Expr::value(chrono::Utc::now() - chrono::Duration::days(2)))
        .filter(entity::live_event::Column::Seq.gt(0))
        .exec(db)
        .await
        .unwrap();
    assert!(d.app.engine.prune_events().await.unwrap() > 0);

    let mut c = mine(&d.app, d.token(0), first["cursor"].as_str()).await;
    let e = next(&mut c).await;
    assert_eq!(e["kind"], json!("RESYNC_REQUIRED"), "{e}");
    // Then it carries on live.
    d.status(d.token(0), "BUSY").await.ok();
    let e = next(&mut c).await;
    assert_eq!(e["kind"], json!("AGENT_STATUS_CHANGED"), "{e}");
    // A cursor that is not one of this account's is no better.
    let mut c = mine(&d.app, d.token(0), Some("999999999")).await;
    assert_eq!(next(&mut c).await["kind"], json!("RESYNC_REQUIRED"));
    // And a malformed one is refused, naming the argument.
    let mut c = live(&d.app, d.token(0)).await;
    c.subscribe("1", &my_events(), json!({ "after": "yesterday" })).await.unwrap();
    let err = c.try_event("1", WAIT).await.unwrap_err();
    assert!(err.contains("after") && err.contains("cursor"), "{err}");
}

#[tokio::test]
async fn agents_see_only_their_own_events_and_accounts_never_mix() {
    let d = desk_on(TestApp::spawn().await, 2, json!({ "alertingTimeout": 60 })).await;
    let mut a0 = mine(&d.app, d.token(0), None).await;
    let mut a1 = mine(&d.app, d.token(1), None).await;
    settled(&d, &mut a0, 0).await;
    settled(&d, &mut a1, 1).await;
    // Another account's admin watching all their channels.
    let other = d.app.other_account().await;
    let mut outsider = live(&d.app, &other).await;
    outsider.subscribe("1", &channel_events(), json!({})).await.unwrap();

    d.online(0).await;
    let conv = d.write(&client(3), "hi").await;
    let offered = until_kind(&mut a0, "OFFERED").await.pop().unwrap();
    assert_eq!(offered["conversationId"], json!(conv));
    // Agent 1 changes status: their own stream shows it, and nothing about agent 0's offer came before it.
    d.status(d.token(1), "ONLINE").await.ok();
    let seen = until_kind(&mut a1, "AGENT_STATUS_CHANGED").await;
    assert_eq!(seen.len(), 1, "only their own status change: {seen:?}");
    assert_eq!(seen[0]["agentId"], json!(d.id(1)));
    // The other account saw nothing at all.
    assert!(outsider.try_event("1", Duration::from_millis(500)).await.is_err());
    // Agents may not watch channels.
    let mut c = live(&d.app, d.token(0)).await;
    c.subscribe("1", &channel_events(), json!({})).await.unwrap();
    let err = c.try_event("1", WAIT).await.unwrap_err();
    assert!(err.contains("FORBIDDEN") || err.contains("orbidden"), "{err}");
}

#[tokio::test]
async fn cursors_follow_commit_order_under_concurrent_writers() {
    let app = TestApp::spawn().await;
    let account: uuid::Uuid = app.account_id.parse().unwrap();
    let writers = 8;
    let per = 25;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let engine = app.engine.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..per {
                let uow = engine.begin_uow().await.unwrap();
                let agent = uuid::Uuid::from_u64_pair(w, i);
                uow.emit(worker::live::NewEvent::agent_status(account, agent, chrono::Utc::now()));
                uow.emit(worker::live::NewEvent::agent_status(account, agent, chrono::Utc::now()));
                engine.commit(uow).await.unwrap();
            }
        }));
    }
    // A reader that only ever asks for "after the last cursor I saw" must never find a gap: a later commit of a
    // lower cursor would be one it silently skipped.
    let reader = {
        let db = app.engine.db.clone();
        tokio::spawn(async move {
            use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
            let mut last = 0i64;
            let total = (writers * per * 2) as i64;
            while last < total {
                let rows = entity::live_event::Entity::find()
                    .filter(entity::live_event::Column::AccountId.eq(account))
                    .filter(entity::live_event::Column::Seq.gt(last))
                    .order_by_asc(entity::live_event::Column::Seq)
                    .all(&db)
                    .await
                    .unwrap();
                for r in rows {
                    assert_eq!(r.seq, last + 1, "a reader at {last} found {} first: a gap", r.seq);
                    last = r.seq;
                }
                tokio::task::yield_now().await;
            }
            last
        })
    };
    for t in tasks {
        t.await.unwrap();
    }
    let last = tokio::time::timeout(WAIT, reader).await.unwrap().unwrap();
    assert_eq!(last, (writers * per * 2) as i64);
}

#[tokio::test]
async fn an_agent_whose_desktop_is_gone_past_the_grace_goes_offline_and_their_offer_is_requeued() {
    let settings = worker::live::LiveSettings { presence_grace: Duration::from_secs(1), ..Default::default() };
    let d = desk_on(TestApp::spawn_live(true, settings).await, 2, json!({ "alertingTimeout": 60 })).await;
    let (_, sup) = d.app.user_with_token("SUPERVISOR").await;
    let mut desk = live(&d.app, &sup).await;
    desk.subscribe("1", &channel_events(), json!({ "c": d.channel })).await.unwrap();

    // Agent 1 reconnects within the grace: nothing changes.
    let c1 = mine(&d.app, d.token(1), None).await;
    d.status(d.token(1), "BUSY").await.ok();
    c1.close().await;
    let mut c1 = mine(&d.app, d.token(1), None).await;

    // Agent 0 has an offer ringing, then their desktop goes away.
    let mut c0 = mine(&d.app, d.token(0), None).await;
    settled(&d, &mut c0, 0).await;
    d.online(0).await;
    let conv = d.write(&client(4), "anyone?").await;
    until_kind(&mut c0, "OFFERED").await;
    c0.close().await;

    eventually(WAIT, "agent 0 to go OFFLINE", || async {
        (d.me(d.token(0)).await["status"] == json!("OFFLINE")).then_some(())
    })
    .await;
    let c = d.until(&conv, "IN_QUEUE").await;
    assert!(c["assignedAgent"].is_null());
    let seen = until_kind(&mut desk, "QUEUE_CHANGED").await;
    assert!(seen.last().unwrap()["reason"].is_null(), "new in the queue first: {seen:?}");
    let seen = until_kind(&mut desk, "QUEUE_CHANGED").await;
    assert_eq!(seen.last().unwrap()["reason"], json!("OFFLINE"), "{seen:?}");

    // Agent 1, still connected, kept the status they chose through the reconnect and the sweeps since.
    assert_eq!(d.me(d.token(1)).await["status"], json!("BUSY"));
    assert_eq!(settle_with(&d, &mut c1, 1, "ONLINE").await["agentId"], json!(d.id(1)));

    // Agent 0 connects again: BUSY / SYSTEM, as after a login.
    let mut c0 = mine(&d.app, d.token(0), None).await;
    eventually(WAIT, "agent 0 to be BUSY again", || async {
        let me = d.me(d.token(0)).await;
        (me["status"] == json!("BUSY") && me["substatus"] == json!("SYSTEM")).then_some(())
    })
    .await;
    let _ = settled(&d, &mut c0, 0).await;
}

#[tokio::test]
async fn a_hand_off_from_the_chatbot_is_seen_entering_the_queue() {
    let app = TestApp::spawn().await;
    let sim = tests::chatbot_sim::ChatbotSim::start().await;
    sim.set_mode(tests::chatbot_sim::Mode::Silent);
    let bot = app.serving_chatbot("Greeter", &sim).await;
    let d = desk_on(app, 1, json!({ "chatbotId": bot.id })).await;
    let (_, sup) = d.app.user_with_token("SUPERVISOR").await;
    let mut desk = live(&d.app, &sup).await;
    desk.subscribe("1", &channel_events(), json!({ "c": d.channel })).await.unwrap();
    settle_with(&d, &mut desk, 0, "BUSY").await;

    // Staff, the chatbot itself, and disabling the chatbot: each hand-off puts the conversation in the queue.
    const HAND_OFF: &str = "mutation($id: ID!) { handOffConversation(id: $id) { id } }";
    let by_staff = d.write(&client(1), "hi").await;
    d.app.admin(HAND_OFF, json!({ "id": by_staff })).await.ok();
    let by_bot = d.write(&client(2), "hi").await;
    d.app.gql(Some(&bot.token), HAND_OFF, json!({ "id": by_bot })).await.ok();
    let by_disabling = d.write(&client(3), "hi").await;
    d.app
        .admin(
            "mutation($id: ID!) { updateChatbot(id: $id, input: { enabled: false }) { id } }",
            json!({ "id": bot.id }),
        )
        .await
        .ok();

    for conv in [&by_staff, &by_bot, &by_disabling] {
        // The conversation's first change of state after it opened (messages aside) is its entry into the queue.
        let e = loop {
            let e = next(&mut desk).await;
            let change = ["QUEUE_CHANGED", "CONVERSATION_UPDATED"].contains(&e["kind"].as_str().unwrap_or(""));
            if change && e["conversationId"] == json!(conv) {
                break e;
            }
        };
        assert_eq!((e["kind"].clone(), e["reason"].clone()), (json!("QUEUE_CHANGED"), json!("HANDED_OFF")), "{e}");
    }
}

/// A subscription's reader waits for a pooled connection while its subscriber's connection is busy elsewhere
/// (sending a frame, or a query of its own): the pool must not hand the connection to the reader and leave it
/// there until the subscriber polls again. With 1,000 desktops reconnecting on SQLite's pool of 8 that held every
/// connection and stalled the process for the 10 s acquire timeout. Here the pool has one connection for
/// readers (on PostgreSQL one more, which the process's LISTEN connection keeps).
#[tokio::test]
async fn a_live_reader_that_is_not_polled_does_not_keep_a_pooled_connection() {
    use futures::StreamExt;
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let db = tests::TestDb::fresh().await.unwrap();
    worker::db::connect_migrated(&db.url, db.backend).await.unwrap().close().await.unwrap();
    let postgres = db.backend == worker::config::Backend::Postgres;
    let mut opts = sea_orm::ConnectOptions::new(db.url.clone());
    opts.max_connections(if postgres { 2 } else { 1 })
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(3))
        .sqlx_logging(false);
    let pool = sea_orm::Database::connect(opts).await.unwrap();
    let bus = std::sync::Arc::new(worker::live::Bus::new(pool.clone(), Default::default()));
    let mut first = Box::pin(bus.stream(uuid::Uuid::new_v4(), worker::live::Audience::Staff(None), None));
    assert!(tokio::time::timeout(Duration::from_millis(300), first.next()).await.is_err(), "nothing to read yet");
    if postgres {
        // The first stream started the process's listener: it keeps one connection.
        eventually(WAIT, "the live listener to hold its connection", || async {
            let p = pool.get_postgres_connection_pool();
            (p.size() == 2 && p.num_idle() == 1).then_some(())
        })
        .await;
    }

    // The pool's one connection is in use while a desktop's stream starts: its reader waits for it...
    let busy = pool.begin().await.unwrap();
    let audience = worker::live::Audience::Agent(uuid::Uuid::new_v4());
    let mut stream = Box::pin(bus.stream(uuid::Uuid::new_v4(), audience, None));
    assert!(tokio::time::timeout(Duration::from_millis(300), stream.next()).await.is_err(), "nothing to read yet");
    // ...and the desktop's connection turns to something else (the stream is not polled from here on).
    drop(busy);
    let select_one = sea_orm::Statement::from_string(pool.get_database_backend(), "SELECT 1");
    let answer = pool.query_one_raw(select_one).await;
    assert!(answer.is_ok(), "the connection stayed with a reader nobody polled: {answer:?}");
    drop((stream, first));
    pool.close().await.ok();
}
