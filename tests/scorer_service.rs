//! Issue 4: the scorer service end to end on the real broker: mentions in,
//! scored mentions out keyed by brand, malformed ones in the DLQ, offsets
//! committed at shutdown.

use std::collections::BTreeSet;
use std::time::Duration;

use clap::Parser;
use earshot_integration_tests::{model_dir, read_topic, wait_until, TestBroker};
use earshot_kafka::OutputRecord;
use earshot_schema::{ScoredMention, ValidationLimits};
use earshot_service::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scores_the_sample_stream_on_the_broker() {
    let broker = TestBroker::start();
    broker
        .create_topics(&["mentions", "mentions.scored", "mentions.dlq"], 4)
        .await;
    let sample = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../data/sample_mentions.jsonl"
    ))
    .expect("sample data");
    let mut records = Vec::new();
    let mut expected_ids = BTreeSet::new();
    for line in sample.lines().take(300) {
        let value: serde_json::Value = serde_json::from_str(line).expect("sample json");
        expected_ids.insert(value["id"].as_str().expect("id").to_owned());
        let brand = value["brand"].as_str().expect("brand").as_bytes().to_vec();
        records.push(OutputRecord::new(
            "mentions",
            Some(brand),
            line.as_bytes().to_vec(),
        ));
    }
    for bad in [&b"{oops"[..], br#"{"id":"x","brand":"b"}"#, b"\xff\xff"] {
        records.push(OutputRecord::new("mentions", None, bad.to_vec()));
    }
    let producer = broker.producer();
    producer
        .send_all(&records, &CancellationToken::new())
        .await
        .expect("produce");

    let cli = earshot_scorer::Cli::try_parse_from([
        "earshot-scorer",
        "serve",
        "--brokers",
        &broker.brokers(),
        "--model-dir",
        model_dir().to_str().expect("path"),
        "--http-addr",
        "127.0.0.1:0",
        "--model-threads",
        "2",
    ])
    .expect("arguments");
    let shutdown = CancellationToken::new();
    let service = tokio::spawn(earshot_scorer::run(cli, shutdown.clone()));
    let brokers = broker.brokers();
    let done = wait_until(Duration::from_secs(240), || {
        read_topic(&brokers, "mentions.scored").len() >= 300
            && read_topic(&brokers, "mentions.dlq").len() >= 3
    })
    .await;
    assert!(done, "the scorer did not score the stream in time");
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(60), service)
        .await
        .expect("graceful shutdown within 60 s")
        .expect("join")
        .expect("service");

    let scored = read_topic(&brokers, "mentions.scored");
    let mut seen = BTreeSet::new();
    for record in &scored {
        let mention = ScoredMention::from_json_bytes(&record.payload, &ValidationLimits::default())
            .expect("scored");
        assert_eq!(
            record.key.as_deref(),
            Some(mention.mention.brand.as_bytes())
        );
        // The default precision on the CPU is int8.
        assert_eq!(mention.model.name, "earshot-minilm-heads-int8");
        seen.insert(mention.mention.id);
    }
    assert_eq!(seen, expected_ids);
    assert_eq!(read_topic(&brokers, "mentions.dlq").len(), 3);
    let committed = earshot_kafka::admin::committed_offsets(
        &broker.kafka_args(),
        "earshot-scorer",
        "mentions",
        Duration::from_secs(10),
    )
    .expect("committed");
    let marks =
        earshot_kafka::admin::watermarks(&broker.kafka_args(), "mentions", Duration::from_secs(10))
            .expect("marks");
    for (partition, _, high) in marks {
        let offset = committed
            .iter()
            .find(|(id, _)| *id == partition)
            .and_then(|(_, offset)| *offset);
        assert_eq!(offset.unwrap_or(0), high, "partition {partition}");
    }
}
