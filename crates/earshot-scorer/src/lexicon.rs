//! The degraded-mode scorer: a word lexicon, i.e. the per-word weights of two
//! regularised logistic regressions (3-class sentiment, binary toxicity)
//! over the words of a text, trained on the same training splits as the
//! heads. It scores a text in microseconds on the calling thread, so that
//! alerting keeps up while the model cannot (see `service`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use earshot_schema::{ModelInfo, Sentiment, SentimentProbs, Toxicity};
use serde::{Deserialize, Serialize};

use crate::error::ScorerError;
use crate::heads::TextScores;
use crate::train::{
    best_f1_threshold, load_dataset, sentiment_report, split_of, toxicity_report, DatasetSpec,
    Example, SentimentReport, Split, ToxicityReport,
};

pub const LEXICON_FILE: &str = "lexicon.json";
pub const LEXICON_MODEL_NAME: &str = "earshot-lexicon";

/// Words that flip the words after them (up to the next punctuation).
const NEGATORS: &[&str] = &["not", "no", "never", "nothing", "nobody", "none", "cannot"];
const NEGATION_SPAN: usize = 3;

/// The stored lexicon (`lexicon.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LexiconFile {
    pub name: String,
    pub version: String,
    pub sentiment_bias: [f32; 3],
    /// Word -> weights for negative, neutral, positive.
    pub sentiment: BTreeMap<String, [f32; 3]>,
    pub toxicity_bias: f32,
    pub toxicity: BTreeMap<String, f32>,
    pub toxicity_threshold: f32,
    #[serde(default)]
    pub training: serde_json::Value,
}

/// A loaded lexicon, ready to score.
#[derive(Debug, Clone)]
pub struct Lexicon {
    sentiment_bias: [f32; 3],
    sentiment: HashMap<String, [f32; 3]>,
    toxicity_bias: f32,
    toxicity: HashMap<String, f32>,
    toxicity_threshold: f32,
    info: ModelInfo,
}

impl Lexicon {
    pub fn load(path: &Path) -> Result<Self, ScorerError> {
        let bytes = std::fs::read(path)
            .map_err(|error| ScorerError::Data(format!("{}: {error}", path.display())))?;
        let file: LexiconFile = serde_json::from_slice(&bytes)
            .map_err(|error| ScorerError::Data(format!("{}: {error}", path.display())))?;
        Ok(Lexicon::from_file(file))
    }

    pub fn from_file(file: LexiconFile) -> Self {
        Lexicon {
            sentiment_bias: file.sentiment_bias,
            sentiment: file.sentiment.into_iter().collect(),
            toxicity_bias: file.toxicity_bias,
            toxicity: file.toxicity.into_iter().collect(),
            toxicity_threshold: file.toxicity_threshold,
            info: ModelInfo {
                name: file.name,
                version: file.version,
            },
        }
    }

    /// What scored mentions carry in `model` when this lexicon scored them.
    pub fn model_info(&self) -> &ModelInfo {
        &self.info
    }

    pub fn score(&self, text: &str) -> TextScores {
        let features = features(text);
        let mut logits = self.sentiment_bias;
        let mut toxic_logit = self.toxicity_bias;
        for feature in &features {
            if let Some(weights) = self.sentiment.get(feature.as_str()) {
                for (logit, weight) in logits.iter_mut().zip(weights) {
                    *logit += weight;
                }
            }
            if let Some(weight) = self.toxicity.get(feature.as_str()) {
                toxic_logit += weight;
            }
        }
        let [negative, neutral, positive] = softmax(logits);
        TextScores {
            sentiment: Sentiment::from_probs(SentimentProbs {
                negative,
                neutral,
                positive,
            }),
            toxicity: Toxicity::from_score(sigmoid(toxic_logit), self.toxicity_threshold),
        }
    }
}

/// The distinct features of a text: lower-cased words (URLs and @handles
/// dropped, `#` stripped), words after a negator prefixed `not_`, and
/// every emoji or other symbol character on its own.
pub fn features(text: &str) -> Vec<String> {
    let mut builder = FeatureBuilder::default();
    for raw in text.split_whitespace() {
        let lower = raw.to_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") || lower.starts_with('@') {
            continue;
        }
        let mut word = String::new();
        for character in lower.chars() {
            if character.is_alphanumeric() {
                word.push(character);
            } else if character == '\'' || character == '’' {
                word.push('\'');
            } else {
                builder.word(std::mem::take(&mut word));
                if matches!(character, '.' | ',' | '!' | '?' | ';' | ':') {
                    builder.negated_left = 0;
                }
                if !character.is_ascii() && !character.is_whitespace() && !character.is_control() {
                    builder.push(character.to_string());
                }
            }
        }
        builder.word(word);
    }
    builder.out
}

