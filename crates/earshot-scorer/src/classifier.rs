//! Hugging Face sequence classifiers (BERT, DistilBERT, RoBERTa) loaded from
//! a model directory: `config.json`, `model.safetensors` and the tokenizer's
//! vocabulary (`vocab.txt`, or `vocab.json` + `merges.txt` for RoBERTa).
//!
//! Batches are padded with the model's pad token and always passed with an
//! attention mask, so that a text's logits do not depend on its batch (the
//! rust-bert pipelines' pitfall).

use std::path::{Path, PathBuf};

use rust_bert::bert::{BertConfig, BertForSequenceClassification};
use rust_bert::distilbert::{DistilBertConfig, DistilBertModelClassifier};
use rust_bert::roberta::RobertaForSequenceClassification;
use rust_tokenizers::tokenizer::{BertTokenizer, RobertaTokenizer, Tokenizer, TruncationStrategy};
use serde_json::Value;
use tch::{nn, Device, Kind, Tensor};

use crate::error::ScorerError;

/// The architectures this loader knows, from `config.json`'s `model_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    Bert,
    DistilBert,
    Roberta,
}

enum Model {
    Bert(BertForSequenceClassification),
    DistilBert(DistilBertModelClassifier),
    Roberta(RobertaForSequenceClassification),
}

enum TextTokenizer {
    WordPiece(Box<BertTokenizer>),
    Bpe(Box<RobertaTokenizer>),
}

/// A sequence classifier with its tokenizer and label names.
pub struct SequenceClassifier {
    model: Model,
    tokenizer: TextTokenizer,
    architecture: Architecture,
    /// Label names by class index (`id2label`).
    labels: Vec<String>,
    /// Several independent labels (sigmoid) rather than one class (softmax).
    multi_label: bool,
    pad_id: i64,
    device: Device,
    max_tokens: usize,
    name: String,
    // Owns the weights the model borrows.
    _variables: nn::VarStore,
}

fn read_json(path: &Path) -> Result<Value, ScorerError> {
    let bytes = std::fs::read(path)
        .map_err(|error| ScorerError::Model(format!("{}: {error}", path.display())))?;
    serde_json::from_slice(&bytes)
        .map_err(|error| ScorerError::Model(format!("{}: {error}", path.display())))
}

fn require(path: PathBuf) -> Result<PathBuf, ScorerError> {
    if path.is_file() {
        Ok(path)
    } else {
        Err(ScorerError::MissingFile(path.display().to_string()))
    }
}

/// Fills fields rust-bert's config structs require but recent `transformers`
/// versions no longer write, with `transformers`' own defaults.
fn with_defaults(mut config: Value, defaults: &[(&str, Value)]) -> Value {
    if let Value::Object(object) = &mut config {
        for (key, value) in defaults {
            object
                .entry(key.to_string())
                .or_insert_with(|| value.clone());
        }
    }
    config
}

