//! The detectors on labeled synthetic streams: each event shape, late data,
//! escalation, resolve, low volume, cold start and false alarms.

use chrono::{DateTime, Duration, TimeZone, Utc};
use earshot_alerter::synth::{generate, EventShape, SynthBrand, SynthEvent};
use earshot_alerter::{Detector, DetectorConfig};
use earshot_schema::{Alert, AlertKind, AlertStatus, Severity};

const DAY: i64 = 24 * 60;

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0)
        .single()
        .expect("time")
}

fn brand(name: &str, per_hour: f64) -> SynthBrand {
    SynthBrand {
        name: name.into(),
        mentions_per_hour: per_hour,
        negative_share: 0.25,
        toxic_share: 0.02,
        thread_share: 0.0,
        repost_share: 0.0,
    }
}

fn event(brand: &str, start_minute: i64, duration: i64, shape: EventShape) -> SynthEvent {
    SynthEvent {
        brand: brand.into(),
        start_minute,
        duration_minutes: duration,
        shape,
        term: "#refundnow".into(),
    }
}

fn run(brands: &[SynthBrand], events: &[SynthEvent], minutes: i64, seed: u64) -> Vec<Alert> {
    run_with(DetectorConfig::default(), brands, events, minutes, seed)
}

fn run_with(
    config: DetectorConfig,
    brands: &[SynthBrand],
    events: &[SynthEvent],
    minutes: i64,
    seed: u64,
) -> Vec<Alert> {
    let mut detector = Detector::new(config);
    let mut alerts = Vec::new();
    for mention in generate(brands, events, start(), minutes, seed) {
        alerts.extend(detector.ingest(&mention));
    }
    alerts.extend(detector.flush());
    alerts
}

/// The alerts of a stream, unflushed, and the detector that made them (for
/// its counts).
fn run_unflushed(
    brands: &[SynthBrand],
    events: &[SynthEvent],
    minutes: i64,
    seed: u64,
) -> (Detector, Vec<Alert>) {
    let mut detector = Detector::new(DetectorConfig::default());
    let mut alerts = Vec::new();
    for mention in generate(brands, events, start(), minutes, seed) {
        alerts.extend(detector.ingest(&mention));
    }
    (detector, alerts)
}

fn paging(alerts: &[Alert]) -> Vec<&Alert> {
    alerts
        .iter()
        .filter(|alert| alert.status == AlertStatus::Firing && alert.severity >= Severity::Warning)
        .collect()
}

fn first_page(alerts: &[Alert], kind: AlertKind) -> Option<&Alert> {
    paging(alerts).into_iter().find(|alert| alert.kind == kind)
}

/// The term an alert's evidence leads with.
fn leading_term(alert: &Alert) -> Option<&str> {
    alert
        .evidence
        .top_terms
        .first()
        .map(|term| term.term.as_str())
}

#[test]
fn a_sudden_negative_crisis_pages_within_minutes_escalates_and_resolves() {
    let onset = 2 * DAY + 18 * 60;
    let brands = [brand("acme", 120.0)];
    let events = [event(
        "acme",
        onset,
        60,
        EventShape::SuddenCrisis {
            multiplier: 4.0,
            negative_share: 0.8,
        },
    )];
    let alerts = run(&brands, &events, onset + 3 * 60, 7);
    let page = first_page(&alerts, AlertKind::NegativeSurge).expect("negative surge pages");
    let onset_time = start() + Duration::minutes(onset);
    let delay = page.detected_at - onset_time;
    assert!(
        delay <= Duration::minutes(10),
        "detected {delay} after onset"
    );
    assert!(
        (page.onset_at - onset_time).num_minutes().abs() <= 5,
        "onset estimate {}",
        page.onset_at
    );
    assert!(alerts.iter().any(
        |alert| alert.kind == AlertKind::NegativeSurge && alert.severity == Severity::Critical
    ));
    let incident_id = &page.id;
    assert!(
        alerts
            .iter()
            .filter(|alert| &alert.id == incident_id)
            .all(|alert| alert.kind == AlertKind::NegativeSurge),
        "one id per incident"
    );
    let resolved = alerts
        .iter()
        .find(|alert| &alert.id == incident_id && alert.status == AlertStatus::Resolved);
    assert!(
        resolved.is_some_and(|alert| alert.detected_at > onset_time + Duration::minutes(60)),
        "resolves after the crisis"
    );
    // Evidence explains: the crisis hashtag, samples and sources.
    assert!(
        page.evidence
            .top_terms
            .iter()
            .any(|term| term.term == "#refundnow"),
        "{:?}",
        page.evidence.top_terms
    );
    assert!(!page.evidence.samples.is_empty() && page.evidence.samples.len() <= 5);
    assert!(page.evidence.sources.contains_key("twitter"));
    assert!(page.summary.contains("acme"));
    // No page before the crisis.
    assert!(
        paging(&alerts)
            .iter()
            .all(|alert| alert.detected_at >= onset_time),
        "false page before onset"
    );
}

