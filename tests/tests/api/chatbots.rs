//! Chatbots as real external services, over real sockets: the product posts each client's message of a PENDING
//! conversation to the chatbot simulator, signed, in order, with a stable idempotency key, retried; the simulator
//! answers through the GraphQL API with its bot token (replies reach the provider, hand-off starts distribution);
//! nobody is stranded (failure, timeout, disable and removal hand off); the bot token does nothing else; the
//! credentials are shown once and never again.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::acd::{Desk, KEY, OUR, client, desk_on};
use serde_json::{Value, json};
use std::time::Duration;
use tests::chatbot_sim::{ChatbotSim, Mode};
use tests::{ServingChatbot, TestApp, eventually};

const WAIT: Duration = Duration::from_secs(15);

const CONV: &str = "query($id: ID!) { conversation(id: $id) { id status substatus assignedAgent { id }
    enqueuedAt handOffReason handedOffAt chatbotDeadline resolution
    messages { direction text sender { id } chatbot { id name } } } }";

/// A desk (channel, agents, provider simulator) whose channel is served by a chatbot on its own simulator.
struct BotDesk {
    d: Desk,
    sim: ChatbotSim,
    bot: ServingChatbot,
}

async fn bot_desk(agents: usize, settings: Value) -> BotDesk {
    bot_desk_on(TestApp::spawn().await, agents, settings).await
}

async fn bot_desk_on(app: TestApp, agents: usize, settings: Value) -> BotDesk {
    let sim = ChatbotSim::start().await;
    let bot = app.serving_chatbot("Greeter", &sim).await;
    let mut s = settings;
    s["chatbotId"] = json!(bot.id);
    let d = desk_on(app, agents, s).await;
    d.sim.add_number(OUR, KEY, true);
    BotDesk { d, sim, bot }
}

impl BotDesk {
    async fn conv(&self, id: &str) -> Value {
        self.d.app.admin(CONV, json!({ "id": id })).await.ok().data("/conversation").clone()
    }

    async fn until(&self, id: &str, what: &str, f: impl Fn(&Value) -> bool) -> Value {
        eventually(WAIT, what, || async {
            let c = self.conv(id).await;
            f(&c).then_some(c)
        })
        .await
    }

    /// A mutation with the bot's token.
    async fn as_bot(&self, query: &str, vars: Value) -> tests::Gql {
        self.d.app.gql(Some(&self.bot.token), query, vars).await
    }

    /// Texts the provider simulator delivered to `to`, in order.
    fn delivered_to(&self, to: &str) -> Vec<String> {
        self.d.sim.sent().into_iter().filter(|m| m.to == to).map(|m| m.text).collect()
    }
}

const SEND: &str = "mutation($c: ID!, $t: String!) { sendMessage(conversationId: $c, text: $t) { id sender { id }
    chatbot { id } } }";
const HAND_OFF: &str = "mutation($id: ID!) { handOffConversation(id: $id) { id status handOffReason } }";
const RESOLVE: &str = "mutation($id: ID!) { resolveConversation(id: $id) { id status substatus resolution } }";

