//! What surrounds a channel: chatbots, wrap-up codes, the agent list, the webhook URL, the paged channel list,
//! and the DataLoaders that keep listing many channels at a constant number of statements.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use tests::{Gql, TestApp};

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect()
}

fn names(v: &Value, key: &str) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|x| x[key].as_str().unwrap().to_owned())
        .collect()
}

fn assert_input_error(r: &Gql, want: &[(&str, &str)], what: &str) {
    assert_eq!(r.code(), "BAD_USER_INPUT", "{what}: {}", r.raw);
    assert_eq!(r.input_errors(), pairs(want), "{what}");
    assert_eq!(r.errors()[0]["extensions"]["field"], json!(want[0].0), "{what}");
}

async fn delete_channel(app: &TestApp, id: &str) {
    let r = app.admin("mutation($id: ID!) { deleteChannel(id: $id) }", json!({ "id": id })).await;
    assert_eq!(r.ok().data("/deleteChannel"), &json!(true));
}

// ---------------------------------------------------------------------------------------------------------------
// Chatbots

const CREATE_BOT: &str = "mutation($i: ChatbotInput!) { createChatbot(input: $i) { id name description } }";
const UPDATE_BOT: &str =
    "mutation($id: ID!, $i: ChatbotUpdateInput!) { updateChatbot(id: $id, input: $i) { id name description } }";
const DELETE_BOT: &str = "mutation($id: ID!) { deleteChatbot(id: $id) }";
const LIST_BOTS: &str = "query { chatbots { id name description } }";

async fn bot_names(app: &TestApp) -> Vec<String> {
    let r = app.admin(LIST_BOTS, json!({})).await;
    names(r.ok().data("/chatbots"), "name")
}

#[tokio::test]
async fn chatbots_are_created_updated_partially_and_listed_by_name() {
    let app = TestApp::spawn().await;
    let create = |i: Value| app.admin(CREATE_BOT, json!({ "i": i }));
    let r = create(json!({ "name": "  Beta  ", "description": "Second" })).await;
    let beta = r.ok().data("/createChatbot").clone();
    assert_eq!(beta["name"], json!("Beta"));
    assert_eq!(beta["description"], json!("Second"));
    let beta = beta["id"].as_str().unwrap().to_owned();
    let r = create(json!({ "name": "alpha" })).await;
    assert_eq!(r.ok().data("/createChatbot/description"), &Value::Null);
    let alpha = r.str("/createChatbot/id");
    create(json!({ "name": "Gamma", "description": "Third" })).await.ok();
    assert_eq!(bot_names(&app).await, ["alpha", "Beta", "Gamma"]);

    // Names are unique within the account, whatever the case; bad names and descriptions are refused.
    let before = app.snapshot().await;
    let long = "x".repeat(101);
    let too_long_description = "d".repeat(1001);
    for (input, want) in [
        (json!({ "name": "ALPHA" }), vec![("name", "TAKEN")]),
        (json!({ "name": " beta " }), vec![("name", "TAKEN")]),
        (json!({ "name": "" }), vec![("name", "REQUIRED")]),
        (json!({ "name": "   " }), vec![("name", "REQUIRED")]),
        (json!({ "name": long }), vec![("name", "TOO_LONG")]),
        (json!({ "name": "Delta", "description": too_long_description }), vec![("description", "TOO_LONG")]),
    ] {
        let r = create(input.clone()).await;
        assert_input_error(&r, &want, &format!("create {input}"));
    }
    assert_eq!(app.snapshot().await, before, "refused creates must write nothing");
    // Another account may use the same name.
    let other = app.other_account().await;
    app.gql(Some(&other), CREATE_BOT, json!({ "i": { "name": "Alpha" } })).await.ok();

    // Partial updates: omitted fields stay, null clears the description.
    let up = |i: Value| app.admin(UPDATE_BOT, json!({ "id": beta, "i": i }));
    let r = up(json!({ "name": "Zeta" })).await;
    assert_eq!(r.ok().data("/updateChatbot"), &json!({ "id": beta, "name": "Zeta", "description": "Second" }));
    let r = up(json!({ "description": "Changed" })).await;
    assert_eq!(r.ok().data("/updateChatbot"), &json!({ "id": beta, "name": "Zeta", "description": "Changed" }));
    let r = up(json!({ "description": null })).await;
    assert_eq!(r.ok().data("/updateChatbot"), &json!({ "id": beta, "name": "Zeta", "description": null }));
    let r = up(json!({})).await;
    assert_eq!(r.ok().data("/updateChatbot"), &json!({ "id": beta, "name": "Zeta", "description": null }));
    let r = up(json!({ "name": "GAMMA" })).await;
    assert_input_error(&r, &[("name", "TAKEN")], "rename to a taken name");
    let r = up(json!({ "name": "" })).await;
    assert_input_error(&r, &[("name", "REQUIRED")], "rename to nothing");
    // Its own name in another case is fine.
    let r = up(json!({ "name": "ZETA" })).await;
    assert_eq!(r.ok().data("/updateChatbot/name"), &json!("ZETA"));
    let r = app.admin(UPDATE_BOT, json!({ "id": uuid::Uuid::new_v4().to_string(), "i": { "name": "X" } })).await;
    assert_eq!(r.code(), "NOT_FOUND", "{}", r.raw);
    assert_eq!(bot_names(&app).await, ["alpha", "Gamma", "ZETA"]);

    // Delete.
    let r = app.admin(DELETE_BOT, json!({ "id": alpha })).await;
    assert_eq!(r.ok().data("/deleteChatbot"), &json!(true));
    assert_eq!(bot_names(&app).await, ["Gamma", "ZETA"]);
    let r = app.admin(DELETE_BOT, json!({ "id": alpha })).await;
    assert_eq!(r.code(), "NOT_FOUND", "{}", r.raw);
    // The freed name can be used again.
    create(json!({ "name": "Alpha" })).await.ok();
    assert_eq!(bot_names(&app).await, ["Alpha", "Gamma", "ZETA"]);
}

