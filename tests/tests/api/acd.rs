//! The ACD over real HTTP with real workers: agent status, distribution within utilization and limits, offers
//! (accept, reject, timeout and their races), hold, resolve, wrap-up codes and their timeout, what supervisors
//! do by hand, and who may do what.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use std::time::Duration;
use tests::provider_sim::{ProviderSim, message_event};
use tests::{Gql, TestApp, eventually};

pub(crate) const KEY: &str = "acd-key-0001";
pub(crate) const OUR: &str = "+14155550300";
const WAIT: Duration = Duration::from_secs(15);

const CONV: &str = "query($id: ID!) { conversation(id: $id) { id status substatus assignedAgent { id }
    offerDeadline wrapUpDeadline wrapUpTimedOut wrapUpCode { id name } queuePosition resolution enqueuedAt } }";
const ME: &str = "{ me { id agentState { status substatus busyReason { id name } since utilization
    conversationCount } } }";
const ALL: &str = "query($c: ID) { conversations(channelId: $c, first: 100) { nodes { id status substatus
    assignedAgent { id } contact { phoneNumber } } } }";

pub(crate) struct Desk {
    pub(crate) app: TestApp,
    pub(crate) sim: ProviderSim,
    pub(crate) channel: String,
    pub(crate) url: String,
    /// `(user id, token)` of each agent, in creation order.
    pub(crate) agents: Vec<(String, String)>,
    pub(crate) sent: std::sync::atomic::AtomicU32,
}

pub(crate) fn client(i: u32) -> String {
    format!("+4915100000{i:03}")
}

/// A channel with `n` agents on its list (signed in: BUSY / SYSTEM) and the given settings over the defaults.
async fn desk(n: usize, settings: Value) -> Desk {
    desk_on(TestApp::spawn().await, n, settings).await
}

/// As `desk`, on an app started by the caller.
pub(crate) async fn desk_on(app: TestApp, n: usize, settings: Value) -> Desk {
    let sim = ProviderSim::start().await;
    let mut agents = Vec::new();
    for _ in 0..n {
        agents.push(app.user_with_token("AGENT").await);
    }
    let mut input = TestApp::channel_input("Support");
    input["apiUrl"] = json!(sim.url());
    input["agentIds"] = json!(agents.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>());
    for (k, v) in settings.as_object().cloned().unwrap_or_default() {
        input[k] = v;
    }
    let channel = app.create_channel_as(&app.admin_token, input).await;
    app.add_number(&channel, OUR, KEY).await;
    let url = app.webhook_url(&channel).await;
    Desk { app, sim, channel, url, agents, sent: Default::default() }
}

impl Desk {
    pub(crate) fn token(&self, i: usize) -> &str {
        &self.agents[i].1
    }
    pub(crate) fn id(&self, i: usize) -> &str {
        &self.agents[i].0
    }

    /// A client writes; returns the conversation's id once the worker has stored it.
    pub(crate) async fn write(&self, from: &str, text: &str) -> String {
        let n = self.sent.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let (status, body) =
            self.sim.post_webhook(&self.url, KEY, &message_event(&format!("wamid-{n}"), OUR, from, text)).await;
        assert_eq!(status, 200, "{body}");
        eventually(WAIT, "the conversation to be stored", || async {
            let r = self.app.admin(ALL, json!({ "c": self.channel })).await;
            r.ok().data("/conversations/nodes").as_array().unwrap().iter().find_map(|c| {
                (c["contact"]["phoneNumber"] == json!(from) && c["status"] != json!("RESOLVED"))
                    .then(|| c["id"].as_str().unwrap().to_owned())
            })
        })
        .await
    }

    pub(crate) async fn conv(&self, id: &str) -> Value {
        self.app.admin(CONV, json!({ "id": id })).await.ok().data("/conversation").clone()
    }

    /// Waits until the conversation is in `substatus` (or status, for RESOLVED / PENDING).
    pub(crate) async fn until(&self, id: &str, state: &str) -> Value {
        eventually(WAIT, &format!("conversation {id} to be {state}"), || async {
            let c = self.conv(id).await;
            (c["substatus"] == json!(state) || c["status"] == json!(state)).then_some(c)
        })
        .await
    }

    pub(crate) async fn status(&self, token: &str, status: &str) -> Gql {
        self.app
            .gql(
                Some(token),
                "mutation($s: AgentStatus!) { setMyStatus(status: $s) { status substatus } }",
                json!({ "s": status }),
            )
            .await
    }

    pub(crate) async fn online(&self, i: usize) {
        self.status(self.token(i), "ONLINE").await.ok();
    }

    pub(crate) async fn act(&self, token: &str, mutation: &str, id: &str) -> Gql {
        let q =
            format!("mutation($id: ID!) {{ {mutation}(id: $id) {{ id status substatus assignedAgent {{ id }} }} }}");
        self.app.gql(Some(token), &q, json!({ "id": id })).await
    }

    pub(crate) async fn me(&self, token: &str) -> Value {
        self.app.gql(Some(token), ME, json!({})).await.ok().data("/me/agentState").clone()
    }

    pub(crate) async fn code_id(&self, name: &str) -> String {
        let r = self
            .app
            .admin("query($id: ID!) { channel(id: $id) { wrapUpCodes { id name } } }", json!({ "id": self.channel }))
            .await;
        r.ok().data("/channel/wrapUpCodes").as_array().unwrap().iter().find(|c| c["name"] == json!(name)).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub(crate) async fn set_code(&self, token: &str, conv: &str, code: &str) -> Gql {
        self.app
            .gql(
                Some(token),
                "mutation($c: ID!, $w: ID!) { setWrapUpCode(conversationId: $c, wrapUpCodeId: $w) {
                    id status wrapUpCode { name } resolution wrapUpTimedOut } }",
                json!({ "c": conv, "w": code }),
            )
            .await
    }
}