#[tokio::test]
async fn the_bot_greets_echoes_and_hands_off_to_an_agent() {
    let b = bot_desk(1, json!({})).await;
    b.d.online(0).await;
    let ana = client(1);
    let conv = b.d.write(&ana, "hello").await;

    // The post: signed with the signing secret, the contract's body, the message id as idempotency key.
    let posts = b.sim.wait_for_accepted(1, WAIT).await.unwrap();
    let p = &posts[0];
    assert!(p.signature_valid);
    assert_eq!(p.body["type"], json!("message"));
    assert_eq!(p.body["conversationId"], json!(conv));
    assert_eq!(p.body["channelId"], json!(b.d.channel));
    assert_eq!(p.body["message"]["text"], json!("hello"));
    assert_eq!(p.body["contact"]["phoneNumber"], json!(ana));
    assert_eq!(p.idempotency_key.as_deref(), p.body["message"]["id"].as_str());

    // The bot's replies reach the client through the provider, as the chatbot's messages.
    let replies = eventually(WAIT, "the bot's two replies to reach the provider", || async {
        let d = b.delivered_to(&ana);
        (d.len() == 2).then_some(d)
    })
    .await;
    assert!(replies[0].starts_with("Hi"), "{replies:?}");
    assert_eq!(replies[1], "You said: hello");
    let c = b.conv(&conv).await;
    assert_eq!(c["status"], json!("PENDING"));
    assert_eq!(c["chatbotDeadline"], Value::Null, "the bot answered: its timeout stopped");
    let outbound: Vec<&Value> =
        c["messages"].as_array().unwrap().iter().filter(|m| m["direction"] == json!("OUTBOUND")).collect();
    assert_eq!(outbound.len(), 2);
    for m in outbound {
        assert_eq!(m["sender"], Value::Null);
        assert_eq!(m["chatbot"], json!({ "id": b.bot.id, "name": "Greeter" }));
    }

    // "agent": the bot says so, hands off, and distribution offers it to the ONLINE agent.
    b.d.write(&ana, "agent").await;
    let c = b.until(&conv, "the offer to the agent", |c| c["substatus"] == json!("ALERTING")).await;
    assert_eq!(c["assignedAgent"]["id"], json!(b.d.id(0)));
    assert_eq!(c["handOffReason"], json!("CHATBOT"));
    assert_eq!(c["enqueuedAt"], c["handedOffAt"], "queued from the hand-off");
    let actions = b.sim.wait_for_actions(4, WAIT).await.unwrap();
    assert!(actions.iter().all(|a| a.result.is_ok()), "{actions:?}");
    // The bot's sendMessage returned once its reply was queued; the send itself follows.
    let delivered = eventually(WAIT, "the bot's third reply to reach the provider", || async {
        let d = b.delivered_to(&ana);
        (d.len() == 3).then_some(d)
    })
    .await;
    assert_eq!(delivered[2], "Connecting you to an agent.");

    // The bot gets nothing more of it.
    b.d.write(&ana, "still there?").await;
    b.d.app.drain_jobs().await;
    assert_eq!(b.sim.accepted_texts(&conv), vec!["hello", "agent"]);
}

