//! Per-brand, event-time crisis detection.
//!
//! Mentions fall into fixed event-time bins (`created_at`, not arrival). A bin
//! closes when the stream watermark (the largest `created_at` seen, minus the
//! allowed lateness) passes its end; mentions for closed bins are late and
//! only counted. Each closed bin is scored against the brand's seasonal
//! baseline over short and long windows, then folded into the baseline
//! (winsorised, so a crisis does not teach the baseline that crises are
//! normal). An ingestion gap followed by a backlog therefore lands in the
//! bins where the mentions belong, and does not look like a spike.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Datelike, Timelike, Utc};
use earshot_schema::{
    Alert, AlertEvidence, AlertKind, AlertMetrics, AlertStatus, SampleMention, ScoredMention,
    SentimentLabel, Severity, TermEvidence,
};

use crate::config::{DetectorConfig, Thresholds};
use crate::terms::terms_of;

/// Most terms a brand's baseline tracks; the rarest are forgotten first.
const MAX_TERMS_PER_BRAND: usize = 400;
/// Samples kept per bin for evidence (an alert shows the top 5 of its window).
const SAMPLES_PER_BIN: usize = 2;
/// EWMA weight of a new bin in the baseline level, shares and term rates
/// (a time constant of about 3 hours of bins).
const LEVEL_ALPHA: f64 = 0.005;
/// How many recent mentions the negative and toxic shares remember.
const SHARE_MEMORY_MENTIONS: f64 = 500.0;
/// While a detector reads anomalous, its part of the baseline learns this
/// much slower, so that a crisis does not become the norm within the hour
/// but a lasting shift is learned eventually.
const ANOMALY_SLOWDOWN: f64 = 0.1;
/// EWMA weight of a new bin in the seasonal factors.
const SEASONAL_ALPHA: f64 = 0.05;

/// One event-time bin of a brand. Counts are inline; the details (sources,
/// terms, samples) are boxed and absent for an empty bin, because most bins
/// of most brands are empty (a brand with a few mentions an hour) and a
/// brand keeps its last 60 bins: this keeps 100k brands in bounded memory.
#[derive(Debug, Clone, Default)]
struct Bin {
    start: i64,
    total: u32,
    negative: u32,
    toxic: u32,
    positive: u32,
    detail: Option<Box<BinDetail>>,
}

/// Term and source names are interned per brand ([`Interner`]): a term
/// seen in 60 bins is stored once, not 60 times.
#[derive(Debug, Clone, Default)]
struct BinDetail {
    sources: BTreeMap<Arc<str>, u32>,
    terms: HashMap<Arc<str>, u32>,
    /// (how alarming, sample) — the most negative or toxic mentions.
    samples: Vec<(f32, SampleMention, bool, bool)>,
}

impl Bin {
    fn empty(start: i64) -> Self {
        Bin {
            start,
            ..Bin::default()
        }
    }

    fn terms(&self) -> impl Iterator<Item = (&Arc<str>, &u32)> {
        self.detail.iter().flat_map(|detail| detail.terms.iter())
    }

    fn sources(&self) -> impl Iterator<Item = (&Arc<str>, &u32)> {
        self.detail.iter().flat_map(|detail| detail.sources.iter())
    }

    fn samples(&self) -> impl Iterator<Item = &(f32, SampleMention, bool, bool)> {
        self.detail.iter().flat_map(|detail| detail.samples.iter())
    }

    /// Frees what a closed bin no longer grows into.
    fn shrink(&mut self) {
        if let Some(detail) = &mut self.detail {
            detail.terms.shrink_to_fit();
            detail.samples.shrink_to_fit();
        }
    }

    fn add(&mut self, scored: &ScoredMention, terms: Vec<String>, interner: &mut Interner) {
        self.total += 1;
        let negative = scored.sentiment.label == SentimentLabel::Negative;
        let toxic = scored.toxicity.is_toxic();
        self.negative += u32::from(negative);
        self.toxic += u32::from(toxic);
        self.positive += u32::from(scored.sentiment.label == SentimentLabel::Positive);
        let detail = self.detail.get_or_insert_with(Box::default);
        *detail
            .sources
            .entry(interner.intern(&scored.mention.source))
            .or_default() += 1;
        for term in terms {
            *detail.terms.entry(interner.intern(&term)).or_default() += 1;
        }
        let alarm = -scored.sentiment.score + 2.0 * scored.toxicity.score;
        if detail.samples.len() < SAMPLES_PER_BIN
            || detail.samples.iter().any(|(score, ..)| *score < alarm)
        {
            let sample = SampleMention {
                id: scored.mention.id.clone(),
                url: scored.mention.url.clone(),
                text: scored.mention.text.chars().take(200).collect(),
                source: scored.mention.source.clone(),
                sentiment_score: scored.sentiment.score,
                toxicity_score: scored.toxicity.score,
            };
            detail.samples.push((alarm, sample, negative, toxic));
            detail
                .samples
                .sort_by(|left, right| right.0.total_cmp(&left.0));
            detail.samples.truncate(SAMPLES_PER_BIN);
        }
    }
}