#[tokio::test]
async fn a_chatbot_used_by_a_live_channel_cannot_be_deleted() {
    let app = TestApp::spawn().await;
    let bot = app.admin(CREATE_BOT, json!({ "i": { "name": "Greeter" } })).await.ok().str("/createChatbot/id");
    let mut input = TestApp::channel_input("Support");
    input["chatbotId"] = json!(bot);
    let ch = app.create_channel_as(&app.admin_token, input).await;

    let before = app.snapshot().await;
    let r = app.admin(DELETE_BOT, json!({ "id": bot })).await;
    assert_eq!(r.code(), "CONFLICT", "{}", r.raw);
    assert_eq!(app.snapshot().await, before);
    assert_eq!(bot_names(&app).await, ["Greeter"]);
    let r = app.admin("query($id: ID!) { channel(id: $id) { chatbot { id name } } }", json!({ "id": ch })).await;
    assert_eq!(r.ok().data("/channel/chatbot"), &json!({ "id": bot, "name": "Greeter" }));

    delete_channel(&app, &ch).await;
    let r = app.admin(DELETE_BOT, json!({ "id": bot })).await;
    assert_eq!(r.ok().data("/deleteChatbot"), &json!(true));
    assert!(bot_names(&app).await.is_empty());
}

// ---------------------------------------------------------------------------------------------------------------
// Wrap-up codes

const CODE: &str = "id name position archived archivedAt";

async fn codes(app: &TestApp, ch: &str) -> (Value, Value) {
    let r = app
        .admin(
            &format!(
                "query($id: ID!) {{ channel(id: $id) {{ wrapUpCodes {{ {CODE} }} all: wrapUpCodes(includeArchived: true) {{ {CODE} }} }} }}"
            ),
            json!({ "id": ch }),
        )
        .await;
    r.ok();
    (r.data("/channel/wrapUpCodes").clone(), r.data("/channel/all").clone())
}

