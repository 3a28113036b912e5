//! A bare librdkafka consume -> produce loop (no JSON, no batching stages):
//! the ceiling for earshot's Kafka path. It uses the same consumer and
//! producer settings as earshot's pipeline and stays at least once: every
//! 100 ms it flushes the producer and only then stores the consumed offsets.
//!
//!     kafka_forward_loop BROKERS INPUT_TOPIC OUTPUT_TOPIC GROUP

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use earshot_kafka::rdkafka::consumer::{BaseConsumer, Consumer};
use earshot_kafka::rdkafka::message::Message;
use earshot_kafka::rdkafka::producer::{
    BaseRecord, DefaultProducerContext, Producer, ThreadedProducer,
};
use earshot_kafka::rdkafka::{ClientConfig, TopicPartitionList};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [brokers, input_topic, output_topic, group] = args.as_slice() else {
        bail!("usage: kafka_forward_loop BROKERS INPUT_TOPIC OUTPUT_TOPIC GROUP");
    };
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("enable.auto.offset.store", "false")
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "1000")
        .set("auto.offset.reset", "earliest")
        .set("queued.max.messages.kbytes", "16384")
        .set("fetch.wait.max.ms", "100")
        .create()
        .context("consumer")?;
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "60000")
        .create()
        .context("producer")?;
    consumer.subscribe(&[input_topic.as_str()])?;
    let terminate = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    signal_hook_flag(&terminate)?;

    let mut unstored = TopicPartitionList::new();
    let mut last_flush = Instant::now();
    while !terminate.load(std::sync::atomic::Ordering::Relaxed) {
        if let Some(message) = consumer.poll(Duration::from_millis(20)) {
            let message = message?;
            let mut record = BaseRecord::<[u8], [u8]>::to(output_topic);
            if let Some(key) = message.key() {
                record = record.key(key);
            }
            if let Some(payload) = message.payload() {
                record = record.payload(payload);
            }
            let mut pending = record;
            // A full local queue: let librdkafka deliver, then retry.
            while let Err((error, returned)) = producer.send(pending) {
                if !matches!(
                    error.rdkafka_error_code(),
                    Some(earshot_kafka::rdkafka::types::RDKafkaErrorCode::QueueFull)
                ) {
                    bail!("produce: {error}");
                }
                std::thread::sleep(Duration::from_millis(1));
                pending = returned;
            }
            unstored.add_partition_offset(
                message.topic(),
                message.partition(),
                earshot_kafka::rdkafka::Offset::Offset(message.offset() + 1),
            )?;
        }
        if last_flush.elapsed() >= Duration::from_millis(100) && unstored.count() > 0 {
            producer.flush(Duration::from_secs(60))?;
            consumer.store_offsets(&unstored)?;
            unstored = TopicPartitionList::new();
            last_flush = Instant::now();
        }
    }
    producer.flush(Duration::from_secs(60))?;
    if unstored.count() > 0 {
        consumer.store_offsets(&unstored)?;
    }
    consumer.commit_consumer_state(earshot_kafka::rdkafka::consumer::CommitMode::Sync)?;
    Ok(())
}

/// Sets `flag` on SIGTERM or SIGINT, via a small tokio runtime thread.
fn signal_hook_flag(flag: &std::sync::Arc<std::sync::atomic::AtomicBool>) -> anyhow::Result<()> {
    let flag = flag.clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::spawn(move || {
        runtime.block_on(async {
            earshot_service::shutdown_on_signals().cancelled().await;
        });
        flag.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    Ok(())
}
