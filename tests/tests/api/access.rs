//! Who may do what: configuration changes are for admins only, reads follow the role (agents see only the
//! channels whose agent list holds them), callers without a valid token get nothing, and another account's ids
//! answer exactly like ids that do not exist.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use tests::{Gql, PUBLIC_BASE, TestApp};

/// Everything an admin can see of the account, including what row counts cannot show (names, flags, keys'
/// hints, archive and delete marks, webhook URLs, `updatedAt`): equal before and after proves nothing changed.
const STATE_CHANNELS: &str = "query { channels(first: 100) { totalCount nodes { id name chatbot { id } \
    conversationType canWriteFirst provider apiUrl webhookUrl utilization autoAssignmentLimit autoAnswer \
    alertingTimeout wrapUpTimeout createdAt updatedAt \
    wrapUpCodes(includeArchived: true) { id name position archived archivedAt } agents { id } } } }";
const STATE_NUMBERS: &str = "query { channels(first: 100) { nodes { id phoneNumbers { id channelId phoneNumber \
    apiKeyHint enabled verification verificationError lastVerifiedAt state deletedAt updatedAt } } } }";
const STATE_DELETED_NUMBERS: &str = "query { channels(first: 100) { nodes { id \
    phoneNumbers(state: DELETED) { id channelId phoneNumber apiKeyHint enabled verification verificationError \
    lastVerifiedAt state deletedAt updatedAt } } } }";
const STATE_USERS: &str = "query { users { id email name role active } chatbots { id name description updatedAt } }";

/// The admin's whole view of the account.
async fn state(app: &TestApp) -> Value {
    let mut out = serde_json::Map::new();
    for (k, q) in [
        ("channels", STATE_CHANNELS),
        ("numbers", STATE_NUMBERS),
        ("deleted numbers", STATE_DELETED_NUMBERS),
        ("users", STATE_USERS),
    ] {
        let r = app.admin(q, json!({})).await;
        out.insert(k.to_owned(), r.ok().body["data"].clone());
    }
    Value::Object(out)
}

fn random_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The errors of a response without anything that depends on the request's ids.
fn errors_of(r: &Gql) -> Value {
    Value::Array(r.errors())
}

/// One account with something of everything, each id real and usable by an admin.
struct World {
    /// "Sales": chatbot `bot`, agents `listed` (+ whoever the test adds), codes Sold / Not interested, numbers.
    channel: String,
    /// A channel nothing else refers to (to be deleted).
    spare: String,
    bot: String,
    unused_bot: String,
    code: String,
    number: String,
    deleted_number: String,
    /// An AGENT on Sales's agent list.
    listed: String,
    /// An AGENT on no agent list.
    free: String,
    /// An AGENT nothing else refers to (to be deactivated).
    victim: String,
}

async fn world(app: &TestApp) -> World {
    let (listed, _) = app.user_with_token("AGENT").await;
    let (free, _) = app.user_with_token("AGENT").await;
    let (victim, _) = app.user_with_token("AGENT").await;
    let bot = app
        .admin("mutation { createChatbot(input: {name: \"Greeter\", description: \"Says hello\"}) { id } }", json!({}))
        .await
        .ok()
        .str("/createChatbot/id");
    let unused_bot = app
        .admin("mutation { createChatbot(input: {name: \"Unused\"}) { id } }", json!({}))
        .await
        .ok()
        .str("/createChatbot/id");
    let mut input = TestApp::channel_input("Sales");
    input["chatbotId"] = json!(bot);
    input["agentIds"] = json!([listed]);
    let channel = app.create_channel_as(&app.admin_token, input).await;
    let spare = app.create_channel("Spare").await;
    let code = app
        .admin("query($id: ID!) { channel(id: $id) { wrapUpCodes { id name } } }", json!({ "id": channel }))
        .await
        .ok()
        .str("/channel/wrapUpCodes/0/id");
    let number = app.add_number(&channel, "+14155550101", "key-active-0101").await;
    let deleted_number = app.add_number(&channel, "+14155550102", "key-deleted-0102").await;
    app.admin("mutation($id: ID!) { deletePhoneNumber(id: $id) { id } }", json!({ "id": deleted_number })).await.ok();
    World { channel, spare, bot, unused_bot, code, number, deleted_number, listed, free, victim }
}

