//! JSON webhooks: the generic one (the `Alert` itself) and Slack's
//! incoming-webhook message format.

use earshot_schema::{Alert, AlertStatus, Severity};

use super::{idempotency_key, post_json, DeliveryError, NotifyError, Secret, Sink};

fn checked_url(url: &Secret, what: &'static str) -> Result<reqwest::Url, NotifyError> {
    let parsed = reqwest::Url::parse(url.expose()).map_err(|error| NotifyError::Config {
        what,
        // The parse error names no part of the URL.
        reason: error.to_string(),
    })?;
    match parsed.scheme() {
        "http" | "https" => Ok(parsed),
        other => Err(NotifyError::Config {
            what,
            reason: format!("scheme {other:?} is not http or https"),
        }),
    }
}

/// POSTs every alert state change as the `Alert` JSON, with an
/// `Idempotency-Key` header and an optional bearer token.
pub struct WebhookSink {
    client: reqwest::Client,
    url: reqwest::Url,
    token: Option<Secret>,
}

impl WebhookSink {
    pub fn new(
        client: reqwest::Client,
        url: Secret,
        token: Option<Secret>,
    ) -> Result<Self, NotifyError> {
        Ok(WebhookSink {
            client,
            url: checked_url(&url, "webhook URL")?,
            token,
        })
    }
}

impl Sink for WebhookSink {
    fn name(&self) -> &'static str {
        "webhook"
    }

    async fn deliver(&self, alert: &Alert) -> Result<(), DeliveryError> {
        let mut request = self
            .client
            .post(self.url.clone())
            .header("Idempotency-Key", idempotency_key(alert));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token.expose());
        }
        post_json(request, alert.to_json_vec()).await
    }
}

/// Posts alerts at or above a severity as Slack messages (`text` plus
/// mrkdwn blocks), which Slack, Mattermost and Rocket.Chat accept, and the
/// later updates and resolve of every incident it posted about (in this
/// process's lifetime), so that a channel never keeps a crisis open.
pub struct SlackSink {
    client: reqwest::Client,
    url: reqwest::Url,
    min_severity: Severity,
    posted_incidents: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl SlackSink {
    pub fn new(
        client: reqwest::Client,
        url: Secret,
        min_severity: Severity,
    ) -> Result<Self, NotifyError> {
        Ok(SlackSink {
            client,
            url: checked_url(&url, "Slack webhook URL")?,
            min_severity,
            posted_incidents: std::sync::Mutex::default(),
        })
    }
}

/// Slack's text escaping: `&`, `<` and `>` are control characters.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The Slack message for an alert.
pub fn slack_message(alert: &Alert) -> serde_json::Value {
    let marker = match (alert.status, alert.severity) {
        (AlertStatus::Resolved, _) => ":white_check_mark:",
        (_, Severity::Critical) => ":rotating_light:",
        (_, Severity::Warning) => ":warning:",
        (_, Severity::Watch) => ":eyes:",
    };
    let status = match alert.status {
        AlertStatus::Firing => "firing",
        AlertStatus::Resolved => "resolved",
    };
    let headline = format!(
        "{marker} *{}* {} {} ({status})",
        slack_escape(&alert.brand),
        alert.kind.as_str(),
        alert.severity.as_str(),
    );
    let mut details = vec![
        slack_escape(&alert.summary),
        format!(
            "onset {} · detected {}",
            earshot_schema::format_timestamp(&alert.onset_at),
            earshot_schema::format_timestamp(&alert.detected_at)
        ),
    ];
    if !alert.evidence.top_terms.is_empty() {
        let terms: Vec<String> = alert
            .evidence
            .top_terms
            .iter()
            .map(|term| {
                format!(
                    "`{}` ({:.0} vs {:.1})",
                    slack_escape(&term.term),
                    term.observed,
                    term.expected
                )
            })
            .collect();
        details.push(format!("terms: {}", terms.join(", ")));
    }
    for sample in alert.evidence.samples.iter().take(3) {
        let text = slack_escape(&sample.text.chars().take(140).collect::<String>());
        details.push(match &sample.url {
            Some(url) => format!("> <{url}|{}> {text}", slack_escape(&sample.source)),
            None => format!("> {} {text}", slack_escape(&sample.source)),
        });
    }
    serde_json::json!({
        "text": format!("{headline}\n{}", slack_escape(&alert.summary)),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": headline}},
            {"type": "section", "text": {"type": "mrkdwn", "text": details.join("\n")}},
        ],
    })
}

impl Sink for SlackSink {
    fn name(&self) -> &'static str {
        "slack"
    }

    async fn deliver(&self, alert: &Alert) -> Result<(), DeliveryError> {
        let already_posted = self
            .posted_incidents
            .lock()
            .is_ok_and(|posted| posted.contains(&alert.id));
        if alert.severity < self.min_severity && !already_posted {
            return Ok(());
        }
        let body = serde_json::to_vec(&slack_message(alert)).unwrap_or_default();
        post_json(self.client.post(self.url.clone()), body).await?;
        if let Ok(mut posted) = self.posted_incidents.lock() {
            match alert.status {
                AlertStatus::Firing => posted.insert(alert.id.clone()),
                AlertStatus::Resolved => posted.remove(&alert.id),
            };
        }
        Ok(())
    }
}
