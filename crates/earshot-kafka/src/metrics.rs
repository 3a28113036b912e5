use prometheus::{
    exponential_buckets, Histogram, HistogramOpts, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

/// Kafka-side health metrics of a service: throughput, errors, dead letters,
/// consumer lag per partition, batching and delivery times.
#[derive(Clone)]
pub struct KafkaMetrics {
    pub consumed_messages: IntCounterVec,
    pub produced_messages: IntCounterVec,
    pub dead_lettered_messages: IntCounterVec,
    pub errors: IntCounterVec,
    pub consumer_lag: IntGaugeVec,
    pub broker_up: IntGauge,
    pub paused: IntGauge,
    pub inflight_batches: IntGauge,
    pub batch_size: Histogram,
    pub process_seconds: Histogram,
    pub delivery_seconds: Histogram,
    pub delivery_retries: IntCounterVec,
}

impl KafkaMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let metrics = KafkaMetrics {
            consumed_messages: IntCounterVec::new(
                Opts::new(
                    "kafka_consumed_messages_total",
                    "Records consumed, by topic.",
                ),
                &["topic"],
            )?,
            produced_messages: IntCounterVec::new(
                Opts::new(
                    "kafka_produced_messages_total",
                    "Records produced and acknowledged by the broker, by topic.",
                ),
                &["topic"],
            )?,
            dead_lettered_messages: IntCounterVec::new(
                Opts::new(
                    "dlq_messages_total",
                    "Records sent to the dead-letter topic, by error kind.",
                ),
                &["kind"],
            )?,
            errors: IntCounterVec::new(
                Opts::new("errors_total", "Errors by pipeline stage and kind."),
                &["stage", "kind"],
            )?,
            consumer_lag: IntGaugeVec::new(
                Opts::new(
                    "kafka_consumer_lag_messages",
                    "Messages between the consumer's stored offset and the high watermark.",
                ),
                &["topic", "partition"],
            )?,
            broker_up: IntGauge::new(
                "kafka_broker_up",
                "1 while at least one broker connection is up.",
            )?,
            paused: IntGauge::new(
                "kafka_consumer_paused",
                "1 while the consumer is paused by backpressure.",
            )?,
            inflight_batches: IntGauge::new(
                "pipeline_inflight_batches",
                "Batches consumed but not yet acknowledged downstream.",
            )?,
            batch_size: Histogram::with_opts(
                HistogramOpts::new(
                    "pipeline_batch_size_records",
                    "Records per processed batch.",
                )
                .buckets(exponential_buckets(1.0, 2.0, 11)?),
            )?,
            process_seconds: Histogram::with_opts(
                HistogramOpts::new(
                    "pipeline_process_duration_seconds",
                    "Time the processor spent on one batch.",
                )
                .buckets(exponential_buckets(0.0005, 2.0, 16)?),
            )?,
            delivery_seconds: Histogram::with_opts(
                HistogramOpts::new(
                    "pipeline_delivery_duration_seconds",
                    "Time from producing a batch's records to their acknowledgement.",
                )
                .buckets(exponential_buckets(0.0005, 2.0, 16)?),
            )?,
            delivery_retries: IntCounterVec::new(
                Opts::new(
                    "kafka_delivery_retries_total",
                    "Records re-sent after a failed delivery, by topic.",
                ),
                &["topic"],
            )?,
        };
        registry.register(Box::new(metrics.consumed_messages.clone()))?;
        registry.register(Box::new(metrics.produced_messages.clone()))?;
        registry.register(Box::new(metrics.dead_lettered_messages.clone()))?;
        registry.register(Box::new(metrics.errors.clone()))?;
        registry.register(Box::new(metrics.consumer_lag.clone()))?;
        registry.register(Box::new(metrics.broker_up.clone()))?;
        registry.register(Box::new(metrics.paused.clone()))?;
        registry.register(Box::new(metrics.inflight_batches.clone()))?;
        registry.register(Box::new(metrics.batch_size.clone()))?;
        registry.register(Box::new(metrics.process_seconds.clone()))?;
        registry.register(Box::new(metrics.delivery_seconds.clone()))?;
        registry.register(Box::new(metrics.delivery_retries.clone()))?;
        Ok(metrics)
    }

    /// Consumer lag summed over the assigned partitions, as last reported by
    /// librdkafka's statistics (every `--stats-interval`).
    pub fn total_consumer_lag(&self) -> i64 {
        use prometheus::core::Collector;
        self.consumer_lag
            .collect()
            .iter()
            .flat_map(|family| family.get_metric())
            .map(|metric| metric.get_gauge().get_value() as i64)
            .sum()
    }

    /// Metrics in a private registry, for tools and tests that do not serve them.
    pub fn unregistered() -> Self {
        let registry = Registry::new();
        // Registering fresh metrics in an empty registry cannot collide.
        match KafkaMetrics::new(&registry) {
            Ok(metrics) => metrics,
            Err(error) => panic!("kafka metrics definitions are invalid: {error}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_lag_sums_partitions() {
        let metrics = KafkaMetrics::unregistered();
        assert_eq!(metrics.total_consumer_lag(), 0);
        metrics
            .consumer_lag
            .with_label_values(&["mentions", "0"])
            .set(40);
        metrics
            .consumer_lag
            .with_label_values(&["mentions", "3"])
            .set(2);
        assert_eq!(metrics.total_consumer_lag(), 42);
    }
}
