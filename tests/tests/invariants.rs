//! The ACD's invariants under random concurrent load, with real processes: on PostgreSQL the API with its
//! workers (the test's `TestApp`) and two more `app work` processes; on SQLite the one `serve`-like process.
//! Clients write through signed webhooks, agents act through GraphQL at random (go ONLINE or BUSY, accept,
//! reject or ignore offers, hold, resume, resolve, choose codes, sign out and in again, open a desktop and drop
//! it so that presence takes them OFFLINE), a supervisor assigns, transfers and requeues by hand, an admin
//! deactivates an agent midway, timers fire, while a checker reads consistent snapshots and fails on the first
//! violation:
//! - automatic distribution never takes an agent above 100 or above a channel's limit (manual assignment may:
//!   when an agent is over, the assignment that took them there was made by hand);
//! - an OFFLINE agent has nothing ringing, and a deactivated one holds nothing;
//! - a conversation is offered to at most one agent at a time, and its history (the offer rows) explains its
//!   state: a held conversation has exactly one live assignment, which is its current one, to its agent;
//! - every state is complete (ALERTING has a deadline, IN_QUEUE has nobody, RESOLVED has a time and a reason).
//!
//! At the end every agent goes ONLINE and works everything off: every conversation must end RESOLVED and every
//! client message must be in exactly one conversation. `TEST_SEED` replays a run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/proc.rs"]
#[allow(dead_code)] // the process controls this test does not use (kill, terminate, ...)
mod proc;

