//! Webhook intake over real HTTP, signed as the provider signs: refusals store nothing, accepted deliveries are
//! durable and processed by the worker into contacts, conversations and messages, redeliveries create nothing
//! twice (also when they race), and status events move outbound messages forward.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tests::TestApp;
use tests::chatbot_sim::{ChatbotSim, Mode};
use tests::provider_sim::{ProviderSim, message_event, signed_headers, status_event};

const KEY: &str = "hook-key-0001";
const OUR: &str = "+14155550100";
const CLIENT: &str = "+4915112345678";

struct Hooked {
    app: TestApp,
    sim: ProviderSim,
    channel: String,
    number: String,
    url: String,
    /// The chatbot serving the channel, when there is one.
    _bot: Option<ChatbotSim>,
}

async fn hooked(with_chatbot: bool) -> Hooked {
    let app = TestApp::spawn().await;
    let sim = ProviderSim::start().await;
    let mut input = TestApp::channel_input("Inbox");
    let mut bot_sim = None;
    if with_chatbot {
        let bot = ChatbotSim::start().await;
        bot.set_mode(Mode::Silent);
        input["chatbotId"] = json!(app.serving_chatbot("Greeter", &bot).await.id);
        bot_sim = Some(bot);
    }
    let channel = app.create_channel_as(&app.admin_token, input).await;
    let number = app.add_number(&channel, OUR, KEY).await;
    let url = app.webhook_url(&channel).await;
    Hooked { app, sim, channel, number, url, _bot: bot_sim }
}

async fn counts(app: &TestApp) -> Vec<i64> {
    let mut v = Vec::new();
    for t in ["webhook_deliveries", "contacts", "conversations", "messages"] {
        v.push(app.count(t).await);
    }
    v
}

/// Waits until every stored delivery is processed.
async fn drained(app: &TestApp) {
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    tests::eventually(Duration::from_secs(20), "every delivery processed", || async {
        let pending = entity::webhook_delivery::Entity::find()
            .filter(entity::webhook_delivery::Column::ProcessedAt.is_null())
            .count(&app.engine.db)
            .await
            .unwrap_or(u64::MAX);
        (pending == 0).then_some(())
    })
    .await;
}

async fn conversations(app: &TestApp) -> Vec<entity::conversation::Model> {
    use sea_orm::EntityTrait;
    entity::conversation::Entity::find().all(&app.engine.db).await.unwrap_or_default()
}

async fn messages(app: &TestApp) -> Vec<entity::message::Model> {
    use sea_orm::{EntityTrait, QueryOrder};
    entity::message::Entity::find()
        .order_by_asc(entity::message::Column::CreatedAt)
        .all(&app.engine.db)
        .await
        .unwrap_or_default()
}

#[tokio::test]
async fn a_clients_messages_become_one_queued_conversation() {
    let h = hooked(false).await;
    let (status, body) = h.sim.post_webhook(&h.url, KEY, &message_event("wamid-1", OUR, CLIENT, "Hello")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap_or_default()["status"], json!("accepted"));
    // Durable before the answer: the delivery row is there as soon as the 2xx is.
    assert_eq!(h.app.count("webhook_deliveries").await, 1);
    let mut second = message_event("wamid-2", OUR, CLIENT, "Anyone there?");
    second["contactName"] = json!("Ana");
    let (status, _) = h.sim.post_webhook(&h.url, KEY, &second).await;
    assert_eq!(status, 200);
    drained(&h.app).await;

    let convs = conversations(&h.app).await;
    assert_eq!(convs.len(), 1, "both messages belong to one conversation");
    let c = &convs[0];
    assert_eq!(c.status, entity::ConversationStatus::Open);
    assert_eq!(c.substatus, Some(entity::ConversationSubstatus::InQueue));
    assert!(c.enqueued_at.is_some());
    assert_eq!(c.channel_id.to_string(), h.channel);
    assert_eq!(c.phone_number_id.to_string(), h.number);
    let msgs = messages(&h.app).await;
    // Two deliveries are processed concurrently: arrival order between them is not promised.
    let mut texts: Vec<&str> = msgs.iter().map(|m| m.text.as_str()).collect();
    texts.sort();
    assert_eq!(texts, ["Anyone there?", "Hello"]);
    assert!(msgs.iter().all(|m| m.direction == entity::Direction::Inbound && m.conversation_id == c.id));
    use sea_orm::EntityTrait;
    let contacts = entity::contact::Entity::find().all(&h.app.engine.db).await.unwrap_or_default();
    assert_eq!(contacts.len(), 1);
    assert_eq!((contacts[0].e164.as_str(), contacts[0].display_name.as_deref()), (CLIENT, Some("Ana")));
}