fn summary(list: &Value) -> Vec<(String, i64, bool)> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (c["name"].as_str().unwrap().to_owned(), c["position"].as_i64().unwrap(), c["archived"].as_bool().unwrap())
        })
        .collect()
}

fn code_list(v: &[(&str, i64, bool)]) -> Vec<(String, i64, bool)> {
    v.iter().map(|(n, p, a)| ((*n).to_owned(), *p, *a)).collect()
}

async fn add_code(app: &TestApp, ch: &str, name: &str) -> Gql {
    let q = format!("mutation($c: ID!, $n: String!) {{ addWrapUpCode(channelId: $c, name: $n) {{ {CODE} }} }}");
    app.admin(&q, json!({ "c": ch, "n": name })).await
}

async fn rename_code(app: &TestApp, id: &str, name: &str) -> Gql {
    let q = format!("mutation($id: ID!, $n: String!) {{ renameWrapUpCode(id: $id, name: $n) {{ {CODE} }} }}");
    app.admin(&q, json!({ "id": id, "n": name })).await
}

/// `archiveWrapUpCode` with the argument left to its default (`None`) or given.
async fn archive_code(app: &TestApp, id: &str, archived: Option<bool>) -> Gql {
    let (q, vars) = match archived {
        None => (format!("mutation($id: ID!) {{ archiveWrapUpCode(id: $id) {{ {CODE} }} }}"), json!({ "id": id })),
        Some(a) => (
            format!("mutation($id: ID!, $a: Boolean!) {{ archiveWrapUpCode(id: $id, archived: $a) {{ {CODE} }} }}"),
            json!({ "id": id, "a": a }),
        ),
    };
    app.admin(&q, vars).await
}

