//! Phone numbers of a channel: E.164 normalisation, deployment-wide uniqueness among live numbers, the Active and
//! Deleted lists, enable/disable, key changes resetting verification, channel deletion freeing numbers, and the
//! API key never leaving the server (responses, logs, schema, database).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use entity::phone_number;
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde_json::{Value, json};
use tests::{Gql, TestApp};

const FIELDS: &str = "id channelId phoneNumber apiKeyHint enabled verification verificationError lastVerifiedAt \
    state deletedAt";

fn add_q() -> String {
    format!("mutation($c: ID!, $i: PhoneNumberInput!) {{ addPhoneNumber(channelId: $c, input: $i) {{ {FIELDS} }} }}")
}

async fn add(app: &TestApp, token: &str, channel: &str, phone: &str, key: &str) -> Gql {
    app.gql(Some(token), &add_q(), json!({ "c": channel, "i": { "phoneNumber": phone, "apiKey": key } })).await
}

async fn delete(app: &TestApp, id: &str) -> Gql {
    app.admin(&format!("mutation($id: ID!) {{ deletePhoneNumber(id: $id) {{ {FIELDS} }} }}"), json!({ "id": id })).await
}

async fn restore(app: &TestApp, id: &str) -> Gql {
    app.admin(&format!("mutation($id: ID!) {{ restorePhoneNumber(id: $id) {{ {FIELDS} }} }}"), json!({ "id": id }))
        .await
}

async fn set_enabled(app: &TestApp, id: &str, enabled: bool) -> Gql {
    app.admin(
        &format!("mutation($id: ID!, $e: Boolean!) {{ setPhoneNumberEnabled(id: $id, enabled: $e) {{ {FIELDS} }} }}"),
        json!({ "id": id, "e": enabled }),
    )
    .await
}

async fn update_key(app: &TestApp, id: &str, key: &str) -> Gql {
    app.admin(
        &format!("mutation($id: ID!, $k: String!) {{ updatePhoneNumberApiKey(id: $id, apiKey: $k) {{ {FIELDS} }} }}"),
        json!({ "id": id, "k": key }),
    )
    .await
}

async fn number(app: &TestApp, id: &str) -> Gql {
    app.admin(&format!("query($id: ID!) {{ phoneNumber(id: $id) {{ {FIELDS} }} }}"), json!({ "id": id })).await
}

/// The channel's Active and Deleted lists, as ids.
async fn lists(app: &TestApp, channel: &str) -> (Vec<String>, Vec<String>) {
    let r = app
        .admin(
            "query($id: ID!) { channel(id: $id) { phoneNumbers { id state } deleted: phoneNumbers(state: DELETED) { id state } } }",
            json!({ "id": channel }),
        )
        .await;
    r.ok();
    let ids = |p: &str, state: &str| -> Vec<String> {
        r.data(p)
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                assert_eq!(n["state"], json!(state), "{}", r.raw);
                n["id"].as_str().unwrap().to_owned()
            })
            .collect()
    };
    (ids("/channel/phoneNumbers", "ACTIVE"), ids("/channel/deleted", "DELETED"))
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect()
}

async fn row(app: &TestApp, id: &str) -> phone_number::Model {
    phone_number::Entity::find_by_id(uuid::Uuid::parse_str(id).unwrap())
        .one(&app.engine.db)
        .await
        .unwrap()
        .expect("the number's row")
}

#[tokio::test]
async fn add_normalises_to_e164_and_starts_unverified() {
    let app = TestApp::spawn().await;
    let ch = app.create_channel("Support").await;
    let token = app.admin_token.clone();

    let r = add(&app, &token, &ch, " +1 (415) 555-0123", "key-AAAA-1234").await;
    let n = r.ok().data("/addPhoneNumber");
    assert_eq!(n["phoneNumber"], json!("+14155550123"), "{}", r.raw);
    assert_eq!(n["channelId"], json!(ch));
    assert_eq!(n["apiKeyHint"], json!("1234"));
    assert_eq!(n["enabled"], json!(true));
    assert_eq!(n["verification"], json!("UNVERIFIED"));
    assert_eq!(n["verificationError"], Value::Null);
    assert_eq!(n["lastVerifiedAt"], Value::Null);
    assert_eq!(n["state"], json!("ACTIVE"));
    assert_eq!(n["deletedAt"], Value::Null);
    let first = n["id"].as_str().unwrap().to_owned();

    let r = add(&app, &token, &ch, "0049 30 1234567", "another-key-9876").await;
    assert_eq!(r.ok().data("/addPhoneNumber/phoneNumber"), &json!("+49301234567"));
    let second = r.str("/addPhoneNumber/id");

    // Both are in the Active list, oldest first, and readable one by one.
    let (active, deleted) = lists(&app, &ch).await;
    assert_eq!(active, [first.clone(), second]);
    assert!(deleted.is_empty());
    let r = number(&app, &first).await;
    assert_eq!(r.ok().data("/phoneNumber/phoneNumber"), &json!("+14155550123"));
    assert_eq!(row(&app, &first).await.e164, "+14155550123");
}