#[tokio::test]
async fn posts_keep_their_order_per_conversation_and_each_arrives_once() {
    let b = bot_desk(0, json!({})).await;
    b.sim.set_mode(Mode::Silent);
    b.sim.set_delay(Duration::from_millis(30));
    let ana = client(2);
    let conv = b.d.write(&ana, "m0").await;
    // Eight more at once: processed concurrently, posted one at a time in the order they were stored.
    let texts: Vec<String> = (1..=8).map(|i| format!("m{i}")).collect();
    futures::future::join_all(texts.iter().map(|t| b.d.write(&ana, t))).await;
    b.sim.wait_for_accepted(9, WAIT).await.unwrap();
    let stored: Vec<String> = b.conv(&conv).await["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["direction"] == json!("INBOUND"))
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(stored.len(), 9);
    assert_eq!(b.sim.accepted_texts(&conv), stored, "the bot saw the messages in the conversation's order");
    assert!(b.sim.posts().iter().all(|p| !p.duplicate), "no message was posted twice");
}

#[tokio::test]
async fn failed_posts_are_retried_with_the_same_key() {
    let b = bot_desk(0, json!({})).await;
    b.sim.set_mode(Mode::Silent);
    b.sim.fail_next(2, 503);
    let conv = b.d.write(&client(3), "are you there?").await;
    b.sim.wait_for_accepted(1, WAIT).await.unwrap();
    let posts = b.sim.posts();
    assert_eq!(posts.iter().map(|p| p.answered).collect::<Vec<_>>(), vec![503, 503, 200]);
    let keys: Vec<_> = posts.iter().map(|p| p.idempotency_key.clone()).collect();
    assert!(keys.iter().all(|k| k.is_some() && *k == keys[0]), "one key across retries: {keys:?}");
    assert_eq!(b.conv(&conv).await["status"], json!("PENDING"));
}

#[tokio::test]
async fn a_bot_that_stays_unreachable_hands_off() {
    let b = bot_desk(0, json!({})).await;
    b.sim.set_down(true);
    let conv = b.d.write(&client(4), "hello?").await;
    // Five attempts, 1 + 2 + 4 + 8 s apart.
    let c = eventually(Duration::from_secs(40), "the hand-off after every attempt failed", || async {
        let c = b.conv(&conv).await;
        (c["status"] == json!("OPEN")).then_some(c)
    })
    .await;
    assert_eq!(c["substatus"], json!("IN_QUEUE"));
    assert_eq!(c["handOffReason"], json!("CHATBOT_UNREACHABLE"));
    assert_eq!(b.sim.posts().len(), worker::chatbots::delivery::POST_ATTEMPTS as usize);
}

#[tokio::test]
async fn a_bot_that_refuses_the_post_hands_off_at_once() {
    let b = bot_desk(0, json!({})).await;
    // The simulator holds another secret: the product's signature does not verify and it answers 401.
    b.sim.configure(&format!("{}/graphql", b.d.app.base), &b.bot.token, "not-the-secret");
    let conv = b.d.write(&client(5), "hello?").await;
    let c = b.until(&conv, "the hand-off", |c| c["status"] == json!("OPEN")).await;
    assert_eq!(c["handOffReason"], json!("CHATBOT_UNREACHABLE"));
    let posts = b.sim.posts();
    assert_eq!(posts.len(), 1, "a 401 is not retried");
    assert!(!posts[0].signature_valid);
}

#[tokio::test]
async fn a_silent_bot_times_out_and_the_conversation_is_handed_off() {
    let b = bot_desk(0, json!({ "chatbotTimeout": 5 })).await;
    b.sim.set_mode(Mode::Silent);
    let conv = b.d.write(&client(6), "hi").await;
    let c = b.conv(&conv).await;
    assert_eq!(c["status"], json!("PENDING"));
    let deadline = c["chatbotDeadline"].as_str().expect("a running chatbot deadline").to_owned();
    let c = b.until(&conv, "the timeout's hand-off", |c| c["status"] == json!("OPEN")).await;
    assert_eq!(c["handOffReason"], json!("CHATBOT_TIMEOUT"));
    let at = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap();
    let late = at(c["handedOffAt"].as_str().unwrap()) - at(&deadline);
    assert!(late >= chrono::Duration::zero(), "never before the deadline: {late}");
}

#[tokio::test]
async fn disabling_the_bot_or_removing_it_from_a_channel_hands_off_at_once() {
    let b = bot_desk(0, json!({})).await;
    b.sim.set_mode(Mode::Silent);
    let one = b.d.write(&client(7), "one").await;
    let two = b.d.write(&client(8), "two").await;
    b.sim.wait_for_accepted(2, WAIT).await.unwrap();
    let r =
        b.d.app
            .admin(
                "mutation($id: ID!) { updateChatbot(id: $id, input: { enabled: false }) { enabled serving } }",
                json!({ "id": b.bot.id }),
            )
            .await;
    assert_eq!(r.ok().data("/updateChatbot"), &json!({ "enabled": false, "serving": false }));
    for id in [&one, &two] {
        let c = b.conv(id).await;
        assert_eq!((c["status"].clone(), c["handOffReason"].clone()), (json!("OPEN"), json!("CHATBOT_DISABLED")));
    }
    // While disabled, new conversations go straight to the queue and nothing is posted.
    let posted = b.sim.posts().len();
    let three = b.d.write(&client(9), "three").await;
    assert_eq!(b.conv(&three).await["substatus"], json!("IN_QUEUE"));
    b.d.app.drain_jobs().await;
    assert_eq!(b.sim.posts().len(), posted);

    // Enabled again, then removed from the channel: its conversation is handed off at once.
    b.d.app
        .admin(
            "mutation($id: ID!) { updateChatbot(id: $id, input: { enabled: true }) { id } }",
            json!({ "id": b.bot.id }),
        )
        .await
        .ok();
    let four = b.d.write(&client(10), "four").await;
    assert_eq!(b.conv(&four).await["status"], json!("PENDING"));
    b.d.app
        .admin(
            "mutation($id: ID!) { updateChannel(id: $id, input: { chatbotId: null }) { id } }",
            json!({ "id": b.d.channel }),
        )
        .await
        .ok();
    let c = b.conv(&four).await;
    assert_eq!((c["status"].clone(), c["handOffReason"].clone()), (json!("OPEN"), json!("CHATBOT_REMOVED")));
}

#[tokio::test]
async fn the_bot_token_acts_only_on_pending_conversations_of_its_channels() {
    let b = bot_desk(0, json!({ "wrapUpCodes": ["Sold"] })).await;
    b.sim.set_mode(Mode::Silent);
    let conv = b.d.write(&client(11), "hi").await;

    // Everything but its three mutations is FORBIDDEN.
    for q in [
        "{ me { id } }",
        "{ channels(first: 5) { nodes { id } } }",
        "{ conversations(first: 5) { nodes { id } } }",
        "{ chatbots { id } }",
        "mutation { logout }",
    ] {
        assert_eq!(b.as_bot(q, json!({})).await.code(), "FORBIDDEN", "{q}");
    }
    let r = b.as_bot("query($id: ID!) { conversation(id: $id) { id } }", json!({ "id": conv })).await;
    assert_eq!(r.code(), "FORBIDDEN");
    let r = b.as_bot("mutation($id: ID!) { requeueConversation(id: $id) { id } }", json!({ "id": conv })).await;
    assert_eq!(r.code(), "FORBIDDEN");

    // Subscriptions refuse it at connection_init.
    let mut ws = tests::live::LiveClient::open(b.d.app.addr, tests::live::TRANSPORT_WS, None).await.unwrap();
    ws.init(json!({ "authorization": format!("Bearer {}", b.bot.token) })).await.unwrap();
    assert_eq!(ws.closed(WAIT).await.unwrap().0, Some(4403));

    // Another channel of the account (no chatbot): FORBIDDEN; another account's conversation: NOT_FOUND.
    let plain = desk_on_other_channel(&b).await;
    let r = b.as_bot(SEND, json!({ "c": plain, "t": "psst" })).await;
    assert_eq!(r.code(), "FORBIDDEN");
    let r = b.as_bot(HAND_OFF, json!({ "id": plain })).await;
    assert_eq!(r.code(), "FORBIDDEN");
    let foreign = uuid::Uuid::now_v7().to_string();
    assert_eq!(b.as_bot(RESOLVE, json!({ "id": foreign })).await.code(), "NOT_FOUND");

    // Its own: resolved at once without a code, even though the channel has wrap-up codes.
    let r = b.as_bot(SEND, json!({ "c": conv, "t": "Glad to help. Bye!" })).await;
    assert_eq!(r.ok().data("/sendMessage/chatbot/id"), &json!(b.bot.id));
    let r = b.as_bot(RESOLVE, json!({ "id": conv })).await;
    assert_eq!(
        r.ok().data("/resolveConversation"),
        &json!({ "id": conv, "status": "RESOLVED", "substatus": null, "resolution": "CHATBOT" })
    );
    // Not PENDING any more: a CONFLICT.
    assert_eq!(b.as_bot(SEND, json!({ "c": conv, "t": "one more" })).await.code(), "CONFLICT");

    // The client writes again: a new PENDING conversation, posted to the bot.
    let again = b.d.write(&client(11), "me again").await;
    assert_ne!(again, conv);
    assert_eq!(b.conv(&again).await["status"], json!("PENDING"));
    b.sim.wait_for_accepted(2, WAIT).await.unwrap();
    assert_eq!(b.sim.accepted_texts(&again), vec!["me again"]);

    // A rotated token stops working at once.
    b.d.app
        .admin("mutation($id: ID!) { rotateChatbotCredentials(id: $id) { token } }", json!({ "id": b.bot.id }))
        .await
        .ok();
    assert_eq!(b.as_bot(HAND_OFF, json!({ "id": again })).await.code(), "UNAUTHENTICATED");
}

/// A conversation in a second channel of the same account, without a chatbot.
async fn desk_on_other_channel(b: &BotDesk) -> String {
    let mut input = TestApp::channel_input("Plain");
    input["apiUrl"] = json!(b.d.sim.url());
    let channel = b.d.app.create_channel_as(&b.d.app.admin_token, input).await;
    b.d.app.add_number(&channel, "+14155550301", "plain-key-0001").await;
    let url = b.d.app.webhook_url(&channel).await;
    let event = tests::provider_sim::message_event("wamid-plain", "+14155550301", &client(12), "hello");
    let (status, _) = b.d.sim.post_webhook(&url, "plain-key-0001", &event).await;
    assert_eq!(status, 200);
    eventually(WAIT, "the plain channel's conversation", || async {
        let r = b
            .d
            .app
            .admin("query($c: ID) { conversations(channelId: $c, first: 5) { nodes { id } } }", json!({ "c": channel }))
            .await;
        r.ok().body.pointer("/data/conversations/nodes/0/id").and_then(Value::as_str).map(str::to_owned)
    })
    .await
}

#[tokio::test]
async fn staff_hand_off_is_recorded_as_staff() {
    let b = bot_desk(0, json!({})).await;
    b.sim.set_mode(Mode::Silent);
    let conv = b.d.write(&client(13), "hi").await;
    let r = b.d.app.admin(HAND_OFF, json!({ "id": conv })).await;
    assert_eq!(r.ok().data("/handOffConversation/handOffReason"), &json!("STAFF"));
}

#[tokio::test]
async fn test_chatbot_reports_the_answer_and_its_latency() {
    let app = TestApp::spawn().await;
    let sim = ChatbotSim::start().await;
    let bot = app.serving_chatbot("Pinged", &sim).await;
    const TEST: &str = "mutation($id: ID!) { testChatbot(id: $id) { ok statusCode latencyMs error } }";
    let r = app.admin(TEST, json!({ "id": bot.id })).await;
    let t = r.ok().data("/testChatbot").clone();
    assert_eq!((t["ok"].clone(), t["statusCode"].clone(), t["error"].clone()), (json!(true), json!(200), Value::Null));
    assert!(t["latencyMs"].as_i64().unwrap() >= 0);
    let ping = &sim.posts()[0];
    assert!(ping.signature_valid);
    assert_eq!(ping.body["type"], json!("ping"));

    sim.set_down(true);
    let t = app.admin(TEST, json!({ "id": bot.id })).await.ok().data("/testChatbot").clone();
    assert_eq!((t["ok"].clone(), t["statusCode"].clone()), (json!(false), json!(503)));
    assert!(t["error"].as_str().unwrap().contains("503"));

    // An agent may not; a chatbot without credentials cannot sign.
    let (_, agent) = app.user_with_token("AGENT").await;
    assert_eq!(app.gql(Some(&agent), TEST, json!({ "id": bot.id })).await.code(), "FORBIDDEN");
    let bare = app
        .admin("mutation { createChatbot(input: {name: \"Bare\", endpointUrl: \"http://127.0.0.1:9/x\"}) { id serving hasCredentials } }", json!({}))
        .await;
    assert_eq!(bare.ok().data("/createChatbot/serving"), &json!(false));
    let t = app.admin(TEST, json!({ "id": bare.str("/createChatbot/id") })).await.ok().data("/testChatbot").clone();
    assert_eq!(t["ok"], json!(false));
    assert!(t["error"].as_str().unwrap().contains("rotate its credentials"), "{t}");
}

#[tokio::test]
async fn chatbot_input_is_validated_field_by_field() {
    let app = TestApp::spawn().await;
    let r = app
        .admin("mutation { createChatbot(input: {name: \" \", endpointUrl: \"ftp://bot.example\"}) { id } }", json!({}))
        .await;
    assert_eq!(
        r.input_errors(),
        vec![("name".into(), "REQUIRED".into()), ("endpointUrl".into(), "INVALID_URL".into())]
    );
    let mut input = TestApp::channel_input("Slow bot");
    input["chatbotTimeout"] = json!(4);
    let r = app.admin("mutation($i: ChannelInput!) { createChannel(input: $i) { id } }", json!({ "i": input })).await;
    assert_eq!(r.input_errors(), vec![("chatbotTimeout".into(), "OUT_OF_RANGE".into())]);
    assert_eq!(app.count("chatbots").await + app.count("channels").await, 0, "nothing half-written");
}

#[tokio::test]
async fn the_credentials_are_shown_once_and_never_logged() {
    let b = bot_desk(0, json!({})).await;
    let conv = b.d.write(&client(14), "hello").await;
    b.sim.wait_for_actions(2, WAIT).await.unwrap();
    // Every way an admin can read the chatbot.
    let r =
        b.d.app
            .admin(
                "{ chatbots { id name description endpointUrl enabled hasCredentials credentialsRotatedAt serving } }",
                json!({}),
            )
            .await;
    assert_eq!(r.ok().data("/chatbots/0/hasCredentials"), &json!(true));
    let c = b.conv(&conv).await;
    let seen = format!("{}{c}", r.raw);
    let stored = entity_row(&b).await;
    for secret in [&b.bot.token, &b.bot.signing_secret] {
        assert!(!seen.contains(secret.as_str()), "a credential came back in a response");
        assert!(!stored.contains(secret.as_str()), "a credential is stored in plain text");
        assert!(!tests::logs::captured_logs().contains(secret.as_str()), "a credential was logged");
    }
}

async fn entity_row(b: &BotDesk) -> String {
    use sea_orm::EntityTrait;
    let row = entity::chatbot::Entity::find().all(&b.d.app.engine.db).await.unwrap();
    format!("{row:?}")
}

#[tokio::test]
async fn private_addresses_are_refused_when_saved_and_when_connecting() {
    let app = TestApp::spawn_strict_urls().await;
    let sim = ChatbotSim::start().await;
    let create = "mutation($u: String!) { createChatbot(input: {name: \"Probe\", endpointUrl: $u}) { id } }";
    for url in
        [sim.url(), "http://localhost:6379/".into(), "http://[::1]/".into(), "http://169.254.169.254/latest".into()]
    {
        let r = app.admin(create, json!({ "u": url })).await;
        assert_eq!(r.input_errors(), vec![("endpointUrl".into(), "PRIVATE_ADDRESS".into())], "{url}");
    }
    let mut input = TestApp::channel_input("Probe");
    input["apiUrl"] = json!("http://10.0.0.1/api");
    let r = app.admin("mutation($i: ChannelInput!) { createChannel(input: $i) { id } }", json!({ "i": input })).await;
    assert_eq!(r.input_errors(), vec![("apiUrl".into(), "PRIVATE_ADDRESS".into())]);
    assert_eq!(app.count("chatbots").await + app.count("channels").await, 0);

    // A URL that reaches a private address later (here: written behind the API's back, as a DNS change would
    // do) is refused when connecting: the simulator never hears of it.
    let bot = app.admin(create, json!({ "u": "https://bot.example.com/hook" })).await.ok().str("/createChatbot/id");
    app.admin("mutation($id: ID!) { rotateChatbotCredentials(id: $id) { token } }", json!({ "id": bot })).await.ok();
    {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
        entity::chatbot::Entity::update_many()
            .col_expr(entity::chatbot::Column::EndpointUrl, Expr::value(Some(sim.url())))
            .filter(entity::chatbot::Column::Id.eq(uuid::Uuid::parse_str(&bot).unwrap()))
            .exec(&app.engine.db)
            .await
            .unwrap();
    }
    let r =
        app.admin("mutation($id: ID!) { testChatbot(id: $id) { ok statusCode error } }", json!({ "id": bot })).await;
    let t = r.ok().data("/testChatbot").clone();
    assert_eq!((t["ok"].clone(), t["statusCode"].clone()), (json!(false), Value::Null));
    assert!(t["error"].as_str().unwrap().contains("APP_ALLOW_PRIVATE_URLS"), "{t}");
    assert!(sim.posts().is_empty());
}

#[tokio::test]
async fn the_chatbot_deadline_ends_when_the_conversation_leaves_the_bot() {
    let b = bot_desk(1, json!({ "chatbotTimeout": 600 })).await;
    b.sim.set_mode(Mode::Silent);
    b.d.status(b.d.token(0), "BUSY").await.ok();

    // A supervisor assigns a conversation the bot is serving: it is the agent's now, no bot timeout runs.
    let assigned = b.d.write(&client(15), "hi").await;
    assert!(b.conv(&assigned).await["chatbotDeadline"].is_string(), "the bot's timeout runs");
    let r = b
        .d
        .app
        .admin(
            "mutation($id: ID!, $u: ID!) { assignConversation(id: $id, userId: $u) { status substatus chatbotDeadline } }",
            json!({ "id": assigned, "u": b.d.id(0) }),
        )
        .await;
    assert_eq!(
        r.ok().data("/assignConversation"),
        &json!({ "status": "OPEN", "substatus": "INTERACTING", "chatbotDeadline": null })
    );

    // The bot resolves one without answering first.
    let resolved = b.d.write(&client(16), "hi").await;
    assert!(b.conv(&resolved).await["chatbotDeadline"].is_string());
    b.as_bot(RESOLVE, json!({ "id": resolved })).await.ok();
    let c = b.conv(&resolved).await;
    assert_eq!((c["status"].clone(), c["chatbotDeadline"].clone()), (json!("RESOLVED"), Value::Null));

    // Handed off (by the bot here; every hand-off takes the same path).
    let handed = b.d.write(&client(17), "hi").await;
    b.as_bot(HAND_OFF, json!({ "id": handed })).await.ok();
    let c = b.conv(&handed).await;
    assert_eq!((c["status"].clone(), c["chatbotDeadline"].clone()), (json!("OPEN"), Value::Null));
}

#[tokio::test]
async fn revoking_a_chatbots_credentials_stops_it_and_hands_off_what_it_served() {
    let b = bot_desk(0, json!({})).await;
    b.sim.set_mode(Mode::Silent);
    let conv = b.d.write(&client(18), "hi").await;
    b.sim.wait_for_accepted(1, WAIT).await.unwrap();
    const REVOKE: &str = "mutation($id: ID!) { revokeChatbotCredentials(id: $id) { id hasCredentials serving } }";

    // Admins only; another account's chatbot does not exist for them.
    let (_, sup) = b.d.app.user_with_token("SUPERVISOR").await;
    assert_eq!(b.d.app.gql(Some(&sup), REVOKE, json!({ "id": b.bot.id })).await.code(), "FORBIDDEN");
    let other = b.d.app.other_account().await;
    assert_eq!(b.d.app.gql(Some(&other), REVOKE, json!({ "id": b.bot.id })).await.code(), "NOT_FOUND");
    b.as_bot(SEND, json!({ "c": conv, "t": "still here" })).await.ok();

    let r = b.d.app.admin(REVOKE, json!({ "id": b.bot.id })).await;
    assert_eq!(
        r.ok().data("/revokeChatbotCredentials"),
        &json!({ "id": b.bot.id, "hasCredentials": false, "serving": false })
    );
    // Its token no longer authenticates; what it served went to the queue, as when a bot is disabled.
    assert_eq!(b.as_bot(HAND_OFF, json!({ "id": conv })).await.code(), "UNAUTHENTICATED");
    let c = b.conv(&conv).await;
    assert_eq!(
        (c["status"].clone(), c["substatus"].clone(), c["handOffReason"].clone()),
        (json!("OPEN"), json!("IN_QUEUE"), json!("CHATBOT_DISABLED"))
    );
    // New clients go straight to the queue; nothing more is posted to it. Revoking again changes nothing.
    let posted = b.sim.posts().len();
    let next = b.d.write(&client(19), "hello?").await;
    assert_eq!(b.conv(&next).await["substatus"], json!("IN_QUEUE"));
    b.d.app.drain_jobs().await;
    assert_eq!(b.sim.posts().len(), posted);
    let r = b.d.app.admin(REVOKE, json!({ "id": b.bot.id })).await;
    assert_eq!(r.ok().data("/revokeChatbotCredentials/hasCredentials"), &json!(false));
}