#[tokio::test]
async fn wrap_up_codes_are_added_renamed_archived_and_restored() {
    let app = TestApp::spawn().await;
    // The form created "Sold" (0) and "Not interested" (1).
    let ch = app.create_channel("Support").await;
    let r = add_code(&app, &ch, "  Call back  ").await;
    let cb = r.ok().data("/addWrapUpCode").clone();
    assert_eq!(cb["name"], json!("Call back"));
    assert_eq!(cb["position"], json!(2));
    assert_eq!(cb["archived"], json!(false));
    assert_eq!(cb["archivedAt"], Value::Null);
    let cb = cb["id"].as_str().unwrap().to_owned();

    // Refused names write nothing.
    let before = app.snapshot().await;
    let long = "x".repeat(101);
    for (name, code) in [
        ("sold", "TAKEN"),
        (" CALL BACK ", "TAKEN"),
        ("", "REQUIRED"),
        ("   ", "REQUIRED"),
        (long.as_str(), "TOO_LONG"),
    ] {
        let r = add_code(&app, &ch, name).await;
        assert_input_error(&r, &[("name", code)], &format!("add {name:?}"));
    }
    assert_eq!(app.snapshot().await, before);
    // 100 characters is the limit.
    let r = add_code(&app, &ch, &"y".repeat(100)).await;
    assert_eq!(r.ok().data("/addWrapUpCode/position"), &json!(3));

    // Rename.
    let r = rename_code(&app, &cb, "Call back later").await;
    assert_eq!(r.ok().data("/renameWrapUpCode/name"), &json!("Call back later"));
    assert_eq!(r.data("/renameWrapUpCode/position"), &json!(2));
    for (name, code) in [("SOLD", "TAKEN"), ("", "REQUIRED"), (long.as_str(), "TOO_LONG")] {
        let r = rename_code(&app, &cb, name).await;
        assert_input_error(&r, &[("name", code)], &format!("rename to {name:?}"));
    }
    let r = rename_code(&app, &cb, "CALL BACK LATER").await;
    assert_eq!(r.ok().data("/renameWrapUpCode/name"), &json!("CALL BACK LATER"));
    let r = rename_code(&app, &uuid::Uuid::new_v4().to_string(), "Whatever").await;
    assert_eq!(r.code(), "NOT_FOUND", "{}", r.raw);

    // Archive "Not interested": hidden from the default list, shown with includeArchived.
    let (active, all) = codes(&app, &ch).await;
    let ni = all[1]["id"].as_str().unwrap().to_owned();
    assert_eq!(summary(&active), summary(&all));
    let r = archive_code(&app, &ni, None).await;
    assert_eq!(r.ok().data("/archiveWrapUpCode/archived"), &json!(true));
    assert!(r.data("/archiveWrapUpCode/archivedAt").is_string());
    let archived_at = r.data("/archiveWrapUpCode/archivedAt").clone();
    let (active, all) = codes(&app, &ch).await;
    let y100 = "y".repeat(100);
    assert_eq!(summary(&active), code_list(&[("Sold", 0, false), ("CALL BACK LATER", 2, false), (&y100, 3, false)]));
    assert_eq!(
        summary(&all),
        code_list(&[("Sold", 0, false), ("Not interested", 1, true), ("CALL BACK LATER", 2, false), (&y100, 3, false)])
    );
    assert_eq!(all[1]["archivedAt"], archived_at);
    // Archiving again is harmless.
    let r = archive_code(&app, &ni, Some(true)).await;
    assert_eq!(r.ok().data("/archiveWrapUpCode/archived"), &json!(true));
    // A new code still goes after every existing one, archived ones included.
    let r = add_code(&app, &ch, "Wrong number").await;
    assert_eq!(r.ok().data("/addWrapUpCode/position"), &json!(4));

    // Restore it.
    let r = archive_code(&app, &ni, Some(false)).await;
    assert_eq!(r.ok().data("/archiveWrapUpCode/archived"), &json!(false));
    assert_eq!(r.data("/archiveWrapUpCode/archivedAt"), &Value::Null);
    let (active, all) = codes(&app, &ch).await;
    assert_eq!(
        summary(&active),
        code_list(&[
            ("Sold", 0, false),
            ("Not interested", 1, false),
            ("CALL BACK LATER", 2, false),
            (&y100, 3, false),
            ("Wrong number", 4, false)
        ])
    );
    assert_eq!(summary(&active), summary(&all));
}

// ---------------------------------------------------------------------------------------------------------------
// Channel agents