#[tokio::test]
async fn add_refuses_bad_numbers_and_keys_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let ch = app.create_channel("Support").await;
    let token = app.admin_token.clone();
    let good_key = "good-key-12345";
    let long_key = "k".repeat(513);
    // (phone number, API key, expected errors)
    type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>);
    let cases: Vec<Case> = vec![
        // No country code: cannot be normalised.
        ("4155550123", good_key, vec![("phoneNumber", "INVALID_PHONE_NUMBER")]),
        ("(415) 555-0123", good_key, vec![("phoneNumber", "INVALID_PHONE_NUMBER")]),
        ("", good_key, vec![("phoneNumber", "INVALID_PHONE_NUMBER")]),
        ("+1 415 CALL NOW", good_key, vec![("phoneNumber", "INVALID_PHONE_NUMBER")]),
        ("+0123456789", good_key, vec![("phoneNumber", "INVALID_PHONE_NUMBER")]),
        ("+123456", good_key, vec![("phoneNumber", "INVALID_PHONE_NUMBER")]),
        ("+1234567890123456", good_key, vec![("phoneNumber", "INVALID_PHONE_NUMBER")]),
        ("+14155550123", "", vec![("apiKey", "REQUIRED")]),
        ("+14155550123", "   ", vec![("apiKey", "REQUIRED")]),
        ("+14155550123", "1234567", vec![("apiKey", "INVALID_LENGTH")]),
        ("+14155550123", &long_key, vec![("apiKey", "INVALID_LENGTH")]),
        ("12345", "short", vec![("phoneNumber", "INVALID_PHONE_NUMBER"), ("apiKey", "INVALID_LENGTH")]),
    ];
    let before = app.snapshot().await;
    for (phone, key, want) in cases {
        let r = add(&app, &token, &ch, phone, key).await;
        assert_eq!(r.code(), "BAD_USER_INPUT", "{phone:?}/{key:?}: {}", r.raw);
        assert_eq!(r.input_errors(), pairs(&want), "{phone:?}/{key:?}");
        assert_eq!(r.errors()[0]["extensions"]["field"], json!(want[0].0), "{phone:?}/{key:?}");
        assert_eq!(app.snapshot().await, before, "{phone:?}/{key:?} wrote");
    }
    // 8 and 512 characters are the limits, both accepted.
    add(&app, &token, &ch, "+14155550123", "12345678").await.ok();
    add(&app, &token, &ch, "+14155550124", &"k".repeat(512)).await.ok();
}

#[tokio::test]
async fn a_number_is_unique_among_the_live_numbers_of_the_whole_deployment() {
    let app = TestApp::spawn().await;
    let a = app.create_channel("A").await;
    let b = app.create_channel("B").await;
    let other = app.other_account().await;
    let c = app.create_channel_as(&other, TestApp::channel_input("C")).await;
    let admin = app.admin_token.clone();

    let first = add(&app, &admin, &a, "+14155550123", "key-one-1111").await;
    let first = first.ok().str("/addPhoneNumber/id");
    let before = app.snapshot().await;

    // The same number, written differently, on the same channel, another channel, another account.
    for (token, ch, raw) in
        [(&admin, &a, "+1 415 555 0123"), (&admin, &b, "001-415-555-0123"), (&other, &c, "+1.415.555.0123")]
    {
        let r = add(&app, token, ch, raw, "key-two-2222").await;
        assert_eq!(r.code(), "CONFLICT", "{raw}: {}", r.raw);
        assert_eq!(r.errors()[0]["extensions"]["field"], json!("phoneNumber"), "{raw}");
        assert_eq!(app.snapshot().await, before, "{raw} wrote");
    }

    // Once deleted, it can be connected elsewhere...
    delete(&app, &first).await.ok();
    let r = add(&app, &admin, &b, "+14155550123", "key-three-3333").await;
    assert_eq!(r.ok().data("/addPhoneNumber/phoneNumber"), &json!("+14155550123"));
    // ...and is then taken again, also for the other account.
    let r = add(&app, &other, &c, "+14155550123", "key-four-4444").await;
    assert_eq!(r.code(), "CONFLICT", "{}", r.raw);
    assert_eq!(r.errors()[0]["extensions"]["field"], json!("phoneNumber"));
}