/// Every configuration change, with real ids of the account and input an admin would get accepted.
fn config_changes(w: &World) -> Vec<(&'static str, &'static str, Value)> {
    let mut form = TestApp::channel_input("Created");
    form["chatbotId"] = json!(w.bot);
    form["agentIds"] = json!([w.free]);
    vec![
        (
            "createUser",
            "mutation($i: CreateUserInput!) { createUser(input: $i) { id } }",
            json!({ "i": { "email": "escalated@example.com", "name": "Escalated", "password": "correct horse battery", "role": "ADMIN" } }),
        ),
        ("deactivateUser", "mutation($id: ID!) { deactivateUser(id: $id) { id active } }", json!({ "id": w.victim })),
        (
            "createChatbot",
            "mutation($i: ChatbotInput!) { createChatbot(input: $i) { id } }",
            json!({ "i": { "name": "Another bot" } }),
        ),
        (
            "updateChatbot",
            "mutation($id: ID!, $i: ChatbotUpdateInput!) { updateChatbot(id: $id, input: $i) { id name } }",
            json!({ "id": w.bot, "i": { "name": "Renamed bot", "description": "changed" } }),
        ),
        ("deleteChatbot", "mutation($id: ID!) { deleteChatbot(id: $id) }", json!({ "id": w.unused_bot })),
        (
            "reviewChannel",
            "mutation($i: ChannelInput!) { reviewChannel(input: $i) { valid errors { field code } } }",
            json!({ "i": form }),
        ),
        ("createChannel", "mutation($i: ChannelInput!) { createChannel(input: $i) { id } }", json!({ "i": form })),
        (
            "updateChannel",
            "mutation($id: ID!, $i: ChannelUpdateInput!) { updateChannel(id: $id, input: $i) { id name } }",
            json!({ "id": w.channel, "i": { "name": "Renamed", "utilization": 80, "canWriteFirst": true, "chatbotId": null } }),
        ),
        (
            "rotateWebhookUrl",
            "mutation($id: ID!) { rotateWebhookUrl(channelId: $id) { id } }",
            json!({ "id": w.channel }),
        ),
        (
            "addWrapUpCode",
            "mutation($id: ID!, $n: String!) { addWrapUpCode(channelId: $id, name: $n) { id } }",
            json!({ "id": w.channel, "n": "Call back" }),
        ),
        (
            "renameWrapUpCode",
            "mutation($id: ID!, $n: String!) { renameWrapUpCode(id: $id, name: $n) { id name } }",
            json!({ "id": w.code, "n": "Sold out" }),
        ),
        (
            "archiveWrapUpCode",
            "mutation($id: ID!) { archiveWrapUpCode(id: $id) { id archived } }",
            json!({ "id": w.code }),
        ),
        (
            "addChannelAgent",
            "mutation($c: ID!, $u: ID!) { addChannelAgent(channelId: $c, userId: $u) { id } }",
            json!({ "c": w.channel, "u": w.free }),
        ),
        (
            "removeChannelAgent",
            "mutation($c: ID!, $u: ID!) { removeChannelAgent(channelId: $c, userId: $u) }",
            json!({ "c": w.channel, "u": w.listed }),
        ),
        (
            "addPhoneNumber",
            "mutation($c: ID!, $i: PhoneNumberInput!) { addPhoneNumber(channelId: $c, input: $i) { id } }",
            json!({ "c": w.channel, "i": { "phoneNumber": "+14155550199", "apiKey": "key-new-number-0199" } }),
        ),
        (
            "updatePhoneNumberApiKey",
            "mutation($id: ID!, $k: String!) { updatePhoneNumberApiKey(id: $id, apiKey: $k) { id apiKeyHint } }",
            json!({ "id": w.number, "k": "key-replaced-9876" }),
        ),
        (
            "setPhoneNumberEnabled",
            "mutation($id: ID!) { setPhoneNumberEnabled(id: $id, enabled: false) { id enabled } }",
            json!({ "id": w.number }),
        ),
        (
            "deletePhoneNumber",
            "mutation($id: ID!) { deletePhoneNumber(id: $id) { id state } }",
            json!({ "id": w.number }),
        ),
        (
            "restorePhoneNumber",
            "mutation($id: ID!) { restorePhoneNumber(id: $id) { id state } }",
            json!({ "id": w.deleted_number }),
        ),
        ("deleteChannel", "mutation($id: ID!) { deleteChannel(id: $id) }", json!({ "id": w.spare })),
    ]
}

