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
//!
//! The window sums are kept incrementally (a closing bin is added to every
//! window and the bin that leaves a window is taken out of it), so a bin
//! close costs the same whatever the window lengths: the backtest runs the
//! same code over months of history.

use std::collections::{BTreeMap, HashMap, VecDeque};

use chrono::{DateTime, Utc};
use earshot_schema::{
    clip_chars, Alert, AlertEvidence, AlertKind, AlertMetrics, AlertStatus, SampleMention,
    ScoredMention, ScoredMentionView, SentimentLabel, Severity, TermEvidence,
};
use smallvec::SmallVec;

use crate::config::{DetectorConfig, Thresholds};
use crate::global_terms::GlobalTermShares;
use crate::recent_texts::RecentTexts;
use crate::tails;
use crate::term_names::TermNames;
use crate::term_table::{
    hash_table_bytes, BinTerm, Fit, Sighting, TermCensus, TermId, TermMood, TermTable,
    MAX_PLACE_COUNT, MIN_TERM_COUNT,
};
use crate::terms::for_each_term;

/// Brand and source names come from messages, which anyone can write: a
/// keyed hash (aHash with a random seed) keeps crafted collisions out, and
/// is several times faster than SipHash on short keys.
type FastMap<K, V> = HashMap<K, V, ahash::RandomState>;

/// The brands by name: hashbrown's map, whose `entry_ref` finds a brand by
/// `&str` and copies the name only for a new one (one lookup per mention).
/// A brand's state is boxed: the map keeps up to half its slots free, and
/// a 1.3 KB state inline in each slot cost 40 MB more at 100k brands.
type BrandMap = hashbrown::HashMap<String, Box<BrandState>, ahash::RandomState>;

/// Most baseline terms a brand remembers besides those in its windows; the
/// rarest are forgotten first.
const MAX_TERMS_PER_BRAND: usize = 400;
/// A term whose baseline expects fewer mentions than this in the longest
/// term window is forgotten once no bin names it: a term's z takes its
/// expectation as at least 0.5 (`over_dispersed_z`), so it reads as a new
/// one would, and real vocabularies would otherwise fill every brand's
/// table with words seen once (133 KiB per brand after a day of real
/// texts; 100k brands in 2 GB allow 20).
const RARE_TERM_EXPECTED: f64 = 0.25;
/// Most term entries reserved ahead in a new bin.
const MAX_TERM_ENTRIES_HINT: usize = 16 * 1024;
/// Characters of a sample's text kept for evidence.
const SAMPLE_TEXT_CHARS: usize = 200;
/// Samples kept per bin for evidence (an alert shows the top 5 of its window).
const SAMPLES_PER_BIN: usize = 2;
/// Samples an alert's evidence shows: the most alarming of its window.
const EVIDENCE_SAMPLES: usize = 5;
/// One alert kind of each class of samples evidence is drawn from (every
/// sample, the negative ones, the toxic ones; [`BinSample::is_evidence_for`]).
const EVIDENCE_CLASSES: [AlertKind; 3] = [
    AlertKind::VolumeSpike,
    AlertKind::NegativeSurge,
    AlertKind::ToxicitySurge,
];
/// Samples kept in closed bins between two passes that drop those outranked
/// ([`BrandState::drop_outranked_samples`]).
const SAMPLES_BETWEEN_PRUNING: usize = 8;
/// Bins between a brand's tidying passes ([`TermTable::tidy`]: the terms
/// and notes of a busier hour go even when its table has stopped growing);
/// an hour of the default one-minute bins.
const TIDY_EVERY_BINS: i64 = 60;

/// EWMA weight of a new bin in the baseline level, shares and term rates
/// (a time constant of about 3 hours of bins).
pub(crate) const LEVEL_ALPHA: f64 = 0.005;
/// How many recent mentions the negative and toxic shares remember.
const SHARE_MEMORY_MENTIONS: f64 = 500.0;
/// While a detector reads anomalous, its part of the baseline learns this
/// much slower, so that a crisis does not become the norm within the hour
/// but a lasting shift is learned eventually.
const ANOMALY_SLOWDOWN: f64 = 0.1;
/// EWMA weight of a new bin in the seasonal factors.
const SEASONAL_ALPHA: f64 = 0.05;
/// A run of empty bins less likely than one in a billion is an ingestion
/// gap, which the baseline does not learn from ([`Baseline::learn`]): two
/// empty minutes of a brand of 2,000 an hour, three of one of 600, ten
/// hours of one of 2. (At a 3-sigma chance, quiet brands' ordinary night
/// silences of a few hours stopped their learning too.)
const GAP_LOG_PROBABILITY: f64 = -20.72; // ln(1e-9)
/// Detection windows a detector evaluates at most (the counts per term are
/// a fixed array of this size).
pub const MAX_WINDOWS: usize = 4;

/// Count windows a detector evaluates at most.
pub const MAX_COUNT_WINDOWS: usize = 12;

/// Bins a window spans at most: a term entry counts the kept bins naming it
/// in 16 bits.
pub const MAX_WINDOW_BINS: usize = u16::MAX as usize;

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

/// Term and source names are interned per brand: a term seen in 60 bins is
/// stored once, not 60 times; bins name terms by id.
#[derive(Debug, Clone, Default)]
struct BinDetail {
    /// Inline for two (most bins name one source: an allocation of its
    /// own cost 32 bytes and more in each kept bin), then grown one at a
    /// time.
    sources: SmallVec<[(SourceId, u32); 2]>,
    /// While the bin is open, one entry per mention and term; at close,
    /// merged into one entry per term ([`TermTable::close_bin`]).
    terms: Vec<BinTerm>,
    /// The most negative or toxic mentions, most alarming first.
    samples: Vec<BinSample>,
    /// What its terms learn with when it leaves the longest term window.
    term_learning: TermLearning,
}

/// The seasonal factor and weight a closed bin's baseline learned it with,
/// its terms' to learn with; a factor of 0 (factors are at least 0.05)
/// until the bin is learned. 8 bytes, in single precision (the terms'
/// rates are stored so): every kept bin with a mention has one, and at 16
/// bytes its details took a 112-byte block of the allocator, not 96.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct TermLearning {
    factor: f32,
    alpha: f32,
}

impl TermLearning {
    fn new(factor: f64, alpha: f64) -> Self {
        TermLearning {
            factor: factor as f32,
            alpha: alpha as f32,
        }
    }

    fn get(self) -> Option<(f64, f64)> {
        (self.factor > 0.0).then_some((f64::from(self.factor), f64::from(self.alpha)))
    }
}

/// A sample mention as a bin keeps it: id, url and clipped text in one
/// allocation, the source by id (most mentions that become a sample are
/// replaced by a more alarming one before the bin closes, so a sample
/// should cost one allocation, not four).
#[derive(Debug, Clone)]
struct BinSample {
    alarm: f32,
    negative: bool,
    toxic: bool,
    sentiment_score: f32,
    toxicity_score: f32,
    source: SourceId,
    /// `id`, then `url` if any, then the text clipped to
    /// [`SAMPLE_TEXT_CHARS`] characters.
    strings: Box<str>,
    id_end: u32,
    url_end: Option<u32>,
}

impl BinSample {
    fn new(mention: &ScoredMentionView<'_>, source: SourceId, alarm: f32) -> Self {
        let text = clip_chars(&mention.text, SAMPLE_TEXT_CHARS);
        let url = mention.url.as_deref();
        let mut strings =
            String::with_capacity(mention.id.len() + url.map_or(0, str::len) + text.len());
        strings.push_str(&mention.id);
        let id_end = strings.len() as u32;
        let url_end = url.map(|url| {
            strings.push_str(url);
            strings.len() as u32
        });
        strings.push_str(text);
        BinSample {
            alarm,
            negative: mention.sentiment == SentimentLabel::Negative,
            toxic: mention.toxic,
            sentiment_score: mention.sentiment_score,
            toxicity_score: mention.toxicity_score,
            source,
            strings: strings.into_boxed_str(),
            id_end,
            url_end,
        }
    }

    /// Whether an alert of `kind` may show it: a negative surge shows
    /// negative samples, a toxicity surge toxic ones, the others any.
    fn is_evidence_for(&self, kind: AlertKind) -> bool {
        match kind {
            AlertKind::NegativeSurge => self.negative,
            AlertKind::ToxicitySurge => self.toxic,
            AlertKind::VolumeSpike | AlertKind::EmergingTerms => true,
        }
    }

    fn to_sample(&self, sources: &SourceNames) -> SampleMention {
        let id_end = self.id_end as usize;
        let text_start = self.url_end.map_or(id_end, |end| end as usize);
        SampleMention {
            id: self.strings.get(..id_end).unwrap_or_default().to_owned(),
            url: self.url_end.map(|end| {
                self.strings
                    .get(id_end..end as usize)
                    .unwrap_or_default()
                    .to_owned()
            }),
            text: self
                .strings
                .get(text_start..)
                .unwrap_or_default()
                .to_owned(),
            source: sources.name(self.source).to_owned(),
            sentiment_score: self.sentiment_score,
            toxicity_score: self.toxicity_score,
        }
    }
}

impl Bin {
    /// No mention counted and nothing attached: a brand does not keep such
    /// a bin once closed ([`BrandState::closed`]).
    fn is_empty(&self) -> bool {
        self.total == 0 && self.detail.is_none()
    }

    fn empty(start: i64) -> Self {
        Bin {
            start,
            ..Bin::default()
        }
    }

    fn terms_mut(&mut self) -> Option<&mut Vec<BinTerm>> {
        self.detail.as_mut().map(|detail| &mut detail.terms)
    }

    fn terms(&self) -> &[BinTerm] {
        self.detail
            .as_ref()
            .map_or(&[], |detail| detail.terms.as_slice())
    }

    fn sources(&self) -> impl Iterator<Item = &(SourceId, u32)> {
        self.detail.iter().flat_map(|detail| detail.sources.iter())
    }

    fn samples(&self) -> impl Iterator<Item = &BinSample> {
        self.detail.iter().flat_map(|detail| detail.samples.iter())
    }

    /// Merges the term entries and frees what a closed bin no longer grows
    /// into; returns how many entries there were before the merge.
    fn close(&mut self, table: &mut TermTable, positions: &mut Vec<u32>) -> usize {
        let Some(detail) = &mut self.detail else {
            return 0;
        };
        let entries = detail.terms.len();
        table.close_bin(&mut detail.terms, positions);
        detail.terms.shrink_to_fit();
        detail.samples.shrink_to_fit();
        entries
    }

    /// Counts a mention in with its distinct terms (which the caller holds
    /// open in its [`TermTable`]); its source is interned in `sources` only
    /// when new to the bin (a bin names a few sources: a comparison of short
    /// names costs less than a lookup and a reference count);
    /// `term_capacity` sizes the term entries of a new bin (growing them a
    /// doubling at a time was most of the allocation).
    fn add(
        &mut self,
        mention: &ScoredMentionView<'_>,
        terms: impl IntoIterator<Item = TermId>,
        sources: &mut SourceNames,
        term_capacity: usize,
    ) {
        self.total += 1;
        let negative = mention.sentiment == SentimentLabel::Negative;
        let toxic = mention.toxic;
        self.negative += u32::from(negative);
        self.toxic += u32::from(toxic);
        self.positive += u32::from(mention.sentiment == SentimentLabel::Positive);
        let detail = self.detail.get_or_insert_with(|| {
            Box::new(BinDetail {
                terms: Vec::with_capacity(term_capacity),
                samples: Vec::with_capacity(SAMPLES_PER_BIN),
                ..BinDetail::default()
            })
        });
        let source: &str = &mention.source;
        let source_index = match detail
            .sources
            .iter_mut()
            .position(|(known, _)| sources.name(*known) == source)
        {
            Some(index) => {
                detail.sources[index].1 += 1;
                index
            }
            None => {
                detail.sources.reserve_exact(1);
                detail.sources.push((sources.intern(source), 1));
                detail.sources.len() - 1
            }
        };
        detail.terms.extend(terms.into_iter().map(BinTerm::once));
        let alarm = -mention.sentiment_score + 2.0 * mention.toxicity_score;
        // Kept sorted, most alarming first, a newcomer after the samples as
        // alarming as it (as a stable sort would place it); when full, the
        // last (least alarming) makes room for a more alarming one.
        let full = detail.samples.len() >= SAMPLES_PER_BIN;
        if full
            && detail
                .samples
                .last()
                // Scores are validated into ranges: alarms are never NaN.
                .is_none_or(|weakest| weakest.alarm >= alarm)
        {
            return;
        }
        if full {
            detail.samples.pop();
        }
        let source = detail.sources[source_index].0;
        let at = detail
            .samples
            .partition_point(|sample| sample.alarm.total_cmp(&alarm).is_ge());
        detail
            .samples
            .insert(at, BinSample::new(mention, source, alarm));
    }
}

/// The [`EVIDENCE_SAMPLES`] highest alarms seen, highest first.
#[derive(Debug, Clone, Copy, Default)]
struct TopAlarms {
    alarms: [f32; EVIDENCE_SAMPLES],
    len: usize,
}

impl TopAlarms {
    /// How many of them are as alarming as `alarm` or more.
    fn outranking(&self, alarm: f32) -> usize {
        self.alarms[..self.len]
            .iter()
            .take_while(|top| top.total_cmp(&alarm).is_ge())
            .count()
    }

    fn insert(&mut self, alarm: f32) {
        let at = self.outranking(alarm);
        if at == EVIDENCE_SAMPLES {
            return;
        }
        self.len = (self.len + 1).min(EVIDENCE_SAMPLES);
        self.alarms.copy_within(at..self.len - 1, at + 1);
        self.alarms[at] = alarm;
    }
}

/// A source's id in the detector's [`SourceNames`].
type SourceId = u32;

/// Source names, shared by every brand's bins, which name them by id:
/// sources are few and every brand's (one table per brand was about 150
/// bytes of each), and a shared name's reference took 16 bytes of every
/// kept bin and sample, 4 as an id.
#[derive(Debug, Clone, Default)]
struct SourceNames {
    /// By id; empty while the id is free.
    names: Vec<Box<str>>,
    ids: FastMap<Box<str>, SourceId>,
    free: Vec<SourceId>,
    /// Names at which unused ones are next looked for (amortises the walk
    /// over every bin that finds them).
    prune_above: usize,
}

/// Source names kept before unused ones are looked for at the hourly tidy.
const SOURCE_NAMES_KEPT: usize = 64;

impl SourceNames {
    fn intern(&mut self, name: &str) -> SourceId {
        if let Some(id) = self.ids.get(name) {
            return *id;
        }
        let id = match self.free.pop() {
            Some(id) => {
                self.names[id as usize] = name.into();
                id
            }
            None => {
                self.names.push(name.into());
                (self.names.len() - 1) as SourceId
            }
        };
        self.ids.insert(name.into(), id);
        id
    }

    fn name(&self, id: SourceId) -> &str {
        self.names.get(id as usize).map_or("", |name| name)
    }

    fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether enough names came since the last pruning to look for unused
    /// ones: more than [`SOURCE_NAMES_KEPT`] at the hourly tidy, or twice
    /// as many as the last pruning kept at any time (a stream of new
    /// sources costs a walk per doubling, not per mention).
    fn wants_pruning(&self, hourly: bool) -> bool {
        let len = self.len();
        len > SOURCE_NAMES_KEPT && (hourly || len > self.prune_above)
    }

    /// Frees every name whose id is not in `used` (one flag per id).
    fn keep_only(&mut self, used: &[bool]) {
        for (id, name) in self.names.iter_mut().enumerate() {
            if !name.is_empty() && !used.get(id).copied().unwrap_or(false) {
                self.ids.remove(&**name);
                *name = Box::default();
                self.free.push(id as SourceId);
            }
        }
        self.prune_above = 2 * self.len().max(SOURCE_NAMES_KEPT);
    }

    /// Heap bytes: its table and the names (twice: by id and by name).
    fn heap_bytes(&self) -> usize {
        hash_table_bytes::<(Box<str>, SourceId)>(self.ids.capacity())
            + self.names.capacity() * std::mem::size_of::<Box<str>>()
            + self.free.capacity() * std::mem::size_of::<SourceId>()
            + 2 * self.names.iter().map(|name| name.len()).sum::<usize>()
    }
}

/// Sums over one detection window (its last `bins` closed bins).
#[derive(Debug, Clone, Copy, Default)]
struct WindowCounts {
    total: u32,
    negative: u32,
    toxic: u32,
}

impl WindowCounts {
    fn add(&mut self, bin: &Bin) {
        self.total += bin.total;
        self.negative += bin.negative;
        self.toxic += bin.toxic;
    }

    fn remove(&mut self, bin: &Bin) {
        self.total -= bin.total;
        self.negative -= bin.negative;
        self.toxic -= bin.toxic;
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
    bins_observed: u64,
    /// How much wider than independent mentions' the negative and toxic
    /// counts of the shortest count window spread around their shares.
    negative_spread: ShareSpread,
    toxic_spread: ShareSpread,
    /// The log-probability of the current run of empty bins at the
    /// brand's usual rate (0 after a bin with a mention): below
    /// [`GAP_LOG_PROBABILITY`], the run is an ingestion gap.
    empty_run_log_probability: f64,
}

/// Learns how far a share's counts spread beyond the binomial's: replies,
/// quotes and reposts carry their thread's mood, so one angry post brings
/// more, and a busy brand's negative share swings further than
/// independent mentions would (with 30% of mentions taking the previous
/// one's labels, every word and base rate unchanged, false pages went
/// from 5 to 581 in 80 brand-weeks). An exponentially weighted ratio of
/// the squared deviations of the shortest count window's count from its
/// share to their binomial variance (1 for independent mentions, in
/// expectation, at any count), read at every bin close; a window read as
/// anomalous is not learned from, or a crisis would excuse the next.
/// Single precision: one pair per kind per brand; a new brand's sums are
/// empty (the prior in [`ShareSpread::inflation`] reads them as 1).
#[derive(Debug, Clone, Copy, Default)]
struct ShareSpread {
    squared_deviations: f32,
    binomial_variance: f32,
}

/// EWMA weight of a bin close in a [`ShareSpread`]: about two days of them.
const SPREAD_ALPHA: f64 = 1.0 / 2880.0;
/// A window deviates at most 4 sigma's worth in a [`ShareSpread`], so one
/// outlier the anomaly flags missed does not blunt the brand for a day.
const SPREAD_MAX_RATIO: f64 = 16.0;
/// How many of its standard errors a spread's estimate must run over 1
/// before it widens anything: for independent mentions it scatters around
/// 1 (by about 0.15 for a brand of 7 mentions an hour, whose windows
/// hold one or two), and a crisis at the margin must not lose its page to
/// that.
const SPREAD_SIGMAS: f64 = 2.0;
/// Binomial variance at the ratio 1 every spread starts from and keeps: a
/// quiet brand's few mentions a window scatter its estimate most, and its
/// sums stay small (5 mentions an hour sum to about 450 over two days).
const SPREAD_PRIOR: f64 = 100.0;
/// The widest a spread reads as.
const SPREAD_MAX: f64 = 10.0;

impl ShareSpread {
    fn learn(&mut self, part: u32, total: u32, share: f64) {
        let share = share.clamp(0.01, 0.98);
        let total = f64::from(total);
        let variance = total * share * (1.0 - share);
        let deviation = f64::from(part) - total * share;
        let squared = (deviation * deviation).min(SPREAD_MAX_RATIO * variance);
        let keep = 1.0 - SPREAD_ALPHA;
        self.squared_deviations = (keep * f64::from(self.squared_deviations) + squared) as f32;
        self.binomial_variance = (keep * f64::from(self.binomial_variance) + variance) as f32;
    }