#[tokio::test]
async fn delete_and_restore_move_a_number_between_the_active_and_deleted_lists() {
    let app = TestApp::spawn().await;
    let ch = app.create_channel("Support").await;
    let n1 = app.add_number(&ch, "+14155550101", "key-one-1111").await;
    let n2 = app.add_number(&ch, "+14155550102", "key-two-2222").await;
    assert_eq!(lists(&app, &ch).await, (vec![n1.clone(), n2.clone()], vec![]));

    let r = delete(&app, &n1).await;
    let d = r.ok().data("/deletePhoneNumber").clone();
    assert_eq!(d["id"], json!(n1));
    assert_eq!(d["state"], json!("DELETED"));
    assert!(d["deletedAt"].is_string(), "{}", r.raw);
    assert_eq!(lists(&app, &ch).await, (vec![n2.clone()], vec![n1.clone()]));
    let r = number(&app, &n1).await;
    assert_eq!(r.ok().data("/phoneNumber/state"), &json!("DELETED"));
    assert_eq!(r.data("/phoneNumber/deletedAt"), &d["deletedAt"]);

    // Deleting again is harmless: same state, same deletion time.
    let r = delete(&app, &n1).await;
    assert_eq!(r.ok().data("/deletePhoneNumber/state"), &json!("DELETED"));
    assert_eq!(r.data("/deletePhoneNumber/deletedAt"), &d["deletedAt"]);
    assert_eq!(lists(&app, &ch).await, (vec![n2.clone()], vec![n1.clone()]));

    let r = restore(&app, &n1).await;
    assert_eq!(r.ok().data("/restorePhoneNumber/state"), &json!("ACTIVE"));
    assert_eq!(r.data("/restorePhoneNumber/deletedAt"), &Value::Null);
    assert_eq!(r.data("/restorePhoneNumber/phoneNumber"), &json!("+14155550101"));
    assert_eq!(lists(&app, &ch).await, (vec![n1.clone(), n2.clone()], vec![]));

    // Both deleted: the Active list is empty.
    delete(&app, &n1).await.ok();
    delete(&app, &n2).await.ok();
    assert_eq!(lists(&app, &ch).await, (vec![], vec![n1, n2]));
}

#[tokio::test]
async fn restore_is_refused_while_another_channel_holds_the_number() {
    let app = TestApp::spawn().await;
    let a = app.create_channel("A").await;
    let b = app.create_channel("B").await;
    let old = app.add_number(&a, "+442079460958", "key-old-0000").await;
    delete(&app, &old).await.ok();
    let taker = app.add_number(&b, "+44 20 7946 0958", "key-new-1111").await;

    let before = app.snapshot().await;
    let r = restore(&app, &old).await;
    assert_eq!(r.code(), "CONFLICT", "{}", r.raw);
    assert_eq!(app.snapshot().await, before);
    assert_eq!(lists(&app, &a).await, (vec![], vec![old.clone()]));
    assert_eq!(lists(&app, &b).await, (vec![taker.clone()], vec![]));
    assert!(row(&app, &old).await.deleted_at.is_some());

    // Once the other number is deleted, the restore goes through.
    delete(&app, &taker).await.ok();
    let r = restore(&app, &old).await;
    assert_eq!(r.ok().data("/restorePhoneNumber/state"), &json!("ACTIVE"));
    assert_eq!(lists(&app, &a).await, (vec![old], vec![]));
    assert_eq!(lists(&app, &b).await, (vec![], vec![taker.clone()]));
    // And now the other one cannot come back.
    let r = restore(&app, &taker).await;
    assert_eq!(r.code(), "CONFLICT", "{}", r.raw);
}

