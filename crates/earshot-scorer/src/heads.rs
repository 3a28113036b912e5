//! Classification heads over sentence embeddings: small MLPs (or linear
//! layers) stored as safetensors with a JSON manifest beside them.

use std::path::Path;

use earshot_schema::{ModelInfo, Sentiment, SentimentProbs, Toxicity};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use crate::error::ScorerError;

/// A stack of dense layers with ReLU between them.
#[derive(Debug)]
pub struct Mlp {
    layers: Vec<(Tensor, Tensor)>,
}

impl Mlp {
    pub fn new(layers: Vec<(Tensor, Tensor)>) -> Self {
        Mlp { layers }
    }

    /// Returns logits for each row of `input` ([n, in] -> [n, out]).
    pub fn forward(&self, input: &Tensor) -> Tensor {
        let mut activation = input.shallow_clone();
        let last = self.layers.len().saturating_sub(1);
        for (index, (weight, bias)) in self.layers.iter().enumerate() {
            activation = activation.matmul(&weight.tr()) + bias;
            if index < last {
                activation = activation.relu();
            }
        }
        activation
    }

    pub fn layers(&self) -> &[(Tensor, Tensor)] {
        &self.layers
    }
}

/// What `heads.json` records about a trained pair of heads.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeadsManifest {
    pub name: String,
    pub version: String,
    pub encoder: String,
    pub hidden_size: i64,
    pub max_tokens: usize,
    pub sentiment_labels: Vec<String>,
    pub toxicity_threshold: f32,
    #[serde(default)]
    pub training: serde_json::Value,
}

/// Sentiment (3-class) and toxicity (binary) heads.
pub struct Heads {
    pub sentiment: Mlp,
    pub toxicity: Mlp,
    pub manifest: HeadsManifest,
}

/// Scores of one text.
#[derive(Debug, Clone, PartialEq)]
pub struct TextScores {
    pub sentiment: Sentiment,
    pub toxicity: Toxicity,
}

pub const HEADS_FILE: &str = "heads.safetensors";
pub const MANIFEST_FILE: &str = "heads.json";

impl Heads {
    /// Loads `heads.safetensors` and `heads.json` from `directory`.
    pub fn load(directory: &Path) -> Result<Self, ScorerError> {
        let manifest_path = directory.join(MANIFEST_FILE);
        let manifest: HeadsManifest = serde_json::from_slice(&std::fs::read(&manifest_path)?)
            .map_err(|error| ScorerError::Heads(format!("{}: {error}", manifest_path.display())))?;
        let tensors = Tensor::read_safetensors(directory.join(HEADS_FILE))?;
        let sentiment = read_mlp(&tensors, "sentiment")?;
        let toxicity = read_mlp(&tensors, "toxicity")?;
        Ok(Heads {
            sentiment,
            toxicity,
            manifest,
        })
    }

    /// Writes both heads and the manifest into `directory`.
    pub fn save(&self, directory: &Path) -> Result<(), ScorerError> {
        std::fs::create_dir_all(directory)?;
        let mut named: Vec<(String, Tensor)> = Vec::new();
        for (prefix, mlp) in [("sentiment", &self.sentiment), ("toxicity", &self.toxicity)] {
            for (index, (weight, bias)) in mlp.layers().iter().enumerate() {
                named.push((
                    format!("{prefix}.{index}.weight"),
                    weight.to_kind(Kind::Float).contiguous(),
                ));
                named.push((
                    format!("{prefix}.{index}.bias"),
                    bias.to_kind(Kind::Float).contiguous(),
                ));
            }
        }
        Tensor::write_safetensors(&named, directory.join(HEADS_FILE))?;
        let manifest = serde_json::to_vec_pretty(&self.manifest)
            .map_err(|error| ScorerError::Heads(error.to_string()))?;
        std::fs::write(directory.join(MANIFEST_FILE), manifest)?;
        Ok(())
    }

    /// Returns (sentiment probabilities [n, 3], toxicity probabilities [n]).
    pub fn probabilities(&self, embeddings: &Tensor) -> (Tensor, Tensor) {
        tch::no_grad(|| {
            let sentiment = self.sentiment.forward(embeddings).softmax(-1, Kind::Float);
            let toxicity = self.toxicity.forward(embeddings).squeeze_dim(-1).sigmoid();
            (sentiment, toxicity)
        })
    }

    /// Scores each embedding row.
    pub fn score(&self, embeddings: &Tensor) -> Result<Vec<TextScores>, ScorerError> {
        let (sentiment, toxicity) = self.probabilities(embeddings);
        let sentiment: Vec<f32> = Vec::<f32>::try_from(sentiment.flatten(0, -1))?;
        let toxicity: Vec<f32> = Vec::<f32>::try_from(toxicity.flatten(0, -1))?;
        Ok(sentiment
            .chunks_exact(3)
            .zip(toxicity)
            .map(|(probs, toxic)| TextScores {
                sentiment: Sentiment::from_probs(SentimentProbs {
                    negative: probs[0],
                    neutral: probs[1],
                    positive: probs[2],
                }),
                toxicity: Toxicity::from_score(toxic, self.manifest.toxicity_threshold),
            })
            .collect())
    }

    pub fn model_info(&self) -> ModelInfo {
        ModelInfo {
            name: self.manifest.name.clone(),
            version: self.manifest.version.clone(),
        }
    }
}

fn read_mlp(tensors: &[(String, Tensor)], prefix: &str) -> Result<Mlp, ScorerError> {
    let find = |name: String| {
        tensors
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, tensor)| tensor.to_kind(Kind::Float))
    };
    let mut layers = Vec::new();
    for index in 0.. {
        match (
            find(format!("{prefix}.{index}.weight")),
            find(format!("{prefix}.{index}.bias")),
        ) {
            (Some(weight), Some(bias)) => layers.push((weight, bias)),
            _ => break,
        }
    }
    if layers.is_empty() {
        return Err(ScorerError::Heads(format!(
            "no `{prefix}.0.weight` in {HEADS_FILE}"
        )));
    }
    Ok(Mlp::new(layers))
}