impl SequenceClassifier {
    /// Loads a classifier directory.
    pub fn load(directory: &Path, device: Device, max_tokens: usize) -> Result<Self, ScorerError> {
        let config_path = require(directory.join("config.json"))?;
        let weights_path = require(directory.join("model.safetensors"))?;
        let config = read_json(&config_path)?;
        let model_type = config["model_type"].as_str().unwrap_or_default().to_owned();
        let architecture = match model_type.as_str() {
            "bert" => Architecture::Bert,
            "distilbert" => Architecture::DistilBert,
            "roberta" => Architecture::Roberta,
            other => {
                return Err(ScorerError::Model(format!(
                    "{}: model_type {other:?} is not supported (bert, distilbert, roberta)",
                    config_path.display()
                )))
            }
        };
        let labels = label_names(&config).ok_or_else(|| {
            ScorerError::Model(format!(
                "{}: id2label does not list labels 0..n",
                config_path.display()
            ))
        })?;
        // rust-bert sizes the classifier from id2label; transformers leaves
        // the default (LABEL_0, LABEL_1) out of config.json.
        let mut config = config;
        config["id2label"] = labels
            .iter()
            .enumerate()
            .map(|(index, label)| (index.to_string(), Value::String(label.clone())))
            .collect::<serde_json::Map<_, _>>()
            .into();
        let multi_label = config["problem_type"].as_str() == Some("multi_label_classification");
        let pad_id = config["pad_token_id"]
            .as_i64()
            .unwrap_or(match architecture {
                Architecture::Roberta => 1,
                _ => 0,
            });
        let tokenizer_config = directory.join("tokenizer_config.json");
        let tokenizer_config = if tokenizer_config.is_file() {
            read_json(&tokenizer_config)?
        } else {
            Value::Null
        };
        let variables = nn::VarStore::new(device);
        let model_error = |error: rust_bert::RustBertError| {
            ScorerError::Model(format!("{}: {error}", config_path.display()))
        };
        let (model, tokenizer) = match architecture {
            Architecture::Bert | Architecture::Roberta => {
                let config: BertConfig = serde_json::from_value(with_defaults(
                    config,
                    &[("output_attentions", Value::Bool(false))],
                ))
                .map_err(|error| {
                    ScorerError::Model(format!("{}: {error}", config_path.display()))
                })?;
                if architecture == Architecture::Bert {
                    (
                        Model::Bert(
                            BertForSequenceClassification::new(variables.root(), &config)
                                .map_err(model_error)?,
                        ),
                        wordpiece(directory, &tokenizer_config)?,
                    )
                } else {
                    (
                        Model::Roberta(
                            RobertaForSequenceClassification::new(variables.root(), &config)
                                .map_err(model_error)?,
                        ),
                        byte_level_bpe(directory, &tokenizer_config)?,
                    )
                }
            }
            Architecture::DistilBert => {
                let config: DistilBertConfig = serde_json::from_value(with_defaults(
                    config,
                    &[
                        ("tie_weights_", Value::Bool(true)),
                        ("qa_dropout", Value::from(0.1)),
                        ("seq_classif_dropout", Value::from(0.2)),
                        ("sinusoidal_pos_embds", Value::Bool(false)),
                        ("initializer_range", Value::from(0.02)),
                    ],
                ))
                .map_err(|error| {
                    ScorerError::Model(format!("{}: {error}", config_path.display()))
                })?;
                (
                    Model::DistilBert(
                        DistilBertModelClassifier::new(variables.root(), &config)
                            .map_err(model_error)?,
                    ),
                    wordpiece(directory, &tokenizer_config)?,
                )
            }
        };
        // The copy into the variables must not be recorded by autograd; a
        // tensor the model needs but the file lacks is an error.
        tch::no_grad(|| variables.read_safetensors(&weights_path))
            .map_err(|error| ScorerError::Model(format!("{}: {error}", weights_path.display())))?;
        let mut variables = variables;
        variables.freeze();
        let name = directory
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| model_type.clone());
        Ok(SequenceClassifier {
            model,
            tokenizer,
            architecture,
            labels,
            multi_label,
            pad_id,
            device,
            max_tokens: max_tokens.clamp(8, 512),
            name,
            _variables: variables,
        })
    }

    pub fn architecture(&self) -> Architecture {
        self.architecture
    }

    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    pub fn is_multi_label(&self) -> bool {
        self.multi_label
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Token ids of each text (with the model's special tokens), truncated.
    pub fn tokenize(&self, texts: &[&str]) -> Vec<Vec<i64>> {
        let bound = self.max_tokens * crate::encoder::CHARS_PER_TOKEN_BOUND;
        let clipped: Vec<&str> = texts
            .iter()
            .map(|text| earshot_schema::clip_chars(text, bound))
            .collect();
        let encoded = match &self.tokenizer {
            TextTokenizer::WordPiece(tokenizer) => tokenizer.encode_list(
                &clipped,
                self.max_tokens,
                &TruncationStrategy::LongestFirst,
                0,
            ),
            TextTokenizer::Bpe(tokenizer) => tokenizer.encode_list(
                &clipped,
                self.max_tokens,
                &TruncationStrategy::LongestFirst,
                0,
            ),
        };
        encoded.into_iter().map(|input| input.token_ids).collect()
    }

    /// Logits for a padded, masked batch of token sequences ([n, labels], CPU).
    pub fn logits_for_tokens(&self, sequences: &[Vec<i64>]) -> Result<Tensor, ScorerError> {
        if sequences.is_empty() {
            return Ok(Tensor::zeros(
                [0, self.labels.len() as i64],
                (Kind::Float, Device::Cpu),
            ));
        }
        let (ids, mask) = crate::batching::pad(sequences, self.pad_id, self.device);
        let logits = tch::no_grad(|| -> Result<Tensor, ScorerError> {
            Ok(match &self.model {
                Model::Bert(model) => {
                    model
                        .forward_t(Some(&ids), Some(&mask), None, None, None, false)
                        .logits
                }
                Model::Roberta(model) => {
                    model
                        .forward_t(Some(&ids), Some(&mask), None, None, None, false)
                        .logits
                }
                Model::DistilBert(model) => {
                    model
                        .forward_t(Some(&ids), Some(&mask), None, false)
                        .map_err(|error| ScorerError::Model(error.to_string()))?
                        .logits
                }
            })
        })?;
        Ok(logits.to_device(Device::Cpu))
    }

    /// Per-label probabilities ([n, labels]): softmax over classes, or a
    /// sigmoid per label for multi-label models; length-sorted chunks.
    pub fn probabilities(&self, texts: &[&str], chunk: usize) -> Result<Tensor, ScorerError> {
        let sequences = self.tokenize(texts);
        let width = self.labels.len() as i64;
        crate::batching::length_sorted_rows(&sequences, chunk, width, |batch| {
            let logits = self.logits_for_tokens(batch)?;
            Ok(if self.multi_label {
                logits.sigmoid()
            } else {
                logits.softmax(-1, Kind::Float)
            })
        })
    }
}

/// `id2label` as a list by index; without one, `transformers`' default of
/// `num_labels` (2) labels named `LABEL_<i>`.
fn label_names(config: &Value) -> Option<Vec<String>> {
    let Some(map) = config["id2label"].as_object() else {
        let count = config["num_labels"].as_u64().unwrap_or(2);
        return Some((0..count).map(|index| format!("LABEL_{index}")).collect());
    };
    let mut labels: Vec<(usize, String)> = map
        .iter()
        .filter_map(|(index, name)| Some((index.parse().ok()?, name.as_str()?.to_owned())))
        .collect();
    labels.sort();
    let complete = labels
        .iter()
        .enumerate()
        .all(|(position, (index, _))| position == *index);
    (complete && !labels.is_empty()).then(|| labels.into_iter().map(|(_, name)| name).collect())
}

fn wordpiece(directory: &Path, tokenizer_config: &Value) -> Result<TextTokenizer, ScorerError> {
    let vocab = require(directory.join("vocab.txt"))?;
    let lower_case = tokenizer_config["do_lower_case"].as_bool().unwrap_or(true);
    let strip_accents = tokenizer_config["strip_accents"]
        .as_bool()
        .unwrap_or(lower_case);
    BertTokenizer::from_file(&vocab, lower_case, strip_accents)
        .map(|tokenizer| TextTokenizer::WordPiece(Box::new(tokenizer)))
        .map_err(|error| ScorerError::Model(format!("{}: {error}", vocab.display())))
}

fn byte_level_bpe(
    directory: &Path,
    tokenizer_config: &Value,
) -> Result<TextTokenizer, ScorerError> {
    let vocab = require(directory.join("vocab.json"))?;
    let merges = require(directory.join("merges.txt"))?;
    let lower_case = tokenizer_config["do_lower_case"].as_bool().unwrap_or(false);
    let add_prefix_space = tokenizer_config["add_prefix_space"]
        .as_bool()
        .unwrap_or(false);
    RobertaTokenizer::from_file(&vocab, &merges, lower_case, add_prefix_space)
        .map(|tokenizer| TextTokenizer::Bpe(Box::new(tokenizer)))
        .map_err(|error| ScorerError::Model(format!("{}: {error}", vocab.display())))
}

/// How a classifier's labels become earshot's scores.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelMapping {
    /// Class indices for negative, neutral (absent for 2-class models) and positive.
    Sentiment {
        negative: usize,
        neutral: Option<usize>,
        positive: usize,
    },
    /// The index of the toxic label.
    Toxicity { toxic: usize },
}

