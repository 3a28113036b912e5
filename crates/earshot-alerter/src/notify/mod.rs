//! Notification sinks: a generic JSON webhook, a Slack-compatible incoming
//! webhook and Alertmanager's API v2.
//!
//! Every sink reads the `alerts` topic in its own consumer group, so the
//! topic is the durable spool: detection only ever writes to Kafka and is
//! never blocked by a receiver; a sink that is down falls behind (lag) and
//! catches up, in partition order (so in order per brand), when it recovers.
//! An offset is stored only after the receiver accepted the alert, so a crash
//! re-delivers (receivers deduplicate by the `Idempotency-Key`) and never
//! skips. A receiver that rejects an alert outright (4xx other than 408/429)
//! gets it dead-lettered with the reason instead of blocking the rest.

pub mod alertmanager;
pub mod webhook;

use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use earshot_kafka::{
    BatchProcessor, InputRecord, KafkaArgs, KafkaMetrics, Outcome, PipelineSettings,
};
use earshot_schema::{Alert, Severity};
use earshot_service::{parse_duration, CancellationToken, Health};
use prometheus::{IntCounterVec, IntGaugeVec, Opts, Registry};
use rand::Rng;

pub use alertmanager::AlertmanagerSink;
pub use webhook::{SlackSink, WebhookSink};

/// A secret string (a webhook URL with its token, a bearer token): never
/// shown by `Debug`, so it cannot reach a log line by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Reads a secret from a file (trailing newline trimmed).
    pub fn from_file(path: &std::path::Path) -> Result<Self, NotifyError> {
        let text = std::fs::read_to_string(path).map_err(|source| NotifyError::SecretFile {
            path: path.display().to_string(),
            source,
        })?;
        Ok(Secret(text.trim().to_owned()))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("[redacted]")
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(Secret(text.to_owned()))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("cannot read secret file {path}: {source}")]
    SecretFile {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid {what}: {reason}")]
    Config { what: &'static str, reason: String },
    #[error("http client: {0}")]
    Client(String),
}

/// Why one delivery attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryError {
    /// Worth retrying: connection refused, timeout, 5xx, 408, 429.
    Retryable(String),
    /// The receiver will never accept this alert (other 4xx).
    Rejected(String),
}

/// Classifies an HTTP status the way every sink does.
pub fn classify_status(status: reqwest::StatusCode, body: &str) -> Result<(), DeliveryError> {
    let snippet = earshot_schema::clip_chars(body, 200).to_owned();
    if status.is_success() {
        Ok(())
    } else if status.is_server_error()
        || status == reqwest::StatusCode::REQUEST_TIMEOUT
        || status == reqwest::StatusCode::TOO_MANY_REQUESTS
    {
        Err(DeliveryError::Retryable(format!(
            "HTTP {status}: {snippet}"
        )))
    } else {
        Err(DeliveryError::Rejected(format!("HTTP {status}: {snippet}")))
    }
}

/// Describes a transport error without the URL (it may carry a token).
pub fn transport_error(error: reqwest::Error) -> DeliveryError {
    DeliveryError::Retryable(error.without_url().to_string())
}

/// POSTs a JSON body and classifies the answer.
pub(crate) async fn post_json(
    request: reqwest::RequestBuilder,
    body: Vec<u8>,
) -> Result<(), DeliveryError> {
    let response = request
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .map_err(transport_error)?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    classify_status(status, &text)
}

/// One notification target.
pub trait Sink: Send + Sync + 'static {
    /// A short, fixed name: `webhook`, `slack`, `alertmanager`.
    fn name(&self) -> &'static str;

    /// Delivers one alert state change; `Ok` for alerts the sink filters out.
    fn deliver(&self, alert: &Alert) -> impl Future<Output = Result<(), DeliveryError>> + Send;
}