#[tokio::test]
async fn supervisors_and_agents_cannot_change_configuration() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let (_, supervisor) = app.user_with_token("SUPERVISOR").await;
    let (agent_id, agent) = app.user_with_token("AGENT").await;
    // The agent works Sales, so what stops them is their role, not what they can see.
    app.admin(
        "mutation($c: ID!, $u: ID!) { addChannelAgent(channelId: $c, userId: $u) { id } }",
        json!({ "c": w.channel, "u": agent_id }),
    )
    .await
    .ok();
    let cases = config_changes(&w);
    let names: Vec<&str> = cases.iter().map(|(n, _, _)| *n).collect();
    for m in [
        "createUser",
        "deactivateUser",
        "createChatbot",
        "updateChatbot",
        "deleteChatbot",
        "reviewChannel",
        "createChannel",
        "updateChannel",
        "deleteChannel",
        "rotateWebhookUrl",
        "addWrapUpCode",
        "renameWrapUpCode",
        "archiveWrapUpCode",
        "addChannelAgent",
        "removeChannelAgent",
        "addPhoneNumber",
        "updatePhoneNumberApiKey",
        "setPhoneNumberEnabled",
        "deletePhoneNumber",
        "restorePhoneNumber",
    ] {
        assert!(names.contains(&m), "{m} is not covered");
    }

    let rows = app.snapshot().await;
    let view = state(&app).await;
    for (role, token) in [("SUPERVISOR", &supervisor), ("AGENT", &agent)] {
        for (name, query, vars) in &cases {
            let r = app.gql(Some(token), query, vars.clone()).await;
            assert_eq!(r.code(), "FORBIDDEN", "{name} as {role}: {}", r.raw);
            assert!(r.body["data"].is_null(), "{name} as {role} returned data: {}", r.raw);
            assert_eq!(app.snapshot().await, rows, "{name} as {role} wrote something");
            assert_eq!(state(&app).await, view, "{name} as {role} changed something");
        }
    }
    // The rows a count cannot show, spelled out.
    let r = app
        .admin(
            "query($id: ID!, $n: ID!, $d: ID!) { channel(id: $id) { name utilization canWriteFirst chatbot { id } \
             agents { id } wrapUpCodes(includeArchived: true) { name archived } } \
             n: phoneNumber(id: $n) { enabled state apiKeyHint } d: phoneNumber(id: $d) { state } }",
            json!({ "id": w.channel, "n": w.number, "d": w.deleted_number }),
        )
        .await;
    r.ok();
    assert_eq!(
        r.data("/channel"),
        &json!({ "name": "Sales", "utilization": 25, "canWriteFirst": false, "chatbot": { "id": w.bot },
            "agents": r.data("/channel/agents").clone(),
            "wrapUpCodes": [{ "name": "Sold", "archived": false }, { "name": "Not interested", "archived": false }] })
    );
    let mut agents: Vec<&str> =
        r.data("/channel/agents").as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap()).collect();
    agents.sort_unstable();
    let mut want = vec![w.listed.as_str(), agent_id.as_str()];
    want.sort_unstable();
    assert_eq!(agents, want);
    assert_eq!(r.data("/n"), &json!({ "enabled": true, "state": "ACTIVE", "apiKeyHint": "0101" }));
    assert_eq!(r.data("/d"), &json!({ "state": "DELETED" }));

    // The same requests are accepted from an admin: every id above was real and every input valid. And each
    // of them shows in the snapshot or the admin's view, so "unchanged" above really means nothing happened.
    for (name, query, vars) in &cases {
        let (rows_before, view_before) = (app.snapshot().await, state(&app).await);
        let r = app.admin(query, vars.clone()).await;
        assert!(r.errors().is_empty(), "{name} as ADMIN failed: {}", r.raw);
        if *name == "reviewChannel" {
            assert_eq!(r.data("/reviewChannel/valid"), &json!(true), "{}", r.raw);
            assert_eq!(app.snapshot().await, rows_before);
            assert_eq!(state(&app).await, view_before);
        } else {
            assert!(
                app.snapshot().await != rows_before || state(&app).await != view_before,
                "{name} as ADMIN left no trace the checks above could see"
            );
        }
    }
}