/// A brand's distinct term and source names, shared by its bins and baseline.
#[derive(Debug, Clone, Default)]
struct Interner {
    names: HashSet<Arc<str>>,
}

impl Interner {
    fn intern(&mut self, name: &str) -> Arc<str> {
        if let Some(known) = self.names.get(name) {
            return known.clone();
        }
        let name: Arc<str> = Arc::from(name);
        self.names.insert(name.clone());
        name
    }

    /// Forgets names nothing else holds any more (evicted terms, old bins).
    fn prune(&mut self, limit: usize) {
        if self.names.len() > limit {
            self.names.retain(|name| Arc::strong_count(name) > 1);
        }
    }
}

/// What the brand usually looks like.
#[derive(Debug, Clone)]
struct Baseline {
    /// Mentions per bin, deseasonalised.
    level: f64,
    hour_of_day: [f64; 24],
    day_of_week: [f64; 7],
    /// Shares weighted by mentions (not bins), so that a brand with three
    /// mentions an hour remembers as many mentions as a big one.
    negative_share: f64,
    toxic_share: f64,
    mentions_observed: f64,
    /// Per-term mentions per bin and the bin it was last decayed at.
    terms: HashMap<Arc<str>, (f64, i64)>,
    bins_observed: u64,
}

impl Baseline {
    fn new() -> Self {
        Baseline {
            level: 0.0,
            hour_of_day: [1.0; 24],
            day_of_week: [1.0; 7],
            negative_share: 0.3,
            toxic_share: 0.05,
            mentions_observed: 0.0,
            terms: HashMap::new(),
            bins_observed: 0,
        }
    }

    fn negative_share(&self) -> f64 {
        self.negative_share
    }

    fn toxic_share(&self) -> f64 {
        self.toxic_share
    }

    fn seasonal_factor(&self, start: i64) -> f64 {
        let time = DateTime::from_timestamp(start, 0).unwrap_or_default();
        self.hour_of_day[time.hour() as usize]
            * self.day_of_week[time.weekday().num_days_from_monday() as usize]
    }

    fn expected(&self, start: i64) -> f64 {
        self.level * self.seasonal_factor(start)
    }

    fn term_rate(&self, term: &str, bin_index: i64) -> f64 {
        match self.terms.get(term) {
            Some((rate, updated)) => {
                rate * (1.0 - LEVEL_ALPHA).powi((bin_index - updated).clamp(0, 100_000) as i32)
            }
            None => 0.0,
        }
    }

    /// Folds a closed bin in; counts above the expected range are clipped.
    fn learn(&mut self, bin: &Bin, bin_index: i64, dispersion: f64, anomalous: &Anomalies) {
        let expected = self.expected(bin.start);
        let ceiling = expected + 3.0 * (expected + expected * expected / dispersion).sqrt() + 1.0;
        let count = f64::from(bin.total).min(if self.bins_observed < 60 {
            f64::INFINITY
        } else {
            ceiling
        });
        // Fast start: a plain running mean for the first hour.
        let alpha = if self.bins_observed < 60 {
            1.0 / (self.bins_observed as f64 + 1.0)
        } else {
            LEVEL_ALPHA
        };
        // During the fast start there is no baseline to be anomalous against.
        let warming_up = self.bins_observed < 60;
        let slowed = |flag: bool| {
            if flag && !warming_up {
                alpha * ANOMALY_SLOWDOWN
            } else {
                alpha
            }
        };
        let factor = self.seasonal_factor(bin.start).max(0.05);
        self.level += slowed(anomalous.volume) * (count / factor - self.level);
        if self.level > 0.0 && self.bins_observed >= 60 {
            let time = DateTime::from_timestamp(bin.start, 0).unwrap_or_default();
            let ratio = (count / self.level.max(1e-6)).clamp(0.1, 10.0);
            let hour_slot = time.hour() as usize;
            let day_slot = time.weekday().num_days_from_monday() as usize;
            let hour = self.hour_of_day[hour_slot];
            let day = self.day_of_week[day_slot];
            self.hour_of_day[hour_slot] =
                (hour + SEASONAL_ALPHA * (ratio / day - hour)).clamp(0.1, 10.0);
            // The weekday factor learns 24 times slower: it sees 24 times fewer distinct slots.
            self.day_of_week[day_slot] =
                (day + SEASONAL_ALPHA / 24.0 * (ratio / hour - day)).clamp(0.2, 5.0);
        }
        if bin.total > 0 {
            let total = f64::from(bin.total);
            // A running mean over the first mentions, then a memory of about
            // SHARE_MEMORY_MENTIONS mentions (at most LEVEL_ALPHA per bin).
            let running_mean = self.mentions_observed < SHARE_MEMORY_MENTIONS;
            let weight = if running_mean {
                total / (self.mentions_observed + total)
            } else {
                (total / SHARE_MEMORY_MENTIONS).min(LEVEL_ALPHA)
            };
            self.mentions_observed += total;
            // Not while the running mean forms: an estimate that is still off
            // would call every mention anomalous and never correct itself.
            let slow_share = |flag: bool| {
                if flag && !running_mean {
                    weight * ANOMALY_SLOWDOWN
                } else {
                    weight
                }
            };
            let negative_weight = slow_share(anomalous.negative);
            let toxic_weight = slow_share(anomalous.toxic);
            self.negative_share +=
                negative_weight * (f64::from(bin.negative) / total - self.negative_share);
            self.toxic_share += toxic_weight * (f64::from(bin.toxic) / total - self.toxic_share);
        }
        for (term, count) in bin.terms() {
            let rate = self.term_rate(term, bin_index);
            let term_alpha = slowed(anomalous.terms.iter().any(|hot| hot.as_str() == &**term));
            // Deseasonalised like the level: evening chatter is not an emerging term.
            let deseasonalised = f64::from(*count) / factor;
            self.terms.insert(
                term.clone(),
                (rate + term_alpha * (deseasonalised - rate), bin_index),
            );
        }
        if self.terms.len() > MAX_TERMS_PER_BRAND {
            let mut rates: Vec<(f64, Arc<str>)> = self
                .terms
                .keys()
                .map(|term| (self.term_rate(term, bin_index), term.clone()))
                .collect();
            rates.sort_by(|left, right| left.0.total_cmp(&right.0));
            for (_, term) in rates
                .into_iter()
                .take(self.terms.len() - MAX_TERMS_PER_BRAND * 3 / 4)
            {
                self.terms.remove(&term);
            }
        }
        self.bins_observed += 1;
    }
}