#[tokio::test]
async fn a_channel_with_a_chatbot_starts_conversations_pending() {
    let h = hooked(true).await;
    let (status, _) = h.sim.post_webhook(&h.url, KEY, &message_event("wamid-1", OUR, CLIENT, "Hi")).await;
    assert_eq!(status, 200);
    drained(&h.app).await;
    let convs = conversations(&h.app).await;
    assert_eq!(convs.len(), 1);
    assert_eq!((convs[0].status, convs[0].substatus), (entity::ConversationStatus::Pending, None));
}

#[tokio::test]
async fn a_chatbot_that_cannot_serve_yet_leaves_new_conversations_to_the_queue() {
    // A chatbot without an endpoint or credentials serves nobody: the client goes to the queue.
    let h = hooked(false).await;
    let bot = h.app.admin("mutation { createChatbot(input: {name: \"Draft\"}) { id serving } }", json!({})).await;
    assert_eq!(bot.ok().data("/createChatbot/serving"), &json!(false));
    h.app
        .admin(
            "mutation($id: ID!, $b: ID) { updateChannel(id: $id, input: { chatbotId: $b }) { id } }",
            json!({ "id": h.channel, "b": bot.str("/createChatbot/id") }),
        )
        .await
        .ok();
    let (status, _) = h.sim.post_webhook(&h.url, KEY, &message_event("wamid-1", OUR, CLIENT, "Hi")).await;
    assert_eq!(status, 200);
    drained(&h.app).await;
    let convs = conversations(&h.app).await;
    assert_eq!(
        (convs[0].status, convs[0].substatus),
        (entity::ConversationStatus::Open, Some(entity::ConversationSubstatus::InQueue))
    );
}

/// A refused delivery: name, URL, headers, body, expected status and error code.
type Case = (&'static str, String, Vec<(String, String)>, Vec<u8>, u16, &'static str);

