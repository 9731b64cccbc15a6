//! The GraphQL endpoint, following the GraphQL-over-HTTP specification: POST with `application/json` bodies,
//! GET for queries only (mutations over GET answer 405), responses as `application/graphql-response+json` or
//! `application/json` by the `Accept` header (406 for neither), and with the new media type 400 for requests
//! that fail to parse or validate. A browser's GET without a query gets GraphiQL (its subscriptions open a
//! WebSocket on the same path).

use crate::graphql::{Caller, Loaders};
use crate::state::{GraphqlState, Peer, client_info};
use async_graphql::http::GraphiQLSource;
use async_graphql::parser::types::{DocumentOperations, OperationDefinition, OperationType};
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde_json::Value as Json;
use worker::Engine;

pub const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

#[derive(Clone, Copy, PartialEq, Eq)]
enum MediaType {
    GraphqlResponse,
    Json,
}

impl MediaType {
    fn as_str(self) -> &'static str {
        match self {
            MediaType::GraphqlResponse => GRAPHQL_RESPONSE,
            MediaType::Json => JSON,
        }
    }

    /// The status of a request error (parse, validation, variables): 400 with the new media type; legacy
    /// `application/json` clients get 200.
    fn request_error_status(self) -> StatusCode {
        match self {
            MediaType::GraphqlResponse => StatusCode::BAD_REQUEST,
            MediaType::Json => StatusCode::OK,
        }
    }
}

/// Picks the response media type. No `Accept` header means `application/json` (what legacy clients expect).
fn negotiate(headers: &HeaderMap) -> Option<MediaType> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Some(MediaType::Json);
    };
    let types: Vec<&str> = accept.split(',').map(|p| p.split(';').next().unwrap_or("").trim()).collect();
    if types.contains(&GRAPHQL_RESPONSE) {
        Some(MediaType::GraphqlResponse)
    } else if types.iter().any(|t| matches!(*t, JSON | "*/*" | "application/*")) {
        Some(MediaType::Json)
    } else {
        None
    }
}

fn error_body(status: StatusCode, media: MediaType, message: &str) -> Response {
    let body = serde_json::json!({ "errors": [{ "message": message }] });
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static(media.as_str()))], body.to_string()).into_response()
}

fn not_acceptable() -> Response {
    (
        StatusCode::NOT_ACCEPTABLE,
        [(header::CONTENT_TYPE, HeaderValue::from_static(JSON))],
        r#"{"errors":[{"message":"Accept must allow application/graphql-response+json or application/json"}]}"#,
    )
        .into_response()
}

async fn caller(engine: &Engine, headers: &HeaderMap) -> Result<Caller, worker::Error> {
    let Some(value) = headers.get(header::AUTHORIZATION) else { return Ok(Caller::Anonymous) };
    let token = value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")).map(str::trim);
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Ok(Caller::InvalidToken("the token is invalid or revoked"));
    };
    if worker::conversations::chatbot_actions::is_bot_token(token) {
        return match engine.authenticate_bot(token).await {
            Ok(bot) => Ok(Caller::Bot(bot)),
            Err(worker::Error::Unauthenticated(why)) => Ok(Caller::InvalidToken(why)),
            Err(e) => Err(e),
        };
    }
    match engine.authenticate(token).await {
        Ok(actor) => Ok(Caller::User(actor)),
        Err(worker::Error::Unauthenticated(why)) => Ok(Caller::InvalidToken(why)),
        Err(e) => Err(e),
    }
}

/// A GraphQL-over-HTTP request object: `query` (string, required), `operationName`, `variables` and
/// `extensions` (objects), each optional or null.
fn graphql_request(value: Json) -> Result<async_graphql::Request, String> {
    let Json::Object(mut map) = value else {
        return Err("the request must be a JSON object with a `query`".into());
    };
    if !matches!(map.get("query"), Some(Json::String(_))) {
        return Err("`query` must be a string holding the GraphQL document".into());
    }
    if !matches!(map.get("operationName"), None | Some(Json::Null | Json::String(_))) {
        return Err("`operationName` must be a string".into());
    }
    for k in ["variables", "extensions"] {
        if !matches!(map.get(k), None | Some(Json::Null | Json::Object(_))) {
            return Err(format!("`{k}` must be an object"));
        }
    }
    map.retain(|_, v| !v.is_null());
    serde_json::from_value(Json::Object(map)).map_err(|e| format!("the body is not a GraphQL request: {e}"))
}

/// The operation the request selects, when the document parses and the selection is unambiguous. The parsed
/// document stays in the request: the schema does not parse it again.
fn selected_operation(req: &mut async_graphql::Request) -> Option<OperationDefinition> {
    let name = req.operation_name.clone();
    let doc = req.parsed_query().ok()?;
    match (name.as_deref(), &doc.operations) {
        (None, DocumentOperations::Single(op)) => Some(op.node.clone()),
        (Some(name), DocumentOperations::Multiple(ops)) => ops.get(name).map(|op| op.node.clone()),
        (Some(_), DocumentOperations::Single(op)) => Some(op.node.clone()),
        // A named operation alone in its document is parsed as `Multiple` too.
        (None, DocumentOperations::Multiple(ops)) if ops.len() == 1 => ops.values().next().map(|op| op.node.clone()),
        (None, DocumentOperations::Multiple(_)) => None,
    }
}