/// Which parts of the baseline read anomalous at a bin close.
#[derive(Debug, Clone, Default)]
struct Anomalies {
    volume: bool,
    negative: bool,
    toxic: bool,
    terms: Vec<String>,
}

#[derive(Debug, Clone)]
struct Incident {
    id: String,
    severity: Severity,
    onset_at: i64,
    calm_bins: u32,
    lower_bins: u32,
}

/// One detector's reading on a window.
#[derive(Debug, Clone)]
struct Reading {
    kind: AlertKind,
    z: f64,
    severity: Option<Severity>,
    observed: f64,
    expected: f64,
    window_bins: usize,
    top_term: Option<String>,
}

struct BrandState {
    open_bins: BTreeMap<i64, Bin>,
    closed: VecDeque<Bin>,
    baseline: Baseline,
    last_closed: Option<i64>,
    incidents: HashMap<AlertKind, Incident>,
    cooldown_until: HashMap<AlertKind, i64>,
    interner: Interner,
}

impl BrandState {
    fn new() -> Self {
        BrandState {
            open_bins: BTreeMap::new(),
            closed: VecDeque::new(),
            baseline: Baseline::new(),
            last_closed: None,
            incidents: HashMap::new(),
            cooldown_until: HashMap::new(),
            interner: Interner::default(),
        }
    }
}

/// Counts of what the detector saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DetectorStats {
    pub mentions: u64,
    pub late: u64,
    /// Mentions far ahead of stream time that no other mention confirmed
    /// (a wrong clock), left out of detection.
    pub future_outliers: u64,
    pub bins_closed: u64,
}

/// How [`Detector::reconcile`] changed the open incidents.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Open in both the rebuilt state and the published alerts, identical.
    pub kept: usize,
    /// Published open; taken over (id, severity) from the alerts.
    pub adopted: usize,
    /// Open in the rebuilt state, resolved in the published alerts.
    pub closed: usize,
    /// Open in the rebuilt state, never published.
    pub dropped: usize,
}

/// The per-brand detector over a whole stream.
pub struct Detector {
    config: DetectorConfig,
    brands: HashMap<String, BrandState>,
    watermark: Option<i64>,
    max_event_time: Option<i64>,
    /// Mentions more than `MAX_EVENT_TIME_JUMP` ahead of the newest event
    /// time, held until enough of them agree that time really moved on.
    future_suspects: Vec<ScoredMention>,
    pub stats: DetectorStats,
}

/// A mention this far ahead of the newest event time moves stream time only
/// once `FUTURE_CONFIRMATIONS` mentions within `FUTURE_AGREEMENT` of each
/// other say so: one collector with a wrong clock must not close every
/// brand's bins, while a real ingestion gap is confirmed by its backlog.
const MAX_EVENT_TIME_JUMP: i64 = 6 * 3600;
const FUTURE_CONFIRMATIONS: usize = 3;
const FUTURE_AGREEMENT: i64 = 3600;
const MAX_FUTURE_SUSPECTS: usize = 1000;

