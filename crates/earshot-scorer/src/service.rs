//! Service mode: `mentions` -> `mentions.scored` on the at-least-once pipeline,
//! with an optional degraded mode: beyond a consumer lag the word lexicon
//! scores instead of the model, so that alerting keeps up during a surge;
//! the model takes over again once the lag is back under a lower mark.

use std::sync::Arc;

use earshot_kafka::{BatchProcessor, InputRecord, KafkaMetrics, Outcome, OutputRecord};
use earshot_schema::{SchemaError, ScoredMention, ValidationLimits};
use earshot_service::Health;

use crate::lexicon::Lexicon;
use crate::metrics::ScorerMetrics;
use crate::scoring::{score_payloads, Scoring};
use crate::worker::ScoringHandle;

/// When to switch to the lexicon and back (consumer lag in messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DegradePolicy {
    pub degrade_at_lag: i64,
    pub recover_at_lag: i64,
}

impl DegradePolicy {
    /// Whether the next batch goes to the lexicon, given the current mode
    /// and lag; the gap between the two marks keeps it from flapping.
    pub fn next_mode(&self, degraded: bool, lag: i64) -> bool {
        if degraded {
            lag > self.recover_at_lag
        } else {
            lag >= self.degrade_at_lag
        }
    }
}

/// Degraded mode: its policy, lexicon and the lag it watches.
pub struct Degrade {
    pub policy: DegradePolicy,
    pub lexicon: Arc<Lexicon>,
    pub lag: KafkaMetrics,
    pub health: Health,
    degraded: bool,
}

impl Degrade {
    pub fn new(
        policy: DegradePolicy,
        lexicon: Arc<Lexicon>,
        lag: KafkaMetrics,
        health: Health,
    ) -> Self {
        Degrade {
            policy,
            lexicon,
            lag,
            health,
            degraded: false,
        }
    }
}

pub struct ScoringProcessor {
    pub handle: ScoringHandle,
    pub output_topic: String,
    pub limits: ValidationLimits,
    pub metrics: ScorerMetrics,
    pub degrade: Option<Degrade>,
}

impl ScoringProcessor {
    /// Updates the mode from the current lag; returns whether this batch
    /// is scored by the lexicon.
    fn use_lexicon(&mut self) -> bool {
        let Some(degrade) = self.degrade.as_mut() else {
            return false;
        };
        let lag = degrade.lag.total_consumer_lag();
        let next = degrade.policy.next_mode(degrade.degraded, lag);
        if next != degrade.degraded {
            degrade.degraded = next;
            self.metrics.degraded.set(i64::from(next));
            self.metrics
                .mode_switches
                .with_label_values(&[if next { "to_lexicon" } else { "to_model" }])
                .inc();
            let model = self.handle.model_info();
            if next {
                tracing::warn!(
                    lag,
                    degrade_at_lag = degrade.policy.degrade_at_lag,
                    "consumer lag too high: scoring with the lexicon until it drains"
                );
                degrade.health.set(
                    "model",
                    true,
                    format!("degraded: lexicon scoring (lag {lag})"),
                );
            } else {
                tracing::info!(lag, "lag drained: scoring with the model again");
                degrade
                    .health
                    .set("model", true, format!("{} {}", model.name, model.version));
            }
        }
        next
    }
}

impl BatchProcessor for ScoringProcessor {
    async fn process(&mut self, batch: &[InputRecord]) -> Result<Vec<Outcome>, String> {
        let payloads: Vec<&[u8]> = batch
            .iter()
            .map(|record| record.payload.as_slice())
            .collect();
        let lexicon = self.use_lexicon();
        let scoring = match (&self.degrade, lexicon) {
            (Some(degrade), true) => Scoring::Lexicon(&degrade.lexicon),
            _ => Scoring::Model(&self.handle),
        };
        // A model failure is fatal: the batch's offsets stay unstored.
        let results = score_payloads(scoring, &payloads, &self.limits)
            .await
            .map_err(|error| error.to_string())?;
        if matches!(scoring, Scoring::Lexicon(_)) {
            let scored = results.iter().filter(|result| result.is_ok()).count();
            self.metrics.lexicon_scored.inc_by(scored as u64);
        }
        Ok(results
            .into_iter()
            .map(|result| scored_outcome(result, &self.output_topic))
            .collect())
    }
}

/// What the pipeline does with one decoded mention: the scored mention,
/// keyed by brand, to `output_topic`, or a dead letter with the reason.
pub fn scored_outcome(result: Result<ScoredMention, SchemaError>, output_topic: &str) -> Outcome {
    match result {
        Ok(scored) => Outcome::Produce(vec![OutputRecord::new(
            output_topic,
            Some(scored.mention.brand.as_bytes().to_vec()),
            scored.to_json_vec(),
        )]),
        Err(error) => Outcome::DeadLetter {
            kind: error.kind().as_str(),
            reason: error.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn degrades_above_the_high_mark_and_recovers_below_the_low_one() {
        let policy = DegradePolicy {
            degrade_at_lag: 1000,
            recover_at_lag: 100,
        };
        assert!(!policy.next_mode(false, 999));
        assert!(policy.next_mode(false, 1000));
        // Between the marks the mode stays as it is.
        assert!(policy.next_mode(true, 500));
        assert!(!policy.next_mode(false, 500));
        assert!(!policy.next_mode(true, 100));
    }
}