#[tokio::test]
async fn reads_follow_the_role() {
    let app = TestApp::spawn().await;
    let (sup_id, supervisor) = app.user_with_token("SUPERVISOR").await;
    let (agent_id, agent) = app.user_with_token("AGENT").await;
    let (_, _) = app.user_with_token("AGENT").await;
    app.admin("mutation { createChatbot(input: {name: \"Greeter\"}) { id } }", json!({})).await.ok();
    // The agent is on Alpha from the form and on Charlie by a later add; not on Bravo.
    let mut alpha_input = TestApp::channel_input("Alpha");
    alpha_input["agentIds"] = json!([agent_id]);
    let alpha = app.create_channel_as(&app.admin_token, alpha_input).await;
    let bravo = app.create_channel("Bravo").await;
    let charlie = app.create_channel("Charlie").await;
    app.admin(
        "mutation($c: ID!, $u: ID!) { addChannelAgent(channelId: $c, userId: $u) { id } }",
        json!({ "c": charlie, "u": agent_id }),
    )
    .await
    .ok();
    let alpha_number = app.add_number(&alpha, "+14155550111", "key-alpha-0111").await;
    let bravo_number = app.add_number(&bravo, "+14155550112", "key-bravo-0112").await;

    const LIST: &str =
        "query($q: String) { channels(nameContains: $q) { totalCount nodes { id name } edges { node { id } } } }";
    let names = |r: &Gql| -> Vec<String> {
        r.data("/channels/nodes").as_array().unwrap().iter().map(|n| n["name"].as_str().unwrap().to_owned()).collect()
    };
    const ONE: &str = "query($id: ID!) { channel(id: $id) { id name } }";

    // Supervisor: everything in the account.
    let r = app.gql(Some(&supervisor), LIST, json!({})).await;
    assert_eq!(names(r.ok()), ["Alpha", "Bravo", "Charlie"]);
    assert_eq!(r.data("/channels/totalCount"), &json!(3));
    for id in [&alpha, &bravo, &charlie] {
        let r = app.gql(Some(&supervisor), ONE, json!({ "id": id })).await;
        assert_eq!(r.ok().str("/channel/id"), *id);
    }
    let r = app
        .gql(Some(&supervisor), "query($id: ID!) { phoneNumber(id: $id) { id } }", json!({ "id": bravo_number }))
        .await;
    assert_eq!(r.ok().str("/phoneNumber/id"), bravo_number);
    const USERS: &str = "query { users { id email role active } }";
    const BOTS: &str = "query { chatbots { id name } }";
    let all_users = app.admin(USERS, json!({})).await;
    assert_eq!(all_users.ok().data("/users").as_array().unwrap().len(), 4);
    let r = app.gql(Some(&supervisor), USERS, json!({})).await;
    assert_eq!(r.ok().data("/users"), all_users.data("/users"));
    let all_bots = app.admin(BOTS, json!({})).await;
    assert_eq!(all_bots.ok().data("/chatbots").as_array().unwrap().len(), 1);
    let r = app.gql(Some(&supervisor), BOTS, json!({})).await;
    assert_eq!(r.ok().data("/chatbots"), all_bots.data("/chatbots"));
    let r = app.gql(Some(&supervisor), "query($id: ID!) { user(id: $id) { id } }", json!({ "id": agent_id })).await;
    assert_eq!(r.ok().str("/user/id"), agent_id);

    // Agent: only the channels whose agent list holds them.
    let r = app.gql(Some(&agent), LIST, json!({})).await;
    assert_eq!(names(r.ok()), ["Alpha", "Charlie"]);
    assert_eq!(r.data("/channels/totalCount"), &json!(2));
    assert_eq!(r.data("/channels/edges").as_array().unwrap().len(), 2, "{}", r.raw);
    let r = app.gql(Some(&agent), LIST, json!({ "q": "bravo" })).await;
    assert_eq!(names(r.ok()), Vec::<String>::new());
    assert_eq!(r.data("/channels/totalCount"), &json!(0));
    for id in [&alpha, &charlie] {
        let r = app.gql(Some(&agent), ONE, json!({ "id": id })).await;
        assert_eq!(r.ok().str("/channel/id"), *id);
    }
    let hidden = app.gql(Some(&agent), ONE, json!({ "id": bravo })).await;
    assert_eq!(hidden.code(), "NOT_FOUND", "{}", hidden.raw);
    let missing = app.gql(Some(&agent), ONE, json!({ "id": random_id() })).await;
    assert_eq!(
        errors_of(&hidden),
        errors_of(&missing),
        "a channel the agent is not on must look like one that does not exist"
    );
    // ...and the numbers of such a channel.
    const NUMBER: &str = "query($id: ID!) { phoneNumber(id: $id) { id } }";
    let r = app.gql(Some(&agent), NUMBER, json!({ "id": alpha_number })).await;
    assert_eq!(r.ok().str("/phoneNumber/id"), alpha_number);
    let hidden = app.gql(Some(&agent), NUMBER, json!({ "id": bravo_number })).await;
    assert_eq!(hidden.code(), "NOT_FOUND", "{}", hidden.raw);
    let missing = app.gql(Some(&agent), NUMBER, json!({ "id": random_id() })).await;
    assert_eq!(errors_of(&hidden), errors_of(&missing));
    // Account-wide lists are not for agents; other users neither.
    for q in [USERS, BOTS] {
        let r = app.gql(Some(&agent), q, json!({})).await;
        assert_eq!(r.code(), "FORBIDDEN", "{q}: {}", r.raw);
    }
    const USER: &str = "query($id: ID!) { user(id: $id) { id role } }";
    let r = app.gql(Some(&agent), USER, json!({ "id": sup_id })).await;
    assert_eq!(r.code(), "NOT_FOUND", "{}", r.raw);
    let missing = app.gql(Some(&agent), USER, json!({ "id": random_id() })).await;
    assert_eq!(errors_of(&r), errors_of(&missing));
    let r = app.gql(Some(&agent), USER, json!({ "id": agent_id })).await;
    assert_eq!(r.ok().data("/user"), &json!({ "id": agent_id, "role": "AGENT" }));

    // Taken off Alpha's list, the agent no longer sees it.
    app.admin(
        "mutation($c: ID!, $u: ID!) { removeChannelAgent(channelId: $c, userId: $u) }",
        json!({ "c": alpha, "u": agent_id }),
    )
    .await
    .ok();
    let r = app.gql(Some(&agent), LIST, json!({})).await;
    assert_eq!(names(r.ok()), ["Charlie"]);
    assert_eq!(r.data("/channels/totalCount"), &json!(1));
    let r = app.gql(Some(&agent), ONE, json!({ "id": alpha })).await;
    assert_eq!(r.code(), "NOT_FOUND", "{}", r.raw);

    // `me` works for everyone.
    let admin_id = app.admin("query { me { id } }", json!({})).await.ok().str("/me/id");
    for (token, id, role) in [
        (app.admin_token.as_str(), admin_id.as_str(), "ADMIN"),
        (supervisor.as_str(), sup_id.as_str(), "SUPERVISOR"),
        (agent.as_str(), agent_id.as_str(), "AGENT"),
    ] {
        let r = app.gql(Some(token), "query { me { id role active } }", json!({})).await;
        assert_eq!(r.ok().data("/me"), &json!({ "id": id, "role": role, "active": true }));
    }

    // The webhook URL holds a secret: admins only.
    const HOOK: &str = "query($id: ID!) { channel(id: $id) { id webhookUrl } }";
    let r = app.admin(HOOK, json!({ "id": charlie })).await;
    let url = r.ok().str("/channel/webhookUrl");
    assert!(url.starts_with(&format!("{PUBLIC_BASE}/webhooks/nova/")) && url.len() > PUBLIC_BASE.len() + 20, "{url}");
    for (role, token) in [("SUPERVISOR", &supervisor), ("AGENT", &agent)] {
        let r = app.gql(Some(token), HOOK, json!({ "id": charlie })).await;
        assert_eq!(r.code(), "FORBIDDEN", "{role}: {}", r.raw);
        assert!(!r.raw.contains(&url), "{role} saw the webhook URL: {}", r.raw);
        let r = app.gql(Some(token), "query { channels { nodes { webhookUrl } } }", json!({})).await;
        assert_eq!(r.code(), "FORBIDDEN", "{role}: {}", r.raw);
        assert!(!r.raw.contains("/webhooks/nova/"), "{role}: {}", r.raw);
    }
}