#[test]
fn a_sentiment_collapse_without_a_volume_spike_pages() {
    let onset = 2 * DAY + 12 * 60;
    let brands = [brand("acme", 90.0)];
    let events = [event(
        "acme",
        onset,
        90,
        EventShape::SentimentCollapse {
            negative_share: 0.75,
        },
    )];
    let alerts = run(&brands, &events, onset + 120, 11);
    let page = first_page(&alerts, AlertKind::NegativeSurge).expect("negative surge pages");
    let delay = page.detected_at - (start() + Duration::minutes(onset));
    assert!(delay <= Duration::minutes(15), "{delay}");
    assert!(
        first_page(&alerts, AlertKind::VolumeSpike).is_none(),
        "no volume page"
    );
}

#[test]
fn a_toxic_brigade_pages_as_toxicity() {
    let onset = 2 * DAY + 20 * 60;
    let brands = [brand("acme", 100.0)];
    let events = [event(
        "acme",
        onset,
        45,
        EventShape::ToxicBrigade {
            extra_per_hour: 120.0,
        },
    )];
    let alerts = run(&brands, &events, onset + 90, 13);
    let page = first_page(&alerts, AlertKind::ToxicitySurge).expect("toxicity surge pages");
    assert!(page.detected_at - (start() + Duration::minutes(onset)) <= Duration::minutes(10));
    assert!(page.metrics.toxicity_share.is_some_and(|share| share > 0.2));
}

#[test]
fn a_brigade_on_a_big_brand_pages_though_the_toxic_share_moves_little() {
    // 60 toxic mentions an hour on 1,500: the toxic share goes from 2% to
    // under 6%, short of the 7.5-point lift, but nearly three times its usual.
    let onset = 2 * DAY + 14 * 60;
    let brands = [brand("bigco", 1_500.0)];
    let events = [event(
        "bigco",
        onset,
        60,
        EventShape::ToxicBrigade {
            extra_per_hour: 60.0,
        },
    )];
    let alerts = run(&brands, &events, onset + 90, 23);
    let page = first_page(&alerts, AlertKind::ToxicitySurge).expect("toxicity surge pages");
    let onset_time = start() + Duration::minutes(onset);
    assert!(page.detected_at >= onset_time, "paged before the brigade");
    assert!(
        page.detected_at - onset_time <= Duration::minutes(30),
        "{}",
        page.detected_at - onset_time
    );
    assert!(page
        .metrics
        .toxicity_share
        .is_some_and(|share| share < 0.095));
}

#[test]
fn a_brigade_that_barely_moves_a_huge_brands_toxic_share_still_pages() {
    // 60 toxic mentions an hour on 4,000: the toxic share goes from 2% to
    // about 3.5%, under every share gate; 60 extra toxic posts an hour are
    // a moderation load all the same.
    let onset = 2 * DAY + 15 * 60;
    let brands = [brand("hugeco", 4_000.0)];
    let events = [event(
        "hugeco",
        onset,
        60,
        EventShape::ToxicBrigade {
            extra_per_hour: 60.0,
        },
    )];
    let onset_time = start() + Duration::minutes(onset);
    // Short windows (`count_windows`) may also catch it on the share's
    // wobble (4.6% over 5 minutes, say); windows of 30 and 60 minutes
    // average the wobble out, so there it is the excess alone that pages.
    let long_windows_only = DetectorConfig {
        count_windows: vec![30, 60],
        ..DetectorConfig::default()
    };
    for config in [DetectorConfig::default(), long_windows_only] {
        let windows = config.count_windows.clone();
        let alerts = run_with(config, &brands, &events, onset + 90, 29);
        assert!(
            paging(&alerts)
                .iter()
                .all(|alert| alert.detected_at >= onset_time),
            "paged before the brigade"
        );
        let page = first_page(&alerts, AlertKind::ToxicitySurge).expect("toxicity surge pages");
        assert!(
            page.detected_at - onset_time <= Duration::minutes(60),
            "{}",
            page.detected_at - onset_time
        );
        if windows == [30, 60] {
            assert!(
                page.metrics
                    .toxicity_share
                    .is_some_and(|share| share < 0.04),
                "{}",
                page.summary
            );
        }
    }
}

