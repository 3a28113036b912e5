//! The at-least-once consume -> process -> produce loop.
//!
//! Three stages joined by bounded channels, each handling batches strictly in
//! the order they were consumed:
//!
//! 1. consume: poll the consumer, cut batches by size or time; when the next
//!    stage is full, pause the assigned partitions (keep polling so that the
//!    group does not evict us) instead of buffering more.
//! 2. process: hand the batch to the [`BatchProcessor`].
//! 3. deliver: produce every output and dead letter, wait for all
//!    acknowledgements, and only then store the batch's offsets.
//!
//! Offsets are committed by librdkafka's auto-commit of *stored* offsets
//! (`enable.auto.offset.store=false`) and explicitly, synchronously, at
//! shutdown. A crash therefore re-delivers at most the records consumed since
//! the last commit; it never skips one.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use earshot_service::{CancellationToken, Health};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::{mpsc, watch};

use crate::config::PipelineArgs;
use crate::context::ConsumerHealthContext;
use crate::dlq::dead_letter_record;
use crate::error::{KafkaPlumbingError, Result};
use crate::metrics::KafkaMetrics;
use crate::producer::{allow_large_records, set_default, PendingSend, Producer};
use crate::record::{InputRecord, Outcome, OutputRecord};
use crate::KafkaArgs;

/// Turns a batch of input records into one [`Outcome`] each.
pub trait BatchProcessor: Send + 'static {
    /// Returns one outcome per record, in order. An `Err` is fatal: the
    /// pipeline stops without storing the batch's offsets, so the batch is
    /// consumed again after a restart.
    fn process(
        &mut self,
        batch: &[InputRecord],
    ) -> impl Future<Output = Result<Vec<Outcome>, String>> + Send;
}

/// Everything [`run_pipeline`] needs besides the Kafka connection.
#[derive(Debug, Clone)]
pub struct PipelineSettings {
    /// Service name, written into dead-letter headers.
    pub service: String,
    pub input_topics: Vec<String>,
    pub group_id: String,
    /// `group.instance.id` (static membership), when configured.
    pub group_instance_id: Option<String>,
    pub dlq_topic: String,
    /// Dead-lettered payloads are cut to this size (see `dlq`).
    pub dlq_max_payload_bytes: usize,
    pub batch_size: usize,
    pub batch_timeout: Duration,
    pub max_inflight_batches: usize,
    pub drain_timeout: Duration,
    pub stats_interval: Duration,
}

impl PipelineSettings {
    /// Builds settings from the shared flags; `default_group` applies when
    /// `--group-id` is not given.
    pub fn from_args(
        service: &str,
        args: &PipelineArgs,
        input_topics: Vec<String>,
        default_group: &str,
    ) -> Self {
        PipelineSettings {
            service: service.to_owned(),
            input_topics,
            group_id: args
                .group_id
                .clone()
                .unwrap_or_else(|| default_group.to_owned()),
            group_instance_id: args.group_instance_id.clone(),
            dlq_topic: args.dlq_topic.clone(),
            dlq_max_payload_bytes: args.dlq_max_payload_bytes,
            batch_size: args.batch_size.max(1),
            batch_timeout: args.batch_timeout,
            max_inflight_batches: args.max_inflight_batches.max(1),
            drain_timeout: args.drain_timeout,
            stats_interval: args.stats_interval,
        }
    }
}

/// Counts from one run of the pipeline.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PipelineReport {
    pub consumed: u64,
    pub batches_delivered: u64,
    pub records_delivered: u64,
    pub dead_lettered: u64,
    /// Next offsets committed at shutdown, by (topic, partition).
    pub committed: BTreeMap<(String, i32), i64>,
}

type SharedConsumer = Arc<StreamConsumer<ConsumerHealthContext>>;

struct ProcessedBatch {
    inputs: Vec<InputRecord>,
    outcomes: Vec<Outcome>,
    /// Consumed batches merged into this one (see `process_stage`).
    batches: usize,
}