fn reason(r: &Gql) -> String {
    r.errors().first().and_then(|e| e.pointer("/extensions/reason")).and_then(Value::as_str).unwrap_or("").to_owned()
}

#[tokio::test]
async fn sign_in_makes_agents_busy_and_they_choose_online() {
    let d = desk(1, json!({})).await;
    let s = d.me(d.token(0)).await;
    assert_eq!((s["status"].as_str(), s["substatus"].as_str()), (Some("BUSY"), Some("SYSTEM")));
    let r = d.status(d.token(0), "OFFLINE").await;
    assert_eq!(r.code(), "BAD_USER_INPUT", "OFFLINE is never chosen by hand");
    d.online(0).await;
    let s = d.me(d.token(0)).await;
    assert_eq!((s["status"].as_str(), s["substatus"].as_str()), (Some("ONLINE"), Some("IDLE")));

    // A busy reason of the account.
    let r = d.app.admin("mutation { createBusyReason(name: \"Lunch\") { id name archived } }", json!({})).await;
    let lunch = r.ok().str("/createBusyReason/id");
    let r = d
        .app
        .gql(
            Some(d.token(0)),
            "mutation($r: ID) { setMyStatus(status: BUSY, busyReasonId: $r) { status substatus busyReason { name } } }",
            json!({ "r": lunch }),
        )
        .await;
    assert_eq!(r.ok().data("/setMyStatus/substatus"), &json!("BUSY_REASON"));
    assert_eq!(r.data("/setMyStatus/busyReason/name"), &json!("Lunch"));
    // Agents cannot manage reasons; a duplicate name is refused; an archived reason cannot be chosen.
    let r = d.app.gql(Some(d.token(0)), "mutation { createBusyReason(name: \"Nap\") { id } }", json!({})).await;
    assert_eq!(r.code(), "FORBIDDEN");
    let r = d.app.admin("mutation { createBusyReason(name: \" lunch \") { id } }", json!({})).await;
    assert_eq!(r.input_errors(), vec![("name".to_owned(), "TAKEN".to_owned())]);
    d.app.admin("mutation($id: ID!) { archiveBusyReason(id: $id) { archived } }", json!({ "id": lunch })).await.ok();
    let r = d
        .app
        .gql(
            Some(d.token(0)),
            "mutation($r: ID) { setMyStatus(status: BUSY, busyReasonId: $r) { status } }",
            json!({ "r": lunch }),
        )
        .await;
    assert_eq!(r.input_errors(), vec![("busyReasonId".to_owned(), "ARCHIVED".to_owned())]);

    // Signing out of the last token: OFFLINE.
    d.app.gql(Some(d.token(0)), "mutation { logout }", json!({})).await.ok();
    let r = d.app.admin("query($id: ID!) { user(id: $id) { agentState { status } } }", json!({ "id": d.id(0) })).await;
    assert_eq!(r.ok().data("/user/agentState/status"), &json!("OFFLINE"));
}

#[tokio::test]
async fn an_offer_is_accepted_resolved_and_wrapped_up() {
    let d = desk(2, json!({ "utilization": 25, "alertingTimeout": 30 })).await;
    d.online(0).await;
    let conv = d.write(&client(1), "Hello").await;
    let c = d.until(&conv, "ALERTING").await;
    assert_eq!(c["assignedAgent"]["id"], json!(d.id(0)));
    assert!(c["offerDeadline"].is_string());
    assert_eq!(d.me(d.token(0)).await["utilization"], json!(25), "an offer counts toward utilization");

    // Another agent cannot accept it (they cannot even see it).
    assert_eq!(d.act(d.token(1), "acceptConversation", &conv).await.code(), "NOT_FOUND");
    let r = d.act(d.token(0), "acceptConversation", &conv).await;
    assert_eq!(r.ok().data("/acceptConversation/substatus"), &json!("INTERACTING"));
    // A desktop retrying its accept gets the same answer.
    let again = d.act(d.token(0), "acceptConversation", &conv).await;
    assert_eq!(again.ok().data("/acceptConversation"), r.data("/acceptConversation"));
    assert_eq!(d.me(d.token(0)).await["substatus"], json!("INTERACTING"));

    // Hold and resume; rejecting an accepted conversation is refused.
    assert_eq!(
        d.act(d.token(0), "holdConversation", &conv).await.ok().data("/holdConversation/substatus"),
        &json!("HOLD")
    );
    assert_eq!(d.me(d.token(0)).await["utilization"], json!(25), "HOLD still counts");
    assert_eq!(d.act(d.token(0), "holdConversation", &conv).await.code(), "CONFLICT");
    let r = d.act(d.token(0), "resumeConversation", &conv).await;
    assert_eq!(r.ok().data("/resumeConversation/substatus"), &json!("INTERACTING"));
    assert_eq!(d.act(d.token(0), "rejectConversation", &conv).await.code(), "CONFLICT");

    // Resolve: the channel has codes, so after-call work with a deadline.
    let r = d.act(d.token(0), "resolveConversation", &conv).await;
    assert_eq!(r.ok().data("/resolveConversation/substatus"), &json!("AFTER_CALL_WORK"));
    let c = d.conv(&conv).await;
    assert!(c["wrapUpDeadline"].is_string());
    assert_eq!(d.me(d.token(0)).await["utilization"], json!(25), "after-call work still counts");
    // A client writing now brings it back to the agent.
    d.write(&client(1), "One more thing").await;
    d.until(&conv, "INTERACTING").await;
    assert!(d.conv(&conv).await["wrapUpDeadline"].is_null());
    d.act(d.token(0), "resolveConversation", &conv).await.ok();

    // A code of another channel, or none at all, is refused; the right one resolves it.
    let r = d.set_code(d.token(0), &conv, &uuid::Uuid::new_v4().to_string()).await;
    assert_eq!(r.input_errors(), vec![("wrapUpCodeId".to_owned(), "NOT_FOUND".to_owned())]);
    let sold = d.code_id("Sold").await;
    let r = d.set_code(d.token(0), &conv, &sold).await;
    assert_eq!(r.ok().data("/setWrapUpCode/status"), &json!("RESOLVED"));
    assert_eq!(r.data("/setWrapUpCode/wrapUpCode/name"), &json!("Sold"));
    assert_eq!(r.data("/setWrapUpCode/resolution"), &json!("WRAP_UP_CODE"));
    let s = d.me(d.token(0)).await;
    assert_eq!((s["utilization"].clone(), s["substatus"].clone()), (json!(0), json!("IDLE")));
    d.app.drain_jobs().await;
}