#[tokio::test]
async fn refused_deliveries_get_a_clear_4xx_and_store_nothing() {
    let h = hooked(false).await;
    let other_number = h.app.add_number(&h.channel, "+14155550199", "hook-key-0199").await;
    let good = message_event("wamid-9", OUR, CLIENT, "Hello");
    let body = serde_json::to_vec(&good).unwrap_or_default();
    let now = chrono::Utc::now().timestamp();
    let before = counts(&h.app).await;

    let mut cases: Vec<Case> = vec![
        ("bad signature", h.url.clone(), signed_headers("not-the-key", now, &body), body.clone(), 401, "BAD_SIGNATURE"),
        (
            "tampered body",
            h.url.clone(),
            signed_headers(KEY, now, &body),
            {
                let mut b = body.clone();
                b.push(b' ');
                b
            },
            401,
            "BAD_SIGNATURE",
        ),
        (
            "no signature",
            h.url.clone(),
            vec![("X-Nova-Timestamp".into(), now.to_string())],
            body.clone(),
            401,
            "MISSING_SIGNATURE",
        ),
        (
            "no timestamp",
            h.url.clone(),
            signed_headers(KEY, now, &body).into_iter().filter(|(k, _)| k != "X-Nova-Timestamp").collect(),
            body.clone(),
            401,
            "MISSING_TIMESTAMP",
        ),
        ("stale timestamp", h.url.clone(), signed_headers(KEY, now - 301, &body), body.clone(), 401, "STALE_TIMESTAMP"),
        (
            "future timestamp",
            h.url.clone(),
            signed_headers(KEY, now + 600, &body),
            body.clone(),
            401,
            "STALE_TIMESTAMP",
        ),
        (
            "unknown token",
            format!("{}/webhooks/nova/wh_unknown", h.app.base),
            signed_headers(KEY, now, &body),
            body.clone(),
            404,
            "UNKNOWN_CHANNEL",
        ),
    ];
    let unknown = serde_json::to_vec(&message_event("wamid-8", "+14155550777", CLIENT, "Hi")).unwrap_or_default();
    cases.push((
        "unknown number",
        h.url.clone(),
        signed_headers("whatever-key", now, &unknown),
        unknown,
        404,
        "UNKNOWN_NUMBER",
    ));
    let malformed = b"{\"type\":\"message\",".to_vec();
    cases.push(("malformed JSON", h.url.clone(), signed_headers(KEY, now, &malformed), malformed, 400, "BAD_BODY"));
    let missing =
        serde_json::to_vec(&json!({ "type": "message", "id": "wamid-7", "to": OUR, "from": CLIENT, "timestamp": now }))
            .unwrap_or_default();
    cases.push(("missing text", h.url.clone(), signed_headers(KEY, now, &missing), missing, 400, "BAD_BODY"));
    for (name, url, headers, body, want_status, want_code) in cases {
        let (status, answer) = h.sim.post_webhook_raw(&url, headers, body).await;
        assert_eq!(status, want_status, "{name}: {answer}");
        let v: Value = serde_json::from_str(&answer).unwrap_or_default();
        assert_eq!(v["error"]["code"], json!(want_code), "{name}: {answer}");
        if name == "missing text" {
            assert!(answer.contains("text"), "the error names the field: {answer}");
        }
    }
    assert_eq!(counts(&h.app).await, before);

    // Disabled, then deleted numbers refuse even a correctly signed delivery.
    h.app
        .admin(
            "mutation($id: ID!) { setPhoneNumberEnabled(id: $id, enabled: false) { id } }",
            json!({ "id": h.number }),
        )
        .await
        .ok();
    let (status, answer) = h.sim.post_webhook(&h.url, KEY, &good).await;
    assert_eq!((status, answer.contains("NUMBER_DISABLED")), (403, true), "{answer}");
    h.app
        .admin("mutation($id: ID!) { setPhoneNumberEnabled(id: $id, enabled: true) { id } }", json!({ "id": h.number }))
        .await
        .ok();
    h.app.admin("mutation($id: ID!) { deletePhoneNumber(id: $id) { id } }", json!({ "id": h.number })).await.ok();
    let (status, answer) = h.sim.post_webhook(&h.url, KEY, &good).await;
    assert_eq!((status, answer.contains("NUMBER_DELETED")), (410, true), "{answer}");
    // A rotated URL stops working at once.
    h.app
        .admin("mutation($id: ID!) { rotateWebhookUrl(channelId: $id) { id } }", json!({ "id": h.channel }))
        .await
        .ok();
    let to_other = message_event("wamid-6", "+14155550199", CLIENT, "Hi");
    let (status, answer) = h.sim.post_webhook(&h.url, "hook-key-0199", &to_other).await;
    assert_eq!(status, 404, "{answer}");
    assert_eq!(counts(&h.app).await, before);
    let _ = other_number;
}

#[tokio::test]
async fn a_number_disabled_through_another_process_refuses_deliveries_within_a_second() {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let h = hooked(false).await;
    let (status, answer) = h.sim.post_webhook(&h.url, KEY, &message_event("wamid-x0", OUR, CLIENT, "one")).await;
    assert_eq!(status, 200, "{answer}");
    // Another api process disables the number: the row changes and this process is not told.
    entity::phone_number::Entity::update_many()
        .col_expr(entity::phone_number::Column::Enabled, sea_orm::sea_query::Expr::value(false))
        .filter(entity::phone_number::Column::Id.eq(h.number.parse::<uuid::Uuid>().unwrap()))
        .exec(&h.app.engine.db)
        .await
        .unwrap();
    let disabled = Instant::now();
    let mut n = 0;
    let refused_after = tests::eventually(Duration::from_secs(10), "a delivery refused as NUMBER_DISABLED", || {
        n += 1;
        let event = message_event(&format!("wamid-x{n}"), OUR, CLIENT, "again");
        let h = &h;
        async move {
            let (status, answer) = h.sim.post_webhook(&h.url, KEY, &event).await;
            match status {
                403 if answer.contains("NUMBER_DISABLED") => Some(disabled.elapsed()),
                200 => None,
                _ => panic!("unexpected answer {status}: {answer}"),
            }
        }
    })
    .await;
    eprintln!("refused {refused_after:?} after the change, after {} deliveries", n - 1);
    let (status, answer) = h.sim.post_webhook(&h.url, KEY, &message_event("wamid-y", OUR, CLIENT, "more")).await;
    assert_eq!((status, answer.contains("NUMBER_DISABLED")), (403, true), "refused from then on: {answer}");
    // What was accepted meanwhile is processed as usual.
    drained(&h.app).await;
    assert_eq!(messages(&h.app).await.len(), n);
}