#[tokio::test]
async fn numbers_can_be_disabled_and_enabled_but_not_while_deleted() {
    let app = TestApp::spawn().await;
    let ch = app.create_channel("Support").await;
    let n = app.add_number(&ch, "+14155550123", "key-one-1111").await;

    let r = set_enabled(&app, &n, false).await;
    assert_eq!(r.ok().data("/setPhoneNumberEnabled/enabled"), &json!(false));
    assert_eq!(r.data("/setPhoneNumberEnabled/state"), &json!("ACTIVE"));
    // A disabled number is still in the Active list.
    assert_eq!(lists(&app, &ch).await, (vec![n.clone()], vec![]));
    assert_eq!(number(&app, &n).await.ok().data("/phoneNumber/enabled"), &json!(false));
    assert!(!row(&app, &n).await.enabled);

    let r = set_enabled(&app, &n, true).await;
    assert_eq!(r.ok().data("/setPhoneNumberEnabled/enabled"), &json!(true));
    assert!(row(&app, &n).await.enabled);

    delete(&app, &n).await.ok();
    for enabled in [false, true] {
        let r = set_enabled(&app, &n, enabled).await;
        assert_eq!(r.code(), "CONFLICT", "enabled={enabled}: {}", r.raw);
        let stored = row(&app, &n).await;
        assert!(stored.enabled, "a refused change must change nothing");
        assert!(stored.deleted_at.is_some());
    }
}

#[tokio::test]
async fn a_new_api_key_shows_its_hint_and_resets_verification() {
    let app = TestApp::spawn().await;
    let ch = app.create_channel("Support").await;
    let n = app.add_number(&ch, "+14155550123", "first-key-AbCd").await;
    let id = uuid::Uuid::parse_str(&n).unwrap();

    // The provider accepted the first key.
    let mut am: phone_number::ActiveModel = row(&app, &n).await.into();
    am.verification = Set(entity::Verification::Verified);
    am.last_verified_at = Set(Some(chrono::Utc::now()));
    am.update(&app.engine.db).await.unwrap();
    let r = number(&app, &n).await;
    assert_eq!(r.ok().data("/phoneNumber/verification"), &json!("VERIFIED"));
    assert!(r.data("/phoneNumber/lastVerifiedAt").is_string());

    let r = update_key(&app, &n, "second-key-WxYz").await;
    let u = r.ok().data("/updatePhoneNumberApiKey");
    assert_eq!(u["apiKeyHint"], json!("WxYz"));
    assert_eq!(u["verification"], json!("UNVERIFIED"));
    assert_eq!(u["lastVerifiedAt"], Value::Null);
    assert_eq!(u["verificationError"], Value::Null);
    assert_eq!(u["phoneNumber"], json!("+14155550123"));
    let stored = row(&app, &n).await;
    assert_eq!(stored.verification, entity::Verification::Unverified);
    assert_eq!(stored.last_verified_at, None);
    assert_eq!(stored.verification_error, None);
    assert_eq!(app.engine.cipher.decrypt(&stored.api_key_enc).unwrap().expose(), "second-key-WxYz");

    // A failed check with its reason is reset too.
    let mut am: phone_number::ActiveModel = stored.into();
    am.verification = Set(entity::Verification::Failed);
    am.verification_error = Set(Some("INVALID_KEY".into()));
    am.last_verified_at = Set(Some(chrono::Utc::now()));
    am.update(&app.engine.db).await.unwrap();
    let r = number(&app, &n).await;
    assert_eq!(r.ok().data("/phoneNumber/verification"), &json!("FAILED"));
    assert_eq!(r.data("/phoneNumber/verificationError"), &json!("INVALID_KEY"));
    let r = update_key(&app, &n, "third-key-1357").await;
    let u = r.ok().data("/updatePhoneNumberApiKey");
    assert_eq!(u["apiKeyHint"], json!("1357"));
    assert_eq!(u["verification"], json!("UNVERIFIED"));
    assert_eq!(u["lastVerifiedAt"], Value::Null);
    assert_eq!(u["verificationError"], Value::Null);

    // A bad key is refused and changes nothing.
    let before = phone_number::Entity::find_by_id(id).one(&app.engine.db).await.unwrap().unwrap();
    for (key, code) in [("", "REQUIRED"), ("short", "INVALID_LENGTH")] {
        let r = update_key(&app, &n, key).await;
        assert_eq!(r.code(), "BAD_USER_INPUT", "{key:?}: {}", r.raw);
        assert_eq!(r.input_errors(), pairs(&[("apiKey", code)]), "{key:?}");
        assert_eq!(row(&app, &n).await, before, "{key:?} changed the row");
    }
}