    /// The variance of a window's count over the binomial's, at least 1,
    /// taken [`SPREAD_SIGMAS`] standard errors low. The error: a squared
    /// deviation of a window with binomial variance v varies by about v
    /// (few mentions) plus 2v^2 (many), over sums that read each window
    /// `window_bins` times, and the weights' own memory bounds the second.
    fn inflation(self, window_bins: usize) -> f64 {
        let variance = f64::from(self.binomial_variance) + SPREAD_PRIOR;
        let ratio = (f64::from(self.squared_deviations) + SPREAD_PRIOR) / variance;
        let error = (window_bins as f64 * (1.0 / variance + SPREAD_ALPHA)).sqrt();
        (ratio - SPREAD_SIGMAS * error).clamp(1.0, SPREAD_MAX)
    }
}

/// Hour of day and weekday (Monday 0) of a Unix time, without a calendar.
fn hour_and_weekday(start: i64) -> (usize, usize) {
    let day = start.div_euclid(86_400);
    let hour = start.rem_euclid(86_400) / 3_600;
    // 1970-01-01 was a Thursday.
    (hour as usize, (day + 3).rem_euclid(7) as usize)
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
            bins_observed: 0,
            negative_spread: ShareSpread::default(),
            toxic_spread: ShareSpread::default(),
            empty_run_log_probability: 0.0,
        }
    }

    /// Folds the shortest count window, just closed, into the spreads of
    /// the shares (after [`Baseline::learn`], against the shares it left).
    fn learn_spread(&mut self, shortest: &WindowCounts, anomalous: &Anomalies) {
        if self.bins_observed < 60 || shortest.total == 0 {
            return;
        }
        if !anomalous.negative {
            self.negative_spread
                .learn(shortest.negative, shortest.total, self.negative_share);
        }
        if !anomalous.toxic {
            self.toxic_spread
                .learn(shortest.toxic, shortest.total, self.toxic_share);
        }
    }

    fn negative_share(&self) -> f64 {
        self.negative_share
    }

    fn toxic_share(&self) -> f64 {
        self.toxic_share
    }

    fn seasonal_factor(&self, start: i64) -> f64 {
        let (hour, weekday) = hour_and_weekday(start);
        self.hour_of_day[hour] * self.day_of_week[weekday]
    }

    fn expected(&self, start: i64) -> f64 {
        self.level * self.seasonal_factor(start)
    }

    /// Sum of the seasonal factors of `bins` consecutive bins ending with
    /// the one starting at `last_start`: one step per hour they span (the
    /// count windows walk them with [`SeasonalWalk`]; tests check it).
    #[cfg(test)]
    fn seasonal_sum(&self, last_start: i64, bins: usize, bin_seconds: i64) -> f64 {
        SeasonalWalk::new(self, last_start, bin_seconds).sum(bins)
    }

    /// Folds a closed bin in; counts above the expected range are clipped.
    fn learn(&mut self, bin: &mut Bin, dispersion: f64, anomalous: &Anomalies) {
        let expected = self.expected(bin.start);
        // A run of empty bins the brand's rate makes all but impossible is
        // an ingestion gap (a collector down, a backlog that comes too
        // late to count), not a quiet hour: learned, a busy brand's hour
        // factor lost two thirds within the hour, and the window's
        // mentions from before the gap read as a spike. The chance of an
        // empty bin is the over-dispersed count's, (d / (d + mean))^d.
        if bin.total == 0 && self.bins_observed >= 60 && expected > 0.0 {
            self.empty_run_log_probability +=
                dispersion * (dispersion / (dispersion + expected)).ln();
        } else {
            self.empty_run_log_probability = 0.0;
        }
        if self.empty_run_log_probability < GAP_LOG_PROBABILITY {
            self.bins_observed += 1;
            return;
        }
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
        // What its terms learn when it leaves the longest term window
        // (`BrandState::push_closed`).
        if let Some(detail) = &mut bin.detail {
            detail.term_learning = TermLearning::new(factor, alpha);
        }
        self.level += slowed(anomalous.volume) * (count / factor - self.level);
        if self.level > 0.0 && self.bins_observed >= 60 {
            let ratio = (count / self.level.max(1e-6)).clamp(0.1, 10.0);
            let (hour_slot, day_slot) = hour_and_weekday(bin.start);
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
        self.bins_observed += 1;
    }
}

/// Sums of seasonal factors over windows of growing length that end with
/// the same bin, one step per hour they span, walking back only once for
/// all of them (one call is `Baseline::seasonal_sum`, kept for tests).
struct SeasonalWalk<'a> {
    baseline: &'a Baseline,
    bin_seconds: i64,
    /// The newest bin not yet summed into `whole_hours`.
    start: i64,
    bins_walked: usize,
    whole_hours: f64,
}

impl<'a> SeasonalWalk<'a> {
    fn new(baseline: &'a Baseline, last_start: i64, bin_seconds: i64) -> Self {
        SeasonalWalk {
            baseline,
            bin_seconds,
            start: last_start,
            bins_walked: 0,
            whole_hours: 0.0,
        }
    }

    /// The sum over the last `bins` bins; `bins` must not shrink between calls.
    fn sum(&mut self, bins: usize) -> f64 {
        loop {
            let hour_start = self.start - self.start.rem_euclid(3_600);
            let same_hour = ((self.start - hour_start) / self.bin_seconds + 1) as usize;
            let factor = self.baseline.seasonal_factor(self.start);
            let left = bins.saturating_sub(self.bins_walked);
            if left <= same_hour {
                return self.whole_hours + left as f64 * factor;
            }
            self.whole_hours += same_hour as f64 * factor;
            self.bins_walked += same_hour;
            self.start -= same_hour as i64 * self.bin_seconds;
        }
    }
}

/// Which parts of the baseline read anomalous at a bin close.
#[derive(Debug, Clone, Default)]
struct Anomalies {
    volume: bool,
    negative: bool,
    toxic: bool,
}

#[derive(Debug, Clone)]
struct Incident {
    id: String,
    severity: Severity,
    /// The highest severity it reached (de-escalation lowers `severity`).
    peak: Severity,
    onset_at: i64,
    calm_bins: u32,
    lower_bins: u32,
}

/// After an incident resolves, its kind does not reopen at or below the
/// severity it reached until `until`: a crisis that flaps around a threshold
/// pages once. A reading above that peak opens at once (a `watch` that just
/// resolved must not hold back the page of the crisis that follows it).
#[derive(Debug, Clone, Copy)]
struct Cooldown {
    /// When the incident resolved: the next one of its kind starts after
    /// it (so it cannot take the resolved one's onset, and with it its id).
    resolved_at: i64,
    until: i64,
    peak: Severity,
}

impl Cooldown {
    fn holds_back(&self, decision_time: i64, severity: Severity) -> bool {
        decision_time < self.until && severity <= self.peak
    }
}

/// One detector's reading on a window.
#[derive(Debug, Clone)]
struct Reading {
    kind: AlertKind,
    z: f64,
    severity: Option<Severity>,
    observed: f64,
    expected: f64,
    /// The window's counts and how many bins it held.
    counts: WindowCounts,
    window_bins: usize,
    /// Which term window explains it (its top terms are the evidence),
    /// and how many bins that window held.
    term_window: usize,
    term_window_bins: usize,
    top_term: Option<TermId>,
    /// A negative or toxicity reading that pages because its `top_term`,
    /// an emerging term at `watch`, backs it (see [`corroborate`]).
    corroborated: bool,
}

fn kind_slot(kind: AlertKind) -> usize {
    match kind {
        AlertKind::VolumeSpike => 0,
        AlertKind::NegativeSurge => 1,
        AlertKind::ToxicitySurge => 2,
        AlertKind::EmergingTerms => 3,
    }
}

/// Terms of a brand are read from 1 in 2^this of its mentions at most.
const MAX_TERM_SAMPLE_SHIFT: u8 = 12;

/// Which of a brand's mentions its terms are read from
/// ([`DetectorConfig::term_sample_per_hour`]): those whose id hashes to 0
/// modulo 2^`shift`, a fixed sample (a replay or a rebuild reads the same
/// mentions), sized from the brand's deseasonalised level so that about
/// the configured rate to twice it are read. A term's count in the
/// sample is its count thinned by 2^-`shift`, and it is read against its
/// rate (learned in whole mentions) thinned alike, so a count test stays
/// exact; it only has the power of the mentions read. The sample changes
/// only once every bin the longest term window held is of the current
/// one, and term readings wait until the window is whole again (its
/// counts mix two samples until then).
#[derive(Debug, Clone, Copy, PartialEq)]
struct TermSampling {
    shift: u8,
    /// The shift of the bins before `since`.
    previous_shift: u8,
    /// The first bin of the current sample.
    since: i64,
}

impl Default for TermSampling {
    fn default() -> Self {
        TermSampling {
            shift: 0,
            previous_shift: 0,
            since: i64::MIN,
        }
    }
}

impl TermSampling {
    /// Whether the mention of this id, in the bin starting at `bin_start`,
    /// is read for terms.
    fn reads(self, id: &str, bin_start: i64) -> bool {
        let shift = self.shift_of_bin(bin_start);
        shift == 0 || sample_hash(id.as_bytes()) >> (64 - u32::from(shift)) == 0
    }

    /// The shift the bin starting at `start` was read with.
    fn shift_of_bin(self, start: i64) -> u8 {
        if start < self.since {
            self.previous_shift
        } else {
            self.shift
        }
    }

    /// The share of mentions read: what a term's rate is thinned by.
    fn share(self) -> f64 {
        1.0 / sample_scale(self.shift)
    }

    /// Whether every bin of the window of `window_bins` ending at
    /// `last_start` was read with the current shift.
    fn whole(self, last_start: i64, window_bins: usize, bin_seconds: i64) -> bool {
        self.since <= last_start - (window_bins as i64 - 1) * bin_seconds
    }

    /// After the bin starting at `start` closed: the shift that keeps the
    /// sample of a brand of `per_hour` mentions an hour (deseasonalised)
    /// between `floor_per_hour` and twice it, from the bin `from` on (the
    /// first not yet open: a bin is read with one shift), once the last
    /// change has left the window of `window_bins`. Returns whether it
    /// changed.
    fn adjust(
        &mut self,
        per_hour: f64,
        floor_per_hour: f64,
        (start, from): (i64, i64),
        window_bins: usize,
        bin_seconds: i64,
    ) -> bool {
        let wanted = if floor_per_hour > 0.0 && per_hour >= 2.0 * floor_per_hour {
            ((per_hour / floor_per_hour).log2().floor() as u8).min(MAX_TERM_SAMPLE_SHIFT)
        } else {
            0
        };
        let sampled = per_hour / sample_scale(self.shift);
        // Hysteresis: the sample stays between the floor and twice it
        // (a fall below half the floor lowers the shift).
        let change = wanted > self.shift || (wanted < self.shift && sampled < floor_per_hour / 2.0);
        if !change || !self.whole(start, window_bins, bin_seconds) {
            return false;
        }
        *self = TermSampling {
            shift: wanted,
            previous_shift: self.shift,
            since: from.max(start + bin_seconds),
        };
        true
    }
}

/// How many mentions one read at `shift` stands for.
fn sample_scale(shift: u8) -> f64 {
    f64::from(1u32 << shift)
}

/// A mention id's hash for [`TermSampling`]: fixed across runs, machines
/// and versions of any hashing crate (a rebuild must read the same
/// mentions as the run before it), its top bits well mixed.
fn sample_hash(bytes: &[u8]) -> u64 {
    const MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut hash = bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        hash = (hash ^ u64::from_le_bytes(word)).wrapping_mul(MULTIPLIER);
        hash ^= hash >> 29;
    }
    let mut tail = [0u8; 8];
    tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    hash = (hash ^ u64::from_le_bytes(tail)).wrapping_mul(MULTIPLIER);
    hash ^= hash >> 32;
    hash.wrapping_mul(MULTIPLIER)
}

struct BrandState {
    /// The brand lower-cased, for term extraction.
    brand_lower: String,
    thresholds: Thresholds,
    open_bins: BTreeMap<i64, Bin>,
    /// The closed bins of the last [`Windows::longest`] with a mention,
    /// oldest first. An empty one is not kept: most bins of most brands
    /// are empty (a few mentions an hour), and 64 of them cost 2 KiB a
    /// brand; a window reads a bin missing from its span as zero.
    closed: VecDeque<Bin>,
    /// Bins closed since the last gap, empty ones included, up to the
    /// longest window: the bins each window holds.
    closed_bins: usize,
    baseline: Baseline,
    /// Terms with their rates and window counts.
    terms: TermTable,
    /// Sums of each term window and of each count window.
    windows: [WindowCounts; MAX_WINDOWS],
    count_sums: [WindowCounts; MAX_COUNT_WINDOWS],
    last_closed: Option<i64>,
    /// The start of the newest bin with a mention.
    last_active: i64,
    /// Term entries to reserve in a new bin: about the last bin's.
    term_entries_hint: usize,
    /// Which of its mentions the brand's terms are read from.
    term_sampling: TermSampling,
    /// Samples in the bins closed since outranked ones were last dropped.
    samples_unpruned: usize,
    /// Boxed: most brands never open one, and inline the two were a fifth
    /// of a quiet brand's fixed state (288 bytes, 64 boxed).
    incidents: [Option<Box<Incident>>; 4],
    cooldowns: [Option<Box<Cooldown>>; 4],
}

impl BrandState {
    fn new(brand: &str, thresholds: Thresholds, first_bin: i64, config: &DetectorConfig) -> Self {
        BrandState {
            last_active: first_bin,
            brand_lower: brand.to_lowercase(),
            thresholds,
            open_bins: BTreeMap::new(),
            closed: VecDeque::new(),
            closed_bins: 0,
            baseline: Baseline::new(),
            terms: TermTable::with_limit(config.max_terms_per_brand, config.bin_seconds),
            windows: [WindowCounts::default(); MAX_WINDOWS],
            count_sums: [WindowCounts::default(); MAX_COUNT_WINDOWS],
            last_closed: None,
            term_entries_hint: 0,
            term_sampling: TermSampling::default(),
            samples_unpruned: 0,
            incidents: Default::default(),
            cooldowns: Default::default(),
        }
    }

    /// Adds the newest closed bin to every window and takes out the bins
    /// that leave them; drops bins older than the longest window.
    fn push_closed(&mut self, bin: Bin, windows: &Windows, global: &mut Shared) {
        let bin_seconds = windows.bin_seconds;
        let newest = bin.start;
        self.last_closed = Some(newest);
        self.closed_bins = (self.closed_bins + 1).min(windows.longest);
        if !bin.is_empty() {
            self.last_active = newest;
            for counts in self
                .windows
                .iter_mut()
                .take(windows.terms.len())
                .chain(self.count_sums.iter_mut().take(windows.counts.len()))
            {
                counts.add(&bin);
            }
            self.terms
                .enter_windows(bin.terms(), windows.terms.len(), windows.longest_term);
            self.samples_unpruned += bin.samples().count();
            self.closed.push_back(bin);
            // A walk over the kept bins for every busy bin closed was a
            // tenth of the backtest's time; a few samples' room is less.
            if self.samples_unpruned >= SAMPLES_BETWEEN_PRUNING {
                self.drop_outranked_samples();
                self.samples_unpruned = 0;
            }
        }
        // The bin `window` bins old has just left that window.
        let closed = &self.closed;
        let leaving = |window: usize| {
            let start = newest - window as i64 * bin_seconds;
            closed
                .binary_search_by_key(&start, |bin| bin.start)
                .ok()
                .map(|index| &closed[index])
        };
        for (slot, &window) in windows.counts.iter().enumerate() {
            if let Some(leaving) = leaving(window) {
                self.count_sums[slot].remove(leaving);
            }
        }
        for (slot, &window) in windows.terms.iter().enumerate() {
            let Some(leaving) = leaving(window) else {
                continue;
            };
            self.windows[slot].remove(leaving);
            self.terms
                .leave_window(leaving.terms(), slot, windows.longest_term);
            if slot == windows.longest_term {
                learn_from_leaving_bin(
                    &mut self.terms,
                    global,
                    leaving,
                    bin_seconds,
                    self.term_sampling,
                );
            }
        }
        let oldest_kept = newest - (windows.longest as i64 - 1) * bin_seconds;
        while self
            .closed
            .front()
            .is_some_and(|bin| bin.start < oldest_kept)
        {
            if let Some(gone) = self.closed.pop_front() {
                self.terms.release_closed(gone.terms());
            }
        }
    }

    /// The [`EVIDENCE_SAMPLES`] most alarming samples of the newest
    /// `window_bins` closed bins an alert of `kind` shows: negative ones for
    /// a negative surge, toxic ones for a toxicity surge, else any; ties
    /// newest first.
    fn evidence_samples(
        &self,
        window_bins: usize,
        bin_seconds: i64,
        kind: AlertKind,
    ) -> Vec<&BinSample> {
        let mut samples: Vec<&BinSample> = self
            .closed_within(window_bins, bin_seconds)
            .flat_map(Bin::samples)
            .filter(|sample| sample.is_evidence_for(kind))
            .collect();
        samples.sort_by(|left, right| right.alarm.total_cmp(&left.alarm));
        samples.truncate(EVIDENCE_SAMPLES);
        samples
    }

    /// Drops the kept samples that no alert's evidence can show again.
    /// Evidence is the [`EVIDENCE_SAMPLES`] most alarming samples of a
    /// window's closed bins, of every sample, the negative ones or the toxic
    /// ones (by the alert's kind), and a window ends at the newest closed
    /// bin: one that holds a bin holds every newer one. A sample outranked
    /// in each of its classes by that many in newer bins (as alarming or
    /// more: newer bins are listed first, and the sort keeps ties in order)
    /// is in no window's evidence. What is left is about the records of a
    /// random sequence (tens of samples, not two for each of 60 busy bins);
    /// the alerts are the same, bit for bit.
    fn drop_outranked_samples(&mut self) {
        let mut newer = [TopAlarms::default(); EVIDENCE_CLASSES.len()];
        let classes =
            |sample: &BinSample| EVIDENCE_CLASSES.map(|kind| sample.is_evidence_for(kind));
        for bin in self.closed.iter_mut().rev() {
            let Some(detail) = &mut bin.detail else {
                continue;
            };
            let before = detail.samples.len();
            detail.samples.retain(|sample| {
                classes(sample)
                    .iter()
                    .zip(&newer)
                    .any(|(member, top)| *member && top.outranking(sample.alarm) < EVIDENCE_SAMPLES)
            });
            if detail.samples.len() < before {
                detail.samples.shrink_to_fit();
            }
            for sample in &detail.samples {
                for (member, top) in classes(sample).iter().zip(&mut newer) {
                    if *member {
                        top.insert(sample.alarm);
                    }
                }
            }
        }
    }

    /// The start of the oldest bin the windows hold (kept or empty).
    fn oldest_held_start(&self, bin_seconds: i64) -> Option<i64> {
        let newest = self.last_closed?;
        Some(newest - (self.closed_bins.max(1) as i64 - 1) * bin_seconds)
    }

