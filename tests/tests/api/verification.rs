//! Key verification through the job worker against the provider simulator over a real socket.

use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tests::TestApp;
use tests::provider_sim::ProviderSim;

const NUMBER: &str = "query($id: ID!) { phoneNumber(id: $id) { verification verificationError lastVerifiedAt } }";
const VERIFY: &str = "mutation($id: ID!) { verifyPhoneNumber(id: $id) { verification verificationError } }";

async fn channel_on(app: &TestApp, sim: &ProviderSim) -> String {
    let mut input = TestApp::channel_input("Verified");
    input["apiUrl"] = json!(sim.url());
    app.create_channel_as(&app.admin_token, input).await
}

/// Polls the number until its verification is no longer PENDING (or `limit` passes).
async fn settled(app: &TestApp, id: &str, limit: Duration) -> Value {
    let started = Instant::now();
    loop {
        let r = app.admin(NUMBER, json!({ "id": id })).await;
        let n = r.ok().data("/phoneNumber").clone();
        if n["verification"] != json!("PENDING") || started.elapsed() > limit {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn verification_records_what_the_provider_answers() {
    let sim = ProviderSim::start().await;
    let app = TestApp::spawn().await;
    let ch = channel_on(&app, &sim).await;
    sim.add_number("+14155550101", "right-key-0001", true);
    sim.add_number("+14155550102", "right-key-0002", true);
    sim.add_number("+14155550104", "right-key-0004", false);
    let cases = [
        ("+14155550101", "right-key-0001", "VERIFIED", None),
        ("+14155550102", "wrong-key-0002", "FAILED", Some("INVALID_KEY")),
        ("+14155550103", "right-key-0003", "FAILED", Some("UNKNOWN_NUMBER")),
        ("+14155550104", "right-key-0004", "FAILED", Some("DISCONNECTED")),
    ];
    let mut ids = Vec::new();
    for (number, key, _, _) in cases {
        let id = app.add_number(&ch, number, key).await;
        let r = app.admin(VERIFY, json!({ "id": id })).await;
        assert_eq!(r.ok().data("/verifyPhoneNumber"), &json!({ "verification": "PENDING", "verificationError": null }));
        ids.push(id);
    }
    for ((number, _, state, reason), id) in cases.iter().zip(&ids) {
        let n = settled(&app, id, Duration::from_secs(20)).await;
        assert_eq!(n["verification"], json!(state), "{number}: {n}");
        assert_eq!(n["verificationError"], json!(reason), "{number}: {n}");
        assert!(n["lastVerifiedAt"].is_string(), "{number}: {n}");
    }
}

#[tokio::test]
async fn a_provider_outage_is_retried_until_the_provider_answers() {
    let sim = ProviderSim::start().await;
    let app = TestApp::spawn().await;
    let ch = channel_on(&app, &sim).await;
    sim.add_number("+14155550111", "right-key-0111", true);
    let id = app.add_number(&ch, "+14155550111", "right-key-0111").await;
    sim.set_down(true);
    app.admin(VERIFY, json!({ "id": id })).await.ok();
    // Still pending while the provider is down: the first attempt failed and a retry is scheduled.
    let started = Instant::now();
    while sim.verify_attempts() == 0 && started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(sim.verify_attempts() >= 1, "the worker never called the provider");
    let n = app.admin(NUMBER, json!({ "id": id })).await;
    assert_eq!(n.ok().data("/phoneNumber/verification"), &json!("PENDING"));
    sim.set_down(false);
    let n = settled(&app, &id, Duration::from_secs(20)).await;
    assert_eq!(n["verification"], json!("VERIFIED"), "{n}");
    assert!(sim.verify_attempts() >= 2);
}

#[tokio::test]
async fn a_provider_that_stays_down_ends_as_unreachable() {
    let sim = ProviderSim::start().await;
    let app = TestApp::spawn().await;
    let ch = channel_on(&app, &sim).await;
    sim.add_number("+14155550121", "right-key-0121", true);
    let id = app.add_number(&ch, "+14155550121", "right-key-0121").await;
    sim.set_down(true);
    app.admin(VERIFY, json!({ "id": id })).await.ok();
    let n = settled(&app, &id, Duration::from_secs(30)).await;
    assert_eq!(n["verification"], json!("FAILED"), "{n}");
    assert_eq!(n["verificationError"], json!("PROVIDER_UNREACHABLE"));
    assert_eq!(sim.verify_attempts(), worker::phone_numbers::verify::VERIFY_ATTEMPTS as usize);
}

#[tokio::test]
async fn verification_is_for_admins_of_the_account_and_live_numbers() {
    let sim = ProviderSim::start().await;
    let app = TestApp::spawn().await;
    let ch = channel_on(&app, &sim).await;
    let id = app.add_number(&ch, "+14155550131", "right-key-0131").await;
    let (_, supervisor) = app.user_with_token("SUPERVISOR").await;
    let r = app.gql(Some(&supervisor), VERIFY, json!({ "id": id })).await;
    assert_eq!(r.code(), "FORBIDDEN");
    let other = app.other_account().await;
    let r = app.gql(Some(&other), VERIFY, json!({ "id": id })).await;
    assert_eq!(r.code(), "NOT_FOUND");
    app.admin("mutation($id: ID!) { deletePhoneNumber(id: $id) { id } }", json!({ "id": id })).await.ok();
    let r = app.admin(VERIFY, json!({ "id": id })).await;
    assert_eq!(r.code(), "CONFLICT");
    let n = app.admin(NUMBER, json!({ "id": id })).await;
    assert_eq!(n.ok().data("/phoneNumber/verification"), &json!("UNVERIFIED"));
    assert_eq!(sim.verify_attempts(), 0);
}