#[tokio::test]
async fn deleting_a_channel_moves_its_numbers_to_deleted_and_frees_them() {
    let app = TestApp::spawn().await;
    let a = app.create_channel("A").await;
    let b = app.create_channel("B").await;
    let live = app.add_number(&a, "+14155550101", "key-one-1111").await;
    let off = app.add_number(&a, "+14155550102", "key-two-2222").await;
    set_enabled(&app, &off, false).await.ok();
    let gone = app.add_number(&a, "+14155550103", "key-three-3333").await;
    delete(&app, &gone).await.ok();
    let gone_at = row(&app, &gone).await.deleted_at;

    let r = app.admin("mutation($id: ID!) { deleteChannel(id: $id) }", json!({ "id": a })).await;
    assert_eq!(r.ok().data("/deleteChannel"), &json!(true));

    for n in [&live, &off] {
        assert!(row(&app, n).await.deleted_at.is_some(), "{n} must be in the Deleted list");
    }
    assert_eq!(row(&app, &gone).await.deleted_at, gone_at, "an already deleted number keeps its deletion time");

    // The channel is gone.
    let r = app.admin("query($id: ID!) { channel(id: $id) { id } }", json!({ "id": a })).await;
    assert_eq!(r.code(), "NOT_FOUND", "{}", r.raw);
    let r = add(&app, &app.admin_token, &a, "+14155550104", "key-four-4444").await;
    assert_eq!(r.code(), "NOT_FOUND", "{}", r.raw);

    // Its numbers are free for another channel.
    for phone in ["+14155550101", "+14155550102", "+14155550103"] {
        let r = add(&app, &app.admin_token, &b, phone, "key-five-5555").await;
        assert_eq!(r.ok().data("/addPhoneNumber/phoneNumber"), &json!(phone));
    }
    assert_eq!(lists(&app, &b).await.0.len(), 3);
}

/// The SDL's output types (`type X { ... }`) with their field names.
fn output_type_fields(sdl: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let mut current: Option<(String, Vec<String>)> = None;
    let mut in_doc = false;
    let mut depth = 0i32;
    for line in sdl.lines() {
        let t = line.trim();
        if t.starts_with("\"\"\"") {
            // A block description: skip it (one line or several).
            if !(t.len() >= 6 && t.ends_with("\"\"\"")) {
                in_doc = !in_doc;
            }
            continue;
        }
        if in_doc {
            continue;
        }
        if let Some(rest) = t.strip_prefix("type ") {
            let name = rest.split([' ', '{']).next().unwrap_or("").to_owned();
            current = Some((name, Vec::new()));
        } else if t.starts_with('}') {
            if let Some(c) = current.take() {
                out.push(c);
            }
        } else if let Some((_, fields)) = current.as_mut() {
            // Only names at the start of a line outside an argument list are fields.
            if depth == 0 {
                let name: String = t.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if !name.is_empty() {
                    fields.push(name);
                }
            }
            depth += t.matches('(').count() as i32 - t.matches(')').count() as i32;
        }
    }
    out
}