impl Detector {
    pub fn new(config: DetectorConfig) -> Self {
        Detector {
            config,
            brands: HashMap::new(),
            watermark: None,
            max_event_time: None,
            future_suspects: Vec::new(),
            stats: DetectorStats::default(),
        }
    }

    /// Number of brands with state.
    pub fn brands_tracked(&self) -> usize {
        self.brands.len()
    }

    /// Open incidents across brands.
    pub fn open_incidents(&self) -> usize {
        self.brands
            .values()
            .map(|state| state.incidents.len())
            .sum()
    }

    /// The current watermark (event time up to which bins are closed).
    pub fn watermark(&self) -> Option<DateTime<Utc>> {
        self.watermark
            .and_then(|seconds| DateTime::from_timestamp(seconds, 0))
    }

    /// Adds a mention; returns the alert state changes this caused (bins that
    /// the advancing watermark closed).
    pub fn ingest(&mut self, scored: &ScoredMention) -> Vec<Alert> {
        self.stats.mentions += 1;
        let event_time = scored.mention.created_at.timestamp();
        if self
            .max_event_time
            .is_some_and(|max| event_time > max + MAX_EVENT_TIME_JUMP)
        {
            return self.hold_future_suspect(scored, event_time);
        }
        self.ingest_in_time(scored, event_time)
    }

    /// Holds a mention far ahead of stream time; once enough held mentions
    /// agree on a time, they are ingested in event-time order and stream
    /// time moves on.
    fn hold_future_suspect(&mut self, scored: &ScoredMention, event_time: i64) -> Vec<Alert> {
        self.future_suspects.push(scored.clone());
        let agreeing: Vec<usize> = (0..self.future_suspects.len())
            .filter(|index| {
                let time = self.future_suspects[*index].mention.created_at.timestamp();
                (time - event_time).abs() <= FUTURE_AGREEMENT
            })
            .collect();
        if agreeing.len() >= FUTURE_CONFIRMATIONS {
            let mut confirmed: Vec<ScoredMention> = Vec::with_capacity(agreeing.len());
            for index in agreeing.into_iter().rev() {
                confirmed.push(self.future_suspects.swap_remove(index));
            }
            confirmed.sort_by_key(|mention| mention.mention.created_at);
            let mut alerts = Vec::new();
            for mention in &confirmed {
                let time = mention.mention.created_at.timestamp();
                alerts.extend(self.ingest_in_time(mention, time));
            }
            // Held mentions now within reach of stream time join too.
            let max = self.max_event_time.unwrap_or(event_time);
            let (now_in_time, still_ahead): (Vec<ScoredMention>, Vec<ScoredMention>) =
                std::mem::take(&mut self.future_suspects)
                    .into_iter()
                    .partition(|held| {
                        held.mention.created_at.timestamp() <= max + MAX_EVENT_TIME_JUMP
                    });
            self.future_suspects = still_ahead;
            for mention in &now_in_time {
                let time = mention.mention.created_at.timestamp();
                alerts.extend(self.ingest_in_time(mention, time));
            }
            return alerts;
        }
        if self.future_suspects.len() > MAX_FUTURE_SUSPECTS {
            self.future_suspects.remove(0);
            self.stats.future_outliers += 1;
        }
        Vec::new()
    }

    fn ingest_in_time(&mut self, scored: &ScoredMention, event_time: i64) -> Vec<Alert> {
        let bin_start = event_time - event_time.rem_euclid(self.config.bin_seconds);
        let is_late = self
            .watermark
            .is_some_and(|watermark| bin_start + self.config.bin_seconds <= watermark);
        if is_late {
            self.stats.late += 1;
        } else {
            let terms = terms_of(&scored.mention.text, &scored.mention.brand);
            let state = self
                .brands
                .entry(scored.mention.brand.clone())
                .or_insert_with(BrandState::new);
            state
                .open_bins
                .entry(bin_start)
                .or_insert_with(|| Bin::empty(bin_start))
                .add(scored, terms, &mut state.interner);
        }
        let new_max = self
            .max_event_time
            .map_or(event_time, |max| max.max(event_time));
        self.max_event_time = Some(new_max);
        let candidate = new_max - self.config.allowed_lateness_seconds;
        let candidate = candidate - candidate.rem_euclid(self.config.bin_seconds);
        if self.watermark.is_none_or(|watermark| candidate > watermark) {
            return self.advance_watermark(candidate);
        }
        Vec::new()
    }

