//! Alertmanager API v2 (`POST /api/v2/alerts`), so that its routing,
//! grouping, inhibition, silences and on-call integrations apply to crises.
//!
//! Alertmanager identifies an alert by its labels and resolves one that is
//! not refreshed before its `endsAt`. So the sink keeps the open incidents it
//! posted, re-sends them every `resend` interval with a fresh `endsAt`, ends
//! the old label set when an incident changes severity (severity is a label,
//! used by the routes), and on start reloads open incidents from the recent
//! `alerts` topic so that a restart does not let them lapse.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use earshot_kafka::KafkaArgs;
use earshot_schema::{Alert, AlertStatus};
use earshot_service::CancellationToken;
use serde::Serialize;

use super::{post_json, DeliveryError, NotifyError, Sink};

/// How far back the sink looks for incidents still open when it starts.
const RELOAD_WINDOW: chrono::Duration = chrono::Duration::days(7);

/// One alert in Alertmanager's v2 wire format.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PostableAlert {
    pub labels: std::collections::BTreeMap<String, String>,
    pub annotations: std::collections::BTreeMap<String, String>,
    #[serde(rename = "startsAt")]
    pub starts_at: String,
    #[serde(rename = "endsAt")]
    pub ends_at: String,
}

/// Labels and annotations of an earshot alert; `alertname` is
/// `EarshotCrisis`, as deploy/alertmanager/alertmanager.yml routes it.
pub fn postable(alert: &Alert, now: DateTime<Utc>, ends_at: DateTime<Utc>) -> PostableAlert {
    let labels = [
        ("alertname", "EarshotCrisis".to_owned()),
        ("brand", alert.brand.clone()),
        ("kind", alert.kind.as_str().to_owned()),
        ("severity", alert.severity.as_str().to_owned()),
        ("incident", alert.id.clone()),
        ("service", "earshot-alerter".to_owned()),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value))
    .collect();
    let mut annotations: std::collections::BTreeMap<String, String> = [
        ("summary", alert.summary.clone()),
        (
            "onset_at",
            earshot_schema::format_timestamp(&alert.onset_at),
        ),
        (
            "detected_at",
            earshot_schema::format_timestamp(&alert.detected_at),
        ),
        (
            "observed_vs_expected",
            format!(
                "{} vs {:.1}",
                alert.metrics.observed, alert.metrics.expected
            ),
        ),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value))
    .collect();
    if !alert.evidence.top_terms.is_empty() {
        let terms: Vec<&str> = alert
            .evidence
            .top_terms
            .iter()
            .map(|term| term.term.as_str())
            .collect();
        annotations.insert("top_terms".into(), terms.join(", "));
    }
    let urls: Vec<&str> = alert
        .evidence
        .samples
        .iter()
        .filter_map(|sample| sample.url.as_deref())
        .collect();
    if !urls.is_empty() {
        annotations.insert("sample_urls".into(), urls.join(" "));
    }
    // Event time may run ahead of the wall clock in replays; Alertmanager
    // wants startsAt <= endsAt.
    let starts_at = alert.onset_at.min(now);
    PostableAlert {
        labels,
        annotations,
        starts_at: starts_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        ends_at: ends_at
            .max(starts_at)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    }
}

/// Posts alert state changes to Alertmanager and keeps open ones alive.
pub struct AlertmanagerSink {
    client: reqwest::Client,
    endpoint: reqwest::Url,
    resend: Duration,
    /// Open incidents by id, as last posted.
    open: Mutex<HashMap<String, Alert>>,
}