#[tokio::test]
async fn the_api_key_never_leaves_the_server() {
    let app = TestApp::spawn().await;
    let ch = app.create_channel("Support").await;
    let other = app.create_channel("Other").await;
    let k1 = format!("SECRETKEY-{}", uuid::Uuid::new_v4());
    let k2 = format!("SECRETKEY-{}", uuid::Uuid::new_v4());
    let k3 = format!("SECRETKEY-{}", uuid::Uuid::new_v4());
    let k4 = format!("SECRETKEY-{}", uuid::Uuid::new_v4());
    let admin = app.admin_token.clone();
    let last4 = |k: &str| k[k.len() - 4..].to_owned();

    let r = add(&app, &admin, &ch, "+14155550123", &k1).await;
    assert_eq!(r.ok().data("/addPhoneNumber/apiKeyHint"), &json!(last4(&k1)));
    let n = r.str("/addPhoneNumber/id");
    // Listing, reading one, changing the key, disabling, deleting, restoring.
    let list = "query($id: ID!) { channel(id: $id) { phoneNumbers { id apiKeyHint } deleted: phoneNumbers(state: DELETED) { id apiKeyHint } } }";
    let r = app.admin(list, json!({ "id": ch })).await;
    assert_eq!(r.ok().data("/channel/phoneNumbers/0/apiKeyHint"), &json!(last4(&k1)));
    let r = update_key(&app, &n, &k2).await;
    assert_eq!(r.ok().data("/updatePhoneNumberApiKey/apiKeyHint"), &json!(last4(&k2)));
    assert_eq!(number(&app, &n).await.ok().data("/phoneNumber/apiKeyHint"), &json!(last4(&k2)));
    set_enabled(&app, &n, false).await.ok();
    set_enabled(&app, &n, true).await.ok();
    delete(&app, &n).await.ok();
    let r = app.admin(list, json!({ "id": ch })).await;
    assert_eq!(r.ok().data("/channel/deleted/0/apiKeyHint"), &json!(last4(&k2)));
    restore(&app, &n).await.ok();
    let r =
        app.admin("query { channels { edges { node { phoneNumbers { phoneNumber apiKeyHint } } } } }", json!({})).await;
    r.ok();
    // Refused requests carrying a key: a taken number, a bad number, a bad key change.
    let r = add(&app, &admin, &other, "+14155550123", &k3).await;
    assert_eq!(r.code(), "CONFLICT", "{}", r.raw);
    let r = add(&app, &admin, &other, "not a number", &k4).await;
    assert_eq!(r.code(), "BAD_USER_INPUT", "{}", r.raw);
    let r = update_key(&app, &n, &format!("{k4} with spaces")).await;
    assert_eq!(r.code(), "BAD_USER_INPUT", "{}", r.raw);
    // Requests the schema refuses before any resolver runs.
    for i in [json!({ "phoneNumber": "+14155550199", "apiKey": k4, "label": "typo" }), json!({ "apiKey": k4 })] {
        let r = app.admin(&add_q(), json!({ "c": other, "i": i })).await;
        assert_eq!(r.status, 400, "{}", r.raw);
    }
    // The same mutations with the key inline in the document rather than in variables.
    let inline = format!(
        "mutation {{ addPhoneNumber(channelId: \"{other}\", input: {{ phoneNumber: \"+14155550123\", apiKey: \"{k3}\" }}) {{ id }} }}"
    );
    assert_eq!(app.admin(&inline, json!({})).await.code(), "CONFLICT");

    // Give asynchronous log writers a moment.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let bodies = tests::logs::captured_bodies();
    let logs = tests::logs::captured_logs();
    assert!(bodies.contains(&n), "the capture must hold this test's responses");
    assert!(logs.contains(&ch), "the capture must hold this test's logs");
    for k in [&k1, &k2, &k3, &k4] {
        assert!(!bodies.contains(k.as_str()), "a response body holds the key {k}");
        assert!(!logs.contains(k.as_str()), "the logs hold the key {k}");
        // Nor a recognisable part of it beyond the hint.
        let uuid_part = &k["SECRETKEY-".len()..];
        assert!(!bodies.contains(uuid_part), "a response body holds part of {k}");
        assert!(!logs.contains(uuid_part), "the logs hold part of {k}");
    }

    // No output type of the schema has a field for the key.
    let sdl = api::graphql::sdl();
    let types = output_type_fields(&sdl);
    let pn = types.iter().find(|(name, _)| name == "PhoneNumber").expect("type PhoneNumber in the SDL");
    assert!(pn.1.contains(&"apiKeyHint".to_owned()), "{:?}", pn.1);
    for (name, fields) in &types {
        for f in fields {
            assert!(
                !(f.eq_ignore_ascii_case("apiKey") || f.to_lowercase().starts_with("apikey") && f != "apiKeyHint"),
                "type {name} exposes {f}"
            );
        }
    }

    // At rest: no column holds the key in clear, and the encrypted column decrypts to it.
    use sea_orm::{ConnectionTrait, FromQueryResult, Statement};
    let stmt = Statement::from_string(app.engine.db.get_database_backend(), "SELECT * FROM phone_numbers");
    let raw_rows = app.engine.db.query_all_raw(stmt.clone()).await.unwrap();
    assert_eq!(raw_rows.len(), 1);
    let columns = raw_rows[0].column_names();
    let json_rows = Value::find_by_statement(stmt).all(&app.engine.db).await.unwrap();
    let json_row = json_rows[0].as_object().unwrap();
    assert_eq!(json_row.len(), columns.len(), "every column must be read: {columns:?} vs {json_row:?}");
    let text = Value::Object(json_row.clone()).to_string();
    for k in [&k1, &k2, &k3, &k4] {
        assert!(!text.contains(&k["SECRETKEY-".len()..]), "a column holds {k}: {text}");
    }
    let stored = row(&app, &n).await;
    assert_eq!(stored.api_key_hint, last4(&k2));
    assert_ne!(stored.api_key_enc, k2);
    assert_eq!(app.engine.cipher.decrypt(&stored.api_key_enc).unwrap().expose(), k2);
}