#[test]
fn a_crisis_right_after_a_resolved_watch_pages_at_once_as_a_new_incident() {
    let bump = 2 * DAY + 13 * 60;
    let crisis = bump + 40;
    let brands = [brand("acme", 240.0)];
    let events = [
        // A bump with no subject of its own: with a shared hashtag it would
        // page, corroborated (see the test below).
        SynthEvent {
            term: String::new(),
            ..event(
                "acme",
                bump,
                12,
                EventShape::SentimentCollapse {
                    negative_share: 0.38,
                },
            )
        },
        event(
            "acme",
            crisis,
            60,
            EventShape::SuddenCrisis {
                multiplier: 4.0,
                negative_share: 0.8,
            },
        ),
    ];
    let alerts = run(&brands, &events, crisis + 90, 31);
    let crisis_time = start() + Duration::minutes(crisis);
    let resolved_watch = alerts
        .iter()
        .rev()
        .find(|alert| {
            alert.kind == AlertKind::NegativeSurge
                && alert.status == AlertStatus::Resolved
                && alert.detected_at < crisis_time
        })
        .unwrap_or_else(|| {
            panic!(
                "the bump should open and resolve a watch: {:?}",
                alerts
                    .iter()
                    .map(|alert| &alert.summary)
                    .collect::<Vec<_>>()
            )
        });
    assert_eq!(resolved_watch.severity, Severity::Watch);
    // Within the 30-minute cool-down of that watch, the crisis still pages at once ...
    assert!(
        crisis_time - resolved_watch.detected_at < Duration::minutes(30),
        "{:?}",
        alerts
            .iter()
            .map(|alert| (alert.detected_at, &alert.summary))
            .collect::<Vec<_>>()
    );
    let page = first_page(&alerts, AlertKind::NegativeSurge).expect("the crisis pages");
    assert!(page.detected_at >= crisis_time);
    assert!(
        page.detected_at - crisis_time <= Duration::minutes(8),
        "{}",
        page.detected_at - crisis_time
    );
    // ... as a new incident that starts after the watch ended.
    assert_ne!(page.id, resolved_watch.id);
    assert!(page.onset_at >= resolved_watch.detected_at);
}

#[test]
fn a_positive_viral_spike_is_at_most_watch() {
    let onset = 2 * DAY + 15 * 60;
    let brands = [brand("acme", 100.0)];
    let events = [event(
        "acme",
        onset,
        60,
        EventShape::ViralPositive { multiplier: 6.0 },
    )];
    let alerts = run(&brands, &events, onset + 120, 17);
    assert!(
        paging(&alerts).is_empty(),
        "viral launch paged: {:?}",
        paging(&alerts).first().map(|alert| &alert.summary)
    );
    assert!(
        alerts
            .iter()
            .any(|alert| alert.kind == AlertKind::VolumeSpike && alert.severity == Severity::Watch),
        "the spike is still visible as watch"
    );
}

#[test]
fn an_ingestion_gap_followed_by_a_backlog_is_not_a_crisis() {
    let onset = 2 * DAY + 16 * 60;
    // A second brand keeps the stream (and the watermark) moving during acme's gap.
    let brands = [brand("acme", 150.0), brand("steady", 120.0)];
    let events = [event("acme", onset, 40, EventShape::IngestionGap)];
    let (detector, alerts) = run_unflushed(&brands, &events, onset + 120, 19);
    assert!(
        paging(&alerts).is_empty(),
        "backlog paged: {:?}",
        paging(&alerts).first().map(|alert| &alert.summary)
    );
    assert!(
        detector.stats.late > 0,
        "the backlog was recognised as late"
    );
}

