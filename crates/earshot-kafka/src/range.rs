//! Reading a bounded slice of a topic: from the first offset at or after a
//! time on every partition up to an end fixed when the read starts, without a
//! consumer group (nothing is committed). Replay's topic mode builds on it.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use crate::error::Result;
use crate::pipeline::owned_record;
use crate::producer::{allow_large_records, set_default};
use crate::record::InputRecord;
use crate::KafkaArgs;

/// Offsets `[start, end)` of one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionRange {
    pub partition: i32,
    pub start: i64,
    pub end: i64,
}

impl PartitionRange {
    pub fn is_empty(&self) -> bool {
        self.start >= self.end
    }
}

/// For every partition of `topic`: the first offset whose timestamp is at or
/// after `from_ms` (offsets-for-times), up to the first at or after
/// `until_ms` when given, else up to the high watermark now.
pub fn time_range_offsets(
    kafka: &KafkaArgs,
    topic: &str,
    from_ms: i64,
    until_ms: Option<i64>,
    timeout: Duration,
) -> Result<Vec<PartitionRange>> {
    let consumer: BaseConsumer = kafka.client_config()?.create()?;
    let partitions = crate::admin::partitions_of(kafka, topic, timeout)?;
    let lookup = |time_ms: i64| -> Result<BTreeMap<i32, Offset>> {
        let mut request = TopicPartitionList::new();
        for partition in &partitions {
            request.add_partition_offset(topic, *partition, Offset::Offset(time_ms))?;
        }
        let answer = consumer.offsets_for_times(request, timeout)?;
        Ok(answer
            .elements()
            .iter()
            .map(|element| (element.partition(), element.offset()))
            .collect())
    };
    let starts = lookup(from_ms)?;
    let ends = until_ms.map(lookup).transpose()?;
    let mut ranges = Vec::with_capacity(partitions.len());
    for partition in partitions {
        let (_low, high) = consumer.fetch_watermarks(topic, partition, timeout)?;
        // No offset at or after the time (Offset::End): nothing there yet.
        let resolve = |offset: Option<&Offset>| match offset {
            Some(Offset::Offset(offset)) => (*offset).min(high),
            _ => high,
        };
        let start = resolve(starts.get(&partition));
        let end = ends
            .as_ref()
            .map_or(high, |ends| resolve(ends.get(&partition)));
        ranges.push(PartitionRange {
            partition,
            start,
            end: end.max(start),
        });
    }
    Ok(ranges)
}

/// What [`RangeConsumer::poll`] found.
#[derive(Debug)]
pub enum RangeEvent {
    Record(InputRecord),
    /// Everything in this partition's range has been returned.
    PartitionDone(i32),
}

/// Reads the given ranges of one topic.
pub struct RangeConsumer {
    consumer: BaseConsumer,
    topic: String,
    /// Partitions still being read, with the end of their range.
    open: BTreeMap<i32, i64>,
    pending: VecDeque<RangeEvent>,
}

impl RangeConsumer {
    pub fn new(kafka: &KafkaArgs, topic: &str, ranges: &[PartitionRange]) -> Result<Self> {
        let mut config = kafka.client_config()?;
        // A throwaway group id: assign() needs none, but librdkafka wants one
        // set; nothing is ever committed under it.
        set_default(
            &mut config,
            "group.id",
            &format!("earshot-range-{}", std::process::id()),
        );
        config.set("enable.auto.commit", "false");
        config.set("enable.auto.offset.store", "false");
        config.set("enable.partition.eof", "true");
        allow_large_records(&mut config);
        let consumer: BaseConsumer = config.create()?;
        let mut assignment = TopicPartitionList::new();
        let mut open = BTreeMap::new();
        let mut pending = VecDeque::new();
        for range in ranges {
            if range.is_empty() {
                pending.push_back(RangeEvent::PartitionDone(range.partition));
            } else {
                assignment.add_partition_offset(
                    topic,
                    range.partition,
                    Offset::Offset(range.start),
                )?;
                open.insert(range.partition, range.end);
            }
        }
        consumer.assign(&assignment)?;
        Ok(RangeConsumer {
            consumer,
            topic: topic.to_owned(),
            open,
            pending,
        })
    }

    /// Whether every range has been read.
    pub fn is_finished(&self) -> bool {
        self.open.is_empty() && self.pending.is_empty()
    }

    /// Returns the next event, or `None` if nothing arrived within `timeout`.
    /// Transient broker errors are logged and retried by librdkafka.
    pub fn poll(&mut self, timeout: Duration) -> Result<Option<RangeEvent>> {
        if let Some(event) = self.pending.pop_front() {
            return Ok(Some(event));
        }
        let Some(polled) = self.consumer.poll(timeout) else {
            return Ok(None);
        };
        match polled {
            Ok(message) => {
                let partition = message.partition();
                let Some(&end) = self.open.get(&partition) else {
                    return Ok(None);
                };
                if message.offset() >= end {
                    self.close(partition)?;
                    return Ok(Some(RangeEvent::PartitionDone(partition)));
                }
                let record = owned_record(&message);
                if message.offset() + 1 >= end {
                    self.close(partition)?;
                    self.pending.push_back(RangeEvent::PartitionDone(partition));
                }
                Ok(Some(RangeEvent::Record(record)))
            }
            Err(KafkaError::PartitionEOF(partition)) => {
                // The end was fixed at or below the high watermark, so the
                // partition's end of log is also the end of its range (this
                // covers offsets skipped by compaction or transactions).
                if self.open.contains_key(&partition) {
                    self.close(partition)?;
                    return Ok(Some(RangeEvent::PartitionDone(partition)));
                }
                Ok(None)
            }
            Err(error) => {
                tracing::warn!(topic = %self.topic, %error, "range read error; retrying");
                Ok(None)
            }
        }
    }

    /// Stops fetching `partition` (its buffer downstream is full).
    pub fn pause(&self, partition: i32) -> Result<()> {
        self.consumer.pause(&self.partition_list(partition))?;
        Ok(())
    }

    /// Fetches `partition` again after [`RangeConsumer::pause`].
    pub fn resume(&self, partition: i32) -> Result<()> {
        self.consumer.resume(&self.partition_list(partition))?;
        Ok(())
    }

    fn close(&mut self, partition: i32) -> Result<()> {
        self.open.remove(&partition);
        self.pause(partition)
    }

    fn partition_list(&self, partition: i32) -> TopicPartitionList {
        let mut list = TopicPartitionList::new();
        list.add_partition(&self.topic, partition);
        list
    }
}
