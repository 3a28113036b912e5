//! Issue 7 (topic mode): a created_at range of a 3-partition topic, found with
//! offsets-for-times, comes back in created_at order across partitions (and
//! within a partition written out of order), to a file and to a topic.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};

use clap::Parser;
use earshot_integration_tests::{read_topic, TestBroker};
use earshot_kafka::OutputRecord;
use earshot_service::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_a_time_range_in_created_at_order() {
    let broker = TestBroker::start();
    broker.create_topics(&["scored", "copy"], 3).await;
    let base: DateTime<Utc> = "2026-11-23T08:00:00Z".parse().expect("time");
    // 600 mentions, one per second of event time, written in a shuffled
    // order so that each partition holds them out of created_at order (by
    // up to 40 positions), plus one record without created_at.
    let mut order: Vec<i64> = (0..600).collect();
    for block in order.chunks_mut(40) {
        block.reverse();
    }
    let mut records: Vec<OutputRecord> = order
        .iter()
        .map(|second| {
            let payload = serde_json::json!({
                "id": format!("s-{second}"), "brand": format!("brand-{}", second % 5),
                "text": "scored mention", "source": "twitter",
                "created_at": earshot_schema::format_timestamp(&(base + Duration::seconds(*second))),
                "sentiment": {"label": "neutral"},
            });
            OutputRecord::new(
                "scored",
                Some(format!("brand-{}", second % 5).into_bytes()),
                payload.to_string().into_bytes(),
            )
        })
        .collect();
    records.insert(
        300,
        OutputRecord::new(
            "scored",
            Some(b"brand-0".to_vec()),
            b"{\"id\":\"broken\"}".to_vec(),
        ),
    );
    broker
        .producer()
        .send_all(&records, &CancellationToken::new())
        .await
        .expect("produce");

    // Offsets-for-times: records written after a moment are exactly those
    // at or after the offsets found for it.
    let written_before = Utc::now().timestamp_millis();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let later: Vec<OutputRecord> = (0..9)
        .map(|index| {
            let payload = serde_json::json!({
                "id": format!("late-{index}"), "brand": format!("brand-{index}"), "text": "t",
                "created_at": "2026-11-22T00:00:00Z",
            });
            OutputRecord::new(
                "scored",
                Some(format!("brand-{index}").into_bytes()),
                payload.to_string().into_bytes(),
            )
        })
        .collect();
    broker
        .producer()
        .send_all(&later, &CancellationToken::new())
        .await
        .expect("produce later");
    let ranges = earshot_kafka::range::time_range_offsets(
        &broker.kafka_args(),
        "scored",
        written_before,
        None,
        std::time::Duration::from_secs(10),
    )
    .expect("offsets for times");
    assert_eq!(ranges.len(), 3);
    assert_eq!(
        ranges
            .iter()
            .map(|range| range.end - range.start)
            .sum::<i64>(),
        9,
        "only the records written after the moment: {ranges:?}"
    );

    let directory = tempfile::tempdir().expect("dir");
    let output = directory.path().join("range.jsonl");
    let rejects = directory.path().join("rejects.jsonl");
    let start = earshot_schema::format_timestamp(&(base + Duration::seconds(100)));
    let end = earshot_schema::format_timestamp(&(base + Duration::seconds(400)));
    let brokers = broker.brokers();
    let reject_file = rejects.to_str().expect("path");
    let range_flags = ["--reorder-window", "100", "--reject-file", reject_file];

    let summary = replay_range(
        &brokers,
        &start,
        &end,
        [
            &range_flags[..],
            &["--output", output.to_str().expect("path")],
        ]
        .concat(),
    )
    .await;
    assert_eq!((summary.sent, summary.rejected), (300, 1), "{summary:?}");
    let written: Vec<serde_json::Value> = std::fs::read_to_string(&output)
        .expect("output")
        .lines()
        .map(|line| serde_json::from_str(line).expect("json"))
        .collect();
    let seconds: Vec<i64> = written
        .iter()
        .map(|value| {
            let created_at: DateTime<Utc> = value["created_at"]
                .as_str()
                .expect("created_at")
                .parse()
                .expect("time");
            (created_at - base).num_seconds()
        })
        .collect();
    assert_eq!(
        seconds,
        (100..400).collect::<Vec<_>>(),
        "exactly the range, in created_at order"
    );
    assert_eq!(
        written[0]["sentiment"]["label"], "neutral",
        "payload kept whole"
    );
    let reject: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&rejects).expect("rejects").trim())
            .expect("json");
    assert_eq!(reject["topic"], "scored");
    assert!(reject["reason"]
        .as_str()
        .expect("reason")
        .contains("created_at"));

    let summary = replay_range(
        &brokers,
        &start,
        &end,
        [&range_flags[..], &["--to", "copy"]].concat(),
    )
    .await;
    assert_eq!(summary.sent, 300);
    let copied = read_topic(&broker.brokers(), "copy");
    assert_eq!(copied.len(), 300, "no duplicates");
    let ids: BTreeSet<String> = copied
        .iter()
        .map(|record| {
            let value: serde_json::Value = serde_json::from_slice(&record.payload).expect("json");
            assert_eq!(
                record.key.as_deref(),
                value["brand"].as_str().map(str::as_bytes),
                "keyed by brand as before"
            );
            value["id"].as_str().expect("id").to_owned()
        })
        .collect();
    assert_eq!(
        ids,
        (100..400).map(|second| format!("s-{second}")).collect()
    );

    // An empty range is fine, not an error.
    let later = earshot_schema::format_timestamp(&(base + Duration::days(1)));
    let later_end = earshot_schema::format_timestamp(&(base + Duration::days(2)));
    let empty_output = directory.path().join("empty.jsonl");
    let summary = replay_range(
        &brokers,
        &later,
        &later_end,
        vec![
            "--max-lateness",
            "1h",
            "--output",
            empty_output.to_str().expect("path"),
        ],
    )
    .await;
    assert_eq!(summary.sent, 0);
}

/// Runs `earshot-replay topic` over `[start, end)` of `scored` with `extra` flags.
async fn replay_range(
    brokers: &str,
    start: &str,
    end: &str,
    extra: Vec<&str>,
) -> earshot_replay::ReplaySummary {
    let mut arguments = vec![
        "earshot-replay",
        "topic",
        "--brokers",
        brokers,
        "--from",
        "scored",
        "--start",
        start,
        "--end",
        end,
        "--http-addr",
        "off",
    ];
    arguments.extend(extra);
    earshot_replay::run(
        earshot_replay::Cli::try_parse_from(arguments).expect("arguments"),
        CancellationToken::new(),
    )
    .await
    .expect("topic replay")
}
