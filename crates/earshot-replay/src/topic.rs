//! `earshot-replay topic`: a time range of a topic, in `created_at` order
//! across partitions, into another topic or a JSONL file.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque};
use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use earshot_kafka::range::{time_range_offsets, RangeConsumer, RangeEvent};
use earshot_kafka::{InputRecord, KafkaArgs, OutputRecord};
use earshot_service::CancellationToken;
use tokio::sync::mpsc;

use crate::file::{ReplaySummary, LONG_PAUSE};
use crate::pacing::Pacer;
use crate::progress::ProgressReporter;
use crate::rejects::RejectWriter;
use crate::sender::OrderedSender;
use crate::telemetry::Telemetry;
use crate::TopicArgs;

/// Records buffered per partition before it is paused.
const PARTITION_BUFFER_HIGH: usize = 20_000;
const PARTITION_BUFFER_LOW: usize = 5_000;
/// A partition that yields nothing for this long while its range is unread
/// is an error (broker gone, topic deleted), not a reason to wait forever.
const STALL_LIMIT: Duration = Duration::from_secs(120);

/// What the reading thread hands to the writer.
enum Merged {
    Record {
        created_at: DateTime<Utc>,
        record: InputRecord,
    },
    Reject {
        partition: i32,
        offset: i64,
        reason: String,
        raw: String,
    },
}

/// A record ordered by (created_at, partition, offset).
struct Ordered {
    created_at: DateTime<Utc>,
    record: InputRecord,
}

impl Ordered {
    fn sort_key(&self) -> (DateTime<Utc>, i32, i64) {
        (self.created_at, self.record.partition, self.record.offset)
    }
}

impl PartialEq for Ordered {
    fn eq(&self, other: &Self) -> bool {
        self.sort_key() == other.sort_key()
    }
}
impl Eq for Ordered {}
impl PartialOrd for Ordered {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ordered {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.sort_key().cmp(&other.sort_key())
    }
}

#[derive(serde::Deserialize)]
struct EventTime {
    created_at: String,
}

fn created_at_of(payload: &[u8]) -> Result<DateTime<Utc>, String> {
    let event: EventTime =
        serde_json::from_slice(payload).map_err(|error| format!("no created_at: {error}"))?;
    DateTime::parse_from_rfc3339(&event.created_at)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|_| format!("created_at is not RFC 3339: {:?}", event.created_at))
}