#[tokio::test]
async fn without_codes_resolve_is_final_and_auto_answer_skips_alerting() {
    let d = desk(1, json!({ "autoAnswer": true, "alertingTimeout": null, "wrapUpCodes": [] })).await;
    d.online(0).await;
    let conv = d.write(&client(1), "Hi").await;
    let c = d.until(&conv, "INTERACTING").await;
    assert_eq!(c["assignedAgent"]["id"], json!(d.id(0)));
    assert!(c["offerDeadline"].is_null());
    let r = d.act(d.token(0), "resolveConversation", &conv).await;
    assert_eq!(r.ok().data("/resolveConversation/status"), &json!("RESOLVED"));
    assert_eq!(d.conv(&conv).await["resolution"], json!("AGENT"));
}

#[tokio::test]
async fn reject_requeues_in_place_and_excludes_until_everyone_said_no() {
    let d = desk(2, json!({ "alertingTimeout": 60 })).await;
    d.online(0).await;
    let first = d.write(&client(1), "First").await;
    d.until(&first, "ALERTING").await;
    let enqueued = d.conv(&first).await["enqueuedAt"].clone();
    let r = d.act(d.token(0), "rejectConversation", &first).await;
    assert_eq!(r.ok().data("/rejectConversation/substatus"), &json!("IN_QUEUE"));
    // The agent stays ONLINE and is not offered it again in this stint; nobody else is online: it waits.
    assert_eq!(d.me(d.token(0)).await["status"], json!("ONLINE"));
    let c = d.conv(&first).await;
    assert_eq!((c["substatus"].clone(), c["enqueuedAt"].clone()), (json!("IN_QUEUE"), enqueued.clone()));
    assert_eq!(c["queuePosition"], json!(1));
    // A later conversation is not blocked behind it.
    let second = d.write(&client(2), "Second").await;
    let c = d.until(&second, "ALERTING").await;
    assert_eq!(c["assignedAgent"]["id"], json!(d.id(0)));
    // Accepting the rejected one now is refused as withdrawn.
    assert_eq!(reason(&d.act(d.token(0), "acceptConversation", &first).await), "OFFER_WITHDRAWN");

    // The other agent comes online: the rejected conversation, first in the queue, goes to them.
    d.online(1).await;
    let c = d.until(&first, "ALERTING").await;
    assert_eq!(c["assignedAgent"]["id"], json!(d.id(1)));
    // They reject too: everyone on the list excluded it, so it is offered round again.
    d.act(d.token(1), "rejectConversation", &first).await.ok();
    let c = d.until(&first, "ALERTING").await;
    assert_eq!(c["enqueuedAt"], enqueued, "a requeued conversation keeps its place");
    d.app.drain_jobs().await;
}

#[tokio::test]
async fn an_unanswered_offer_times_out_and_the_agent_is_not_responding() {
    let d = desk(2, json!({ "alertingTimeout": 5 })).await;
    d.online(0).await;
    let conv = d.write(&client(1), "Hello?").await;
    let c = d.until(&conv, "ALERTING").await;
    let deadline: chrono::DateTime<chrono::Utc> = c["offerDeadline"].as_str().unwrap().parse().unwrap();
    // Nobody answers: back to the queue, and the agent is BUSY / NOT_RESPONDING.
    d.until(&conv, "IN_QUEUE").await;
    let late = chrono::Utc::now() - deadline;
    assert!(late >= chrono::Duration::zero(), "requeued before the deadline");
    println!("requeued {} ms after the deadline", late.num_milliseconds());
    let s = d.me(d.token(0)).await;
    assert_eq!((s["status"].as_str(), s["substatus"].as_str()), (Some("BUSY"), Some("NOT_RESPONDING")));
    assert_eq!(s["conversationCount"], json!(0));
    // The late accept is refused with the reason.
    let r = d.act(d.token(0), "acceptConversation", &conv).await;
    assert_eq!((r.code(), reason(&r)), ("CONFLICT".to_owned(), "OFFER_EXPIRED".to_owned()));
    // The next online agent gets it; the first is not offered it again until they are ONLINE and it returns.
    d.online(1).await;
    let c = d.until(&conv, "ALERTING").await;
    assert_eq!(c["assignedAgent"]["id"], json!(d.id(1)));
    d.act(d.token(1), "acceptConversation", &conv).await.ok();
    d.app.drain_jobs().await;
}

#[tokio::test]
async fn a_busy_agent_keeps_their_reason_when_an_offer_times_out() {
    let d = desk(1, json!({ "alertingTimeout": 5 })).await;
    d.online(0).await;
    let conv = d.write(&client(1), "Hello?").await;
    d.until(&conv, "ALERTING").await;
    d.status(d.token(0), "BUSY").await.ok();
    d.until(&conv, "IN_QUEUE").await;
    let s = d.me(d.token(0)).await;
    assert_eq!((s["status"].as_str(), s["substatus"].as_str()), (Some("BUSY"), Some("SYSTEM")));
}

