use std::time::Duration;

use earshot_service::CancellationToken;
use futures::future::join_all;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer as _};
use rdkafka::util::Timeout;

use crate::context::ClientHealthContext;
use crate::error::{KafkaPlumbingError, Result};
use crate::metrics::KafkaMetrics;
use crate::record::OutputRecord;
use crate::KafkaArgs;

/// An idempotent producer whose sends complete only when the broker has
/// acknowledged the record; failed deliveries are retried with backoff until
/// they succeed or shutdown is requested.
#[derive(Clone)]
pub struct Producer {
    inner: FutureProducer<ClientHealthContext>,
    metrics: KafkaMetrics,
}

const RETRY_BACKOFF_START: Duration = Duration::from_millis(100);
const RETRY_BACKOFF_MAX: Duration = Duration::from_secs(5);

impl Producer {
    /// Creates an idempotent producer (acks=all) from the shared Kafka flags.
    pub fn new(
        args: &KafkaArgs,
        metrics: KafkaMetrics,
        health: earshot_service::Health,
        stats_interval: Duration,
    ) -> Result<Self> {
        let mut config = args.client_config()?;
        set_default(&mut config, "enable.idempotence", "true");
        set_default(&mut config, "linger.ms", "5");
        // Room for the largest valid mention (4 MiB, ValidationLimits) once scored.
        set_default(&mut config, "message.max.bytes", "8388608");
        set_default(&mut config, "message.timeout.ms", "60000");
        set_default(
            &mut config,
            "statistics.interval.ms",
            &stats_interval.as_millis().to_string(),
        );
        let context = ClientHealthContext::new(metrics.clone(), health, "kafka_producer");
        let inner: FutureProducer<ClientHealthContext> = config.create_with_context(context)?;
        Ok(Producer { inner, metrics })
    }

    /// Sends every record and returns once all are acknowledged. Records that
    /// fail are re-sent with backoff; if `shutdown` fires first, returns
    /// `Interrupted` with the number still unacknowledged.
    pub async fn send_all(
        &self,
        records: &[OutputRecord],
        shutdown: &CancellationToken,
    ) -> Result<()> {
        let mut pending: Vec<&OutputRecord> = records.iter().collect();
        let mut backoff = RETRY_BACKOFF_START;
        loop {
            let mut futures = Vec::with_capacity(pending.len());
            for record in &pending {
                futures.push(self.enqueue(record, shutdown).await?);
            }
            let results = join_all(futures).await;
            let mut failed = Vec::new();
            for (record, result) in pending.into_iter().zip(results) {
                match result {
                    Ok(Ok(_delivery)) => {
                        self.metrics
                            .produced_messages
                            .with_label_values(&[&record.topic])
                            .inc();
                    }
                    Ok(Err((error, _message))) => {
                        self.note_failure(record, &error);
                        failed.push(record);
                    }
                    Err(_canceled) => {
                        self.note_failure(record, &KafkaError::Canceled);
                        failed.push(record);
                    }
                }
            }
            if failed.is_empty() {
                return Ok(());
            }
            if shutdown.is_cancelled() {
                return Err(KafkaPlumbingError::Interrupted {
                    undelivered: failed.len(),
                });
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = shutdown.cancelled() => {
                    return Err(KafkaPlumbingError::Interrupted { undelivered: failed.len() });
                }
            }
            backoff = (backoff * 2).min(RETRY_BACKOFF_MAX);
            pending = failed;
        }
    }

    /// Puts every record on librdkafka's queue, in order, and returns at once
    /// with their pending deliveries: callers that pipeline (replay) keep
    /// several sends in flight and confirm them oldest first.
    pub async fn start_send(
        &self,
        records: Vec<OutputRecord>,
        shutdown: &CancellationToken,
    ) -> Result<PendingSend> {
        let mut deliveries = Vec::with_capacity(records.len());
        for record in &records {
            deliveries.push(self.enqueue(record, shutdown).await?);
        }
        Ok(PendingSend {
            producer: self.clone(),
            records,
            deliveries,
        })
    }

    fn note_failure(&self, record: &OutputRecord, error: &KafkaError) {
        self.metrics
            .delivery_retries
            .with_label_values(&[&record.topic])
            .inc();
        self.metrics
            .errors
            .with_label_values(&["produce", "delivery"])
            .inc();
        tracing::warn!(topic = %record.topic, %error, "delivery failed, will retry");
    }

    /// Puts one record on librdkafka's queue, waiting while the queue is full.
    async fn enqueue(
        &self,
        record: &OutputRecord,
        shutdown: &CancellationToken,
    ) -> Result<DeliveryFuture> {
        loop {
            let mut future_record: FutureRecord<'_, [u8], [u8]> =
                FutureRecord::to(&record.topic).payload(record.payload.as_slice());
            if let Some(key) = &record.key {
                future_record = future_record.key(key.as_slice());
            }
            if !record.headers.is_empty() {
                let mut headers = OwnedHeaders::new_with_capacity(record.headers.len());
                for (name, value) in &record.headers {
                    headers = headers.insert(Header {
                        key: name,
                        value: Some(value.as_slice()),
                    });
                }
                future_record = future_record.headers(headers);
            }
            match self.inner.send_result(future_record) {
                Ok(delivery) => return Ok(delivery),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    if shutdown.is_cancelled() {
                        return Err(KafkaPlumbingError::Interrupted { undelivered: 1 });
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err((error, _)) => {
                    return Err(KafkaPlumbingError::Delivery {
                        topic: record.topic.clone(),
                        error,
                    })
                }
            }
        }
    }

    /// Waits until everything queued is delivered or `timeout` passes.
    pub fn flush(&self, timeout: Duration) -> Result<()> {
        self.inner.flush(Timeout::After(timeout))?;
        Ok(())
    }
}

/// Lets a consumer fetch a record of up to 32 MiB even from a broker that
/// does not return an oversized first record (KIP-74; tansu 0.6 does not):
/// without it one 10 MB poison message stalls its partition.
pub(crate) fn allow_large_records(config: &mut rdkafka::ClientConfig) {
    set_default(config, "max.partition.fetch.bytes", "33554432");
    set_default(config, "fetch.max.bytes", "52428800");
}

pub(crate) fn set_default(config: &mut rdkafka::ClientConfig, key: &str, value: &str) {
    if config.get(key).is_none() {
        config.set(key, value);
    }
}

/// Records on their way to the broker; see [`Producer::start_send`].
pub struct PendingSend {
    producer: Producer,
    records: Vec<OutputRecord>,
    deliveries: Vec<DeliveryFuture>,
}

impl PendingSend {
    /// How many records this send holds.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether this send holds no records.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Returns once every record is acknowledged; failed ones are re-sent with
    /// backoff as in [`Producer::send_all`].
    pub async fn confirm(self, shutdown: &CancellationToken) -> Result<()> {
        let results = join_all(self.deliveries).await;
        let mut failed = Vec::new();
        for (record, result) in self.records.into_iter().zip(results) {
            match result {
                Ok(Ok(_delivery)) => {
                    self.producer
                        .metrics
                        .produced_messages
                        .with_label_values(&[&record.topic])
                        .inc();
                }
                Ok(Err((error, _message))) => {
                    self.producer.note_failure(&record, &error);
                    failed.push(record);
                }
                Err(_canceled) => {
                    self.producer.note_failure(&record, &KafkaError::Canceled);
                    failed.push(record);
                }
            }
        }
        if failed.is_empty() {
            return Ok(());
        }
        self.producer.send_all(&failed, shutdown).await
    }
}
