//! /metrics and /health while a replay runs.

use earshot_kafka::KafkaMetrics;
use earshot_service::{CancellationToken, Health};

pub(crate) struct Telemetry {
    pub(crate) kafka_metrics: KafkaMetrics,
    pub(crate) lines: prometheus::IntCounter,
    pub(crate) rejected: prometheus::IntCounter,
    pub(crate) health: Health,
    http: Option<(CancellationToken, HttpTask)>,
}

type HttpTask = tokio::task::JoinHandle<Result<(), earshot_service::HttpError>>;

impl Telemetry {
    /// Registers the metrics and serves them on `address` ("off": nowhere).
    /// A busy port only warns: a replay is a tool, and two may run side by side.
    pub(crate) async fn start(address: &str, stop: CancellationToken) -> anyhow::Result<Self> {
        let registry = earshot_service::new_registry("replay");
        let kafka_metrics = KafkaMetrics::new(&registry)?;
        let lines =
            prometheus::IntCounter::new("replay_lines_total", "Non-empty input records read.")?;
        let rejected = prometheus::IntCounter::new(
            "replay_rejected_lines_total",
            "Input records written to the reject file.",
        )?;
        registry.register(Box::new(lines.clone()))?;
        registry.register(Box::new(rejected.clone()))?;
        let health = Health::default();
        let http = if address == "off" {
            None
        } else {
            match address.parse() {
                Ok(socket) => {
                    match earshot_service::serve_http(
                        socket,
                        registry,
                        health.clone(),
                        stop.clone(),
                    )
                    .await
                    {
                        Ok((_, task)) => Some((stop, task)),
                        Err(error) => {
                            tracing::warn!(%error, "not serving metrics");
                            None
                        }
                    }
                }
                Err(_) => {
                    tracing::warn!(address, "invalid --http-addr, not serving metrics");
                    None
                }
            }
        };
        Ok(Telemetry {
            kafka_metrics,
            lines,
            rejected,
            health,
            http,
        })
    }

    /// A producer reporting into these metrics and health.
    pub(crate) fn producer(
        &self,
        kafka: &earshot_kafka::KafkaArgs,
    ) -> earshot_kafka::Result<earshot_kafka::Producer> {
        earshot_kafka::Producer::new(
            kafka,
            self.kafka_metrics.clone(),
            self.health.clone(),
            std::time::Duration::from_secs(5),
        )
    }

    pub(crate) async fn stop(self) {
        if let Some((stop, task)) = self.http {
            stop.cancel();
            let _ = task.await;
        }
    }
}