#[tokio::test]
async fn the_agent_list_takes_agents_and_supervisors_once_each() {
    let app = TestApp::spawn().await;
    let ch = app.create_channel("Support").await;
    let (agent, _) = app.user_with_token("AGENT").await;
    let (supervisor, _) = app.user_with_token("SUPERVISOR").await;
    let (admin, _) = app.user_with_token("ADMIN").await;
    let (gone, _) = app.user_with_token("AGENT").await;
    app.admin("mutation($id: ID!) { deactivateUser(id: $id) { id } }", json!({ "id": gone })).await.ok();
    let other = app.other_account().await;
    let (stranger, _) = app.user_with_token_as(&other, "AGENT").await;
    const ADD: &str = "mutation($c: ID!, $u: ID!) { addChannelAgent(channelId: $c, userId: $u) { id role } }";
    const REMOVE: &str = "mutation($c: ID!, $u: ID!) { removeChannelAgent(channelId: $c, userId: $u) }";
    let add = |u: &str| app.admin(ADD, json!({ "c": ch, "u": u }));
    let remove = |u: &str| app.admin(REMOVE, json!({ "c": ch, "u": u }));
    let listed = || async {
        let r = app.admin("query($id: ID!) { channel(id: $id) { agents { id } } }", json!({ "id": ch })).await;
        names(r.ok().data("/channel/agents"), "id")
    };

    let r = add(&agent).await;
    assert_eq!(r.ok().data("/addChannelAgent"), &json!({ "id": agent, "role": "AGENT" }));
    let r = add(&supervisor).await;
    assert_eq!(r.ok().data("/addChannelAgent"), &json!({ "id": supervisor, "role": "SUPERVISOR" }));
    // Ordered by name: "AGENT user" before "SUPERVISOR user".
    assert_eq!(listed().await, [agent.clone(), supervisor.clone()]);

    let before = app.snapshot().await;
    let r = add(&admin).await;
    assert_input_error(&r, &[("userId", "INVALID_ROLE")], "an admin");
    let r = add(&agent).await;
    assert_input_error(&r, &[("userId", "DUPLICATE")], "already listed");
    let r = add(&uuid::Uuid::new_v4().to_string()).await;
    assert_input_error(&r, &[("userId", "NOT_FOUND")], "unknown user");
    let r = add(&stranger).await;
    assert_input_error(&r, &[("userId", "NOT_FOUND")], "another account's user");
    let r = add(&gone).await;
    assert_input_error(&r, &[("userId", "INACTIVE")], "a deactivated user");
    assert_eq!(app.snapshot().await, before);
    assert_eq!(listed().await, [agent.clone(), supervisor.clone()]);

    let r = remove(&agent).await;
    assert_eq!(r.ok().data("/removeChannelAgent"), &json!(true));
    assert_eq!(listed().await, [supervisor.as_str()]);
    let r = remove(&agent).await;
    assert_eq!(r.code(), "NOT_FOUND", "{}", r.raw);
    let r = remove(&admin).await;
    assert_eq!(r.code(), "NOT_FOUND", "{}", r.raw);
    assert_eq!(listed().await, [supervisor.as_str()]);
    // Back again.
    add(&agent).await.ok();
    assert_eq!(listed().await, [agent, supervisor]);
}

// ---------------------------------------------------------------------------------------------------------------
// Webhook URL

fn token_of(url: &str) -> String {
    let prefix = format!("{}/webhooks/nova/", tests::PUBLIC_BASE);
    let token = url.strip_prefix(&prefix).unwrap_or_else(|| panic!("{url} does not start with {prefix}"));
    assert!(token.len() >= 40, "the token must be unguessable (>= 40 chars): {token:?}");
    assert!(
        token.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "the token must be URL-safe: {token:?}"
    );
    token.to_owned()
}

async fn webhook_url(app: &TestApp, ch: &str) -> String {
    app.admin("query($id: ID!) { channel(id: $id) { webhookUrl } }", json!({ "id": ch }))
        .await
        .ok()
        .str("/channel/webhookUrl")
}

async fn channel_of_token(app: &TestApp, token: &str) -> Option<String> {
    app.engine.channel_by_webhook_token(token).await.unwrap().map(|c| c.id.to_string())
}

#[tokio::test]
async fn webhook_urls_are_unguessable_rotate_and_die_with_their_channel() {
    let app = TestApp::spawn().await;
    let a = app.create_channel("A").await;
    let b = app.create_channel("B").await;
    let ta = token_of(&webhook_url(&app, &a).await);
    let tb = token_of(&webhook_url(&app, &b).await);
    assert_ne!(ta, tb);
    // Stable between reads.
    assert_eq!(token_of(&webhook_url(&app, &a).await), ta);
    assert_eq!(channel_of_token(&app, &ta).await, Some(a.clone()));
    assert_eq!(channel_of_token(&app, &tb).await, Some(b.clone()));
    assert_eq!(channel_of_token(&app, "wh_not-a-token").await, None);

    let r =
        app.admin("mutation($c: ID!) { rotateWebhookUrl(channelId: $c) { id webhookUrl } }", json!({ "c": a })).await;
    assert_eq!(r.ok().data("/rotateWebhookUrl/id"), &json!(a));
    let ta2 = token_of(&r.str("/rotateWebhookUrl/webhookUrl"));
    assert_ne!(ta2, ta);
    assert_ne!(ta2, tb);
    assert_eq!(token_of(&webhook_url(&app, &a).await), ta2);
    assert_eq!(channel_of_token(&app, &ta).await, None, "the old URL must stop at once");
    assert_eq!(channel_of_token(&app, &ta2).await, Some(a.clone()));
    assert_eq!(channel_of_token(&app, &tb).await, Some(b.clone()), "other channels keep theirs");

    delete_channel(&app, &a).await;
    assert_eq!(channel_of_token(&app, &ta2).await, None);
    assert_eq!(channel_of_token(&app, &tb).await, Some(b));
    let r = app.admin("mutation($c: ID!) { rotateWebhookUrl(channelId: $c) { id } }", json!({ "c": a })).await;
    assert_eq!(r.code(), "NOT_FOUND", "{}", r.raw);
}