#[derive(Default)]
struct FeatureBuilder {
    seen: HashSet<String>,
    out: Vec<String>,
    negated_left: usize,
}

impl FeatureBuilder {
    fn push(&mut self, feature: String) {
        if self.seen.insert(feature.clone()) {
            self.out.push(feature);
        }
    }

    fn word(&mut self, word: String) {
        let word = word.trim_matches('\'').to_owned();
        if word.is_empty() {
            return;
        }
        let negator = NEGATORS.contains(&word.as_str()) || word.ends_with("n't");
        if self.negated_left > 0 {
            self.negated_left -= 1;
            self.push(format!("not_{word}"));
        } else {
            self.push(word);
        }
        if negator {
            self.negated_left = NEGATION_SPAN;
        }
    }
}

fn softmax(logits: [f32; 3]) -> [f32; 3] {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps = logits.map(|logit| (logit - max).exp());
    let sum: f32 = exps.iter().sum();
    exps.map(|value| value / sum)
}

fn sigmoid(value: f32) -> f32 {
    1.0 / (1.0 + (-value).exp())
}

/// Settings of `earshot-scorer train-lexicon`.
#[derive(Debug, Clone)]
pub struct LexiconSettings {
    pub output_dir: std::path::PathBuf,
    pub sentiment: DatasetSpec,
    pub toxicity: DatasetSpec,
    pub validation_fraction: f64,
    pub holdout_fraction: f64,
    pub seed: u64,
    pub command: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct LexiconReport {
    pub sentiment_holdout: SentimentReport,
    pub toxicity_holdout: ToxicityReport,
    pub sentiment_l2: f32,
    pub toxicity_l2: f32,
    pub sentiment_words: usize,
    pub toxicity_words: usize,
}

/// Sparse examples: feature indices and a class.
struct Encoded {
    rows: Vec<(Vec<u32>, usize)>,
}

fn encode(examples: &[&Example], vocabulary: &HashMap<String, u32>) -> Encoded {
    Encoded {
        rows: examples
            .iter()
            .map(|example| {
                let indices = features(&example.text)
                    .iter()
                    .filter_map(|feature| vocabulary.get(feature).copied())
                    .collect();
                (indices, example.label as usize)
            })
            .collect(),
    }
}

/// Multinomial logistic regression over binary features (`classes` = 2 is
/// fitted as a softmax too; its toxic logit is w1 - w0).
struct Linear {
    classes: usize,
    weights: Vec<f32>,
    bias: Vec<f32>,
}

impl Linear {
    fn logits(&self, features: &[u32]) -> Vec<f32> {
        let mut logits = self.bias.clone();
        for feature in features {
            let row = *feature as usize * self.classes;
            for (class, logit) in logits.iter_mut().enumerate() {
                *logit += self.weights[row + class];
            }
        }
        logits
    }

    fn probabilities(&self, features: &[u32]) -> Vec<f32> {
        let logits = self.logits(features);
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let exps: Vec<f32> = logits.iter().map(|logit| (logit - max).exp()).collect();
        let sum: f32 = exps.iter().sum();
        exps.iter().map(|value| value / sum).collect()
    }