/// Runs the pipeline until `shutdown` is cancelled (then drains in-flight
/// batches for up to the drain timeout and commits) or a fatal error occurs.
pub async fn run_pipeline<P: BatchProcessor>(
    kafka: KafkaArgs,
    settings: PipelineSettings,
    processor: P,
    metrics: KafkaMetrics,
    health: Health,
    shutdown: CancellationToken,
) -> Result<PipelineReport> {
    let consumer = create_consumer(&kafka, &settings, metrics.clone(), health.clone())?;
    let topics: Vec<&str> = settings.input_topics.iter().map(String::as_str).collect();
    consumer.subscribe(&topics)?;
    let producer = Producer::new(&kafka, metrics.clone(), health, settings.stats_interval)?;
    tracing::info!(
        topics = ?settings.input_topics,
        group_id = %settings.group_id,
        batch_size = settings.batch_size,
        "pipeline started"
    );

    // `abort` stops everything at once: fired on a fatal error, or when the
    // drain after `shutdown` takes longer than the drain timeout.
    let abort = CancellationToken::new();
    let drain_guard = tokio::spawn(abort_after_drain_timeout(
        shutdown.clone(),
        abort.clone(),
        settings.drain_timeout,
    ));
    let (batch_sender, batch_receiver) = mpsc::channel(settings.max_inflight_batches);
    let (processed_sender, processed_receiver) = mpsc::channel(settings.max_inflight_batches);

    // True while the process stage works on a batch (see `consume_stage`).
    let (processor_busy, processor_busy_watch) = watch::channel(false);
    let process_task = tokio::spawn(process_stage(
        processor,
        settings.batch_size * settings.max_inflight_batches,
        processor_busy,
        batch_receiver,
        processed_sender,
        metrics.clone(),
        abort.clone(),
    ));
    let deliver_task = tokio::spawn(deliver_stage(
        consumer.clone(),
        producer.clone(),
        processed_receiver,
        settings.clone(),
        metrics.clone(),
        abort.clone(),
    ));
    let consumed = consume_stage(
        &consumer,
        batch_sender,
        processor_busy_watch,
        &settings,
        &metrics,
        &shutdown,
        &abort,
    )
    .await;

    let processed = join_stage(process_task, &abort).await;
    let delivered = join_stage(deliver_task, &abort).await;
    drain_guard.abort();

    let mut report = PipelineReport::default();
    let mut first_error = None;
    match consumed {
        Ok(count) => report.consumed = count,
        Err(error) => first_error = Some(error),
    }
    if let Err(error) = processed {
        first_error.get_or_insert(error);
    }
    let next_offsets = match delivered {
        Ok(delivery) => {
            report.batches_delivered = delivery.batches;
            report.records_delivered = delivery.records;
            report.dead_lettered = delivery.dead_lettered;
            delivery.next_offsets
        }
        Err((error, next_offsets)) => {
            first_error.get_or_insert(error);
            next_offsets
        }
    };
    report.committed = commit_assigned(&consumer, &next_offsets);
    if let Err(error) = producer.flush(Duration::from_secs(5)) {
        tracing::warn!(%error, "producer flush at shutdown failed");
    }
    match first_error {
        Some(error) => Err(error),
        None => {
            tracing::info!(
                consumed = report.consumed,
                delivered = report.records_delivered,
                dead_lettered = report.dead_lettered,
                "pipeline stopped"
            );
            Ok(report)
        }
    }
}

fn create_consumer(
    kafka: &KafkaArgs,
    settings: &PipelineSettings,
    metrics: KafkaMetrics,
    health: Health,
) -> Result<SharedConsumer> {
    let mut config = kafka.client_config()?;
    config.set("group.id", &settings.group_id);
    if let Some(instance) = &settings.group_instance_id {
        config.set("group.instance.id", instance);
    }
    // At-least-once: librdkafka commits only offsets we stored after delivery.
    config.set("enable.auto.offset.store", "false");
    set_default(&mut config, "enable.auto.commit", "true");
    set_default(&mut config, "auto.commit.interval.ms", "1000");
    set_default(&mut config, "auto.offset.reset", "earliest");
    // Bounds the prefetch buffer per partition; backpressure does the rest.
    set_default(&mut config, "queued.max.messages.kbytes", "16384");
    // A fetch waits at most this long for data. Apache Kafka answers as soon
    // as data arrives, but tansu 0.6 always waits the full time: librdkafka's
    // 500 ms default added ~400 ms to every record's latency there.
    set_default(&mut config, "fetch.wait.max.ms", "100");
    allow_large_records(&mut config);
    set_default(
        &mut config,
        "statistics.interval.ms",
        &settings.stats_interval.as_millis().to_string(),
    );
    tracing::info!(config = ?crate::redact_config(&config), "kafka consumer configuration");
    let context = ConsumerHealthContext::new(metrics, health, "kafka_consumer");
    let consumer: StreamConsumer<ConsumerHealthContext> = config.create_with_context(context)?;
    Ok(Arc::new(consumer))
}

