//! GraphQL over HTTP: content negotiation, status codes for request errors, GET for queries only, GraphiQL,
//! depth and complexity limits, body limits, the operational endpoints, and no internal text in any answer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::header::{ACCEPT, ALLOW, CONTENT_TYPE, HeaderMap};
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};
use tests::TestApp;

const GQL_RESPONSE: &str = "application/graphql-response+json";
const JSON: &str = "application/json";
/// Words that only appear when database or driver internals reach a client.
const INTERNALS: [&str; 4] = ["sqlx", "SELECT", "sea_orm", "DbErr"];

/// One HTTP answer as the client saw it.
#[derive(Debug)]
struct Resp {
    status: u16,
    headers: HeaderMap,
    body: String,
}

impl Resp {
    /// The media type of the answer, without parameters.
    fn media(&self) -> String {
        self.headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_owned()
    }
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    /// The messages of every error in the body.
    fn messages(&self) -> Vec<String> {
        self.json()["errors"]
            .as_array()
            .map(|a| a.iter().map(|e| e["message"].as_str().unwrap_or("").to_owned()).collect())
            .unwrap_or_default()
    }
}

/// Sends a request and checks that the answer shows no internals.
async fn send(req: RequestBuilder) -> Resp {
    let resp = req.send().await.expect("request failed");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.text().await.unwrap_or_default();
    no_internals(&body);
    Resp { status, headers, body }
}

fn no_internals(body: &str) {
    for word in INTERNALS {
        assert!(!body.contains(word), "a response shows `{word}`: {body}");
    }
}

fn url(app: &TestApp) -> String {
    format!("{}/graphql", app.base)
}

/// A POST of `body` (as JSON) with the given `Accept`, or none.
fn post(app: &TestApp, accept: Option<&str>, body: &Value) -> RequestBuilder {
    let mut req = app.http.post(url(app)).header(CONTENT_TYPE, JSON).body(body.to_string());
    if let Some(a) = accept {
        req = req.header(ACCEPT, a);
    }
    req
}

/// A POST of raw bytes with `Content-Type: application/json` and the given `Accept`.
fn post_raw(app: &TestApp, accept: &str, body: impl Into<reqwest::Body>) -> RequestBuilder {
    app.http.post(url(app)).header(CONTENT_TYPE, JSON).header(ACCEPT, accept).body(body)
}

const ME: &str = "{ me { id email role } }";

#[tokio::test]
async fn the_response_media_type_follows_accept() {
    let app = TestApp::spawn().await;
    let body = json!({ "query": ME });
    let cases: [(Option<&str>, Option<&str>); 8] = [
        (Some(GQL_RESPONSE), Some(GQL_RESPONSE)),
        (Some("application/graphql-response+json, application/json;q=0.9"), Some(GQL_RESPONSE)),
        (Some(JSON), Some(JSON)),
        (Some("application/json; charset=utf-8"), Some(JSON)),
        (Some("*/*"), Some(JSON)),
        (None, Some(JSON)),
        (Some("text/plain"), None),
        (Some("text/html, text/plain"), None),
    ];
    for (accept, want) in cases {
        let r = send(post(&app, accept, &body).bearer_auth(&app.admin_token)).await;
        match want {
            Some(media) => {
                assert_eq!(r.status, 200, "Accept {accept:?}: {}", r.body);
                assert_eq!(r.media(), media, "Accept {accept:?}");
                let v = r.json();
                assert_eq!(v["data"]["me"]["role"], json!("ADMIN"), "Accept {accept:?}");
                assert!(v.get("errors").is_none(), "Accept {accept:?}: {}", r.body);
            }
            None => assert_eq!(r.status, 406, "Accept {accept:?}: {}", r.body),
        }
    }
}

