//! Rebuilding a partition's detector after a restart or a rebalance.
//!
//! The detector of a partition is a function of the scored mentions it was
//! fed, in offset order. When the alerter starts consuming a partition at
//! offset `O` (its committed position), it re-reads the recent window of the
//! partition before `O` with alerts suppressed (they were published before
//! `O` was committed), then reconciles open incidents with what the `alerts`
//! topic says was published: a published open incident stays open under its
//! published id and severity (so it is neither lost nor opened twice), a
//! resolved one keeps its cool-down, and an incident the re-read opened but
//! nobody was told about is dropped (it reopens on the next bin if real).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use earshot_kafka::range::{time_range_offsets, PartitionRange, RangeConsumer, RangeEvent};
use earshot_kafka::{KafkaArgs, KafkaPlumbingError};
use earshot_schema::{Alert, AlertStatus, ScoredMention, ValidationLimits};
use earshot_service::CancellationToken;

use crate::config::DetectorConfig;
use crate::detector::{Detector, ReconcileReport};

const METADATA_TIMEOUT: Duration = Duration::from_secs(10);
/// Published alerts are read from this long before the re-read window, so
/// that an incident opened before the window is still known.
const ALERTS_LOOKBACK_MS: i64 = 7 * 24 * 3600 * 1000;

#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error(transparent)]
    Kafka(#[from] KafkaPlumbingError),
    #[error("shutdown during rebuild")]
    Interrupted,
}

/// Calls `each` with every record of `ranges` of `topic`, in offset order
/// per partition, until all are read or `shutdown` fires.
fn read_ranges(
    kafka: &KafkaArgs,
    topic: &str,
    ranges: &[PartitionRange],
    shutdown: &CancellationToken,
    mut each: impl FnMut(&[u8]),
) -> Result<(), RebuildError> {
    let mut consumer = RangeConsumer::new(kafka, topic, ranges)?;
    while !consumer.is_finished() {
        if shutdown.is_cancelled() {
            return Err(RebuildError::Interrupted);
        }
        if let Some(RangeEvent::Record(record)) = consumer.poll(Duration::from_millis(500))? {
            each(&record.payload);
        }
    }
    Ok(())
}

/// Every alert on `topic` produced at or after `since_ms`, in partition
/// order (so in order per brand). A missing topic reads as empty.
pub fn read_alerts(
    kafka: &KafkaArgs,
    topic: &str,
    since_ms: i64,
    shutdown: &CancellationToken,
) -> Result<Vec<Alert>, RebuildError> {
    let ranges = time_range_offsets(kafka, topic, since_ms, None, METADATA_TIMEOUT)?;
    let mut alerts = Vec::new();
    read_ranges(kafka, topic, &ranges, shutdown, |payload| {
        if let Ok(alert) = Alert::from_json_bytes(payload) {
            alerts.push(alert);
        }
    })?;
    Ok(alerts)
}

/// The incidents whose last published state is `firing`.
pub fn open_incidents(alerts: Vec<Alert>) -> Vec<Alert> {
    let mut last: HashMap<String, Alert> = HashMap::new();
    for alert in alerts {
        last.insert(alert.id.clone(), alert);
    }
    last.into_values()
        .filter(|alert| alert.status == AlertStatus::Firing)
        .collect()
}

/// Where a partition's detector is rebuilt from.
#[derive(Debug, Clone)]
pub struct RebuildRequest {
    pub scored_topic: String,
    pub partition: i32,
    /// The first offset the pipeline will process (exclusive end of the re-read).
    pub resume_offset: i64,
    /// Re-read from the first record produced at or after this time.
    pub from_ms: i64,
    pub alerts_topic: String,
}

/// What a rebuild did.
#[derive(Debug, Clone, Default)]
pub struct RebuildReport {
    pub mentions_replayed: u64,
    pub alerts_read: usize,
    pub incidents: ReconcileReport,
    pub elapsed: Duration,
}

/// Re-reads `[from, resume_offset)` of the partition into a fresh detector
/// and reconciles its incidents with the published alerts.
pub fn rebuild_detector(
    kafka: &KafkaArgs,
    config: DetectorConfig,
    request: &RebuildRequest,
    shutdown: &CancellationToken,
) -> Result<(Detector, RebuildReport), RebuildError> {
    let started = Instant::now();
    let mut detector = Detector::new(config);
    let start = time_range_offsets(
        kafka,
        &request.scored_topic,
        request.from_ms,
        None,
        METADATA_TIMEOUT,
    )?
    .into_iter()
    .find(|range| range.partition == request.partition)
    .map_or(request.resume_offset, |range| range.start);
    let range = PartitionRange {
        partition: request.partition,
        start: start.min(request.resume_offset),
        end: request.resume_offset,
    };
    let limits = ValidationLimits::default();
    let mut replayed = 0u64;
    read_ranges(
        kafka,
        &request.scored_topic,
        &[range],
        shutdown,
        |payload| {
            // Invalid records were dead-lettered the first time; skip them again.
            if let Ok(scored) = ScoredMention::from_json_bytes(payload, &limits) {
                let _already_published = detector.ingest(&scored);
                replayed += 1;
            }
        },
    )?;
    let alerts = read_alerts(
        kafka,
        &request.alerts_topic,
        request.from_ms.saturating_sub(ALERTS_LOOKBACK_MS),
        shutdown,
    )?;
    let alerts_read = alerts.len();
    let incidents = detector.reconcile(&alerts);
    Ok((
        detector,
        RebuildReport {
            mentions_replayed: replayed,
            alerts_read,
            incidents,
            elapsed: started.elapsed(),
        },
    ))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::TimeZone;
    use earshot_schema::{AlertEvidence, AlertKind, AlertMetrics, Severity};

    pub(crate) fn sample_alert(brand: &str, status: AlertStatus) -> Alert {
        let onset = chrono::Utc
            .with_ymd_and_hms(2026, 11, 2, 8, 0, 0)
            .single()
            .unwrap_or_default();
        Alert {
            id: format!("{brand}:negative_surge:{}", onset.timestamp()),
            brand: brand.into(),
            kind: AlertKind::NegativeSurge,
            severity: Severity::Warning,
            status,
            onset_at: onset,
            detected_at: onset + chrono::Duration::minutes(7),
            metrics: AlertMetrics::default(),
            evidence: AlertEvidence::default(),
            summary: format!("{brand} warning: 40 negative mentions"),
        }
    }

    #[test]
    fn open_incidents_are_those_last_seen_firing() {
        let acme_firing = sample_alert("acme", AlertStatus::Firing);
        let acme_resolved = sample_alert("acme", AlertStatus::Resolved);
        let globex = sample_alert("globex", AlertStatus::Firing);
        let open = open_incidents(vec![acme_firing.clone(), globex.clone(), acme_resolved]);
        assert_eq!(open, vec![globex.clone()]);
        let open = open_incidents(vec![acme_firing.clone()]);
        assert_eq!(open, vec![acme_firing]);
    }
}