impl AlertmanagerSink {
    pub fn new(
        client: reqwest::Client,
        base_url: &str,
        resend: Duration,
    ) -> Result<Self, NotifyError> {
        let base = reqwest::Url::parse(base_url).map_err(|error| NotifyError::Config {
            what: "Alertmanager URL",
            reason: error.to_string(),
        })?;
        let endpoint = base
            .join("api/v2/alerts")
            .map_err(|error| NotifyError::Config {
                what: "Alertmanager URL",
                reason: error.to_string(),
            })?;
        Ok(AlertmanagerSink {
            client,
            endpoint,
            resend: resend.max(Duration::from_secs(1)),
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A firing alert stays active this long without a refresh: a few
    /// missed re-sends are tolerated, a dead alerter's alerts lapse.
    fn lifetime(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.resend * 4)
            .unwrap_or(chrono::Duration::minutes(4))
            .max(chrono::Duration::minutes(5))
    }

    async fn post(&self, alerts: &[PostableAlert]) -> Result<(), DeliveryError> {
        if alerts.is_empty() {
            return Ok(());
        }
        let body = serde_json::to_vec(alerts).unwrap_or_default();
        post_json(self.client.post(self.endpoint.clone()), body).await
    }

    /// Re-posts every open incident with a fresh `endsAt`.
    pub async fn resend_open(&self) -> Result<usize, DeliveryError> {
        let now = Utc::now();
        let ends_at = now + self.lifetime();
        let alerts: Vec<PostableAlert> = match self.open.lock() {
            Ok(open) => open
                .values()
                .map(|alert| postable(alert, now, ends_at))
                .collect(),
            Err(_) => Vec::new(),
        };
        self.post(&alerts).await?;
        Ok(alerts.len())
    }

    /// Number of open incidents the sink keeps alive.
    pub fn open_incidents(&self) -> usize {
        self.open.lock().map_or(0, |open| open.len())
    }

    fn adopt_open(&self, alerts: Vec<Alert>) {
        if let Ok(mut open) = self.open.lock() {
            for alert in alerts {
                open.entry(alert.id.clone()).or_insert(alert);
            }
        }
    }
}

impl Sink for AlertmanagerSink {
    fn name(&self) -> &'static str {
        "alertmanager"
    }

    async fn deliver(&self, alert: &Alert) -> Result<(), DeliveryError> {
        let now = Utc::now();
        let previous = self
            .open
            .lock()
            .ok()
            .and_then(|open| open.get(&alert.id).cloned());
        let mut batch = Vec::with_capacity(2);
        // A severity change is a new label set: end the old one.
        if let Some(previous) = &previous {
            if previous.severity != alert.severity {
                batch.push(postable(previous, now, now));
            }
        }
        match alert.status {
            AlertStatus::Firing => batch.push(postable(alert, now, now + self.lifetime())),
            AlertStatus::Resolved => batch.push(postable(alert, now, now)),
        }
        self.post(&batch).await?;
        if let Ok(mut open) = self.open.lock() {
            match alert.status {
                AlertStatus::Firing => open.insert(alert.id.clone(), alert.clone()),
                AlertStatus::Resolved => open.remove(&alert.id),
            };
        }
        Ok(())
    }
}

/// Reloads open incidents from the recent `alerts` topic, then re-sends the
/// open ones every `resend` interval until shutdown.
pub fn spawn_resend(
    sink: Arc<AlertmanagerSink>,
    kafka: KafkaArgs,
    alerts_topic: String,
    shutdown: CancellationToken,
) {
    tokio::spawn(async move {
        let since = Utc::now() - RELOAD_WINDOW;
        let reload_shutdown = shutdown.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            crate::rebuild::read_alerts(
                &kafka,
                &alerts_topic,
                since.timestamp_millis(),
                &reload_shutdown,
            )
        })
        .await;
        match loaded {
            Ok(Ok(alerts)) => {
                let open = crate::rebuild::open_incidents(alerts);
                tracing::info!(
                    open = open.len(),
                    "alertmanager sink reloaded open incidents from the alerts topic"
                );
                sink.adopt_open(open);
            }
            Ok(Err(error)) => {
                tracing::warn!(%error, "alertmanager sink could not reload open incidents")
            }
            Err(error) => tracing::warn!(%error, "alertmanager reload task failed"),
        }
        let mut interval = tokio::time::interval(sink.resend);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = interval.tick() => {}
                () = shutdown.cancelled() => return,
            }
            match sink.resend_open().await {
                Ok(count) if count > 0 => {
                    tracing::debug!(count, "re-sent open incidents to alertmanager")
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(error = ?error, "re-sending open incidents to alertmanager failed; next try at the next interval")
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_never_after_ends_and_labels_route_by_severity() {
        let alert = crate::rebuild::tests::sample_alert("acme", AlertStatus::Firing);
        let now = alert.onset_at - chrono::Duration::hours(1);
        let posted = postable(&alert, now, now);
        assert_eq!(posted.starts_at, posted.ends_at);
        assert_eq!(posted.labels["alertname"], "EarshotCrisis");
        assert_eq!(posted.labels["severity"], "warning");
        assert_eq!(posted.labels["incident"], alert.id);
        assert!(posted.annotations["summary"].contains("acme"));
    }
}