#[tokio::test]
async fn a_syntax_error_is_400_with_the_new_media_type_and_200_with_json() {
    let app = TestApp::spawn().await;
    // The second line lacks a closing brace: the error is at its end.
    let body = json!({ "query": "{\n  me { id \n}" });
    let r = send(post(&app, Some(GQL_RESPONSE), &body).bearer_auth(&app.admin_token)).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.media(), GQL_RESPONSE);
    let v = r.json();
    assert!(v.get("data").is_none(), "{}", r.body);
    let err = &v["errors"][0];
    assert!(!err["message"].as_str().unwrap_or("").is_empty(), "{}", r.body);
    let loc = &err["locations"][0];
    assert!(
        loc["line"].as_u64().is_some_and(|l| l >= 1) && loc["column"].as_u64().is_some(),
        "the syntax error carries no location: {}",
        r.body
    );

    let r = send(post(&app, Some(JSON), &body).bearer_auth(&app.admin_token)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.media(), JSON);
    assert!(!r.messages().is_empty(), "{}", r.body);

    // A syntax error on a known line/column is reported there.
    let body = json!({ "query": "{ me { id } } }" });
    let r = send(post(&app, Some(GQL_RESPONSE), &body)).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let v = r.json();
    assert_eq!(v["errors"][0]["locations"][0]["line"], json!(1), "{}", r.body);
    assert_eq!(v["errors"][0]["locations"][0]["column"], json!(15), "{}", r.body);
}

#[tokio::test]
async fn validation_errors_are_400_with_the_new_media_type() {
    let app = TestApp::spawn().await;
    let unknown = json!({ "query": "{ me { id nope } }" });
    let r = send(post(&app, Some(GQL_RESPONSE), &unknown).bearer_auth(&app.admin_token)).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.media(), GQL_RESPONSE);
    assert!(r.messages().iter().any(|m| m.contains("nope")), "the error does not name the unknown field: {}", r.body);
    // With application/json the same request error answers 200 (the legacy behaviour).
    let r = send(post(&app, Some(JSON), &unknown).bearer_auth(&app.admin_token)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.media(), JSON);
    assert!(!r.messages().is_empty(), "{}", r.body);

    // A field error (the request is valid, the resolver refuses) stays 200 with a path.
    let r = send(post(&app, Some(GQL_RESPONSE), &json!({ "query": ME }))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["errors"][0]["extensions"]["code"], json!("UNAUTHENTICATED"));
}

/// POSTs `query` with `accept` as the admin; the answer as (status, body).
async fn post_as_admin(app: &TestApp, accept: &str, query: &str) -> (u16, Value) {
    let r = send(post(app, Some(accept), &json!({ "query": query })).bearer_auth(&app.admin_token)).await;
    assert_eq!(r.media(), accept, "{}", r.body);
    (r.status, r.json())
}

#[tokio::test]
async fn request_errors_have_no_data_entry_in_either_media_type() {
    let app = TestApp::spawn().await;
    let cases = [
        ("a syntax error", "{ me { id }"),
        ("an unknown field", "{ me { id nope } }"),
        ("an unknown argument", "{ me(x: 1) { id } }"),
        ("an unknown subscription field", "subscription { nope }"),
    ];
    for (what, query) in cases {
        for (accept, status) in [(GQL_RESPONSE, 400), (JSON, 200)] {
            let (got, v) = post_as_admin(&app, accept, query).await;
            assert_eq!(got, status, "{what} with Accept {accept}: {v}");
            assert!(v.get("data").is_none(), "{what} with Accept {accept} has a `data` entry: {v}");
            let errors = v["errors"].as_array().map(Vec::len).unwrap_or(0);
            assert!(errors > 0, "{what} with Accept {accept} has no errors: {v}");
        }
    }
}

