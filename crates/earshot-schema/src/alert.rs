use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A crisis alert state change, as the alerter publishes it on `alerts`.
///
/// One incident keeps one `id` from its first `firing` message to its
/// `resolved` message; every message about it is a full snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Stable for the whole incident.
    pub id: String,
    pub brand: String,
    pub kind: AlertKind,
    pub severity: Severity,
    pub status: AlertStatus,
    /// Estimated start of the anomaly, in event time.
    pub onset_at: DateTime<Utc>,
    /// Stream time (the watermark) at which the detector decided.
    pub detected_at: DateTime<Utc>,
    pub metrics: AlertMetrics,
    pub evidence: AlertEvidence,
    /// One line a person can read at a glance.
    pub summary: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    VolumeSpike,
    NegativeSurge,
    ToxicitySurge,
    EmergingTerms,
}

impl AlertKind {
    pub const ALL: [AlertKind; 4] = [
        AlertKind::VolumeSpike,
        AlertKind::NegativeSurge,
        AlertKind::ToxicitySurge,
        AlertKind::EmergingTerms,
    ];

    /// Returns the wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::VolumeSpike => "volume_spike",
            AlertKind::NegativeSurge => "negative_surge",
            AlertKind::ToxicitySurge => "toxicity_surge",
            AlertKind::EmergingTerms => "emerging_terms",
        }
    }
}

/// Ordered: `Watch < Warning < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Informational; never pages.
    Watch,
    Warning,
    Critical,
}

impl Severity {
    /// Returns the wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Watch => "watch",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    Firing,
    Resolved,
}

/// What was observed against what was expected.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertMetrics {
    /// Observed value in the detection window (mentions, negative mentions, ...).
    pub observed: f64,
    /// Expected value from the brand's baseline for the same window.
    pub expected: f64,
    /// Detector statistic (e.g. CUSUM or z-score); larger is more anomalous.
    pub score: f64,
    /// Probability of seeing at least `observed` under the baseline, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub negative_share: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toxicity_share: Option<f64>,
    /// Length of the detection window, in seconds.
    pub window_seconds: u64,
}

/// Why the alert fired, for a person deciding what to do.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertEvidence {
    /// Terms whose rate jumped most against their baseline, highest first (at most 5).
    pub top_terms: Vec<TermEvidence>,
    /// Up to 5 representative mentions.
    pub samples: Vec<SampleMention>,
    /// Mentions in the window by source.
    pub sources: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TermEvidence {
    pub term: String,
    pub observed: f64,
    pub expected: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleMention {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The first characters of the text.
    pub text: String,
    pub source: String,
    pub sentiment_score: f32,
    pub toxicity_score: f32,
}

impl Alert {
    /// Serializes to the JSON wire format.
    pub fn to_json_vec(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Decodes an alert from raw message bytes.
    pub fn from_json_bytes(bytes: &[u8]) -> Result<Self, crate::SchemaError> {
        serde_json::from_slice(bytes).map_err(|error| crate::SchemaError::InvalidJson {
            message: error.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_with_snake_case_enums_and_round_trips() {
        let alert = Alert {
            id: "acme:negative_surge:1767225600".into(),
            brand: "acme".into(),
            kind: AlertKind::NegativeSurge,
            severity: Severity::Critical,
            status: AlertStatus::Firing,
            onset_at: DateTime::from_timestamp(1_767_225_600, 0).expect("time"),
            detected_at: DateTime::from_timestamp(1_767_226_200, 0).expect("time"),
            metrics: AlertMetrics {
                observed: 40.0,
                expected: 6.0,
                score: 9.5,
                negative_share: Some(0.8),
                window_seconds: 900,
                ..Default::default()
            },
            evidence: AlertEvidence::default(),
            summary: "acme: negative mentions 40 vs 6 expected".into(),
        };
        let value: serde_json::Value = serde_json::from_slice(&alert.to_json_vec()).expect("json");
        assert_eq!(value["kind"], "negative_surge");
        assert_eq!(value["severity"], "critical");
        assert_eq!(value["status"], "firing");
        assert!(value["metrics"].get("probability").is_none());
        assert_eq!(
            Alert::from_json_bytes(&alert.to_json_vec()).expect("decode"),
            alert
        );
        assert!(Severity::Watch < Severity::Warning && Severity::Warning < Severity::Critical);
    }
}