#[tokio::test]
async fn redeliveries_create_nothing_twice_even_when_they_race() {
    let h = hooked(false).await;
    let event = message_event("wamid-dup", OUR, CLIENT, "Once");
    let (status, body) = h.sim.post_webhook(&h.url, KEY, &event).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = h.sim.post_webhook(&h.url, KEY, &event).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("duplicate"), "{body}");

    // Twenty identical deliveries at once.
    let racing = message_event("wamid-race", OUR, CLIENT, "Racing");
    let posts = (0..20).map(|_| h.sim.post_webhook(&h.url, KEY, &racing));
    let answers = futures::future::join_all(posts).await;
    assert!(answers.iter().all(|(s, _)| *s == 200), "{answers:?}");
    assert_eq!(answers.iter().filter(|(_, b)| b.contains("accepted")).count(), 1, "{answers:?}");
    drained(&h.app).await;
    assert_eq!(h.app.count("webhook_deliveries").await, 2);
    assert_eq!(messages(&h.app).await.len(), 2);
    assert_eq!(conversations(&h.app).await.len(), 1);
}

#[tokio::test]
async fn racing_first_messages_of_a_new_client_open_one_conversation() {
    let h = hooked(false).await;
    let (sim, url) = (&h.sim, &h.url);
    let posts = (0..10).map(|i| {
        let e = message_event(&format!("wamid-{i}"), OUR, CLIENT, &format!("part {i}"));
        async move { sim.post_webhook(url, KEY, &e).await }
    });
    let answers = futures::future::join_all(posts).await;
    assert!(answers.iter().all(|(s, _)| *s == 200), "{answers:?}");
    drained(&h.app).await;
    assert_eq!(conversations(&h.app).await.len(), 1);
    assert_eq!(messages(&h.app).await.len(), 10);
}

/// A client's message processed, then a reply of ours the provider knows as `provider_id` (SENT).
async fn our_sent_message(h: &Hooked, provider_id: &str) -> entity::message::Model {
    use sea_orm::{ActiveModelTrait, Set};
    h.sim.post_webhook(&h.url, KEY, &message_event("wamid-in", OUR, CLIENT, "Hi")).await;
    drained(&h.app).await;
    let conv = conversations(&h.app).await.remove(0);
    let now = chrono::Utc::now();
    entity::message::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        account_id: Set(conv.account_id),
        conversation_id: Set(conv.id),
        direction: Set(entity::Direction::Outbound),
        text: Set("Hello from us".into()),
        provider_message_id: Set(Some(provider_id.to_owned())),
        delivery_status: Set(Some(entity::DeliveryStatus::Sent)),
        delivery_error: Set(None),
        sender_user_id: Set(None),
        chatbot_id: Set(None),
        sent_at: Set(Some(now)),
        automatic: Set(false),
        send_claimed_until: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&h.app.engine.db)
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn status_events_move_outbound_messages_forward_only() {
    use sea_orm::EntityTrait;
    let h = hooked(false).await;
    let out = our_sent_message(&h, "nova-out-1").await;
    let status_of = || async {
        entity::message::Entity::find_by_id(out.id)
            .one(&h.app.engine.db)
            .await
            .ok()
            .flatten()
            .and_then(|m| m.delivery_status)
    };
    for (status, want) in [("delivered", "DELIVERED"), ("read", "READ"), ("delivered", "READ")] {
        let (code, body) = h.sim.post_webhook(&h.url, KEY, &status_event("nova-out-1", status, None)).await;
        assert_eq!(code, 200, "{body}");
        drained(&h.app).await;
        let got = status_of().await.map(|s| format!("{s:?}").to_uppercase());
        assert_eq!(got.as_deref(), Some(want), "after {status}");
    }
    // A status for a message nobody knows is acknowledged, retried a few times, then recorded as not applied.
    let (code, _) = h.sim.post_webhook(&h.url, KEY, &status_event("nova-unknown", "delivered", None)).await;
    assert_eq!(code, 200);
}