impl LabelMapping {
    /// Maps sentiment labels by name (`negative`/`neg`/`LABEL_0`... via
    /// `overrides` such as `LABEL_0=negative`).
    pub fn sentiment(
        labels: &[String],
        overrides: &[(String, String)],
    ) -> Result<Self, ScorerError> {
        let meaning = |label: &str| -> Option<String> {
            if let Some((_, meaning)) = overrides.iter().find(|(name, _)| name == label) {
                return Some(meaning.to_ascii_lowercase());
            }
            let lower = label.to_ascii_lowercase();
            ["negative", "neutral", "positive"]
                .into_iter()
                .find(|meaning| {
                    lower == *meaning || (lower.len() >= 3 && meaning.starts_with(&lower))
                })
                .map(str::to_owned)
        };
        let find = |wanted: &str| {
            labels
                .iter()
                .position(|label| meaning(label).as_deref() == Some(wanted))
        };
        match (find("negative"), find("neutral"), find("positive")) {
            (Some(negative), neutral, Some(positive)) => Ok(LabelMapping::Sentiment {
                negative,
                neutral,
                positive,
            }),
            _ => Err(ScorerError::Model(format!(
                "cannot tell which of the labels {labels:?} are negative and positive; map them, e.g. --sentiment-label-map LABEL_0=negative,LABEL_1=neutral,LABEL_2=positive"
            ))),
        }
    }