    /// The kept closed bins among the newest `bins` closed, newest first.
    fn closed_within(&self, bins: usize, bin_seconds: i64) -> impl Iterator<Item = &Bin> {
        let newest = self.last_closed.unwrap_or(0);
        let span = bins.min(self.closed_bins) as i64 * bin_seconds;
        self.closed
            .iter()
            .rev()
            .take_while(move |bin| newest - bin.start < span)
    }

    /// Nothing open or cooling down, and no mention in the `idle_seconds`
    /// before `watermark`: nothing left that a new mention would need.
    fn is_idle(&self, watermark: i64, idle_seconds: i64, bin_seconds: i64) -> bool {
        self.open_bins.is_empty()
            && self.incidents.iter().all(Option::is_none)
            && self
                .cooldowns
                .iter()
                .flatten()
                .all(|cooldown| cooldown.until <= watermark)
            && watermark - (self.last_active + bin_seconds) >= idle_seconds
    }

    /// Forgets every closed bin (after a gap longer than any window).
    fn clear_closed(&mut self, windows: &Windows, global: &mut Shared) {
        // Bins still in the longest term window have not taught their terms.
        let learned_before = self.last_closed.map_or(i64::MIN, |newest| {
            newest - windows.terms[windows.longest_term] as i64 * windows.bin_seconds
        });
        for gone in self.closed.drain(..) {
            if gone.start > learned_before {
                learn_from_leaving_bin(
                    &mut self.terms,
                    global,
                    &gone,
                    windows.bin_seconds,
                    self.term_sampling,
                );
            }
            self.terms.clear_windows(gone.terms());
            self.terms.release_closed(gone.terms());
        }
        self.closed_bins = 0;
        self.windows = [WindowCounts::default(); MAX_WINDOWS];
        self.count_sums = [WindowCounts::default(); MAX_COUNT_WINDOWS];
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
    /// Brands forgotten after `forget_idle_bins` without a mention.
    pub brands_forgotten: u64,
    /// Seen-once notes dropped before their bin left, for room: their
    /// term's first mention goes uncounted (a brand at its note limit).
    pub term_notes_dropped: u64,
    /// Held terms forgotten for room (a brand past `max_terms_per_brand`).
    pub terms_shed: u64,
    /// Term tables that gave back the room of a busier hour.
    pub term_tables_fitted: u64,
    /// Mentions whose text copied one of their brand's within the longest
    /// term window (reposts, retweets): counted, their words not read again.
    pub text_copies: u64,
    /// Mentions of busy brands whose terms were not read: outside their
    /// brand's sample (`DetectorConfig::term_sample_per_hour`).
    pub terms_unread: u64,
    /// Watermark advances that ran the hourly tidy for at least one brand:
    /// when a service may hand the room given back to the system (see
    /// `heap`).
    pub hourly_tidies: u64,
}

/// Heap bytes of the detector's state by part ([`Detector::state_bytes`]):
/// from capacities, so what was asked of the allocator, not what it keeps
/// (resident memory is more: the allocator's own room and fragmentation).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateBytes {
    /// Term entries (28 bytes per held term and per unheld one remembered).
    pub term_entries: usize,
    /// Term name indexes, and every brand's names (by brand: the indexes).
    pub term_names: usize,
    /// Seen-once term notes.
    pub term_notes: usize,
    /// Busy lists, shed terms' rates and the terms' shares across brands.
    pub term_other: usize,
    /// Kept bins' term places.
    pub bin_terms: usize,
    /// Kept bins' sample mentions.
    pub samples: usize,
    /// Kept and open bins themselves, with their sources.
    pub bins: usize,
    /// The brand map, brand states, names and source names.
    pub brands: usize,
    /// The table of brands' recent texts, for telling copies: fixed, 4 MiB
    /// a detector (none with `terms_from_copies`).
    pub recent_texts: usize,
}

