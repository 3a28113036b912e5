//! Property tests of the detector state: whatever the order, lateness,
//! duplication or time jumps of the input, the detector never panics and its
//! incidents stay well-formed.

use std::collections::HashMap;

use chrono::{Duration, TimeZone, Utc};
use earshot_alerter::synth::{generate, EventShape, SynthBrand, SynthEvent};
use earshot_alerter::{Detector, DetectorConfig};
use earshot_schema::{AlertKind, AlertStatus, ScoredMention};
use proptest::prelude::*;

fn stream(seed: u64, shape: u8) -> Vec<ScoredMention> {
    let brands: Vec<SynthBrand> = [("acme", 120.0), ("globex", 20.0), ("tiny", 3.0)]
        .iter()
        .map(|(name, per_hour)| SynthBrand {
            name: (*name).into(),
            mentions_per_hour: *per_hour,
            negative_share: 0.25,
            toxic_share: 0.02,
            thread_share: 0.0,
            repost_share: 0.0,
        })
        .collect();
    let shape = match shape % 4 {
        0 => EventShape::SuddenCrisis {
            multiplier: 5.0,
            negative_share: 0.85,
        },
        1 => EventShape::SentimentCollapse {
            negative_share: 0.8,
        },
        2 => EventShape::ToxicBrigade {
            extra_per_hour: 200.0,
        },
        _ => EventShape::ViralPositive { multiplier: 6.0 },
    };
    let events = [SynthEvent {
        brand: "acme".into(),
        start_minute: 7 * 60,
        duration_minutes: 90,
        shape,
        term: "#boycott".into(),
    }];
    let start = Utc
        .with_ymd_and_hms(2026, 11, 2, 0, 0, 0)
        .single()
        .expect("time");
    generate(&brands, &events, start, 10 * 60, seed)
}

/// How a stream is disturbed before the detector sees it.
#[derive(Debug, Clone)]
enum Disturbance {
    /// Reverse a window of records (out of order within it).
    Reverse { at: usize, length: usize },
    /// Move a record's event time back by hours (late data).
    Late { at: usize, hours: i64 },
    /// Move a record's event time far ahead (a clock that is wrong).
    Future { at: usize, days: i64 },
    /// Deliver a record twice (at-least-once upstream).
    Duplicate { at: usize },
    /// Drop a stretch (an ingestion gap).
    Gap { at: usize, length: usize },
}

fn disturbance() -> impl Strategy<Value = Disturbance> {
    prop_oneof![
        (0usize..10_000, 1usize..300).prop_map(|(at, length)| Disturbance::Reverse { at, length }),
        (0usize..10_000, 1i64..72).prop_map(|(at, hours)| Disturbance::Late { at, hours }),
        (0usize..10_000, 1i64..4000).prop_map(|(at, days)| Disturbance::Future { at, days }),
        (0usize..10_000).prop_map(|at| Disturbance::Duplicate { at }),
        (0usize..10_000, 1usize..2000).prop_map(|(at, length)| Disturbance::Gap { at, length }),
    ]
}

fn disturb(mut records: Vec<ScoredMention>, disturbances: &[Disturbance]) -> Vec<ScoredMention> {
    for disturbance in disturbances {
        if records.is_empty() {
            break;
        }
        let len = records.len();
        match *disturbance {
            Disturbance::Reverse { at, length } => {
                let start = at % len;
                let end = (start + length).min(len);
                records[start..end].reverse();
            }
            Disturbance::Late { at, hours } => {
                records[at % len].mention.created_at -= Duration::hours(hours);
            }
            Disturbance::Future { at, days } => {
                records[at % len].mention.created_at += Duration::days(days);
            }
            Disturbance::Duplicate { at } => {
                let copy = records[at % len].clone();
                records.insert(at % len, copy);
            }
            Disturbance::Gap { at, length } => {
                let start = at % len;
                let end = (start + length).min(len);
                records.drain(start..end);
            }
        }
    }
    records
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn incidents_stay_well_formed_under_any_disorder(
        seed in 0u64..1_000,
        shape in 0u8..4,
        disturbances in proptest::collection::vec(disturbance(), 0..12),
    ) {
        let records = disturb(stream(seed, shape), &disturbances);
        let mut detector = Detector::new(DetectorConfig::default());
        // (brand, kind) -> the open incident's id.
        let mut open: HashMap<(String, AlertKind), String> = HashMap::new();
        // Per brand: one watermark advance closes several bins, brand by brand.
        let mut last_detected: HashMap<String, chrono::DateTime<Utc>> = HashMap::new();
        for record in &records {
            for alert in detector.ingest(record) {
                prop_assert!(alert.onset_at <= alert.detected_at, "{alert:?}");
                if let Some(previous) = last_detected.get(&alert.brand) {
                    prop_assert!(alert.detected_at >= *previous, "stream time went back for {}", alert.brand);
                }
                last_detected.insert(alert.brand.clone(), alert.detected_at);
                prop_assert!(!alert.summary.is_empty());
                prop_assert!(alert.evidence.samples.len() <= 5);
                let key = (alert.brand.clone(), alert.kind);
                match alert.status {
                    AlertStatus::Firing => {
                        if let Some(current) = open.get(&key) {
                            prop_assert_eq!(current, &alert.id, "two open incidents for one brand and kind");
                        }
                        open.insert(key, alert.id.clone());
                    }
                    AlertStatus::Resolved => {
                        let was_open = open.remove(&key);
                        prop_assert_eq!(was_open.as_ref(), Some(&alert.id), "resolved an incident that was not open");
                    }
                }
            }
        }
    }
}

#[test]
fn one_wrong_clock_does_not_move_stream_time_but_a_backlog_does() {
    let records = stream(7, 0);
    let mut detector = Detector::new(DetectorConfig::default());
    for record in &records[..1_500] {
        detector.ingest(record);
    }
    let before = detector.watermark().expect("watermark");
    let mut wrong_clock = records[1_500].clone();
    wrong_clock.mention.created_at += Duration::days(3_000);
    detector.ingest(&wrong_clock);
    detector.ingest(&records[1_501]);
    let after_outlier = detector.watermark().expect("watermark");
    assert!(
        after_outlier - before < Duration::hours(1),
        "one outlier moved stream time"
    );
    // After an ingestion gap of a day, the backlog confirms the new time.
    for record in &records[1_502..1_510] {
        let mut later = record.clone();
        later.mention.created_at += Duration::days(1);
        detector.ingest(&later);
    }
    let after_gap = detector.watermark().expect("watermark");
    assert!(
        after_gap - before > Duration::hours(20),
        "a confirmed jump moves stream time"
    );
}