    /// Closes every bin that ends at or before `watermark` for every brand.
    pub fn advance_watermark(&mut self, watermark: i64) -> Vec<Alert> {
        self.watermark = Some(watermark);
        let mut alerts = Vec::new();
        let config = &self.config;
        let bins_closed = &mut self.stats.bins_closed;
        for (brand, state) in &mut self.brands {
            let thresholds = config.thresholds_for(brand);
            let mut next = match state.last_closed {
                Some(last) => last + config.bin_seconds,
                None => match state.open_bins.keys().next() {
                    Some(first) => *first,
                    None => continue,
                },
            };
            // A brand silent for days catches up in one go, capped so that a
            // long gap costs bounded work.
            let gap_bins = (watermark - next) / config.bin_seconds;
            if gap_bins > 2 * 24 * 60 {
                next = watermark - 2 * 24 * 60 * config.bin_seconds;
                state.closed.clear();
            }
            while next + config.bin_seconds <= watermark {
                let mut bin = state
                    .open_bins
                    .remove(&next)
                    .unwrap_or_else(|| Bin::empty(next));
                bin.shrink();
                state.closed.push_back(bin);
                let longest = config.windows.iter().copied().max().unwrap_or(60);
                while state.closed.len() > longest {
                    state.closed.pop_front();
                }
                let decision_time = next + config.bin_seconds;
                let (bin_alerts, anomalies) =
                    evaluate(brand, state, config, thresholds, decision_time);
                alerts.extend(bin_alerts);
                if let Some(closed) = state.closed.back() {
                    let bin_index = closed.start / config.bin_seconds;
                    state
                        .baseline
                        .learn(closed, bin_index, thresholds.dispersion, &anomalies);
                }
                state.last_closed = Some(next);
                *bins_closed += 1;
                next += config.bin_seconds;
            }
            // Mentions for bins before the first closed one (older than
            // anything seen) cannot be placed any more.
            let first_open = state
                .last_closed
                .map_or(i64::MIN, |last| last + config.bin_seconds);
            state.open_bins.retain(|start, _| *start >= first_open);
            state.interner.prune(4 * MAX_TERMS_PER_BRAND);
        }
        alerts
    }

    /// Makes open incidents agree with the alerts that were published up to
    /// the watermark (see `rebuild`): a published open incident is kept under
    /// its id and severity, a resolved one is closed with its cool-down, an
    /// unpublished one is dropped. Only brands this detector tracks count.
    pub fn reconcile(&mut self, published: &[Alert]) -> ReconcileReport {
        let mut report = ReconcileReport::default();
        let Some(watermark) = self.watermark else {
            return report;
        };
        let mut last: HashMap<(&str, AlertKind), &Alert> = HashMap::new();
        for alert in published {
            if alert.detected_at.timestamp() <= watermark
                && self.brands.contains_key(alert.brand.as_str())
            {
                last.insert((alert.brand.as_str(), alert.kind), alert);
            }
        }
        let cooldown = i64::from(self.config.cooldown_bins) * self.config.bin_seconds;
        for (brand, state) in &mut self.brands {
            for kind in AlertKind::ALL {
                let rebuilt = state.incidents.remove(&kind);
                match last.get(&(brand.as_str(), kind)) {
                    Some(alert) if alert.status == AlertStatus::Firing => {
                        let (calm_bins, lower_bins) = rebuilt
                            .as_ref()
                            .map_or((0, 0), |incident| (incident.calm_bins, incident.lower_bins));
                        if rebuilt.as_ref().is_some_and(|incident| {
                            incident.id == alert.id && incident.severity == alert.severity
                        }) {
                            report.kept += 1;
                        } else {
                            report.adopted += 1;
                        }
                        state.cooldown_until.remove(&kind);
                        state.incidents.insert(
                            kind,
                            Incident {
                                id: alert.id.clone(),
                                severity: alert.severity,
                                onset_at: alert.onset_at.timestamp(),
                                calm_bins,
                                lower_bins,
                            },
                        );
                    }
                    Some(alert) => {
                        report.closed += usize::from(rebuilt.is_some());
                        state
                            .cooldown_until
                            .insert(kind, alert.detected_at.timestamp() + cooldown);
                    }
                    None => report.dropped += usize::from(rebuilt.is_some()),
                }
            }
        }
        report
    }

    /// Closes everything up to the last event seen (end of a backtest).
    pub fn flush(&mut self) -> Vec<Alert> {
        match self.max_event_time {
            Some(max) => {
                let end = max - max.rem_euclid(self.config.bin_seconds) + self.config.bin_seconds;
                self.advance_watermark(end)
            }
            None => Vec::new(),
        }
    }
}

fn over_dispersed_z(observed: f64, expected: f64, dispersion: f64) -> f64 {
    let mean = expected.max(0.5);
    (observed - mean) / (mean + mean * mean / dispersion).sqrt()
}

fn binomial_z(successes: f64, trials: f64, share: f64) -> f64 {
    let share = share.clamp(0.01, 0.98);
    if trials <= 0.0 {
        return 0.0;
    }
    (successes - trials * share) / (trials * share * (1.0 - share)).sqrt()
}