#[tokio::test]
async fn utilization_and_limits_bound_distribution() {
    // 50 % each: at most 2 whatever the limit.
    let d = desk(1, json!({ "utilization": 50, "autoAssignmentLimit": 4 })).await;
    for i in 0..4 {
        d.write(&client(i), "hi").await;
    }
    d.online(0).await;
    let s = eventually(WAIT, "two offers", || async {
        let s = d.me(d.token(0)).await;
        (s["conversationCount"] == json!(2)).then_some(s)
    })
    .await;
    assert_eq!(s["utilization"], json!(100));
    d.app.drain_jobs().await;
    assert_eq!(d.me(d.token(0)).await["conversationCount"], json!(2), "never above 100");

    // 0 % with a limit of 2: the limit still holds; raising it distributes more at once.
    let d = desk(1, json!({ "utilization": 0, "autoAssignmentLimit": 2 })).await;
    let mut convs = Vec::new();
    for i in 0..4 {
        convs.push(d.write(&client(i), "hi").await);
    }
    d.online(0).await;
    eventually(WAIT, "two offers", || async {
        (d.me(d.token(0)).await["conversationCount"] == json!(2)).then_some(())
    })
    .await;
    d.app.drain_jobs().await;
    assert_eq!(d.me(d.token(0)).await["conversationCount"], json!(2));
    // The two oldest were offered, in queue order.
    assert_eq!(d.conv(&convs[0]).await["substatus"], json!("ALERTING"));
    assert_eq!(d.conv(&convs[1]).await["substatus"], json!("ALERTING"));
    assert_eq!(d.conv(&convs[2]).await["queuePosition"], json!(1));
    let r = d
        .app
        .admin(
            "mutation($id: ID!) { updateChannel(id: $id, input: { autoAssignmentLimit: 3 }) { autoAssignmentLimit } }",
            json!({ "id": d.channel }),
        )
        .await;
    r.ok();
    d.until(&convs[2], "ALERTING").await;
    assert_eq!(d.conv(&convs[3]).await["substatus"], json!("IN_QUEUE"));
}

#[tokio::test]
async fn going_offline_or_leaving_the_list_withdraws_offers() {
    let d = desk(2, json!({ "alertingTimeout": 60 })).await;
    d.online(0).await;
    let conv = d.write(&client(1), "Hi").await;
    d.until(&conv, "ALERTING").await;
    d.app.gql(Some(d.token(0)), "mutation { logout }", json!({})).await.ok();
    let c = d.until(&conv, "IN_QUEUE").await;
    assert!(c["assignedAgent"].is_null());

    d.online(1).await;
    let c = d.until(&conv, "ALERTING").await;
    assert_eq!(c["assignedAgent"]["id"], json!(d.id(1)));
    let r = d
        .app
        .admin(
            "mutation($c: ID!, $u: ID!) { removeChannelAgent(channelId: $c, userId: $u) }",
            json!({ "c": d.channel, "u": d.id(1) }),
        )
        .await;
    r.ok();
    d.until(&conv, "IN_QUEUE").await;
    assert_eq!(reason(&d.act(d.token(1), "acceptConversation", &conv).await), "OFFER_WITHDRAWN");
}

#[tokio::test]
async fn supervisors_assign_transfer_requeue_and_hand_off() {
    let d = desk(2, json!({ "utilization": 100, "autoAssignmentLimit": 1, "alertingTimeout": 60 })).await;
    let (sup_id, sup) = d.app.user_with_token("SUPERVISOR").await;
    let a = d.write(&client(1), "A").await;
    let b = d.write(&client(2), "B").await;
    // Agents cannot; an offline assignee is refused; the supervisor can, beyond utilization and limit.
    let assign =
        "mutation($id: ID!, $u: ID!) { assignConversation(id: $id, userId: $u) { substatus assignedAgent { id } } }";
    let r = d.app.gql(Some(d.token(0)), assign, json!({ "id": a, "u": d.id(0) })).await;
    assert_eq!(r.code(), "FORBIDDEN");
    d.app.gql(Some(d.token(0)), "mutation { logout }", json!({})).await.ok();
    let r = d.app.gql(Some(&sup), assign, json!({ "id": a, "u": d.id(0) })).await;
    assert_eq!(r.input_errors(), vec![("userId".to_owned(), "OFFLINE".to_owned())]);
    // Agent 1 is BUSY (signed in): manual assignment still works, twice, above 100 %.
    for conv in [&a, &b] {
        let r = d.app.gql(Some(&sup), assign, json!({ "id": conv, "u": d.id(1) })).await;
        assert_eq!(r.ok().data("/assignConversation/substatus"), &json!("INTERACTING"));
    }
    let s = d.me(d.token(1)).await;
    assert_eq!((s["utilization"].clone(), s["conversationCount"].clone()), (json!(200), json!(2)));
    // The agent sees them although they could not have been distributed to them.
    let r = d.app.gql(Some(d.token(1)), "{ conversations { nodes { id } } }", json!({})).await;
    assert_eq!(r.ok().data("/conversations/nodes").as_array().unwrap().len(), 2);

    // Transfer to the supervisor (who is signed in), then requeue.
    let transfer =
        "mutation($id: ID!, $u: ID!) { transferConversation(id: $id, userId: $u) { substatus assignedAgent { id } } }";
    let r = d.app.gql(Some(&sup), transfer, json!({ "id": a, "u": sup_id })).await;
    assert_eq!(r.ok().data("/transferConversation/assignedAgent/id"), &json!(sup_id));
    assert_eq!(d.me(d.token(1)).await["conversationCount"], json!(1));
    let r = d.act(&sup, "requeueConversation", &a).await;
    assert_eq!(r.ok().data("/requeueConversation/substatus"), &json!("IN_QUEUE"));
    let r = d
        .app
        .admin("query($c: ID!) { queue(channelId: $c) { nodes { id queuePosition } } }", json!({ "c": d.channel }))
        .await;
    assert_eq!(r.ok().data("/queue/nodes"), &json!([{ "id": a, "queuePosition": 1 }]));
    // Another account sees none of it.
    let other = d.app.other_account().await;
    assert_eq!(d.act(&other, "requeueConversation", &b).await.code(), "NOT_FOUND");
    let r = d.app.gql(Some(&other), assign, json!({ "id": b, "u": d.id(1) })).await;
    assert_eq!(r.code(), "NOT_FOUND");
}

