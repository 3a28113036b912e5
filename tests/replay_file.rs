//! Issue 7 (file mode): a gzipped JSONL file with invalid lines replayed into
//! the real broker: every valid line arrives keyed by brand, every invalid
//! one is in the reject file with its line number and reason.

use std::collections::BTreeSet;
use std::io::Write;

use clap::Parser;
use earshot_integration_tests::{mention_ids, read_topic, TestBroker};
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
        .is_some_and(|reason| reason.contains("`text`"))));
}

fn mention_line(index: u64) -> String {
    serde_json::json!({
        "id": format!("m-{index}"), "brand": format!("brand-{}", index % 7),
        "text": format!("mention number {index}"),
        "created_at": format!("2026-11-23T08:{:02}:{:02}Z", (index / 60) % 60, index % 60),
    })
    .to_string()
}

fn replay_cli(broker: &TestBroker, extra: &[&str]) -> earshot_replay::Cli {
    let brokers = broker.brokers();
    let mut arguments = vec!["earshot-replay", "file", "--brokers", &brokers];
    arguments.extend_from_slice(extra);
    arguments.extend_from_slice(&["--http-addr", "off"]);
    earshot_replay::Cli::try_parse_from(arguments).expect("arguments")
}

/// An interrupted replay resumed from its checkpoint delivers every valid
/// line exactly once and writes every reject exactly once; a third run of
/// the completed replay sends nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumes_from_the_checkpoint_without_duplicates() {
    let broker = TestBroker::start();
    broker.create_topics(&["resumed"], 2).await;
    let directory = tempfile::tempdir().expect("dir");
    let input = directory.path().join("backfill.jsonl");
    let rejects = directory.path().join("rejects.jsonl");
    let checkpoint = directory.path().join("replay.checkpoint.json");
    let total = 6000u64;
    let mut body = String::new();
    for index in 1..=total {
        if index % 500 == 0 {
            body.push_str("{not json\n");
        } else {
            body.push_str(&mention_line(index));
            body.push('\n');
        }
    }
    std::fs::write(&input, body).expect("write");
    let arguments = [
        "--input",
        input.to_str().expect("path"),
        "--topic",
        "resumed",
        "--reject-file",
        rejects.to_str().expect("path"),
        "--checkpoint",
        checkpoint.to_str().expect("path"),
        "--chunk-size",
        "200",
        "--rate",
        "3000",
    ];
    // First run: interrupted (as by SIGTERM) after about a third of the file.
    let shutdown = CancellationToken::new();
    let stopper = {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(700)).await;
            shutdown.cancel();
        })
    };
    let first = earshot_replay::run(replay_cli(&broker, &arguments), shutdown)
        .await
        .expect("first run");
    stopper.await.expect("stopper");
    assert!(first.interrupted, "{first:?}");
    assert!(first.sent > 0 && first.sent < total - 12, "{first:?}");
    let saved: earshot_replay::Checkpoint =
        serde_json::from_str(&std::fs::read_to_string(&checkpoint).expect("checkpoint"))
            .expect("checkpoint json");
    assert!(!saved.complete);
    assert_eq!(saved.progress.sent, first.sent);
    assert_eq!(
        read_topic(&broker.brokers(), "resumed").len() as u64,
        first.sent,
        "everything counted as sent is on the topic"
    );

    // Second run: same command, resumes and completes.
    let second = earshot_replay::run(
        replay_cli(&broker, &arguments[..arguments.len() - 2]),
        CancellationToken::new(),
    )
    .await
    .expect("second run");
    assert!(!second.interrupted);
    assert_eq!(
        (second.lines, second.sent, second.rejected),
        (total, total - 12, 12),
        "totals across both runs"
    );
    let records = read_topic(&broker.brokers(), "resumed");
    let ids = mention_ids(&records);
    assert_eq!(records.len() as u64, total - 12, "no duplicates");
    assert_eq!(ids.len() as u64, total - 12, "no duplicate ids");
    let reject_lines: Vec<u64> = std::fs::read_to_string(&rejects)
        .expect("rejects")
        .lines()
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line).expect("json")["line"]
                .as_u64()
                .expect("line")
        })
        .collect();
    assert_eq!(
        reject_lines,
        (1..=12).map(|index| index * 500).collect::<Vec<_>>(),
        "each reject exactly once, in order"
    );

    // Third run: the checkpoint says complete; nothing is sent again.
    let third = earshot_replay::run(
        replay_cli(&broker, &arguments[..arguments.len() - 2]),
        CancellationToken::new(),
    )
    .await
    .expect("third run");
    assert_eq!(third.sent, total - 12);
    assert_eq!(
        read_topic(&broker.brokers(), "resumed").len() as u64,
        total - 12
    );
}

/// A latin-1 CSV export without id or brand columns: columns mapped, text
/// decoded, timestamps converted, brand from --brand-map, bad rows rejected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_a_latin1_csv_with_mapped_columns() {
    let broker = TestBroker::start();
    broker.create_topics(&["from-csv"], 2).await;
    let directory = tempfile::tempdir().expect("dir");
    let input = directory.path().join("export.csv");
    let rejects = directory.path().join("rejects.jsonl");
    let mut bytes = b"Posted,Body,Channel\n".to_vec();
    bytes.extend_from_slice(b"23/11/2026 08:00:01,\"Caf\xe9 au lait, tr\xe8s bon\",review\n");
    bytes.extend_from_slice(b"not a date,\"bad\",review\n");
    bytes.extend_from_slice(b"23/11/2026 08:00:03,\"multi\nline\",forum\n");
    std::fs::write(&input, bytes).expect("write");
    let input_text = input.to_str().expect("path").to_owned();
    let brand_map = format!("{input_text}=cafe-co");
    let summary = earshot_replay::run(
        replay_cli(
            &broker,
            &[
                "--input",
                &input_text,
                "--topic",
                "from-csv",
                "--encoding",
                "latin-1",
                "--column",
                "text=Body",
                "--column",
                "created_at=Posted",
                "--column",
                "source=Channel",
                "--time-format",
                "%d/%m/%Y %H:%M:%S",
                "--brand-map",
                &brand_map,
                "--reject-file",
                rejects.to_str().expect("path"),
            ],
        ),
        CancellationToken::new(),
    )
    .await
    .expect("replay");
    assert_eq!((summary.lines, summary.sent, summary.rejected), (3, 2, 1));
    let mut mentions: Vec<Mention> = read_topic(&broker.brokers(), "from-csv")
        .iter()
        .map(|record| {
            assert_eq!(record.key.as_deref(), Some(&b"cafe-co"[..]));
            Mention::from_json_bytes(&record.payload, &ValidationLimits::default()).expect("valid")
        })
        .collect();
    mentions.sort_by_key(|mention| mention.created_at);
    assert_eq!(mentions.len(), 2);
    assert_eq!(mentions[0].text, "Café au lait, très bon");
    assert_eq!(mentions[0].source, "review");
    assert_eq!(mentions[0].id, "export.csv:2");
    assert_eq!(
        earshot_schema::format_timestamp(&mentions[0].created_at),
        "2026-11-23T08:00:01Z"
    );
    assert_eq!(mentions[1].text, "multi\nline");
    let reject: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&rejects).expect("rejects").trim())
            .expect("json");
    assert_eq!(reject["line"], 3);
    assert_eq!(reject["kind"], "invalid_timestamp");
}
