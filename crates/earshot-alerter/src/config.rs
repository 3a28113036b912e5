//! Detector settings: sensitivity presets and per-brand overrides from a
//! JSON config file.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// Thresholds of one sensitivity level.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Thresholds {
    /// z-score at or above which a detector reports `watch`.
    pub watch_z: f64,
    pub warning_z: f64,
    pub critical_z: f64,
    /// A negative or toxicity surge at this z or more, with
    /// `min_warning_count` mentions, pages as `warning` while an emerging
    /// term is at `watch`: the two agreeing are evidence enough.
    pub corroborated_z: f64,
    /// Below this z for `resolve_after_bins` bins, an incident resolves.
    pub resolve_z: f64,
    /// Fewest mentions backing a `watch` / `warning` / `critical` (low-volume brands).
    pub min_watch_count: u32,
    pub min_warning_count: u32,
    pub min_critical_count: u32,
    /// A share detector also needs the share to rise this much over baseline
    /// (the toxicity detector half as much) ...
    pub min_share_lift: f64,
    /// ... or to reach this many times its baseline (at least 2 points
    /// above it): a brigade that doubles a 3% toxic share on a big brand
    /// is material though it moves the share by only 3 points.
    pub min_share_ratio: f64,
    /// ... and the toxic share also when the window holds this many more
    /// toxic mentions than the usual share predicts: 60 extra toxic posts
    /// an hour on a brand of 4,000 an hour move its share from 3% to 4.4%
    /// (neither 1.5x nor 2 points) and are a moderation load all the same.
    /// (Negative shares of big brands drift with the news; they keep the
    /// share gates.)
    pub min_toxic_excess: f64,
    /// Over-dispersion of counts: variance = mean + mean^2 / dispersion.
    pub dispersion: f64,
}

impl Thresholds {
    /// Why these thresholds cannot work, if they cannot: a zero dispersion
    /// divides every variance by zero, and a warning below its watch, or a
    /// resolve at or above it, breaks the severities' order and hysteresis.
    pub fn problem(&self) -> Option<String> {
        let z_order = 0.0 < self.watch_z
            && self.watch_z <= self.warning_z
            && self.warning_z <= self.critical_z;
        if !z_order {
            return Some(format!(
                "watch_z, warning_z and critical_z must rise from above 0 (got {}, {}, {})",
                self.watch_z, self.warning_z, self.critical_z
            ));
        }
        if !(0.0..self.watch_z).contains(&self.resolve_z) {
            return Some(format!(
                "resolve_z must be at least 0 and below watch_z {} (got {})",
                self.watch_z, self.resolve_z
            ));
        }
        let checks = [
            (self.corroborated_z > 0.0, "corroborated_z must be above 0"),
            (
                (0.0..=1.0).contains(&self.min_share_lift),
                "min_share_lift must be a share, from 0 to 1",
            ),
            (
                self.min_share_ratio >= 1.0,
                "min_share_ratio must be at least 1",
            ),
            (
                self.min_toxic_excess >= 0.0,
                "min_toxic_excess must be at least 0",
            ),
            (self.dispersion > 0.0, "dispersion must be above 0"),
        ];
        checks
            .iter()
            .find(|(holds, _)| !holds)
            .map(|(_, rule)| (*rule).to_owned())
    }

