use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{json_type_name, SchemaError};
use crate::mention::{
    parse_object, parse_timestamp, serialize_timestamp, take_required_string, Mention,
    ValidationLimits,
};

/// A mention with its scores, as the scorer publishes it on `mentions.scored`.
///
/// On the wire the mention's fields sit at the top level beside the scores.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoredMention {
    #[serde(flatten)]
    pub mention: Mention,
    pub sentiment: Sentiment,
    pub toxicity: Toxicity,
    pub model: ModelInfo,
    #[serde(serialize_with = "serialize_timestamp")]
    pub scored_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SentimentLabel {
    Negative,
    Neutral,
    Positive,
}

impl SentimentLabel {
    /// All labels in class-index order (the order of the model's outputs).
    pub const ALL: [SentimentLabel; 3] = [
        SentimentLabel::Negative,
        SentimentLabel::Neutral,
        SentimentLabel::Positive,
    ];

    /// Returns the wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            SentimentLabel::Negative => "negative",
            SentimentLabel::Neutral => "neutral",
            SentimentLabel::Positive => "positive",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SentimentProbs {
    pub negative: f32,
    pub neutral: f32,
    pub positive: f32,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Sentiment {
    pub label: SentimentLabel,
    /// P(positive) - P(negative), in [-1, 1].
    pub score: f32,
    pub probs: SentimentProbs,
}

impl Sentiment {
    /// Builds the sentiment from class probabilities: the label is the most
    /// probable class and the score P(positive) - P(negative).
    pub fn from_probs(probs: SentimentProbs) -> Self {
        let label = if probs.negative >= probs.neutral && probs.negative >= probs.positive {
            SentimentLabel::Negative
        } else if probs.positive >= probs.neutral {
            SentimentLabel::Positive
        } else {
            SentimentLabel::Neutral
        };
        Sentiment {
            label,
            score: (probs.positive - probs.negative).clamp(-1.0, 1.0),
            probs,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Toxicity {
    /// Probability that the text is toxic (insulting, abusive), in [0, 1].
    pub score: f32,
    /// `toxic` or `non_toxic`, by the model's decision threshold.
    pub label: String,
}

impl Toxicity {
    pub const TOXIC: &'static str = "toxic";
    pub const NON_TOXIC: &'static str = "non_toxic";

    /// Labels a toxicity probability against a decision threshold.
    pub fn from_score(score: f32, threshold: f32) -> Self {
        let label = if score >= threshold {
            Self::TOXIC
        } else {
            Self::NON_TOXIC
        };
        Toxicity {
            score: score.clamp(0.0, 1.0),
            label: label.to_owned(),
        }
    }

    /// Returns whether the label says toxic.
    pub fn is_toxic(&self) -> bool {
        self.label == Self::TOXIC
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub name: String,
    pub version: String,
}

impl ScoredMention {
    /// Decodes and validates a scored mention from raw message bytes.
    pub fn from_json_bytes(bytes: &[u8], limits: &ValidationLimits) -> Result<Self, SchemaError> {
        let mut object = parse_object(bytes, limits)?;
        let sentiment: Sentiment = take_typed(&mut object, "sentiment")?;
        if !(-1.0..=1.0).contains(&sentiment.score) {
            return Err(SchemaError::OutOfRange {
                field: "sentiment.score",
                reason: format!("{} is outside [-1, 1]", sentiment.score),
            });
        }
        let toxicity: Toxicity = take_typed(&mut object, "toxicity")?;
        if !(0.0..=1.0).contains(&toxicity.score) {
            return Err(SchemaError::OutOfRange {
                field: "toxicity.score",
                reason: format!("{} is outside [0, 1]", toxicity.score),
            });
        }
        let model: ModelInfo = take_typed(&mut object, "model")?;
        let scored_at_raw = take_required_string(&mut object, "scored_at")?;
        let scored_at = parse_timestamp("scored_at", &scored_at_raw, limits)?;
        let mention = Mention::from_object(object, limits)?;
        Ok(ScoredMention {
            mention,
            sentiment,
            toxicity,
            model,
            scored_at,
        })
    }

    /// Serializes to the JSON wire format.
    pub fn to_json_vec(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

fn take_typed<T: serde::de::DeserializeOwned>(
    object: &mut serde_json::Map<String, Value>,
    field: &'static str,
) -> Result<T, SchemaError> {
    match object.remove(field) {
        None | Some(Value::Null) => Err(SchemaError::MissingField { field }),
        Some(value @ Value::Object(_)) => {
            serde_json::from_value(value).map_err(|error| SchemaError::OutOfRange {
                field,
                reason: error.to_string(),
            })
        }
        Some(other) => Err(SchemaError::WrongType {
            field,
            expected: "an object",
            found: json_type_name(&other),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scored() -> ScoredMention {
        let mention = Mention::from_json_bytes(
            br#"{"id":"1","brand":"acme","text":"awful","created_at":"2026-01-01T00:00:00Z","shard":4}"#,
            &ValidationLimits::default(),
        )
        .expect("mention");
        ScoredMention {
            mention,
            sentiment: Sentiment::from_probs(SentimentProbs {
                negative: 0.8,
                neutral: 0.15,
                positive: 0.05,
            }),
            toxicity: Toxicity::from_score(0.7, 0.5),
            model: ModelInfo {
                name: "minilm-heads".into(),
                version: "1".into(),
            },
            scored_at: DateTime::from_timestamp(1_767_225_601, 0).expect("time"),
        }
    }

    #[test]
    fn round_trips_with_flat_wire_layout() {
        let scored = scored();
        let bytes = scored.to_json_vec();
        let value: Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(value["brand"], "acme");
        assert_eq!(value["shard"], 4);
        assert_eq!(value["sentiment"]["label"], "negative");
        assert_eq!(value["toxicity"]["label"], "toxic");
        let decoded =
            ScoredMention::from_json_bytes(&bytes, &ValidationLimits::default()).expect("decode");
        assert_eq!(decoded, scored);
        assert!((decoded.sentiment.score + 0.75).abs() < 1e-6);
    }

    #[test]
    fn names_missing_and_out_of_range_scores() {
        let mut value: Value = serde_json::from_slice(&scored().to_json_vec()).expect("json");
        value["sentiment"]["score"] = serde_json::json!(3.0);
        let error = ScoredMention::from_json_bytes(
            value.to_string().as_bytes(),
            &ValidationLimits::default(),
        )
        .expect_err("range");
        assert_eq!(error.field(), Some("sentiment.score"));
        value["sentiment"]["score"] = serde_json::json!(-0.75);
        value.as_object_mut().expect("object").remove("toxicity");
        let error = ScoredMention::from_json_bytes(
            value.to_string().as_bytes(),
            &ValidationLimits::default(),
        )
        .expect_err("missing");
        assert_eq!(error, SchemaError::MissingField { field: "toxicity" });
    }

    #[test]
    fn label_follows_the_most_probable_class() {
        let neutral = Sentiment::from_probs(SentimentProbs {
            negative: 0.2,
            neutral: 0.5,
            positive: 0.3,
        });
        assert_eq!(neutral.label, SentimentLabel::Neutral);
        assert!((neutral.score - 0.1).abs() < 1e-6);
    }
}