/// The key a receiver deduplicates on: stable across re-deliveries of the
/// same state change, different for every state change of an incident.
pub fn idempotency_key(alert: &Alert) -> String {
    format!(
        "{}:{}:{}:{}",
        alert.id,
        match alert.status {
            earshot_schema::AlertStatus::Firing => "firing",
            earshot_schema::AlertStatus::Resolved => "resolved",
        },
        alert.severity.as_str(),
        alert.detected_at.timestamp()
    )
}

/// Flags of the notification sinks; each sink is on when its target is set.
#[derive(Debug, Clone, clap::Args)]
pub struct NotifyArgs {
    /// Generic webhook: every alert state change is POSTed as JSON. Secret:
    /// prefer the env variable or --webhook-url-file.
    #[arg(long, env = "EARSHOT_WEBHOOK_URL", hide_env_values = true)]
    pub webhook_url: Option<Secret>,
    /// File holding the webhook URL.
    #[arg(long, env = "EARSHOT_WEBHOOK_URL_FILE", conflicts_with = "webhook_url")]
    pub webhook_url_file: Option<std::path::PathBuf>,
    /// Bearer token sent to the webhook (`Authorization: Bearer ...`).
    #[arg(long, env = "EARSHOT_WEBHOOK_TOKEN", hide_env_values = true)]
    pub webhook_token: Option<Secret>,
    /// File holding the webhook bearer token.
    #[arg(
        long,
        env = "EARSHOT_WEBHOOK_TOKEN_FILE",
        conflicts_with = "webhook_token"
    )]
    pub webhook_token_file: Option<std::path::PathBuf>,
    /// Slack-compatible incoming webhook URL (Slack, Mattermost, Rocket.Chat). Secret.
    #[arg(long, env = "EARSHOT_SLACK_WEBHOOK_URL", hide_env_values = true)]
    pub slack_webhook_url: Option<Secret>,
    /// File holding the Slack webhook URL.
    #[arg(
        long,
        env = "EARSHOT_SLACK_WEBHOOK_URL_FILE",
        conflicts_with = "slack_webhook_url"
    )]
    pub slack_webhook_url_file: Option<std::path::PathBuf>,
    /// Lowest severity posted to Slack: watch, warning or critical.
    #[arg(long, env = "EARSHOT_SLACK_MIN_SEVERITY", default_value = "warning", value_parser = parse_severity)]
    pub slack_min_severity: Severity,
    /// Alertmanager base URL, e.g. http://127.0.0.1:9093 (alerts go to /api/v2/alerts).
    #[arg(long, env = "EARSHOT_ALERTMANAGER_URL")]
    pub alertmanager_url: Option<String>,
    /// How often open incidents are re-sent to Alertmanager (it resolves
    /// alerts that are not refreshed).
    #[arg(long, env = "EARSHOT_ALERTMANAGER_RESEND", default_value = "60s", value_parser = parse_duration)]
    pub alertmanager_resend: Duration,
    /// Timeout of one HTTP delivery attempt.
    #[arg(long, env = "EARSHOT_NOTIFY_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub notify_timeout: Duration,
    /// First retry delay; doubles per attempt, with jitter, up to --notify-max-backoff.
    #[arg(long, env = "EARSHOT_NOTIFY_BACKOFF", default_value = "500ms", value_parser = parse_duration)]
    pub notify_backoff: Duration,
    #[arg(long, env = "EARSHOT_NOTIFY_MAX_BACKOFF", default_value = "60s", value_parser = parse_duration)]
    pub notify_max_backoff: Duration,
}

fn parse_severity(text: &str) -> Result<Severity, String> {
    match text {
        "watch" => Ok(Severity::Watch),
        "warning" => Ok(Severity::Warning),
        "critical" => Ok(Severity::Critical),
        other => Err(format!(
            "unknown severity {other:?} (expected watch, warning or critical)"
        )),
    }
}

