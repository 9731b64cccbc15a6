//! Webhook intake over real HTTP, signed as the provider signs: refusals store nothing, accepted deliveries are
//! durable and processed by the worker into contacts, conversations and messages, redeliveries create nothing
//! twice (also when they race), and status events move outbound messages forward.

use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tests::TestApp;
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
}

async fn hooked(with_chatbot: bool) -> Hooked {
    let app = TestApp::spawn().await;
    let sim = ProviderSim::start().await;
    let mut input = TestApp::channel_input("Inbox");
    if with_chatbot {
        let bot = app
            .admin("mutation { createChatbot(input: {name: \"Greeter\"}) { id } }", json!({}))
            .await
            .ok()
            .str("/createChatbot/id");
        input["chatbotId"] = json!(bot);
    }
    let channel = app.create_channel_as(&app.admin_token, input).await;
    let number = app.add_number(&channel, OUR, KEY).await;
    let url = app.webhook_url(&channel).await;
    Hooked { app, sim, channel, number, url }
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
    let started = Instant::now();
    loop {
        let pending = entity::webhook_delivery::Entity::find()
            .filter(entity::webhook_delivery::Column::ProcessedAt.is_null())
            .count(&app.engine.db)
            .await
            .unwrap_or(u64::MAX);
        if pending == 0 {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{pending} deliveries never processed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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
            signed_headers(KEY, now + 301, &body),
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

#[tokio::test]
async fn status_events_move_outbound_messages_forward_only() {
    use sea_orm::{ActiveModelTrait, EntityTrait, Set};
    let h = hooked(false).await;
    h.sim.post_webhook(&h.url, KEY, &message_event("wamid-in", OUR, CLIENT, "Hi")).await;
    drained(&h.app).await;
    let conv = conversations(&h.app).await.remove(0);
    let now = chrono::Utc::now();
    let out = entity::message::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        account_id: Set(conv.account_id),
        conversation_id: Set(conv.id),
        direction: Set(entity::Direction::Outbound),
        text: Set("Hello from us".into()),
        provider_message_id: Set(Some("nova-out-1".into())),
        delivery_status: Set(Some(entity::DeliveryStatus::Sent)),
        delivery_error: Set(None),
        sender_user_id: Set(None),
        sent_at: Set(Some(now)),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&h.app.engine.db)
    .await
    .unwrap_or_else(|e| panic!("{e}"));
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
