//! Outbound messages through the send worker against the provider simulator over a real socket: replies and
//! first messages are queued, sent once (also across retries), fail with the provider's reason, and respect the
//! numbers' state, the channel's write-first setting and who may see which conversation.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::Utc;
use entity::{ConversationStatus, DeliveryStatus, Direction, contact, conversation, message};
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tests::TestApp;
use tests::provider_sim::ProviderSim;
use uuid::Uuid;
use worker::conversations::outbound::{SEND_ATTEMPTS, SendMessage};

const OUR: &str = "+14155550200";
const KEY: &str = "send-key-0200";
const CLIENT: &str = "+4915112340001";

const START: &str = "mutation($c: ID!, $n: ID!, $to: String!, $t: String!) {
    startConversation(channelId: $c, phoneNumberId: $n, to: $to, text: $t) {
        id status substatus assignedAgent { id } contact { id phoneNumber displayName }
        phoneNumber { id phoneNumber } channel { id }
        messages { id direction text deliveryStatus sender { id } }
    } }";
const SEND: &str = "mutation($c: ID!, $t: String!) {
    sendMessage(conversationId: $c, text: $t) { id direction text deliveryStatus deliveryError sender { id } } }";
const CONVERSATION: &str = "query($id: ID!) { conversation(id: $id) { id status
    messages { id direction text deliveryStatus deliveryError providerMessageId sentAt sender { id } } } }";

struct Setup {
    app: TestApp,
    sim: ProviderSim,
    channel: String,
    number: String,
}

/// A channel on the simulator with one number whose key the simulator knows (or not: `key`).
async fn setup_with(can_write_first: bool, key: &str) -> Setup {
    let sim = ProviderSim::start().await;
    let app = TestApp::spawn().await;
    let mut input = TestApp::channel_input("Outbound");
    input["apiUrl"] = json!(sim.url());
    input["canWriteFirst"] = json!(can_write_first);
    let channel = app.create_channel_as(&app.admin_token, input).await;
    sim.add_number(OUR, KEY, true);
    let number = app.add_number(&channel, OUR, key).await;
    Setup { app, sim, channel, number }
}

async fn setup(can_write_first: bool) -> Setup {
    setup_with(can_write_first, KEY).await
}

impl Setup {
    async fn start_as(&self, token: &str, to: &str, text: &str) -> tests::Gql {
        self.app.gql(Some(token), START, json!({ "c": self.channel, "n": self.number, "to": to, "t": text })).await
    }

    /// Starts a conversation as the admin; returns its id.
    async fn start(&self, to: &str, text: &str) -> String {
        self.start_as(&self.app.admin_token, to, text).await.ok().str("/startConversation/id")
    }

    async fn send_as(&self, token: &str, conversation: &str, text: &str) -> tests::Gql {
        self.app.gql(Some(token), SEND, json!({ "c": conversation, "t": text })).await
    }