fn resolve_secret(
    value: &Option<Secret>,
    file: &Option<std::path::PathBuf>,
) -> Result<Option<Secret>, NotifyError> {
    match (value, file) {
        (Some(secret), _) => Ok(Some(secret.clone())),
        (None, Some(path)) => Secret::from_file(path).map(Some),
        (None, None) => Ok(None),
    }
}

/// Retry schedule of a sink.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Backoff {
    /// Delay before retry number `attempt` (1-based): exponential, capped,
    /// with "equal jitter" (half fixed, half random) so that many alerterss
    /// do not retry in lockstep against a recovering receiver.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exponential = self
            .initial
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
            .min(self.max);
        let half = exponential / 2;
        half + half.mul_f64(rand::thread_rng().gen::<f64>())
    }
}

/// Notification metrics, labelled by sink.
#[derive(Clone)]
pub struct NotifyMetrics {
    deliveries: IntCounterVec,
    pending_retry: IntGaugeVec,
}

impl NotifyMetrics {
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let metrics = NotifyMetrics {
            deliveries: IntCounterVec::new(
                Opts::new(
                    "alerter_notifications_total",
                    "Notification attempts by sink and result (delivered, retry, rejected).",
                ),
                &["sink", "result"],
            )?,
            pending_retry: IntGaugeVec::new(
                Opts::new(
                    "alerter_notification_retrying",
                    "1 while a sink is retrying an alert its receiver did not accept.",
                ),
                &["sink"],
            )?,
        };
        registry.register(Box::new(metrics.deliveries.clone()))?;
        registry.register(Box::new(metrics.pending_retry.clone()))?;
        Ok(metrics)
    }
}

/// Delivers each alert of a batch in order, retrying until the receiver
/// accepts it, rejects it, or the service shuts down.
pub struct DeliveryProcessor<S: Sink> {
    pub sink: Arc<S>,
    pub backoff: Backoff,
    pub metrics: NotifyMetrics,
    pub health: Health,
    pub shutdown: CancellationToken,
}

impl<S: Sink> DeliveryProcessor<S> {
    fn component(&self) -> String {
        format!("sink_{}", self.sink.name())
    }

    async fn deliver_with_retry(&self, alert: &Alert) -> Result<Outcome, String> {
        let name = self.sink.name();
        let mut attempt = 0u32;
        let mut failing_since: Option<Instant> = None;
        loop {
            match self.sink.deliver(alert).await {
                Ok(()) => {
                    self.metrics
                        .deliveries
                        .with_label_values(&[name, "delivered"])
                        .inc();
                    if failing_since.is_some() {
                        tracing::info!(sink = name, alert_id = %alert.id, attempts = attempt + 1, "receiver accepted the alert after retries");
                        self.metrics.pending_retry.with_label_values(&[name]).set(0);
                        self.health.set(&self.component(), true, "delivering");
                    }
                    return Ok(Outcome::Produce(Vec::new()));
                }
                Err(DeliveryError::Rejected(reason)) => {
                    self.metrics
                        .deliveries
                        .with_label_values(&[name, "rejected"])
                        .inc();
                    tracing::error!(sink = name, alert_id = %alert.id, %reason, "receiver rejected the alert; dead-lettered");
                    return Ok(Outcome::DeadLetter {
                        kind: "sink_rejected",
                        reason: format!("{name}: {reason}"),
                    });
                }
                Err(DeliveryError::Retryable(reason)) => {
                    attempt += 1;
                    let since = *failing_since.get_or_insert_with(Instant::now);
                    self.metrics
                        .deliveries
                        .with_label_values(&[name, "retry"])
                        .inc();
                    self.metrics.pending_retry.with_label_values(&[name]).set(1);
                    self.health.set(
                        &self.component(),
                        false,
                        format!(
                            "receiver failing for {}s: {reason}",
                            since.elapsed().as_secs()
                        ),
                    );
                    let delay = self.backoff.delay(attempt);
                    tracing::warn!(sink = name, alert_id = %alert.id, attempt, %reason, retry_in_ms = delay.as_millis() as u64, "delivery failed; will retry");
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = self.shutdown.cancelled() => {
                            // Not acknowledged: the alert stays in the topic
                            // and is delivered after the restart.
                            return Err(format!("{name}: shutting down while retrying {}", alert.id));
                        }
                    }
                }
            }
        }
    }
}