/// A busy brand's ingestion gap whose backlog comes too late to count: its
/// empty bins say nothing of the hour. Learned as a quiet hour, they cut
/// the hour's seasonal factor by two thirds within the gap, and the
/// window's own mentions from before the gap then read as a spike against
/// it (seed 11 of the benchmark streams: a volume watch mid-gap).
#[test]
fn an_ingestion_gap_does_not_teach_the_baseline_a_quiet_hour() {
    let onset = 2 * DAY + 13 * 60 + 30;
    let brands = [brand("acme", 2000.0), brand("steady", 120.0)];
    let events = [event("acme", onset, 60, EventShape::IngestionGap)];
    let (detector, alerts) = run_unflushed(&brands, &events, onset + 180, 23);
    assert!(detector.stats.late > 1000, "the backlog came too late");
    let onset_at = start() + Duration::minutes(onset);
    let volume: Vec<&str> = alerts
        .iter()
        .filter(|alert| {
            alert.brand == "acme"
                && alert.kind == AlertKind::VolumeSpike
                && alert.detected_at >= onset_at
        })
        .map(|alert| alert.summary.as_str())
        .collect();
    assert!(volume.is_empty(), "the gap read as a spike: {volume:?}");
}

#[test]
fn low_volume_brands_need_real_evidence() {
    let onset = 3 * DAY + 14 * 60;
    let brands = [brand("tiny", 3.0)];
    // Doubling of a tiny volume with a negative turn: 6 mentions, not a crisis.
    let events = [event(
        "tiny",
        onset,
        60,
        EventShape::SuddenCrisis {
            multiplier: 2.0,
            negative_share: 0.6,
        },
    )];
    let alerts = run(&brands, &events, onset + 120, 23);
    assert!(
        paging(&alerts).is_empty(),
        "tiny brand paged: {:?}",
        paging(&alerts).first().map(|alert| &alert.summary)
    );
    // A real pile-on on a tiny brand does page.
    let events = [event(
        "tiny",
        onset,
        60,
        EventShape::SuddenCrisis {
            multiplier: 15.0,
            negative_share: 0.9,
        },
    )];
    let alerts = run(&brands, &events, onset + 120, 23);
    assert!(
        first_page(&alerts, AlertKind::NegativeSurge).is_some(),
        "pile-on on a tiny brand missed: {:?}",
        alerts
            .iter()
            .map(|alert| &alert.summary)
            .collect::<Vec<_>>()
    );
}

#[test]
fn a_cold_start_brand_gets_watch_but_no_page() {
    let brands = [brand("newbie", 60.0)];
    let events = [event(
        "newbie",
        120,
        60,
        EventShape::SuddenCrisis {
            multiplier: 5.0,
            negative_share: 0.85,
        },
    )];
    let alerts = run(&brands, &events, 240, 29);
    assert!(paging(&alerts).is_empty(), "cold-start brand paged");
    assert!(
        alerts.iter().any(|alert| alert.severity == Severity::Watch),
        "but watch tells someone"
    );
}

#[test]
fn emerging_terms_explain_a_slow_burn() {
    let onset = 2 * DAY + 10 * 60;
    let brands = [brand("acme", 120.0)];
    let events = [event(
        "acme",
        onset,
        120,
        EventShape::SlowBurn {
            multiplier: 3.0,
            negative_share: 0.7,
        },
    )];
    let alerts = run(&brands, &events, onset + 150, 31);
    let page = first_page(&alerts, AlertKind::NegativeSurge).expect("slow burn pages");
    let delay = page.detected_at - (start() + Duration::minutes(onset));
    // Measured: 63 minutes with the balanced preset. At 60 minutes this burn
    // is at 2x volume and 47% negative; the 60-minute recall goal of issue 5
    // is not met for this shape yet.
    assert!(
        delay <= Duration::minutes(70),
        "slow burn detected after {delay}"
    );
    let onset_time = start() + Duration::minutes(onset);
    assert!(
        paging(&alerts)
            .iter()
            .all(|alert| alert.detected_at >= onset_time),
        "false page before the burn"
    );
    // The page explains itself: the crisis hashtag leads its emerging terms.
    assert_eq!(
        leading_term(page),
        Some("#refundnow"),
        "{:?}",
        page.evidence.top_terms
    );
}

