//! What every pipeline service sets up around its processor.

use std::net::SocketAddr;

use earshot_service::{serve_http, CancellationToken, Health, HttpError};
use prometheus::Registry;

use crate::error::{KafkaPlumbingError, Result};
use crate::metrics::KafkaMetrics;
use crate::pipeline::{run_pipeline, BatchProcessor, PipelineReport, PipelineSettings};
use crate::KafkaArgs;

/// A service's registry, health, Kafka metrics and running `/metrics` +
/// `/health` endpoint; [`PipelineService::run`] runs the pipeline and then
/// stops the endpoint.
pub struct PipelineService {
    pub registry: Registry,
    pub health: Health,
    pub kafka_metrics: KafkaMetrics,
    pub address: SocketAddr,
    http: tokio::task::JoinHandle<Result<(), HttpError>>,
}

impl PipelineService {
    /// Creates the registry (label `service`) with the Kafka metrics and
    /// starts serving it on `http_addr`. Register more metrics in `registry`
    /// at any time: `/metrics` gathers on each request.
    pub async fn start(
        service: &str,
        http_addr: SocketAddr,
        shutdown: &CancellationToken,
    ) -> Result<Self> {
        let registry = earshot_service::new_registry(service);
        let kafka_metrics = KafkaMetrics::new(&registry)
            .map_err(|error| KafkaPlumbingError::Config(format!("metrics: {error}")))?;
        let health = Health::default();
        let (address, http) = serve_http(
            http_addr,
            registry.clone(),
            health.clone(),
            shutdown.clone(),
        )
        .await
        .map_err(|error| KafkaPlumbingError::Config(error.to_string()))?;
        Ok(PipelineService {
            registry,
            health,
            kafka_metrics,
            address,
            http,
        })
    }

    /// Runs the pipeline until shutdown (or a fatal error), then stops the
    /// HTTP endpoint.
    pub async fn run<P: BatchProcessor>(
        self,
        kafka: KafkaArgs,
        settings: PipelineSettings,
        processor: P,
        shutdown: CancellationToken,
    ) -> Result<PipelineReport> {
        let result = run_pipeline(
            kafka,
            settings,
            processor,
            self.kafka_metrics,
            self.health,
            shutdown.clone(),
        )
        .await;
        shutdown.cancel();
        let _ = self.http.await;
        result
    }
}