    /// Finds the toxic label: `wanted` if given, else the first label named
    /// toxic/toxicity/insult/offensive/hate, else label 1 of a 2-label model.
    pub fn toxicity(labels: &[String], wanted: Option<&str>) -> Result<Self, ScorerError> {
        let position = match wanted {
            Some(wanted) => labels.iter().position(|label| label == wanted),
            None => labels
                .iter()
                .position(|label| {
                    let lower = label.to_ascii_lowercase();
                    [
                        "toxic",
                        "toxicity",
                        "insult",
                        "offensive",
                        "hate",
                        "abusive",
                    ]
                    .contains(&lower.as_str())
                })
                .or((labels.len() == 2).then_some(1)),
        };
        position
            .map(|toxic| LabelMapping::Toxicity { toxic })
            .ok_or_else(|| {
                ScorerError::Model(format!(
                    "cannot tell which of the labels {labels:?} is toxic; name it with --toxicity-label"
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(labels: &[&str]) -> Vec<String> {
        labels.iter().map(|label| (*label).to_owned()).collect()
    }

    #[test]
    fn maps_sentiment_labels_by_name_or_override() {
        assert_eq!(
            LabelMapping::sentiment(&names(&["negative", "neutral", "positive"]), &[])
                .expect("map"),
            LabelMapping::Sentiment {
                negative: 0,
                neutral: Some(1),
                positive: 2
            }
        );
        assert_eq!(
            LabelMapping::sentiment(&names(&["POS", "NEG"]), &[]).expect("map"),
            LabelMapping::Sentiment {
                negative: 1,
                neutral: None,
                positive: 0
            }
        );
        let overrides = vec![
            ("LABEL_0".to_owned(), "negative".to_owned()),
            ("LABEL_1".to_owned(), "neutral".to_owned()),
            ("LABEL_2".to_owned(), "positive".to_owned()),
        ];
        assert_eq!(
            LabelMapping::sentiment(&names(&["LABEL_0", "LABEL_1", "LABEL_2"]), &overrides)
                .expect("map"),
            LabelMapping::Sentiment {
                negative: 0,
                neutral: Some(1),
                positive: 2
            }
        );
        assert!(LabelMapping::sentiment(&names(&["LABEL_0", "LABEL_1"]), &[]).is_err());
    }

    #[test]
    fn finds_the_toxic_label() {
        assert_eq!(
            LabelMapping::toxicity(&names(&["toxic", "severe_toxic", "obscene"]), None)
                .expect("map"),
            LabelMapping::Toxicity { toxic: 0 }
        );
        assert_eq!(
            LabelMapping::toxicity(&names(&["LABEL_0", "LABEL_1"]), None).expect("map"),
            LabelMapping::Toxicity { toxic: 1 }
        );
        assert_eq!(
            LabelMapping::toxicity(&names(&["a", "b", "c"]), Some("c")).expect("map"),
            LabelMapping::Toxicity { toxic: 2 }
        );
        assert!(LabelMapping::toxicity(&names(&["a", "b", "c"]), None).is_err());
    }

    #[test]
    fn reads_id2label_in_index_order() {
        let config = serde_json::json!({"id2label": {"1": "b", "0": "a", "2": "c"}});
        assert_eq!(label_names(&config), Some(names(&["a", "b", "c"])));
        let gap = serde_json::json!({"id2label": {"0": "a", "2": "c"}});
        assert_eq!(label_names(&gap), None);
        let default = serde_json::json!({"model_type": "distilbert"});
        assert_eq!(label_names(&default), Some(names(&["LABEL_0", "LABEL_1"])));
    }
}