/// Required variables (non-null, no default) that the request does not provide. async-graphql would report
/// these per field, after running the operation's other fields; they are a request error: nothing may run.
fn missing_variables(op: &OperationDefinition, req: &async_graphql::Request) -> Option<String> {
    let missing: Vec<String> = op
        .variable_definitions
        .iter()
        .filter(|d| !d.node.var_type.node.nullable && d.node.default_value.is_none())
        .filter(|d| {
            let name = async_graphql::Name::new(d.node.name.node.as_str());
            matches!(req.variables.get(&name), None | Some(async_graphql::Value::Null))
        })
        .map(|d| {
            format!(
                "Variable \"${}\" of required type \"{}\" was not provided.",
                d.node.name.node, d.node.var_type.node
            )
        })
        .collect();
    (!missing.is_empty()).then(|| missing.join(" "))
}

async fn execute(
    state: &GraphqlState,
    headers: &HeaderMap,
    peer: &Peer,
    media: MediaType,
    mut req: async_graphql::Request,
) -> Response {
    if let Some(msg) = selected_operation(&mut req).and_then(|op| missing_variables(&op, &req)) {
        return error_body(media.request_error_status(), media, &msg);
    }
    let caller = match caller(&state.engine, headers).await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = ?e, "authentication lookup failed");
            return error_body(StatusCode::INTERNAL_SERVER_ERROR, media, "internal error");
        }
    };
    let client = client_info(&state.engine, peer, headers);
    let req = req.data(caller).data(client).data(Loaders::new(&state.engine));
    graphql_response(media, state.schema.execute(req).await)
}

/// Writes the schema's answer. A request error (parse, validation, unknown operation, bad variables: refused
/// before anything ran) has no `data` entry at all and, with the new media type, status 400. Once execution has
/// started the answer has `data` (null when a non-null root field failed) and status 200. Request errors are
/// told apart by their lack of a path: the errors of fields always carry one.
fn graphql_response(media: MediaType, resp: async_graphql::Response) -> Response {
    let request_error = resp.data == async_graphql::Value::Null
        && !resp.errors.is_empty()
        && resp.errors.iter().all(|e| e.path.is_empty());
    let status = if request_error { media.request_error_status() } else { StatusCode::OK };
    let mut body = match serde_json::to_value(&resp) {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "cannot serialise a GraphQL response");
            return error_body(StatusCode::INTERNAL_SERVER_ERROR, media, "internal error");
        }
    };
    if request_error && let Some(map) = body.as_object_mut() {
        map.remove("data");
    }
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static(media.as_str()))], body.to_string()).into_response()
}

pub async fn graphql_get(
    State(state): State<GraphqlState>,
    headers: HeaderMap,
    peer: Peer,
    RawQuery(qs): RawQuery,
) -> Response {
    let qs = qs.unwrap_or_default();
    let wants_html = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"));
    if qs.is_empty() && wants_html {
        return Html(
            GraphiQLSource::build()
                .endpoint("/graphql")
                // Subscriptions go over a WebSocket to the same path (`ws://` or `wss://` like the page).
                .subscription_endpoint("/graphql")
                .title("WhatsApp channels API")
                .finish(),
        )
        .into_response();
    }
    let Some(media) = negotiate(&headers) else { return not_acceptable() };
    let mut fields = serde_json::Map::new();
    for (k, v) in url::form_urlencoded::parse(qs.as_bytes()) {
        let value = match k.as_ref() {
            "variables" | "extensions" => match serde_json::from_str(&v) {
                Ok(v) => v,
                Err(_) => return error_body(StatusCode::BAD_REQUEST, media, &format!("`{k}` is not JSON")),
            },
            _ => Json::String(v.into_owned()),
        };
        fields.insert(k.into_owned(), value);
    }
    let mut req = match graphql_request(Json::Object(fields)) {
        Ok(r) => r,
        Err(msg) => return error_body(StatusCode::BAD_REQUEST, media, &msg),
    };
    if matches!(
        selected_operation(&mut req).map(|op| op.ty),
        Some(OperationType::Mutation | OperationType::Subscription)
    ) {
        let mut r = error_body(StatusCode::METHOD_NOT_ALLOWED, media, "mutations must be sent with POST");
        r.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
        return r;
    }
    execute(&state, &headers, &peer, media, req).await
}

pub async fn graphql_post(State(state): State<GraphqlState>, headers: HeaderMap, peer: Peer, body: Bytes) -> Response {
    let Some(media) = negotiate(&headers) else { return not_acceptable() };
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if content_type.split(';').next().map(str::trim) != Some(JSON) {
        return error_body(StatusCode::UNSUPPORTED_MEDIA_TYPE, media, "Content-Type must be application/json");
    }
    let value: Json = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return error_body(StatusCode::BAD_REQUEST, media, &format!("the body is not JSON: {e}")),
    };
    match graphql_request(value) {
        Ok(req) => execute(&state, &headers, &peer, media, req).await,
        Err(msg) => error_body(StatusCode::BAD_REQUEST, media, &msg),
    }
}
