//! Lists inside lists are loaded in batches: the number of SQL statements of a page does not grow with the
//! number of its rows.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::acd::{Desk, client, desk_on};
use serde_json::{Value, json};
use std::time::Duration;
use tests::{Gql, TestApp, eventually};

const PAGE: &str = "{ conversations(first: 50) { nodes { id messages(last: 5) { id text sender { id } } } } }";
const COUNT: &str = "query($id: ID!) { conversation(id: $id) { messages(last: 500) { id } } }";

/// A conversation of the test: its id and its messages' `(text, sender id)`, oldest first.
struct Thread {
    id: String,
    messages: Vec<(String, Option<String>)>,
}

/// Client `i` writes, the admin answers, and so on: `n` messages in all, each stored before the next.
async fn thread(d: &Desk, admin: &str, i: u32, n: usize) -> Thread {
    let mut t = Thread { id: String::new(), messages: Vec::new() };
    for k in 0..n {
        let text = format!("c{i}-m{k}");
        if k % 2 == 0 {
            let id = d.write(&client(i), &text).await;
            t.id = id;
            t.messages.push((text, None));
        } else {
            let q = "mutation($c: ID!, $t: String!) { sendMessage(conversationId: $c, text: $t) { id } }";
            d.app.admin(q, json!({ "c": t.id, "t": text })).await.ok();
            t.messages.push((text, Some(admin.to_owned())));
        }
        eventually(Duration::from_secs(15), "the message to be stored", || async {
            let r = d.app.admin(COUNT, json!({ "id": t.id })).await;
            (r.ok().data("/conversation/messages").as_array().unwrap().len() == k + 1).then_some(())
        })
        .await;
    }
    t
}

/// The page shows, for each conversation, its last `last` messages oldest first with their senders.
fn check(r: &Gql, threads: &[Thread], path: &str, last: usize) {
    let nodes = r.data("/conversations/nodes").as_array().unwrap();
    assert_eq!(nodes.len(), threads.len());
    for t in threads {
        let node = nodes.iter().find(|n| n["id"] == json!(t.id)).unwrap();
        let got: Vec<(String, Option<String>)> = node[path]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["text"].as_str().unwrap().to_owned(), m["sender"]["id"].as_str().map(str::to_owned)))
            .collect();
        let want = &t.messages[t.messages.len().saturating_sub(last)..];
        assert_eq!(got, want, "messages of conversation {}", t.id);
    }
}

async fn min_statements(app: &TestApp, threads: &[Thread]) -> u64 {
    let mut best = u64::MAX;
    for _ in 0..15 {
        let before = app.statements().await;
        let r = app.admin(PAGE, json!({})).await;
        let after = app.statements().await;
        check(r.ok(), threads, "messages", 5);
        best = best.min(after - before);
    }
    best
}

#[tokio::test]
async fn conversation_messages_are_loaded_in_one_batch() {
    let d = desk_on(TestApp::spawn().await, 0, json!({})).await;
    let me = d.app.admin("{ me { id } }", json!({})).await;
    let admin = me.ok().data("/me/id").as_str().unwrap().to_owned();
    // From 2 to 7 messages each: some conversations have fewer than 5, some more.
    let mut threads = Vec::new();
    for i in 0..2 {
        threads.push(thread(&d, &admin, i, 2 + 5 * i as usize).await);
    }
    let few = min_statements(&d.app, &threads).await;
    for i in 2..12 {
        threads.push(thread(&d, &admin, i, 2 + i as usize % 6).await);
    }
    let many = min_statements(&d.app, &threads).await;
    assert_eq!(many, few, "statements with 12 conversations vs 2");

    // Two counts in one request: each conversation gets its own, whatever the other asks for.
    let q = "{ conversations(first: 50) { nodes { id two: messages(last: 2) { text sender { id } }
        messages(last: 5) { text sender { id } } none: messages(last: 0) { id } } } }";
    let r = d.app.admin(q, json!({})).await;
    check(r.ok(), &threads, "two", 2);
    check(r.ok(), &threads, "messages", 5);
    for n in r.data("/conversations/nodes").as_array().unwrap() {
        assert_eq!(n["none"], Value::Array(Vec::new()));
    }
}
