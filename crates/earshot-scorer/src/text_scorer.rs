//! What turns texts into scores: the shipped heads over MiniLM embeddings,
//! or a Hugging Face classifier for sentiment and/or toxicity in their place.

use std::path::PathBuf;

use earshot_schema::{ModelInfo, Sentiment, SentimentProbs, Toxicity};
use tch::Tensor;

use crate::classifier::{LabelMapping, SequenceClassifier};
use crate::encoder::{Encoder, Precision};
use crate::error::ScorerError;
use crate::heads::{Heads, TextScores};

/// A Hugging Face classifier directory used instead of a head.
#[derive(Debug, Clone, Default)]
pub struct ClassifierSettings {
    /// Sentiment classifier directory.
    pub sentiment_model: Option<PathBuf>,
    /// `LABEL=negative|neutral|positive` for labels without telling names.
    pub sentiment_label_map: Vec<(String, String)>,
    /// Toxicity classifier directory.
    pub toxicity_model: Option<PathBuf>,
    /// Name of the toxic label (default: found by name, or label 1 of 2).
    pub toxicity_label: Option<String>,
    /// Probability at which a mention counts as toxic for the classifier.
    pub toxicity_threshold: f32,
}

struct Classified {
    classifier: SequenceClassifier,
    mapping: LabelMapping,
}

/// Scores texts with whichever models are configured.
pub struct TextScorer {
    /// MiniLM and the shipped heads, when a head is still needed.
    embedding: Option<(Encoder, Heads)>,
    sentiment: Option<Classified>,
    toxicity: Option<Classified>,
    toxicity_threshold: f32,
    precision: Precision,
}

impl TextScorer {
    /// Loads the classifiers given and, if a head is still needed, the
    /// encoder and heads.
    pub fn load(
        model_dir: Option<&std::path::Path>,
        heads_dir: &std::path::Path,
        classifiers: &ClassifierSettings,
        device: tch::Device,
        max_tokens: usize,
        precision: Precision,
    ) -> Result<Self, ScorerError> {
        let sentiment = classifiers
            .sentiment_model
            .as_ref()
            .map(|directory| -> Result<Classified, ScorerError> {
                let classifier = SequenceClassifier::load(directory, device, max_tokens)?;
                let mapping =
                    LabelMapping::sentiment(classifier.labels(), &classifiers.sentiment_label_map)?;
                Ok(Classified {
                    classifier,
                    mapping,
                })
            })
            .transpose()?;
        let toxicity = classifiers
            .toxicity_model
            .as_ref()
            .map(|directory| -> Result<Classified, ScorerError> {
                let classifier = SequenceClassifier::load(directory, device, max_tokens)?;
                let mapping = LabelMapping::toxicity(
                    classifier.labels(),
                    classifiers.toxicity_label.as_deref(),
                )?;
                Ok(Classified {
                    classifier,
                    mapping,
                })
            })
            .transpose()?;
        let embedding = if sentiment.is_some() && toxicity.is_some() {
            None
        } else {
            let model_dir = model_dir.ok_or_else(|| {
                ScorerError::Model(
                    "--model-dir (EARSHOT_MODEL_DIR) is needed for the heads".to_owned(),
                )
            })?;
            Some((
                Encoder::load_with(model_dir, device, max_tokens, precision.backend(device)?)?,
                Heads::load(heads_dir)?,
            ))
        };
        let toxicity_threshold = match (&toxicity, &embedding) {
            (None, Some((_, heads))) => heads.manifest.toxicity_threshold,
            _ => classifiers.toxicity_threshold,
        };
        Ok(TextScorer {
            embedding,
            sentiment,
            toxicity,
            toxicity_threshold,
            precision: precision.on(device)?,
        })
    }

    /// Names what produced the scores, for every scored mention.
    pub fn model_info(&self) -> ModelInfo {
        let heads = self.embedding.as_ref().map(|(_, heads)| {
            let mut info = heads.model_info();
            // int8 scores differ slightly from f32 ones: say which produced them.
            if self.precision == Precision::Int8 {
                info.name.push_str("-int8");
            }
            info
        });
        let part = |classified: &Option<Classified>, what: &str| {
            classified
                .as_ref()
                .map(|classified| format!("{what}={}", classified.classifier.name()))
        };
        match (
            part(&self.sentiment, "sentiment"),
            part(&self.toxicity, "toxicity"),
            heads,
        ) {
            (None, None, Some(heads)) => heads,
            (sentiment, toxicity, heads) => {
                let mut parts: Vec<String> = sentiment.into_iter().chain(toxicity).collect();
                let version = heads
                    .map(|heads| {
                        parts.push(heads.name.clone());
                        heads.version
                    })
                    .unwrap_or_else(|| "hf".to_owned());
                ModelInfo {
                    name: parts.join("+"),
                    version,
                }
            }
        }
    }

    /// Scores texts in length-sorted chunks of at most `chunk`; one result
    /// per text, in order.
    pub fn score(&self, texts: &[&str], chunk: usize) -> Result<Vec<TextScores>, ScorerError> {
        let from_heads = match &self.embedding {
            Some((encoder, heads)) => {
                let embeddings = encoder.embed(texts, chunk)?;
                Some(heads.score(&embeddings)?)
            }
            None => None,
        };
        let sentiments: Vec<Sentiment> = match &self.sentiment {
            Some(classified) => {
                let rows = rows_of(&classified.classifier.probabilities(texts, chunk)?)?;
                let LabelMapping::Sentiment {
                    negative,
                    neutral,
                    positive,
                } = classified.mapping
                else {
                    return Err(ScorerError::Model("sentiment mapping expected".into()));
                };
                rows.iter()
                    .map(|row| {
                        let negative = row[negative];
                        let neutral = neutral.map_or(0.0, |index| row[index]);
                        let positive = row[positive];
                        // Renormalised over the three labels earshot reports.
                        let total = (negative + neutral + positive).max(f32::EPSILON);
                        Sentiment::from_probs(SentimentProbs {
                            negative: negative / total,
                            neutral: neutral / total,
                            positive: positive / total,
                        })
                    })
                    .collect()
            }
            None => from_heads
                .iter()
                .flatten()
                .map(|scores| scores.sentiment)
                .collect(),
        };
        let toxicities: Vec<Toxicity> = match &self.toxicity {
            Some(classified) => {
                let rows = rows_of(&classified.classifier.probabilities(texts, chunk)?)?;
                let LabelMapping::Toxicity { toxic } = classified.mapping else {
                    return Err(ScorerError::Model("toxicity mapping expected".into()));
                };
                rows.iter()
                    .map(|row| Toxicity::from_score(row[toxic], self.toxicity_threshold))
                    .collect()
            }
            None => from_heads
                .iter()
                .flatten()
                .map(|scores| scores.toxicity.clone())
                .collect(),
        };
        if sentiments.len() != texts.len() || toxicities.len() != texts.len() {
            return Err(ScorerError::Model("a text was left unscored".into()));
        }
        Ok(sentiments
            .into_iter()
            .zip(toxicities)
            .map(|(sentiment, toxicity)| TextScores {
                sentiment,
                toxicity,
            })
            .collect())
    }
}

fn rows_of(probabilities: &Tensor) -> Result<Vec<Vec<f32>>, ScorerError> {
    let columns = probabilities.size().last().copied().unwrap_or(0).max(1) as usize;
    let flat: Vec<f32> = Vec::<f32>::try_from(probabilities.flatten(0, -1))?;
    Ok(flat.chunks(columns).map(<[f32]>::to_vec).collect())
}
