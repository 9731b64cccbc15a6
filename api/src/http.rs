//! The GraphQL endpoint, following the GraphQL-over-HTTP specification: POST with `application/json` bodies,
//! GET for queries only (mutations over GET answer 405), responses as `application/graphql-response+json` or
//! `application/json` by the `Accept` header (406 for neither), and with the new media type 400 for requests
//! that fail to parse or validate. A browser's GET without a query gets GraphiQL.

use crate::graphql::{AppSchema, Caller, Loaders};
use async_graphql::http::GraphiQLSource;
use async_graphql::parser::types::OperationType;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use worker::Engine;

pub const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

#[derive(Clone)]
pub struct GraphqlState {
    pub schema: AppSchema,
    pub engine: Engine,
}

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
}

/// Picks the response media type. No `Accept` header means `application/json` (what legacy clients expect).
fn negotiate(headers: &HeaderMap) -> Option<MediaType> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Some(MediaType::Json);
    };
    let types: Vec<&str> = accept
        .split(',')
        .map(|p| p.split(';').next().unwrap_or("").trim())
        .collect();
    if types.contains(&GRAPHQL_RESPONSE) {
        Some(MediaType::GraphqlResponse)
    } else if types
        .iter()
        .any(|t| matches!(*t, JSON | "*/*" | "application/*"))
    {
        Some(MediaType::Json)
    } else {
        None
    }
}

fn error_body(status: StatusCode, media: MediaType, message: &str) -> Response {
    let body = serde_json::json!({ "errors": [{ "message": message }] });
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(media.as_str()),
        )],
        body.to_string(),
    )
        .into_response()
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
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(Caller::Anonymous);
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Ok(Caller::InvalidToken);
    };
    match engine.authenticate(token).await {
        Ok(actor) => Ok(Caller::User(actor)),
        Err(worker::Error::Unauthenticated(_)) => Ok(Caller::InvalidToken),
        Err(e) => Err(e),
    }
}

async fn execute(
    state: &GraphqlState,
    headers: &HeaderMap,
    media: MediaType,
    req: async_graphql::Request,
) -> Response {
    let caller = match caller(&state.engine, headers).await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = ?e, "authentication lookup failed");
            return error_body(StatusCode::INTERNAL_SERVER_ERROR, media, "internal error");
        }
    };
    let req = req.data(caller).data(Loaders::new(&state.engine));
    let resp = state.schema.execute(req).await;
    // A request error (parse, validation, unknown operation, bad variables) has no data and errors without a
    // path; field errors always carry one.
    let request_error = resp.data == async_graphql::Value::Null
        && !resp.errors.is_empty()
        && resp.errors.iter().all(|e| e.path.is_empty());
    let status = if media == MediaType::GraphqlResponse && request_error {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let body = match serde_json::to_string(&resp) {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "cannot serialise a GraphQL response");
            return error_body(StatusCode::INTERNAL_SERVER_ERROR, media, "internal error");
        }
    };
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(media.as_str()),
        )],
        body,
    )
        .into_response()
}

/// The operation a GET request would run, when the document parses.
fn operation_type(req: &async_graphql::Request) -> Option<OperationType> {
    let doc = async_graphql::parser::parse_query(&req.query).ok()?;
    match (&req.operation_name, doc.operations) {
        (None, async_graphql::parser::types::DocumentOperations::Single(op)) => Some(op.node.ty),
        (Some(name), ops) => ops
            .iter()
            .find(|(n, _)| n.map(|n| n.as_str()) == Some(name.as_str()))
            .map(|(_, op)| op.node.ty),
        (None, ops) => ops.iter().next().map(|(_, op)| op.node.ty),
    }
}

pub async fn graphql_get(
    State(state): State<GraphqlState>,
    headers: HeaderMap,
    RawQuery(qs): RawQuery,
) -> Response {
    let qs = qs.unwrap_or_default();
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if qs.is_empty() && wants_html {
        return Html(
            GraphiQLSource::build()
                .endpoint("/graphql")
                .title("WhatsApp channels API")
                .finish(),
        )
        .into_response();
    }
    let Some(media) = negotiate(&headers) else {
        return not_acceptable();
    };
    let req = match async_graphql::http::parse_query_string(&qs) {
        Ok(r) => r,
        Err(e) => {
            return error_body(
                StatusCode::BAD_REQUEST,
                media,
                &format!("bad query parameters: {e}"),
            );
        }
    };
    if matches!(
        operation_type(&req),
        Some(OperationType::Mutation | OperationType::Subscription)
    ) {
        let mut r = error_body(
            StatusCode::METHOD_NOT_ALLOWED,
            media,
            "mutations must be sent with POST",
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return r;
    }
    execute(&state, &headers, media, req).await
}

pub async fn graphql_post(
    State(state): State<GraphqlState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(media) = negotiate(&headers) else {
        return not_acceptable();
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.split(';').next().map(str::trim) != Some(JSON) {
        return error_body(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            media,
            "Content-Type must be application/json",
        );
    }
    let req: async_graphql::Request = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error_body(
                StatusCode::BAD_REQUEST,
                media,
                &format!("the body is not a GraphQL request: {e}"),
            );
        }
    };
    execute(&state, &headers, media, req).await
}
