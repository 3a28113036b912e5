use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use earshot_service::Health;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::statistics::Statistics;
use rdkafka::ClientContext;

use crate::metrics::KafkaMetrics;

/// Client context that turns librdkafka statistics into lag and broker-up
/// metrics and keeps the service's health entry current (a producer's).
#[derive(Clone)]
pub struct ClientHealthContext {
    metrics: KafkaMetrics,
    health: Health,
    component: &'static str,
}

impl ClientHealthContext {
    pub fn new(metrics: KafkaMetrics, health: Health, component: &'static str) -> Self {
        health.set(component, true, "starting");
        ClientHealthContext {
            metrics,
            health,
            component,
        }
    }
}

/// A consumer's context: the client's metrics and health, and whether the
/// pipeline holds the partitions paused, which every assignment follows.
#[derive(Clone)]
pub struct ConsumerHealthContext {
    client: ClientHealthContext,
    /// Whether the consumer's partitions are held paused (back-pressure).
    held: Arc<AtomicBool>,
}

impl ConsumerHealthContext {
    pub fn new(metrics: KafkaMetrics, health: Health, component: &'static str) -> Self {
        ConsumerHealthContext {
            client: ClientHealthContext::new(metrics, health, component),
            held: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Says whether the consumer's partitions are held paused, so that a
    /// rebalance meanwhile pauses or resumes what it assigns to match.
    pub fn hold_partitions(&self, held: bool) {
        self.held.store(held, Ordering::SeqCst);
    }

    fn partitions_held(&self) -> bool {
        self.held.load(Ordering::SeqCst)
    }
}

impl ClientContext for ClientHealthContext {
    fn stats(&self, statistics: Statistics) {
        let brokers_up = statistics
            .brokers
            .values()
            .filter(|broker| broker.nodeid >= 0 && broker.state == "UP")
            .count();
        self.metrics.broker_up.set(i64::from(brokers_up > 0));
        if brokers_up > 0 {
            self.health.set(
                self.component,
                true,
                format!("{brokers_up} broker connection(s) up"),
            );
        } else {
            self.health
                .set(self.component, false, "no broker connection is up");
        }
        for (topic_name, topic) in &statistics.topics {
            for (partition_id, partition) in &topic.partitions {
                // librdkafka reports an internal partition -1; skip it.
                if *partition_id < 0 {
                    continue;
                }
                let partition_label = partition_id.to_string();
                let labels = [topic_name.as_str(), partition_label.as_str()];
                if partition.desired && partition.consumer_lag >= 0 {
                    self.metrics
                        .consumer_lag
                        .with_label_values(&labels)
                        .set(partition.consumer_lag);
                } else if !partition.desired {
                    let _ = self.metrics.consumer_lag.remove_label_values(&labels);
                }
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let all_down = matches!(
            error.rdkafka_error_code(),
            Some(rdkafka::types::RDKafkaErrorCode::AllBrokersDown)
        );
        if all_down {
            self.metrics.broker_up.set(0);
            self.health
                .set(self.component, false, "all brokers are down");
        }
        self.metrics
            .errors
            .with_label_values(&[
                "client",
                if all_down {
                    "all_brokers_down"
                } else {
                    "client"
                },
            ])
            .inc();
        tracing::warn!(component = self.component, %error, reason, "kafka client error");
    }
}

impl ClientContext for ConsumerHealthContext {
    fn stats(&self, statistics: Statistics) {
        self.client.stats(statistics);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.client.error(error, reason);
    }
}

impl ConsumerContext for ConsumerHealthContext {
    /// librdkafka keeps a partition's pause across a rebalance (its issue
    /// 1849). A partition paused for back-pressure, revoked (a session
    /// timeout while the broker was down) and assigned again would stay
    /// paused for good, the resume that followed having named it while it
    /// was not assigned: a consumer idle with lag. Every assignment starts
    /// as the pipeline is: held paused or not.
    fn post_rebalance(&self, base_consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(partitions) => {
                let held = self.partitions_held();
                let result = match held {
                    true => base_consumer.pause(partitions),
                    false => base_consumer.resume(partitions),
                };
                if let Err(error) = result {
                    tracing::warn!(%error, held, "cannot set assigned partitions' pause");
                }
                tracing::info!(partitions = partitions.count(), held, "partitions assigned");
            }
            Rebalance::Revoke(partitions) => {
                tracing::info!(partitions = partitions.count(), "partitions revoked");
            }
            Rebalance::Error(error) => tracing::warn!(%error, "rebalance error"),
        }
    }
}
