//! Issue 5: notifications and restarts, on the real broker and a real
//! Alertmanager. One crisis stream is fed in two parts to two alerter runs
//! (a restart in the middle of an open incident) while the webhook receiver
//! refuses everything (HTTP 500) for most of the run:
//! - detection is not blocked: every alert reaches the `alerts` topic while
//!   the receiver is down;
//! - nothing is lost: once it recovers, the webhook gets every state change
//!   exactly once by idempotency key, in topic order per brand, including the
//!   ones spooled across the restart;
//! - the restart neither duplicates nor loses an incident: the alerts on the
//!   topic equal those of an uninterrupted detector per partition;
//! - Slack gets the pages, Alertmanager routes them to its own receiver.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::Ordering;
use std::time::Duration;

use clap::Parser;
use earshot_alerter::notify::idempotency_key;
use earshot_alerter::{Detector, DetectorConfig};
use earshot_integration_tests::{
    crisis_stream, free_loopback_port, keyed_records, read_topic, wait_until, TestAlertmanager,
    TestBroker, TestReceiver,
};
use earshot_schema::{Alert, AlertStatus, ScoredMention, Severity, ValidationLimits};
use earshot_service::CancellationToken;

fn alertmanager_config(receiver: &str) -> String {
    format!(
        r#"route:
  receiver: hook
  group_by: [brand, kind]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - matchers: ['severity="watch"']
      receiver: "null"
receivers:
  - name: "null"
  - name: hook
    webhook_configs:
      - url: {receiver}/am
        send_resolved: true
"#
    )
}