    pub fn preset(name: &str) -> Option<Thresholds> {
        let balanced = Thresholds::default();
        match name {
            "balanced" => Some(balanced),
            "sensitive" => Some(Thresholds {
                watch_z: 2.5,
                warning_z: 3.5,
                critical_z: 5.5,
                corroborated_z: 2.25,
                min_warning_count: 4,
                min_critical_count: 12,
                min_share_lift: 0.12,
                ..balanced
            }),
            "conservative" => Some(Thresholds {
                watch_z: 4.0,
                warning_z: 6.0,
                critical_z: 9.0,
                corroborated_z: 4.0,
                min_warning_count: 12,
                min_critical_count: 30,
                min_share_lift: 0.2,
                ..balanced
            }),
            _ => None,
        }
    }
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            watch_z: 3.0,
            warning_z: 4.0,
            critical_z: 7.0,
            // Chosen on the tuning seeds 11-14: 2.0 paged no crisis more
            // than 2.5 and added 8 false pages in 320 brand-weeks; 3.0 gave
            // back half the minutes. See BENCHMARKS.md.
            corroborated_z: 2.5,
            resolve_z: 2.0,
            min_watch_count: 4,
            // Brigades add a toxic post a minute: waiting for 8 held their
            // pages back 1-3 minutes. 6 paged no more in 84 calm brand-weeks
            // (2 to 600 mentions an hour) than 8 did.
            min_warning_count: 6,
            min_critical_count: 20,
            min_share_lift: 0.15,
            min_share_ratio: 1.5,
            min_toxic_excess: 30.0,
            dispersion: 15.0,
        }
    }
}

/// See [`DetectorConfig::max_terms_per_brand`]; chosen in BENCHMARKS.md.
pub const DEFAULT_MAX_TERMS_PER_BRAND: usize = 16_384;

/// See [`DetectorConfig::term_sample_per_hour`]; chosen in BENCHMARKS.md.
pub const DEFAULT_TERM_SAMPLE_PER_HOUR: f64 = 300.0;

/// Everything the detector needs.
#[derive(Debug, Clone)]
pub struct DetectorConfig {
    /// Width of an event-time bin, in seconds.
    pub bin_seconds: i64,
    /// How long after a bin ends late mentions are still counted in it.
    pub allowed_lateness_seconds: i64,
    /// Term windows, in bins: emerging terms are counted over each.
    pub windows: Vec<usize>,
    /// Windows of the volume, negative and toxicity detectors, in bins
    /// (short for sudden crises, long for slow burns).
    pub count_windows: Vec<usize>,
    /// Bins a brand must be observed before it can page (cold start).
    pub warmup_bins: u64,
    /// Consecutive calm bins before an incident resolves.
    pub resolve_after_bins: u32,
    /// Consecutive lower bins before an incident de-escalates.
    pub deescalate_after_bins: u32,
    /// Bins after a resolve during which the same kind does not reopen.
    pub cooldown_bins: u32,
    /// Bins without a mention after which a brand with nothing open is
    /// forgotten (0: never). A brand dropped from tracking would otherwise
    /// keep its state, and cost a bin close a minute, for good; one that
    /// comes back starts cold (its level had decayed to nothing anyway).
    pub forget_idle_bins: u64,
    /// Terms a brand holds at most (0: no limit), and twice as many
    /// seen-once notes: past it the least mentioned of late are forgotten,
    /// which bounds a busy brand's memory whatever its vocabulary. A term
    /// never pages alone: it makes `watch` alerts and evidence, and backs
    /// a negative or toxicity surge (`Thresholds::corroborated_z`).
    /// Whatever it is (0 included), a brand keeps at most 524,288 terms:
    /// bins name terms by 20-bit ids.
    pub max_terms_per_brand: usize,
    /// Whether a copy of one of a brand's texts from within the longest
    /// term window (a repost, a retweet, a pasted text) brings its words
    /// again. Off by default: emerging terms are read from distinct texts,
    /// so one complaint reposted many times is one text's words (copies
    /// still count as mentions towards volume, negative and toxic). On, a
    /// copypasta campaign's hashtag can emerge on its copies alone.
    pub terms_from_copies: bool,
    /// Mentions an hour a brand's terms are read from at least (0: every
    /// mention). A busier brand's terms are read from a fixed sample of
    /// its mentions (1 in 2, 4, 8, ... by a hash of the mention id, so a
    /// replay or a rebuild reads the same ones), sized to keep it between
    /// this rate and twice it: a term's counts in the sample are a thinned
    /// count, read against its thinned rate, so the test stays exact and
    /// only its power shrinks to what this many mentions give. Reading
    /// every word of every mention is most of the detector's time, and a
    /// brand of 3,000 an hour needs no more than a few hundred of them to
    /// hear its new terms. Volume, negative and toxic counts always read
    /// every mention.
    pub term_sample_per_hour: f64,
    pub default_thresholds: Thresholds,
    pub brand_thresholds: HashMap<String, Thresholds>,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            bin_seconds: 60,
            allowed_lateness_seconds: 120,
            windows: vec![10, 30, 60],
            // Shorter and more windows (5, 10, 20, 30, 45, 60 at a warning
            // z of 4.15 for the same false alarms) paged big brands sooner
            // on the tuning streams but small ones later, lost a brigade on
            // a held-out stream and doubled the watch changes: see
            // BENCHMARKS.md. Configurable (`count_windows_minutes`).
            count_windows: vec![10, 30, 60],
            warmup_bins: 6 * 60,
            resolve_after_bins: 15,
            deescalate_after_bins: 10,
            cooldown_bins: 30,
            forget_idle_bins: 7 * 24 * 60,
            max_terms_per_brand: DEFAULT_MAX_TERMS_PER_BRAND,
            terms_from_copies: false,
            term_sample_per_hour: DEFAULT_TERM_SAMPLE_PER_HOUR,
            default_thresholds: Thresholds::default(),
            brand_thresholds: HashMap::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid config {path}: {source}")]
    Parse {
        path: String,
        source: serde_json::Error,
    },
    #[error("unknown preset {0:?} (expected sensitive, balanced or conservative)")]
    UnknownPreset(String),
    #[error("invalid thresholds in {path}{brand}: {problem}")]
    Thresholds {
        path: String,
        /// ` for brand "x"`, or empty for the thresholds of every brand.
        brand: String,
        problem: String,
    },
}