/// Holds back every insert into the deliveries table until the returned transaction ends: SQLite's write lock,
/// or on PostgreSQL a table lock that conflicts with inserts (reads go on).
async fn hold_writes(app: &TestApp) -> worker::db::WriteTxn {
    use sea_orm::ConnectionTrait;
    let txn = worker::db::begin_write(&app.engine.db).await.unwrap();
    if txn.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        txn.execute_unprepared("LOCK TABLE webhook_deliveries IN SHARE ROW EXCLUSIVE MODE").await.unwrap();
    }
    txn
}

/// Processing jobs ever queued (any status), straight from apalis' table: the deliveries each one carries.
async fn webhook_jobs(app: &TestApp) -> Vec<Vec<uuid::Uuid>> {
    use sea_orm::{ConnectionTrait, Statement};
    let backend = app.engine.db.get_database_backend();
    let text =
        if backend == sea_orm::DatabaseBackend::Postgres { "convert_from(job, 'UTF8')" } else { "CAST(job AS TEXT)" };
    let sql = format!("SELECT {text} AS job FROM {} WHERE job_type = 'process_webhook'", app.jobs_table());
    let rows = app.engine.db.query_all_raw(Statement::from_string(backend, sql)).await.unwrap();
    rows.iter()
        .map(|r| {
            let job: worker::conversations::inbound::ProcessWebhook =
                serde_json::from_str(&r.try_get::<String>("", "job").unwrap()).unwrap();
            job.deliveries().collect()
        })
        .collect()
}

type Posting = tokio::task::JoinHandle<(u16, String)>;

fn post_in_background(h: &Hooked, id: &str, text: &str) -> Posting {
    post_event_in_background(h, message_event(id, OUR, CLIENT, text))
}

fn post_event_in_background(h: &Hooked, event: Value) -> Posting {
    let (http, url) = (reqwest::Client::new(), h.url.clone());
    tokio::spawn(async move { tests::provider_sim::send_signed_webhook(&http, &url, KEY, &event).await.unwrap() })
}

/// Posts `first`, then (while the writer is held in the first's transaction) `rest`, so that `rest` share the
/// next commit; releases the writer and returns the postings.
async fn posted_in_two_commits(h: &Hooked, first: Value, rest: Vec<Value>) -> (Posting, Vec<Posting>) {
    let lock = hold_writes(&h.app).await;
    let first = post_event_in_background(h, first);
    waiting_for_the_writer(&h.app, 1).await;
    let n = rest.len() as u64;
    let rest: Vec<Posting> = rest.into_iter().map(|e| post_event_in_background(h, e)).collect();
    waiting_for_the_writer(&h.app, 1 + n).await;
    drop(lock);
    (first, rest)
}

/// Waits until `n` deliveries wait for the writer.
async fn waiting_for_the_writer(app: &TestApp, n: u64) {
    tests::eventually(Duration::from_secs(10), "deliveries to wait for the writer", || async {
        (app.engine.intake.waiting() == n).then_some(())
    })
    .await;
}

#[tokio::test]
async fn deliveries_that_arrive_during_a_commit_share_the_next_one_and_are_answered_after_it() {
    let h = hooked(false).await;
    let lock = hold_writes(&h.app).await;
    let batches = h.app.engine.intake.batches();
    // The writer takes the first delivery alone and is held in its transaction...
    let first = post_in_background(&h, "wamid-a", "first");
    waiting_for_the_writer(&h.app, 1).await;
    // ... while five more wait, among them a repeat of the first and a key twice in the same batch.
    let rest: Vec<Posting> =
        [("wamid-b", "b"), ("wamid-c", "c"), ("wamid-b", "b again"), ("wamid-a", "a again"), ("wamid-d", "d")]
            .iter()
            .map(|(id, text)| post_in_background(&h, id, text))
            .collect();
    waiting_for_the_writer(&h.app, 6).await;
    // Nothing is acknowledged or visible before its commit.
    assert!(!first.is_finished() && rest.iter().all(|p| !p.is_finished()));
    assert_eq!(h.app.count("webhook_deliveries").await, 0);
    drop(lock);
    let (status, body) = first.await.unwrap();
    assert_eq!((status, body.contains("accepted")), (200, true), "{body}");
    let mut answers = Vec::new();
    for p in rest {
        answers.push(p.await.unwrap());
    }
    assert!(answers.iter().all(|(s, _)| *s == 200), "{answers:?}");
    let duplicate: Vec<bool> = answers.iter().map(|(_, b)| b.contains("duplicate")).collect();
    // The two deliveries of wamid-b reach the writer in either order: one is stored, the other a duplicate.
    assert!(duplicate[0] != duplicate[2], "{answers:?}");
    assert_eq!((duplicate[1], duplicate[3], duplicate[4]), (false, true, false), "{answers:?}");
    // Two commits for six deliveries: the first alone, then everything that waited for it.
    assert_eq!(h.app.engine.intake.batches() - batches, 2);
    assert_eq!(h.app.count("webhook_deliveries").await, 4);
    // One processing job per commit, carrying exactly the deliveries it stored.
    use sea_orm::EntityTrait;
    let jobs = webhook_jobs(&h.app).await;
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    let mut carried: Vec<uuid::Uuid> = jobs.concat();
    carried.sort();
    let mut stored: Vec<uuid::Uuid> =
        entity::webhook_delivery::Entity::find().all(&h.app.engine.db).await.unwrap().iter().map(|d| d.id).collect();
    stored.sort();
    assert_eq!(carried, stored);
    drained(&h.app).await;
    let texts: Vec<String> = messages(&h.app).await.into_iter().map(|m| m.text).collect();
    assert_eq!(texts.len(), 4, "{texts:?}");
    let b = if duplicate[0] { "b again" } else { "b" };
    for t in ["first", b, "c", "d"] {
        assert!(texts.iter().any(|x| x == t), "{t} missing from {texts:?}");
    }
    // The client's three messages processed together joined the conversation the first one opened.
    assert_eq!(conversations(&h.app).await.len(), 1);
}

