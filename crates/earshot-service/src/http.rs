use std::net::SocketAddr;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use prometheus::{Encoder, Registry, TextEncoder};
use tokio_util::sync::CancellationToken;

use crate::Health;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot bind {address}: {source}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("http server failed: {0}")]
    Serve(std::io::Error),
}

#[derive(Clone)]
struct AppState {
    registry: Registry,
    health: Health,
}

/// Nothing here takes a request body; cap what a client may send anyway.
const MAX_REQUEST_BODY_BYTES: usize = 16 * 1024;

/// Binds `address` and serves `/metrics` (Prometheus text format) and
/// `/health` until `shutdown` is cancelled. Returns the bound address (useful
/// with port 0) and the server task.
pub async fn serve_http(
    address: SocketAddr,
    registry: Registry,
    health: Health,
    shutdown: CancellationToken,
) -> Result<(SocketAddr, tokio::task::JoinHandle<Result<(), HttpError>>), HttpError> {
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|source| HttpError::Bind { address, source })?;
    let bound = listener.local_addr().map_err(HttpError::Serve)?;
    let router = Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(health_check))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BODY_BYTES))
        .with_state(AppState { registry, health });
    tracing::info!(address = %bound, "serving /metrics and /health");
    let task = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
            .map_err(HttpError::Serve)
    });
    Ok((bound, task))
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let encoder = TextEncoder::new();
    let mut body = Vec::new();
    if let Err(error) = encoder.encode(&state.registry.gather(), &mut body) {
        tracing::error!(%error, "cannot encode metrics");
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain")],
            Vec::new(),
        );
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)],
        body,
    )
}

async fn health_check(State(state): State<AppState>) -> impl IntoResponse {
    let components = state.health.snapshot();
    let healthy = components.values().all(|status| status.healthy);
    let code = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({
        "status": if healthy { "ok" } else { "unavailable" },
        "components": components,
    });
    (code, Json(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn serves_metrics_and_health_on_loopback() {
        let registry = crate::new_registry("test");
        let counter = prometheus::IntCounter::new("things_total", "things").expect("counter");
        registry
            .register(Box::new(counter.clone()))
            .expect("register");
        counter.inc();
        let health = Health::default();
        health.set("kafka", false, "all brokers down");
        let shutdown = CancellationToken::new();
        let address: SocketAddr = "127.0.0.1:0".parse().expect("address");
        let (bound, task) = serve_http(address, registry, health.clone(), shutdown.clone())
            .await
            .expect("serve");
        let client = reqwest::Client::new();
        let metrics = client
            .get(format!("http://{bound}/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("body");
        assert!(
            metrics.contains("earshot_things_total{service=\"test\"} 1"),
            "{metrics}"
        );
        let response = client
            .get(format!("http://{bound}/health"))
            .send()
            .await
            .expect("health");
        assert_eq!(response.status(), 503);
        health.set("kafka", true, "connected");
        let response = client
            .get(format!("http://{bound}/health"))
            .send()
            .await
            .expect("health");
        assert_eq!(response.status(), 200);
        shutdown.cancel();
        task.await.expect("join").expect("server");
    }
}
