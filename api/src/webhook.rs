//! The provider's webhook endpoint: `POST /webhooks/nova/{token}`. The raw bytes go to the engine, which checks
//! the signature before parsing and stores an accepted delivery durably before this answers 2xx.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use worker::Engine;
use worker::intake::{Accepted, Outcome};
use worker::provider::signature::{SIGNATURE_HEADER, TIMESTAMP_HEADER};

/// Webhook bodies are small JSON documents.
pub const MAX_WEBHOOK_BYTES: usize = 64 * 1024;

fn json(status: StatusCode, body: serde_json::Value) -> Response {
    (status, [(axum::http::header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

pub async fn receive(
    State(engine): State<Engine>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    match engine.receive_webhook(&token, header(TIMESTAMP_HEADER), header(SIGNATURE_HEADER), &body).await {
        Ok(Outcome::Accepted(Accepted::Stored(id))) => {
            json(StatusCode::OK, serde_json::json!({ "status": "accepted", "deliveryId": id }))
        }
        Ok(Outcome::Accepted(Accepted::Duplicate)) => {
            json(StatusCode::OK, serde_json::json!({ "status": "duplicate" }))
        }
        Ok(Outcome::Refused(r)) => {
            tracing::info!(code = r.code(), "webhook refused");
            let status = StatusCode::from_u16(r.status()).unwrap_or(StatusCode::BAD_REQUEST);
            json(status, serde_json::json!({ "error": { "code": r.code(), "message": r.to_string() } }))
        }
        Err(e) => {
            tracing::error!(error = ?e, "webhook intake failed");
            json(
                StatusCode::SERVICE_UNAVAILABLE,
                serde_json::json!({ "error": { "code": "UNAVAILABLE", "message": "try again later" } }),
            )
        }
    }
}