// ---------------------------------------------------------------------------------------------------------------
// Channel list

const LIST: &str = "query($first: Int, $after: String, $q: String) { channels(first: $first, after: $after, nameContains: $q) { \
    edges { cursor node { id name } } nodes { name } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } totalCount } }";

struct Page {
    names: Vec<String>,
    has_next: bool,
    end: Option<String>,
    total: i64,
}

async fn page(app: &TestApp, first: Option<i64>, after: Option<&str>, q: Option<&str>) -> Page {
    let r = app.admin(LIST, json!({ "first": first, "after": after, "q": q })).await;
    r.ok();
    let c = r.data("/channels");
    let edges = c["edges"].as_array().unwrap();
    let names: Vec<String> = edges.iter().map(|e| e["node"]["name"].as_str().unwrap().to_owned()).collect();
    assert_eq!(names, self::names(&c["nodes"], "name"), "nodes = edges");
    let info = &c["pageInfo"];
    assert_eq!(info["hasPreviousPage"], json!(false));
    let end = info["endCursor"].as_str().map(str::to_owned);
    assert_eq!(
        end.as_deref(),
        edges.last().map(|e| e["cursor"].as_str().unwrap()),
        "endCursor is the last edge's cursor"
    );
    assert_eq!(
        info["startCursor"].as_str(),
        edges.first().map(|e| e["cursor"].as_str().unwrap()),
        "startCursor is the first edge's cursor"
    );
    Page { names, has_next: info["hasNextPage"].as_bool().unwrap(), end, total: c["totalCount"].as_i64().unwrap() }
}