/// On SQLite every apalis statement is a write (fetch, heartbeat, acknowledgement): while another writer holds
/// the lock they wait out the busy timeout on apalis' own connections, so reads and arriving deliveries still get
/// the product's. (On PostgreSQL the table lock of `hold_writes` does not stop apalis.)
#[tokio::test]
async fn requests_are_served_while_the_job_workers_wait_for_the_write_lock() {
    let h = hooked(false).await;
    let worker::jobs::JobStore::Sqlite(jobs) = h.app.engine.jobs.clone() else { return };
    let lock = hold_writes(&h.app).await;
    let max = jobs.options().get_max_connections();
    // Every connection of apalis' pool waits for the lock ...
    tests::eventually(Duration::from_secs(20), "every job connection to wait for the lock", || async {
        (jobs.size() == max && jobs.num_idle() == 0).then_some(())
    })
    .await;
    // ... none of them holds one of the product's connections ...
    let product = h.app.engine.db.get_sqlite_connection_pool();
    let spare = product.options().get_max_connections() - product.size() + product.num_idle() as u32;
    assert!(spare > 0, "the job workers' waits took every connection of the product's pool");
    // ... and a read is answered, a delivery reaches the writer.
    let read = h.app.admin("{ channels { totalCount } }", json!({})).await;
    assert_eq!(read.data("/channels/totalCount"), 1, "{}", read.raw);
    let delivery = post_in_background(&h, "wamid-during-lock", "hello");
    waiting_for_the_writer(&h.app, 1).await;
    drop(lock);
    let (status, body) = delivery.await.unwrap();
    assert_eq!((status, body.contains("accepted")), (200, true), "{body}");
}

/// A new client's first messages processed in one job open one conversation, holding them in arrival order.
#[tokio::test]
async fn a_new_clients_messages_in_one_job_open_one_conversation_in_order() {
    let h = hooked(false).await;
    let lock = hold_writes(&h.app).await;
    let other = post_event_in_background(&h, message_event("wamid-o", OUR, "+4915100000999", "someone else"));
    waiting_for_the_writer(&h.app, 1).await;
    let hello = post_in_background(&h, "wamid-1", "hello");
    waiting_for_the_writer(&h.app, 2).await;
    let again = post_in_background(&h, "wamid-2", "again");
    waiting_for_the_writer(&h.app, 3).await;
    drop(lock);
    for p in [other, hello, again] {
        assert_eq!(p.await.unwrap().0, 200);
    }
    drained(&h.app).await;
    let convs = conversations(&h.app).await;
    assert_eq!(convs.len(), 2, "one per client");
    let mine: Vec<entity::message::Model> =
        messages(&h.app).await.into_iter().filter(|m| m.text != "someone else").collect();
    assert_eq!(mine.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(), ["hello", "again"]);
    assert_eq!(mine[0].conversation_id, mine[1].conversation_id);
}

