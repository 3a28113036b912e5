//! Issue 5: the alerter service on the real broker: a labeled synthetic
//! stream spread over four partitions (keyed by brand, consumed at uneven
//! speeds) turns into a paging incident for the crisis brand only, on the
//! `alerts` topic, keyed by brand, with no mention treated as late.

use std::time::Duration;

use clap::Parser;
use earshot_integration_tests::{
    crisis_stream, free_loopback_port, keyed_records, read_topic, wait_until, TestBroker,
};
use earshot_schema::{Alert, AlertKind, AlertStatus, Severity};
use earshot_service::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_for_the_crisis_brand_only() {
    let broker = TestBroker::start();
    broker
        .create_topics(&["mentions.scored", "alerts", "mentions.dlq"], 4)
        .await;
    let onset = 8 * 60;
    let (start, stream) = crisis_stream(
        &["acme", "globex", "initech", "umbrella", "hooli", "stark"],
        onset,
        60,
        onset + 90,
        5,
    );
    let records = keyed_records("mentions.scored", &stream);
    let producer = broker.producer();
    producer
        .send_all(&records, &CancellationToken::new())
        .await
        .expect("produce");

    let directory = tempfile::tempdir().expect("dir");
    let config = directory.path().join("alerter.json");
    std::fs::write(&config, r#"{"preset": "balanced", "warmup_hours": 4}"#).expect("config");
    let port = free_loopback_port();
    let cli = earshot_alerter::Cli::try_parse_from([
        "earshot-alerter",
        "serve",
        "--brokers",
        &broker.brokers(),
        "--config",
        config.to_str().expect("path"),
        "--http-addr",
        &format!("127.0.0.1:{port}"),
        "--batch-size",
        "37",
    ])
    .expect("arguments");
    let shutdown = CancellationToken::new();
    let service = tokio::spawn(earshot_alerter::run(cli, shutdown.clone()));
    let metrics_url = format!("http://127.0.0.1:{port}/metrics");
    let client = reqwest::Client::new();
    let counter = |body: &str, name: &str| {
        body.lines()
            .find(|line| line.starts_with(name))
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|value| value.parse::<usize>().ok())
            .unwrap_or(0)
    };
    let mut consumed_all = false;
    for _ in 0..240 {
        let body = match client.get(&metrics_url).send().await {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        let consumed = counter(&body, "earshot_alerter_mentions_total");
        if consumed >= stream.len() {
            assert!(
                body.contains("earshot_alerter_late_mentions_total{service=\"alerter\"} 0"),
                "mentions counted late:\n{body}"
            );
            // Four partitions rebuilt at start, then each partition's
            // hourly tidies over nine hours of stream: the heap was handed
            // back after the tidies too, not only after the rebuilds.
            let heap_trims = counter(&body, "earshot_alerter_heap_trims_total");
            assert!(
                heap_trims > 4,
                "heap handed back {heap_trims} times:\n{body}"
            );
            // The state measured then: the term entries of six brands.
            let entries = counter(&body, "earshot_alerter_state_bytes{part=\"term_entries\"");
            assert!(entries > 6 * 64, "term entries {entries} bytes:\n{body}");
            consumed_all = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(consumed_all, "the alerter did not consume the stream");
    let brokers = broker.brokers();
    assert!(
        wait_until(Duration::from_secs(30), || !read_topic(&brokers, "alerts")
            .is_empty())
        .await
    );
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(60), service)
        .await
        .expect("shutdown")
        .expect("join")
        .expect("service");

    let alerts: Vec<(Option<Vec<u8>>, Alert)> = read_topic(&brokers, "alerts")
        .into_iter()
        .map(|record| {
            (
                record.key.clone(),
                Alert::from_json_bytes(&record.payload).expect("alert json"),
            )
        })
        .collect();
    for (key, alert) in &alerts {
        assert_eq!(
            key.as_deref(),
            Some(alert.brand.as_bytes()),
            "alerts are keyed by brand"
        );
    }
    let pages: Vec<&Alert> = alerts
        .iter()
        .map(|(_, alert)| alert)
        .filter(|alert| alert.status == AlertStatus::Firing && alert.severity >= Severity::Warning)
        .collect();
    assert!(
        pages.iter().all(|alert| alert.brand == "acme"),
        "false pages: {:?}",
        pages.iter().map(|alert| &alert.summary).collect::<Vec<_>>()
    );
    let page = pages
        .iter()
        .find(|alert| alert.kind == AlertKind::NegativeSurge)
        .expect("acme negative surge pages");
    let delay = page.detected_at - (start + chrono::Duration::minutes(onset));
    assert!(
        delay <= chrono::Duration::minutes(10),
        "detected after {delay}"
    );
}
