//! Jobs for admins: re-verification on demand (the account's active numbers only) and failed jobs (listed with
//! their object and cause, counted on `/metrics`, retried), each within the caller's account.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use entity::phone_number;
use sea_orm::{ActiveModelTrait, Set};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tests::TestApp;
use tests::provider_sim::ProviderSim;
use uuid::Uuid;
use worker::crypto::Cipher;

const REVERIFY: &str = "mutation { reverifyAllNumbers }";
const FAILED: &str = "query($n: Int) { failedJobs(first: $n) { id type objectType objectId status attempts maxAttempts \
    lastError finishedAt } }";
const RETRY: &str = "mutation($id: ID!) { retryJob(id: $id) { id type objectId status attempts lastError } }";
const NUMBER: &str = "query($id: ID!) { phoneNumber(id: $id) { verification verificationError lastVerifiedAt } }";

async fn channel_on(app: &TestApp, token: &str, sim: &ProviderSim, name: &str) -> String {
    let mut input = TestApp::channel_input(name);
    input["apiUrl"] = json!(sim.url());
    app.create_channel_as(token, input).await
}

async fn add_number_as(app: &TestApp, token: &str, channel: &str, phone: &str, key: &str) -> String {
    app.gql(
        Some(token),
        "mutation($c: ID!, $i: PhoneNumberInput!) { addPhoneNumber(channelId: $c, input: $i) { id } }",
        json!({ "c": channel, "i": { "phoneNumber": phone, "apiKey": key } }),
    )
    .await
    .ok()
    .str("/addPhoneNumber/id")
}

async fn verification(app: &TestApp, token: &str, id: &str) -> Value {
    app.gql(Some(token), NUMBER, json!({ "id": id })).await.ok().data("/phoneNumber").clone()
}