fn severity_for(z: f64, evidence: u32, thresholds: &Thresholds) -> Option<Severity> {
    if z >= thresholds.critical_z && evidence >= thresholds.min_critical_count {
        Some(Severity::Critical)
    } else if z >= thresholds.warning_z && evidence >= thresholds.min_warning_count {
        Some(Severity::Warning)
    } else if z >= thresholds.watch_z && evidence >= thresholds.min_watch_count {
        Some(Severity::Watch)
    } else {
        None
    }
}

struct WindowSums {
    total: f64,
    negative: f64,
    toxic: f64,
    expected: f64,
    terms: HashMap<Arc<str>, u32>,
}

fn window_sums(state: &BrandState, bins: usize) -> WindowSums {
    let mut sums = WindowSums {
        total: 0.0,
        negative: 0.0,
        toxic: 0.0,
        expected: 0.0,
        terms: HashMap::new(),
    };
    for bin in state.closed.iter().rev().take(bins) {
        sums.total += f64::from(bin.total);
        sums.negative += f64::from(bin.negative);
        sums.toxic += f64::from(bin.toxic);
        sums.expected += state.baseline.expected(bin.start);
        for (term, count) in bin.terms() {
            *sums.terms.entry(term.clone()).or_default() += count;
        }
    }
    sums
}

/// Scores the brand's windows and returns the strongest reading per kind.
fn readings(state: &BrandState, config: &DetectorConfig, thresholds: &Thresholds) -> Vec<Reading> {
    let baseline = &state.baseline;
    let warmed_up = baseline.bins_observed >= config.warmup_bins;
    let mut best: HashMap<AlertKind, Reading> = HashMap::new();
    let last_bin_index = state
        .closed
        .back()
        .map_or(0, |bin| bin.start / config.bin_seconds);
    for &window in &config.windows {
        let available = state.closed.len().min(window);
        if available == 0 {
            continue;
        }
        let sums = window_sums(state, available);
        let negative_share = if sums.total > 0.0 {
            sums.negative / sums.total
        } else {
            0.0
        };
        let negative_lifted =
            negative_share >= baseline.negative_share() + thresholds.min_share_lift;

        let volume_z = over_dispersed_z(sums.total, sums.expected, thresholds.dispersion);
        let mut volume_severity = severity_for(volume_z, sums.total as u32, thresholds);
        // A spike without a turn to negative (a launch going viral) informs, never pages.
        if !negative_lifted {
            volume_severity = volume_severity.map(|severity| severity.min(Severity::Watch));
        }

        let negative_z = if negative_lifted {
            binomial_z(sums.negative, sums.total, baseline.negative_share())
        } else {
            0.0
        };
        let negative_severity = severity_for(negative_z, sums.negative as u32, thresholds);
        let negative_expected = sums.total * baseline.negative_share();

        let toxic_share = if sums.total > 0.0 {
            sums.toxic / sums.total
        } else {
            0.0
        };
        let toxic_lifted = toxic_share >= baseline.toxic_share() + thresholds.min_share_lift / 2.0;
        let toxic_z = if toxic_lifted {
            binomial_z(sums.toxic, sums.total, baseline.toxic_share())
        } else {
            0.0
        };
        let toxic_severity = severity_for(toxic_z, sums.toxic as u32, thresholds);

        let mut term_reading: Option<(f64, u32, f64, String)> = None;
        // Sum of the window's seasonal factors: term rates are deseasonalised.
        let seasonal_bins = if baseline.level > 0.0 {
            sums.expected / baseline.level
        } else {
            available as f64
        };
        for (term, count) in &sums.terms {
            let expected = baseline.term_rate(term, last_bin_index) * seasonal_bins;
            let z = over_dispersed_z(f64::from(*count), expected, thresholds.dispersion);
            if f64::from(*count) >= 3.0 * (expected + 1.0)
                && term_reading.as_ref().is_none_or(|(best_z, ..)| z > *best_z)
            {
                term_reading = Some((z, *count, expected, term.to_string()));
            }
        }
        let mut candidates = vec![
            Reading {
                kind: AlertKind::VolumeSpike,
                z: volume_z,
                severity: volume_severity,
                observed: sums.total,
                expected: sums.expected,
                window_bins: available,
                top_term: None,
            },
            Reading {
                kind: AlertKind::NegativeSurge,
                z: negative_z,
                severity: negative_severity,
                observed: sums.negative,
                expected: negative_expected,
                window_bins: available,
                top_term: None,
            },
            Reading {
                kind: AlertKind::ToxicitySurge,
                z: toxic_z,
                severity: toxic_severity,
                observed: sums.toxic,
                expected: sums.total * baseline.toxic_share(),
                window_bins: available,
                top_term: None,
            },
        ];
        if let Some((z, count, expected, term)) = term_reading {
            let mut severity = severity_for(z, count, thresholds);
            // A new term informs and explains (it is evidence in every alert);
            // pages come from the negative and toxicity detectors.
            severity = severity.map(|severity| severity.min(Severity::Watch));
            candidates.push(Reading {
                kind: AlertKind::EmergingTerms,
                z,
                severity,
                observed: f64::from(count),
                expected,
                window_bins: available,
                top_term: Some(term),
            });
        }
        for mut candidate in candidates {
            if !warmed_up {
                candidate.severity = candidate
                    .severity
                    .map(|severity| severity.min(Severity::Watch));
            }
            let replace = match best.get(&candidate.kind) {
                None => true,
                Some(current) => (candidate.severity, candidate.z) > (current.severity, current.z),
            };
            if replace {
                best.insert(candidate.kind, candidate);
            }
        }
    }
    let mut readings: Vec<Reading> = best.into_values().collect();
    readings.sort_by_key(|reading| reading.kind);
    readings
}