    /// The conversation's messages once none is QUEUED any more (or `limit` passed).
    async fn settled(&self, conversation: &str, limit: Duration) -> Vec<Value> {
        let started = Instant::now();
        loop {
            let r = self.app.admin(CONVERSATION, json!({ "id": conversation })).await;
            let msgs = r.ok().data("/conversation/messages").as_array().cloned().unwrap_or_default();
            if msgs.iter().all(|m| m["deliveryStatus"] != json!("QUEUED")) || started.elapsed() > limit {
                return msgs;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn set_enabled(&self, enabled: bool) {
        self.app
            .admin(
                "mutation($id: ID!, $e: Boolean!) { setPhoneNumberEnabled(id: $id, enabled: $e) { id } }",
                json!({ "id": self.number, "e": enabled }),
            )
            .await
            .ok();
    }

    /// A client who wrote to the channel before: contact, a conversation (in `status`) and an inbound message,
    /// inserted directly as the webhook intake would have. Returns the conversation id.
    async fn client_wrote(&self, e164: &str, status: ConversationStatus) -> Uuid {
        let db = &self.app.engine.db;
        let account: Uuid = self.app.account_id.parse().unwrap();
        let now = Utc::now();
        let c = contact::ActiveModel {
            id: Set(Uuid::now_v7()),
            account_id: Set(account),
            e164: Set(e164.to_owned()),
            display_name: Set(Some("Ann Client".into())),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(db)
        .await
        .unwrap();
        let resolved = status == ConversationStatus::Resolved;
        let conv = conversation::ActiveModel {
            id: Set(Uuid::now_v7()),
            account_id: Set(account),
            channel_id: Set(self.channel.parse().unwrap()),
            contact_id: Set(c.id),
            phone_number_id: Set(self.number.parse().unwrap()),
            status: Set(status),
            substatus: Set((!resolved).then_some(entity::ConversationSubstatus::InQueue)),
            assigned_user_id: Set(None),
            enqueued_at: Set(Some(now)),
            wrap_up_code_id: Set(None),
            wrap_up_timed_out: Set(false),
            created_at: Set(now),
            updated_at: Set(now),
            resolved_at: Set(resolved.then_some(now)),
            offer_id: Set(None),
            offer_deadline: Set(None),
            wrap_up_deadline: Set(None),
            assignment_cost: Set(None),
            resolution: Set(None),
            bot_deadline: Set(None),
            hand_off_reason: Set(None),
            handed_off_at: Set(None),
        }
        .insert(db)
        .await
        .unwrap();
        message::ActiveModel {
            id: Set(Uuid::now_v7()),
            account_id: Set(account),
            conversation_id: Set(conv.id),
            direction: Set(Direction::Inbound),
            text: Set("hello?".into()),
            provider_message_id: Set(Some(format!("in-{}", Uuid::new_v4().simple()))),
            delivery_status: Set(None),
            delivery_error: Set(None),
            sender_user_id: Set(None),
            chatbot_id: Set(None),
            sent_at: Set(Some(now)),
            automatic: Set(false),
            send_claimed_until: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(db)
        .await
        .unwrap();
        conv.id
    }

    async fn resolve(&self, conversation: &str) {
        let mut am: conversation::ActiveModel = conversation::Entity::find_by_id(conversation.parse::<Uuid>().unwrap())
            .one(&self.app.engine.db)
            .await
            .unwrap()
            .unwrap()
            .into();
        am.status = Set(ConversationStatus::Resolved);
        am.substatus = Set(None);
        am.resolved_at = Set(Some(Utc::now()));
        am.update(&self.app.engine.db).await.unwrap();
    }

    /// `(deliveryStatus, deliveryError)` of the conversation's message with that provider id.
    async fn status_of(&self, conversation: &str, provider_id: &str) -> (String, Value) {
        let r = self.app.admin(CONVERSATION, json!({ "id": conversation })).await;
        let msgs = r.ok().data("/conversation/messages").as_array().cloned().unwrap_or_default();
        let m = msgs.into_iter().find(|m| m["providerMessageId"] == json!(provider_id)).unwrap();
        (m["deliveryStatus"].as_str().unwrap().to_owned(), m["deliveryError"].clone())
    }

    async fn rows(&self) -> Vec<i64> {
        let mut v = Vec::new();
        for t in ["contacts", "conversations", "messages"] {
            v.push(self.app.count(t).await);
        }
        v
    }
}

fn field(r: &tests::Gql) -> String {
    r.errors().first().and_then(|e| e.pointer("/extensions/field")).and_then(Value::as_str).unwrap_or("").to_owned()
}

async fn admin_id(app: &TestApp) -> String {
    app.admin("{ me { id } }", json!({})).await.ok().str("/me/id")
}

#[tokio::test]
async fn a_reply_is_queued_then_sent_exactly_once() {
    let s = setup(true).await;
    let me = admin_id(&s.app).await;
    let r = s.start_as(&s.app.admin_token, " +49 151 1234-0001 ", "  Hello from support  ").await;
    let c = r.ok().data("/startConversation").clone();
    assert_eq!(c["status"], json!("OPEN"));
    assert_eq!(c["substatus"], json!("INTERACTING"));
    assert_eq!(c["assignedAgent"]["id"], json!(me));
    assert_eq!(c["contact"]["phoneNumber"], json!(CLIENT));
    assert_eq!(c["contact"]["displayName"], Value::Null);
    assert_eq!(c["phoneNumber"], json!({ "id": s.number, "phoneNumber": OUR }));
    assert_eq!(c["channel"]["id"], json!(s.channel));
    let first = &c["messages"][0];
    assert_eq!(first["direction"], json!("OUTBOUND"));
    assert_eq!(first["text"], json!("Hello from support"));
    assert_eq!(first["sender"]["id"], json!(me));
    let conv = c["id"].as_str().unwrap().to_owned();

    let r = s.send_as(&s.app.admin_token, &conv, "Your order has shipped.").await;
    let m = r.ok().data("/sendMessage").clone();
    assert_eq!(m["deliveryStatus"], json!("QUEUED"));
    assert_eq!(m["direction"], json!("OUTBOUND"));
    assert_eq!(m["sender"]["id"], json!(me));
    assert_eq!(m["deliveryError"], Value::Null);

    let msgs = s.settled(&conv, Duration::from_secs(20)).await;
    assert_eq!(msgs.len(), 2);
    let sent = s.sim.sent();
    assert_eq!(sent.len(), 2, "{sent:?}");
    // Each stored message matches the send the provider got with its id as clientMessageId.
    for got in &msgs {
        let want = sent.iter().find(|m| m.client_message_id.to_string() == got["id"].as_str().unwrap()).unwrap();
        assert_eq!(got["deliveryStatus"], json!("SENT"), "{got}");
        assert_eq!(got["providerMessageId"], json!(want.id));
        assert!(got["sentAt"].is_string());
        assert_eq!((want.from.as_str(), want.to.as_str()), (OUR, CLIENT));
        assert_eq!(want.text, got["text"].as_str().unwrap());
    }
    assert_eq!(msgs[1]["text"], json!("Your order has shipped."));
    assert_eq!(s.sim.send_attempts(), 2);

    // A job run again for a sent message (at-least-once delivery) changes nothing and calls nobody.
    let id: Uuid = msgs[1]["id"].as_str().unwrap().parse().unwrap();
    s.app.engine.run_send(&SendMessage { message_id: id, attempt: 0 }).await.unwrap();
    worker::jobs::enqueue(&s.app.engine.db, &SendMessage { message_id: id, attempt: 0 }, worker::jobs::Due::Now)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(s.sim.send_attempts(), 2);
    assert_eq!(s.settled(&conv, Duration::from_secs(1)).await, msgs);
}

#[tokio::test]
async fn quick_replies_reach_the_client_in_the_order_they_were_written() {
    let s = setup(true).await;
    let r = s.start_as(&s.app.admin_token, CLIENT, "m0").await;
    let conv = r.ok().str("/startConversation/id");
    s.settled(&conv, Duration::from_secs(20)).await;
    // The provider refuses the first attempt of m1 for a moment: m1 waits for its retry, and the replies written
    // after it wait for m1.
    s.sim.fail_next(1, 503);
    let texts: Vec<String> = (1..=5).map(|i| format!("m{i}")).collect();
    for t in &texts {
        s.send_as(&s.app.admin_token, &conv, t).await.ok();
    }
    let msgs = s.settled(&conv, Duration::from_secs(30)).await;
    assert!(msgs.iter().all(|m| m["deliveryStatus"] == json!("SENT")), "{msgs:?}");
    let sent: Vec<String> = s.sim.sent().into_iter().map(|m| m.text).collect();
    assert_eq!(sent, ["m0", "m1", "m2", "m3", "m4", "m5"], "the provider got them in the conversation's order");
}

#[tokio::test]
async fn a_failing_provider_is_retried_without_sending_twice() {
    let s = setup(true).await;
    s.sim.fail_next(2, 500);
    let conv = s.start(CLIENT, "Hi!").await;
    let msgs = s.settled(&conv, Duration::from_secs(25)).await;
    assert_eq!(msgs[0]["deliveryStatus"], json!("SENT"), "{msgs:?}");
    let sent = s.sim.sent();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(msgs[0]["providerMessageId"], json!(sent[0].id));
    assert!(s.sim.send_attempts() >= 3, "attempts: {}", s.sim.send_attempts());

    // Rate limiting is transient too.
    s.sim.fail_next(1, 429);
    let r = s.send_as(&s.app.admin_token, &conv, "Still there?").await;
    r.ok();
    let msgs = s.settled(&conv, Duration::from_secs(25)).await;
    assert_eq!(msgs[1]["deliveryStatus"], json!("SENT"), "{msgs:?}");
    assert_eq!(s.sim.sent().len(), 2);
}

#[tokio::test]
async fn a_refused_key_fails_the_message_with_the_reason() {
    let s = setup_with(true, "not-the-right-key").await;
    let conv = s.start(CLIENT, "Hi!").await;
    let msgs = s.settled(&conv, Duration::from_secs(20)).await;
    assert_eq!(msgs[0]["deliveryStatus"], json!("FAILED"), "{msgs:?}");
    assert_eq!(msgs[0]["deliveryError"], json!("INVALID_KEY"));
    assert_eq!(msgs[0]["providerMessageId"], Value::Null);
    assert!(s.sim.sent().is_empty());
    // Permanent: not retried.
    assert_eq!(s.sim.send_attempts(), 1);
}

#[tokio::test]
async fn a_provider_down_throughout_ends_as_unreachable() {
    let s = setup(true).await;
    s.sim.set_down(true);
    let conv = s.start(CLIENT, "Hi!").await;
    // Five attempts 1, 2, 4 and 4 s apart (each rounded up to the whole second): about 20 s alone, more while
    // the rest of the suite runs. The wait is for the outcome; how long it takes is not asserted here.
    let msgs = s.settled(&conv, Duration::from_secs(90)).await;
    assert_eq!(msgs[0]["deliveryStatus"], json!("FAILED"), "{msgs:?}");
    assert_eq!(msgs[0]["deliveryError"], json!("PROVIDER_UNREACHABLE"));
    assert_eq!(s.sim.send_attempts(), SEND_ATTEMPTS as usize);
    assert!(s.sim.sent().is_empty());
}

#[tokio::test]
async fn disabled_and_deleted_numbers_cannot_send() {
    let s = setup(true).await;
    let conv = s.start(CLIENT, "Hi!").await;
    s.settled(&conv, Duration::from_secs(20)).await;
    let before = s.rows().await;

    s.set_enabled(false).await;
    let r = s.send_as(&s.app.admin_token, &conv, "Hello?").await;
    assert_eq!((r.code(), field(&r)), ("CONFLICT".into(), "conversationId".into()), "{}", r.raw);
    assert!(r.errors()[0]["message"].as_str().unwrap().contains(&format!("the channel number {OUR} cannot send")));
    let r = s.start_as(&s.app.admin_token, "+4915112340002", "Hi!").await;
    assert_eq!((r.code(), field(&r)), ("CONFLICT".into(), "phoneNumberId".into()), "{}", r.raw);

    s.set_enabled(true).await;
    s.app.admin("mutation($id: ID!) { deletePhoneNumber(id: $id) { id } }", json!({ "id": s.number })).await.ok();
    let r = s.send_as(&s.app.admin_token, &conv, "Hello?").await;
    assert_eq!((r.code(), field(&r)), ("CONFLICT".into(), "conversationId".into()), "{}", r.raw);
    assert!(r.errors()[0]["message"].as_str().unwrap().contains("deleted"));
    let r = s.start_as(&s.app.admin_token, "+4915112340002", "Hi!").await;
    assert_eq!((r.code(), field(&r)), ("CONFLICT".into(), "phoneNumberId".into()), "{}", r.raw);

    // Nothing was stored or queued.
    assert_eq!(s.rows().await, before);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(s.sim.send_attempts(), 1);
}

#[tokio::test]
async fn a_number_disabled_after_queueing_fails_the_message() {
    let s = setup(true).await;
    s.sim.set_down(true);
    let conv = s.start(CLIENT, "Hi!").await;
    // The first attempt fails transiently; the number is disabled before the retry.
    let started = Instant::now();
    while s.sim.send_attempts() == 0 && started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    s.set_enabled(false).await;
    s.sim.set_down(false);
    let msgs = s.settled(&conv, Duration::from_secs(20)).await;
    assert_eq!(msgs[0]["deliveryStatus"], json!("FAILED"), "{msgs:?}");
    assert_eq!(msgs[0]["deliveryError"], json!("NUMBER_DISABLED"));
    assert!(s.sim.sent().is_empty());
}

#[tokio::test]
async fn writing_first_follows_the_channel_setting() {
    // Off: refused for a client who never wrote, nothing stored or sent.
    let s = setup(false).await;
    let before = s.rows().await;
    let r = s.start_as(&s.app.admin_token, CLIENT, "Hi!").await;
    assert_eq!((r.code(), field(&r)), ("CONFLICT".into(), "to".into()), "{}", r.raw);
    assert!(r.errors()[0]["message"].as_str().unwrap().contains("does not allow writing first"));
    assert_eq!(s.rows().await, before);

    // A client who wrote before (their conversation since resolved) may be written to.
    s.client_wrote(CLIENT, ConversationStatus::Resolved).await;
    let r = s.start_as(&s.app.admin_token, CLIENT, "Following up").await;
    let c = r.ok().data("/startConversation").clone();
    assert_eq!(c["contact"]["displayName"], json!("Ann Client"), "the existing contact is reused");
    let conv = c["id"].as_str().unwrap().to_owned();
    let msgs = s.settled(&conv, Duration::from_secs(20)).await;
    assert_eq!(msgs[0]["deliveryStatus"], json!("SENT"));
    assert_eq!(s.app.count("contacts").await, 1);

    // While that conversation is unresolved, a second one is refused.
    let r = s.start_as(&s.app.admin_token, CLIENT, "Again").await;
    assert_eq!((r.code(), field(&r)), ("CONFLICT".into(), "to".into()), "{}", r.raw);
    assert!(r.errors()[0]["message"].as_str().unwrap().contains(&conv), "{}", r.raw);

    // A client who has an unresolved conversation of their own: refused too (reply there).
    s.client_wrote("+4915112340003", ConversationStatus::Open).await;
    let r = s.start_as(&s.app.admin_token, "+4915112340003", "Hi").await;
    assert_eq!((r.code(), field(&r)), ("CONFLICT".into(), "to".into()), "{}", r.raw);
}

#[tokio::test]
async fn a_conversation_the_client_never_answered_does_not_count_as_writing() {
    let s = setup(true).await;
    let conv = s.start(CLIENT, "Hi!").await;
    s.settled(&conv, Duration::from_secs(20)).await;
    s.resolve(&conv).await;
    s.app
        .admin(
            "mutation($id: ID!) { updateChannel(id: $id, input: { canWriteFirst: false }) { canWriteFirst } }",
            json!({ "id": s.channel }),
        )
        .await
        .ok();
    let r = s.start_as(&s.app.admin_token, CLIENT, "Hi again!").await;
    assert_eq!((r.code(), field(&r)), ("CONFLICT".into(), "to".into()), "{}", r.raw);
}

#[tokio::test]
async fn agents_see_and_write_only_their_conversations() {
    let s = setup(true).await;
    let (a_id, a) = s.app.user_with_token("AGENT").await;
    let (b_id, b) = s.app.user_with_token("AGENT").await;
    let (_, outsider) = s.app.user_with_token("AGENT").await;
    let (sup_id, sup) = s.app.user_with_token("SUPERVISOR").await;
    for u in [&a_id, &b_id] {
        s.app
            .admin(
                "mutation($c: ID!, $u: ID!) { addChannelAgent(channelId: $c, userId: $u) { id } }",
                json!({ "c": s.channel, "u": u }),
            )
            .await
            .ok();
    }
    // An agent outside the channel's agent list cannot write first through it.
    let r = s.start_as(&outsider, CLIENT, "Hi").await;
    assert_eq!(r.code(), "NOT_FOUND", "{}", r.raw);

    let r = s.start_as(&a, CLIENT, "Hi, this is A").await;
    let conv = r.ok().str("/startConversation/id");
    assert_eq!(r.data("/startConversation/assignedAgent/id"), &json!(a_id));

    // B can neither see nor write to A's conversation.
    let r = s.app.gql(Some(&b), CONVERSATION, json!({ "id": conv })).await;
    assert_eq!(r.code(), "NOT_FOUND");
    let r = s.send_as(&b, &conv, "I am B").await;
    assert_eq!(r.code(), "NOT_FOUND");
    let list = "query($c: ID) { conversations(channelId: $c) { nodes { id } } }";
    let r = s.app.gql(Some(&b), list, json!({ "c": s.channel })).await;
    assert_eq!(r.ok().data("/conversations/nodes"), &json!([]));
    // A can, and sees it in their list.
    let r = s.app.gql(Some(&a), list, json!({ "c": s.channel })).await;
    assert_eq!(r.ok().data("/conversations/nodes"), &json!([{ "id": conv }]));
    let r = s.send_as(&a, &conv, "Me again").await;
    assert_eq!(r.ok().data("/sendMessage/deliveryStatus"), &json!("QUEUED"));

    // A supervisor sees every conversation of the account and may write in it.
    s.client_wrote("+4915112340004", ConversationStatus::Open).await;
    let r = s.app.gql(Some(&sup), "{ conversations { nodes { id } } }", json!({})).await;
    assert_eq!(r.ok().data("/conversations/nodes").as_array().unwrap().len(), 2);
    let r = s.app.gql(Some(&sup), "{ conversations(status: RESOLVED) { nodes { id } } }", json!({})).await;
    assert_eq!(r.ok().data("/conversations/nodes"), &json!([]));
    let r = s.send_as(&sup, &conv, "Supervisor here").await;
    assert_eq!(r.ok().data("/sendMessage/sender/id"), &json!(sup_id));
    let msgs = s.settled(&conv, Duration::from_secs(20)).await;
    assert_eq!(msgs.len(), 3);
    assert!(msgs.iter().all(|m| m["deliveryStatus"] == json!("SENT")), "{msgs:?}");
    assert_eq!(s.sim.sent().len(), 3);
    // `last` keeps the newest, oldest first.
    let r = s
        .app
        .admin("query($id: ID!) { conversation(id: $id) { messages(last: 2) { text } } }", json!({ "id": conv }))
        .await;
    assert_eq!(r.ok().data("/conversation/messages"), &json!([{ "text": "Me again" }, { "text": "Supervisor here" }]));

    // Another account sees none of it.
    let other = s.app.other_account().await;
    let r = s.app.gql(Some(&other), CONVERSATION, json!({ "id": conv })).await;
    assert_eq!(r.code(), "NOT_FOUND");
    let r = s.send_as(&other, &conv, "Hi").await;
    assert_eq!(r.code(), "NOT_FOUND");
    let r = s.app.gql(Some(&other), "{ conversations { nodes { id } } }", json!({})).await;
    assert_eq!(r.ok().data("/conversations/nodes"), &json!([]));
    let r = s.app.gql(Some(&other), START, json!({ "c": s.channel, "n": s.number, "to": CLIENT, "t": "Hi" })).await;
    assert_eq!(r.code(), "NOT_FOUND");
}

#[tokio::test]
async fn input_is_validated() {
    let s = setup(true).await;
    let before = s.rows().await;
    let r = s.start_as(&s.app.admin_token, "0151 1234", "   ").await;
    assert_eq!(r.code(), "BAD_USER_INPUT");
    assert_eq!(
        r.input_errors(),
        vec![("to".into(), "INVALID_PHONE_NUMBER".into()), ("text".into(), "REQUIRED".into())]
    );
    let r = s.start_as(&s.app.admin_token, OUR, "Hi").await;
    assert_eq!(r.input_errors(), vec![("to".into(), "INVALID".into())]);
    assert_eq!(s.rows().await, before);

    let conv = s.start(CLIENT, "Hi").await;
    for (text, code) in [("", "REQUIRED"), (" \n\t ", "REQUIRED"), ("bell\u{7}", "INVALID")] {
        let r = s.send_as(&s.app.admin_token, &conv, text).await;
        assert_eq!(r.code(), "BAD_USER_INPUT");
        assert_eq!(r.input_errors(), vec![("text".into(), code.into())], "{text:?}");
    }
    let r = s.send_as(&s.app.admin_token, &conv, &"x".repeat(4097)).await;
    assert_eq!(r.input_errors(), vec![("text".into(), "TOO_LONG".into())]);
    let long = "é".repeat(4096);
    let r = s.send_as(&s.app.admin_token, &conv, &format!("  {long}\n")).await;
    assert_eq!(r.ok().data("/sendMessage/text"), &json!(long));
    let r = s.send_as(&s.app.admin_token, &conv, "line one\nline two").await;
    r.ok();

    // Unknown or malformed ids.
    let r = s.send_as(&s.app.admin_token, &Uuid::new_v4().to_string(), "Hi").await;
    assert_eq!(r.code(), "NOT_FOUND");
    let r = s.send_as(&s.app.admin_token, "not-an-id", "Hi").await;
    assert_eq!(r.code(), "NOT_FOUND");
    let r =
        s.app.admin(START, json!({ "c": s.channel, "n": Uuid::new_v4().to_string(), "to": CLIENT, "t": "Hi" })).await;
    assert_eq!(r.code(), "NOT_FOUND");
    let r = s.app.admin("{ conversations(first: 101) { nodes { id } } }", json!({})).await;
    assert_eq!(r.input_errors(), vec![("first".into(), "OUT_OF_RANGE".into())]);

    // A resolved conversation takes no more replies.
    s.settled(&conv, Duration::from_secs(20)).await;
    s.resolve(&conv).await;
    let r = s.send_as(&s.app.admin_token, &conv, "Hello?").await;
    assert_eq!((r.code(), field(&r)), ("CONFLICT".into(), "conversationId".into()), "{}", r.raw);
}

#[tokio::test]
async fn delivery_status_never_goes_backwards() {
    let s = setup(true).await;
    let conv = s.start(CLIENT, "one").await;
    s.send_as(&s.app.admin_token, &conv, "two").await.ok();
    let msgs = s.settled(&conv, Duration::from_secs(20)).await;
    let pid = |i: usize| msgs[i]["providerMessageId"].as_str().unwrap().to_owned();
    let (one, two) = (pid(0), pid(1));
    let engine = &s.app.engine;

    use DeliveryStatus::*;
    for (status, want) in [
        (Delivered, "DELIVERED"),
        (Sent, "DELIVERED"),
        (Failed, "DELIVERED"),
        (Read, "READ"),
        (Delivered, "READ"),
        (Failed, "READ"),
    ] {
        assert!(engine.apply_delivery_status(&one, status, Some("boom".into())).await.unwrap());
        assert_eq!(s.status_of(&conv, &one).await, (want.to_owned(), Value::Null), "after {status:?}");
    }
    assert!(engine.apply_delivery_status(&two, Failed, Some("recipient blocked".into())).await.unwrap());
    assert_eq!(s.status_of(&conv, &two).await, ("FAILED".to_owned(), json!("recipient blocked")));
    for status in [Delivered, Read, Sent] {
        assert!(engine.apply_delivery_status(&two, status, None).await.unwrap());
        assert_eq!(s.status_of(&conv, &two).await.0, "FAILED");
    }
    assert!(!engine.apply_delivery_status("nova-unknown", Delivered, None).await.unwrap());
    // An inbound message's provider id is never matched by a status.
    s.client_wrote("+4915112340005", ConversationStatus::Open).await;
    let all = message::Entity::find().all(&engine.db).await.unwrap();
    let inbound = all.iter().find(|m| m.direction == Direction::Inbound).unwrap();
    let pid = inbound.provider_message_id.clone().unwrap();
    assert!(!engine.apply_delivery_status(&pid, Read, None).await.unwrap());
}

#[tokio::test]
async fn racing_first_messages_to_one_client_open_one_conversation() {
    let s = setup(true).await;
    let texts: Vec<String> = (0..4).map(|i| format!("Hi {i}")).collect();
    let results = futures::future::join_all(texts.iter().map(|t| s.start_as(&s.app.admin_token, CLIENT, t))).await;
    let won: Vec<_> = results.iter().filter(|r| r.errors().is_empty()).collect();
    assert_eq!(won.len(), 1, "{results:?}");
    for r in results.iter().filter(|r| !r.errors().is_empty()) {
        assert_eq!((r.code(), field(r)), ("CONFLICT".into(), "to".into()), "{}", r.raw);
    }
    assert_eq!(s.rows().await, vec![1, 1, 1]);
    let conv = won[0].str("/startConversation/id");
    s.settled(&conv, Duration::from_secs(20)).await;
    assert_eq!(s.sim.sent().len(), 1);
}