impl<S: Sink> BatchProcessor for DeliveryProcessor<S> {
    async fn process(&mut self, batch: &[InputRecord]) -> Result<Vec<Outcome>, String> {
        let mut outcomes = Vec::with_capacity(batch.len());
        for record in batch {
            let outcome = match Alert::from_json_bytes(&record.payload) {
                Ok(alert) => self.deliver_with_retry(&alert).await?,
                Err(error) => Outcome::DeadLetter {
                    kind: error.kind().as_str(),
                    reason: error.to_string(),
                },
            };
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }
}

/// The sinks a service runs, each with its consumer group.
pub struct Sinks {
    tasks: Vec<(
        &'static str,
        tokio::task::JoinHandle<earshot_kafka::Result<earshot_kafka::PipelineReport>>,
    )>,
}

/// What [`spawn_sinks`] needs from the service.
pub struct SinkContext<'a> {
    pub kafka: &'a KafkaArgs,
    pub pipeline: &'a earshot_kafka::PipelineArgs,
    pub alerts_topic: &'a str,
    /// The alerter's own group; each sink's group is `{group}-notify-{sink}`.
    pub group_id: &'a str,
    pub registry: &'a Registry,
    pub health: &'a Health,
    pub shutdown: &'a CancellationToken,
}

/// Starts one `alerts` consumer per configured sink.
pub fn spawn_sinks(args: &NotifyArgs, context: &SinkContext<'_>) -> anyhow::Result<Sinks> {
    let client = reqwest::Client::builder()
        .timeout(args.notify_timeout)
        .user_agent(concat!("earshot-alerter/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|error| NotifyError::Client(error.to_string()))?;
    let metrics = NotifyMetrics::new(context.registry)?;
    let backoff = Backoff {
        initial: args.notify_backoff,
        max: args.notify_max_backoff.max(args.notify_backoff),
    };
    let mut sinks = Sinks { tasks: Vec::new() };
    if let Some(url) = resolve_secret(&args.webhook_url, &args.webhook_url_file)? {
        let token = resolve_secret(&args.webhook_token, &args.webhook_token_file)?;
        let sink = WebhookSink::new(client.clone(), url, token)?;
        sinks.spawn(sink, backoff, &metrics, context);
    }
    if let Some(url) = resolve_secret(&args.slack_webhook_url, &args.slack_webhook_url_file)? {
        let sink = SlackSink::new(client.clone(), url, args.slack_min_severity)?;
        sinks.spawn(sink, backoff, &metrics, context);
    }
    if let Some(url) = &args.alertmanager_url {
        let sink = Arc::new(AlertmanagerSink::new(
            client,
            url,
            args.alertmanager_resend,
        )?);
        alertmanager::spawn_resend(
            sink.clone(),
            context.kafka.clone(),
            context.alerts_topic.to_owned(),
            context.shutdown.clone(),
        );
        sinks.spawn_shared(sink, backoff, &metrics, context);
    }
    Ok(sinks)
}

impl Sinks {
    fn spawn<S: Sink>(
        &mut self,
        sink: S,
        backoff: Backoff,
        metrics: &NotifyMetrics,
        context: &SinkContext<'_>,
    ) {
        self.spawn_shared(Arc::new(sink), backoff, metrics, context);
    }

    fn spawn_shared<S: Sink>(
        &mut self,
        sink: Arc<S>,
        backoff: Backoff,
        metrics: &NotifyMetrics,
        context: &SinkContext<'_>,
    ) {
        let name = sink.name();
        // --group-id names the detector's group; sinks always get their own.
        let group_id = format!("{}-notify-{name}", context.group_id);
        let settings = PipelineSettings {
            group_id: group_id.clone(),
            ..PipelineSettings::from_args(
                &format!("alerter-{name}"),
                context.pipeline,
                vec![context.alerts_topic.to_owned()],
                &group_id,
            )
        };
        context
            .health
            .set(&format!("sink_{name}"), true, "delivering");
        let processor = DeliveryProcessor {
            sink,
            backoff,
            metrics: metrics.clone(),
            health: context.health.clone(),
            shutdown: context.shutdown.clone(),
        };
        tracing::info!(sink = name, group_id = %settings.group_id, "notification sink started");
        let task = tokio::spawn(earshot_kafka::run_pipeline(
            context.kafka.clone(),
            settings,
            processor,
            KafkaMetrics::unregistered(),
            context.health.clone(),
            context.shutdown.clone(),
        ));
        self.tasks.push((name, task));
    }

    /// Waits for every sink to stop. A sink interrupted while retrying at
    /// shutdown is not an error: its alert is still in the topic.
    pub async fn join(self, shutdown: &CancellationToken) -> anyhow::Result<()> {
        let mut first_error = None;
        for (name, task) in self.tasks {
            match task.await {
                Ok(Ok(report)) => {
                    tracing::info!(
                        sink = name,
                        delivered = report.records_delivered,
                        "notification sink stopped"
                    )
                }
                Ok(Err(error)) if shutdown.is_cancelled() => {
                    tracing::info!(sink = name, %error, "notification sink stopped; undelivered alerts resume after restart")
                }
                Ok(Err(error)) => {
                    first_error.get_or_insert(anyhow::anyhow!("sink {name}: {error}"));
                }
                Err(join_error) => {
                    first_error
                        .get_or_insert(anyhow::anyhow!("sink {name} panicked: {join_error}"));
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_caps() {
        let backoff = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(2),
        };
        for attempt in 1..=10 {
            let full = Duration::from_millis(100)
                .saturating_mul(1 << (attempt - 1))
                .min(Duration::from_secs(2));
            let delay = backoff.delay(attempt);
            assert!(
                delay >= full / 2 && delay <= full,
                "attempt {attempt}: {delay:?}"
            );
        }
        assert!(backoff.delay(1000) <= Duration::from_secs(2));
    }

    #[test]
    fn statuses_split_into_retryable_and_rejected() {
        use reqwest::StatusCode;
        assert_eq!(classify_status(StatusCode::OK, ""), Ok(()));
        assert_eq!(classify_status(StatusCode::ACCEPTED, ""), Ok(()));
        for retryable in [500, 502, 503, 408, 429] {
            let status = StatusCode::from_u16(retryable).expect("status");
            assert!(matches!(
                classify_status(status, "x"),
                Err(DeliveryError::Retryable(_))
            ));
        }
        for rejected in [400, 401, 404, 413] {
            let status = StatusCode::from_u16(rejected).expect("status");
            assert!(matches!(
                classify_status(status, "x"),
                Err(DeliveryError::Rejected(_))
            ));
        }
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let args = <NotifyArgsParser as clap::Parser>::parse_from([
            "test",
            "--webhook-url",
            "https://hooks.example/T000/secret-path",
            "--webhook-token",
            "tok-123",
        ]);
        let printed = format!("{:?}", args.notify);
        assert!(!printed.contains("secret-path"), "{printed}");
        assert!(!printed.contains("tok-123"), "{printed}");
        assert_eq!(
            args.notify.webhook_url.as_ref().map(Secret::expose),
            Some("https://hooks.example/T000/secret-path")
        );
    }

    #[derive(clap::Parser)]
    struct NotifyArgsParser {
        #[command(flatten)]
        notify: NotifyArgs,
    }
}