impl StateBytes {
    /// Each part with its name, as the `part` label of
    /// `earshot_alerter_state_bytes`.
    pub fn parts(&self) -> [(&'static str, usize); 9] {
        [
            ("term_entries", self.term_entries),
            ("term_names", self.term_names),
            ("term_notes", self.term_notes),
            ("term_other", self.term_other),
            ("bin_terms", self.bin_terms),
            ("samples", self.samples),
            ("bins", self.bins),
            ("brands", self.brands),
            ("recent_texts", self.recent_texts),
        ]
    }

    pub fn total(&self) -> usize {
        self.parts().iter().map(|(_, bytes)| bytes).sum()
    }

    /// Adds another detector's (one per partition in the service).
    pub fn add(&mut self, other: &StateBytes) {
        self.term_entries += other.term_entries;
        self.term_names += other.term_names;
        self.term_notes += other.term_notes;
        self.term_other += other.term_other;
        self.bin_terms += other.bin_terms;
        self.samples += other.samples;
        self.bins += other.bins;
        self.brands += other.brands;
        self.recent_texts += other.recent_texts;
    }
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

/// The detection windows, in bins.
#[derive(Debug, Clone)]
struct Windows {
    /// The bins' length in seconds.
    bin_seconds: i64,
    /// Term windows, at most [`MAX_WINDOWS`].
    terms: Vec<usize>,
    /// Count windows, ascending, at most [`MAX_COUNT_WINDOWS`].
    counts: Vec<usize>,
    /// The longest of either: the closed bins a brand keeps.
    longest: usize,
    /// The slot of the longest term window (it holds the others' bins).
    longest_term: usize,
    /// Term rates (mentions per bin) too rare to remember once unheld.
    rare_term_rate: f64,
}

impl Windows {
    /// Windows of no bins are ignored, as are term windows beyond the first
    /// [`MAX_WINDOWS`] and the longest count windows beyond
    /// [`MAX_COUNT_WINDOWS`]; no term windows means one of 60 bins, no
    /// count windows the term windows. A window is at most
    /// [`MAX_WINDOW_BINS`] (45 days of one-minute bins).
    fn new(config: &DetectorConfig) -> Self {
        let mut terms: Vec<usize> = config
            .windows
            .iter()
            .map(|window| (*window).min(MAX_WINDOW_BINS))
            .filter(|window| *window > 0)
            .take(MAX_WINDOWS)
            .collect();
        if terms.is_empty() {
            terms.push(60);
        }
        let mut counts: Vec<usize> = config
            .count_windows
            .iter()
            .map(|window| (*window).min(MAX_WINDOW_BINS))
            .filter(|window| *window > 0)
            .collect();
        if counts.is_empty() {
            counts.clone_from(&terms);
        }
        counts.sort_unstable();
        counts.dedup();
        counts.truncate(MAX_COUNT_WINDOWS);
        let longest = terms.iter().chain(&counts).copied().max().unwrap_or(60);
        let longest_term = (0..terms.len())
            .max_by_key(|slot| terms[*slot])
            .unwrap_or(0);
        let rare_term_rate = RARE_TERM_EXPECTED / terms[longest_term] as f64;
        Windows {
            bin_seconds: config.bin_seconds,
            terms,
            counts,
            longest,
            longest_term,
            rare_term_rate,
        }
    }

    /// The bin term rates are read as of when the newest closed bin starts
    /// at `last_start`: the one that has just left the longest term window
    /// (the newest its terms have learned from, [`learn_term_rates`]).
    fn term_rate_bin_index(&self, last_start: i64) -> i64 {
        last_start / self.bin_seconds - self.terms[self.longest_term] as i64
    }
}

/// One brand's heap bytes by part ([`Detector::state_bytes_by_brand`]).
fn brand_state_bytes(name: &String, state: &BrandState) -> StateBytes {
    use std::mem::size_of;
    let table = state.terms.heap_bytes();
    let mut bytes = StateBytes {
        term_entries: table.entries,
        term_names: table.names,
        term_notes: table.notes,
        term_other: table.other,
        brands: name.capacity()
            + size_of::<BrandState>()
            + state.brand_lower.capacity()
            + state
                .incidents
                .iter()
                .flatten()
                .map(|incident| size_of::<Incident>() + incident.id.capacity())
                .sum::<usize>()
            + state.cooldowns.iter().flatten().count() * size_of::<Cooldown>(),
        // Open bins count their keys and values only: a brand has a few,
        // and their B-tree nodes' spare room is left out.
        bins: state.closed.capacity() * size_of::<Bin>()
            + state.open_bins.len() * (size_of::<i64>() + size_of::<Bin>()),
        ..StateBytes::default()
    };
    for detail in state
        .open_bins
        .values()
        .chain(&state.closed)
        .filter_map(|bin| bin.detail.as_ref())
    {
        bytes.bins += size_of::<BinDetail>() + spilled_bytes(&detail.sources);
        bytes.bin_terms += detail.terms.capacity() * size_of::<BinTerm>();
        bytes.samples += detail.samples.capacity() * size_of::<BinSample>()
            + detail
                .samples
                .iter()
                .map(|sample| sample.strings.len())
                .sum::<usize>();
    }
    bytes
}

/// Heap bytes of a small vector: none while its items are inline.
fn spilled_bytes<A: smallvec::Array>(items: &SmallVec<A>) -> usize {
    if items.spilled() {
        items.capacity() * std::mem::size_of::<A::Item>()
    } else {
        0
    }
}

/// What every brand of a detector shares: term names (each stored once,
/// [`TermNames`]), the share of mentions naming each term
/// ([`GlobalTermShares`]) and source names.
#[derive(Debug, Default)]
struct Shared {
    names: TermNames,
    shares: GlobalTermShares,
    sources: SourceNames,
}

/// The per-brand detector over a whole stream.
pub struct Detector {
    config: DetectorConfig,
    windows: Windows,
    brands: BrandMap,
    watermark: Option<i64>,
    max_event_time: Option<i64>,
    /// Mentions more than `MAX_EVENT_TIME_JUMP` ahead of the newest event
    /// time, held until enough of them agree that time really moved on.
    future_suspects: Vec<ScoredMentionView<'static>>,
    /// Reused for each mention's terms.
    term_scratch: String,
    mention_words: MentionWords,
    mention_terms: Vec<TermId>,
    /// Reused when a bin's terms are merged ([`TermTable::close_bin`]).
    merge_positions: Vec<u32>,
    /// The watermark at which idle brands were last looked for.
    idle_checked_at: Option<i64>,
    shared: Shared,
    /// Copies of brands' recent texts, whose words are not read again
    /// (none with `terms_from_copies`).
    recent_texts: Option<RecentTexts>,
    pub stats: DetectorStats,
}

/// A mention this far ahead of the newest event time moves stream time only
/// once `FUTURE_CONFIRMATIONS` mentions within `FUTURE_AGREEMENT` of each
/// other say so: one collector with a wrong clock must not close every
/// brand's bins, while a real ingestion gap is confirmed by its backlog.
const MAX_EVENT_TIME_JUMP: i64 = 6 * 3600;
/// Stream time between two looks for idle brands.
const IDLE_CHECK_SECONDS: i64 = 3600;
const FUTURE_CONFIRMATIONS: usize = 3;
const FUTURE_AGREEMENT: i64 = 3600;
const MAX_FUTURE_SUSPECTS: usize = 1000;

impl Detector {
    pub fn new(config: DetectorConfig) -> Self {
        let windows = Windows::new(&config);
        let recent_texts = (!config.terms_from_copies)
            .then(|| RecentTexts::new(windows.terms[windows.longest_term]));
        Detector {
            config,
            brands: BrandMap::default(),
            watermark: None,
            max_event_time: None,
            future_suspects: Vec::new(),
            term_scratch: String::new(),
            mention_words: MentionWords::default(),
            mention_terms: Vec::new(),
            merge_positions: Vec::new(),
            idle_checked_at: None,
            shared: Shared::default(),
            recent_texts,
            windows,
            stats: DetectorStats::default(),
        }
    }

    /// Number of brands with state.
    pub fn brands_tracked(&self) -> usize {
        self.brands.len()
    }

    /// Heap bytes of the state by part: a walk over every brand and bin,
    /// for once-an-hour gauges and benchmarks, not for every mention.
    pub fn state_bytes(&self) -> StateBytes {
        let mut bytes = StateBytes {
            brands: hash_table_bytes::<(String, Box<BrandState>)>(self.brands.capacity())
                + self.shared.sources.heap_bytes(),
            term_names: self.shared.names.heap_bytes(),
            term_other: self.shared.shares.heap_bytes(),
            recent_texts: self
                .recent_texts
                .as_ref()
                .map_or(0, RecentTexts::heap_bytes),
            ..StateBytes::default()
        };
        for (_, brand_bytes) in self.state_bytes_by_brand() {
            bytes.add(&brand_bytes);
        }
        bytes
    }

    /// Every brand's term entries and notes by what they hold: a walk over
    /// every entry, for benchmarks.
    pub fn term_census(&self) -> TermCensus {
        let mut census = TermCensus::default();
        for state in self.brands.values() {
            census.add(&state.terms.census());
        }
        census
    }

    /// Each brand's heap bytes by part (the brand map's own table left
    /// out): where the state goes by a brand's volume.
    pub fn state_bytes_by_brand(&self) -> impl Iterator<Item = (&str, StateBytes)> {
        self.brands
            .iter()
            .map(|(name, state)| (name.as_str(), brand_state_bytes(name, state)))
    }

    /// Open incidents across brands.
    pub fn open_incidents(&self) -> usize {
        self.brands
            .values()
            .map(|state| state.incidents.iter().flatten().count())
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
        self.ingest_view(&scored.view())
    }

    /// [`Detector::ingest`] for a mention decoded as a view (no copies).
    pub fn ingest_view(&mut self, mention: &ScoredMentionView<'_>) -> Vec<Alert> {
        self.stats.mentions += 1;
        let event_time = mention.created_at.timestamp();
        if self
            .max_event_time
            .is_some_and(|max| event_time > max + MAX_EVENT_TIME_JUMP)
        {
            return self.hold_future_suspect(mention, event_time);
        }
        self.ingest_in_time(mention, event_time)
    }

    /// Holds a mention far ahead of stream time; once enough held mentions
    /// agree on a time, they are ingested in event-time order and stream
    /// time moves on.
    fn hold_future_suspect(
        &mut self,
        mention: &ScoredMentionView<'_>,
        event_time: i64,
    ) -> Vec<Alert> {
        self.future_suspects.push(mention.clone().into_owned());
        let agreeing: Vec<usize> = (0..self.future_suspects.len())
            .filter(|index| {
                let time = self.future_suspects[*index].created_at.timestamp();
                (time - event_time).abs() <= FUTURE_AGREEMENT
            })
            .collect();
        if agreeing.len() >= FUTURE_CONFIRMATIONS {
            let mut confirmed: Vec<ScoredMentionView<'static>> = Vec::with_capacity(agreeing.len());
            for index in agreeing.into_iter().rev() {
                confirmed.push(self.future_suspects.swap_remove(index));
            }
            confirmed.sort_by_key(|held| held.created_at);
            let mut alerts = Vec::new();
            for held in &confirmed {
                alerts.extend(self.ingest_in_time(held, held.created_at.timestamp()));
            }
            // Held mentions now within reach of stream time join too.
            let max = self.max_event_time.unwrap_or(event_time);
            let (now_in_time, still_ahead): (Vec<_>, Vec<_>) =
                std::mem::take(&mut self.future_suspects)
                    .into_iter()
                    .partition(|held| held.created_at.timestamp() <= max + MAX_EVENT_TIME_JUMP);
            self.future_suspects = still_ahead;
            for held in &now_in_time {
                alerts.extend(self.ingest_in_time(held, held.created_at.timestamp()));
            }
            return alerts;
        }
        if self.future_suspects.len() > MAX_FUTURE_SUSPECTS {
            self.future_suspects.remove(0);
            self.stats.future_outliers += 1;
        }
        Vec::new()
    }

    fn ingest_in_time(&mut self, mention: &ScoredMentionView<'_>, event_time: i64) -> Vec<Alert> {
        let bin_start = event_time - event_time.rem_euclid(self.config.bin_seconds);
        let is_late = self
            .watermark
            .is_some_and(|watermark| bin_start + self.config.bin_seconds <= watermark);
        if is_late {
            self.stats.late += 1;
        } else {
            self.add_to_open_bin(mention, bin_start);
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

    fn add_to_open_bin(&mut self, mention: &ScoredMentionView<'_>, bin_start: i64) {
        let brand: &str = &mention.brand;
        let config = &self.config;
        let state = self.brands.entry_ref(brand).or_insert_with(|| {
            Box::new(BrandState::new(
                brand,
                *config.thresholds_for(brand),
                bin_start,
                config,
            ))
        });
        // A mention's distinct terms, held open until its bin closes.
        let terms = &mut self.mention_terms;
        terms.clear();
        let term_names = &mut self.shared.names;
        let BrandState {
            terms: brand_terms,
            open_bins,
            closed,
            brand_lower,
            term_entries_hint,
            last_closed,
            term_sampling,
            ..
        } = &mut **state;
        // A busy brand's terms are read from a sample of its mentions.
        let read = term_sampling.reads(&mention.id, bin_start);
        self.stats.terms_unread += u64::from(!read);
        // A copy counts as a mention; its words are no new evidence.
        let copy = read
            && self.recent_texts.as_mut().is_some_and(|recent| {
                recent.is_copy(brand, &mention.text, bin_start / config.bin_seconds)
            });
        self.stats.text_copies += u64::from(copy);
        if read && !copy {
            // Two passes: every word's table slots are asked for first, so
            // that their cache misses overlap instead of queueing.
            let words = &mut self.mention_words;
            words.clear();
            for_each_term(
                &mention.text,
                brand_lower,
                &mut self.term_scratch,
                |word, prefix| {
                    let hash = term_names.hash(word, prefix);
                    brand_terms.prefetch(hash);
                    words.push(word, prefix, hash);
                },
            );
            brand_terms.start_mention();
            let negative = mention.sentiment == SentimentLabel::Negative;
            let toxic = mention.toxic;
            for word in words.iter() {
                let is_live = |start: i64| {
                    open_bins.contains_key(&start)
                        || closed.binary_search_by_key(&start, |bin| bin.start).is_ok()
                };
                let id = match brand_terms.sight(term_names, word, bin_start, is_live) {
                    Sighting::Known(id) => id,
                    Sighting::First => continue,
                    Sighting::Second { id, first_bin } => {
                        place_first_mention(
                            brand_terms,
                            open_bins,
                            closed,
                            *last_closed,
                            &self.windows,
                            id,
                            first_bin,
                        );
                        brand_terms.start_mood(id, negative, toxic);
                        id
                    }
                };
                if brand_terms.hold_once(id, negative, toxic) {
                    terms.push(id);
                }
            }
        }
        open_bins
            .entry(bin_start)
            .or_insert_with(|| Bin::empty(bin_start))
            .add(
                mention,
                terms.drain(..),
                &mut self.shared.sources,
                *term_entries_hint,
            );
    }
}

/// A mention's terms, each with its prefix and name hash, held between
/// the pass that asks for their table slots and the one that reads them.
#[derive(Debug, Default)]
struct MentionWords {
    /// The terms' bytes, one after the other.
    text: String,
    /// Per term: where it ends in `text`, its prefix and its hash.
    words: Vec<(usize, u64, u64)>,
}

impl MentionWords {
    fn clear(&mut self) {
        self.text.clear();
        self.words.clear();
    }

    fn push(&mut self, word: &str, prefix: u64, hash: u64) {
        self.text.push_str(word);
        self.words.push((self.text.len(), prefix, hash));
    }

    /// Each term as `(name, prefix, hash)`, in the order pushed.
    fn iter(&self) -> impl Iterator<Item = (&str, u64, u64)> {
        let mut start = 0;
        self.words.iter().map(move |&(end, prefix, hash)| {
            let name = self.text.get(start..end).unwrap_or_default();
            start = end;
            (name, prefix, hash)
        })
    }
}

/// What a bin leaving the longest term window teaches (it leaves by age,
/// or all at once after a gap longer than any window): its brand's term
/// rates, and every brand's shares, both at the same bins.
/// The bin's terms were read from 1 in 2^shift of its mentions (its shift
/// in `sampling`); rates and shares learn what all of them would say.
fn learn_from_leaving_bin(
    terms: &mut TermTable,
    global: &mut Shared,
    bin: &Bin,
    bin_seconds: i64,
    sampling: TermSampling,
) {
    let shift = sampling.shift_of_bin(bin.start);
    learn_term_rates(terms, bin, bin_seconds, shift);
    global
        .shares
        .learn_bin(terms, &global.names, bin.total, bin.terms(), shift);
}

/// Folds a bin that has just left the longest term window into its terms'
/// rates, deseasonalised and weighted as the baseline learned it: a rate
/// never counts the windows it is read against, or a quiet brand's new
/// hashtag absorbed its own burst before it could read as emerging.
fn learn_term_rates(terms: &mut TermTable, bin: &Bin, bin_seconds: i64, shift: u8) {
    let Some((factor, alpha)) = bin
        .detail
        .as_ref()
        .and_then(|detail| detail.term_learning.get())
    else {
        return;
    };
    let bin_index = bin.start / bin_seconds;
    let places = bin.terms();
    // Terms named in more than one place (a full place comes first):
    // learned once, from their places' sum.
    let mut learned_in_full: Vec<TermId> = Vec::new();
    for (index, place) in places.iter().enumerate() {
        terms.prefetch_entry_ahead(places, index);
        let id = place.id();
        let mut count = place.count();
        if learned_in_full.contains(&id) {
            continue;
        }
        if count == MAX_PLACE_COUNT {
            learned_in_full.push(id);
            count = places
                .iter()
                .filter(|other| other.id() == id)
                .map(|other| other.count())
                .sum();
        }
        if let Some(entry) = terms.entry_mut(id) {
            // Deseasonalised like the level: evening chatter is not an emerging term.
            entry.rate.learn(
                f64::from(count) * sample_scale(shift) / factor,
                alpha,
                bin_index,
            );
        }
    }
}

/// Places a term's first mention, noted by hash only ([`Sighting::First`]),
/// in its bin now that the term is back and has an id: an open bin's
/// entries, or a closed bin's with the windows and rate it gave its terms.
fn place_first_mention(
    terms: &mut TermTable,
    open_bins: &mut BTreeMap<i64, Bin>,
    closed: &mut VecDeque<Bin>,
    last_closed: Option<i64>,
    windows: &Windows,
    id: TermId,
    first_bin: i64,
) {
    let bin_seconds = windows.bin_seconds;
    let first = BinTerm::once(id);
    if let Some(bin) = open_bins.get_mut(&first_bin) {
        bin.detail
            .get_or_insert_with(Box::default)
            .terms
            .push(first);
        terms.hold_earlier_open(id);
        return;
    }
    // `sight` found the bin kept.
    let Ok(position) = closed.binary_search_by_key(&first_bin, |bin| bin.start) else {
        debug_assert!(false, "first mention's bin {first_bin} not kept");
        return;
    };
    let age = ((last_closed.unwrap_or(first_bin) - first_bin) / bin_seconds) as usize;
    let detail = closed[position].detail.get_or_insert_with(Box::default);
    // Shrunk to fit at close: doubling it for returning terms left a third
    // of closed bins' term places unused for the rest of their hour, and
    // four places of room at each growth a tenth.
    if detail.terms.len() == detail.terms.capacity() {
        detail.terms.reserve_exact(detail.terms.len() / 16 + 1);
    }
    detail.terms.push(first);
    // A bin past the longest term window has taught its terms already.
    let learned = detail
        .term_learning
        .get()
        .filter(|_| age >= windows.terms[windows.longest_term])
        .map(|(factor, alpha)| (1.0 / factor, alpha, first_bin / bin_seconds));
    terms.hold_earlier_closed(id, age, &windows.terms, learned);
}

impl Detector {
    /// Closes every bin that ends at or before `watermark` for every brand.
    pub fn advance_watermark(&mut self, watermark: i64) -> Vec<Alert> {
        self.watermark = Some(watermark);
        let mut alerts = Vec::new();
        let config = &self.config;
        let windows = &self.windows;
        let stats = &mut self.stats;
        let merge_positions = &mut self.merge_positions;
        let shared = &mut self.shared;
        let mut tidied = false;
        for (brand, state) in &mut self.brands {
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
                state.clear_closed(windows, shared);
            }
            while next + config.bin_seconds <= watermark {
                let mut bin = state
                    .open_bins
                    .remove(&next)
                    .unwrap_or_else(|| Bin::empty(next));
                let entries = bin.close(&mut state.terms, merge_positions);
                // The next bin likely holds about as many (a little room
                // spares a doubling; bounded so a spike does not pin memory).
                state.term_entries_hint = (entries + entries / 8).min(MAX_TERM_ENTRIES_HINT);
                state.push_closed(bin, windows, shared);
                let decision_time = next + config.bin_seconds;
                let (bin_alerts, anomalies) =
                    evaluate(brand, state, config, windows, decision_time, shared);
                alerts.extend(bin_alerts);
                let bin_index = next / config.bin_seconds;
                let oldest_held = state.oldest_held_start(config.bin_seconds);
                let BrandState {
                    open_bins,
                    closed,
                    closed_bins,
                    baseline,
                    terms,
                    thresholds,
                    count_sums,
                    term_sampling,
                    ..
                } = &mut **state;
                // An empty bin is learned from (as no mentions) but not kept.
                let mut empty = Bin::empty(next);
                let newest = match closed.back_mut() {
                    Some(bin) if bin.start == next => bin,
                    _ => &mut empty,
                };
                baseline.learn(newest, thresholds.dispersion, &anomalies);
                if *closed_bins >= windows.counts[0] {
                    baseline.learn_spread(&count_sums[0], &anomalies);
                }
                // Not from the first hour's running mean: a brand of 20 an
                // hour with two mentions in its first minute reads as 120.
                if baseline.bins_observed >= 60 {
                    let unopened = open_bins.last_key_value().map_or(next, |(start, _)| *start)
                        + config.bin_seconds;
                    term_sampling.adjust(
                        baseline.level * 3600.0 / config.bin_seconds as f64,
                        config.term_sample_per_hour,
                        (next, unopened),
                        windows.terms[windows.longest_term],
                        config.bin_seconds,
                    );
                }
                terms.evict(
                    &mut shared.names,
                    bin_index,
                    MAX_TERMS_PER_BRAND,
                    windows.rare_term_rate,
                );
                terms.shed(
                    &mut shared.names,
                    config.max_terms_per_brand,
                    &windows.terms,
                    bin_index,
                    windows.rare_term_rate,
                    open_bins
                        .values_mut()
                        .chain(closed.iter_mut())
                        .filter_map(Bin::terms_mut),
                );
                let (notes_dropped, terms_shed) = terms.take_losses();
                stats.term_notes_dropped += notes_dropped;
                stats.terms_shed += terms_shed;
                if let Some(oldest) = oldest_held {
                    terms.sweep_seen_once(oldest);
                }
                // Once an hour, the terms and notes a busier hour left go
                // even when the table has stopped growing, and their room
                // with them.
                let fit = if bin_index % TIDY_EVERY_BINS == 0 {
                    terms.tidy(
                        &mut shared.names,
                        bin_index,
                        MAX_TERMS_PER_BRAND,
                        windows.rare_term_rate,
                    );
                    tidied = true;
                    Fit::Hourly
                } else {
                    Fit::MostlyFree
                };
                if terms.has_room_to_give_back(fit) {
                    terms.give_back_room(
                        &shared.names,
                        fit,
                        open_bins
                            .values_mut()
                            .chain(closed.iter_mut())
                            .filter_map(Bin::terms_mut),
                    );
                    stats.term_tables_fitted += 1;
                }
                stats.bins_closed += 1;
                next += config.bin_seconds;
            }
            // Mentions for bins before the first closed one (older than
            // anything seen) cannot be placed any more.
            let first_open = state
                .last_closed
                .map_or(i64::MIN, |last| last + config.bin_seconds);
            if state
                .open_bins
                .keys()
                .next()
                .is_some_and(|start| *start < first_open)
            {
                let BrandState {
                    open_bins, terms, ..
                } = &mut **state;
                open_bins.retain(|start, bin| {
                    let keep = *start >= first_open;
                    if !keep {
                        terms.release_open(bin.terms());
                    }
                    keep
                });
            }
        }
        self.stats.hourly_tidies += u64::from(tidied);
        self.shared.shares.learn_pending();
        if tidied {
            self.shared.shares.hourly();
            if let Some(renamed) = self.shared.names.give_back_room() {
                for state in self.brands.values_mut() {
                    state.terms.rename_names(&renamed);
                }
            }
        }
        self.forget_idle_brands(watermark);
        if self.shared.sources.wants_pruning(tidied) {
            self.prune_sources();
        }
        // Brands come in the map's (seeded, random) order: the same stream
        // gives the same alerts in the same order on every run. Stable, so
        // a brand's changes at one time stay in the order they happened.
        alerts.sort_by(|left, right| {
            (left.detected_at, &left.brand).cmp(&(right.detected_at, &right.brand))
        });
        alerts
    }

    /// Frees the source names no brand's bin or sample names any more (a
    /// walk over every kept bin: hourly at most, or once per doubling).
    fn prune_sources(&mut self) {
        let mut used = vec![false; self.shared.sources.names.len()];
        let mut mark = |id: SourceId| {
            if let Some(flag) = used.get_mut(id as usize) {
                *flag = true;
            }
        };
        for state in self.brands.values() {
            // A sample's source is one of its bin's.
            for bin in state.open_bins.values().chain(&state.closed) {
                bin.sources().for_each(|(id, _)| mark(*id));
            }
        }
        self.shared.sources.keep_only(&used);
    }

    /// Forgets the brands idle for `forget_idle_bins` (looked for once an
    /// hour of stream time: a brand idle for days can wait an hour more).
    fn forget_idle_brands(&mut self, watermark: i64) {
        let bin_seconds = self.config.bin_seconds;
        let idle_seconds = (self.config.forget_idle_bins as i64).saturating_mul(bin_seconds);
        if idle_seconds == 0
            || self
                .idle_checked_at
                .is_some_and(|checked| watermark - checked < IDLE_CHECK_SECONDS)
        {
            return;
        }
        self.idle_checked_at = Some(watermark);
        let before = self.brands.len();
        let names = &mut self.shared.names;
        self.brands.retain(|_, state| {
            let idle = state.is_idle(watermark, idle_seconds, bin_seconds);
            if idle {
                state.terms.release_names(names);
            }
            !idle
        });
        self.stats.brands_forgotten += (before - self.brands.len()) as u64;
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
                let slot = kind_slot(kind);
                let rebuilt = state.incidents[slot].take();
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
                        state.cooldowns[slot] = None;
                        let peak = rebuilt
                            .as_ref()
                            .filter(|incident| incident.id == alert.id)
                            .map_or(alert.severity, |incident| incident.peak.max(alert.severity));
                        state.incidents[slot] = Some(Box::new(Incident {
                            id: alert.id.clone(),
                            severity: alert.severity,
                            peak,
                            onset_at: alert.onset_at.timestamp(),
                            calm_bins,
                            lower_bins,
                        }));
                    }
                    Some(alert) => {
                        report.closed += usize::from(rebuilt.is_some());
                        // A resolve carries the severity it closed at, not
                        // the peak before it: the re-read's own cool-down
                        // knows the peak when it saw the same incident.
                        let peak = state.cooldowns[slot]
                            .as_ref()
                            .map_or(alert.severity, |rebuilt| rebuilt.peak.max(alert.severity));
                        state.cooldowns[slot] = Some(Box::new(Cooldown {
                            resolved_at: alert.detected_at.timestamp(),
                            until: alert.detected_at.timestamp() + cooldown,
                            peak,
                        }));
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

/// Below this normal-approximation z a reading is calm whatever its exact
/// tail says; above it the exact tail decides (see [`crate::tails`]).
const EXACT_TAIL_FROM_Z: f64 = 1.5;

fn over_dispersed_z(observed: f64, expected: f64, dispersion: f64) -> f64 {
    clustered_count_z(observed, expected, dispersion, 1.0)
}

/// A share's reading: `successes` of `trials` against `share`, for
/// mentions that spread `inflation` times wider than independent ones
/// (threads; 1 for independent mentions).
fn binomial_z(successes: f64, trials: f64, share: f64, inflation: f64) -> f64 {
    let share = share.clamp(0.01, 0.98);
    if trials <= 0.0 {
        return 0.0;
    }
    let normal_z =
        (successes - trials * share) / (inflation * trials * share * (1.0 - share)).sqrt();
    if normal_z < EXACT_TAIL_FROM_Z {
        return normal_z;
    }
    tails::clustered_binomial_z(successes, trials, share, inflation)
}

/// A count against what the expected volume holds of it, over-dispersed,
/// for mentions in threads as in [`binomial_z`] (1: independent).
fn clustered_count_z(observed: f64, expected: f64, dispersion: f64, inflation: f64) -> f64 {
    let mean = expected.max(0.5);
    let normal_z = (observed - mean) / (inflation * mean + mean * mean / dispersion).sqrt();
    if normal_z < EXACT_TAIL_FROM_Z {
        return normal_z;
    }
    tails::clustered_negative_binomial_z(observed, mean, dispersion, inflation)
}

/// The stronger of a share surge (binomial: `part` of `total` against the
/// usual share) and a count surge (`part` against the usual share of the
/// expected volume, over-dispersed); returns (z, expected part). Mentions
/// that come in threads spread wider: the brand's learned [`ShareSpread`]
/// (`inflation`, the variance over the binomial's) sets how long its
/// threads run, and both tails are read for counts summed over threads
/// of geometric length ([`tails::clustered_binomial_z`]).
fn surge_reading(
    part: f64,
    total: f64,
    expected_total: f64,
    share: f64,
    inflation: f64,
    thresholds: &Thresholds,
) -> (f64, f64) {
    let share_z = binomial_z(part, total, share, inflation);
    let count_expected = expected_total * share;
    let count_z = clustered_count_z(part, count_expected, thresholds.dispersion, inflation);
    if count_z > share_z {
        (count_z, count_expected)
    } else {
        (share_z, total * share)
    }
}

/// Whether `part` of `total` lifts a share enough to matter (significance
/// is the z's job): by `min_lift` points, to `min_ratio` times its baseline
/// and 2 points above, or by `min_excess` mentions over what the baseline
/// share predicts.
fn share_lifted(
    part: f64,
    total: f64,
    baseline: f64,
    min_lift: f64,
    min_ratio: f64,
    min_excess: f64,
) -> bool {
    if total <= 0.0 {
        return false;
    }
    let share = part / total;
    share >= baseline + min_lift
        || (share >= baseline * min_ratio && share >= baseline + 0.02)
        || part - total * baseline >= min_excess
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

/// How a term is read in the term window `slot`, of `held` bins.
#[derive(Clone, Copy)]
struct TermWindowScale {
    /// What a term's baseline expects in the mentions read, per unit of
    /// its rate: a term's rate over the brand's level (both
    /// deseasonalised) is its usual share of the brand's mentions, and it
    /// expects that share of the window's mentions, thinned by the
    /// brand's term sample. Read against the brand's expected volume
    /// instead, every word of a brand whose volume runs ahead of its
    /// baseline (the daily rise while the seasonal factors are still being
    /// learned, a viral spike) read as emerging: 5 incidents per
    /// brand-week on the word-list streams. (A factor, not a function of
    /// the rate: the busy-term scan multiplies it into every term's rate.)
    per_rate: f64,
    /// The window's mentions whose terms were read (in expectation): what
    /// a term's share across brands is a share of.
    mentions_read: f64,
}

impl TermWindowScale {
    /// A window not configured: no term qualifies there (a count is never
    /// at least infinity, nor NaN).
    const UNUSED: TermWindowScale = TermWindowScale {
        per_rate: f64::INFINITY,
        mentions_read: 0.0,
    };

    fn of(state: &BrandState, slot: usize, held: usize) -> Self {
        let sampled = state.term_sampling.share();
        let mentions = f64::from(state.windows[slot].total);
        let per_rate = if state.baseline.level > 0.0 {
            mentions / state.baseline.level
        } else {
            held as f64
        };
        TermWindowScale {
            per_rate: sampled * per_rate,
            mentions_read: sampled * mentions,
        }
    }
}

/// A term's reading on a window: (z, count, expected, term).
type TermReading<'a> = (f64, u32, f64, TermId, &'a str);

/// Scores the brand's windows and returns the strongest reading per kind.
fn readings(
    state: &BrandState,
    config: &DetectorConfig,
    windows: &Windows,
    global: &Shared,
) -> [Option<Reading>; 4] {
    let baseline = &state.baseline;
    let thresholds = &state.thresholds;
    let warmed_up = baseline.bins_observed >= config.warmup_bins;
    let mut best: [Option<Reading>; 4] = Default::default();
    let Some(last_start) = state.last_closed else {
        return best;
    };
    let rate_bin_index = windows.term_rate_bin_index(last_start);
    // Per window: bins held, and how a term is read there.
    let mut held = [0usize; MAX_WINDOWS];
    let mut scales = [TermWindowScale::UNUSED; MAX_WINDOWS];
    for (slot, &window) in windows.terms.iter().enumerate() {
        held[slot] = state.closed_bins.min(window);
        scales[slot] = TermWindowScale::of(state, slot, held[slot]);
    }
    // The strongest new term per window: (z, count, expected, term). Only
    // terms seen at least 3 times can qualify (count >= 3 (expected + 1)).
    let mut top_terms: [Option<TermReading<'_>>; MAX_WINDOWS] = Default::default();
    let mut backers = Backers::default();
    let mut terms_tested = 0;
    // Term rates learn a window late: until a brand's terms have learned
    // from a window's worth of bins, every term reads as new.
    let longest_term_bins = windows.terms[windows.longest_term];
    let terms_ready = baseline.bins_observed >= 2 * longest_term_bins as u64
        && state
            .term_sampling
            .whole(last_start, longest_term_bins, config.bin_seconds);
    for (busy, entry) in state.terms.busy_terms().filter(|_| terms_ready) {
        terms_tested += 1;
        let (id, in_windows) = (busy.id, &busy.in_windows);
        let rate = entry.rate.at(rate_bin_index);
        // Most terms run at their usual rate in every window: one pass
        // over all windows at once, without branches, skips them (and the
        // global share's lookup); it was most of the scan's time.
        let mut over_usual = 0u32;
        for slot in 0..MAX_WINDOWS {
            let usual = 3.0 * (rate * scales[slot].per_rate + 1.0);
            over_usual |= u32::from(f64::from(in_windows[slot]) >= usual) << slot;
        }
        if over_usual == 0 {
            continue;
        }
        for slot in 0..windows.terms.len() {
            if over_usual & (1 << slot) == 0 {
                continue;
            }
            let count = in_windows[slot];
            let mut expected = rate * scales[slot].per_rate;
            expected = global.shares.at_least_share(
                expected,
                state.terms.name(&global.names, id),
                scales[slot].mentions_read,
            );
            if f64::from(count) < 3.0 * (expected + 1.0) {
                continue;
            }
            let z = over_dispersed_z(f64::from(count), expected, thresholds.dispersion);
            // Ties go to the first name, whatever the map's order.
            let name = state.terms.name(&global.names, id);
            if top_terms[slot]
                .as_ref()
                .is_none_or(|(best_z, _, _, _, best)| z > *best_z || (z == *best_z && name < *best))
            {
                top_terms[slot] = Some((z, count, expected, id, name));
            }
            backers.consider(
                entry.mood,
                Backer {
                    z,
                    count,
                    term: id,
                    name,
                    term_window: slot,
                    term_window_bins: held[slot],
                },
                baseline,
            );
        }
    }
    // No term at all qualifying is a calm reading, not none: an open
    // emerging-terms incident must count it towards resolving (without it,
    // an incident stayed open, and the brand's later terms unheard, for good).
    if top_terms.iter().all(Option::is_none) && !windows.terms.is_empty() {
        best[kind_slot(AlertKind::EmergingTerms)] = Some(Reading {
            kind: AlertKind::EmergingTerms,
            z: 0.0,
            severity: None,
            observed: 0.0,
            expected: 0.0,
            counts: state.windows[0],
            window_bins: held[0],
            term_window: 0,
            term_window_bins: held[0],
            top_term: None,
            corroborated: false,
        });
    }
    // A new term informs and explains (it is evidence in every alert);
    // pages come from the negative and toxicity detectors, which a term at
    // `watch` lets page sooner (`corroborate`).
    for (slot, top) in top_terms.iter().enumerate().take(windows.terms.len()) {
        let Some((term_z, count, expected, term, _)) = *top else {
            continue;
        };
        // The strongest of many terms: read as one reading, or a busy
        // brand's vocabulary throws up a 3-sigma term most minutes by
        // chance (an incident every few hours per brand, never calm).
        let z = tails::family_z(term_z, terms_tested);
        let severity =
            severity_for(z, count, thresholds).map(|severity| severity.min(Severity::Watch));
        keep_strongest(
            &mut best,
            Reading {
                kind: AlertKind::EmergingTerms,
                z,
                severity,
                observed: f64::from(count),
                expected,
                counts: state.windows[slot],
                window_bins: held[slot],
                term_window: slot,
                term_window_bins: held[slot],
                top_term: Some(term),
                corroborated: false,
            },
            warmed_up,
        );
    }
    // The count detectors scan windows of several lengths ending with the
    // newest bin: a crisis k minutes old reads strongest on a window of
    // about k bins, where older calm bins do not dilute it.
    let closed_bins = state.closed_bins;
    // A thread carries every label its first post had, so toxic counts
    // spread at least as the negative ones do; a rare label's own spread
    // is learned from few mentions and read low (on streams where threads
    // take 30% of the mentions, toxic false pages went from 87 to 49).
    let negative_inflation = baseline.negative_spread.inflation(windows.counts[0]);
    let inflations = Inflations {
        negative: negative_inflation,
        toxic: baseline
            .toxic_spread
            .inflation(windows.counts[0])
            .max(negative_inflation),
    };
    let mut seasonal = SeasonalWalk::new(baseline, last_start, config.bin_seconds);
    let mut previous_bins = 0;
    for (slot, &window) in windows.counts.iter().enumerate() {
        // Windows longer than the bins held all read the same bins: once.
        let window_bins = closed_bins.min(window);
        if window_bins == previous_bins {
            continue;
        }
        previous_bins = window_bins;
        let expected = baseline.level * seasonal.sum(window_bins);
        let term_window = term_window_for(&windows.terms, window_bins);
        let counts = state.count_sums[slot];
        for reading in count_readings(
            counts,
            expected,
            window_bins,
            thresholds,
            baseline,
            inflations,
        ) {
            keep_strongest(
                &mut best,
                Reading {
                    term_window,
                    term_window_bins: held[term_window],
                    ..reading
                },
                warmed_up,
            );
        }
    }
    if warmed_up {
        backers.terms_tested = terms_tested;
        corroborate(&mut best, thresholds, &backers);
    }
    best
}

/// Two signals that agree page sooner than either alone: a negative or
/// toxicity surge at `corroborated_z` or more (short of `warning_z`), with
/// enough mentions for a warning, is a warning while an emerging term is
/// at `watch` in the same bin close. A crisis has a subject (a recall, a
/// hashtag, a name) that its posts share; chance negatives do not.
/// On the tuning streams (seeds 11-14, real texts) this paged the crises
/// it already paged 0.5-4 minutes sooner at the median (p90 up to 20
/// minutes sooner) for 5 more false pages in 320 brand-weeks; see
/// BENCHMARKS.md.
fn corroborate(best: &mut [Option<Reading>; 4], thresholds: &Thresholds, backers: &Backers<'_>) {
    for (kind, backer) in [
        (AlertKind::NegativeSurge, &backers.negative),
        (AlertKind::ToxicitySurge, &backers.toxic),
    ] {
        let (Some(reading), Some(backer)) = (best[kind_slot(kind)].as_mut(), backer) else {
            continue;
        };
        let term_z = tails::family_z(backer.z, backers.terms_tested);
        if severity_for(term_z, backer.count, thresholds).is_some()
            && reading
                .severity
                .is_none_or(|severity| severity < Severity::Warning)
            && reading.z >= thresholds.corroborated_z
            && reading.observed >= f64::from(thresholds.min_warning_count)
        {
            reading.severity = Some(Severity::Warning);
            // The term leads the evidence (and the summary names it): it
            // is half of why this pages.
            reading.top_term = Some(backer.term);
            reading.term_window = backer.term_window;
            reading.term_window_bins = backer.term_window_bins;
            reading.corroborated = true;
        }
    }
}

/// How many times the brand's own negative (or toxic) share a term's
/// recent mentions must be to back a surge of that kind ([`corroborate`]),
/// or halfway to all of them where that is less. A busy brand's chance
/// clusters of words (a topic, a retweeted text) are as negative as the
/// brand; a crisis's subject is in its posts. Relative, not absolute: a
/// brigade's tag also rides on the brand's other complaints, so it is
/// far from all toxic, but far more than the brand's usual 5%. Chosen on
/// the tuning seeds (BENCHMARKS.md): 2.0 paged no sooner.
const BACKER_SHARE_LIFT: f64 = 1.5;

/// The share of a term's recent mentions a surge's kind needs to back it.
fn backer_share_needed(brand_share: f64) -> f64 {
    (BACKER_SHARE_LIFT * brand_share).min((1.0 + brand_share) / 2.0)
}

/// A term that could back a surge: its strongest window's reading.
#[derive(Clone, Copy)]
struct Backer<'a> {
    z: f64,
    count: u32,
    term: TermId,
    name: &'a str,
    term_window: usize,
    term_window_bins: usize,
}

/// The strongest term whose mentions are negative, and toxic, well beyond
/// the brand's own shares, and how many terms were read (the family their
/// z is corrected for).
#[derive(Default)]
struct Backers<'a> {
    negative: Option<Backer<'a>>,
    toxic: Option<Backer<'a>>,
    terms_tested: usize,
}

impl<'a> Backers<'a> {
    fn consider(&mut self, mood: TermMood, candidate: Backer<'a>, baseline: &Baseline) {
        for (share, slot, needed) in [
            (
                mood.negative_share(),
                &mut self.negative,
                backer_share_needed(baseline.negative_share()),
            ),
            (
                mood.toxic_share(),
                &mut self.toxic,
                backer_share_needed(baseline.toxic_share()),
            ),
        ] {
            // Ties go to the first name, whatever the map's order.
            if share >= needed
                && slot.as_ref().is_none_or(|best| {
                    candidate.z > best.z || (candidate.z == best.z && candidate.name < best.name)
                })
            {
                *slot = Some(candidate);
            }
        }
    }
}

/// Keeps the stronger of `candidate` and the reading of its kind so far; a
/// brand still warming up reads `watch` at most.
fn keep_strongest(best: &mut [Option<Reading>; 4], mut candidate: Reading, warmed_up: bool) {
    if !warmed_up {
        candidate.severity = candidate
            .severity
            .map(|severity| severity.min(Severity::Watch));
    }
    let current = &mut best[kind_slot(candidate.kind)];
    if current
        .as_ref()
        .is_none_or(|current| (candidate.severity, candidate.z) > (current.severity, current.z))
    {
        *current = Some(candidate);
    }
}

/// The term window whose terms explain a count window of `window_bins`:
/// the shortest at least as long, else the longest.
fn term_window_for(windows: &[usize], window_bins: usize) -> usize {
    let covering = windows
        .iter()
        .enumerate()
        .filter(|(_, window)| **window >= window_bins)
        .min_by_key(|(_, window)| **window);
    let longest = windows
        .iter()
        .enumerate()
        .max_by_key(|(_, window)| **window);
    covering.or(longest).map_or(0, |(slot, _)| slot)
}

/// How much wider than the binomial's the negative and toxic counts spread
/// ([`ShareSpread::inflation`]).
#[derive(Clone, Copy)]
struct Inflations {
    negative: f64,
    toxic: f64,
}

/// The volume, negative and toxicity readings of one window.
fn count_readings(
    counts: WindowCounts,
    expected: f64,
    window_bins: usize,
    thresholds: &Thresholds,
    baseline: &Baseline,
    inflations: Inflations,
) -> [Reading; 3] {
    let total = f64::from(counts.total);
    let negative = f64::from(counts.negative);
    let toxic = f64::from(counts.toxic);
    let negative_lifted = share_lifted(
        negative,
        total,
        baseline.negative_share(),
        thresholds.min_share_lift,
        thresholds.min_share_ratio,
        f64::INFINITY,
    );

    let volume_z = over_dispersed_z(total, expected, thresholds.dispersion);
    let mut volume_severity = severity_for(volume_z, counts.total, thresholds);
    // A spike without a turn to negative (a launch going viral) informs, never pages.
    if !negative_lifted {
        volume_severity = volume_severity.map(|severity| severity.min(Severity::Watch));
    }

    // Two views of a turn to negative, whichever is stronger: the share
    // among the window's mentions (a collapse without more volume), and
    // the count against the negatives a normal window holds (a slow burn
    // whose volume and share both rise, neither enough on its own).
    let (negative_z, negative_expected) = if negative_lifted {
        surge_reading(
            negative,
            total,
            expected,
            baseline.negative_share(),
            inflations.negative,
            thresholds,
        )
    } else {
        (0.0, total * baseline.negative_share())
    };
    let negative_severity = severity_for(negative_z, counts.negative, thresholds);

    let toxic_lifted = share_lifted(
        toxic,
        total,
        baseline.toxic_share(),
        thresholds.min_share_lift / 2.0,
        thresholds.min_share_ratio,
        thresholds.min_toxic_excess,
    );
    let (toxic_z, toxic_expected) = if toxic_lifted {
        surge_reading(
            toxic,
            total,
            expected,
            baseline.toxic_share(),
            inflations.toxic,
            thresholds,
        )
    } else {
        (0.0, total * baseline.toxic_share())
    };
    let toxic_severity = severity_for(toxic_z, counts.toxic, thresholds);

    let reading = |kind, z, severity, observed, expected| Reading {
        kind,
        z,
        severity,
        observed,
        expected,
        counts,
        window_bins,
        term_window: 0,
        term_window_bins: 0,
        top_term: None,
        corroborated: false,
    };
    [
        reading(
            AlertKind::VolumeSpike,
            volume_z,
            volume_severity,
            total,
            expected,
        ),
        reading(
            AlertKind::NegativeSurge,
            negative_z,
            negative_severity,
            negative,
            negative_expected,
        ),
        reading(
            AlertKind::ToxicitySurge,
            toxic_z,
            toxic_severity,
            toxic,
            toxic_expected,
        ),
    ]
}

/// Turns readings into incident state changes for one brand at one bin close.
fn evaluate(
    brand: &str,
    state: &mut BrandState,
    config: &DetectorConfig,
    windows: &Windows,
    decision_time: i64,
    global: &Shared,
) -> (Vec<Alert>, Anomalies) {
    let mut alerts = Vec::new();
    let mut anomalies = Anomalies::default();
    let thresholds = state.thresholds;
    for reading in readings(state, config, windows, global)
        .into_iter()
        .flatten()
    {
        let kind = reading.kind;
        let slot = kind_slot(kind);
        if reading.z >= thresholds.watch_z {
            match kind {
                AlertKind::VolumeSpike => anomalies.volume = true,
                AlertKind::NegativeSurge => anomalies.negative = true,
                AlertKind::ToxicitySurge => anomalies.toxic = true,
                // Term rates learn a window late instead (`learn_term_rates`).
                AlertKind::EmergingTerms => {}
            }
        }
        let (incident, status) = match (state.incidents[slot].take(), reading.severity) {
            (None, None) => continue,
            (None, Some(severity)) => {
                if state.cooldowns[slot]
                    .as_ref()
                    .is_some_and(|cooldown| cooldown.holds_back(decision_time, severity))
                {
                    continue;
                }
                let mut onset = estimate_onset(state, &reading, config);
                if let Some(cooldown) = &state.cooldowns[slot] {
                    // The first bin still open when the last one resolved.
                    onset = onset.max(
                        cooldown.resolved_at - cooldown.resolved_at.rem_euclid(config.bin_seconds),
                    );
                }
                let incident = Box::new(Incident {
                    id: format!("{brand}:{}:{onset}", kind.as_str()),
                    severity,
                    peak: severity,
                    onset_at: onset,
                    calm_bins: 0,
                    lower_bins: 0,
                });
                (incident, Some(AlertStatus::Firing))
            }
            (Some(mut incident), severity) => {
                let status =
                    advance_incident(&mut incident, severity, reading.z, &thresholds, config);
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
                windows,
                global,
            ));
        }
        if status == Some(AlertStatus::Resolved) {
            state.cooldowns[slot] = Some(Box::new(Cooldown {
                resolved_at: decision_time,
                until: decision_time + i64::from(config.cooldown_bins) * config.bin_seconds,
                peak: incident.peak,
            }));
        } else {
            state.incidents[slot] = Some(incident);
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
            incident.peak = incident.peak.max(severity);
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
    let newest = state.last_closed.unwrap_or(0);
    let mut onset = newest;
    let kept = state.closed_within(reading.window_bins, config.bin_seconds);
    for (age, bin) in (0..).zip(kept) {
        // A bin missing here was empty, which is not above anything: the
        // run ends there.
        if bin.start != newest - age * config.bin_seconds {
            break;
        }
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

// Each argument is a different part of what an alert reports; a struct
// built for this one call would only rename them.
#[allow(clippy::too_many_arguments)]
fn build_alert(
    brand: &str,
    state: &BrandState,
    incident: &Incident,
    reading: &Reading,
    status: AlertStatus,
    decision_time: i64,
    windows: &Windows,
    global: &Shared,
) -> Alert {
    let window_counts = reading.counts;
    let last_start = state.last_closed.unwrap_or(0);
    // Term counts are of the mentions read; the evidence reports what they
    // stand for, all of the window's mentions. (In the window after the
    // sample changed, its bins mix two samples: terms do not emerge then,
    // and a surge's evidence scales them by the newer one.)
    let sampled = state.term_sampling.share();
    let scale = TermWindowScale::of(state, reading.term_window, reading.term_window_bins);
    let rate_bin_index = windows.term_rate_bin_index(last_start);
    let mut terms: Vec<TermEvidence> = state
        .terms
        .busy_terms()
        .filter(|(busy, _)| busy.in_windows[reading.term_window] >= MIN_TERM_COUNT)
        .map(|(busy, entry)| {
            let name = state.terms.name(&global.names, busy.id);
            TermEvidence {
                term: name.to_owned(),
                observed: f64::from(busy.in_windows[reading.term_window]),
                // As `readings` reads it.
                expected: global.shares.at_least_share(
                    entry.rate.at(rate_bin_index) * scale.per_rate,
                    name,
                    scale.mentions_read,
                ),
            }
        })
        .filter(|term| term.observed > 2.0 * (term.expected + 0.5))
        .map(|term| TermEvidence {
            observed: term.observed / sampled,
            expected: term.expected / sampled,
            ..term
        })
        .collect();
    // An emerging-terms alert leads with its own term (the one its summary
    // names); the rest by excess, which in a volume surge favours the
    // brand's common words.
    let leading = reading
        .top_term
        .map(|term| state.terms.name(&global.names, term));
    terms.sort_by(|left, right| {
        (Some(right.term.as_str()) == leading)
            .cmp(&(Some(left.term.as_str()) == leading))
            .then((right.observed - right.expected).total_cmp(&(left.observed - left.expected)))
            .then_with(|| left.term.cmp(&right.term))
    });
    terms.truncate(5);
    let samples = state.evidence_samples(reading.window_bins, windows.bin_seconds, reading.kind);
    let mut sources: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
    for bin in state.closed_within(reading.window_bins, windows.bin_seconds) {
        for (source, count) in bin.sources() {
            *sources
                .entry(global.sources.name(*source).to_owned())
                .or_default() += u64::from(*count);
        }
    }
    let window_seconds = reading.window_bins as u64 * windows.bin_seconds as u64;
    let total = f64::from(window_counts.total);
    let negative_share = (total > 0.0).then(|| f64::from(window_counts.negative) / total);
    let toxicity_share = (total > 0.0).then(|| f64::from(window_counts.toxic) / total);
    let window_minutes = window_seconds / 60;
    let (observed, expected) = match reading.kind {
        AlertKind::EmergingTerms => (reading.observed / sampled, reading.expected / sampled),
        _ => (reading.observed, reading.expected),
    };
    // Where a term's count stands for mentions not read, the summary says so.
    let sample_note = if sampled < 1.0 {
        format!(" (terms read in 1 of {:.0} mentions)", 1.0 / sampled)
    } else {
        String::new()
    };
    let observed_text =
        |noun: &str| format!("{observed} {noun} in {window_minutes} min vs {expected:.1} expected");
    let reading_text = match reading.kind {
        AlertKind::VolumeSpike => observed_text("mentions"),
        AlertKind::NegativeSurge => observed_text("negative mentions"),
        AlertKind::ToxicitySurge => observed_text("toxic mentions"),
        AlertKind::EmergingTerms => match reading.top_term {
            Some(term) => {
                observed_text(&format!(
                    "mentions of \"{}\"",
                    state.terms.name(&global.names, term)
                )) + &sample_note
            }
            // A calm reading (how an emerging-terms incident resolves).
            None => format!("no term above its usual rate in {window_minutes} min"),
        },
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
    // The leading term's evidence is the term reading's own count and
    // expectation: the same window, rate and mentions.
    let corroboration = match terms.first() {
        Some(term) if reading.corroborated && Some(term.term.as_str()) == leading => format!(
            ", with \"{}\" {} times vs {:.1} expected{sample_note}",
            term.term, term.observed, term.expected
        ),
        _ => String::new(),
    };
    let summary = format!(
        "{verb}{brand} {}: {reading_text}{corroboration} (negative {:.0}%, toxic {:.0}%){}",
        incident.severity.as_str(),
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
            observed,
            expected,
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
                .map(|sample| sample.to_sample(&global.sources))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{generate_with_texts, SynthBrand, TextPool};
    use chrono::{Datelike, Timelike};

    #[test]
    fn hour_and_weekday_agree_with_the_calendar() {
        for start in (-86_400 * 30..86_400 * 400).step_by(3_593) {
            let time = DateTime::from_timestamp(start, 0).expect("time");
            assert_eq!(
                hour_and_weekday(start),
                (
                    time.hour() as usize,
                    time.weekday().num_days_from_monday() as usize
                )
            );
        }
    }

    /// Empty bins that the brand's rate makes all but impossible (an
    /// ingestion gap) teach the baseline nothing; a quiet brand's ordinary
    /// silence, and the first empty minute of a busy one, still teach it.
    #[test]
    fn an_ingestion_gap_is_not_learned_and_a_quiet_silence_is() {
        let dispersion = Thresholds::default().dispersion;
        // A midnight.
        let start: i64 = 1_793_577_600;
        // A day at `per_day_bin(minute)` mentions a minute, then `silent`
        // empty minutes: the level and hour factors before and after them.
        let learn = |per_day_bin: &dyn Fn(i64) -> u32, silent: i64| {
            let mut baseline = Baseline::new();
            let learn_bin = |baseline: &mut Baseline, minute: i64, total: u32| {
                let mut bin = Bin::empty(start + minute * 60);
                bin.total = total;
                baseline.learn(&mut bin, dispersion, &Anomalies::default());
            };
            for minute in 0..24 * 60 {
                learn_bin(&mut baseline, minute, per_day_bin(minute));
            }
            let before = (baseline.level, baseline.hour_of_day[0]);
            for minute in 24 * 60..24 * 60 + silent {
                learn_bin(&mut baseline, minute, 0);
            }
            assert_eq!(baseline.bins_observed, (24 * 60 + silent) as u64);
            (before, (baseline.level, baseline.hour_of_day[0]))
        };
        // 30 a minute, then an hour without one: its first empty minute
        // (a one-in-14-million chance) is learned, the rest are a gap.
        let ((level, hour), (level_after, hour_after)) = learn(&|_| 30, 60);
        let after_one = level * (1.0 - LEVEL_ALPHA);
        assert!(
            (level_after - after_one).abs() < 1e-9,
            "{level} -> {level_after}"
        );
        let hour_after_one = hour + SEASONAL_ALPHA * (0.1 - hour);
        assert!(
            (hour_after - hour_after_one).abs() < 1e-9,
            "{hour} -> {hour_after}"
        );
        // One a half hour, then three silent hours: ordinary, learned.
        let ((level, _), (level_after, _)) = learn(&|minute| u32::from(minute % 30 == 0), 180);
        let after_all = level * (1.0 - LEVEL_ALPHA).powi(180);
        assert!(
            (level_after - after_all).abs() < 1e-9,
            "{level} -> {level_after}"
        );
    }

    #[test]
    fn seasonal_sum_equals_the_sum_over_bins() {
        let mut baseline = Baseline::new();
        for (slot, factor) in baseline.hour_of_day.iter_mut().enumerate() {
            *factor = 0.5 + slot as f64 / 10.0;
        }
        baseline.day_of_week[2] = 1.7;
        for (last_start, bins, bin_seconds) in [
            (1_793_577_600 + 59 * 60, 60, 60),
            (1_793_577_600 + 7 * 60, 60, 60),
            (1_793_577_600, 1, 60),
            (1_793_577_600 + 3_599, 200, 45),
            (1_793_577_600 + 3 * 86_400, 10, 900),
        ] {
            let naive: f64 = (0..bins as i64)
                .map(|back| baseline.seasonal_factor(last_start - back * bin_seconds))
                .sum();
            let sum = baseline.seasonal_sum(last_start, bins, bin_seconds);
            assert!((sum - naive).abs() < 1e-9, "{sum} vs {naive}");
        }
    }

    /// A walk asked for growing lengths (the count windows) gives at each
    /// the bits of a fresh one (`seasonal_sum`),
    /// across hour and day boundaries and for bins that do not divide an hour.
    #[test]
    fn the_seasonal_walk_equals_seasonal_sum_bit_for_bit() {
        let mut baseline = Baseline::new();
        for (slot, factor) in baseline.hour_of_day.iter_mut().enumerate() {
            *factor = 0.3 + (slot as f64 * 0.37).sin().abs();
        }
        for (slot, factor) in baseline.day_of_week.iter_mut().enumerate() {
            *factor = 0.7 + slot as f64 / 9.0;
        }
        for bin_seconds in [60, 45, 300, 7_200] {
            for offset in [0, 59 * 60, 3_599, 86_400 - 60, 5 * 86_400 + 1_234] {
                let last_start: i64 = 1_793_577_600 + offset;
                let last_start = last_start - last_start.rem_euclid(bin_seconds);
                for step in [1, 2, 7, 13] {
                    let mut walk = SeasonalWalk::new(&baseline, last_start, bin_seconds);
                    for bins in (1..=200).step_by(step) {
                        let walked = walk.sum(bins);
                        let summed = baseline.seasonal_sum(last_start, bins, bin_seconds);
                        assert_eq!(
                            walked.to_bits(),
                            summed.to_bits(),
                            "{bins} bins of {bin_seconds} s before {last_start}: {walked} vs {summed}"
                        );
                    }
                }
            }
        }
    }

    /// The incrementally kept window sums equal sums recomputed from the
    /// closed bins after every bin close, including after a long gap.
    #[test]
    fn incremental_window_sums_equal_recomputed_ones() {
        check_incremental_sums(None, 0, 0.0);
    }

    /// The same with a vocabulary of thousands of words, long and short,
    /// most of them rare (as in real texts): terms enter and leave the busy
    /// list, are forgotten as too rare, and long names are compacted.
    #[test]
    fn incremental_window_sums_hold_with_a_large_vocabulary() {
        check_incremental_sums(Some(&TextPool::made_up(23, 4000, 300)), 0, 0.0);
    }

    /// The same with the busier brand's terms read from a sample of its
    /// mentions (1 in 4 once its level is learned, all before): the
    /// windows and holds count exactly the mentions read.
    #[test]
    fn incremental_window_sums_hold_when_terms_are_sampled() {
        check_incremental_sums(Some(&TextPool::made_up(23, 4000, 300)), 0, 40.0);
    }

    /// The same at a term limit far below the brands' vocabulary: terms are
    /// shed from the table and from every bin at once, and the windows,
    /// the holds and the busy list stay exact for the terms kept.
    #[test]
    fn incremental_window_sums_hold_when_terms_are_shed() {
        check_incremental_sums(Some(&TextPool::made_up(23, 4000, 300)), 64, 0.0);
    }

    /// A busy brand tests a thousand terms at every bin close: the
    /// strongest of them must read as one reading, or by chance alone one
    /// reaches the watch z most minutes, and emerging-terms incidents open
    /// every few hours (measured: 5 a day per brand on real texts). The
    /// same with its terms read from a sample of its mentions.
    #[test]
    fn a_large_vocabulary_does_not_make_emerging_terms_chatty() {
        // Every mention read: hundreds of terms tested at each close.
        check_a_large_vocabulary_is_quiet(0.0, 200);
        // 1 in 4 read (375 an hour): fewer terms, the same quiet.
        check_a_large_vocabulary_is_quiet(DetectorConfig::default().term_sample_per_hour, 20);
    }

    fn check_a_large_vocabulary_is_quiet(term_sample_per_hour: f64, min_busy_terms: usize) {
        let pool = TextPool::made_up(29, 30_000, 3000);
        let brands = [SynthBrand {
            name: "busy".into(),
            mentions_per_hour: 1500.0,
            negative_share: 0.25,
            toxic_share: 0.03,
            thread_share: 0.0,
            repost_share: 0.0,
        }];
        let start = DateTime::from_timestamp(1_793_577_600, 0).expect("time");
        let mut detector = Detector::new(DetectorConfig {
            term_sample_per_hour,
            ..DetectorConfig::default()
        });
        let mut alerts = Vec::new();
        for mention in generate_with_texts(&brands, &[], start, 2 * 24 * 60, 13, Some(&pool)) {
            alerts.extend(detector.ingest(&mention));
        }
        let busy_terms = detector.brands["busy"].terms.busy_terms().count();
        assert!(busy_terms > min_busy_terms, "{busy_terms} terms tested");
        assert_eq!(
            detector.brands["busy"].term_sampling.shift,
            if term_sample_per_hour > 0.0 { 2 } else { 0 }
        );
        // After the first day (every word is new at first), hardly any
        // incident. Read term by term, the strongest of hundreds of terms
        // reaches the watch z by chance every few hours and the resolve z
        // most minutes: 9 incidents, open 914 minutes of the second day
        // (measured; none as one reading).
        let day_one = start + chrono::Duration::days(1);
        let end = start + chrono::Duration::days(2);
        let mut open_since = None;
        let mut open = chrono::Duration::zero();
        let mut incidents = 0;
        for alert in alerts
            .iter()
            .filter(|alert| alert.kind == AlertKind::EmergingTerms)
        {
            let at = alert.detected_at.max(day_one);
            match (alert.status, open_since) {
                (AlertStatus::Firing, None) => {
                    open_since = Some(at);
                    incidents += u32::from(alert.detected_at >= day_one);
                }
                (AlertStatus::Resolved, Some(since)) => {
                    open += at - since;
                    open_since = None;
                }
                _ => {}
            }
        }
        if let Some(since) = open_since {
            open += end - since;
        }
        assert!(
            open < chrono::Duration::hours(2) && incidents <= 2,
            "open {} min of the second day, {incidents} incidents",
            open.num_minutes(),
        );
    }

    /// A brand's busy hour (a viral day, a day's peak) leaves its term
    /// table with room for thousands of terms; when its volume falls back,
    /// the table gives that room back under new ids, and the terms it keeps
    /// read as before: windows, holds, busy list and counts by name are
    /// recounted from the bins right after each fitting.
    #[test]
    fn a_brand_gives_back_the_room_of_its_busy_hour() {
        let pool = TextPool::made_up(31, 20_000, 2000);
        let brand = |mentions_per_hour| {
            [SynthBrand {
                name: "viral".into(),
                mentions_per_hour,
                negative_share: 0.25,
                toxic_share: 0.03,
                thread_share: 0.0,
                repost_share: 0.0,
            }]
        };
        let start = DateTime::from_timestamp(1_793_577_600, 0).expect("time");
        let quiet_from = start + chrono::Duration::hours(1);
        let mut stream = generate_with_texts(&brand(3000.0), &[], start, 60, 17, Some(&pool));
        stream.extend(generate_with_texts(
            &brand(30.0),
            &[],
            quiet_from,
            3 * 60,
            18,
            Some(&pool),
        ));
        // Every mention read: the test places each one's terms itself.
        let mut detector = Detector::new(DetectorConfig {
            max_terms_per_brand: 0,
            term_sample_per_hour: 0.0,
            ..DetectorConfig::default()
        });
        let bin_seconds = detector.config.bin_seconds;
        let mut placed: HashMap<(String, i64), Vec<Vec<String>>> = HashMap::new();
        let mut busiest = (0, 0, 0);
        let mut busiest_bytes = StateBytes::default();
        let mut fitted_and_checked = 0;
        for (index, mention) in stream.iter().enumerate() {
            let fitted = detector.stats.term_tables_fitted;
            let (late, copies) = (detector.stats.late, detector.stats.text_copies);
            detector.ingest(mention);
            if detector.stats.late == late {
                let time = mention.mention.created_at.timestamp();
                let copied = detector.stats.text_copies > copies;
                placed
                    .entry(("viral".into(), time - time.rem_euclid(bin_seconds)))
                    .or_default()
                    .push(terms_placed(&mention.mention.text, "viral", copied));
            }
            let state = &detector.brands["viral"];
            if mention.mention.created_at < quiet_from {
                busiest = state.terms.room();
                busiest_bytes = detector.state_bytes();
            }
            // Right after each fitting, and now and then.
            if detector.stats.term_tables_fitted > fitted || index % 97 == 0 {
                check_windows_and_holds(
                    state,
                    &detector.shared.names,
                    &detector.windows,
                    bin_seconds,
                );
                check_counts_by_name(
                    "viral",
                    state,
                    &detector.shared.names,
                    &detector.windows,
                    bin_seconds,
                    &placed,
                );
                fitted_and_checked += usize::from(detector.stats.term_tables_fitted > fitted);
            }
        }
        let state = &detector.brands["viral"];
        let (slots, allocated, notes) = state.terms.room();
        assert!(busiest.0 > 2_000, "busy hour: {busiest:?}");
        assert!(
            slots * 4 < busiest.0 && allocated * 4 < busiest.1 && notes * 4 < busiest.2,
            "quiet hours: {:?} of {busiest:?} ({} live terms)",
            (slots, allocated, notes),
            state.terms.len()
        );
        assert!(fitted_and_checked > 0, "{:?}", detector.stats);
        // The names of the busy hour went, and the brand reads its own.
        check_names_held(&detector);
        // The gauges say so too.
        let bytes = detector.state_bytes();
        assert!(
            bytes.term_entries * 4 < busiest_bytes.term_entries
                && bytes.term_notes * 4 < busiest_bytes.term_notes
                && (bytes.total() - bytes.recent_texts) * 2
                    < busiest_bytes.total() - busiest_bytes.recent_texts,
            "quiet hours: {bytes:?}, busy hour: {busiest_bytes:?}"
        );
    }

    /// The terms a mention places in its bin, for the recounts: none for a
    /// copy of a recent text.
    fn terms_placed(text: &str, brand: &str, copied: bool) -> Vec<String> {
        match copied {
            true => Vec::new(),
            false => crate::terms::terms_of(text, brand),
        }
    }

    /// The windows' sums and the term table's holds and busy list, recounted
    /// from the brand's bins.
    fn check_windows_and_holds(
        state: &BrandState,
        names: &TermNames,
        windows: &Windows,
        bin_seconds: i64,
    ) {
        // Only bins with mentions are kept, and none older than the
        // longest window.
        let newest = state.last_closed.unwrap_or(0);
        let longest = windows.longest as i64;
        assert!(state
            .closed
            .iter()
            .all(|bin| bin.total > 0 && newest - bin.start < longest * bin_seconds));
        let sums = |window: usize| {
            let bins = bins_of_window(state, window, bin_seconds).into_iter();
            bins.fold((0, 0, 0), |(total, negative, toxic), bin| {
                (
                    total + bin.total,
                    negative + bin.negative,
                    toxic + bin.toxic,
                )
            })
        };
        for (slot, &window) in windows.counts.iter().enumerate() {
            let counts = state.count_sums[slot];
            assert_eq!(
                (counts.total, counts.negative, counts.toxic),
                sums(window),
                "count window {window}"
            );
        }
        for (slot, &window) in windows.terms.iter().enumerate() {
            let bins = bins_of_window(state, window, bin_seconds);
            let counts = state.windows[slot];
            assert_eq!((counts.total, counts.negative, counts.toxic), sums(window));
            let mut terms: HashMap<TermId, u32> = HashMap::new();
            for bin in &bins {
                for term in bin.terms() {
                    *terms.entry(term.id()).or_default() += term.count();
                }
            }
            for (id, _) in state.terms.window_terms() {
                assert_eq!(
                    state.terms.window_counts(id)[slot],
                    terms.get(&id).copied().unwrap_or(0),
                    "{} in window {window}",
                    state.terms.name(names, id)
                );
            }
            assert!(terms
                .keys()
                .all(|id| state.terms.window_terms().any(|(listed, _)| listed == *id)));
        }
        // The term table's holds are the bins' entries: a term is
        // listed for the windows exactly while a closed bin names
        // it, and one no bin names can be forgotten.
        let mut closed_bins: HashMap<TermId, u32> = HashMap::new();
        for bin in &state.closed {
            for term in bin.terms() {
                *closed_bins.entry(term.id()).or_default() += 1;
            }
        }
        let mut open_entries: HashMap<TermId, u32> = HashMap::new();
        for bin in state.open_bins.values() {
            for term in bin.terms() {
                *open_entries.entry(term.id()).or_default() += 1;
            }
        }
        state
            .terms
            .check_holds(names, &closed_bins, &open_entries, windows.terms.len());
    }

    /// The kept closed bins of the `window` bins up to the newest closed,
    /// by start time (empty bins are not kept).
    fn bins_of_window(state: &BrandState, window: usize, bin_seconds: i64) -> Vec<&Bin> {
        let newest = state.last_closed.unwrap_or(0);
        state
            .closed
            .iter()
            .filter(|bin| newest - bin.start < window as i64 * bin_seconds)
            .collect()
    }

    /// Every term's window counts are its mentions in the window's bins,
    /// counted by name from the placed mentions: a term seen twice or more
    /// in the kept bins has an entry with those counts; one seen once may
    /// instead be noted by hash alone, in its bin.
    fn check_counts_by_name(
        brand: &str,
        state: &BrandState,
        names: &TermNames,
        windows: &Windows,
        bin_seconds: i64,
        placed: &HashMap<(String, i64), Vec<Vec<String>>>,
    ) {
        let mentions_in = |start: i64| placed.get(&(brand.to_owned(), start)).into_iter().flatten();
        let kept_bins = state
            .closed
            .iter()
            .map(|bin| bin.start)
            .chain(state.open_bins.keys().copied());
        let mut in_kept: HashMap<&str, (u32, i64)> = HashMap::new();
        for start in kept_bins {
            for terms in mentions_in(start) {
                for term in terms {
                    in_kept.entry(term.as_str()).or_insert((0, start)).0 += 1;
                }
            }
        }
        for (term, (count, first_bin)) in &in_kept {
            match state.terms.find(names, term) {
                Some(_) => assert!(state.terms.seen_once_bin(names, term).is_none(), "{term}"),
                None => {
                    assert_eq!(*count, 1, "{term}: {count} mentions kept and no entry");
                    assert_eq!(
                        state.terms.seen_once_bin(names, term),
                        Some(*first_bin),
                        "{term}"
                    );
                }
            }
        }
        for (slot, &window) in windows.terms.iter().enumerate() {
            let mut counts: HashMap<&str, u32> = HashMap::new();
            for bin in bins_of_window(state, window, bin_seconds) {
                for terms in mentions_in(bin.start) {
                    for term in terms {
                        *counts.entry(term.as_str()).or_default() += 1;
                    }
                }
            }
            for (id, _) in state.terms.window_terms() {
                let name = state.terms.name(names, id);
                let expected = counts.get(name).copied().unwrap_or(0);
                assert_eq!(
                    state.terms.window_counts(id)[slot],
                    expected,
                    "{name} in window {window}"
                );
            }
            for (term, count) in counts {
                if let Some(id) = state.terms.find(names, term) {
                    let in_window = state.terms.window_counts(id)[slot];
                    assert_eq!(in_window, count, "{term} in window {window}");
                }
            }
        }
    }

    /// A busy brand's terms are read from 1 in 2^shift of its mentions,
    /// chosen by id alone; the shift keeps the sample between the floor
    /// and twice it, and changes only once the last change has left the
    /// window.
    #[test]
    fn a_term_sample_reads_its_share_and_moves_with_hysteresis() {
        for shift in 0..=4u8 {
            let sampling = TermSampling {
                shift,
                ..TermSampling::default()
            };
            let read = (0..100_000)
                .filter(|index| sampling.reads(&format!("synth-{index}"), 0))
                .count();
            let expected = 100_000.0 * sampling.share();
            assert!(
                (read as f64 - expected).abs() < 4.0 * expected.sqrt() + 1.0,
                "shift {shift}: {read} read, {expected} expected"
            );
            // The same ids, the same sample.
            assert_eq!(sampling.reads("synth-7", 0), sampling.reads("synth-7", 60));
        }
        let (window, bin) = (60, 60);
        let mut sampling = TermSampling::default();
        // Under twice the floor: every mention.
        assert!(!sampling.adjust(590.0, 300.0, (0, 60), window, bin));
        assert_eq!(sampling.shift, 0);
        // 3,000 an hour: 1 in 8 (375 an hour), from the first bin not
        // yet open on (two are).
        assert!(sampling.adjust(3000.0, 300.0, (0, 180), window, bin));
        assert_eq!((sampling.shift, sampling.since), (3, 180));
        assert_eq!(sampling.shift_of_bin(120), 0);
        assert_eq!(sampling.shift_of_bin(180), 3);
        assert!(sampling.reads("any", 120));
        // Not again until the window holds only bins of this sample.
        assert!(!sampling.whole(60 * 60, window, bin));
        assert!(!sampling.adjust(30_000.0, 300.0, (60 * 60, 61 * 60), window, bin));
        assert!(sampling.whole(62 * 60, window, bin));
        // Within the floor and twice it (and above half of it): kept.
        for per_hour in [1300.0, 2000.0, 4700.0] {
            assert!(!sampling.adjust(per_hour, 300.0, (62 * 60, 63 * 60), window, bin));
        }
        // Below half the floor: down to what keeps it above the floor.
        assert!(sampling.adjust(1000.0, 300.0, (62 * 60, 63 * 60), window, bin));
        assert_eq!((sampling.shift, sampling.previous_shift), (1, 3));
        // Off: every mention again.
        let mut sampling = TermSampling::default();
        assert!(!sampling.adjust(1e6, 0.0, (0, 60), window, bin));
        assert!(sampling.reads("any", 0));
    }

    /// `term_limit`: the detector's `max_terms_per_brand` (0: none). With
    /// one, terms are shed and counted again from their next mention, so
    /// the counts by name are not checked, only those by id.
    /// `term_sample_per_hour`: as the detector's (0: every mention read).
    fn check_incremental_sums(
        texts: Option<&TextPool>,
        term_limit: usize,
        term_sample_per_hour: f64,
    ) {
        let generate = |brands: &[SynthBrand], start, minutes, seed| {
            generate_with_texts(brands, &[], start, minutes, seed, texts)
        };
        let brands: Vec<SynthBrand> = [20.0, 300.0]
            .iter()
            .enumerate()
            .map(|(index, per_hour)| SynthBrand {
                name: format!("b{index}"),
                mentions_per_hour: *per_hour,
                negative_share: 0.3,
                toxic_share: 0.05,
                thread_share: 0.0,
                repost_share: 0.0,
            })
            .collect();
        let start = DateTime::from_timestamp(1_793_577_600, 0).expect("time");
        let mut stream = generate(&brands, start, 300, 7);
        // Three days of silence, then more.
        let later = start + chrono::Duration::days(3);
        stream.extend(generate(&brands, later, 120, 8));
        let mut detector = Detector::new(DetectorConfig {
            max_terms_per_brand: term_limit,
            term_sample_per_hour,
            ..DetectorConfig::default()
        });
        let bin_seconds = detector.config.bin_seconds;
        let mut most_terms = 0;
        // Each placed mention's distinct terms, by brand and bin: the counts
        // the windows must hold whichever terms have an entry.
        let mut placed: HashMap<(String, i64), Vec<Vec<String>>> = HashMap::new();
        let mut checked = 0;
        for (index, mention) in stream.iter().enumerate() {
            let left_out = |stats: &DetectorStats| stats.late + stats.future_outliers;
            let (before, copies) = (left_out(&detector.stats), detector.stats.text_copies);
            detector.ingest(mention);
            if left_out(&detector.stats) == before {
                let time = mention.mention.created_at.timestamp();
                let brand = mention.mention.brand.clone();
                let bin = time - time.rem_euclid(bin_seconds);
                // A copy's words, and those of a mention outside its
                // brand's sample (by its bin's), are not read.
                let not_read = detector.stats.text_copies > copies
                    || !detector.brands[brand.as_str()]
                        .term_sampling
                        .reads(&mention.mention.id, bin);
                placed
                    .entry((brand.clone(), bin))
                    .or_default()
                    .push(terms_placed(&mention.mention.text, &brand, not_read));
            }
            if index % 13 != 0 {
                continue;
            }
            for (brand, state) in &detector.brands {
                if term_limit == 0 {
                    check_counts_by_name(
                        brand,
                        state,
                        &detector.shared.names,
                        &detector.windows,
                        bin_seconds,
                        &placed,
                    );
                }
                most_terms = most_terms.max(state.terms.len());
                check_windows_and_holds(
                    state,
                    &detector.shared.names,
                    &detector.windows,
                    bin_seconds,
                );
                checked += 1;
            }
        }
        assert!(checked > 100);
        if term_sample_per_hour > 0.0 {
            // 300 an hour read from a sample from its second hour on (1 in
            // 2 here, from the level of its first hours): its three silent
            // days are an ingestion gap, which its level does not learn, so
            // it comes back read as before (until stop 47 the silence took
            // its level down, and it came back read whole); 20 an hour read
            // whole.
            let sampling = detector.brands["b1"].term_sampling;
            assert_eq!((sampling.previous_shift, sampling.shift), (0, 1));
            assert_eq!(detector.brands["b0"].term_sampling, TermSampling::default());
            let share = detector.stats.terms_unread as f64 / stream.len() as f64;
            assert!((0.1..0.75).contains(&share), "{share} of mentions unread");
        }
        if term_limit > 0 {
            // Shed at each bin close: a bin's new terms over the limit at most.
            assert!(detector.stats.terms_shed > 100, "{:?}", detector.stats);
            assert!(most_terms <= term_limit + 64, "{most_terms} terms");
        }
        if texts.is_some() {
            // Rare terms were forgotten on the way, long names with them.
            let mut seen: HashMap<&str, std::collections::HashSet<String>> = HashMap::new();
            for mention in &stream {
                let brand = mention.mention.brand.as_str();
                seen.entry(brand)
                    .or_default()
                    .extend(crate::terms::terms_of(&mention.mention.text, brand));
            }
            let mut long_names_seen = 0;
            for (brand, state) in &detector.brands {
                let distinct = &seen[brand.as_str()];
                let long_bytes: usize = distinct
                    .iter()
                    .filter(|t| t.len() > 8)
                    .map(|t| t.len())
                    .sum();
                assert!(
                    state.terms.len() * 2 < distinct.len(),
                    "{brand}: {} of {}",
                    state.terms.len(),
                    distinct.len()
                );
                long_names_seen += long_bytes;
            }
            let names = &detector.shared.names;
            assert!(names.long_name_bytes() < long_names_seen);
        }
        check_names_held(&detector);
    }

    /// Every name the detector keeps is held by the brands' live entries,
    /// as many times as they hold it, and no other.
    fn check_names_held(detector: &Detector) {
        let names = &detector.shared.names;
        let mut holders: HashMap<&str, u32> = HashMap::new();
        for state in detector.brands.values() {
            for id in state.terms.live_ids() {
                *holders.entry(state.terms.name(names, id)).or_default() += 1;
            }
        }
        assert_eq!(names.len(), holders.len());
        for (name, count) in holders {
            assert_eq!(names.holders_of(name), count, "{name}");
        }
    }

    /// A day and a half of shortest-window closes (10 bins each) of
    /// `per_window` mentions, each negative with the share `share_of(close)`.
    fn spread_after(per_window: u32, share_of: impl Fn(usize) -> f64, anomalous: bool) -> f64 {
        use rand::{rngs::StdRng, Rng, SeedableRng};
        let mut rng = StdRng::seed_from_u64(3);
        let mut baseline = Baseline::new();
        baseline.bins_observed = 60;
        baseline.negative_share = 0.25;
        let anomalies = Anomalies {
            negative: anomalous,
            ..Anomalies::default()
        };
        for close in 0..2160 {
            let share = share_of(close);
            let negative = (0..per_window).filter(|_| rng.gen::<f64>() < share).count() as u32;
            let counts = WindowCounts {
                total: per_window,
                negative,
                toxic: 0,
            };
            baseline.learn_spread(&counts, &anomalies);
        }
        baseline.negative_spread.inflation(10)
    }

    #[test]
    fn independent_mentions_spread_as_the_binomial_and_threads_wider() {
        for per_window in [1, 3, 20, 400] {
            let independent = spread_after(per_window, |_| 0.25, false);
            assert_eq!(independent, 1.0, "{per_window} a window");
        }
        // Windows whose share swings between 10% and 40%: their count's
        // variance is (0.0225 n + 0.165) n against the binomial's 0.1875 n,
        // 3.3 times it at 20 mentions, 49 times (read as the most, 10) at 400.
        let swinging = |close: usize| if close.is_multiple_of(2) { 0.1 } else { 0.4 };
        let few = spread_after(20, swinging, false);
        assert!((2.8..3.4).contains(&few), "{few}");
        assert_eq!(spread_after(400, swinging, false), SPREAD_MAX);
        // What a window read as anomalous holds is not learned.
        assert_eq!(spread_after(400, swinging, true), 1.0);
    }

    #[test]
    fn a_wider_spread_reads_the_same_surge_weaker() {
        let thresholds = Thresholds::default();
        let independent = surge_reading(30.0, 60.0, 60.0, 0.25, 1.0, &thresholds).0;
        let threaded = surge_reading(30.0, 60.0, 60.0, 0.25, 2.0, &thresholds).0;
        assert!(
            independent > 4.0 && threaded < 3.0,
            "{independent} {threaded}"
        );
        // Threads of geometric length have a heavier tail than half as
        // many independent mentions, half of them negative (the design
        // effect, which this read before), though the variance is the same.
        let halved = surge_reading(15.0, 30.0, 30.0, 0.25, 1.0, &thresholds).0;
        assert!(threaded < halved - 0.05, "{threaded} {halved}");
        // A toxic run: 14 of 60 against 5% reads 4.7 sigma for independent
        // mentions; where threads double the spread, 3.0 (3.25 read as 7
        // of 30).
        let independent = surge_reading(14.0, 60.0, 60.0, 0.05, 1.0, &thresholds).0;
        let threaded = surge_reading(14.0, 60.0, 60.0, 0.05, 2.0, &thresholds).0;
        let halved = surge_reading(7.0, 30.0, 30.0, 0.05, 1.0, &thresholds).0;
        assert!(independent > 4.5, "{independent}");
        assert!(
            threaded < 3.1 && threaded < halved - 0.2,
            "{threaded} {halved}"
        );
    }

    #[test]
    fn a_cooldown_holds_back_only_what_the_resolved_incident_reached() {
        let after_watch = Cooldown {
            resolved_at: 0,
            until: 1_000,
            peak: Severity::Watch,
        };
        assert!(after_watch.holds_back(999, Severity::Watch));
        assert!(!after_watch.holds_back(999, Severity::Warning));
        assert!(!after_watch.holds_back(1_000, Severity::Watch));
        let after_page = Cooldown {
            peak: Severity::Critical,
            ..after_watch
        };
        assert!(after_page.holds_back(999, Severity::Warning));
        assert!(after_page.holds_back(999, Severity::Critical));
    }

    proptest::proptest! {
        /// A bin keeps the samples that pushing every mention, sorting by
        /// alarm (stable, most alarming first) and keeping the first
        /// `SAMPLES_PER_BIN` kept, and gives them back as they came in.
        #[test]
        fn a_bin_keeps_the_most_alarming_samples_in_a_stable_order(
            mentions in proptest::collection::vec(
                (0..5u8, 0..4u8, proptest::option::of("[a-z]{0,3}"), "[a-zé ]{0,220}"),
                0..40,
            ),
        ) {
            let mut bin = Bin::empty(0);
            let mut sources = SourceNames::default();
            let mut expected: Vec<(f32, SampleMention)> = Vec::new();
            for (index, (sentiment, toxicity, url, text)) in mentions.into_iter().enumerate() {
                let mut scored = crate::synth::scored(
                    format!("m{index}"),
                    "acme",
                    text.clone(),
                    DateTime::from_timestamp(0, 0).expect("time"),
                    sentiment == 0,
                    toxicity == 3,
                    false,
                );
                scored.sentiment.score = f32::from(sentiment) / 2.0 - 1.0;
                scored.toxicity.score = f32::from(toxicity) / 3.0;
                scored.mention.url = url.clone();
                scored.mention.source = if index % 2 == 0 { "x" } else { "forum" }.into();
                let view = scored.view();
                let alarm = -view.sentiment_score + 2.0 * view.toxicity_score;
                if expected.len() < SAMPLES_PER_BIN
                    || expected.iter().any(|(score, _)| *score < alarm)
                {
                    expected.push((alarm, SampleMention {
                        id: format!("m{index}"),
                        url,
                        text: clip_chars(&text, SAMPLE_TEXT_CHARS).to_owned(),
                        source: scored.mention.source.clone(),
                        sentiment_score: view.sentiment_score,
                        toxicity_score: view.toxicity_score,
                    }));
                    expected.sort_by(|left, right| right.0.total_cmp(&left.0));
                    expected.truncate(SAMPLES_PER_BIN);
                }
                bin.add(&view, [], &mut sources, 0);
            }
            let kept: Vec<(f32, SampleMention)> = bin
                .samples()
                .map(|sample| (sample.alarm, sample.to_sample(&sources)))
                .collect();
            proptest::prop_assert_eq!(kept, expected);
        }
    }

    /// A window longer than a term entry can count its bins in is cut to
    /// the longest it can.
    #[test]
    fn windows_are_at_most_what_an_entry_counts() {
        let config = DetectorConfig {
            windows: vec![10, 100_000],
            count_windows: vec![70_000, 30],
            ..DetectorConfig::default()
        };
        let windows = Windows::new(&config);
        assert_eq!(windows.terms, [10, MAX_WINDOW_BINS]);
        assert_eq!(windows.counts, [30, MAX_WINDOW_BINS]);
        assert_eq!(windows.longest, MAX_WINDOW_BINS);
    }

    /// Source names no kept bin names any more are freed (once their count
    /// has doubled, and at the hourly tidy), their ids reused; those still
    /// named keep their names.
    #[test]
    fn sources_no_bin_names_are_freed_and_the_others_kept() {
        let mut detector = Detector::new(DetectorConfig::default());
        let start: i64 = 1_793_577_600;
        let mention = |index: i64, source: &str| {
            let mut scored = crate::synth::scored(
                format!("m{index}"),
                "acme",
                "a mention".into(),
                DateTime::from_timestamp(start + index * 30, 0).expect("time"),
                true,
                false,
                false,
            );
            scored.mention.source = source.into();
            scored
        };
        let kept_sources = |detector: &Detector| -> Vec<String> {
            let state = detector.brands.get("acme").expect("acme");
            let mut names: Vec<String> = state
                .closed
                .iter()
                .chain(state.open_bins.values())
                .flat_map(Bin::sources)
                .map(|(id, _)| detector.shared.sources.name(*id).to_owned())
                .collect();
            names.sort();
            names.dedup();
            names
        };
        // 150 sources, two a minute: pruned at 65 names, all in use, then
        // at 129 (twice what was kept), the first bins gone by then.
        for index in 0..150 {
            detector.ingest(&mention(index, &format!("forum-{index:03}")));
        }
        let named = kept_sources(&detector);
        assert!(named.len() > 100 && named.iter().all(|name| name.starts_with("forum-")));
        assert!(detector.shared.sources.len() < 150);
        // Then one source for two hours: only it is in the bins, and the
        // hourly tidy freed the names of the bins gone (under
        // SOURCE_NAMES_KEPT names it leaves the rest be).
        for index in 150..390 {
            detector.ingest(&mention(index, "news"));
        }
        assert_eq!(kept_sources(&detector), ["news"]);
        assert!(detector.shared.sources.len() <= SOURCE_NAMES_KEPT);
        let reused = detector.shared.sources.intern("blog");
        assert!(reused < 150, "a freed id: {reused}");
        assert_eq!(detector.shared.sources.name(reused), "blog");
    }

    /// Dropping the samples newer ones outrank changes no alert's evidence:
    /// at every bin close, for every window and kind, the samples shown are
    /// those of every bin's own most alarming two (ties in scores
    /// included); and most of those are gone.
    #[test]
    fn samples_outranked_by_newer_ones_are_never_evidence() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut detector = Detector::new(DetectorConfig::default());
        let bin_seconds = detector.config.bin_seconds;
        let start: i64 = 1_793_577_600;
        // Each bin's own samples as it keeps them, most alarming first, ties
        // in arrival order.
        type Own = (f32, String, bool, bool); // alarm, id, negative, toxic
        let mut every_bin: Vec<(i64, Vec<Own>)> = Vec::new();
        let mut index = 0;
        for bin in 0..240 {
            let bin_start = start + bin * bin_seconds;
            let mut own: Vec<Own> = Vec::new();
            for _ in 0..rng.gen_range(usize::from(bin == 0)..7) {
                index += 1;
                let negative = rng.gen_bool(0.3);
                let toxic = rng.gen_bool(0.2);
                let mut scored = crate::synth::scored(
                    format!("m{index}"),
                    "acme",
                    "a mention".into(),
                    DateTime::from_timestamp(bin_start + rng.gen_range(0..bin_seconds), 0)
                        .expect("time"),
                    negative,
                    toxic,
                    false,
                );
                // Few distinct scores: ties are common.
                scored.sentiment.score = f32::from(rng.gen_range(0..5u8)) / 2.0 - 1.0;
                scored.toxicity.score = f32::from(rng.gen_range(0..4u8)) / 3.0;
                let alarm = -scored.sentiment.score + 2.0 * scored.toxicity.score;
                let at = own.partition_point(|(kept, ..)| kept.total_cmp(&alarm).is_ge());
                own.insert(at, (alarm, format!("m{index}"), negative, toxic));
                own.truncate(SAMPLES_PER_BIN);
                detector.ingest(&scored);
            }
            if !own.is_empty() {
                every_bin.push((bin_start, own));
            }
            detector.advance_watermark(bin_start + bin_seconds);
            let state = detector.brands.get("acme").expect("acme");
            let newest = state.last_closed.expect("a closed bin");
            for window in [1, 3, 10, 30, 60] {
                let span = window.min(state.closed_bins) as i64 * bin_seconds;
                for kind in [
                    AlertKind::VolumeSpike,
                    AlertKind::NegativeSurge,
                    AlertKind::ToxicitySurge,
                ] {
                    let shown: Vec<String> = state
                        .evidence_samples(window, bin_seconds, kind)
                        .iter()
                        .map(|sample| sample.to_sample(&detector.shared.sources).id)
                        .collect();
                    let mut expected: Vec<&Own> = every_bin
                        .iter()
                        .rev()
                        .take_while(|(bin_start, _)| newest - bin_start < span)
                        .flat_map(|(_, own)| own)
                        .filter(|(_, _, negative, toxic)| match kind {
                            AlertKind::NegativeSurge => *negative,
                            AlertKind::ToxicitySurge => *toxic,
                            _ => true,
                        })
                        .collect();
                    expected.sort_by(|left, right| right.0.total_cmp(&left.0));
                    let expected: Vec<String> = expected
                        .iter()
                        .take(EVIDENCE_SAMPLES)
                        .map(|(_, id, ..)| id.clone())
                        .collect();
                    assert_eq!(shown, expected, "bin {bin}, window {window}, {kind:?}");
                }
            }
        }
        let state = detector.brands.get("acme").expect("acme");
        let kept: usize = state.closed.iter().map(|bin| bin.samples().count()).sum();
        let newest = state.last_closed.expect("a closed bin");
        let before: usize = every_bin
            .iter()
            .filter(|(bin_start, _)| newest - bin_start < 60 * bin_seconds)
            .map(|(_, own)| own.len())
            .sum();
        assert!(kept * 2 < before, "{kept} of {before} samples kept");
    }

    /// A term seen once gets an entry when it comes back, with the window
    /// counts an entry from its first mention would have had; until then
    /// it has none. Rates learn nothing while a bin is in the longest term
    /// window, and then its first mention too (the rate of a term seen once
    /// in a bin is half that of one seen twice there, bit for bit).
    #[test]
    fn a_term_seen_once_learns_its_first_mention_when_its_bin_leaves_the_window() {
        let mut detector = Detector::new(DetectorConfig::default());
        let bin_seconds = detector.config.bin_seconds;
        let start: i64 = 1_793_577_600;
        let mention = |index: usize, offset: i64, text: &str| {
            let time = DateTime::from_timestamp(start + offset, 0).expect("time");
            crate::synth::scored(
                index.to_string(),
                "acme",
                text.into(),
                time,
                false,
                false,
                false,
            )
        };
        // Past the first hour's fast start, so that the weight is the
        // lasting one.
        for bin in 0..61 {
            detector.ingest(&mention(100 + bin as usize, bin * bin_seconds, "walrus"));
        }
        let first = 61 * bin_seconds;
        detector.ingest(&mention(0, first, "zebra quagga quagga"));
        detector.ingest(&mention(1, first + 10, "zebra okapi"));
        detector.advance_watermark(start + first + 3 * bin_seconds);
        let state = detector.brands.get("acme").expect("brand");
        assert!(state.terms.find(&detector.shared.names, "quagga").is_none());
        assert_eq!(
            state.terms.seen_once_bin(&detector.shared.names, "quagga"),
            Some(start + first)
        );
        assert!(state.terms.find(&detector.shared.names, "zebra").is_some());
        detector.ingest(&mention(2, first + 5 * bin_seconds, "quagga"));
        let state = detector.brands.get("acme").expect("brand");
        let entry = |name: &str| {
            let id = state.terms.find(&detector.shared.names, name).expect(name);
            let entry = state.terms.entry(id).expect(name).clone();
            (entry, state.terms.window_counts(id))
        };
        let (quagga, zebra) = (entry("quagga"), entry("zebra"));
        assert_eq!(
            state.terms.seen_once_bin(&detector.shared.names, "quagga"),
            None
        );
        assert_eq!(quagga.1[..3], [1, 1, 1]);
        assert_eq!(zebra.1[..3], [2, 2, 2]);
        let (quagga, zebra) = (quagga.0, zebra.0);
        let first_bin = (start + first) / bin_seconds;
        assert_eq!(
            (quagga.rate.at(first_bin), zebra.rate.at(first_bin)),
            (0.0, 0.0)
        );
        assert!(state.terms.find(&detector.shared.names, "okapi").is_none());
        // The first bin has left the hour (bins up to first + 60 closed).
        detector.advance_watermark(start + first + 61 * bin_seconds);
        let state = detector.brands.get("acme").expect("brand");
        let entry = |name: &str| {
            let id = state.terms.find(&detector.shared.names, name).expect(name);
            let entry = state.terms.entry(id).expect(name).clone();
            (entry, state.terms.window_counts(id))
        };
        let (quagga, zebra) = (entry("quagga"), entry("zebra"));
        assert_eq!(quagga.1[..3], [0, 0, 1]);
        let (quagga, zebra) = (quagga.0, zebra.0);
        assert!(quagga.rate.at(first_bin) > 0.0);
        assert_eq!(
            (2.0 * quagga.rate.at(first_bin)).to_bits(),
            zebra.rate.at(first_bin).to_bits()
        );
    }

    /// Bins still in the longest term window when a gap longer than any
    /// window clears them teach both what bins leaving by age teach: the
    /// brand's rates and the shares across brands. Fails when the gap
    /// teaches only the rates (the shares never see those bins).
    #[test]
    fn a_long_gap_teaches_the_shares_what_its_bins_held() {
        let mut detector = Detector::new(DetectorConfig::default());
        let bin_seconds = detector.config.bin_seconds;
        let start: i64 = 1_793_577_600;
        for index in 0..12 {
            let time = DateTime::from_timestamp(start + index * 20, 0).expect("time");
            let mention = crate::synth::scored(
                index.to_string(),
                "solo",
                // Distinct texts (a copy's words count once an hour).
                format!("walrusgate again {index}"),
                time,
                false,
                false,
                false,
            );
            detector.ingest(&mention);
        }
        detector.advance_watermark(start + 10 * bin_seconds);
        // In the window: nothing learned yet.
        assert_eq!(detector.shared.shares.share("walrusgate"), 0.0);
        detector.advance_watermark(start + 3 * 24 * 60 * bin_seconds);
        assert_eq!(detector.shared.shares.share("walrusgate"), 1.0);
    }

    /// A word every brand uses is read against its share of a brand's
    /// window, not against the brand's own (late-learned) rate: a small
    /// brand that never said "time" saying it six times in a minute is
    /// chance, while six mentions of a tag nobody uses are news. Fails
    /// without the shares across brands ("time" emerges like the tag).
    #[test]
    fn a_word_every_brand_uses_is_read_against_its_share_across_brands() {
        let mut detector = Detector::new(DetectorConfig::default());
        let bin_seconds = detector.config.bin_seconds;
        let start: i64 = 1_793_577_600;
        let mut alerts = Vec::new();
        let mut index = 0;
        let mut say = |detector: &mut Detector, brand: &str, offset: i64, text: &str| {
            let time = DateTime::from_timestamp(start + offset, 0).expect("time");
            index += 1;
            let mention = crate::synth::scored(
                index.to_string(),
                brand,
                // Each its own post (a copy's words count once an hour); a
                // handle is no term.
                format!("{text} @user{index}"),
                time,
                false,
                false,
                false,
            );
            detector.ingest(&mention)
        };
        // Three hours: ten brands say "time" in every other mention, the
        // small one never.
        for minute in 0..180 {
            for brand in 0..10 {
                for second in [0, 30] {
                    let text = if second == 0 {
                        "what a time"
                    } else {
                        "quiet day"
                    };
                    let offset = minute * bin_seconds + second + brand;
                    alerts.extend(say(&mut detector, &format!("busy{brand}"), offset, text));
                }
            }
            alerts.extend(say(
                &mut detector,
                "small",
                minute * bin_seconds + 20,
                "hello there",
            ));
        }
        let burst = |minute: i64| 180 * bin_seconds + minute * bin_seconds;
        for second in 0..6 {
            alerts.extend(say(&mut detector, "small", burst(0) + second, "about time"));
        }
        for second in 0..6 {
            alerts.extend(say(
                &mut detector,
                "small",
                burst(20) + second,
                "#walrusgate now",
            ));
        }
        alerts.extend(detector.advance_watermark(start + burst(30)));
        let small_terms: Vec<&str> = alerts
            .iter()
            .filter(|alert| alert.brand == "small" && alert.kind == AlertKind::EmergingTerms)
            .map(|alert| alert.summary.as_str())
            .collect();
        assert!(
            small_terms
                .iter()
                .any(|summary| summary.contains("of \"#walrusgate\"")),
            "{small_terms:?}"
        );
        assert!(
            !small_terms
                .iter()
                .any(|summary| summary.contains("of \"time\"")),
            "{small_terms:?}"
        );
        assert!(detector.shared.shares.share("time") > 0.2);
    }

    /// A term backs a surge when its mentions are of the surge's kind well
    /// beyond the brand's own share: half again as much, or halfway to
    /// all of them where that is less.
    #[test]
    fn a_backer_needs_its_kind_well_beyond_the_brands_share() {
        assert_eq!(backer_share_needed(0.05), 0.05 * 1.5);
        assert_eq!(backer_share_needed(0.3), 0.3 * 1.5);
        assert_eq!(backer_share_needed(0.8), 0.9);
    }

    /// A closed bin's entries, shrunk to fit at close, grow by an eighth
    /// (not a doubling) for terms whose first mention it holds.
    #[test]
    fn a_closed_bin_makes_little_room_for_returning_terms() {
        let mut detector = Detector::new(DetectorConfig::default());
        let bin_seconds = detector.config.bin_seconds;
        let start: i64 = 1_793_577_600;
        let mention = |index: usize, offset: i64, text: String| {
            let time = DateTime::from_timestamp(start + offset, 0).expect("time");
            crate::synth::scored(index.to_string(), "acme", text, time, false, false, false)
        };
        let words = |half: usize| {
            (half * 32..half * 32 + 32)
                .map(|index| format!("word{index:02}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        detector.ingest(&mention(0, 0, format!("walrus {}", words(0))));
        detector.ingest(&mention(1, 1, format!("walrus {}", words(1))));
        detector.advance_watermark(start + 3 * bin_seconds);
        let entries = |detector: &Detector| {
            let state = detector.brands.get("acme").expect("brand");
            let bin = state.closed.iter().find(|bin| bin.start == start);
            let terms = &bin.and_then(|bin| bin.detail.as_ref()).expect("bin").terms;
            (terms.len(), terms.capacity())
        };
        assert_eq!(entries(&detector), (1, 1));
        detector.ingest(&mention(2, 4 * bin_seconds, words(0)));
        detector.ingest(&mention(3, 4 * bin_seconds, words(1)));
        let (len, capacity) = entries(&detector);
        assert_eq!(len, 65);
        assert!(capacity <= len + len / 8 + 4, "{capacity} for {len}");
    }

    /// The service hands the heap back after each advance that tidied:
    /// counted once per advance however many brands it tidied.
    #[test]
    fn an_advance_that_tidies_is_counted_once() {
        let mut detector = Detector::new(DetectorConfig::default());
        let bin_seconds = detector.config.bin_seconds;
        // On the hour: the bin starting here is the first of its hour.
        let start: i64 = 1_793_577_600;
        assert_eq!((start / bin_seconds) % TIDY_EVERY_BINS, 0);
        for (index, brand) in ["acme", "globex", "initech"].into_iter().enumerate() {
            let time = DateTime::from_timestamp(start + 10, 0).expect("time");
            let text = "late delivery again".to_string();
            detector.ingest(&crate::synth::scored(
                index.to_string(),
                brand,
                text,
                time,
                true,
                false,
                false,
            ));
        }
        assert_eq!(detector.stats.hourly_tidies, 0);
        detector.advance_watermark(start + 30 * bin_seconds);
        assert_eq!(detector.stats.hourly_tidies, 1);
        detector.advance_watermark(start + 59 * bin_seconds);
        assert_eq!(detector.stats.hourly_tidies, 1);
        detector.advance_watermark(start + 61 * bin_seconds);
        assert_eq!(detector.stats.hourly_tidies, 2);
        detector.advance_watermark(start + 3 * 60 * bin_seconds);
        assert_eq!(detector.stats.hourly_tidies, 3);
    }

    #[test]
    fn a_quiet_brand_keeps_only_its_bins_with_mentions() {
        let mut detector = Detector::new(DetectorConfig::default());
        let bin_seconds = detector.config.bin_seconds;
        let start: i64 = 1_793_577_600;
        // A negative mention every 20 minutes for three hours.
        for index in 0..9 {
            let time = DateTime::from_timestamp(start + index * 20 * bin_seconds + 7, 0);
            detector.ingest(&crate::synth::scored(
                index.to_string(),
                "acme",
                "late delivery again".into(),
                time.expect("time"),
                true,
                false,
                false,
            ));
        }
        let last = start + 8 * 20 * bin_seconds;
        detector.advance_watermark(last + bin_seconds);
        let state = detector.brands.get("acme").expect("brand");
        // The 60-bin window holds the last three mentions' bins, 20 apart:
        // three bins kept, not sixty.
        let kept: Vec<i64> = state.closed.iter().map(|bin| bin.start).collect();
        let bins_ago = |bins: i64| last - bins * 20 * bin_seconds;
        assert_eq!(kept, [bins_ago(2), bins_ago(1), bins_ago(0)]);
        assert!(state.closed.capacity() <= 4, "{}", state.closed.capacity());
        // Each kept bin's one source is inline, not a first push's four
        // places of their own.
        for bin in &state.closed {
            let spilled = bin.detail.as_ref().map(|detail| detail.sources.spilled());
            assert_eq!(spilled, Some(false));
        }
        assert_eq!(state.closed_bins, 60);
        let (ten, hour) = (state.count_sums[0], state.count_sums[2]);
        assert_eq!((ten.total, ten.negative), (1, 1));
        assert_eq!((hour.total, hour.negative), (3, 3));
        let within = |bins| state.closed_within(bins, bin_seconds).count();
        assert_eq!(
            (within(20), within(21), within(41), within(60)),
            (1, 2, 3, 3)
        );
    }

    #[test]
    fn idle_brands_are_forgotten_unless_something_is_open() {
        let config = DetectorConfig {
            forget_idle_bins: 120,
            ..DetectorConfig::default()
        };
        let mut detector = Detector::new(config);
        let start: i64 = 1_793_577_600;
        let mention = |index: i64, brand: &str| {
            let time = DateTime::from_timestamp(start + index * 60, 0).expect("time");
            crate::synth::scored(
                index.to_string(),
                brand,
                // A word of the brand's own (one naming it is the brand).
                format!("hello {}", brand.replace('u', "o").replace('g', "p")),
                time,
                false,
                false,
                false,
            )
        };
        for minute in 0..10 {
            for brand in ["gone", "stuck", "busy"] {
                detector.ingest(&mention(minute, brand));
            }
        }
        let tracked = |detector: &Detector| {
            let mut names: Vec<String> = detector.brands.keys().cloned().collect();
            names.sort();
            names
        };
        // Two hours after its last mention's bin, "gone" is still kept...
        for minute in 10..=131 {
            detector.ingest(&mention(minute, "busy"));
        }
        assert_eq!(tracked(&detector), ["busy", "gone", "stuck"]);
        // ...and forgotten at the next hourly look (at minute 178), unless
        // an incident is open (it resolves 15 calm bins after it opened).
        for minute in 132..170 {
            detector.ingest(&mention(minute, "busy"));
        }
        detector.brands.get_mut("stuck").expect("brand").incidents[0] = Some(Box::new(Incident {
            id: "stuck:volume_spike:0".into(),
            severity: Severity::Warning,
            peak: Severity::Warning,
            onset_at: start,
            calm_bins: 0,
            lower_bins: 0,
        }));
        for minute in 170..200 {
            detector.ingest(&mention(minute, "busy"));
        }
        assert_eq!(tracked(&detector), ["busy", "stuck"]);
        assert_eq!(detector.stats.brands_forgotten, 1);
        // Its names went with it, but those another brand holds.
        let names = &detector.shared.names;
        assert_eq!(names.holders_of("pone"), 0);
        assert_eq!(names.holders_of("bosy"), 1);
        check_names_held(&detector);
        // Back, it starts cold.
        detector.ingest(&mention(200, "gone"));
        let back = detector.brands.get("gone").expect("brand");
        assert_eq!(back.baseline.bins_observed, 0);
        assert!(back.closed.is_empty());
    }

    /// A term in several places of one bin (over `MAX_PLACE_COUNT`
    /// mentions) learns once, from their sum, as it would from one place:
    /// learning each piece in turn gives a lower rate (fails without the sum).
    #[test]
    fn a_term_in_several_places_learns_their_sum() {
        let mut terms = TermTable::default();
        let mut names = TermNames::default();
        let (crash, other) = (
            terms.intern(&mut names, "crash"),
            terms.intern(&mut names, "other"),
        );
        let mut bin = Bin::empty(600);
        bin.detail = Some(Box::new(BinDetail {
            terms: vec![
                BinTerm::new(crash, MAX_PLACE_COUNT),
                BinTerm::new(other, 2),
                BinTerm::new(crash, MAX_PLACE_COUNT),
                BinTerm::new(crash, 100),
            ],
            term_learning: TermLearning::new(2.0, 0.5),
            ..BinDetail::default()
        }));
        learn_term_rates(&mut terms, &bin, 60, 0);
        let rate = |id: TermId| terms.entry(id).map(|entry| entry.rate.at(10));
        let sum = f64::from(2 * MAX_PLACE_COUNT + 100);
        assert_eq!(rate(crash), Some(0.5 * sum / 2.0));
        assert_eq!(rate(other), Some(0.5 * 2.0 / 2.0));
    }

    /// A bin's details stay in one 80-byte allocation (a 96-byte block of
    /// glibc's) with two sources inline (a second allocation of its own
    /// for the sources of most bins cost more).
    #[test]
    fn a_bins_details_take_80_bytes_with_two_sources_inline() {
        assert_eq!(std::mem::size_of::<BinDetail>(), 80);
        assert_eq!(std::mem::size_of::<BinSample>(), 48);
        let mut bin = Bin::empty(0);
        let mention = crate::synth::scored(
            "1".into(),
            "acme",
            "hello".into(),
            DateTime::from_timestamp(0, 0).expect("time"),
            true,
            false,
            false,
        );
        bin.add(&mention.view(), [], &mut SourceNames::default(), 0);
        let detail = bin.detail.as_ref().expect("detail");
        assert!(!detail.sources.spilled());
        assert_eq!(spilled_bytes(&detail.sources), 0);
    }

    #[test]
    fn closing_a_bin_merges_its_terms() {
        let mut terms = TermTable::default();
        let mut bin = Bin::empty(0);
        let mut sources = SourceNames::default();
        let mention = crate::synth::scored(
            "1".into(),
            "acme",
            String::new(),
            DateTime::from_timestamp(0, 0).expect("time"),
            true,
            false,
            false,
        );
        let mut names = TermNames::default();
        let refund = terms.intern(&mut names, "refund");
        let delay = terms.intern(&mut names, "delay");
        terms.start_mention();
        assert!(terms.hold_once(refund, false, false) && terms.hold_once(delay, false, false));
        bin.add(&mention.view(), [refund, delay], &mut sources, 0);
        terms.start_mention();
        assert!(terms.hold_once(refund, false, false));
        bin.add(&mention.view(), [refund], &mut sources, 1);
        assert_eq!(
            bin.close(&mut terms, &mut Vec::new()),
            3,
            "entries before the merge"
        );
        let mut merged: Vec<(String, u32)> = bin
            .terms()
            .iter()
            .map(|term| (terms.name(&names, term.id()).to_owned(), term.count()))
            .collect();
        merged.sort();
        assert_eq!(merged, vec![("delay".into(), 1), ("refund".into(), 2)]);
        assert_eq!(bin.sources().map(|(_, count)| *count).sum::<u32>(), 2);
        assert_eq!((bin.total, bin.negative), (2, 2));
    }
}