/// The config file: `{"preset": "balanced", "warmup_hours": 6,
/// "count_windows_minutes": [3, 10, 30, 60], "thresholds":
/// {"warning_z": 4.0}, "brands": {"acme": {"preset": "sensitive",
/// "min_warning_count": 5}}}`; `thresholds` overrides the preset for every
/// brand, a brand's fields override its own preset (or the default).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    preset: Option<String>,
    warmup_hours: Option<f64>,
    allowed_lateness_seconds: Option<i64>,
    /// Hours without a mention before a brand is forgotten (0: never).
    forget_idle_brands_hours: Option<f64>,
    /// Terms a brand holds at most (0: no limit).
    max_terms_per_brand: Option<usize>,
    /// Whether copies of a brand's recent texts bring their words again.
    terms_from_copies: Option<bool>,
    /// Mentions an hour a brand's terms are read from at least (0: all).
    term_sample_per_hour: Option<f64>,
    /// Windows of the emerging-terms detector and of the volume, negative
    /// and toxicity detectors, in minutes.
    term_windows_minutes: Option<Vec<usize>>,
    count_windows_minutes: Option<Vec<usize>>,
    /// Fields that override the preset's thresholds for every brand.
    #[serde(default)]
    thresholds: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    brands: HashMap<String, BrandOverride>,
}

#[derive(Debug, Deserialize)]
struct BrandOverride {
    preset: Option<String>,
    #[serde(flatten)]
    fields: serde_json::Map<String, serde_json::Value>,
}