/// A brand of 3,000 mentions an hour has its terms read from 1 in 8 of
/// them (`term_sample_per_hour`): its crisis hashtag is still heard, and
/// the evidence counts what the sample stands for.
#[test]
fn a_busy_brands_crisis_term_is_heard_in_its_term_sample() {
    let onset = 2 * DAY + 14 * 60;
    let brands = [brand("mega", 3000.0)];
    let events = [event(
        "mega",
        onset,
        60,
        EventShape::SuddenCrisis {
            multiplier: 2.0,
            negative_share: 0.6,
        },
    )];
    let onset_time = start() + Duration::minutes(onset);
    let read_all = DetectorConfig {
        term_sample_per_hour: 0.0,
        ..DetectorConfig::default()
    };
    let mut delays = Vec::new();
    for config in [DetectorConfig::default(), read_all] {
        let sampled = config.term_sample_per_hour > 0.0;
        let alerts = run_with(config, &brands, &events, onset + 90, 41);
        let page = first_page(&alerts, AlertKind::NegativeSurge).expect("the crisis pages");
        delays.push((page.detected_at - onset_time).num_minutes());
        let named = alerts
            .iter()
            .filter(|alert| alert.detected_at >= onset_time)
            .flat_map(|alert| &alert.evidence.top_terms)
            .find(|term| term.term == "#refundnow")
            .expect("the hashtag is in the evidence");
        if sampled {
            // Each mention read stands for 8.
            assert_eq!(named.observed % 8.0, 0.0, "{named:?}");
            let heard = alerts
                .iter()
                .find(|alert| {
                    alert.kind == AlertKind::EmergingTerms
                        && leading_term(alert) == Some("#refundnow")
                })
                .expect("the hashtag emerges");
            assert!(
                heard.summary.contains("(terms read in 1 of 8 mentions)"),
                "{}",
                heard.summary
            );
        }
        assert!(
            paging(&alerts)
                .iter()
                .all(|alert| alert.detected_at >= onset_time),
            "false page before the crisis"
        );
    }
    // Volume and negative counts read every mention: the page is as soon.
    assert!(delays[0] <= delays[1] + 1, "delays {delays:?}");
}

#[test]
fn an_emerging_term_is_heard_then_resolves_and_the_next_one_is_heard_too() {
    // Every word is new in the first minutes: the brand's first
    // emerging-terms incident opens then, and must resolve once its terms
    // are usual, or the crises' terms after it would go unheard.
    let brands = [brand("acme", 120.0)];
    let first = 2 * DAY + 9 * 60;
    let second = 3 * DAY + 15 * 60;
    let viral = |start_minute, term: &str| SynthEvent {
        term: term.into(),
        ..event(
            "acme",
            start_minute,
            40,
            EventShape::ViralPositive { multiplier: 3.0 },
        )
    };
    let events = [viral(first, "#newlaunch"), viral(second, "#recall")];
    let alerts = run(&brands, &events, second + 3 * 60, 43);
    let emerging: Vec<&Alert> = alerts
        .iter()
        .filter(|alert| alert.kind == AlertKind::EmergingTerms)
        .collect();
    for (onset, term) in [(first, "#newlaunch"), (second, "#recall")] {
        let onset = start() + Duration::minutes(onset);
        let heard = emerging
            .iter()
            .find(|alert| {
                alert.status == AlertStatus::Firing
                    && alert.detected_at >= onset
                    && leading_term(alert) == Some(term)
            })
            .unwrap_or_else(|| panic!("{term} unheard: {:?}", summaries(&emerging)));
        assert!(
            heard.detected_at - onset <= Duration::minutes(15),
            "{}",
            heard.summary
        );
        assert_eq!(heard.severity, Severity::Watch);
        // Its incident resolves once the burst has left the longest term
        // window (60 minutes after its end) and 15 calm bins have passed.
        let resolved = emerging
            .iter()
            .find(|alert| alert.id == heard.id && alert.status == AlertStatus::Resolved)
            .unwrap_or_else(|| panic!("{term} never resolved: {:?}", summaries(&emerging)));
        assert!(
            resolved.detected_at <= onset + Duration::minutes(40 + 60 + 30),
            "{}",
            resolved.summary
        );
        assert!(
            resolved.summary.contains("no term above its usual rate in"),
            "{}",
            resolved.summary
        );
    }
}

fn summaries<'a>(alerts: &[&'a Alert]) -> Vec<(String, &'a str)> {
    alerts
        .iter()
        .map(|alert| (alert.detected_at.to_rfc3339(), alert.summary.as_str()))
        .collect()
}