#[tokio::test]
async fn execution_errors_keep_the_data_entry() {
    let app = TestApp::spawn().await;
    for accept in [GQL_RESPONSE, JSON] {
        // `me` is non-null: without a token the error nulls the whole `data`, which is still there.
        let r = send(post(&app, Some(accept), &json!({ "query": ME }))).await;
        assert_eq!(r.status, 200, "Accept {accept}: {}", r.body);
        let v = r.json();
        assert_eq!(v.get("data"), Some(&Value::Null), "Accept {accept}: {}", r.body);
        assert_eq!(v["errors"][0]["extensions"]["code"], json!("UNAUTHENTICATED"), "{}", r.body);
        assert_eq!(v["errors"][0]["path"], json!(["me"]), "{}", r.body);
        // A channel that does not exist: a field error, so `data` is there too.
        let query = "{ channel(id: \"00000000-0000-0000-0000-000000000000\") { id } }";
        let (status, v) = post_as_admin(&app, accept, query).await;
        assert_eq!(status, 200, "Accept {accept}: {v}");
        assert!(v.get("data").is_some(), "Accept {accept}: {v}");
        assert_eq!(v["errors"][0]["path"], json!(["channel"]), "Accept {accept}: {v}");
    }
}

/// Sends `query` with `variables` as the admin; describes the answer when it is not a 400 request error (in the
/// new media type, without a `data` entry) naming `variable`.
async fn variable_error_problem(app: &TestApp, query: &str, variables: Value, variable: &str) -> Option<String> {
    let body = json!({ "query": query, "variables": variables });
    let r = send(post(app, Some(GQL_RESPONSE), &body).bearer_auth(&app.admin_token)).await;
    let v = r.json();
    let ok = r.status == 400
        && r.media() == GQL_RESPONSE
        && v.get("data").is_none()
        && r.messages().iter().any(|m| m.contains(variable));
    (!ok).then(|| format!("{query} with {variables}: {} {}", r.status, r.body))
}

async fn expect_variable_errors(app: &TestApp, cases: Vec<(&str, Value, &str)>) {
    let mut problems = Vec::new();
    for (query, variables, variable) in cases {
        problems.extend(variable_error_problem(app, query, variables, variable).await);
    }
    assert!(problems.is_empty(), "not a 400 request error naming the variable:\n{}", problems.join("\n"));
}

const REVIEW_VAR: &str = "mutation($input: ChannelInput!) { reviewChannel(input: $input) { valid } }";
const CREATE_VAR: &str = "mutation($input: ChannelInput!) { createChannel(input: $input) { id } }";

#[tokio::test]
async fn variables_of_the_wrong_type_are_400_and_name_the_variable() {
    let app = TestApp::spawn().await;
    let before = app.snapshot().await;
    let mut wrong = TestApp::channel_input("Wrong type");
    wrong["utilization"] = json!("x");
    expect_variable_errors(
        &app,
        vec![
            (REVIEW_VAR, json!({ "input": wrong }), "input"),
            (CREATE_VAR, json!({ "input": wrong }), "input"),
            (REVIEW_VAR, json!({ "input": null }), "input"),
            (CREATE_VAR, json!({ "input": null }), "input"),
            // A scalar variable of the wrong type.
            ("query($first: Int) { channels(first: $first) { totalCount } }", json!({ "first": "ten" }), "first"),
        ],
    )
    .await;
    assert_eq!(app.snapshot().await, before, "a refused request wrote");
}

#[tokio::test]
async fn missing_required_variables_are_400_and_name_the_variable() {
    let app = TestApp::spawn().await;
    let before = app.snapshot().await;
    expect_variable_errors(
        &app,
        vec![
            (REVIEW_VAR, json!({}), "input"),
            (CREATE_VAR, json!({}), "input"),
            (
                "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }",
                json!({ "e": "someone@example.com" }),
                "p",
            ),
            ("query($id: ID!) { channel(id: $id) { id } }", json!({}), "id"),
        ],
    )
    .await;
    assert_eq!(app.snapshot().await, before, "a refused request wrote");
}

/// POSTs each raw body with each Accept and lists the answers that are not a 400 with an error message.
async fn not_refused(app: &TestApp, bodies: &[&str]) -> Vec<String> {
    let mut wrong = Vec::new();
    for accept in [GQL_RESPONSE, JSON] {
        for body in bodies {
            let r = send(post_raw(app, accept, body.to_string()).bearer_auth(&app.admin_token)).await;
            if r.status != 400 || r.media() != accept || r.messages().is_empty() {
                wrong.push(format!("Accept {accept}, body {body}: {} {} {}", r.status, r.media(), r.body));
            }
        }
    }
    wrong
}

