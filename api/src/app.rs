//! The HTTP application: router, health and metrics endpoints, and serving with graceful shutdown.

use crate::graphql::build_schema;
use crate::http::graphql_post;
use crate::state::{GraphqlState, Peer};
use axum::Router;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{MatchedPath, RawQuery, State, WebSocketUpgrade};
use axum::http::{HeaderMap, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::future::Future;
use tokio::net::TcpListener;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;
use worker::Engine;

pub const MAX_BODY_BYTES: usize = 1024 * 1024;

pub fn router(engine: Engine) -> Router {
    let state =
        GraphqlState { schema: build_schema(engine.clone()), engine: engine.clone(), connections: Default::default() };
    let graphql = Router::new().route("/graphql", get(graphql_get).post(graphql_post)).with_state(state);
    let webhooks = Router::new()
        .route("/webhooks/nova/{token}", axum::routing::post(crate::webhook::receive))
        .layer(axum::extract::DefaultBodyLimit::max(crate::webhook::MAX_WEBHOOK_BYTES))
        .with_state(engine.clone());
    let ops = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(engine);
    graphql
        .merge(webhooks)
        .merge(ops)
        .merge(crate::console::router())
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        // Spans name the route template, never the raw URI: webhook paths and query strings can hold secrets.
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
            let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned());
            tracing::info_span!("http", method = %req.method(), route = route.as_deref().unwrap_or("unmatched"))
        }))
}

/// `GET /graphql`: a WebSocket upgrade is a live connection (`ws`), anything else GraphQL over HTTP (`http`).
async fn graphql_get(
    State(state): State<GraphqlState>,
    headers: HeaderMap,
    peer: Peer,
    query: RawQuery,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    match ws {
        Ok(ws) => crate::ws::upgrade(state, headers, peer, ws).await,
        Err(_) => crate::http::graphql_get(State(state), headers, peer, query).await,
    }
}

async fn readyz(State(engine): State<Engine>) -> impl IntoResponse {
    match engine.db.ping().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(e) => {
            tracing::warn!(error = %e, "database not reachable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable")
        }
    }
}

async fn metrics(State(engine): State<Engine>) -> impl IntoResponse {
    format!(
        "# HELP db_statements_total SQL statements executed by this server.\n# TYPE db_statements_total counter\ndb_statements_total {}\n",
        engine.statements.load(std::sync::atomic::Ordering::Relaxed)
    ) + &worker::jobs::failures::metrics_text()
}

/// Serves until `shutdown` resolves, then finishes the requests in flight.
pub async fn serve(
    listener: TcpListener,
    engine: Engine,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // Connect info: the peer's address, which login throttling counts by.
    axum::serve(listener, router(engine).into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