/// Polls until `done` holds for the number (or `limit` passes), returning the last state seen.
async fn wait_number(app: &TestApp, token: &str, id: &str, limit: Duration, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let n = verification(app, token, id).await;
        if done(&n) || started.elapsed() > limit {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn failed_jobs(app: &TestApp, token: &str) -> Vec<Value> {
    let r = app.gql(Some(token), FAILED, json!({})).await;
    r.ok().data("/failedJobs").as_array().cloned().unwrap_or_default()
}

fn failed_metric(metrics: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("jobs_failed_total{queue=\"verify_number\"} "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no verify_number line in /metrics: {metrics}"))
}

async fn metrics(app: &TestApp) -> String {
    app.http.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap()
}

#[tokio::test]
async fn reverify_all_numbers_queues_the_accounts_active_numbers_only() {
    let sim = ProviderSim::start().await;
    let app = TestApp::spawn().await;
    let ch = channel_on(&app, &app.admin_token, &sim, "Reverified").await;
    for (phone, key) in [("+14155550301", "key-0301"), ("+14155550302", "key-0302"), ("+14155550303", "key-0303")] {
        sim.add_number(phone, key, true);
    }
    sim.add_number("+14155550309", "key-0309", true);
    let a = add_number_as(&app, &app.admin_token, &ch, "+14155550301", "key-0301").await;
    let b = add_number_as(&app, &app.admin_token, &ch, "+14155550302", "wrong-key").await;
    let deleted = add_number_as(&app, &app.admin_token, &ch, "+14155550303", "key-0303").await;
    app.admin("mutation($id: ID!) { deletePhoneNumber(id: $id) { id } }", json!({ "id": deleted })).await.ok();
    let other = app.other_account().await;
    let other_ch = channel_on(&app, &other, &sim, "Theirs").await;
    let theirs = add_number_as(&app, &other, &other_ch, "+14155550309", "key-0309").await;

    let (_, supervisor) = app.user_with_token("SUPERVISOR").await;
    assert_eq!(app.gql(Some(&supervisor), REVERIFY, json!({})).await.code(), "FORBIDDEN");

    let r = app.admin(REVERIFY, json!({})).await;
    assert_eq!(r.ok().data("/reverifyAllNumbers"), &json!(2));
    let settled = |n: &Value| n["verification"] != json!("PENDING");
    let na = wait_number(&app, &app.admin_token, &a, Duration::from_secs(20), settled).await;
    assert_eq!(na["verification"], json!("VERIFIED"), "{na}");
    let nb = wait_number(&app, &app.admin_token, &b, Duration::from_secs(20), settled).await;
    assert_eq!((nb["verification"].clone(), nb["verificationError"].clone()), (json!("FAILED"), json!("INVALID_KEY")));
    assert_eq!(verification(&app, &app.admin_token, &deleted).await["verification"], json!("UNVERIFIED"));
    assert_eq!(verification(&app, &other, &theirs).await["verification"], json!("UNVERIFIED"));
    assert_eq!(sim.verify_attempts(), 2);

    // The other account's admin re-verifies theirs, and only theirs.
    let r = app.gql(Some(&other), REVERIFY, json!({})).await;
    assert_eq!(r.ok().data("/reverifyAllNumbers"), &json!(1));
    let n = wait_number(&app, &other, &theirs, Duration::from_secs(20), settled).await;
    assert_eq!(n["verification"], json!("VERIFIED"), "{n}");
    assert_eq!(sim.verify_attempts(), 3);

    // A number whose check is in flight is not queued twice.
    sim.set_delay(Duration::from_secs(2));
    assert_eq!(app.admin(REVERIFY, json!({})).await.ok().data("/reverifyAllNumbers"), &json!(2));
    assert_eq!(app.admin(REVERIFY, json!({})).await.ok().data("/reverifyAllNumbers"), &json!(0));
}

#[tokio::test]
async fn a_job_that_exhausts_its_attempts_is_listed_counted_and_retried() {
    let sim = ProviderSim::start().await;
    let app = TestApp::spawn().await;
    let ch = channel_on(&app, &app.admin_token, &sim, "Broken key").await;
    sim.add_number("+14155550401", "key-0401", true);
    let id = add_number_as(&app, &app.admin_token, &ch, "+14155550401", "key-0401").await;
    // The row's key was stored under another encryption key (e.g. a process started with a different
    // APP_ENCRYPTION_KEY): the verify job cannot decrypt it and fails on every attempt.
    let foreign = Cipher::from_base64_key(&Cipher::generate_key()).unwrap();
    let row = phone_number::ActiveModel {
        id: Set(Uuid::parse_str(&id).unwrap()),
        api_key_enc: Set(foreign.encrypt("key-0401").unwrap()),
        ..Default::default()
    };
    row.update(&app.engine.db).await.unwrap();
    let before = failed_metric(&metrics(&app).await);

    app.admin("mutation($id: ID!) { verifyPhoneNumber(id: $id) { id } }", json!({ "id": id })).await.ok();
    let started = Instant::now();
    let mut jobs = failed_jobs(&app, &app.admin_token).await;
    while jobs.is_empty() && started.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        jobs = failed_jobs(&app, &app.admin_token).await;
    }
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let job = &jobs[0];
    assert_eq!(job["type"], json!("verify_number"));
    assert_eq!(job["objectType"], json!("PhoneNumber"));
    assert_eq!(job["objectId"], json!(id));
    assert_eq!(job["status"], json!("FAILED"));
    assert_eq!((job["attempts"].clone(), job["maxAttempts"].clone()), (json!(3), json!(3)));
    let cause = job["lastError"].as_str().unwrap();
    assert!(cause.contains("cannot be decrypted"), "{cause}");
    assert!(job["finishedAt"].is_string(), "{job}");
    assert_eq!(verification(&app, &app.admin_token, &id).await["verification"], json!("PENDING"));
    assert_eq!(sim.verify_attempts(), 0);
    assert!(failed_metric(&metrics(&app).await) > before);
    let job_id = job["id"].as_str().unwrap().to_owned();

    // Other accounts and other roles see nothing and cannot retry it.
    let other = app.other_account().await;
    assert!(failed_jobs(&app, &other).await.is_empty());
    assert_eq!(app.gql(Some(&other), RETRY, json!({ "id": job_id })).await.code(), "NOT_FOUND");
    let (_, supervisor) = app.user_with_token("SUPERVISOR").await;
    assert_eq!(app.gql(Some(&supervisor), FAILED, json!({})).await.code(), "FORBIDDEN");
    assert_eq!(app.admin(FAILED, json!({ "n": 500 })).await.code(), "BAD_USER_INPUT");

    // The key is stored under the right encryption key again; the retried job succeeds.
    let row = phone_number::ActiveModel {
        id: Set(Uuid::parse_str(&id).unwrap()),
        api_key_enc: Set(app.engine.cipher.encrypt("key-0401").unwrap()),
        ..Default::default()
    };
    row.update(&app.engine.db).await.unwrap();
    let r = app.admin(RETRY, json!({ "id": job_id })).await;
    let retried = r.ok().data("/retryJob");
    assert_eq!((retried["status"].clone(), retried["attempts"].clone()), (json!("PENDING"), json!(0)), "{retried}");
    let n =
        wait_number(&app, &app.admin_token, &id, Duration::from_secs(20), |n| n["verification"] != json!("PENDING"))
            .await;
    assert_eq!(n["verification"], json!("VERIFIED"), "{n}");
    assert!(failed_jobs(&app, &app.admin_token).await.is_empty());
    assert_eq!(app.admin(RETRY, json!({ "id": job_id })).await.code(), "CONFLICT");
}

#[tokio::test]
async fn a_ticks_batch_is_queued_once_whoever_asks() {
    let app = TestApp::spawn().await;
    let tick = 1_900_000_000;
    assert!(app.engine.queue_reverify_batch(tick).await.unwrap());
    assert!(!app.engine.queue_reverify_batch(tick).await.unwrap());
    assert!(app.engine.queue_reverify_batch(tick + 3600).await.unwrap());
    assert_eq!(app.count(&format!("{} WHERE job_type = 'reverify_batch'", app.jobs_table())).await, 2);
}

/// A job due now is announced to every worker process by apalis' insert trigger, which NOTIFYs only when the
/// job's `run_at` is not after `now()`, the start of the inserting transaction. The job must be announced even
/// when that transaction crossed a second boundary before queuing it (a job stamped by the application's clock
/// was not, and another process's worker found it only at its next poll).
#[tokio::test]
async fn a_job_due_now_is_notified_even_when_its_transaction_began_a_second_earlier() {
    use sea_orm::{ConnectionTrait, Statement, TransactionTrait};
    let app = TestApp::spawn().await;
    let worker::jobs::JobStore::Postgres(pool) = app.engine.jobs.clone() else {
        return; // SQLite has no notifications: its processes wake their own workers
    };
    let mut listener = apalis_postgres::PgListener::connect_with(&pool).await.unwrap();
    listener.listen(worker::jobs::wake::CHANNEL).await.unwrap();
    let txn = app.engine.db.begin().await.unwrap();
    // Inside the transaction, wait for the wall clock to pass the whole second after the transaction's start.
    let crossed = Statement::from_string(
        app.engine.db.get_database_backend(),
        "SELECT date_trunc('second', clock_timestamp()) > now() AS crossed",
    );
    tests::eventually(Duration::from_secs(3), "the clock to cross a second inside the transaction", || async {
        let row = txn.query_one_raw(crossed.clone()).await.unwrap()?;
        row.try_get::<bool>("", "crossed").unwrap().then_some(())
    })
    .await;
    let job = worker::conversations::outbound::SendMessage { message_id: Uuid::new_v4(), attempt: 0 };
    worker::jobs::enqueue(&txn, &job, worker::jobs::Due::Now).await.unwrap();
    txn.commit().await.unwrap();
    let queue = <worker::conversations::outbound::SendMessage as worker::jobs::Job>::SPEC.queue;
    let notified = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let n = listener.recv().await.unwrap();
            let v: Value = serde_json::from_str(n.payload()).unwrap();
            if v["job_type"] == queue {
                return v;
            }
        }
    })
    .await;
    assert!(notified.is_ok(), "no notification for the {queue} job");
}