#[tokio::test]
async fn a_request_with_a_missing_variable_runs_nothing() {
    let app = TestApp::spawn().await;
    let (_, token) = app.user_with_token("AGENT").await;
    // `logout` needs no variable; `login` lacks one. The request is invalid as a whole: nothing may run.
    let body = json!({
        "query": "mutation($e: String!, $p: String!) { logout login(email: $e, password: $p) { token } }",
        "variables": { "e": "someone@example.com" },
    });
    let r = send(post(&app, Some(GQL_RESPONSE), &body).bearer_auth(&token)).await;
    let me = app.gql(Some(&token), ME, json!({})).await;
    assert!(
        me.errors().is_empty(),
        "the logout ran although the request lacks a required variable: {} then {}",
        r.body,
        me.raw
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.json().get("data").is_none(), "{}", r.body);
}

#[tokio::test]
async fn json_that_is_not_a_graphql_request_is_400() {
    let app = TestApp::spawn().await;
    let before = app.snapshot().await;
    // No `query` at all: not a GraphQL-over-HTTP request, whatever the Accept.
    let wrong = not_refused(&app, &["{\"foo\":1}", "[]", "{}"]).await;
    assert!(wrong.is_empty(), "not a 400 with an error:\n{}", wrong.join("\n"));
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn bodies_that_are_not_graphql_requests_are_refused() {
    let app = TestApp::spawn().await;
    let wrong = not_refused(
        &app,
        &[
            "not json",
            "{\"query\": ",
            "{\"query\": 42}",
            "\"{ me { id } }\"",
            "{\"query\": \"{ me { id } }\", \"variables\": 7}",
        ],
    )
    .await;
    assert!(wrong.is_empty(), "not a 400 with an error:\n{}", wrong.join("\n"));
    // Only JSON bodies are accepted.
    for content_type in ["text/plain", "application/graphql", "application/x-www-form-urlencoded"] {
        let r = send(
            app.http
                .post(url(&app))
                .header(CONTENT_TYPE, content_type)
                .header(ACCEPT, GQL_RESPONSE)
                .bearer_auth(&app.admin_token)
                .body(json!({ "query": ME }).to_string()),
        )
        .await;
        assert_eq!(r.status, 415, "Content-Type {content_type}: {}", r.body);
    }
    let r = send(
        app.http
            .post(url(&app))
            .header(ACCEPT, GQL_RESPONSE)
            .bearer_auth(&app.admin_token)
            .body(json!({ "query": ME }).to_string()),
    )
    .await;
    assert_eq!(r.status, 415, "no Content-Type: {}", r.body);
    // The charset parameter is fine.
    let r = send(
        app.http
            .post(url(&app))
            .header(CONTENT_TYPE, "application/json; charset=utf-8")
            .header(ACCEPT, GQL_RESPONSE)
            .bearer_auth(&app.admin_token)
            .body(json!({ "query": ME }).to_string()),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn get_runs_queries() {
    let app = TestApp::spawn().await;
    let r = send(
        app.http
            .get(url(&app))
            .query(&[("query", "{me{id}}")])
            .header(ACCEPT, GQL_RESPONSE)
            .bearer_auth(&app.admin_token),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.media(), GQL_RESPONSE);
    let me = app.admin(ME, json!({})).await;
    assert_eq!(r.json()["data"]["me"]["id"], *me.ok().data("/me/id"));

    // Variables travel as JSON in the query string; no Accept means application/json.
    let r = send(
        app.http
            .get(url(&app))
            .query(&[("query", "query($f: Int) { channels(first: $f) { totalCount } }"), ("variables", "{\"f\": 5}")])
            .bearer_auth(&app.admin_token),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.media(), JSON);
    assert_eq!(r.json()["data"]["channels"]["totalCount"], json!(0));

    // The query string written by hand, braces and all.
    let r = send(app.http.get(format!("{}/graphql?query={{me{{id}}}}", app.base)).bearer_auth(&app.admin_token)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["data"]["me"]["id"], *me.data("/me/id"));
}

/// GETs `query` (with `operationName` when given) with `token`; expects 405 with `Allow: POST`, then checks that
/// the token still works (the logout did not run).
async fn expect_get_refused(app: &TestApp, token: &str, query: &str, op: Option<&str>) {
    for accept in [GQL_RESPONSE, JSON] {
        let mut params = vec![("query", query)];
        if let Some(op) = op {
            params.push(("operationName", op));
        }
        let r = send(app.http.get(url(app)).query(&params).header(ACCEPT, accept).bearer_auth(token)).await;
        assert_eq!(r.status, 405, "{query} ({op:?}): {}", r.body);
        let allow = r.headers.get(ALLOW).and_then(|v| v.to_str().ok());
        assert_eq!(allow, Some("POST"), "{query}");
        let me = app.gql(Some(token), ME, json!({})).await;
        assert_eq!(me.ok().str("/me/role"), "AGENT", "{query}");
    }
}

#[tokio::test]
async fn get_refuses_mutations_and_does_nothing() {
    let app = TestApp::spawn().await;
    let (_, token) = app.user_with_token("AGENT").await;
    let before = app.snapshot().await;
    expect_get_refused(&app, &token, "mutation { logout }", None).await;
    expect_get_refused(&app, &token, "mutation Out { logout }", None).await;
    expect_get_refused(&app, &token, "mutation Out { logout }", Some("Out")).await;
    // createUser over GET creates nothing either.
    let create = format!(
        "mutation {{ createUser(input: {{ email: \"get-{}@example.com\", name: \"Get\", password: \"password-123\", role: AGENT }}) {{ id }} }}",
        uuid::Uuid::new_v4().simple()
    );
    let r = send(app.http.get(url(&app)).query(&[("query", create.as_str())]).bearer_auth(&app.admin_token)).await;
    assert_eq!(r.status, 405, "{}", r.body);
    assert_eq!(r.headers.get(ALLOW).and_then(|v| v.to_str().ok()), Some("POST"));
    assert_eq!(app.snapshot().await, before, "a GET mutation wrote");
}

#[tokio::test]
async fn get_honours_operation_name() {
    let app = TestApp::spawn().await;
    let (_, token) = app.user_with_token("AGENT").await;
    let doc = "query Me { me { role } } mutation Out { logout }";
    // The mutation of a document that holds both is refused...
    expect_get_refused(&app, &token, doc, Some("Out")).await;
    // ...and its query runs.
    let r = send(
        app.http
            .get(url(&app))
            .query(&[("query", doc), ("operationName", "Me")])
            .header(ACCEPT, GQL_RESPONSE)
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["data"]["me"]["role"], json!("AGENT"), "{}", r.body);
    app.gql(Some(&token), ME, json!({})).await.ok();
}

#[tokio::test]
async fn a_browser_gets_graphiql() {
    let app = TestApp::spawn().await;
    let r = send(app.http.get(url(&app)).header(ACCEPT, "text/html,application/xhtml+xml,*/*;q=0.8")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.media(), "text/html");
    assert!(r.body.to_lowercase().contains("graphiql"), "not a GraphiQL page: {}", r.body);
    // Without text/html and without a query there is no page.
    let r = send(app.http.get(url(&app)).header(ACCEPT, GQL_RESPONSE)).await;
    assert_ne!(r.status, 200, "{}", r.body);
    assert!(!r.body.to_lowercase().contains("graphiql"), "{}", r.body);
}

/// `__schema { types { fields { type { ofType ... { name } } } } }` with `levels` `ofType`s.
fn deep_introspection(levels: usize) -> String {
    let mut inner = "name".to_owned();
    for _ in 0..levels {
        inner = format!("ofType {{ {inner} }}");
    }
    format!("{{ __schema {{ types {{ fields {{ type {{ {inner} }} }} }} }} }}")
}

#[tokio::test]
async fn over_deep_queries_are_refused() {
    let app = TestApp::spawn().await;
    // Well within the limit: answers.
    let r = app.admin(&deep_introspection(3), json!({})).await;
    r.ok();
    // 20 levels of nesting.
    let r = app.admin(&deep_introspection(16), json!({})).await;
    assert_eq!(r.status, 400, "{}", r.raw);
    assert!(r.body.get("data").is_none(), "{}", r.raw);
    let messages: Vec<String> = r.errors().iter().map(|e| e["message"].as_str().unwrap_or("").to_lowercase()).collect();
    assert!(
        messages.iter().any(|m| m.contains("depth") || m.contains("deep")),
        "the refusal does not mention depth: {}",
        r.raw
    );
    no_internals(&r.raw);
    // The same without a token: refused before anything runs.
    let r = app.gql(None, &deep_introspection(16), json!({})).await;
    assert_eq!(r.status, 400, "{}", r.raw);
}

#[tokio::test]
async fn over_complex_queries_are_refused() {
    let app = TestApp::spawn().await;
    app.create_channel("Sales").await;
    let selection = "edges { node { agents { name } phoneNumbers { id } wrapUpCodes { name } } }";
    // One copy is fine.
    let r = app.admin(&format!("{{ channels {{ {selection} }} }}"), json!({})).await;
    r.ok();
    assert_eq!(r.data("/channels/edges").as_array().map(Vec::len), Some(1));
    let aliases: Vec<String> = (0..50).map(|i| format!("c{i}: channels {{ {selection} }}")).collect();
    let query = format!("{{ {} }}", aliases.join(" "));
    let r = app.admin(&query, json!({})).await;
    assert_eq!(r.status, 400, "{}", r.raw);
    assert!(r.body.get("data").is_none(), "{}", r.raw);
    assert!(
        r.errors().iter().any(|e| e["message"].as_str().unwrap_or("").to_lowercase().contains("complex")),
        "the refusal does not mention complexity: {}",
        r.raw
    );
    no_internals(&r.raw);
}

#[tokio::test]
async fn operational_endpoints_answer() {
    let app = TestApp::spawn().await;
    let r = send(app.http.get(format!("{}/healthz", app.base))).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "ok");
    let r = send(app.http.get(format!("{}/readyz", app.base))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Some statements have run by now (migrations, the first account).
    let r = send(app.http.get(format!("{}/metrics", app.base))).await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("db_statements_total"), "{}", r.body);
    let counter =
        r.body.lines().find_map(|l| l.strip_prefix("db_statements_total ")).and_then(|v| v.trim().parse::<u64>().ok());
    assert!(counter.is_some_and(|n| n > 0), "{}", r.body);
}

#[tokio::test]
async fn the_console_is_served_from_the_binary_under_a_strict_policy() {
    let app = TestApp::spawn().await;
    for path in ["/console", "/console/"] {
        let r = send(app.http.get(format!("{}{path}", app.base))).await;
        assert_eq!(r.status, 200, "{path}");
        assert!(r.headers[CONTENT_TYPE].to_str().unwrap().starts_with("text/html"), "{path}");
        assert!(r.body.contains(r#"<script type="module" src="/console/app.js">"#), "{}", r.body);
        let policy = r.headers["content-security-policy"].to_str().unwrap();
        assert!(policy.contains("default-src 'self'") && policy.contains("frame-ancestors 'none'"), "{policy}");
        assert!(!policy.contains("unsafe-inline") && !policy.contains("unsafe-eval"), "{policy}");
    }
    // Every module the page imports is there, as JavaScript, and each of theirs in turn.
    let mut pending = vec!["app.js".to_owned()];
    let mut seen = std::collections::HashSet::new();
    while let Some(file) = pending.pop() {
        if !seen.insert(file.clone()) {
            continue;
        }
        let r = send(app.http.get(format!("{}/console/{file}", app.base))).await;
        assert_eq!(r.status, 200, "{file}");
        assert!(r.headers[CONTENT_TYPE].to_str().unwrap().starts_with("text/javascript"), "{file}");
        for part in r.body.split("from \"./").skip(1) {
            if let Some((name, _)) = part.split_once('"') {
                pending.push(name.to_owned());
            }
        }
    }
    assert!(seen.len() >= 6, "the console's modules: {seen:?}");
    for vendor in ["vendor/preact.mjs", "vendor/hooks.mjs", "vendor/htm.mjs"] {
        assert_eq!(send(app.http.get(format!("{}/console/{vendor}", app.base))).await.status, 200, "{vendor}");
    }
    for missing in ["/console/nope.js", "/console/../Cargo.toml", "/console/vendor"] {
        assert_eq!(send(app.http.get(format!("{}{missing}", app.base))).await.status, 404, "{missing}");
    }
}

/// POSTs `chunks` chunks of `size` spaces to /graphql with `Transfer-Encoding: chunked` over a raw connection;
/// returns the status code.
async fn chunked_post(app: &TestApp, chunks: usize, size: usize) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nAccept: {GQL_RESPONSE}\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        app.addr
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let chunk = format!("{size:x}\r\n{}\r\n", " ".repeat(size));
    for _ in 0..chunks {
        // The server may answer and close before everything is sent.
        if conn.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let _ = conn.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = conn.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    no_internals(&answer);
    answer.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status line: {answer}"))
}

#[tokio::test]
async fn bodies_over_one_mebibyte_are_refused() {
    let app = TestApp::spawn().await;
    // A syntactically valid request, just too large.
    let padding = " ".repeat(1024 * 1024);
    let body = format!("{{\"query\": \"{{ me {{ id }} }}\",{padding}\"variables\": {{}}}}");
    assert!(body.len() > 1024 * 1024);
    let r = send(post_raw(&app, GQL_RESPONSE, body).bearer_auth(&app.admin_token)).await;
    assert_eq!(r.status, 413, "{}", r.body);
    // Without a Content-Length (a chunked body) the limit holds too.
    let status = chunked_post(&app, 17, 64 * 1024).await;
    assert_eq!(status, 413, "a chunked body over the limit");
    // Just under the limit is served.
    let padding = " ".repeat(1024 * 1024 - 200);
    let body = format!("{{\"query\": \"{{ me {{ id }} }}\",{padding}\"variables\": {{}}}}");
    assert!(body.len() < 1024 * 1024);
    let r = send(post_raw(&app, GQL_RESPONSE, body).bearer_auth(&app.admin_token)).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn errors_never_show_internals() {
    let app = TestApp::spawn().await;
    let (_, agent) = app.user_with_token("AGENT").await;
    // A mix of refusals that reach the database or the validator in odd ways.
    let requests: Vec<(Option<&str>, &str, Value)> = vec![
        (Some(&app.admin_token), "{ channel(id: \"not-a-uuid\") { id } }", json!({})),
        (Some(&app.admin_token), "{ channel(id: \"00000000-0000-0000-0000-000000000000\") { id } }", json!({})),
        (Some(&app.admin_token), "{ channels(after: \"'; DROP TABLE channels; --\") { totalCount } }", json!({})),
        (Some(&app.admin_token), "{ channels(first: 1000) { totalCount } }", json!({})),
        (Some(&agent), "{ users { id } }", json!({})),
        (Some("nva_bogus"), ME, json!({})),
        (None, "mutation { login(email: \"x@example.com\", password: \"' OR ''='\") { token } }", json!({})),
    ];
    for (token, query, variables) in requests {
        let r = app.gql(token, query, variables).await;
        assert!(!r.errors().is_empty(), "{query}: {}", r.raw);
        no_internals(&r.raw);
    }
    // Quotes and wildcards in a filter are data, not SQL.
    let r = app.admin("{ channels(nameContains: \"%' OR 1=1 --\") { totalCount } }", json!({})).await;
    assert_eq!(*r.ok().data("/channels/totalCount"), json!(0));
    // Methods the endpoint does not serve.
    let r = send(app.http.request(Method::PUT, url(&app)).body("{}")).await;
    assert_eq!(r.status, 405, "{}", r.body);
}
