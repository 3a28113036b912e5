//! Issue 6: a real Prometheus scrapes a live scorer and exporter fed through
//! the real broker; every dashboard panel, annotation and variable query runs
//! through the HTTP API and must return data.

use std::time::Duration;

use clap::Parser;
use earshot_integration_tests::{free_loopback_port, model_dir, TestBroker, TestPrometheus};
use earshot_kafka::OutputRecord;
use earshot_schema::{Alert, AlertEvidence, AlertKind, AlertMetrics, AlertStatus, Severity};
use earshot_service::CancellationToken;

const BRAND: &str = "united";
const GROUP: &str = "airlines";

fn sample_records(skip: usize, take: usize) -> Vec<OutputRecord> {
    let sample = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../data/sample_mentions.jsonl"
    ))
    .expect("sample data");
    sample
        .lines()
        .skip(skip)
        .take(take)
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).expect("json");
            let brand = value["brand"].as_str().expect("brand").as_bytes().to_vec();
            OutputRecord::new("mentions", Some(brand), line.as_bytes().to_vec())
        })
        .collect()
}

fn alert_record() -> OutputRecord {
    let now = chrono::Utc::now();
    let alert = Alert {
        id: "united:negative_surge:1".into(),
        brand: BRAND.into(),
        kind: AlertKind::NegativeSurge,
        severity: Severity::Warning,
        status: AlertStatus::Firing,
        onset_at: now,
        detected_at: now,
        metrics: AlertMetrics::default(),
        evidence: AlertEvidence::default(),
        summary: "united: negative mentions rising".into(),
    };
    OutputRecord::new(
        "alerts",
        Some(BRAND.as_bytes().to_vec()),
        alert.to_json_vec(),
    )
}

async fn query(client: &reqwest::Client, prometheus: &str, expr: &str) -> Result<usize, String> {
    let response: serde_json::Value = client
        .get(format!("{prometheus}/api/v1/query"))
        .query(&[("query", expr)])
        .send()
        .await
        .map_err(|error| error.to_string())?
        .json()
        .await
        .map_err(|error| error.to_string())?;
    if response["status"] != "success" {
        return Err(format!("{}: {}", response["errorType"], response["error"]));
    }
    Ok(response["data"]["result"].as_array().map_or(0, Vec::len))
}

async fn wait_for(client: &reqwest::Client, prometheus: &str, expr: &str, minimum: f64) {
    for _ in 0..240 {
        let response: Option<serde_json::Value> = match client
            .get(format!("{prometheus}/api/v1/query"))
            .query(&[("query", expr)])
            .send()
            .await
        {
            Ok(response) => response.json().await.ok(),
            Err(_) => None,
        };
        let value = response
            .as_ref()
            .and_then(|body| body["data"]["result"][0]["value"][1].as_str())
            .and_then(|text| text.parse::<f64>().ok());
        if value.is_some_and(|value| value >= minimum) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("{expr} never reached {minimum}");
}

fn substitute(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$brand", BRAND)
        .replace("$group", GROUP)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_dashboard_query_returns_data() {
    let broker = TestBroker::start();
    broker
        .create_topics(
            &["mentions", "mentions.scored", "alerts", "mentions.dlq"],
            4,
        )
        .await;
    let producer = broker.producer();
    let shutdown = CancellationToken::new();
    let scorer_port = free_loopback_port();
    let exporter_port = free_loopback_port();
    let scorer = earshot_scorer::Cli::try_parse_from([
        "earshot-scorer",
        "serve",
        "--brokers",
        &broker.brokers(),
        "--model-dir",
        model_dir().to_str().expect("path"),
        "--http-addr",
        &format!("127.0.0.1:{scorer_port}"),
        "--stats-interval",
        "1s",
    ])
    .expect("scorer arguments");
    let exporter = earshot_exporter::Cli::try_parse_from([
        "earshot-exporter",
        "--brokers",
        &broker.brokers(),
        "--http-addr",
        &format!("127.0.0.1:{exporter_port}"),
        "--stats-interval",
        "1s",
        "--competitor-group",
        "airlines=united,delta,southwest,jetblue,american,virgin,usairways",
    ])
    .expect("exporter arguments");
    let scorer_task = tokio::spawn(earshot_scorer::run(scorer, shutdown.clone()));
    let exporter_task = tokio::spawn(earshot_exporter::run(exporter, shutdown.clone()));
    let prometheus = TestPrometheus::start(&[
        ("earshot-scorer", format!("127.0.0.1:{scorer_port}")),
        ("earshot-exporter", format!("127.0.0.1:{exporter_port}")),
    ]);
    let url = prometheus.url();
    let client = reqwest::Client::new();

    // Two waves so that counters rise between scrapes and rates are non-zero.
    let mut first_wave = sample_records(0, 300);
    first_wave.push(OutputRecord::new(
        "mentions",
        None,
        b"{broken json".to_vec(),
    ));
    first_wave.push(alert_record());
    producer
        .send_all(&first_wave, &CancellationToken::new())
        .await
        .expect("produce");
    wait_for(&client, &url, "sum(earshot_mentions_total)", 300.0).await;
    producer
        .send_all(
            &[sample_records(300, 300), vec![alert_record()]].concat(),
            &CancellationToken::new(),
        )
        .await
        .expect("produce");
    wait_for(&client, &url, "sum(earshot_mentions_total)", 600.0).await;
    wait_for(&client, &url, "sum(earshot_alerts_total)", 2.0).await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    let mut failures = Vec::new();
    let mut checked = 0;
    for file in ["brand-overview.json", "pipeline-health.json"] {
        let path = format!(
            "{}/../deploy/grafana/dashboards/{file}",
            env!("CARGO_MANIFEST_DIR")
        );
        let dashboard: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("dashboard"))
                .expect("json");
        let mut expressions: Vec<(String, String)> = Vec::new();
        for panel in dashboard["panels"].as_array().expect("panels") {
            for target in panel["targets"].as_array().expect("targets") {
                expressions.push((
                    format!("{file}: {}", panel["title"]),
                    target["expr"].as_str().expect("expr").to_owned(),
                ));
            }
        }
        for annotation in dashboard["annotations"]["list"]
            .as_array()
            .expect("annotations")
        {
            expressions.push((
                format!("{file}: annotation {}", annotation["name"]),
                annotation["expr"].as_str().expect("expr").to_owned(),
            ));
        }
        for variable in dashboard["templating"]["list"]
            .as_array()
            .expect("templating")
        {
            // label_values(metric, label) has data when the metric has series.
            let definition = variable["definition"].as_str().expect("definition");
            let metric = definition
                .trim_start_matches("label_values(")
                .split(',')
                .next()
                .expect("metric")
                .trim();
            expressions.push((
                format!("{file}: variable {}", variable["name"]),
                metric.to_owned(),
            ));
        }
        for (name, expr) in expressions {
            checked += 1;
            let expr = substitute(&expr);
            match query(&client, &url, &expr).await {
                Ok(0) => failures.push(format!("{name}: empty result for {expr}")),
                Ok(_) => {}
                Err(error) => failures.push(format!("{name}: {error} for {expr}")),
            }
        }
    }
    println!("checked {checked} dashboard queries");
    shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(60), scorer_task).await;
    let _ = tokio::time::timeout(Duration::from_secs(60), exporter_task).await;
    assert!(checked >= 20, "only {checked} queries found");
    assert!(
        failures.is_empty(),
        "failing dashboard queries:\n{}",
        failures.join("\n")
    );
}
