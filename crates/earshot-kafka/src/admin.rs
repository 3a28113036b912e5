//! Topic administration and offset queries.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::types::RDKafkaErrorCode;

use crate::error::{KafkaPlumbingError, Result};
use crate::KafkaArgs;

/// Creates each topic with `partitions` partitions unless it exists already.
pub async fn ensure_topics(kafka: &KafkaArgs, topics: &[&str], partitions: i32) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = kafka.client_config()?.create()?;
    let new_topics: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|name| NewTopic::new(name, partitions, TopicReplication::Fixed(1)))
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    for result in admin.create_topics(&new_topics, &options).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(KafkaPlumbingError::Config(format!(
                    "cannot create topic {topic}: {code}"
                )))
            }
        }
    }
    Ok(())
}

/// Returns the partition ids of `topic`.
pub fn partitions_of(kafka: &KafkaArgs, topic: &str, timeout: Duration) -> Result<Vec<i32>> {
    let consumer: BaseConsumer = kafka.client_config()?.create()?;
    let metadata = consumer.fetch_metadata(Some(topic), timeout)?;
    let partitions = metadata
        .topics()
        .iter()
        .filter(|found| found.name() == topic)
        .flat_map(|found| found.partitions().iter().map(|partition| partition.id()))
        .collect();
    Ok(partitions)
}

/// Returns (low, high) watermarks of every partition of `topic`.
pub fn watermarks(
    kafka: &KafkaArgs,
    topic: &str,
    timeout: Duration,
) -> Result<Vec<(i32, i64, i64)>> {
    let consumer: BaseConsumer = kafka.client_config()?.create()?;
    let mut marks = Vec::new();
    for partition in partitions_of(kafka, topic, timeout)? {
        let (low, high) = consumer.fetch_watermarks(topic, partition, timeout)?;
        marks.push((partition, low, high));
    }
    Ok(marks)
}

/// Returns the committed next offset of `group` on each partition of `topic`
/// (`None` where nothing was committed).
pub fn committed_offsets(
    kafka: &KafkaArgs,
    group: &str,
    topic: &str,
    timeout: Duration,
) -> Result<Vec<(i32, Option<i64>)>> {
    let mut config = kafka.client_config()?;
    config.set("group.id", group);
    let consumer: BaseConsumer = config.create()?;
    let mut list = rdkafka::TopicPartitionList::new();
    for partition in partitions_of(kafka, topic, timeout)? {
        list.add_partition(topic, partition);
    }
    let committed = consumer.committed_offsets(list, timeout)?;
    Ok(committed
        .elements()
        .iter()
        .map(|element| {
            (
                element.partition(),
                element.offset().to_raw().filter(|offset| *offset >= 0),
            )
        })
        .collect())
}