#[tokio::test]
async fn a_chatbot_conversation_is_handed_off_to_the_queue() {
    let app_bot = desk(1, json!({})).await;
    let bot_sim = tests::chatbot_sim::ChatbotSim::start().await;
    bot_sim.set_mode(tests::chatbot_sim::Mode::Silent);
    let bot = app_bot.app.serving_chatbot("Greeter", &bot_sim).await.id;
    app_bot
        .app
        .admin(
            "mutation($id: ID!, $b: ID) { updateChannel(id: $id, input: { chatbotId: $b }) { id } }",
            json!({ "id": app_bot.channel, "b": bot }),
        )
        .await
        .ok();
    app_bot.online(0).await;
    let conv = app_bot.write(&client(1), "Hi bot").await;
    assert_eq!(app_bot.conv(&conv).await["status"], json!("PENDING"));
    assert_eq!(app_bot.act(app_bot.token(0), "handOffConversation", &conv).await.code(), "FORBIDDEN");
    let r = app_bot.act(&app_bot.app.admin_token, "handOffConversation", &conv).await;
    r.ok();
    let c = app_bot.until(&conv, "ALERTING").await;
    assert_eq!(c["assignedAgent"]["id"], json!(app_bot.id(0)));
}

#[tokio::test]
async fn the_wrap_up_timeout_resolves_without_a_code() {
    let d = desk(1, json!({ "autoAnswer": true, "alertingTimeout": null, "wrapUpTimeout": 1 })).await;
    d.online(0).await;
    let conv = d.write(&client(1), "Hi").await;
    d.until(&conv, "INTERACTING").await;
    d.act(d.token(0), "resolveConversation", &conv).await.ok();
    let c = d.until(&conv, "RESOLVED").await;
    assert_eq!((c["wrapUpTimedOut"].clone(), c["resolution"].clone()), (json!(true), json!("WRAP_UP_TIMEOUT")));
    let sold = d.code_id("Sold").await;
    let r = d.set_code(d.token(0), &conv, &sold).await;
    assert_eq!((r.code(), reason(&r)), ("CONFLICT".to_owned(), "WRAP_UP_EXPIRED".to_owned()));
    assert_eq!(d.me(d.token(0)).await["utilization"], json!(0));
    d.app.drain_jobs().await;
}

#[tokio::test]
async fn deleting_a_channel_resolves_what_waits() {
    let d = desk(1, json!({ "alertingTimeout": 60, "autoAssignmentLimit": 1 })).await;
    d.online(0).await;
    let ringing = d.write(&client(1), "Hello").await;
    d.until(&ringing, "ALERTING").await;
    let waiting = d.write(&client(2), "Anyone?").await;
    assert_eq!(d.conv(&waiting).await["substatus"], json!("IN_QUEUE"));
    d.app.admin("mutation($id: ID!) { deleteChannel(id: $id) }", json!({ "id": d.channel })).await.ok();
    for conv in [&ringing, &waiting] {
        let c = d.conv(conv).await;
        assert_eq!((c["status"].clone(), c["resolution"].clone()), (json!("RESOLVED"), json!("CHANNEL_DELETED")));
    }
    // The offer was taken away from the agent, whose load is gone; it is not theirs to see any more.
    assert_eq!(reason(&d.act(d.token(0), "acceptConversation", &ringing).await), "OFFER_WITHDRAWN");
    let r = d.app.gql(Some(d.token(0)), "{ conversations { totalCount } }", json!({})).await;
    assert_eq!(r.ok().data("/conversations/totalCount"), &json!(0));
    assert_eq!(d.me(d.token(0)).await["utilization"], json!(0));
}

#[tokio::test]
async fn jobs_written_in_a_transaction_run() {
    use sea_orm::TransactionTrait;
    let app = TestApp::spawn().await;
    let txn = app.engine.db.begin().await.unwrap();
    // A send job for a message that does not exist: apalis must pick it up and run it to Done.
    let job = worker::conversations::outbound::SendMessage { message_id: uuid::Uuid::new_v4(), attempt: 0 };
    worker::jobs::enqueue(&txn, &job, worker::jobs::Due::Now).await.unwrap();
    txn.commit().await.unwrap();
    app.drain_jobs().await;
    // And a rolled-back job never existed.
    let before = app.jobs_due().await;
    let txn = app.engine.db.begin().await.unwrap();
    worker::jobs::enqueue(&txn, &job, worker::jobs::Due::Now).await.unwrap();
    txn.rollback().await.unwrap();
    assert_eq!(app.jobs_due().await, before);
}