use entity::{
    AgentStatus, ConversationStatus, ConversationSubstatus as Sub, Direction, OfferOrigin, agent_state, conversation,
    conversation_offer, user,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sea_orm::{AccessMode, ColumnTrait, EntityTrait, IsolationLevel, PaginatorTrait, QueryFilter, TransactionTrait};
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tests::live::LiveClient;
use tests::provider_sim::{ProviderSim, message_event};
use tests::{Gql, TestApp};
use uuid::Uuid;

const AGENTS: usize = 10;
const CLIENTS: u32 = 150;
const MESSAGES: u32 = 1000;
const STEPS: usize = 250;
/// The agent the admin deactivates midway (after this many client messages).
const DEACTIVATED: usize = AGENTS - 1;
const DEACTIVATE_AFTER: u64 = MESSAGES as u64 / 2;
/// Presence grace of this run: a dropped desktop takes its agent OFFLINE this soon.
const PRESENCE_GRACE: Duration = Duration::from_secs(1);

/// `(utilization, autoAssignmentLimit, alertingTimeout (None: auto answer), wrapUpTimeout)`.
const CHANNELS: [(i32, i32, Option<i32>, Option<i32>); 3] =
    [(30, 2, Some(5), Some(2)), (50, 3, Some(5), None), (0, 2, None, Some(3))];

#[derive(Default)]
struct Counts {
    messages: AtomicU64,
    status_changes: AtomicU64,
    accepts: AtomicU64,
    rejects: AtomicU64,
    ignored: AtomicU64,
    holds: AtomicU64,
    resumes: AtomicU64,
    resolves: AtomicU64,
    codes: AtomicU64,
    sign_outs: AtomicU64,
    desktops_dropped: AtomicU64,
    assigns: AtomicU64,
    transfers: AtomicU64,
    requeues: AtomicU64,
    refused: AtomicU64,
    internal_errors: AtomicU64,
    snapshots: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// Counts an answer: a refusal (a lost race) is expected under this load; an internal error never is.
fn tally(r: &Gql, ok: &AtomicU64, counts: &Counts) {
    match r.errors().first() {
        None => bump(ok),
        Some(e) if e.pointer("/extensions/code") == Some(&json!("INTERNAL_SERVER_ERROR")) => {
            bump(&counts.internal_errors);
            eprintln!("internal error: {}", r.raw);
        }
        Some(_) => bump(&counts.refused),
    }
}

struct World {
    app: TestApp,
    sim: ProviderSim,
    /// `(channel id, webhook URL, our number, key, wrap-up code ids)`.
    channels: Vec<(String, String, String, String, Vec<String>)>,
    agents: Vec<Agent>,
    supervisor: String,
    counts: Counts,
    stop: AtomicBool,
    /// Told when half the client messages are in.
    halfway: tokio::sync::Notify,
}

struct Agent {
    id: String,
    email: String,
    /// The session token in use (signing out and in again replaces it).
    token: Mutex<String>,
}

impl Agent {
    fn token(&self) -> String {
        self.token.lock().unwrap().clone()
    }
}

const MINE: &str = "{ me { agentState { status substatus } }
    conversations(first: 100, status: OPEN) { nodes { id status substatus channel { id } } } }";

impl World {
    async fn act(&self, token: &str, mutation: &str, id: &str) -> Gql {
        let q = format!("mutation($id: ID!) {{ {mutation}(id: $id) {{ id }} }}");
        self.app.gql(Some(token), &q, json!({ "id": id })).await
    }

    fn codes_of(&self, channel: &str) -> &[String] {
        self.channels.iter().find(|c| c.0 == channel).map(|c| c.4.as_slice()).unwrap_or(&[])
    }

    /// One agent's random session.
    async fn agent(&self, i: usize, seed: u64) {
        let mut rng = StdRng::seed_from_u64(seed);
        let me = &self.agents[i];
        let mut token = me.token();
        let c = &self.counts;
        // Offers this agent decided to let ring out: they stay unanswered until the timeout takes them.
        let mut ignoring = std::collections::HashSet::new();
        for _ in 0..STEPS {
            let r = self.app.gql(Some(&token), MINE, json!({})).await;
            if r.errors().first().and_then(|e| e.pointer("/extensions/code")) == Some(&json!("UNAUTHENTICATED")) {
                return; // deactivated
            }
            let r = r.ok();
            if rng.gen_bool(0.02) {
                // Signs out (OFFLINE: ringing offers go back to the queue) and in again (BUSY / SYSTEM).
                let out = self.app.gql(Some(&token), "mutation { logout }", json!({})).await;
                tally(&out, &c.sign_outs, c);
                let login = self
                    .app
                    .gql(
                        None,
                        "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }",
                        json!({ "e": me.email, "p": tests::TEST_PASSWORD }),
                    )
                    .await;
                if i == DEACTIVATED && !login.errors().is_empty() {
                    return; // deactivated between its sign-out and its sign-in
                }
                token = login.ok().str("/login/token");
                *me.token.lock().unwrap() = token.clone();
                continue;
            }
            if rng.gen_bool(0.02) {
                // A desktop that connects and drops: past the grace, presence takes the agent OFFLINE.
                if let Ok(desktop) = LiveClient::connect(self.app.addr, tests::live::TRANSPORT_WS, &token).await {
                    desktop.close().await;
                    bump(&c.desktops_dropped);
                }
            }
            let substatus = r.data("/me/agentState/substatus").as_str().unwrap_or("").to_owned();
            if substatus != "IDLE" && substatus != "INTERACTING" || rng.gen_bool(0.05) {
                let to = if rng.gen_bool(0.8) { "ONLINE" } else { "BUSY" };
                let r = self
                    .app
                    .gql(
                        Some(&token),
                        "mutation($s: AgentStatus!) { setMyStatus(status: $s) { status } }",
                        json!({ "s": to }),
                    )
                    .await;
                tally(&r, &c.status_changes, c);
            }
            for conv in r.data("/conversations/nodes").as_array().cloned().unwrap_or_default() {
                let id = conv["id"].as_str().unwrap_or_default();
                match conv["substatus"].as_str() {
                    Some("ALERTING") if ignoring.contains(id) => {}
                    Some("ALERTING") => match rng.gen_range(0..10) {
                        0..=5 => tally(&self.act(&token, "acceptConversation", id).await, &c.accepts, c),
                        6..=7 => tally(&self.act(&token, "rejectConversation", id).await, &c.rejects, c),
                        _ => {
                            ignoring.insert(id.to_owned());
                            bump(&c.ignored);
                        }
                    },
                    Some("INTERACTING") => match rng.gen_range(0..10) {
                        0..=2 => tally(&self.act(&token, "resolveConversation", id).await, &c.resolves, c),
                        3 => tally(&self.act(&token, "holdConversation", id).await, &c.holds, c),
                        _ => {}
                    },
                    Some("HOLD") if rng.gen_bool(0.5) => {
                        tally(&self.act(&token, "resumeConversation", id).await, &c.resumes, c)
                    }
                    Some("AFTER_CALL_WORK") if rng.gen_bool(0.5) => {
                        let codes = self.codes_of(conv["channel"]["id"].as_str().unwrap_or_default());
                        if let Some(code) = codes.first() {
                            let r = self
                                .app
                                .gql(
                                    Some(&token),
                                    "mutation($c: ID!, $w: ID!) { setWrapUpCode(conversationId: $c, wrapUpCodeId: $w) { id } }",
                                    json!({ "c": id, "w": code }),
                                )
                                .await;
                            tally(&r, &c.codes, c);
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    /// A supervisor working the queues by hand: assigns waiting conversations, transfers and requeues held ones.
    async fn supervisor(&self, seed: u64) {
        let mut rng = StdRng::seed_from_u64(seed);
        let c = &self.counts;
        let token = &self.supervisor;
        // The action is chosen first, then a conversation it applies to: the open list is newest first, so
        // picking from it would mostly find conversations still waiting whenever the agents fall behind.
        let (mut acted, mut looked) = (0, 0);
        while acted < STEPS / 2 && looked < STEPS * 10 {
            looked += 1;
            let (action, substatus) = match rng.gen_range(0..4) {
                0 => ("assignConversation", "IN_QUEUE"),
                1 => ("transferConversation", if rng.gen_bool(0.5) { "INTERACTING" } else { "HOLD" }),
                2 => ("requeueConversation", "ALERTING"),
                _ => ("requeueConversation", if rng.gen_bool(0.5) { "INTERACTING" } else { "HOLD" }),
            };
            let r = self
                .app
                .gql(
                    Some(token),
                    "query($s: ConversationSubstatus!) { conversations(first: 100, status: OPEN, substatus: $s) { nodes { id } } }",
                    json!({ "s": substatus }),
                )
                .await;
            let found = r.ok().data("/conversations/nodes").as_array().cloned().unwrap_or_default();
            if found.is_empty() {
                // Load pacing, not a wait for work: none in that state now, look again shortly.
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
            acted += 1;
            let id = found[rng.gen_range(0..found.len())]["id"].as_str().unwrap_or_default();
            let to = &self.agents[rng.gen_range(0..self.agents.len())].id;
            let by_hand = |m: &str| format!("mutation($id: ID!, $u: ID!) {{ {m}(id: $id, userId: $u) {{ id }} }}");
            match action {
                "assignConversation" => {
                    let r = self.app.gql(Some(token), &by_hand(action), json!({ "id": id, "u": to })).await;
                    tally(&r, &c.assigns, c);
                }
                "transferConversation" => {
                    let r = self.app.gql(Some(token), &by_hand(action), json!({ "id": id, "u": to })).await;
                    tally(&r, &c.transfers, c);
                }
                _ => tally(&self.act(token, action, id).await, &c.requeues, c),
            }
        }
    }

    /// An admin deactivates one agent once half the client messages are in.
    async fn deactivate_midway(&self) {
        self.halfway.notified().await;
        let r = self
            .app
            .admin(
                "mutation($id: ID!) { deactivateUser(id: $id) { id } }",
                json!({ "id": self.agents[DEACTIVATED].id }),
            )
            .await;
        r.ok();
    }

    /// Clients writing at random to the channels.
    async fn clients(&self, seed: u64) {
        let mut rng = StdRng::seed_from_u64(seed);
        for n in 0..MESSAGES {
            let (_, url, our, key, _) = &self.channels[rng.gen_range(0..self.channels.len())];
            let from = format!("+4916000{:04}", rng.gen_range(0..CLIENTS));
            let (status, body) =
                self.sim.post_webhook(url, key, &message_event(&format!("inv-{n}"), our, &from, "hi")).await;
            assert_eq!(status, 200, "{body}");
            bump(&self.counts.messages);
            if u64::from(n) + 1 == DEACTIVATE_AFTER {
                self.halfway.notify_one();
            }
        }
    }

    /// Reads snapshots until told to stop; the first violation is returned.
    async fn checker(&self) -> Result<(), String> {
        while !self.stop.load(Ordering::Relaxed) {
            self.check().await?;
            bump(&self.counts.snapshots);
        }
        self.check().await
    }

    async fn check(&self) -> Result<(), String> {
        let db = &self.app.engine.db;
        let txn = db
            .begin_with_config(Some(IsolationLevel::RepeatableRead), Some(AccessMode::ReadOnly))
            .await
            .map_err(|e| e.to_string())?;
        let convs = conversation::Entity::find().all(&txn).await.map_err(|e| e.to_string())?;
        let live = conversation_offer::Entity::find()
            .filter(conversation_offer::Column::EndedAt.is_null())
            .all(&txn)
            .await
            .map_err(|e| e.to_string())?;
        let offline: std::collections::HashSet<Uuid> = agent_state::Entity::find()
            .filter(agent_state::Column::Status.eq(AgentStatus::Offline))
            .all(&txn)
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|s| s.user_id)
            .collect();
        let inactive: std::collections::HashSet<Uuid> = user::Entity::find()
            .filter(user::Column::Active.eq(false))
            .all(&txn)
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|u| u.id)
            .collect();
        let open_stints = entity::queue_stint::Entity::find()
            .filter(entity::queue_stint::Column::EndedAt.is_null())
            .all(&txn)
            .await
            .map_err(|e| e.to_string())?;
        txn.commit().await.map_err(|e| e.to_string())?;
        // Every waiting conversation has exactly one open queue stint, and only waiting ones have one: the live
        // figures (waiting, alerting, longest wait) counted from stints are the queue.
        let mut stint_of: HashMap<Uuid, usize> = HashMap::new();
        for st in &open_stints {
            *stint_of.entry(st.conversation_id).or_default() += 1;
        }
        for c in &convs {
            let waiting =
                c.status == ConversationStatus::Open && matches!(c.substatus, Some(Sub::InQueue | Sub::Alerting));
            let n = stint_of.remove(&c.id).unwrap_or(0);
            if waiting && n != 1 {
                return Err(format!("waiting conversation with {n} open stints: {c:?}"));
            }
            if !waiting && n != 0 {
                return Err(format!("conversation not waiting has an open stint: {c:?}"));
            }
        }
        let limits: HashMap<Uuid, i32> =
            self.channels.iter().zip(CHANNELS).map(|(c, (_, limit, _, _))| (c.0.parse().unwrap(), limit)).collect();
        let mut util: HashMap<Uuid, i32> = HashMap::new();
        let mut per_channel: HashMap<(Uuid, Uuid), i32> = HashMap::new();
        let mut live_by_conv: HashMap<Uuid, Vec<&conversation_offer::Model>> = HashMap::new();
        // Each agent's latest live assignment overall and per channel: what took them to where they are.
        let mut latest: HashMap<Uuid, &conversation_offer::Model> = HashMap::new();
        let mut latest_in: HashMap<(Uuid, Uuid), &conversation_offer::Model> = HashMap::new();
        let channel_of: HashMap<Uuid, Uuid> = convs.iter().map(|c| (c.id, c.channel_id)).collect();
        for o in &live {
            let newer = |cur: &&conversation_offer::Model| (o.offered_at, o.id) > (cur.offered_at, cur.id);
            if latest.get(&o.user_id).is_none_or(newer) {
                latest.insert(o.user_id, o);
            }
            if let Some(ch) = channel_of.get(&o.conversation_id)
                && latest_in.get(&(o.user_id, *ch)).is_none_or(newer)
            {
                latest_in.insert((o.user_id, *ch), o);
            }
        }
        for o in &live {
            live_by_conv.entry(o.conversation_id).or_default().push(o);
        }
        for c in &convs {
            let held = c.status == ConversationStatus::Open
                && matches!(c.substatus, Some(Sub::Alerting | Sub::Interacting | Sub::Hold | Sub::AfterCallWork));
            let offers = live_by_conv.get(&c.id).map(Vec::as_slice).unwrap_or(&[]);
            if offers.len() > 1 {
                return Err(format!("conversation {} has {} live assignments", c.id, offers.len()));
            }
            if held {
                let Some(agent) = c.assigned_user_id else {
                    return Err(format!("held conversation {} has no agent: {c:?}", c.id));
                };
                match offers.first() {
                    Some(o) if Some(o.id) == c.offer_id && o.user_id == agent => {}
                    other => return Err(format!("held conversation {c:?} is not explained by its history: {other:?}")),
                }
                *util.entry(agent).or_default() += c.assignment_cost.unwrap_or(0);
                *per_channel.entry((agent, c.channel_id)).or_default() += 1;
                if c.substatus == Some(Sub::Alerting) && c.offer_deadline.is_none() {
                    return Err(format!("ringing conversation without a deadline: {c:?}"));
                }
                if c.substatus == Some(Sub::Alerting) && offline.contains(&agent) {
                    return Err(format!("an OFFLINE agent has a ringing offer: {c:?}"));
                }
                if inactive.contains(&agent) {
                    return Err(format!("a deactivated agent holds a conversation: {c:?}"));
                }
            } else if !offers.is_empty() {
                return Err(format!("conversation {c:?} is not held but has a live assignment {offers:?}"));
            }
            match (c.status, c.substatus) {
                (ConversationStatus::Open, Some(Sub::InQueue))
                    if c.assigned_user_id.is_some() || c.enqueued_at.is_none() =>
                {
                    return Err(format!("queued conversation in a broken state: {c:?}"));
                }
                (ConversationStatus::Resolved, _) if c.resolved_at.is_none() || c.resolution.is_none() => {
                    return Err(format!("resolved conversation without time or reason: {c:?}"));
                }
                (ConversationStatus::Open, None) => return Err(format!("open conversation without substatus: {c:?}")),
                _ => {}
            }
        }
        let by_distribution =
            |o: Option<&&conversation_offer::Model>| o.is_none_or(|o| o.origin == OfferOrigin::Distribution);
        if let Some((agent, u)) = util.iter().find(|(a, u)| **u > 100 && by_distribution(latest.get(*a))) {
            return Err(format!("distribution took agent {agent} to {u} % utilization"));
        }
        for ((agent, ch), n) in &per_channel {
            if limits.get(ch).is_some_and(|l| n > l) && by_distribution(latest_in.get(&(*agent, *ch))) {
                return Err(format!("distribution gave agent {agent} {n} conversations of channel {ch}"));
            }
        }
        Ok(())
    }

    /// Every agent ONLINE, working everything off until nothing is open.
    async fn work_off(&self) {
        for (i, a) in self.agents.iter().enumerate().filter(|(i, _)| *i != DEACTIVATED) {
            let token = a.token();
            let r = self.app.gql(Some(&token), "mutation { setMyStatus(status: ONLINE) { status } }", json!({})).await;
            assert!(r.errors().is_empty(), "agent {i} cannot go ONLINE: {}", r.raw);
        }
        let started = Instant::now();
        loop {
            for a in self.agents.iter().take(DEACTIVATED) {
                let token = &a.token();
                let r = self.app.gql(Some(token), MINE, json!({})).await;
                if r.data("/me/agentState/status") != &json!("ONLINE") {
                    self.app.gql(Some(token), "mutation { setMyStatus(status: ONLINE) { status } }", json!({})).await;
                }
                for conv in r.data("/conversations/nodes").as_array().cloned().unwrap_or_default() {
                    let id = conv["id"].as_str().unwrap_or_default();
                    match conv["substatus"].as_str() {
                        Some("ALERTING") => {
                            self.act(token, "acceptConversation", id).await;
                        }
                        Some("INTERACTING" | "HOLD") => {
                            self.act(token, "resolveConversation", id).await;
                        }
                        Some("AFTER_CALL_WORK") => {
                            let codes = self.codes_of(conv["channel"]["id"].as_str().unwrap_or_default());
                            self.app
                                .gql(
                                    Some(token),
                                    "mutation($c: ID!, $w: ID!) { setWrapUpCode(conversationId: $c, wrapUpCodeId: $w) { id } }",
                                    json!({ "c": id, "w": codes.first() }),
                                )
                                .await;
                        }
                        _ => {}
                    }
                }
            }
            let db = &self.app.engine.db;
            let open = conversation::Entity::find()
                .filter(conversation::Column::Status.ne(ConversationStatus::Resolved))
                .all(db)
                .await
                .unwrap();
            if open.is_empty() {
                return;
            }
            if started.elapsed() > Duration::from_secs(120) {
                // What stayed open, and where every agent stands, so that a failure can be diagnosed from the log.
                let agents: Vec<String> = agent_state::Entity::find()
                    .all(db)
                    .await
                    .unwrap()
                    .iter()
                    .map(|a| format!("{} {:?} {:?} since {}", a.user_id, a.status, a.busy_kind, a.since))
                    .collect();
                let convs: Vec<String> = open
                    .iter()
                    .take(20)
                    .map(|c| {
                        format!(
                            "{} channel {} {:?}/{:?} assigned {:?} offer deadline {:?} wrap-up deadline {:?} updated {}",
                            c.id,
                            c.channel_id,
                            c.status,
                            c.substatus,
                            c.assigned_user_id,
                            c.offer_deadline,
                            c.wrap_up_deadline,
                            c.updated_at
                        )
                    })
                    .collect();
                panic!(
                    "timed out after 120 s working every conversation off; {} still open:\n{}\nagents:\n{}",
                    open.len(),
                    convs.join("\n"),
                    agents.join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acd_invariants_hold_under_random_concurrent_load() {
    let seed: u64 = std::env::var("TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(20261125);
    let live = worker::live::LiveSettings { presence_grace: PRESENCE_GRACE, ..Default::default() };
    let app = TestApp::spawn_live(true, live).await;
    let sim = ProviderSim::start().await;
    let postgres = app.db.backend == worker::config::Backend::Postgres;
    let grace = PRESENCE_GRACE.as_secs().to_string();
    let env = [("APP_PRESENCE_GRACE_SECS", grace.as_str())];
    let _workers: Vec<proc::Proc> = if postgres {
        (1..=2).map(|i| proc::Proc::start(&format!("work-{i}"), &app.db.url, &app.encryption_key, &env)).collect()
    } else {
        Vec::new()
    };
    let mut agents = Vec::new();
    for _ in 0..AGENTS {
        let (id, email) = app.user_as(&app.admin_token, "AGENT").await;
        let token = Mutex::new(app.login(&email).await);
        agents.push(Agent { id, email, token });
    }
    let supervisor = app.user_with_token("SUPERVISOR").await.1;
    let mut channels = Vec::new();
    for (k, (utilization, limit, alerting, wrap)) in CHANNELS.into_iter().enumerate() {
        let mut input = TestApp::channel_input(&format!("Channel {k}"));
        input["apiUrl"] = json!(sim.url());
        input["utilization"] = json!(utilization);
        input["autoAssignmentLimit"] = json!(limit);
        input["autoAnswer"] = json!(alerting.is_none());
        input["alertingTimeout"] = json!(alerting);
        input["wrapUpTimeout"] = json!(wrap);
        // Overlapping teams: each agent is on two of the three channels.
        let team: Vec<&String> =
            agents.iter().enumerate().filter(|(i, _)| (i + k) % 3 != 0).map(|(_, a)| &a.id).collect();
        input["agentIds"] = json!(team);
        let id = app.create_channel_as(&app.admin_token, input).await;
        let our = format!("+1415555{:04}", 2000 + k);
        let key = format!("invariants-key-{k}");
        app.add_number(&id, &our, &key).await;
        let r = app
            .admin("query($id: ID!) { channel(id: $id) { webhookUrl wrapUpCodes { id } } }", json!({ "id": id }))
            .await;
        let url = r.ok().str("/channel/webhookUrl").replace(tests::PUBLIC_BASE, &app.base);
        let codes: Vec<String> = r
            .data("/channel/wrapUpCodes")
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect();
        channels.push((id, url, our, key, codes));
    }
    let world = Arc::new(World {
        app,
        sim,
        channels,
        agents,
        supervisor,
        counts: Counts::default(),
        stop: AtomicBool::new(false),
        halfway: tokio::sync::Notify::new(),
    });
    let started = Instant::now();

    let checker = {
        let w = world.clone();
        tokio::spawn(async move { w.checker().await })
    };
    let mut load = Vec::new();
    {
        let w = world.clone();
        load.push(tokio::spawn(async move { w.clients(seed).await }));
    }
    for i in 0..AGENTS {
        let w = world.clone();
        load.push(tokio::spawn(async move { w.agent(i, seed + 1 + i as u64).await }));
    }
    {
        let w = world.clone();
        load.push(tokio::spawn(async move { w.supervisor(seed + 100).await }));
        let w = world.clone();
        load.push(tokio::spawn(async move { w.deactivate_midway().await }));
    }
    for h in load {
        h.await.unwrap();
    }
    world.app.drain_jobs().await;
    world.work_off().await;
    world.stop.store(true, Ordering::Relaxed);
    let verdict = checker.await.unwrap();

    let c = &world.counts;
    let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let db = &world.app.engine.db;
    let conversations = conversation::Entity::find().count(db).await.unwrap();
    let inbound = entity::message::Entity::find()
        .filter(entity::message::Column::Direction.eq(Direction::Inbound))
        .count(db)
        .await
        .unwrap();
    let offers = conversation_offer::Entity::find().count(db).await.unwrap();
    let expired = conversation_offer::Entity::find()
        .filter(conversation_offer::Column::Outcome.eq(entity::OfferOutcome::Expired))
        .count(db)
        .await
        .unwrap();
    println!(
        "invariants ({:?}, seed {seed}, {} extra work processes, {:.1} s): {} messages, {conversations} conversations, \
         {offers} assignments ({expired} timed out), {} status changes, {} accepts, {} rejects, {} offers ignored, \
         {} holds, {} resumes, {} resolves, {} codes, {} sign-outs, {} desktops dropped, {} assigned, {} transferred \
         and {} requeued by hand, {} refusals (lost races), {} snapshots checked",
        world.app.db.backend,
        if postgres { 2 } else { 0 },
        started.elapsed().as_secs_f64(),
        n(&c.messages),
        n(&c.status_changes),
        n(&c.accepts),
        n(&c.rejects),
        n(&c.ignored),
        n(&c.holds),
        n(&c.resumes),
        n(&c.resolves),
        n(&c.codes),
        n(&c.sign_outs),
        n(&c.desktops_dropped),
        n(&c.assigns),
        n(&c.transfers),
        n(&c.requeues),
        n(&c.refused),
        n(&c.snapshots),
    );
    verdict.unwrap_or_else(|v| panic!("invariant violated: {v}"));
    assert_eq!(n(&c.internal_errors), 0, "requests failed with internal errors");
    assert_eq!(inbound, u64::from(MESSAGES), "every client message is stored exactly once");
    assert!(
        n(&c.snapshots) > 0 && expired > 0 && n(&c.accepts) > 0 && n(&c.rejects) > 0 && n(&c.sign_outs) > 0,
        "the load exercised too little"
    );
    assert!(
        n(&c.desktops_dropped) > 0 && n(&c.assigns) > 0 && n(&c.transfers) > 0 && n(&c.requeues) > 0,
        "the load exercised too little"
    );
    statistics_match_a_recount(&world.app).await;
    world.app.assert_no_failed_jobs().await;
}

/// After the load: the live figures and the day buckets equal a recount of the rows they come from.
async fn statistics_match_a_recount(app: &TestApp) {
    use entity::{StintOutcome, queue_stint};
    let db = &app.engine.db;
    let stints = queue_stint::Entity::find().all(db).await.unwrap();
    let offers = conversation_offer::Entity::find().all(db).await.unwrap();
    let ended = |o: Option<StintOutcome>| {
        stints.iter().filter(|s| s.ended_at.is_some() && (o.is_none() || s.outcome == o)).count() as i64
    };
    let from = stints.iter().map(|s| s.started_at).min().unwrap() - chrono::Duration::hours(1);
    let to = chrono::Utc::now() + chrono::Duration::hours(1);
    let r = app
        .admin(
            "query($from: DateTime!, $to: DateTime!) { queueMetrics(from: $from, to: $to, granularity: DAY) {
                offered answered abandoned transferred rejected timedOut speedOfAnswer { count } } }",
            json!({ "from": from.to_rfc3339(), "to": to.to_rfc3339() }),
        )
        .await;
    let buckets = r.ok().data("/queueMetrics").as_array().unwrap().clone();
    let sum = |f: &str| buckets.iter().map(|b| b[f].as_i64().unwrap()).sum::<i64>();
    assert_eq!(sum("offered"), ended(None), "offered = ended stints");
    assert_eq!(sum("answered"), ended(Some(StintOutcome::Answered)));
    assert_eq!(sum("abandoned"), ended(Some(StintOutcome::Abandoned)));
    assert_eq!(sum("transferred"), ended(Some(StintOutcome::Transferred)));
    let outcome = |o: entity::OfferOutcome| offers.iter().filter(|x| x.outcome == Some(o)).count() as i64;
    assert_eq!(sum("rejected"), outcome(entity::OfferOutcome::Rejected));
    assert_eq!(sum("timedOut"), outcome(entity::OfferOutcome::Expired));
    assert!(sum("answered") > 0, "the load answered nothing");
    // Nothing waits after the work-off: the live figures say so.
    let live = app.admin("{ queueStats { waiting alerting longestWaitingSince } }", json!({})).await;
    for c in live.ok().data("/queueStats").as_array().unwrap() {
        assert_eq!((c["waiting"].as_i64(), c["alerting"].as_i64()), (Some(0), Some(0)), "{c}");
        assert!(c["longestWaitingSince"].is_null());
    }
}