/// Replays `[start, end)` of `--from`; returns once everything is written.
pub async fn replay_topic(
    args: TopicArgs,
    shutdown: CancellationToken,
) -> anyhow::Result<ReplaySummary> {
    let started = Instant::now();
    if args.start >= args.end {
        anyhow::bail!("--start must be before --end");
    }
    let telemetry = Telemetry::start(&args.sending.http_addr, shutdown.child_token()).await?;
    let until_ms = args
        .max_lateness
        .map(|lateness| {
            chrono::Duration::from_std(lateness)
                .map(|lateness| (args.end + lateness).timestamp_millis())
        })
        .transpose()?;
    let ranges = {
        let kafka = args.kafka.clone();
        let from = args.from.clone();
        let start_ms = args.start.timestamp_millis();
        tokio::task::spawn_blocking(move || {
            time_range_offsets(&kafka, &from, start_ms, until_ms, Duration::from_secs(30))
        })
        .await??
    };
    if ranges.is_empty() {
        anyhow::bail!("topic {} does not exist or has no partitions", args.from);
    }
    let to_scan: i64 = ranges.iter().map(|range| range.end - range.start).sum();
    tracing::info!(topic = %args.from, partitions = ranges.len(), records_to_scan = to_scan, "reading range");

    let (merged_sender, mut merged) = mpsc::channel::<Merged>(8192);
    let reader = {
        let kafka = args.kafka.clone();
        let from = args.from.clone();
        let window = (args.start, args.end);
        let reorder_window = args.reorder_window;
        let stop = shutdown.clone();
        tokio::task::spawn_blocking(move || {
            merge_range(
                &kafka,
                &from,
                &ranges,
                window,
                reorder_window,
                &merged_sender,
                &stop,
            )
        })
    };

    let mut output = match (&args.to, &args.output) {
        (Some(topic), None) => {
            let producer = telemetry.producer(&args.kafka)?;
            Output::Topic {
                topic: topic.clone(),
                sender: OrderedSender::new(
                    producer,
                    args.sending.chunk_size,
                    args.sending.max_in_flight,
                ),
            }
        }
        (None, Some(path)) if path.as_os_str() == "-" => {
            Output::File(Box::new(std::io::BufWriter::new(std::io::stdout())))
        }
        (None, Some(path)) => Output::File(Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        ))),
        _ => anyhow::bail!("give exactly one of --to TOPIC or --output FILE"),
    };
    let mut rejects = RejectWriter::new(&args.reject_file, 0)?;
    let mut reporter =
        ProgressReporter::new(0, std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0)));
    let mut pacer = Pacer::new(args.pacing.speed, args.pacing.rate);
    let mut shift: Option<chrono::Duration> = None;
    let mut summary = ReplaySummary::default();
    while let Some(item) = merged.recv().await {
        summary.lines += 1;
        telemetry.lines.inc();
        let (mut created_at, record) = match item {
            Merged::Record { created_at, record } => (created_at, record),
            Merged::Reject {
                partition,
                offset,
                reason,
                raw,
            } => {
                summary.rejected += 1;
                telemetry.rejected.inc();
                rejects.write(&serde_json::json!({
                    "topic": args.from, "partition": partition, "offset": offset,
                    "kind": "invalid_record", "reason": reason, "raw": raw,
                }))?;
                continue;
            }
        };
        let mut payload = record.payload;
        if args.pacing.shift_to_now {
            let offset = *shift.get_or_insert_with(|| Utc::now() - created_at);
            created_at += offset;
            payload = with_created_at(&payload, created_at)?;
        }
        let delay = pacer.delay_for(created_at);
        if !delay.is_zero() {
            summary.sent += output.send_now(delay >= LONG_PAUSE, &shutdown).await?;
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = shutdown.cancelled() => {}
            }
        }
        match &mut output {
            Output::Topic { topic, sender } => {
                let mut out = OutputRecord::new(topic.as_str(), record.key, payload);
                out.headers = record.headers;
                sender.push(out);
                if sender.chunk_is_full() {
                    let confirmed = sender.cut((), &shutdown).await?;
                    summary.sent += confirmed.iter().map(|(_, size)| *size as u64).sum::<u64>();
                }
            }
            Output::File(writer) => {
                // A file counts its lines as they are written.
                write_json_line(writer, &payload)?;
                summary.sent += 1;
            }
        }
        reporter.update(summary.sent, summary.rejected);
        if shutdown.is_cancelled() {
            summary.interrupted = true;
            break;
        }
    }
    summary.sent += output.send_now(true, &shutdown).await?;
    rejects.flush()?;
    drop(merged);
    reader.await??;
    reporter.finish();
    telemetry.stop().await;
    summary.elapsed_ms = started.elapsed().as_millis();
    summary.interrupted |= shutdown.is_cancelled();
    Ok(summary)
}

enum Output {
    Topic {
        topic: String,
        sender: OrderedSender<()>,
    },
    File(Box<dyn Write + Send>),
}

impl Output {
    /// Sends what is buffered (and with `wait`, waits until it is durable);
    /// returns how many records the broker newly acknowledged (files count
    /// as they are written).
    async fn send_now(&mut self, wait: bool, shutdown: &CancellationToken) -> anyhow::Result<u64> {
        match self {
            Output::Topic { sender, .. } => {
                let confirmed = if wait {
                    sender.drain((), shutdown).await?
                } else {
                    sender.cut((), shutdown).await?
                };
                Ok(confirmed.iter().map(|(_, size)| *size as u64).sum())
            }
            Output::File(writer) => {
                writer.flush()?;
                Ok(0)
            }
        }
    }
}

/// Writes one payload as one line; pretty-printed JSON is compacted so that
/// the output stays JSONL.
fn write_json_line(writer: &mut Box<dyn Write + Send>, payload: &[u8]) -> anyhow::Result<()> {
    if payload.contains(&b'\n') {
        let value: serde_json::Value = serde_json::from_slice(payload)?;
        serde_json::to_writer(&mut *writer, &value)?;
    } else {
        writer.write_all(payload)?;
    }
    writer.write_all(b"\n")?;
    Ok(())
}