/// Turns readings into incident state changes for one brand at one bin close.
fn evaluate(
    brand: &str,
    state: &mut BrandState,
    config: &DetectorConfig,
    thresholds: &Thresholds,
    decision_time: i64,
) -> (Vec<Alert>, Anomalies) {
    let mut alerts = Vec::new();
    let mut anomalies = Anomalies::default();
    for reading in readings(state, config, thresholds) {
        let kind = reading.kind;
        if reading.z >= thresholds.watch_z {
            match kind {
                AlertKind::VolumeSpike => anomalies.volume = true,
                AlertKind::NegativeSurge => anomalies.negative = true,
                AlertKind::ToxicitySurge => anomalies.toxic = true,
                AlertKind::EmergingTerms => anomalies.terms.extend(reading.top_term.clone()),
            }
        }
        let (incident, status) = match (state.incidents.remove(&kind), reading.severity) {
            (None, None) => continue,
            (None, Some(severity)) => {
                if state
                    .cooldown_until
                    .get(&kind)
                    .is_some_and(|until| decision_time < *until)
                {
                    continue;
                }
                let onset = estimate_onset(state, &reading, config);
                let incident = Incident {
                    id: format!("{brand}:{}:{onset}", kind.as_str()),
                    severity,
                    onset_at: onset,
                    calm_bins: 0,
                    lower_bins: 0,
                };
                (incident, Some(AlertStatus::Firing))
            }
            (Some(mut incident), severity) => {
                let status =
                    advance_incident(&mut incident, severity, reading.z, thresholds, config);
                (incident, status)
            }
        };
        if let Some(status) = status {
            alerts.push(build_alert(
                brand,
                state,
                &incident,
                &reading,
                status,
                decision_time,
                config,
            ));
        }
        if status == Some(AlertStatus::Resolved) {
            state.cooldown_until.insert(
                kind,
                decision_time + i64::from(config.cooldown_bins) * config.bin_seconds,
            );
        } else {
            state.incidents.insert(kind, incident);
        }
    }
    (alerts, anomalies)
}

/// Moves an open incident one bin on: resolve after enough calm bins,
/// escalate at once, de-escalate only after enough lower bins (hysteresis).
/// Returns the status to publish, if the incident changed.
fn advance_incident(
    incident: &mut Incident,
    severity: Option<Severity>,
    z: f64,
    thresholds: &Thresholds,
    config: &DetectorConfig,
) -> Option<AlertStatus> {
    if z < thresholds.resolve_z {
        incident.calm_bins += 1;
    } else {
        incident.calm_bins = 0;
    }
    if incident.calm_bins >= config.resolve_after_bins {
        return Some(AlertStatus::Resolved);
    }
    match severity {
        Some(severity) if severity > incident.severity => {
            incident.severity = severity;
            incident.lower_bins = 0;
            Some(AlertStatus::Firing)
        }
        Some(severity) if severity == incident.severity => {
            incident.lower_bins = 0;
            None
        }
        lower => {
            incident.lower_bins += 1;
            let target = lower.unwrap_or(Severity::Watch);
            if incident.lower_bins >= config.deescalate_after_bins && target < incident.severity {
                incident.severity = target;
                incident.lower_bins = 0;
                Some(AlertStatus::Firing)
            } else {
                None
            }
        }
    }
}

/// The start of the earliest bin in the window from which the brand stayed
/// above its expected range.
fn estimate_onset(state: &BrandState, reading: &Reading, config: &DetectorConfig) -> i64 {
    let mut onset = state.closed.back().map_or(0, |bin| bin.start);
    for bin in state.closed.iter().rev().take(reading.window_bins) {
        let expected = state.baseline.expected(bin.start);
        let observed = match reading.kind {
            AlertKind::NegativeSurge => {
                f64::from(bin.negative) - f64::from(bin.total) * state.baseline.negative_share()
            }
            AlertKind::ToxicitySurge => {
                f64::from(bin.toxic) - f64::from(bin.total) * state.baseline.toxic_share()
            }
            _ => f64::from(bin.total) - expected,
        };
        if observed <= 0.0 {
            break;
        }
        onset = bin.start;
    }
    onset - onset.rem_euclid(config.bin_seconds)
}