/// Walks the whole list `size` at a time; every page must report the same total.
async fn walk(app: &TestApp, size: i64, q: Option<&str>) -> (Vec<Vec<String>>, i64) {
    let mut pages = Vec::new();
    let mut after: Option<String> = None;
    let mut total = None;
    loop {
        let p = page(app, Some(size), after.as_deref(), q).await;
        assert_eq!(*total.get_or_insert(p.total), p.total);
        pages.push(p.names.clone());
        if !p.has_next {
            break;
        }
        assert_eq!(p.names.len() as i64, size, "a page before the last is full");
        after = p.end;
        assert!(pages.len() < 50, "the list never ends");
    }
    (pages, total.unwrap_or(0))
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test]
async fn the_channel_list_pages_in_name_order() {
    let app = TestApp::spawn().await;
    for n in ["Golf", "bravo", "Echo", "Alpha", "delta", "foxtrot", "Charlie"] {
        app.create_channel(n).await;
    }
    let (pages, total) = walk(&app, 3, None).await;
    assert_eq!(
        pages,
        [strings(&["Alpha", "bravo", "Charlie"]), strings(&["delta", "Echo", "foxtrot"]), strings(&["Golf"]),]
    );
    assert_eq!(total, 7);

    let p = page(&app, Some(3), None, None).await;
    assert!(p.has_next);
    let p2 = page(&app, Some(4), p.end.as_deref(), None).await;
    assert_eq!(p2.names, ["delta", "Echo", "foxtrot", "Golf"]);
    assert!(!p2.has_next, "the last page has no next page");
    // After the last one: nothing.
    let p3 = page(&app, Some(3), p2.end.as_deref(), None).await;
    assert!(p3.names.is_empty());
    assert!(!p3.has_next);
    assert_eq!(p3.end, None);
    assert_eq!(p3.total, 7);
    // Exactly all of them, the default size, the largest size, none.
    let p = page(&app, Some(7), None, None).await;
    assert_eq!(p.names.len(), 7);
    assert!(!p.has_next);
    let p = page(&app, None, None, None).await;
    assert_eq!(p.names.len(), 7);
    let p = page(&app, Some(100), None, None).await;
    assert_eq!(p.names.len(), 7);
    let p = page(&app, Some(0), None, None).await;
    assert!(p.names.is_empty());
    assert!(p.has_next, "more channels exist after an empty page");
    assert_eq!(p.total, 7);

    // A filtered list pages the same way.
    let (pages, total) = walk(&app, 2, Some("A")).await;
    assert_eq!(pages, [strings(&["Alpha", "bravo"]), strings(&["Charlie", "delta"])]);
    assert_eq!(total, 4);

    // Bad arguments.
    for first in [101, -1, 1000] {
        let r = app.admin(LIST, json!({ "first": first })).await;
        assert_eq!(r.code(), "BAD_USER_INPUT", "first={first}: {}", r.raw);
        assert_eq!(r.errors()[0]["extensions"]["field"], json!("first"), "first={first}");
    }
    for after in ["garbage", "", "bm90LWEtY3Vyc29y", "%%%", "AAAA"] {
        let r = app.admin(LIST, json!({ "first": 3, "after": after })).await;
        assert_eq!(r.code(), "BAD_USER_INPUT", "after={after:?}: {}", r.raw);
        assert_eq!(r.errors()[0]["extensions"]["field"], json!("after"), "after={after:?}");
    }

    // Deleted channels leave the list; their names can be used again.
    let r = app.admin("query { channels(nameContains: \"bravo\") { nodes { id } } }", json!({})).await;
    let bravo = r.ok().str("/channels/nodes/0/id");
    delete_channel(&app, &bravo).await;
    let (pages, total) = walk(&app, 100, None).await;
    assert_eq!(pages, [strings(&["Alpha", "Charlie", "delta", "Echo", "foxtrot", "Golf"])]);
    assert_eq!(total, 6);
    let again = app.create_channel("BRAVO").await;
    assert_ne!(again, bravo);
    let (pages, total) = walk(&app, 3, None).await;
    assert_eq!(
        pages,
        [strings(&["Alpha", "BRAVO", "Charlie"]), strings(&["delta", "Echo", "foxtrot"]), strings(&["Golf"]),]
    );
    assert_eq!(total, 7);
    let r = app.admin("query($id: ID!) { channel(id: $id) { id } }", json!({ "id": bravo })).await;
    assert_eq!(r.code(), "NOT_FOUND", "{}", r.raw);
}

#[tokio::test]
async fn the_name_filter_is_case_insensitive_and_takes_wildcards_literally() {
    let app = TestApp::spawn().await;
    for n in ["50% off", "a_b", "ab", "Xylophone", "AXB"] {
        app.create_channel(n).await;
    }
    let other = app.other_account().await;
    app.create_channel_as(&other, TestApp::channel_input("ab elsewhere")).await;
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("%", vec!["50% off"]),
        ("0%", vec!["50% off"]),
        ("% OFF", vec!["50% off"]),
        ("_", vec!["a_b"]),
        ("A_B", vec!["a_b"]),
        ("ab", vec!["ab"]),
        ("AB", vec!["ab"]),
        ("xyl", vec!["Xylophone"]),
        ("x", vec!["AXB", "Xylophone"]),
        ("\\", vec![]),
        ("nothing like it", vec![]),
    ];
    for (q, want) in cases {
        let p = page(&app, Some(100), None, Some(q)).await;
        let mut got = p.names.clone();
        got.sort();
        let mut want = strings(&want);
        want.sort();
        assert_eq!(got, want, "nameContains {q:?}");
        assert_eq!(p.total, want.len() as i64, "totalCount for {q:?}");
        assert!(!p.has_next);
    }
    // No filter, or an empty one: the whole account.
    for q in [None, Some("")] {
        let p = page(&app, Some(100), None, q).await;
        assert_eq!(p.names.len(), 5, "nameContains {q:?}");
        assert_eq!(p.total, 5);
    }
}