async fn abort_after_drain_timeout(
    shutdown: CancellationToken,
    abort: CancellationToken,
    drain: Duration,
) {
    shutdown.cancelled().await;
    tokio::time::sleep(drain).await;
    tracing::warn!(drain_timeout = ?drain, "drain timeout reached, abandoning in-flight batches");
    abort.cancel();
}

async fn join_stage<T>(task: tokio::task::JoinHandle<T>, abort: &CancellationToken) -> T
where
    T: From<KafkaPlumbingError>,
{
    match task.await {
        Ok(result) => result,
        Err(join_error) => {
            abort.cancel();
            T::from(KafkaPlumbingError::Processor(format!(
                "pipeline stage panicked: {join_error}"
            )))
        }
    }
}

impl From<KafkaPlumbingError> for Result<(), KafkaPlumbingError> {
    fn from(error: KafkaPlumbingError) -> Self {
        Err(error)
    }
}

struct DeliveryTally {
    batches: u64,
    records: u64,
    dead_lettered: u64,
    next_offsets: BTreeMap<(String, i32), i64>,
}

type DeliveryResult =
    std::result::Result<DeliveryTally, (KafkaPlumbingError, BTreeMap<(String, i32), i64>)>;

impl From<KafkaPlumbingError> for DeliveryResult {
    fn from(error: KafkaPlumbingError) -> Self {
        Err((error, BTreeMap::new()))
    }
}

