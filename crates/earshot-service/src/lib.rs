//! What every earshot service shares besides Kafka: logging, the metrics
//! registry, the `/metrics` and `/health` endpoint, and shutdown on signals.

mod health;
mod http;
mod shutdown;
mod telemetry;

pub use health::{ComponentStatus, Health};
pub use http::{serve_http, HttpError};
pub use shutdown::shutdown_on_signals;
pub use telemetry::{init_tracing, LogArgs, LogFormat};

/// Parses a human duration flag such as `20ms`, `5s` or `2m`.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(text).map_err(|error| format!("invalid duration {text:?}: {error}"))
}

/// Re-exported so that services name one cancellation type.
pub use tokio_util::sync::CancellationToken;

/// Creates the registry a service registers all its metrics in: every
/// family is prefixed `earshot_` and labelled with the service name.
pub fn new_registry(service: &str) -> prometheus::Registry {
    let labels = [("service".to_owned(), service.to_owned())]
        .into_iter()
        .collect();
    // Only fails on an invalid prefix or label name, both fixed here.
    prometheus::Registry::new_custom(Some("earshot".to_owned()), Some(labels))
        .unwrap_or_else(|_| prometheus::Registry::new())
}