fn with_created_at(payload: &[u8], created_at: DateTime<Utc>) -> anyhow::Result<Vec<u8>> {
    let mut value: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(payload)?;
    value.insert(
        "created_at".into(),
        serde_json::Value::String(earshot_schema::format_timestamp(&created_at)),
    );
    Ok(serde_json::to_vec(&value)?)
}

/// Reads the ranges and sends their records in `created_at` order: a k-way
/// merge of the partitions' heads, then a heap of `reorder_window` records
/// that also fixes disorder within a partition up to that depth.
fn merge_range(
    kafka: &KafkaArgs,
    topic: &str,
    ranges: &[earshot_kafka::range::PartitionRange],
    (start, end): (DateTime<Utc>, DateTime<Utc>),
    reorder_window: usize,
    out: &mpsc::Sender<Merged>,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let mut consumer = RangeConsumer::new(kafka, topic, ranges)?;
    let mut buffers: BTreeMap<i32, VecDeque<Ordered>> = ranges
        .iter()
        .map(|range| (range.partition, VecDeque::new()))
        .collect();
    let mut open: BTreeSet<i32> = ranges
        .iter()
        .filter(|range| !range.is_empty())
        .map(|range| range.partition)
        .collect();
    let mut paused: BTreeSet<i32> = BTreeSet::new();
    let mut reorder: BinaryHeap<Reverse<Ordered>> = BinaryHeap::new();
    let mut last_record = Instant::now();
    let send = |item: Merged| out.blocking_send(item).is_ok();
    loop {
        if shutdown.is_cancelled() {
            return Ok(());
        }
        // Emit while no open partition could still deliver an earlier head.
        while open.iter().all(|partition| {
            buffers
                .get(partition)
                .is_some_and(|buffer| !buffer.is_empty())
        }) {
            let next = buffers
                .iter()
                .filter_map(|(partition, buffer)| {
                    buffer.front().map(|head| (head.sort_key(), *partition))
                })
                .min();
            let Some((_, partition)) = next else { break };
            let Some(head) = buffers.get_mut(&partition).and_then(VecDeque::pop_front) else {
                break;
            };
            reorder.push(Reverse(head));
            if reorder.len() > reorder_window {
                if let Some(Reverse(ordered)) = reorder.pop() {
                    if !send(Merged::Record {
                        created_at: ordered.created_at,
                        record: ordered.record,
                    }) {
                        return Ok(());
                    }
                }
            }
        }
        if open.is_empty() && buffers.values().all(VecDeque::is_empty) {
            break;
        }
        for partition in &open {
            let buffered = buffers.get(partition).map_or(0, VecDeque::len);
            if buffered >= PARTITION_BUFFER_HIGH && paused.insert(*partition) {
                consumer.pause(*partition)?;
            } else if buffered < PARTITION_BUFFER_LOW && paused.remove(partition) {
                consumer.resume(*partition)?;
            }
        }
        match consumer.poll(Duration::from_millis(100))? {
            Some(RangeEvent::Record(record)) => {
                last_record = Instant::now();
                match created_at_of(&record.payload) {
                    Ok(created_at) if created_at >= start && created_at < end => {
                        if let Some(buffer) = buffers.get_mut(&record.partition) {
                            buffer.push_back(Ordered { created_at, record });
                        }
                    }
                    Ok(_outside) => {}
                    Err(reason) => {
                        let raw = String::from_utf8_lossy(
                            &record.payload[..record.payload.len().min(2048)],
                        )
                        .into_owned();
                        if !send(Merged::Reject {
                            partition: record.partition,
                            offset: record.offset,
                            reason,
                            raw,
                        }) {
                            return Ok(());
                        }
                    }
                }
            }
            Some(RangeEvent::PartitionDone(partition)) => {
                last_record = Instant::now();
                open.remove(&partition);
            }
            None if last_record.elapsed() > STALL_LIMIT => {
                anyhow::bail!(
                    "no records from partitions {open:?} of {topic} for {} s while their ranges are unread",
                    STALL_LIMIT.as_secs()
                );
            }
            None => {}
        }
    }
    while let Some(Reverse(ordered)) = reorder.pop() {
        if !send(Merged::Record {
            created_at: ordered.created_at,
            record: ordered.record,
        }) {
            break;
        }
    }
    Ok(())
}