#[tokio::test]
async fn conversations_page_as_a_connection_with_filters() {
    let d = desk(1, json!({ "alertingTimeout": 60 })).await;
    let mut convs = Vec::new();
    for i in 0..3 {
        convs.push(d.write(&client(i), "hi").await);
    }
    let page = "query($after: String, $s: ConversationSubstatus, $u: ID) {
        conversations(first: 2, after: $after, substatus: $s, assigneeId: $u) {
            totalCount edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }";
    let r = d.app.admin(page, json!({})).await;
    let ids = |r: &Gql| -> Vec<String> {
        r.data("/conversations/edges")
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(r.ok().data("/conversations/totalCount"), &json!(3));
    assert_eq!(r.data("/conversations/pageInfo/hasNextPage"), &json!(true));
    // Newest first.
    assert_eq!(ids(&r), vec![convs[2].clone(), convs[1].clone()]);
    let after = r.str("/conversations/pageInfo/endCursor");
    let r = d.app.admin(page, json!({ "after": after })).await;
    assert_eq!(ids(r.ok()), vec![convs[0].clone()]);
    assert_eq!(r.data("/conversations/pageInfo/hasNextPage"), &json!(false));
    let r = d.app.admin(page, json!({ "after": "not-a-cursor" })).await;
    assert_eq!(r.input_errors(), vec![("after".to_owned(), "INVALID_CURSOR".to_owned())]);

    // Filters: the oldest goes to the agent; the others wait.
    d.online(0).await;
    d.until(&convs[0], "ALERTING").await;
    eventually(WAIT, "all three offered to the agent (25 % each, limit 4)", || async {
        let r = d.app.admin(page, json!({ "u": d.id(0) })).await;
        (r.data("/conversations/totalCount") == &json!(3)).then_some(())
    })
    .await;
    let r = d.app.admin(page, json!({ "s": "IN_QUEUE" })).await;
    assert_eq!(r.ok().data("/conversations/totalCount"), &json!(0));
    let r = d.app.admin(page, json!({ "s": "ALERTING", "u": d.id(0) })).await;
    assert_eq!(r.ok().data("/conversations/totalCount"), &json!(3));
    let r = d.app.admin(page, json!({ "u": uuid::Uuid::new_v4().to_string() })).await;
    assert_eq!(r.ok().data("/conversations/totalCount"), &json!(0));
}

/// The fewest statements `query` took over several runs (the counter is shared with the workers and other
/// tests), after checking the answer with `check`.
async fn min_statements(app: &TestApp, query: &str, check: impl Fn(&Gql)) -> u64 {
    let mut best = u64::MAX;
    for _ in 0..15 {
        let before = app.statements().await;
        let r = app.admin(query, json!({})).await;
        let after = app.statements().await;
        check(r.ok());
        best = best.min(after - before);
    }
    best
}

#[tokio::test]
async fn agent_states_and_queue_positions_are_loaded_in_batches() {
    let d = desk(2, json!({})).await;
    for i in 0..2 {
        d.write(&client(i), "hi").await;
    }
    let users = "{ users { id agentState { status utilization } } }";
    let queue = format!("{{ queue(channelId: \"{}\") {{ nodes {{ id queuePosition }} }} }}", d.channel);
    let positions = |n: usize| {
        move |r: &Gql| {
            let got: Vec<Value> =
                r.data("/queue/nodes").as_array().unwrap().iter().map(|c| c["queuePosition"].clone()).collect();
            assert_eq!(got, (1..=n).map(|p| json!(p)).collect::<Vec<_>>());
        }
    };
    let states = |n: usize| {
        move |r: &Gql| {
            let with =
                r.data("/users").as_array().unwrap().iter().filter(|u| u["agentState"]["status"] == json!("BUSY"));
            assert_eq!(with.count(), n);
        }
    };
    let few_users = min_statements(&d.app, users, states(2)).await;
    let few_waiting = min_statements(&d.app, &queue, positions(2)).await;
    for _ in 0..4 {
        d.app.user_with_token("AGENT").await;
    }
    for i in 2..6 {
        d.write(&client(i), "hi").await;
    }
    assert_eq!(min_statements(&d.app, users, states(6)).await, few_users, "agent states per user");
    assert_eq!(min_statements(&d.app, &queue, positions(6)).await, few_waiting, "queue positions per conversation");
}

#[tokio::test]
async fn the_queue_pages_as_a_connection_in_offer_order() {
    // Nobody ONLINE: everything waits.
    let d = desk(1, json!({})).await;
    for i in 0..7 {
        d.write(&client(i), "hi").await;
    }
    let q = "query($c: ID!, $n: Int, $a: String) { queue(channelId: $c, first: $n, after: $a) {
        totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id queuePosition } } } }";
    let mut positions = Vec::new();
    let mut after = Value::Null;
    let mut pages = 0;
    loop {
        let r = d.app.admin(q, json!({ "c": d.channel, "n": 3, "a": after })).await;
        let r = r.ok();
        assert_eq!(r.data("/queue/totalCount"), &json!(7));
        let edges = r.data("/queue/edges").as_array().unwrap().clone();
        assert!(edges.len() <= 3);
        positions.extend(edges.iter().map(|e| e["node"]["queuePosition"].as_u64().unwrap()));
        pages += 1;
        if r.data("/queue/pageInfo/hasNextPage") != &json!(true) {
            break;
        }
        assert_eq!(edges.last().unwrap()["cursor"], *r.data("/queue/pageInfo/endCursor"));
        after = r.data("/queue/pageInfo/endCursor").clone();
    }
    assert_eq!(pages, 3, "7 waiting, 3 a page");
    assert_eq!(positions, (1..=7).collect::<Vec<u64>>(), "every waiting conversation once, in offer order");

    let r = d.app.admin(q, json!({ "c": d.channel, "n": 101 })).await;
    assert_eq!(r.input_errors(), [("first".to_owned(), "OUT_OF_RANGE".to_owned())]);
    let r = d.app.admin(q, json!({ "c": d.channel, "n": 3, "a": "not-a-cursor" })).await;
    assert_eq!(r.input_errors(), [("after".to_owned(), "INVALID_CURSOR".to_owned())]);
}