/// One job carrying a client's message and a status of one of our messages applies both.
#[tokio::test]
async fn a_job_of_messages_and_statuses_applies_each() {
    use sea_orm::EntityTrait;
    let h = hooked(false).await;
    let out = our_sent_message(&h, "nova-out-7").await;
    let (first, batch) = posted_in_two_commits(
        &h,
        message_event("wamid-0", OUR, CLIENT, "zero"),
        vec![status_event("nova-out-7", "delivered", None), message_event("wamid-1", OUR, CLIENT, "one")],
    )
    .await;
    assert_eq!(first.await.unwrap().0, 200);
    for p in batch {
        assert_eq!(p.await.unwrap().0, 200);
    }
    let mut sizes: Vec<usize> = webhook_jobs(&h.app).await.iter().map(Vec::len).collect();
    sizes.sort();
    assert_eq!(sizes, [1, 1, 2], "the status and the message share a job");
    drained(&h.app).await;
    let status = entity::message::Entity::find_by_id(out.id).one(&h.app.engine.db).await.unwrap().unwrap();
    assert_eq!(status.delivery_status, Some(entity::DeliveryStatus::Delivered));
    let mut texts: Vec<String> = messages(&h.app)
        .await
        .into_iter()
        .filter(|m| m.direction == entity::Direction::Inbound)
        .map(|m| m.text)
        .collect();
    texts.sort();
    assert_eq!(texts, ["Hi", "one", "zero"]);
}

/// Makes the database refuse inserts into `table` whose `column` contains "explode": a trigger standing in for any
/// failure of a statement or of its commit.
async fn refuse_explosive(app: &TestApp, table: &str, column: &str) {
    use sea_orm::ConnectionTrait;
    let db = &app.engine.db;
    let statements = if db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        vec![
            format!(
                "CREATE FUNCTION refuse_explosive_{table}() RETURNS trigger AS $$ BEGIN \
                 IF NEW.{column} LIKE '%explode%' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$ \
                 LANGUAGE plpgsql"
            ),
            format!(
                "CREATE TRIGGER refuse_explosive_{table} BEFORE INSERT ON {table} \
                 FOR EACH ROW EXECUTE FUNCTION refuse_explosive_{table}()"
            ),
        ]
    } else {
        vec![format!(
            "CREATE TRIGGER refuse_explosive_{table} BEFORE INSERT ON {table} \
             WHEN NEW.{column} LIKE '%explode%' BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )]
    };
    for sql in statements {
        db.execute_unprepared(&sql).await.unwrap();
    }
}

/// Drops what `refuse_explosive` made.
async fn stop_refusing(app: &TestApp, table: &str) {
    use sea_orm::ConnectionTrait;
    let db = &app.engine.db;
    let sql = if db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        format!("DROP TRIGGER refuse_explosive_{table} ON {table}")
    } else {
        format!("DROP TRIGGER refuse_explosive_{table}")
    };
    db.execute_unprepared(&sql).await.unwrap();
}

/// A message the shared processing transaction cannot store holds back none of the deliveries committed with it:
/// they are then stored each on its own, and only the bad one is left for the job's retries.
#[tokio::test]
async fn a_message_that_cannot_be_stored_holds_back_none_of_its_batch() {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let h = hooked(false).await;
    h.app.allow_failed_jobs();
    refuse_explosive(&h.app, "messages", "text").await;
    let rest = [("wamid-1", "one"), ("wamid-2", "explode"), ("wamid-3", "three")];
    let rest = rest.iter().map(|(id, text)| message_event(id, OUR, CLIENT, text)).collect();
    let (first, batch) = posted_in_two_commits(&h, message_event("wamid-0", OUR, CLIENT, "zero"), rest).await;
    assert_eq!(first.await.unwrap().0, 200);
    for p in batch {
        assert_eq!(p.await.unwrap().0, 200);
    }
    let jobs = webhook_jobs(&h.app).await;
    let mut sizes: Vec<usize> = jobs.iter().map(Vec::len).collect();
    sizes.sort();
    assert_eq!(sizes, [1, 3], "the three share one job: {jobs:?}");
    let texts = tests::eventually(Duration::from_secs(20), "the good messages to be stored", || async {
        let mut texts: Vec<String> = messages(&h.app).await.into_iter().map(|m| m.text).collect();
        texts.sort();
        (texts.len() == 3).then_some(texts)
    })
    .await;
    assert_eq!(texts, ["one", "three", "zero"]);
    let unprocessed: Vec<String> = entity::webhook_delivery::Entity::find()
        .filter(entity::webhook_delivery::Column::ProcessedAt.is_null())
        .all(&h.app.engine.db)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.dedupe_key)
        .collect();
    assert_eq!(unprocessed.len(), 1, "only the bad delivery waits for a retry: {unprocessed:?}");
    assert!(unprocessed[0].contains("wamid-2"), "{unprocessed:?}");
}

