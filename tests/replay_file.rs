//! Issue 7 (file mode): a gzipped JSONL file with invalid lines replayed into
//! the real broker: every valid line arrives keyed by brand, every invalid
//! one is in the reject file with its line number and reason.

use std::collections::BTreeSet;
use std::io::Write;

use clap::Parser;
use earshot_integration_tests::{read_topic, TestBroker};
use earshot_schema::{Mention, ValidationLimits};
use earshot_service::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_a_gzipped_file_and_rejects_invalid_lines() {
    let broker = TestBroker::start();
    broker.create_topics(&["replayed"], 3).await;
    let directory = tempfile::tempdir().expect("dir");
    let input = directory.path().join("mentions.jsonl.gz");
    let rejects = directory.path().join("rejects.jsonl");
    let mut encoder = flate2::write::GzEncoder::new(
        std::fs::File::create(&input).expect("create"),
        flate2::Compression::fast(),
    );
    let mut valid_ids = BTreeSet::new();
    let mut invalid_lines = Vec::new();
    for index in 1..=1000u64 {
        if index % 100 == 0 {
            writeln!(encoder, "{{\"id\": \"broken-{index}\", \"text\": 3}}").expect("write");
            invalid_lines.push(index);
        } else {
            let line = serde_json::json!({
                "id": format!("r-{index}"), "brand": "ignored", "text": format!("text {index}"),
                "created_at": "2026-11-23T08:00:00Z", "source": "news",
            });
            writeln!(encoder, "{line}").expect("write");
            valid_ids.insert(format!("r-{index}"));
        }
    }
    encoder.finish().expect("gzip");
    let cli = earshot_replay::Cli::try_parse_from([
        "earshot-replay",
        "file",
        "--brokers",
        &broker.brokers(),
        "--input",
        input.to_str().expect("path"),
        "--topic",
        "replayed",
        "--reject-file",
        rejects.to_str().expect("path"),
        "--set",
        "brand=acme",
        "--http-addr",
        "127.0.0.1:0",
    ])
    .expect("arguments");
    let summary = earshot_replay::run(cli, CancellationToken::new())
        .await
        .expect("replay");
    assert_eq!(
        (summary.lines, summary.sent, summary.rejected),
        (1000, 990, 10)
    );

    let records = read_topic(&broker.brokers(), "replayed");
    let ids: BTreeSet<String> = records
        .iter()
        .map(|record| {
            assert_eq!(record.key.as_deref(), Some(&b"acme"[..]));
            let mention = Mention::from_json_bytes(&record.payload, &ValidationLimits::default())
                .expect("valid");
            assert_eq!(mention.brand, "acme");
            mention.id
        })
        .collect();
    assert_eq!(records.len(), 990, "no duplicates");
    assert_eq!(ids, valid_ids);
    let rejected: Vec<serde_json::Value> = std::fs::read_to_string(&rejects)
        .expect("reject file")
        .lines()
        .map(|line| serde_json::from_str(line).expect("json"))
        .collect();
    let lines: Vec<u64> = rejected
        .iter()
        .map(|reject| reject["line"].as_u64().expect("line"))
        .collect();
    assert_eq!(lines, invalid_lines);
    assert!(rejected.iter().all(|reject| reject["reason"]
        .as_str()
        .is_some_and(|reason| reason.contains("brand"))));
}