pub(crate) fn owned_record(message: &rdkafka::message::BorrowedMessage<'_>) -> InputRecord {
    let headers = message
        .headers()
        .map(|headers| {
            headers
                .iter()
                .map(|header| {
                    (
                        header.key.to_owned(),
                        header.value.unwrap_or_default().to_vec(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    InputRecord {
        topic: message.topic().to_owned(),
        partition: message.partition(),
        offset: message.offset(),
        key: message.key().map(<[u8]>::to_vec),
        payload: message.payload().unwrap_or_default().to_vec(),
        headers,
        timestamp_ms: message.timestamp().to_millis(),
    }
}

/// Polls the consumer and cuts batches; returns the number of records consumed.
async fn consume_stage(
    consumer: &SharedConsumer,
    batch_sender: mpsc::Sender<Vec<InputRecord>>,
    processor_busy: watch::Receiver<bool>,
    settings: &PipelineSettings,
    metrics: &KafkaMetrics,
    shutdown: &CancellationToken,
    abort: &CancellationToken,
) -> Result<u64> {
    let mut consumed: u64 = 0;
    // Records received while paused (already prefetched); bounded by the prefetch.
    let mut overflow: VecDeque<InputRecord> = VecDeque::new();
    let mut stopping = false;
    while !abort.is_cancelled() {
        let mut batch: Vec<InputRecord> = Vec::with_capacity(settings.batch_size);
        while batch.len() < settings.batch_size {
            match overflow.pop_front() {
                Some(record) => batch.push(record),
                None => break,
            }
        }
        let mut batch_deadline =
            (!batch.is_empty()).then(|| tokio::time::Instant::now() + settings.batch_timeout);
        while batch.len() < settings.batch_size && !stopping {
            let received = tokio::select! {
                biased;
                _ = shutdown.cancelled() => { stopping = true; break; }
                _ = abort.cancelled() => { stopping = true; break; }
                _ = batch_due(batch_deadline, processor_busy.clone()) => break,
                received = consumer.recv() => received,
            };
            match received {
                Ok(message) => {
                    let record = owned_record(&message);
                    metrics
                        .consumed_messages
                        .with_label_values(&[&record.topic])
                        .inc();
                    consumed += 1;
                    batch.push(record);
                    if batch_deadline.is_none() {
                        batch_deadline = Some(tokio::time::Instant::now() + settings.batch_timeout);
                    }
                }
                Err(error) => {
                    metrics
                        .errors
                        .with_label_values(&["consume", "kafka"])
                        .inc();
                    tracing::warn!(%error, "consume error");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        if !batch.is_empty() {
            metrics.inflight_batches.inc();
            let sent = send_with_backpressure(
                consumer,
                &batch_sender,
                batch,
                &mut overflow,
                &mut consumed,
                metrics,
                shutdown,
                abort,
            )
            .await;
            if !sent {
                break;
            }
        }
        if stopping && overflow.is_empty() {
            break;
        }
    }
    Ok(consumed)
}

/// A partial batch is cut at its deadline, but not while the processor is
/// still busy: it keeps filling until the processor can take it (or it is
/// full). Cutting many tiny batches behind a slow processor (the model)
/// would make it run inefficient small calls and fall behind at loads it
/// handles easily in larger ones.
async fn batch_due(
    deadline: Option<tokio::time::Instant>,
    mut processor_busy: watch::Receiver<bool>,
) {
    match deadline {
        Some(deadline) => {
            tokio::time::sleep_until(deadline).await;
            // An error means the process stage is gone; cut the batch then.
            let _ = processor_busy.wait_for(|busy| !busy).await;
        }
        None => std::future::pending().await,
    }
}

/// Hands a batch to the process stage. When the stage is full, pauses the
/// assigned partitions and keeps polling (so the group keeps us) until there
/// is room. Returns false if the pipeline is shutting down hard.
#[allow(clippy::too_many_arguments)]
async fn send_with_backpressure(
    consumer: &SharedConsumer,
    batch_sender: &mpsc::Sender<Vec<InputRecord>>,
    batch: Vec<InputRecord>,
    overflow: &mut VecDeque<InputRecord>,
    consumed: &mut u64,
    metrics: &KafkaMetrics,
    shutdown: &CancellationToken,
    abort: &CancellationToken,
) -> bool {
    let permit = match batch_sender.try_reserve() {
        Ok(permit) => permit,
        Err(mpsc::error::TrySendError::Closed(())) => return false,
        Err(mpsc::error::TrySendError::Full(())) => {
            // Held before the pause: a rebalance from here on pauses what
            // it assigns too.
            consumer.context().hold_partitions(true);
            if let Ok(partitions) = consumer.assignment() {
                if let Err(error) = consumer.pause(&partitions) {
                    tracing::warn!(%error, "cannot pause partitions");
                }
            }
            metrics.paused.set(1);
            tracing::debug!("downstream full, partitions paused");
            let permit = loop {
                tokio::select! {
                    biased;
                    _ = abort.cancelled() => break None,
                    reserved = batch_sender.reserve() => break reserved.ok(),
                    received = consumer.recv(), if !shutdown.is_cancelled() => {
                        if let Ok(message) = received {
                            let record = owned_record(&message);
                            metrics.consumed_messages.with_label_values(&[&record.topic]).inc();
                            *consumed += 1;
                            overflow.push_back(record);
                        }
                    }
                }
            };
            // What is assigned now, not what was paused: a rebalance may
            // have changed it meanwhile.
            consumer.context().hold_partitions(false);
            if let Ok(partitions) = consumer.assignment() {
                if let Err(error) = consumer.resume(&partitions) {
                    tracing::warn!(%error, "cannot resume partitions");
                }
            }
            metrics.paused.set(0);
            match permit {
                Some(permit) => permit,
                None => return false,
            }
        }
    };
    permit.send(batch);
    true
}

/// Processes batches in consumption order. Batches that queued up while
/// the processor was busy are merged, up to `max_records`, into one call:
/// at low load a batch is processed alone (low latency); under load the
/// processor gets fewer, larger calls (the scorer sorts them by length, so
/// less padding) instead of falling behind on many small ones.
async fn process_stage<P: BatchProcessor>(
    mut processor: P,
    max_records: usize,
    busy: watch::Sender<bool>,
    mut batch_receiver: mpsc::Receiver<Vec<InputRecord>>,
    processed_sender: mpsc::Sender<ProcessedBatch>,
    metrics: KafkaMetrics,
    abort: CancellationToken,
) -> Result<()> {
    let mut held_back: Option<Vec<InputRecord>> = None;
    loop {
        let mut inputs = match held_back.take() {
            Some(inputs) => inputs,
            None => match batch_receiver.recv().await {
                Some(inputs) => inputs,
                None => break,
            },
        };
        busy.send_replace(true);
        let mut batches = 1;
        while inputs.len() < max_records {
            match batch_receiver.try_recv() {
                Ok(next) if inputs.len() + next.len() <= max_records => {
                    inputs.extend(next);
                    batches += 1;
                }
                Ok(next) => {
                    held_back = Some(next);
                    break;
                }
                Err(_) => break,
            }
        }
        let started = Instant::now();
        let outcomes = tokio::select! {
            outcomes = processor.process(&inputs) => outcomes,
            _ = abort.cancelled() => return Ok(()),
        };
        let outcomes = match outcomes {
            Ok(outcomes) => outcomes,
            Err(reason) => {
                abort.cancel();
                metrics
                    .errors
                    .with_label_values(&["process", "fatal"])
                    .inc();
                return Err(KafkaPlumbingError::Processor(reason));
            }
        };
        if outcomes.len() != inputs.len() {
            abort.cancel();
            return Err(KafkaPlumbingError::Processor(format!(
                "processor returned {} outcomes for {} records",
                outcomes.len(),
                inputs.len()
            )));
        }
        metrics.batch_size.observe(inputs.len() as f64);
        metrics
            .process_seconds
            .observe(started.elapsed().as_secs_f64());
        if processed_sender
            .send(ProcessedBatch {
                inputs,
                outcomes,
                batches,
            })
            .await
            .is_err()
        {
            return Ok(());
        }
        // Idle unless more batches already wait for it.
        busy.send_replace(held_back.is_some() || !batch_receiver.is_empty());
    }
    Ok(())
}

/// A batch whose outputs are on their way to the broker.
struct Delivering {
    next_offsets: BTreeMap<(String, i32), i64>,
    records: u64,
    batches: usize,
    dead_lettered: u64,
    started: Instant,
}

type Confirmation = std::pin::Pin<Box<dyn Future<Output = Result<()>> + Send>>;

/// Produces each processed batch as it comes and keeps up to
/// `max_inflight_batches` of them on their way to the broker at once (one
/// batch per broker round trip would cap a fast processor at batch size /
/// round trip). Acknowledgements are awaited oldest first, so offsets are
/// still stored in consumption order and only after their outputs are acked.
async fn deliver_stage(
    consumer: SharedConsumer,
    producer: Producer,
    mut processed_receiver: mpsc::Receiver<ProcessedBatch>,
    settings: PipelineSettings,
    metrics: KafkaMetrics,
    abort: CancellationToken,
) -> DeliveryResult {
    let mut tally = DeliveryTally {
        batches: 0,
        records: 0,
        dead_lettered: 0,
        next_offsets: BTreeMap::new(),
    };
    let mut waiting: VecDeque<(Delivering, PendingSend)> = VecDeque::new();
    let mut confirming: Option<(Delivering, Confirmation)> = None;
    let mut closed = false;
    loop {
        if confirming.is_none() {
            if let Some((delivering, pending)) = waiting.pop_front() {
                let abort = abort.clone();
                let confirmation: Confirmation =
                    Box::pin(async move { pending.confirm(&abort).await });
                confirming = Some((delivering, confirmation));
            } else if closed {
                break;
            }
        }
        let in_flight = waiting.len() + usize::from(confirming.is_some());
        tokio::select! {
            biased;
            confirmed = async {
                match confirming.as_mut() {
                    Some((_, confirmation)) => confirmation.as_mut().await,
                    None => std::future::pending().await,
                }
            }, if confirming.is_some() => {
                let Some((delivering, _)) = confirming.take() else { continue };
                if let Err(error) = confirmed {
                    abort.cancel();
                    return Err((error, tally.next_offsets));
                }
                store_delivered(&consumer, &metrics, &mut tally, delivering);
            }
            processed = processed_receiver.recv(), if !closed && in_flight < settings.max_inflight_batches => {
                let Some(processed) = processed else {
                    closed = true;
                    continue;
                };
                let (records, delivering) = output_records(processed, &settings, &metrics);
                match producer.start_send(records, &abort).await {
                    Ok(pending) => waiting.push_back((delivering, pending)),
                    Err(error) => {
                        abort.cancel();
                        return Err((error, tally.next_offsets));
                    }
                }
            }
        }
    }
    Ok(tally)
}

/// A processed batch's output records (dead letters included), in order.
fn output_records(
    processed: ProcessedBatch,
    settings: &PipelineSettings,
    metrics: &KafkaMetrics,
) -> (Vec<OutputRecord>, Delivering) {
    let ProcessedBatch {
        inputs,
        outcomes,
        batches,
    } = processed;
    let mut records = Vec::with_capacity(inputs.len());
    let mut dead_lettered = 0;
    for (input, outcome) in inputs.iter().zip(outcomes) {
        match outcome {
            Outcome::Produce(outputs) => records.extend(outputs),
            Outcome::DeadLetter { kind, reason } => {
                tracing::warn!(
                    topic = %input.topic,
                    partition = input.partition,
                    offset = input.offset,
                    kind,
                    error = %reason,
                    "dead-lettering record"
                );
                metrics
                    .dead_lettered_messages
                    .with_label_values(&[kind])
                    .inc();
                dead_lettered += 1;
                records.push(dead_letter_record(
                    input,
                    &settings.dlq_topic,
                    kind,
                    &reason,
                    &settings.service,
                    settings.dlq_max_payload_bytes,
                ));
            }
        }
    }
    let delivering = Delivering {
        next_offsets: next_offsets_of(&inputs),
        records: inputs.len() as u64,
        batches,
        dead_lettered,
        started: Instant::now(),
    };
    (records, delivering)
}

/// Stores the offsets of a batch whose outputs are all acknowledged.
fn store_delivered(
    consumer: &SharedConsumer,
    metrics: &KafkaMetrics,
    tally: &mut DeliveryTally,
    delivering: Delivering,
) {
    metrics
        .delivery_seconds
        .observe(delivering.started.elapsed().as_secs_f64());
    if let Err(error) = consumer.store_offsets(&to_partition_list(&delivering.next_offsets)) {
        // Happens when a partition was revoked meanwhile; its new owner
        // re-processes from the last commit (at-least-once).
        metrics
            .errors
            .with_label_values(&["store_offsets", "kafka"])
            .inc();
        tracing::warn!(%error, "cannot store offsets");
    }
    tally.next_offsets.extend(delivering.next_offsets);
    tally.batches += delivering.batches as u64;
    tally.records += delivering.records;
    tally.dead_lettered += delivering.dead_lettered;
    metrics.inflight_batches.sub(delivering.batches as i64);
}

/// Returns, per partition, the offset after the highest one in the batch.
fn next_offsets_of(inputs: &[InputRecord]) -> BTreeMap<(String, i32), i64> {
    let mut next_offsets: BTreeMap<(String, i32), i64> = BTreeMap::new();
    for input in inputs {
        let next = input.offset + 1;
        let entry = next_offsets
            .entry((input.topic.clone(), input.partition))
            .or_insert(next);
        *entry = (*entry).max(next);
    }
    next_offsets
}

fn to_partition_list(next_offsets: &BTreeMap<(String, i32), i64>) -> TopicPartitionList {
    let mut list = TopicPartitionList::new();
    for ((topic, partition), offset) in next_offsets {
        // Adding to a fresh list only fails for an invalid offset, never here.
        let _ = list.add_partition_offset(topic, *partition, Offset::Offset(*offset));
    }
    list
}

/// Commits, synchronously, the delivered offsets of partitions still assigned.
fn commit_assigned(
    consumer: &SharedConsumer,
    next_offsets: &BTreeMap<(String, i32), i64>,
) -> BTreeMap<(String, i32), i64> {
    let assigned = match consumer.assignment() {
        Ok(assignment) => assignment,
        Err(error) => {
            tracing::warn!(%error, "cannot read assignment at shutdown");
            return BTreeMap::new();
        }
    };
    let committable: BTreeMap<(String, i32), i64> = next_offsets
        .iter()
        .filter(|((topic, partition), _)| assigned.find_partition(topic, *partition).is_some())
        .map(|(key, offset)| (key.clone(), *offset))
        .collect();
    if committable.is_empty() {
        return committable;
    }
    match consumer.commit(&to_partition_list(&committable), CommitMode::Sync) {
        Ok(()) => {
            tracing::info!(
                partitions = committable.len(),
                "committed offsets at shutdown"
            );
            committable
        }
        Err(error) => {
            tracing::warn!(%error, "final commit failed; auto-commit covers what it already sent");
            BTreeMap::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(partition: i32, offset: i64) -> InputRecord {
        InputRecord {
            topic: "mentions".into(),
            partition,
            offset,
            key: None,
            payload: Vec::new(),
            headers: Vec::new(),
            timestamp_ms: None,
        }
    }

    #[test]
    fn next_offsets_take_the_highest_offset_per_partition_plus_one() {
        let batch = [record(0, 5), record(1, 9), record(0, 7), record(0, 6)];
        let next = next_offsets_of(&batch);
        assert_eq!(next[&("mentions".to_string(), 0)], 8);
        assert_eq!(next[&("mentions".to_string(), 1)], 10);
    }
}