#[tokio::test]
async fn a_failed_commit_refuses_exactly_its_batch_and_redelivery_stores_each_once() {
    let h = hooked(false).await;
    refuse_explosive(&h.app, "webhook_deliveries", "body").await;
    let rest = [("wamid-2", "two"), ("wamid-3", "explode"), ("wamid-4", "four")];
    let rest = rest.iter().map(|(id, text)| message_event(id, OUR, CLIENT, text)).collect();
    let (first, batch) = posted_in_two_commits(&h, message_event("wamid-1", OUR, CLIENT, "one"), rest).await;
    assert_eq!(first.await.unwrap().0, 200, "the batch before is not affected");
    for p in batch {
        let (status, body) = p.await.unwrap();
        assert_eq!(status, 503, "every delivery of the failed batch is refused: {body}");
    }
    assert_eq!(h.app.count("webhook_deliveries").await, 1, "the failed batch stored nothing");
    assert_eq!(webhook_jobs(&h.app).await.len(), 1, "and queued nothing");
    // The provider redelivers (the cause is gone): each stored once, then known as duplicates.
    stop_refusing(&h.app, "webhook_deliveries").await;
    for round in ["accepted", "duplicate"] {
        for (id, text) in [("wamid-2", "two"), ("wamid-3", "explode"), ("wamid-4", "four")] {
            let (status, body) = h.sim.post_webhook(&h.url, KEY, &message_event(id, OUR, CLIENT, text)).await;
            assert_eq!(status, 200, "{body}");
            assert!(body.contains(round), "{round}: {body}");
        }
    }
    assert_eq!(h.app.count("webhook_deliveries").await, 4);
    assert_eq!(webhook_jobs(&h.app).await.len(), 4, "each redelivery committed alone, with its job");
    drained(&h.app).await;
    assert_eq!(messages(&h.app).await.len(), 4);
}

/// Connections are not pinged before every use (only after 30 s idle): when PostgreSQL ends the product's
/// connections (a restart, an administrator), each broken one fails at most the statement that finds out. The
/// provider gets 503 for such a delivery and redelivers it; nothing is lost or stored twice, and the job
/// workers go on processing. (SQLite has no server to end a connection.)
#[tokio::test]
async fn deliveries_are_accepted_again_after_the_database_ends_every_connection() {
    use sea_orm::{ConnectionTrait, Statement};
    let h = hooked(false).await;
    let backend = h.app.engine.db.get_database_backend();
    if backend != sea_orm::DatabaseBackend::Postgres {
        return;
    }
    let (status, body) = h.sim.post_webhook(&h.url, KEY, &message_event("wamid-0", OUR, CLIENT, "before")).await;
    assert_eq!(status, 200, "{body}");
    drained(&h.app).await;
    let sql = "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity \
               WHERE datname = current_database() AND pid <> pg_backend_pid()";
    let ended = h.app.engine.db.query_one_raw(Statement::from_string(backend, sql)).await.unwrap().unwrap();
    assert!(ended.try_get::<i64>("", "n").unwrap() > 0);
    // Each delivery is redelivered until accepted, as the provider does; a refusal is a 503.
    let mut refused = 0;
    for i in 1..=10 {
        let event = message_event(&format!("wamid-{i}"), OUR, CLIENT, &format!("after {i}"));
        loop {
            let (status, body) = h.sim.post_webhook(&h.url, KEY, &event).await;
            if status == 200 {
                break;
            }
            assert_eq!(status, 503, "{body}");
            refused += 1;
            assert!(refused <= 40, "deliveries still refused after {refused} attempts: {body}");
        }
    }
    // The writer's connection, which stored the first delivery, was among those ended.
    assert!(refused >= 1, "no delivery met a broken connection");
    drained(&h.app).await;
    assert_eq!(h.app.count("webhook_deliveries").await, 11);
    assert_eq!(messages(&h.app).await.len(), 11);
}
