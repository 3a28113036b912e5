//! Turns raw mention bytes into scored mentions: shared by service and file mode.

use chrono::Utc;
use earshot_schema::{Mention, SchemaError, ScoredMention, ValidationLimits};

use crate::error::ScorerError;
use crate::worker::ScoringHandle;

/// Decodes every payload, scores the valid ones in one model call, and
/// returns per input either the scored mention or the reason it is invalid.
pub async fn score_payloads(
    handle: &ScoringHandle,
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
    let mut scores = handle.score(texts).await?.into_iter();
    let scored_at = Utc::now();
    let model = handle.model_info().clone();
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