fn build_alert(
    brand: &str,
    state: &BrandState,
    incident: &Incident,
    reading: &Reading,
    status: AlertStatus,
    decision_time: i64,
    config: &DetectorConfig,
) -> Alert {
    let sums = window_sums(state, reading.window_bins);
    let seasonal_bins = if state.baseline.level > 0.0 {
        sums.expected / state.baseline.level
    } else {
        reading.window_bins as f64
    };
    let last_bin_index = state
        .closed
        .back()
        .map_or(0, |bin| bin.start / config.bin_seconds);
    let mut terms: Vec<TermEvidence> = sums
        .terms
        .iter()
        .map(|(term, count)| TermEvidence {
            term: term.to_string(),
            observed: f64::from(*count),
            expected: state.baseline.term_rate(term, last_bin_index) * seasonal_bins,
        })
        .filter(|term| term.observed >= 3.0 && term.observed > 2.0 * (term.expected + 0.5))
        .collect();
    terms.sort_by(|left, right| {
        (right.observed - right.expected).total_cmp(&(left.observed - left.expected))
    });
    terms.truncate(5);
    let mut samples: Vec<(f32, SampleMention, bool, bool)> = state
        .closed
        .iter()
        .rev()
        .take(reading.window_bins)
        .flat_map(|bin| bin.samples().cloned())
        .filter(|(_, _, negative, toxic)| match reading.kind {
            AlertKind::NegativeSurge => *negative,
            AlertKind::ToxicitySurge => *toxic,
            _ => true,
        })
        .collect();
    samples.sort_by(|left, right| right.0.total_cmp(&left.0));
    let mut sources: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
    for bin in state.closed.iter().rev().take(reading.window_bins) {
        for (source, count) in bin.sources() {
            *sources.entry(source.to_string()).or_default() += u64::from(*count);
        }
    }
    let window_seconds = reading.window_bins as u64 * config.bin_seconds as u64;
    let negative_share = (sums.total > 0.0).then(|| sums.negative / sums.total);
    let toxicity_share = (sums.total > 0.0).then(|| sums.toxic / sums.total);
    let noun = match reading.kind {
        AlertKind::VolumeSpike => "mentions".to_owned(),
        AlertKind::NegativeSurge => "negative mentions".to_owned(),
        AlertKind::ToxicitySurge => "toxic mentions".to_owned(),
        AlertKind::EmergingTerms => format!(
            "mentions of \"{}\"",
            reading.top_term.clone().unwrap_or_default()
        ),
    };
    let verb = match status {
        AlertStatus::Firing => "",
        AlertStatus::Resolved => "resolved: ",
    };
    let term_list: Vec<&str> = terms
        .iter()
        .take(3)
        .map(|term| term.term.as_str())
        .collect();
    let summary = format!(
        "{verb}{brand} {}: {} {noun} in {} min vs {:.1} expected (negative {:.0}%, toxic {:.0}%){}",
        incident.severity.as_str(),
        reading.observed,
        window_seconds / 60,
        reading.expected,
        negative_share.unwrap_or(0.0) * 100.0,
        toxicity_share.unwrap_or(0.0) * 100.0,
        if term_list.is_empty() {
            String::new()
        } else {
            format!("; top terms: {}", term_list.join(", "))
        },
    );
    Alert {
        id: incident.id.clone(),
        brand: brand.to_owned(),
        kind: reading.kind,
        severity: incident.severity,
        status,
        onset_at: DateTime::from_timestamp(incident.onset_at, 0).unwrap_or_default(),
        detected_at: DateTime::from_timestamp(decision_time, 0).unwrap_or_default(),
        metrics: AlertMetrics {
            observed: reading.observed,
            expected: reading.expected,
            score: (reading.z * 100.0).round() / 100.0,
            probability: Some(upper_tail_probability(reading.z)),
            negative_share,
            toxicity_share,
            window_seconds,
        },
        evidence: AlertEvidence {
            top_terms: terms,
            samples: samples
                .into_iter()
                .take(5)
                .map(|(_, sample, ..)| sample)
                .collect(),
            sources,
        },
        summary,
    }
}

/// P(Z >= z) for a standard normal, by the Abramowitz-Stegun erfc approximation.
fn upper_tail_probability(z: f64) -> f64 {
    let x = z / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.3275911 * x.abs());
    let polynomial = t
        * (0.254829592
            + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    let erfc = polynomial * (-x * x).exp();
    let erfc = if x >= 0.0 { erfc } else { 2.0 - erfc };
    (0.5 * erfc).clamp(0.0, 1.0)
}