#[tokio::test]
async fn callers_without_a_valid_token_get_nothing() {
    let app = TestApp::spawn().await;
    app.create_channel("Sales").await;
    let before = app.snapshot().await;
    let requests = [
        ("me", "query { me { id } }", json!({})),
        ("channels", "query { channels { totalCount nodes { id name } } }", json!({})),
        (
            "createChannel",
            "mutation($i: ChannelInput!) { createChannel(input: $i) { id } }",
            json!({ "i": TestApp::channel_input("Sneaky") }),
        ),
    ];
    let garbage = format!("nva_{}", uuid::Uuid::new_v4().simple());
    for (who, token) in
        [("anonymous", None), ("garbage token", Some("garbage")), ("unknown token", Some(garbage.as_str()))]
    {
        for (name, query, vars) in &requests {
            let r = app.gql(token, query, vars.clone()).await;
            assert_eq!(r.code(), "UNAUTHENTICATED", "{name} as {who}: {}", r.raw);
            assert!(r.body["data"].is_null(), "{name} as {who}: {}", r.raw);
            assert!(!r.raw.contains("Sales"), "{name} as {who}: {}", r.raw);
        }
    }
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn another_account_cannot_tell_this_accounts_ids_from_missing_ones() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let (supervisor_id, _) = app.user_with_token("SUPERVISOR").await;
    let other = app.other_account().await;
    let (other_agent, _) = app.user_with_token_as(&other, "AGENT").await;
    let mut other_input = TestApp::channel_input("Other sales");
    other_input["agentIds"] = json!([other_agent]);
    let other_channel = app.create_channel_as(&other, other_input).await;

    let rows = app.snapshot().await;
    let view = state(&app).await;

    let form = |bot: &str, agent: &str| {
        let mut f = TestApp::channel_input("Borrowed");
        f["chatbotId"] = json!(bot);
        f["agentIds"] = json!([agent]);
        f
    };
    // (name, query, variables with this account's id, the same with a random id, the expected code)
    type Case = (&'static str, &'static str, Value, Value, &'static str);
    let random = random_id;
    let cases: Vec<Case> = vec![
        (
            "channel",
            "query($id: ID!) { channel(id: $id) { id name } }",
            json!({ "id": w.channel }),
            json!({ "id": random() }),
            "NOT_FOUND",
        ),
        (
            "phoneNumber (active)",
            "query($id: ID!) { phoneNumber(id: $id) { id phoneNumber } }",
            json!({ "id": w.number }),
            json!({ "id": random() }),
            "NOT_FOUND",
        ),
        (
            "phoneNumber (deleted)",
            "query($id: ID!) { phoneNumber(id: $id) { id phoneNumber } }",
            json!({ "id": w.deleted_number }),
            json!({ "id": random() }),
            "NOT_FOUND",
        ),
        (
            "user",
            "query($id: ID!) { user(id: $id) { id email } }",
            json!({ "id": w.listed }),
            json!({ "id": random() }),
            "NOT_FOUND",
        ),
        (
            "updateChannel",
            "mutation($id: ID!, $i: ChannelUpdateInput!) { updateChannel(id: $id, input: $i) { id } }",
            json!({ "id": w.channel, "i": { "name": "Hijacked", "utilization": 99 } }),
            json!({ "id": random(), "i": { "name": "Hijacked", "utilization": 99 } }),
            "NOT_FOUND",
        ),
        (
            "updateChannel (own channel, this account's chatbot)",
            "mutation($id: ID!, $i: ChannelUpdateInput!) { updateChannel(id: $id, input: $i) { id } }",
            json!({ "id": other_channel, "i": { "chatbotId": w.bot } }),
            json!({ "id": other_channel, "i": { "chatbotId": random() } }),
            "BAD_USER_INPUT",
        ),
        (
            "deleteChannel",
            "mutation($id: ID!) { deleteChannel(id: $id) }",
            json!({ "id": w.channel }),
            json!({ "id": random() }),
            "NOT_FOUND",
        ),
        (
            "rotateWebhookUrl",
            "mutation($id: ID!) { rotateWebhookUrl(channelId: $id) { id } }",
            json!({ "id": w.channel }),
            json!({ "id": random() }),
            "NOT_FOUND",
        ),
        (
            "addWrapUpCode",
            "mutation($id: ID!) { addWrapUpCode(channelId: $id, name: \"Planted\") { id } }",
            json!({ "id": w.channel }),
            json!({ "id": random() }),
            "NOT_FOUND",
        ),
        (
            "renameWrapUpCode",
            "mutation($id: ID!) { renameWrapUpCode(id: $id, name: \"Hijacked\") { id } }",
            json!({ "id": w.code }),
            json!({ "id": random() }),
            "NOT_FOUND",
        ),
        (
            "archiveWrapUpCode",
            "mutation($id: ID!) { archiveWrapUpCode(id: $id) { id } }",
            json!({ "id": w.code }),
            json!({ "id": random() }),
            "NOT_FOUND",
        ),
        (
            "addChannelAgent (this account's channel)",
            "mutation($c: ID!, $u: ID!) { addChannelAgent(channelId: $c, userId: $u) { id } }",
            json!({ "c": w.channel, "u": other_agent }),
            json!({ "c": random(), "u": other_agent }),
            "NOT_FOUND",
        ),
        (
            "addChannelAgent (own channel, this account's user)",
            "mutation($c: ID!, $u: ID!) { addChannelAgent(channelId: $c, userId: $u) { id } }",
            json!({ "c": other_channel, "u": w.free }),
            json!({ "c": other_channel, "u": random() }),
            "BAD_USER_INPUT",
        ),
        (
            "removeChannelAgent (this account's channel)",
            "mutation($c: ID!, $u: ID!) { removeChannelAgent(channelId: $c, userId: $u) }",
            json!({ "c": w.channel, "u": w.listed }),
            json!({ "c": random(), "u": w.listed }),
            "NOT_FOUND",
        ),
        (
            "removeChannelAgent (own channel, this account's user)",
            "mutation($c: ID!, $u: ID!) { removeChannelAgent(channelId: $c, userId: $u) }",
            json!({ "c": other_channel, "u": w.listed }),
            json!({ "c": other_channel, "u": random() }),
            "NOT_FOUND",
        ),
        (
            "addPhoneNumber",
            "mutation($c: ID!, $i: PhoneNumberInput!) { addPhoneNumber(channelId: $c, input: $i) { id } }",
            json!({ "c": w.channel, "i": { "phoneNumber": "+14155550177", "apiKey": "key-planted-0177" } }),
            json!({ "c": random(), "i": { "phoneNumber": "+14155550177", "apiKey": "key-planted-0177" } }),
            "NOT_FOUND",
        ),
        (
            "updatePhoneNumberApiKey",
            "mutation($id: ID!) { updatePhoneNumberApiKey(id: $id, apiKey: \"key-hijacked-6666\") { id } }",
            json!({ "id": w.number }),
            json!({ "id": random() }),
            "NOT_FOUND",
        ),
        (
            "setPhoneNumberEnabled",
            "mutation($id: ID!) { setPhoneNumberEnabled(id: $id, enabled: false) { id } }",
            json!({ "id": w.number }),
            json!({ "id": random() }),
            "NOT_FOUND",
        ),
        (
            "deletePhoneNumber",
            "mutation($id: ID!) { deletePhoneNumber(id: $id) { id } }",
            json!({ "id": w.number }),
            json!({ "id": random() }),
            "NOT_FOUND",
        ),
        (
            "restorePhoneNumber",
            "mutation($id: ID!) { restorePhoneNumber(id: $id) { id } }",
            json!({ "id": w.deleted_number }),
            json!({ "id": random() }),
            "NOT_FOUND",
        ),
        (
            "updateChatbot",
            "mutation($id: ID!) { updateChatbot(id: $id, input: {name: \"Hijacked\"}) { id } }",
            json!({ "id": w.bot }),
            json!({ "id": random() }),
            "NOT_FOUND",
        ),
        (
            "deleteChatbot",
            "mutation($id: ID!) { deleteChatbot(id: $id) }",
            json!({ "id": w.unused_bot }),
            json!({ "id": random() }),
            "NOT_FOUND",
        ),
        (
            "deactivateUser",
            "mutation($id: ID!) { deactivateUser(id: $id) { id } }",
            json!({ "id": w.victim }),
            json!({ "id": random() }),
            "NOT_FOUND",
        ),
        (
            "reviewChannel",
            "mutation($i: ChannelInput!) { reviewChannel(input: $i) { valid errors { field code message } } }",
            json!({ "i": form(&w.bot, &supervisor_id) }),
            json!({ "i": form(&random(), &random()) }),
            "",
        ),
        (
            "createChannel",
            "mutation($i: ChannelInput!) { createChannel(input: $i) { id } }",
            json!({ "i": form(&w.bot, &supervisor_id) }),
            json!({ "i": form(&random(), &random()) }),
            "BAD_USER_INPUT",
        ),
    ];
    for (name, query, theirs, missing, code) in &cases {
        let a = app.gql(Some(&other), query, theirs.clone()).await;
        let b = app.gql(Some(&other), query, missing.clone()).await;
        if code.is_empty() {
            // reviewChannel answers with data: the same verdict for both.
            assert_eq!(a.ok().data("/reviewChannel"), b.ok().data("/reviewChannel"), "{name}");
            assert_eq!(a.data("/reviewChannel/valid"), &json!(false), "{name}: {}", a.raw);
        } else {
            assert_eq!(a.code(), *code, "{name}: {}", a.raw);
            assert_eq!(
                errors_of(&a),
                errors_of(&b),
                "{name}: another account's id must answer exactly like a missing one"
            );
            assert!(a.body["data"].is_null(), "{name}: {}", a.raw);
        }
        assert_eq!(app.snapshot().await, rows, "{name} wrote something");
        assert_eq!(state(&app).await, view, "{name} changed this account");
    }
    // The field errors name what was not found.
    let find = |name: &str| cases.iter().find(|c| c.0 == name).map(|c| (c.1, c.2.clone())).unwrap();
    let (q, v) = find("addChannelAgent (own channel, this account's user)");
    let r = app.gql(Some(&other), q, v).await;
    assert_eq!(r.input_errors(), [("userId".to_owned(), "NOT_FOUND".to_owned())], "{}", r.raw);
    let (q, v) = find("createChannel");
    let r = app.gql(Some(&other), q, v).await;
    assert_eq!(
        r.input_errors(),
        [("chatbotId".to_owned(), "NOT_FOUND".to_owned()), ("agentIds[0]".to_owned(), "NOT_FOUND".to_owned())],
        "{}",
        r.raw
    );
    let (q, v) = find("updateChannel (own channel, this account's chatbot)");
    let r = app.gql(Some(&other), q, v).await;
    assert_eq!(r.input_errors(), [("chatbotId".to_owned(), "NOT_FOUND".to_owned())], "{}", r.raw);

    // The other account's lists hold only its own things.
    let r = app
        .gql(
            Some(&other),
            "query { channels { totalCount nodes { id name } } users { id } chatbots { id } }",
            json!({}),
        )
        .await;
    r.ok();
    assert_eq!(
        r.data("/channels"),
        &json!({ "totalCount": 1, "nodes": [{ "id": other_channel, "name": "Other sales" }] })
    );
    let users: Vec<&str> = r.data("/users").as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap()).collect();
    assert_eq!(users.len(), 2, "{}", r.raw);
    assert!(users.contains(&other_agent.as_str()));
    for mine in [&w.listed, &w.free, &w.victim, &supervisor_id] {
        assert!(!users.contains(&mine.as_str()), "{}", r.raw);
    }
    assert_eq!(r.data("/chatbots"), &json!([]));
    let r = app
        .gql(Some(&other), "query { channels(nameContains: \"sales\") { totalCount nodes { id } } }", json!({}))
        .await;
    assert_eq!(r.ok().data("/channels"), &json!({ "totalCount": 1, "nodes": [{ "id": other_channel }] }));

    // And this account's channel reads as before.
    let r = app
        .admin(
            "query($id: ID!) { channel(id: $id) { name utilization chatbot { id } agents { id } \
             wrapUpCodes(includeArchived: true) { name archived } phoneNumbers { id enabled apiKeyHint } \
             deleted: phoneNumbers(state: DELETED) { id } } }",
            json!({ "id": w.channel }),
        )
        .await;
    assert_eq!(
        r.ok().data("/channel"),
        &json!({ "name": "Sales", "utilization": 25, "chatbot": { "id": w.bot }, "agents": [{ "id": w.listed }],
            "wrapUpCodes": [{ "name": "Sold", "archived": false }, { "name": "Not interested", "archived": false }],
            "phoneNumbers": [{ "id": w.number, "enabled": true, "apiKeyHint": "0101" }],
            "deleted": [{ "id": w.deleted_number }] })
    );
}