#[test]
fn a_calm_week_across_brands_of_all_sizes_pages_nobody() {
    let brands = [
        brand("big", 600.0),
        brand("mid", 120.0),
        brand("small", 20.0),
        brand("tiny", 2.0),
    ];
    let alerts = run(&brands, &[], 7 * DAY, 37);
    let pages = paging(&alerts);
    assert!(
        pages.len() <= 1,
        "{} false pages in a calm week: {:?}",
        pages.len(),
        pages.iter().map(|alert| &alert.summary).collect::<Vec<_>>()
    );
}

/// Replies and quotes carry their thread's mood: here 30% of each brand's
/// mentions take the labels of its previous one, so the shares are the
/// same on average but swing much further from window to window, in runs.
/// The detector learns that spread and reads each count as a sum over
/// threads of geometric length: 8 pages in these 24 brand-weeks (4 toxic
/// runs on the big brand, 3 negative ones on the small), 19 when the
/// counts were read as that many fewer independent mentions (the same
/// variance, a lighter tail), and 21 in the first week alone when the
/// spread was not learned at all.
#[test]
fn calm_weeks_of_threaded_conversations_page_under_half_a_time_per_brand_week() {
    let brands = [
        brand("big", 600.0),
        brand("mid", 120.0),
        brand("small", 20.0),
        brand("tiny", 2.0),
    ]
    .map(|brand| SynthBrand {
        thread_share: 0.3,
        ..brand
    });
    let mut summaries = Vec::new();
    for seed in 37..43 {
        let alerts = run(&brands, &[], 7 * DAY, seed);
        summaries.extend(paging(&alerts).iter().map(|alert| alert.summary.clone()));
    }
    let brand_weeks = 6 * brands.len();
    assert!(
        summaries.len() * 2 <= brand_weeks,
        "{} false pages in {brand_weeks} calm threaded brand-weeks: {summaries:?}",
        summaries.len(),
    );
}

#[test]
fn late_mentions_within_the_allowed_lateness_are_counted_in_their_bin() {
    let brands = [brand("acme", 60.0)];
    let mut stream = generate(&brands, &[], start(), 30, 41);
    // Swap close neighbours: a little out of order, within the 2-minute lateness.
    for index in (1..stream.len()).step_by(7) {
        let apart = stream[index].mention.created_at - stream[index - 1].mention.created_at;
        if apart < Duration::seconds(60) {
            stream.swap(index - 1, index);
        }
    }
    let mut detector = Detector::new(DetectorConfig::default());
    for mention in &stream {
        detector.ingest(mention);
    }
    assert_eq!(
        detector.stats.late,
        0,
        "{} mentions, watermark {:?}",
        stream.len(),
        detector.watermark()
    );
    assert_eq!(detector.stats.mentions as usize, stream.len());
}

#[test]
fn the_same_stream_gives_the_same_alerts_in_the_same_order() {
    // Brands live in a map with a random seed per detector; many brands
    // alerting at the same minutes (cold start, then injected events)
    // would come out in that map's order. (60 brands: 30 had one tie,
    // which the learned spreads took away.)
    let (brands, events) = earshot_alerter::synth_scenario(60, 5.0..=400.0, 2 * DAY, 5);
    let first = run(&brands, &events, 2 * DAY, 5);
    let second = run(&brands, &events, 2 * DAY, 5);
    let minutes_with_several_brands = first
        .windows(2)
        .filter(|pair| pair[0].detected_at == pair[1].detected_at && pair[0].brand != pair[1].brand)
        .count();
    assert!(minutes_with_several_brands > 0, "the check needs ties");
    let as_json = |alerts: &[Alert]| -> Vec<String> {
        alerts
            .iter()
            .map(|alert| String::from_utf8_lossy(&alert.to_json_vec()).into_owned())
            .collect()
    };
    assert_eq!(as_json(&first), as_json(&second));
}