// ---------------------------------------------------------------------------------------------------------------
// DataLoaders

const DEEP: &str = "query { channels(first: 100) { edges { node { name chatbot { name } phoneNumbers { phoneNumber } \
    deleted: phoneNumbers(state: DELETED) { id } wrapUpCodes { name } agents { name } } } totalCount } }";

/// A channel with its own chatbot, two agents, the form's two codes, an active and a deleted number.
async fn full_channel(app: &TestApp, i: usize, agents: &[String]) {
    let bot =
        app.admin(CREATE_BOT, json!({ "i": { "name": format!("Bot {i:02}") } })).await.ok().str("/createChatbot/id");
    let mut input = TestApp::channel_input(&format!("Channel {i:02}"));
    input["chatbotId"] = json!(bot);
    input["agentIds"] = json!(agents);
    let ch = app.create_channel_as(&app.admin_token, input).await;
    app.add_number(&ch, &format!("+4930{:06}", i * 10 + 1), "key-12345678").await;
    let gone = app.add_number(&ch, &format!("+4930{:06}", i * 10 + 2), "key-12345678").await;
    app.admin("mutation($id: ID!) { deletePhoneNumber(id: $id) { id } }", json!({ "id": gone })).await.ok();
}

/// The fewest statements the deep list query took over several runs (other tests share the counter), after
/// checking that every run returned all the related data.
async fn min_statements(app: &TestApp, channels: usize) -> u64 {
    let mut best = u64::MAX;
    for _ in 0..15 {
        let before = app.statements().await;
        let r = app.admin(DEEP, json!({})).await;
        let after = app.statements().await;
        r.ok();
        let edges = r.data("/channels/edges").as_array().unwrap();
        assert_eq!(edges.len(), channels);
        assert_eq!(r.data("/channels/totalCount"), &json!(channels));
        for (i, e) in edges.iter().enumerate() {
            let n = &e["node"];
            assert_eq!(n["name"], json!(format!("Channel {i:02}")));
            assert_eq!(n["chatbot"]["name"], json!(format!("Bot {i:02}")));
            assert_eq!(n["phoneNumbers"], json!([{ "phoneNumber": format!("+4930{:06}", i * 10 + 1) }]));
            assert_eq!(n["deleted"].as_array().unwrap().len(), 1);
            assert_eq!(n["wrapUpCodes"], json!([{ "name": "Sold" }, { "name": "Not interested" }]));
            assert_eq!(n["agents"].as_array().unwrap().len(), 2);
        }
        best = best.min(after - before);
    }
    best
}

#[tokio::test]
async fn listing_channels_with_their_relations_takes_a_constant_number_of_statements() {
    let app = TestApp::spawn().await;
    let (a1, _) = app.user_with_token("AGENT").await;
    let (a2, _) = app.user_with_token("SUPERVISOR").await;
    let agents = [a1, a2];
    for i in 0..3 {
        full_channel(&app, i, &agents).await;
    }
    let small = min_statements(&app, 3).await;
    for i in 3..30 {
        full_channel(&app, i, &agents).await;
    }
    let large = min_statements(&app, 30).await;
    assert_eq!(large, small, "statements per request: {small} for 3 channels, {large} for 30");
    assert!(small <= 10, "{small} statements for one list request");
}