impl DetectorConfig {
    /// Builds the config from a preset name and an optional config file.
    pub fn load(preset: &str, file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut config = DetectorConfig {
            default_thresholds: Thresholds::preset(preset)
                .ok_or_else(|| ConfigError::UnknownPreset(preset.into()))?,
            ..DetectorConfig::default()
        };
        let Some(path) = file else {
            return Ok(config);
        };
        let display = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: display.clone(),
            source,
        })?;
        let parsed: ConfigFile =
            serde_json::from_str(&text).map_err(|source| ConfigError::Parse {
                path: display.clone(),
                source,
            })?;
        if let Some(preset) = parsed.preset {
            config.default_thresholds =
                Thresholds::preset(&preset).ok_or(ConfigError::UnknownPreset(preset))?;
        }
        config.default_thresholds =
            merge_thresholds(config.default_thresholds, parsed.thresholds, &display, None)?;
        if let Some(hours) = parsed.warmup_hours {
            config.warmup_bins = (hours * 3600.0 / config.bin_seconds as f64).max(0.0) as u64;
        }
        if let Some(lateness) = parsed.allowed_lateness_seconds {
            config.allowed_lateness_seconds = lateness.max(0);
        }
        if let Some(hours) = parsed.forget_idle_brands_hours {
            config.forget_idle_bins =
                (hours * 3600.0 / config.bin_seconds as f64).ceil().max(0.0) as u64;
        }
        if let Some(limit) = parsed.max_terms_per_brand {
            config.max_terms_per_brand = limit;
        }
        if let Some(terms_from_copies) = parsed.terms_from_copies {
            config.terms_from_copies = terms_from_copies;
        }
        if let Some(per_hour) = parsed.term_sample_per_hour {
            config.term_sample_per_hour = per_hour.max(0.0);
        }
        let bin_minutes = (config.bin_seconds / 60).max(1) as usize;
        let to_bins = |minutes: Vec<usize>| -> Vec<usize> {
            minutes
                .into_iter()
                .map(|minutes| minutes.div_ceil(bin_minutes))
                .collect()
        };
        if let Some(minutes) = parsed.term_windows_minutes {
            config.windows = to_bins(minutes);
        }
        if let Some(minutes) = parsed.count_windows_minutes {
            config.count_windows = to_bins(minutes);
        }
        for (brand, brand_override) in parsed.brands {
            let base = match &brand_override.preset {
                Some(preset) => Thresholds::preset(preset)
                    .ok_or_else(|| ConfigError::UnknownPreset(preset.clone()))?,
                None => config.default_thresholds,
            };
            let thresholds = merge_thresholds(base, brand_override.fields, &display, Some(&brand))?;
            config.brand_thresholds.insert(brand, thresholds);
        }
        Ok(config)
    }

    /// Returns the thresholds that apply to `brand`.
    pub fn thresholds_for(&self, brand: &str) -> &Thresholds {
        self.brand_thresholds
            .get(brand)
            .unwrap_or(&self.default_thresholds)
    }
}