#[tokio::test]
async fn an_exclusion_lasts_one_queue_stint() {
    let d = desk(2, json!({ "alertingTimeout": 60 })).await;
    let (_, sup) = d.app.user_with_token("SUPERVISOR").await;
    d.online(0).await;
    let conv = d.write(&client(1), "Hi").await;
    d.until(&conv, "ALERTING").await;
    d.act(d.token(0), "rejectConversation", &conv).await.ok();
    // Agent 1 takes it: the stint in which agent 0 said no ends with the accept.
    d.online(1).await;
    let c = d.until(&conv, "ALERTING").await;
    assert_eq!(c["assignedAgent"]["id"], json!(d.id(1)));
    d.act(d.token(1), "acceptConversation", &conv).await.ok();
    // Back in the queue (a new stint) while agent 1 is busy: agent 0 is offered it again.
    d.status(d.token(1), "BUSY").await.ok();
    d.act(&sup, "requeueConversation", &conv).await.ok();
    let c = d.until(&conv, "ALERTING").await;
    assert_eq!(c["assignedAgent"]["id"], json!(d.id(0)));
}

#[tokio::test]
async fn every_acd_mutation_checks_role_and_account() {
    let d = desk(2, json!({ "alertingTimeout": 60 })).await;
    let (_, sup) = d.app.user_with_token("SUPERVISOR").await;
    let other = d.app.other_account().await;
    d.online(0).await;
    let conv = d.write(&client(1), "Hi").await;
    d.until(&conv, "ALERTING").await;
    let reason = d.app.admin("mutation { createBusyReason(name: \"Break\") { id } }", json!({})).await;
    let reason = reason.ok().str("/createBusyReason/id");
    let code = d.code_id("Sold").await;

    // Another account: every id is unknown.
    for m in [
        "acceptConversation",
        "rejectConversation",
        "holdConversation",
        "resumeConversation",
        "resolveConversation",
        "requeueConversation",
        "handOffConversation",
    ] {
        assert_eq!(d.act(&other, m, &conv).await.code(), "NOT_FOUND", "{m} across accounts");
    }
    for m in ["assignConversation", "transferConversation"] {
        let q = format!("mutation($id: ID!, $u: ID!) {{ {m}(id: $id, userId: $u) {{ id }} }}");
        let r = d.app.gql(Some(&other), &q, json!({ "id": conv, "u": d.id(0) })).await;
        assert_eq!(r.code(), "NOT_FOUND", "{m} across accounts");
    }
    assert_eq!(d.set_code(&other, &conv, &code).await.code(), "NOT_FOUND");
    for q in [
        "mutation($id: ID!) { archiveBusyReason(id: $id) { id } }",
        "mutation($id: ID!) { renameBusyReason(id: $id, name: \"X\") { id } }",
    ] {
        assert_eq!(d.app.gql(Some(&other), q, json!({ "id": reason })).await.code(), "NOT_FOUND");
    }
    let r = d
        .app
        .gql(Some(&other), "query($c: ID!) { queue(channelId: $c) { nodes { id } } }", json!({ "c": d.channel }))
        .await;
    assert_eq!(r.code(), "NOT_FOUND");

    // The wrong role.
    let agent = d.token(1);
    for q in [
        "mutation($id: ID!) { archiveBusyReason(id: $id) { id } }",
        "mutation($id: ID!) { renameBusyReason(id: $id, name: \"X\") { id } }",
    ] {
        assert_eq!(d.app.gql(Some(&sup), q, json!({ "id": reason })).await.code(), "FORBIDDEN");
    }
    for m in ["requeueConversation", "handOffConversation"] {
        assert_eq!(d.act(agent, m, &conv).await.code(), "FORBIDDEN", "{m} by an agent");
    }
    let transfer = "mutation($id: ID!, $u: ID!) { transferConversation(id: $id, userId: $u) { id } }";
    assert_eq!(d.app.gql(Some(agent), transfer, json!({ "id": conv, "u": d.id(1) })).await.code(), "FORBIDDEN");
    let r = d
        .app
        .gql(Some(agent), "query($c: ID!) { queue(channelId: $c) { nodes { id } } }", json!({ "c": d.channel }))
        .await;
    assert_eq!(r.code(), "FORBIDDEN");
    let r = d.app.admin("mutation { setMyStatus(status: ONLINE) { status } }", json!({})).await;
    assert_eq!(r.code(), "FORBIDDEN", "admins have no agent status");
    // Another agent cannot touch the offer.
    for m in ["acceptConversation", "rejectConversation", "holdConversation", "resolveConversation"] {
        assert_eq!(d.act(agent, m, &conv).await.code(), "NOT_FOUND", "{m} by another agent");
    }
    assert_eq!(d.conv(&conv).await["substatus"], json!("ALERTING"), "nothing changed");

    // Controls: the right callers succeed.
    let r = d
        .app
        .admin("mutation($id: ID!) { renameBusyReason(id: $id, name: \"Coffee\") { name } }", json!({ "id": reason }))
        .await;
    assert_eq!(r.ok().data("/renameBusyReason/name"), &json!("Coffee"));
    let r = d
        .app
        .gql(Some(&sup), "query($c: ID!) { queue(channelId: $c) { nodes { id } } }", json!({ "c": d.channel }))
        .await;
    r.ok();
    let r = d.app.gql(Some(&sup), transfer, json!({ "id": conv, "u": d.id(1) })).await;
    assert_eq!(r.ok().data("/transferConversation/id"), &json!(conv));
    assert_eq!(d.act(agent, "holdConversation", &conv).await.ok().data("/holdConversation/id"), &json!(conv));
}