#[test]
fn a_negative_turn_backed_by_an_emerging_term_pages_sooner() {
    let onset = 2 * DAY + 12 * 60;
    let onset_time = start() + Duration::minutes(onset);
    let brands = [brand("acme", 60.0)];
    // The generator draws the same mentions with or without a term (an
    // empty one adds nothing to a text): only the hashtag differs.
    let collapse = |term: &str| {
        [SynthEvent {
            term: term.into(),
            ..event(
                "acme",
                onset,
                90,
                EventShape::SentimentCollapse {
                    negative_share: 0.5,
                },
            )
        }]
    };
    let delay_of = |alerts: &[Alert]| {
        paging(alerts)
            .first()
            .map(|page| (page.detected_at - onset_time).num_minutes())
    };
    let uncorroborated = {
        let mut config = DetectorConfig::default();
        config.default_thresholds.corroborated_z = config.default_thresholds.warning_z;
        config
    };
    // Measured: 9, 11 and 8 minutes with the hashtag; 60, 41 and 33 without.
    for seed in [3, 4, 7] {
        let tagged = run(&brands, &collapse("#refundnow"), onset + 120, seed);
        let untagged = run(&brands, &collapse(""), onset + 120, seed);
        let page = first_page(&tagged, AlertKind::NegativeSurge).expect("tagged collapse pages");
        assert_eq!(paging(&tagged)[0].id, page.id, "seed {seed}");
        let delay = page.detected_at - onset_time;
        assert!(
            delay >= Duration::zero() && delay <= Duration::minutes(15),
            "seed {seed}: {delay}"
        );
        // It pages on the two signals together, not on the surge alone.
        assert!(
            page.metrics.score < DetectorConfig::default().default_thresholds.warning_z,
            "seed {seed}: {}",
            page.summary
        );
        assert_eq!(page.severity, Severity::Warning);
        assert!(
            page.summary.contains("with \"#refundnow\""),
            "seed {seed}: {}",
            page.summary
        );
        assert_eq!(leading_term(page), Some("#refundnow"), "seed {seed}");
        let untagged_delay = delay_of(&untagged);
        assert!(
            untagged_delay.is_none_or(|minutes| minutes >= delay.num_minutes() + 15),
            "seed {seed}: without the term, paged after {untagged_delay:?} min"
        );
        // Without corroboration the hashtag changes no page.
        let tagged_alone = run_with(
            uncorroborated.clone(),
            &brands,
            &collapse("#refundnow"),
            onset + 120,
            seed,
        );
        assert_eq!(delay_of(&tagged_alone), untagged_delay, "seed {seed}");
    }
}

/// Thirty posts of one hashtag in ten minutes on a brand of 60 an hour:
/// thirty people saying it is news, one post reposted thirty times is
/// one text's words (its copies still count as mentions).
#[test]
fn a_hashtag_emerges_from_distinct_posts_not_from_copies_of_one() {
    let onset = 2 * DAY + 10 * 60;
    let onset_time = start() + Duration::minutes(onset);
    let calm = generate(&[brand("acme", 60.0)], &[], start(), onset + 90, 29);
    let template = calm
        .iter()
        .find(|mention| mention.sentiment.label != earshot_schema::SentimentLabel::Negative)
        .expect("a calm mention")
        .clone();
    let with_burst = |text_of: &dyn Fn(i64) -> String| {
        let mut stream = calm.clone();
        for index in 0..30 {
            let mut post = template.clone();
            post.mention.id = format!("burst-{index}");
            post.mention.text = text_of(index);
            post.mention.created_at = onset_time + Duration::seconds(20 * index);
            stream.push(post);
        }
        stream.sort_by_key(|mention| mention.mention.created_at);
        let mut detector = Detector::new(DetectorConfig::default());
        let mut alerts = Vec::new();
        for mention in &stream {
            alerts.extend(detector.ingest(mention));
        }
        alerts.extend(detector.flush());
        (alerts, detector.stats.text_copies)
    };
    let heard = |alerts: &[Alert]| {
        alerts.iter().any(|alert| {
            alert.kind == AlertKind::EmergingTerms
                && alert.status == AlertStatus::Firing
                && alert.detected_at >= onset_time
                && leading_term(alert) == Some("#deadpixels")
        })
    };
    let (distinct, distinct_copies) =
        with_burst(&|index| format!("screen number{index} arrived with #deadpixels"));
    assert!(
        heard(&distinct),
        "{:?}",
        summaries(&distinct.iter().collect::<Vec<_>>())
    );
    assert_eq!(distinct_copies, 0);
    let (reposted, reposted_copies) = with_burst(&|index| match index % 2 {
        0 => "my screen arrived with #deadpixels".into(),
        _ => "RT @dana: my screen arrived with #deadpixels".into(),
    });
    assert!(
        !heard(&reposted),
        "{:?}",
        summaries(&reposted.iter().collect::<Vec<_>>())
    );
    assert_eq!(reposted_copies, 29);
}
