//! Turns raw mention bytes into scored mentions: shared by service and file mode.

use chrono::Utc;
use earshot_schema::{Mention, ModelInfo, SchemaError, ScoredMention, ValidationLimits};

use crate::error::ScorerError;
use crate::heads::TextScores;
use crate::lexicon::Lexicon;
use crate::worker::ScoringHandle;

/// What scores the texts of a batch.
#[derive(Clone, Copy)]
pub enum Scoring<'a> {
    /// The model thread (encoder + heads or classifiers).
    Model(&'a ScoringHandle),
    /// The word lexicon of degraded mode, on the calling thread.
    Lexicon(&'a Lexicon),
}

impl Scoring<'_> {
    fn model_info(&self) -> &ModelInfo {
        match self {
            Scoring::Model(handle) => handle.model_info(),
            Scoring::Lexicon(lexicon) => lexicon.model_info(),
        }
    }

    async fn score(&self, texts: Vec<String>) -> Result<Vec<TextScores>, ScorerError> {
        match self {
            Scoring::Model(handle) => handle.score(texts).await,
            Scoring::Lexicon(lexicon) => Ok(texts.iter().map(|text| lexicon.score(text)).collect()),
        }
    }
}

/// Decodes every payload, scores the valid ones in one call, and returns per
/// input either the scored mention or the reason it is invalid.
pub async fn score_payloads(
    scoring: Scoring<'_>,
    payloads: &[&[u8]],
    limits: &ValidationLimits,
) -> Result<Vec<Result<ScoredMention, SchemaError>>, ScorerError> {
    let decoded: Vec<Result<Mention, SchemaError>> = payloads
        .iter()
        .map(|payload| Mention::from_json_bytes(payload, limits))
        .collect();
    let texts: Vec<String> = decoded
        .iter()
        .filter_map(|result| result.as_ref().ok().map(|mention| mention.text.clone()))
        .collect();
    let mut scores = scoring.score(texts).await?.into_iter();
    let scored_at = Utc::now();
    let model = scoring.model_info().clone();
    let mut results = Vec::with_capacity(decoded.len());
    for result in decoded {
        results.push(match result {
            Ok(mention) => {
                let text_scores = scores
                    .next()
                    .ok_or_else(|| ScorerError::Model("fewer scores than texts".into()))?;
                Ok(ScoredMention {
                    mention,
                    sentiment: text_scores.sentiment,
                    toxicity: text_scores.toxicity,
                    model: model.clone(),
                    scored_at,
                })
            }
            Err(error) => Err(error),
        });
    }
    Ok(results)
}