#[tokio::test]
async fn deactivating_an_agent_hands_back_everything_they_held() {
    let d = desk(1, json!({ "alertingTimeout": 60 })).await;
    d.online(0).await;
    let acw = d.write(&client(1), "one").await;
    d.until(&acw, "ALERTING").await;
    d.act(d.token(0), "acceptConversation", &acw).await.ok();
    d.act(d.token(0), "resolveConversation", &acw).await.ok();
    let held = d.write(&client(2), "two").await;
    d.until(&held, "ALERTING").await;
    d.act(d.token(0), "acceptConversation", &held).await.ok();
    d.act(d.token(0), "holdConversation", &held).await.ok();
    let ringing = d.write(&client(3), "three").await;
    d.until(&ringing, "ALERTING").await;
    let enqueued = d.conv(&held).await["enqueuedAt"].clone();

    let r = d.app.admin("mutation($id: ID!) { deactivateUser(id: $id) { active } }", json!({ "id": d.id(0) })).await;
    r.ok();
    let c = d.conv(&acw).await;
    assert_eq!((c["status"].clone(), c["resolution"].clone()), (json!("RESOLVED"), json!("AGENT_DEACTIVATED")));
    for conv in [&held, &ringing] {
        let c = d.conv(conv).await;
        assert_eq!((c["substatus"].clone(), c["assignedAgent"].clone()), (json!("IN_QUEUE"), Value::Null));
    }
    assert_eq!(d.conv(&held).await["enqueuedAt"], enqueued, "requeued at its original place");
    let r = d
        .app
        .admin(
            "query($id: ID!) { user(id: $id) { agentState { status conversationCount } } }",
            json!({ "id": d.id(0) }),
        )
        .await;
    assert_eq!(r.ok().data("/user/agentState"), &json!({ "status": "OFFLINE", "conversationCount": 0 }));
}

#[tokio::test]
async fn a_timed_out_offer_goes_back_to_the_front_of_the_queue() {
    let d = desk(2, json!({ "alertingTimeout": 5, "autoAssignmentLimit": 1 })).await;
    d.online(0).await;
    let first = d.write(&client(1), "First").await;
    d.until(&first, "ALERTING").await;
    let enqueued = d.conv(&first).await["enqueuedAt"].clone();
    // Agent 0 is at their limit: a later client waits.
    let second = d.write(&client(2), "Second").await;
    assert_eq!(d.conv(&second).await["substatus"], json!("IN_QUEUE"));

    // Nobody answers the first offer: it returns ahead of the conversation queued after it.
    d.until(&first, "IN_QUEUE").await;
    let r = d
        .app
        .admin("query($c: ID!) { queue(channelId: $c) { nodes { id queuePosition } } }", json!({ "c": d.channel }))
        .await;
    assert_eq!(
        r.ok().data("/queue/nodes"),
        &json!([{ "id": first, "queuePosition": 1 }, { "id": second, "queuePosition": 2 }])
    );
    assert_eq!(d.conv(&first).await["enqueuedAt"], enqueued, "it keeps its original place");
    // The next agent to come online is offered the first one, not the second.
    d.online(1).await;
    let c = d.until(&first, "ALERTING").await;
    assert_eq!(c["assignedAgent"]["id"], json!(d.id(1)));
    assert_eq!(d.conv(&second).await["substatus"], json!("IN_QUEUE"));
}

#[tokio::test]
async fn an_accept_after_the_deadline_is_refused_before_the_timer_runs() {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
    // No workers: no timer job and no sweeper can act on the offer; distribution runs in the request.
    let d =
        desk_on(TestApp::spawn_without_workers(true).await, 1, json!({ "alertingTimeout": 60, "canWriteFirst": true }))
            .await;
    // An offer without a client's webhook (its processing would need a worker): the admin writes first, then
    // puts the conversation in the queue; agent 0 comes online and it rings for them.
    let r = d.app.admin("query($c: ID!) { channel(id: $c) { phoneNumbers { id } } }", json!({ "c": d.channel })).await;
    let number = r.ok().str("/channel/phoneNumbers/0/id");
    let r = d
        .app
        .admin(
            "mutation($c: ID!, $n: ID!, $to: String!) { startConversation(channelId: $c, phoneNumberId: $n, to: $to,
                text: \"Hello\") { id } }",
            json!({ "c": d.channel, "n": number, "to": client(1) }),
        )
        .await;
    let conv = r.ok().str("/startConversation/id");
    d.act(&d.app.admin_token, "requeueConversation", &conv).await.ok();
    d.online(0).await;
    let c = d.conv(&conv).await;
    assert_eq!((c["substatus"].clone(), c["assignedAgent"]["id"].clone()), (json!("ALERTING"), json!(d.id(0))));

    // The deadline passes (moved into the past in the database, as if 60 s had gone by).
    let past = chrono::Utc::now() - chrono::Duration::seconds(1);
    entity::conversation::Entity::update_many()
        .col_expr(entity::conversation::Column::OfferDeadline, Expr::value(Some(past)))
        .filter(entity::conversation::Column::Id.eq(uuid::Uuid::parse_str(&conv).unwrap()))
        .exec(&d.app.engine.db)
        .await
        .unwrap();
    let r = d.act(d.token(0), "acceptConversation", &conv).await;
    assert_eq!((r.code(), reason(&r)), ("CONFLICT".to_owned(), "OFFER_EXPIRED".to_owned()));
    // Refused by the deadline itself: the timer has not run, the offer is still ringing, nobody accepted it.
    let c = d.conv(&conv).await;
    assert_eq!((c["substatus"].clone(), c["assignedAgent"]["id"].clone()), (json!("ALERTING"), json!(d.id(0))));
}