async fn metric(client: &reqwest::Client, port: u16, name: &str) -> f64 {
    let body = match client
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
    {
        Ok(response) => response.text().await.unwrap_or_default(),
        Err(_) => return 0.0,
    };
    body.lines()
        .filter(|line| line.starts_with(name))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Polls a metric until it reaches `target` (up to 2 minutes); returns its last value.
async fn wait_for_metric(client: &reqwest::Client, port: u16, name: &str, target: usize) -> f64 {
    let mut value = 0.0;
    for _ in 0..240 {
        value = metric(client, port, name).await;
        if value >= target as f64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    value
}

fn alerts_on_topic(brokers: &str) -> Vec<Alert> {
    read_topic(brokers, "alerts")
        .iter()
        .map(|record| Alert::from_json_bytes(&record.payload).expect("alert json"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_survive_a_failing_receiver_and_a_restart() {
    let broker = TestBroker::start();
    broker
        .create_topics(&["mentions.scored", "alerts", "mentions.dlq"], 2)
        .await;
    let receiver = TestReceiver::default();
    receiver.failing.store(true, Ordering::SeqCst);
    let receiver_url = receiver.start().await;
    let alertmanager = TestAlertmanager::start(&alertmanager_config(&receiver_url));

    let onset = 5 * 60;
    let (start, stream) = crisis_stream(
        &["acme", "globex", "initech", "umbrella"],
        onset,
        45,
        onset + 120,
        11,
    );
    // Part one ends 20 minutes into the crisis: the incident is open.
    let split_at = start + chrono::Duration::minutes(onset + 20);
    let split = stream
        .iter()
        .position(|scored| scored.mention.created_at >= split_at)
        .expect("split point");
    let records = keyed_records("mentions.scored", &stream);
    let producer = broker.producer();
    producer
        .send_all(&records[..split], &CancellationToken::new())
        .await
        .expect("produce part one");

    let directory = tempfile::tempdir().expect("dir");
    let config_path = directory.path().join("alerter.json");
    std::fs::write(&config_path, r#"{"preset": "balanced", "warmup_hours": 3}"#).expect("config");
    let port = free_loopback_port();
    let brokers = broker.brokers();
    let arguments: Vec<String> = [
        "earshot-alerter",
        "serve",
        "--brokers",
        &brokers,
        "--config",
        config_path.to_str().expect("path"),
        "--http-addr",
        &format!("127.0.0.1:{port}"),
        "--batch-size",
        "41",
        "--webhook-url",
        &format!("{receiver_url}/hook"),
        "--webhook-token",
        "test-token-123",
        "--slack-webhook-url",
        &format!("{receiver_url}/slack"),
        "--alertmanager-url",
        &alertmanager.url(),
        "--alertmanager-resend",
        "1s",
        "--notify-backoff",
        "50ms",
        "--notify-max-backoff",
        "400ms",
    ]
    .iter()
    .map(|argument| (*argument).to_owned())
    .collect();
    let client = reqwest::Client::new();

    // Run one: part one, receiver down throughout.
    let shutdown = CancellationToken::new();
    let cli = earshot_alerter::Cli::try_parse_from(&arguments).expect("arguments");
    let service = tokio::spawn(earshot_alerter::run(cli, shutdown.clone()));
    let consumed = wait_for_metric(&client, port, "earshot_alerter_mentions_total", split).await;
    assert_eq!(consumed, split as f64, "run one consumed part one");
    let part_one_alerts = alerts_on_topic(&brokers);
    assert!(
        part_one_alerts
            .iter()
            .any(|alert| alert.brand == "acme" && alert.severity >= Severity::Warning),
        "an acme page is on the topic while the webhook is down: {part_one_alerts:?}"
    );
    assert!(
        wait_until(Duration::from_secs(20), || receiver.refused("/hook") >= 3).await,
        "the webhook was retried"
    );
    let health = client
        .get(format!("http://127.0.0.1:{port}/health"))
        .send()
        .await
        .expect("health");
    assert_eq!(
        health.status().as_u16(),
        503,
        "a failing sink shows in /health"
    );
    let health_body = health.text().await.unwrap_or_default();
    assert!(health_body.contains("sink_webhook"), "{health_body}");
    assert!(receiver.accepted("/hook").is_empty());
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(60), service)
        .await
        .expect("run one stops in time")
        .expect("join")
        .expect("run one exits cleanly while a receiver is down");

    // Run two: part two; the receiver recovers a few seconds in.
    producer
        .send_all(&records[split..], &CancellationToken::new())
        .await
        .expect("produce part two");
    let shutdown = CancellationToken::new();
    let cli = earshot_alerter::Cli::try_parse_from(&arguments).expect("arguments");
    let service = tokio::spawn(earshot_alerter::run(cli, shutdown.clone()));
    let consumed = wait_for_metric(
        &client,
        port,
        "earshot_alerter_mentions_total",
        stream.len() - split,
    )
    .await;
    assert_eq!(
        consumed,
        (stream.len() - split) as f64,
        "run two consumed part two"
    );
    assert_eq!(
        metric(&client, port, "earshot_alerter_rebuild_mentions_total").await,
        split as f64,
        "run two rebuilt its detectors from part one"
    );
    receiver.failing.store(false, Ordering::SeqCst);

    let alerts = alerts_on_topic(&brokers);
    let keys_on_topic: Vec<String> = alerts.iter().map(idempotency_key).collect();
    let distinct: BTreeSet<&String> = keys_on_topic.iter().collect();
    assert_eq!(
        distinct.len(),
        keys_on_topic.len(),
        "no state change published twice: {keys_on_topic:?}"
    );
    assert!(
        wait_until(Duration::from_secs(60), || {
            let delivered: BTreeSet<String> = receiver
                .accepted("/hook")
                .iter()
                .filter_map(|request| request.headers.get("idempotency-key").cloned())
                .collect();
            keys_on_topic.iter().all(|key| delivered.contains(key))
        })
        .await,
        "every alert reaches the webhook after it recovers"
    );

    // The restart changed nothing: an uninterrupted detector per partition
    // publishes exactly the same state changes.
    let config = DetectorConfig::load("balanced", Some(&config_path)).expect("config");
    let mut by_partition: BTreeMap<i32, Vec<(i64, ScoredMention)>> = BTreeMap::new();
    for record in read_topic(&brokers, "mentions.scored") {
        let scored = ScoredMention::from_json_bytes(&record.payload, &ValidationLimits::default())
            .expect("scored");
        by_partition
            .entry(record.partition)
            .or_default()
            .push((record.offset, scored));
    }
    let mut expected: Vec<String> = Vec::new();
    for mentions in by_partition.values_mut() {
        mentions.sort_by_key(|(offset, _)| *offset);
        let mut detector = Detector::new(config.clone());
        for (_, scored) in mentions.iter() {
            expected.extend(detector.ingest(scored).iter().map(idempotency_key));
        }
    }
    let mut published = keys_on_topic.clone();
    published.sort();
    expected.sort();
    assert_eq!(
        published, expected,
        "restart lost or duplicated a state change"
    );
    let acme_incidents: Vec<&Alert> = alerts
        .iter()
        .filter(|alert| alert.brand == "acme" && alert.severity >= Severity::Warning)
        .collect();
    assert!(
        acme_incidents
            .iter()
            .any(|alert| alert.detected_at < split_at)
            && alerts
                .iter()
                .any(|alert| alert.brand == "acme" && alert.detected_at >= split_at),
        "the acme incident spans the restart: {:?}",
        alerts
            .iter()
            .map(|alert| &alert.summary)
            .collect::<Vec<_>>()
    );

    // Webhook: bearer token, Alert bodies, topic order per brand.
    let hook = receiver.accepted("/hook");
    assert!(hook
        .iter()
        .all(|request| request.headers.get("authorization")
            == Some(&"Bearer test-token-123".to_owned())));
    let mut first_delivery: HashMap<String, usize> = HashMap::new();
    for (position, request) in hook.iter().enumerate() {
        let alert = Alert::from_json_bytes(&request.body).expect("webhook body is an Alert");
        first_delivery
            .entry(idempotency_key(&alert))
            .or_insert(position);
    }
    let mut topic_order_by_brand: HashMap<&str, Vec<usize>> = HashMap::new();
    for alert in &alerts {
        topic_order_by_brand
            .entry(alert.brand.as_str())
            .or_default()
            .push(first_delivery[&idempotency_key(alert)]);
    }
    for (brand, positions) in topic_order_by_brand {
        assert!(
            positions.windows(2).all(|pair| pair[0] < pair[1]),
            "{brand}: delivered out of order {positions:?}"
        );
    }

    // Slack: the pages, as Slack messages.
    let pages: Vec<&Alert> = alerts
        .iter()
        .filter(|alert| alert.severity >= Severity::Warning)
        .collect();
    assert!(
        wait_until(Duration::from_secs(30), || receiver
            .accepted("/slack")
            .len()
            >= pages.len())
        .await
    );
    let slack = receiver.accepted("/slack");
    let first_slack: serde_json::Value =
        serde_json::from_slice(&slack[0].body).expect("slack json");
    assert!(first_slack["text"]
        .as_str()
        .is_some_and(|text| text.contains("acme")));

    // Alertmanager: the page is routed to its receiver with our labels.
    assert!(
        wait_until(Duration::from_secs(30), || {
            receiver.accepted("/am").iter().any(|request| {
                let body: serde_json::Value =
                    serde_json::from_slice(&request.body).unwrap_or_default();
                body["alerts"].as_array().is_some_and(|alerts| {
                    alerts.iter().any(|alert| {
                        alert["labels"]["alertname"] == "EarshotCrisis"
                            && alert["labels"]["brand"] == "acme"
                            && alert["labels"]["severity"] != "watch"
                    })
                })
            })
        })
        .await,
        "alertmanager routed the acme page; its log:\n{}",
        alertmanager.log()
    );
    let resolved: Vec<&Alert> = alerts
        .iter()
        .filter(|alert| alert.brand == "acme" && alert.status == AlertStatus::Resolved)
        .collect();
    if let Some(resolved) = resolved.first() {
        // Once resolved, the incident is no longer active in Alertmanager.
        let active_url = format!("{}/api/v2/alerts?active=true", alertmanager.url());
        let mut still_active = true;
        for _ in 0..40 {
            let active: serde_json::Value = client
                .get(&active_url)
                .send()
                .await
                .expect("alertmanager api")
                .json()
                .await
                .expect("json");
            still_active = active.as_array().is_some_and(|alerts| {
                alerts
                    .iter()
                    .any(|alert| alert["labels"]["incident"] == resolved.id.as_str())
            });
            if !still_active {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        assert!(
            !still_active,
            "resolved incident {} still active",
            resolved.id
        );
    }
    eprintln!(
        "alerts on topic {}, webhook: {} refused, {} accepted; slack {} accepted; alertmanager notifications {}; acme resolved in the stream: {}",
        alerts.len(),
        receiver.refused("/hook"),
        receiver.accepted("/hook").len(),
        receiver.accepted("/slack").len(),
        receiver.accepted("/am").len(),
        !resolved.is_empty()
    );
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(60), service)
        .await
        .expect("run two stops in time")
        .expect("join")
        .expect("run two");
}