/// `base` with the given fields replaced; fields not given keep their
/// values. Unknown fields (a misspelt name) and thresholds that cannot
/// work are errors; `brand` names the brand they are for, if one.
fn merge_thresholds(
    base: Thresholds,
    fields: serde_json::Map<String, serde_json::Value>,
    path: &str,
    brand: Option<&str>,
) -> Result<Thresholds, ConfigError> {
    if fields.is_empty() {
        return Ok(base);
    }
    let mut merged = serde_json::to_value(base).unwrap_or_default();
    if let Some(object) = merged.as_object_mut() {
        object.extend(fields);
    }
    let thresholds: Thresholds =
        serde_json::from_value(merged).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source,
        })?;
    match thresholds.problem() {
        None => Ok(thresholds),
        Some(problem) => Err(ConfigError::Thresholds {
            path: path.to_owned(),
            brand: brand.map_or_else(String::new, |brand| format!(" for brand {brand:?}")),
            problem,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_presets_and_per_brand_overrides() {
        let directory = tempfile::tempdir().expect("dir");
        let path = directory.path().join("alerter.json");
        std::fs::write(
            &path,
            r#"{"preset": "conservative", "warmup_hours": 2, "thresholds": {"critical_z": 8.5},
                "count_windows_minutes": [5, 10, 20, 60], "term_windows_minutes": [15, 60],
                "forget_idle_brands_hours": 48,
                "max_terms_per_brand": 512, "terms_from_copies": true, "term_sample_per_hour": 0,
                "brands": {"acme": {"preset": "sensitive", "min_warning_count": 3}, "tiny": {"warning_z": 8.0, "min_share_ratio": 2.0, "min_toxic_excess": 80, "corroborated_z": 3.25}}}"#,
        )
        .expect("write");
        let config = DetectorConfig::load("balanced", Some(&path)).expect("config");
        assert_eq!(config.warmup_bins, 120);
        assert_eq!(config.count_windows, [5, 10, 20, 60]);
        assert_eq!(config.windows, [15, 60]);
        assert_eq!(config.forget_idle_bins, 48 * 60);
        assert_eq!(config.max_terms_per_brand, 512);
        assert!(config.terms_from_copies);
        assert_eq!(config.term_sample_per_hour, 0.0);
        assert_eq!(
            DetectorConfig::default().term_sample_per_hour,
            DEFAULT_TERM_SAMPLE_PER_HOUR
        );
        assert!(!DetectorConfig::default().terms_from_copies);
        assert_eq!(DetectorConfig::default().forget_idle_bins, 7 * 24 * 60);
        assert_eq!(config.thresholds_for("other").warning_z, 6.0);
        assert_eq!(config.thresholds_for("acme").min_warning_count, 3);
        assert_eq!(config.thresholds_for("acme").warning_z, 3.5);
        assert_eq!(config.thresholds_for("tiny").warning_z, 8.0);
        assert_eq!(config.thresholds_for("tiny").min_critical_count, 30);
        assert_eq!(config.thresholds_for("tiny").min_share_ratio, 2.0);
        assert_eq!(config.thresholds_for("acme").min_share_ratio, 1.5);
        assert_eq!(config.thresholds_for("tiny").min_toxic_excess, 80.0);
        assert_eq!(config.thresholds_for("acme").min_toxic_excess, 30.0);
        assert_eq!(config.thresholds_for("tiny").corroborated_z, 3.25);
        assert_eq!(config.thresholds_for("acme").corroborated_z, 2.25);
        assert_eq!(config.thresholds_for("other").corroborated_z, 4.0);
        assert_eq!(
            DetectorConfig::default().thresholds_for("x").corroborated_z,
            2.5
        );
        // Top-level fields change every brand without a preset of its own.
        assert_eq!(config.thresholds_for("other").critical_z, 8.5);
        assert_eq!(config.thresholds_for("tiny").critical_z, 8.5);
        assert_eq!(config.thresholds_for("acme").critical_z, 5.5);
        assert!(DetectorConfig::load("reckless", None).is_err());
    }

    #[test]
    fn every_preset_is_valid() {
        for preset in ["sensitive", "balanced", "conservative"] {
            let thresholds = Thresholds::preset(preset).expect("preset");
            assert_eq!(thresholds.problem(), None, "{preset}");
        }
    }

    /// A config that would run with nonsense (a division by a zero
    /// dispersion, a warning below its watch) or silently ignore a
    /// misspelt field is refused, saying what and where.
    #[test]
    fn thresholds_that_cannot_work_and_unknown_fields_are_refused() {
        let directory = tempfile::tempdir().expect("dir");
        let path = directory.path().join("alerter.json");
        let load = |text: &str| {
            std::fs::write(&path, text).expect("write");
            DetectorConfig::load("balanced", Some(&path))
                .err()
                .map(|error| error.to_string())
        };
        let refused = load(r#"{"brands": {"acme": {"dispersion": 0}}}"#).expect("refused");
        assert!(
            refused.contains(r#"for brand "acme""#)
                && refused.contains("dispersion must be above 0"),
            "{refused}"
        );
        let refused = load(r#"{"thresholds": {"warning_z": 2.5}}"#).expect("refused");
        assert!(
            refused.contains("must rise") && !refused.contains("brand"),
            "{refused}"
        );
        let refused = load(r#"{"thresholds": {"resolve_z": 3.0}}"#).expect("refused");
        assert!(refused.contains("resolve_z"), "{refused}");
        let refused = load(r#"{"thresholds": {"min_share_lift": 15}}"#).expect("refused");
        assert!(refused.contains("min_share_lift"), "{refused}");
        let refused = load(r#"{"brands": {"acme": {"warnign_z": 5}}}"#).expect("refused");
        assert!(refused.contains("warnign_z"), "{refused}");
        let refused = load(r#"{"warmup_hour": 2}"#).expect("refused");
        assert!(refused.contains("warmup_hour"), "{refused}");
        assert_eq!(load(r#"{"thresholds": {"warning_z": 3.0}}"#), None);
    }
}
