//! The channel form: every validation rule with its field path and code, review writes nothing, create is
//! atomic, partial updates.

use serde_json::{Value, json};
use tests::TestApp;

const REVIEW: &str = "mutation($i: ChannelInput!) { reviewChannel(input: $i) { valid errors { field code message } \
    channel { name conversationType canWriteFirst provider apiUrl utilization autoAssignmentLimit autoAnswer \
    alertingTimeout wrapUpTimeout wrapUpCodes chatbot { id name } agents { id } } } }";
const CREATE: &str = "mutation($i: ChannelInput!) { createChannel(input: $i) { id name } }";

fn with(mut base: Value, patch: Value) -> Value {
    if let (Some(b), Some(p)) = (base.as_object_mut(), patch.as_object()) {
        for (k, v) in p {
            if v.is_null() {
                b.remove(k);
            } else {
                b.insert(k.clone(), v.clone());
            }
        }
    }
    base
}

async fn review_errors(app: &TestApp, input: Value) -> Vec<(String, String)> {
    let r = app.admin(REVIEW, json!({ "i": input })).await;
    r.ok();
    r.data("/reviewChannel/errors")
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| (e["field"].as_str().unwrap_or("").to_owned(), e["code"].as_str().unwrap_or("").to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn every_rule_is_reported_with_its_field_and_code_by_review_and_create() {
    let app = TestApp::spawn().await;
    app.create_channel("Taken").await;
    let (admin_id, _) = app.user_with_token("ADMIN").await;
    let (agent_id, _) = app.user_with_token("AGENT").await;
    let (gone_id, _) = app.user_with_token("AGENT").await;
    app.admin("mutation($id: ID!) { deactivateUser(id: $id) { id } }", json!({ "id": gone_id })).await.ok();
    let long = "x".repeat(101);
    let cases: Vec<(Value, Vec<(&str, &str)>)> = vec![
        (json!({ "name": "" }), vec![("name", "REQUIRED")]),
        (json!({ "name": "   " }), vec![("name", "REQUIRED")]),
        (json!({ "name": long }), vec![("name", "TOO_LONG")]),
        (json!({ "name": "taken" }), vec![("name", "TAKEN")]),
        (json!({ "chatbotId": "not-an-id" }), vec![("chatbotId", "NOT_FOUND")]),
        (json!({ "chatbotId": uuid::Uuid::new_v4().to_string() }), vec![("chatbotId", "NOT_FOUND")]),
        (json!({ "apiUrl": "ftp://nova.example" }), vec![("apiUrl", "INVALID_URL")]),
        (json!({ "apiUrl": "/relative" }), vec![("apiUrl", "INVALID_URL")]),
        (json!({ "utilization": -1 }), vec![("utilization", "OUT_OF_RANGE")]),
        (json!({ "utilization": 101 }), vec![("utilization", "OUT_OF_RANGE")]),
        (json!({ "autoAssignmentLimit": 0 }), vec![("autoAssignmentLimit", "OUT_OF_RANGE")]),
        (json!({ "alertingTimeout": null }), vec![("alertingTimeout", "REQUIRED")]),
        (json!({ "alertingTimeout": 4 }), vec![("alertingTimeout", "OUT_OF_RANGE")]),
        (json!({ "autoAnswer": true }), vec![("alertingTimeout", "NOT_ALLOWED")]),
        (json!({ "wrapUpTimeout": 0 }), vec![("wrapUpTimeout", "OUT_OF_RANGE")]),
        (json!({ "wrapUpCodes": ["Sold", ""] }), vec![("wrapUpCodes[1]", "REQUIRED")]),
        (json!({ "wrapUpCodes": ["Sold", "sold "] }), vec![("wrapUpCodes[1]", "DUPLICATE")]),
        (json!({ "wrapUpCodes": ["Sold", long] }), vec![("wrapUpCodes[1]", "TOO_LONG")]),
        (json!({ "agentIds": ["nope"] }), vec![("agentIds[0]", "NOT_FOUND")]),
        (json!({ "agentIds": [agent_id, admin_id] }), vec![("agentIds[1]", "INVALID_ROLE")]),
        (json!({ "agentIds": [agent_id, agent_id] }), vec![("agentIds[1]", "DUPLICATE")]),
        (json!({ "agentIds": [gone_id] }), vec![("agentIds[0]", "INACTIVE")]),
    ];
    for (patch, want) in cases {
        let input = with(TestApp::channel_input("Fresh"), patch.clone());
        let got = review_errors(&app, input.clone()).await;
        let want: Vec<(String, String)> = want.iter().map(|(f, c)| (f.to_string(), c.to_string())).collect();
        assert_eq!(got, want, "review of {patch}");
        let r = app.admin(CREATE, json!({ "i": input })).await;
        assert_eq!(r.code(), "BAD_USER_INPUT", "create of {patch}: {}", r.raw);
        assert_eq!(r.input_errors(), want, "create of {patch}");
        assert_eq!(r.errors()[0]["extensions"]["field"], json!(want[0].0), "create of {patch}");
    }
    // Every error at once, in form order.
    let all = json!({ "name": "", "apiUrl": "x", "utilization": 500, "autoAssignmentLimit": 0, "autoAnswer": true,
        "alertingTimeout": 10, "wrapUpTimeout": -5, "wrapUpCodes": ["a", "A"], "agentIds": ["x"] });
    let fields: Vec<String> = review_errors(&app, all).await.into_iter().map(|(f, _)| f).collect();
    assert_eq!(
        fields,
        [
            "name",
            "apiUrl",
            "utilization",
            "autoAssignmentLimit",
            "alertingTimeout",
            "wrapUpTimeout",
            "wrapUpCodes[1]",
            "agentIds[0]"
        ]
    );
}

#[tokio::test]
async fn review_shows_the_channel_as_it_would_be_created_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let (agent_id, _) = app.user_with_token("AGENT").await;
    let bot = app
        .admin("mutation { createChatbot(input: {name: \"Greeter\"}) { id } }", json!({}))
        .await
        .ok()
        .str("/createChatbot/id");
    let input = with(
        TestApp::channel_input("  Support  "),
        json!({ "chatbotId": bot, "agentIds": [agent_id], "canWriteFirst": true }),
    );
    let before = app.snapshot().await;
    let r = app.admin(REVIEW, json!({ "i": input })).await;
    r.ok();
    assert_eq!(r.data("/reviewChannel/valid"), &json!(true));
    assert_eq!(
        r.data("/reviewChannel/channel"),
        &json!({ "name": "Support", "conversationType": "CHAT", "canWriteFirst": true, "provider": "NOVA_CHATS_CONNECTOR",
            "apiUrl": "https://nova.example.test/api", "utilization": 25, "autoAssignmentLimit": 4, "autoAnswer": false,
            "alertingTimeout": 30, "wrapUpTimeout": 60, "wrapUpCodes": ["Sold", "Not interested"],
            "chatbot": { "id": bot, "name": "Greeter" }, "agents": [{ "id": agent_id }] })
    );
    let bad = app.admin(REVIEW, json!({ "i": with(input.clone(), json!({ "name": "" })) })).await;
    assert_eq!(bad.data("/reviewChannel/valid"), &json!(false));
    assert_eq!(bad.data("/reviewChannel/channel"), &Value::Null);
    assert_eq!(app.snapshot().await, before, "review must not write");

    // Creating the reviewed form gives the same channel.
    let id = app.create_channel_as(&app.admin_token, input).await;
    let r = app
        .admin("query($id: ID!) { channel(id: $id) { name canWriteFirst chatbot { id } agents { id } wrapUpCodes { name position } } }", json!({ "id": id }))
        .await;
    assert_eq!(
        r.ok().data("/channel"),
        &json!({ "name": "Support", "canWriteFirst": true, "chatbot": { "id": bot }, "agents": [{ "id": agent_id }],
            "wrapUpCodes": [{ "name": "Sold", "position": 0 }, { "name": "Not interested", "position": 1 }] })
    );
}

#[tokio::test]
async fn create_is_all_or_nothing_when_a_later_insert_fails() {
    use sea_orm::ConnectionTrait;
    let app = TestApp::spawn().await;
    let (agent_id, _) = app.user_with_token("AGENT").await;
    // Make the agent-list insert (the last part of a create) fail inside the database.
    let sql: &[&str] = match app.db.backend {
        worker::config::Backend::Sqlite => &[
            "CREATE TRIGGER fail_agents BEFORE INSERT ON channel_agents BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
        ],
        worker::config::Backend::Postgres => &[
            "CREATE FUNCTION fail_agents() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER fail_agents BEFORE INSERT ON channel_agents FOR EACH ROW EXECUTE FUNCTION fail_agents()",
        ],
    };
    for s in sql {
        app.engine.db.execute_unprepared(s).await.unwrap_or_else(|e| panic!("{s}: {e}"));
    }
    let before = app.snapshot().await;
    let r = app
        .admin(CREATE, json!({ "i": with(TestApp::channel_input("Atomic"), json!({ "agentIds": [agent_id] })) }))
        .await;
    assert_eq!(r.code(), "INTERNAL_SERVER_ERROR");
    assert_eq!(r.errors()[0]["message"], json!("internal error"));
    assert!(!r.raw.contains("injected failure"), "database text leaked: {}", r.raw);
    assert_eq!(app.snapshot().await, before, "no channel or code may remain");
}

#[tokio::test]
async fn partial_updates_change_only_what_is_given_and_revalidate_the_whole() {
    let app = TestApp::spawn().await;
    let id = app.create_channel("Sales").await;
    app.create_channel("Billing").await;
    const UPDATE: &str = "mutation($id: ID!, $i: ChannelUpdateInput!) { updateChannel(id: $id, input: $i) { name apiUrl utilization \
        autoAssignmentLimit autoAnswer alertingTimeout wrapUpTimeout canWriteFirst conversationType } }";
    let up = |i: Value| app.admin(UPDATE, json!({ "id": id, "i": i }));

    let r = up(json!({ "utilization": 50 })).await;
    assert_eq!(
        r.ok().data("/updateChannel"),
        &json!({ "name": "Sales", "apiUrl": "https://nova.example.test/api", "utilization": 50, "autoAssignmentLimit": 4,
            "autoAnswer": false, "alertingTimeout": 30, "wrapUpTimeout": 60, "canWriteFirst": false, "conversationType": "CHAT" })
    );
    // Auto answer on clears the alerting timeout.
    let r = up(json!({ "autoAnswer": true })).await;
    assert_eq!(r.ok().data("/updateChannel/alertingTimeout"), &Value::Null);
    // A timeout is refused while auto answer is on.
    let r = up(json!({ "alertingTimeout": 20 })).await;
    assert_eq!(r.input_errors(), [("alertingTimeout".to_owned(), "NOT_ALLOWED".to_owned())]);
    // Auto answer off requires a timeout...
    let r = up(json!({ "autoAnswer": false })).await;
    assert_eq!(r.input_errors(), [("alertingTimeout".to_owned(), "REQUIRED".to_owned())]);
    // ...and accepts one given with it.
    let r = up(json!({ "autoAnswer": false, "alertingTimeout": 15 })).await;
    assert_eq!(r.ok().data("/updateChannel/alertingTimeout"), &json!(15));
    // null clears an optional value; other fields stay.
    let r = up(json!({ "wrapUpTimeout": null, "conversationType": "SOCIAL_MEDIA" })).await;
    assert_eq!(r.ok().data("/updateChannel/wrapUpTimeout"), &Value::Null);
    assert_eq!(r.data("/updateChannel/conversationType"), &json!("SOCIAL_MEDIA"));
    assert_eq!(r.data("/updateChannel/utilization"), &json!(50));
    // Same rules as create: several errors at once, nothing changed.
    let r = up(json!({ "name": "billing", "utilization": 101, "apiUrl": "nope" })).await;
    assert_eq!(
        r.input_errors(),
        [("name", "TAKEN"), ("apiUrl", "INVALID_URL"), ("utilization", "OUT_OF_RANGE")]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    let r = app.admin("query($id: ID!) { channel(id: $id) { name utilization apiUrl } }", json!({ "id": id })).await;
    assert_eq!(
        r.ok().data("/channel"),
        &json!({ "name": "Sales", "utilization": 50, "apiUrl": "https://nova.example.test/api" })
    );
    // Renaming to its own name in another case is fine.
    let r = up(json!({ "name": "SALES" })).await;
    assert_eq!(r.ok().data("/updateChannel/name"), &json!("SALES"));
}