    fn mean_loss(&self, data: &Encoded) -> f64 {
        let total: f64 = data
            .rows
            .iter()
            .map(|(features, label)| -(self.probabilities(features)[*label].max(1e-7) as f64).ln())
            .sum();
        total / data.rows.len().max(1) as f64
    }
}

/// Adagrad over shuffled examples with L2 on the touched weights; stops when
/// the validation loss has not improved for 3 epochs and keeps the best.
fn fit(
    train: &Encoded,
    validation: &Encoded,
    vocabulary_size: usize,
    classes: usize,
    l2: f32,
    seed: u64,
) -> (Linear, f64) {
    let mut model = Linear {
        classes,
        weights: vec![0.0; vocabulary_size * classes],
        bias: vec![0.0; classes],
    };
    let mut squared = vec![1e-6f32; vocabulary_size * classes];
    let mut bias_squared = vec![1e-6f32; classes];
    let learning_rate = 0.2f32;
    let mut order: Vec<usize> = (0..train.rows.len()).collect();
    let mut state = seed.max(1);
    let mut best: Option<(Vec<f32>, Vec<f32>, f64)> = None;
    let mut stale = 0;
    for _epoch in 0..40 {
        // Fisher-Yates with xorshift: deterministic for a seed.
        for index in (1..order.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            order.swap(index, (state % (index as u64 + 1)) as usize);
        }
        for &row in &order {
            let (features, label) = &train.rows[row];
            let probabilities = model.probabilities(features);
            for class in 0..classes {
                let gradient = probabilities[class] - f32::from(u8::from(class == *label));
                bias_squared[class] += gradient * gradient;
                model.bias[class] -= learning_rate * gradient / bias_squared[class].sqrt();
                for feature in features {
                    let slot = *feature as usize * classes + class;
                    let step = gradient + l2 * model.weights[slot];
                    squared[slot] += step * step;
                    model.weights[slot] -= learning_rate * step / squared[slot].sqrt();
                }
            }
        }
        let loss = model.mean_loss(validation);
        if best
            .as_ref()
            .is_none_or(|(_, _, best_loss)| loss < *best_loss)
        {
            best = Some((model.weights.clone(), model.bias.clone(), loss));
            stale = 0;
        } else {
            stale += 1;
            if stale >= 3 {
                break;
            }
        }
    }
    let (weights, bias, loss) =
        best.unwrap_or((model.weights.clone(), model.bias.clone(), f64::MAX));
    (
        Linear {
            classes,
            weights,
            bias,
        },
        loss,
    )
}

fn split_examples<'a>(
    examples: &'a [Example],
    settings: &LexiconSettings,
) -> [Vec<&'a Example>; 3] {
    let mut splits: [Vec<&Example>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    for example in examples {
        let index = match split_of(
            &example.text,
            settings.validation_fraction,
            settings.holdout_fraction,
        ) {
            Split::Train => 0,
            Split::Validation => 1,
            Split::Holdout => 2,
        };
        splits[index].push(example);
    }
    splits
}

/// Words seen at least twice in the training split.
fn vocabulary_of(train: &[&Example]) -> (HashMap<String, u32>, Vec<String>) {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for example in train {
        for feature in features(&example.text) {
            *counts.entry(feature).or_default() += 1;
        }
    }
    let mut words: Vec<String> = counts
        .into_iter()
        .filter(|(_, count)| *count >= 2)
        .map(|(word, _)| word)
        .collect();
    words.sort();
    let index = words
        .iter()
        .enumerate()
        .map(|(position, word)| (word.clone(), position as u32))
        .collect();
    (index, words)
}

/// Fits with each L2 strength and keeps the lowest validation loss.
fn fit_best(
    train: &Encoded,
    validation: &Encoded,
    vocabulary_size: usize,
    classes: usize,
    seed: u64,
) -> (Linear, f32) {
    let mut best: Option<(Linear, f32, f64)> = None;
    for l2 in [1e-3f32, 1e-2, 3e-2, 1e-1] {
        let (model, loss) = fit(train, validation, vocabulary_size, classes, l2, seed);
        tracing::info!(classes, l2, validation_loss = loss, "fitted lexicon");
        if best
            .as_ref()
            .is_none_or(|(_, _, best_loss)| loss < *best_loss)
        {
            best = Some((model, l2, loss));
        }
    }
    match best {
        Some((model, l2, _)) => (model, l2),
        None => unreachable!("at least one L2 strength is tried"),
    }
}

/// Rounds a weight to 4 decimals so that the committed file stays small.
fn rounded(value: f32) -> f32 {
    (value * 10_000.0).round() / 10_000.0
}

/// Trains the lexicon on the training splits, picks L2 and the toxicity
/// threshold on the validation splits, reports the hold-outs and writes
/// `lexicon.json` into the output directory.
pub fn train_lexicon(settings: &LexiconSettings) -> Result<LexiconReport, ScorerError> {
    let (sentiment_examples, sentiment_hash) = load_dataset(&settings.sentiment)?;
    let (toxicity_examples, toxicity_hash) = load_dataset(&settings.toxicity)?;

    let [train, validation, holdout] = split_examples(&sentiment_examples, settings);
    let (vocabulary, words) = vocabulary_of(&train);
    let (sentiment_model, sentiment_l2) = fit_best(
        &encode(&train, &vocabulary),
        &encode(&validation, &vocabulary),
        words.len(),
        3,
        settings.seed,
    );
    let mut sentiment = BTreeMap::new();
    for (index, word) in words.iter().enumerate() {
        let row = &sentiment_model.weights[index * 3..index * 3 + 3];
        let weights = [rounded(row[0]), rounded(row[1]), rounded(row[2])];
        if weights.iter().any(|weight| weight.abs() >= 1e-3) {
            sentiment.insert(word.clone(), weights);
        }
    }
    let sentiment_sizes = [train.len(), validation.len(), holdout.len()];

    let [toxic_train, toxic_validation, toxic_holdout] =
        split_examples(&toxicity_examples, settings);
    let (toxic_vocabulary, toxic_words) = vocabulary_of(&toxic_train);
    let (toxicity_model, toxicity_l2) = fit_best(
        &encode(&toxic_train, &toxic_vocabulary),
        &encode(&toxic_validation, &toxic_vocabulary),
        toxic_words.len(),
        2,
        settings.seed,
    );
    let mut toxicity = BTreeMap::new();
    for (index, word) in toxic_words.iter().enumerate() {
        let weight =
            rounded(toxicity_model.weights[index * 2 + 1] - toxicity_model.weights[index * 2]);
        if weight.abs() >= 1e-3 {
            toxicity.insert(word.clone(), weight);
        }
    }
    let toxicity_sizes = [
        toxic_train.len(),
        toxic_validation.len(),
        toxic_holdout.len(),
    ];

    let mut file = LexiconFile {
        name: LEXICON_MODEL_NAME.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        sentiment_bias: [
            sentiment_model.bias[0],
            sentiment_model.bias[1],
            sentiment_model.bias[2],
        ],
        sentiment,
        toxicity_bias: toxicity_model.bias[1] - toxicity_model.bias[0],
        toxicity,
        toxicity_threshold: 0.5,
        training: serde_json::Value::Null,
    };
    // Score through the stored (rounded) lexicon, exactly as served.
    let mut lexicon = Lexicon::from_file(file.clone());
    let toxic_scores = |lexicon: &Lexicon, examples: &[&Example]| -> (Vec<f32>, Vec<i64>) {
        examples
            .iter()
            .map(|example| (lexicon.score(&example.text).toxicity.score, example.label))
            .unzip()
    };
    let (validation_scores, validation_labels) = toxic_scores(&lexicon, &toxic_validation);
    let threshold = best_f1_threshold(&validation_scores, &validation_labels);
    file.toxicity_threshold = threshold;
    lexicon.toxicity_threshold = threshold;

    let probabilities: Vec<[f32; 3]> = holdout
        .iter()
        .map(|example| {
            let probs = lexicon.score(&example.text).sentiment.probs;
            [probs.negative, probs.neutral, probs.positive]
        })
        .collect();
    let truth: Vec<i64> = holdout.iter().map(|example| example.label).collect();
    let sentiment_holdout = sentiment_report(&probabilities, &truth);
    let (holdout_scores, holdout_labels) = toxic_scores(&lexicon, &toxic_holdout);
    let toxicity_holdout = toxicity_report(&holdout_scores, &holdout_labels, threshold);
    let report = LexiconReport {
        sentiment_holdout,
        toxicity_holdout,
        sentiment_l2,
        toxicity_l2,
        sentiment_words: file.sentiment.len(),
        toxicity_words: file.toxicity.len(),
    };
    let describe = |spec: &DatasetSpec, hash: &str, sizes: [usize; 3]| {
        serde_json::json!({
            "file": spec.path.file_name().map(|name| name.to_string_lossy().into_owned()),
            "sha256": hash,
            "train": sizes[0], "validation": sizes[1], "holdout": sizes[2],
        })
    };
    file.training = serde_json::json!({
        "command": settings.command,
        "seed": settings.seed,
        "split": "by sha256 of the lower-cased text (the heads' split)",
        "sentiment_data": describe(&settings.sentiment, &sentiment_hash, sentiment_sizes),
        "toxicity_data": describe(&settings.toxicity, &toxicity_hash, toxicity_sizes),
        "report": report,
    });
    std::fs::create_dir_all(&settings.output_dir)?;
    let path = settings.output_dir.join(LEXICON_FILE);
    let text = serde_json::to_string(&file)
        .map_err(|error| ScorerError::Data(format!("lexicon: {error}")))?;
    std::fs::write(&path, text)?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_mark_negation_drop_handles_and_keep_emoji() {
        let found = features("@Delta I don't like this flight. Great crew 😡 http://t.co/x #Fail");
        assert_eq!(
            found,
            [
                "i",
                "don't",
                "not_like",
                "not_this",
                "not_flight",
                "great",
                "crew",
                "😡",
                "fail"
            ]
        );
    }

    #[test]
    fn shipped_lexicon_scores_plain_cases_sensibly() {
        let lexicon =
            Lexicon::load(&crate::train::default_heads_dir().join(LEXICON_FILE)).expect("lexicon");
        let angry = lexicon.score("worst airline ever, lost my bag and rude staff");
        let happy = lexicon.score("thank you so much, great flight and amazing crew!");
        assert!(angry.sentiment.score < 0.0, "{angry:?}");
        assert!(happy.sentiment.score > 0.0, "{happy:?}");
        let insult = lexicon.score("you are a stupid idiot");
        let polite = lexicon.score("thanks for the helpful reply");
        assert!(insult.toxicity.score > polite.toxicity.score);
        assert_eq!(lexicon.model_info().name, LEXICON_MODEL_NAME);
    }
}
