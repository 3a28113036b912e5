//! Service mode: `mentions` -> `mentions.scored` on the at-least-once pipeline.

use earshot_kafka::{BatchProcessor, InputRecord, Outcome, OutputRecord};
use earshot_schema::ValidationLimits;

use crate::scoring::score_payloads;
use crate::worker::ScoringHandle;

pub struct ScoringProcessor {
    pub handle: ScoringHandle,
    pub output_topic: String,
    pub limits: ValidationLimits,
}

impl BatchProcessor for ScoringProcessor {
    async fn process(&mut self, batch: &[InputRecord]) -> Result<Vec<Outcome>, String> {
        let payloads: Vec<&[u8]> = batch
            .iter()
            .map(|record| record.payload.as_slice())
            .collect();
        // A model failure is fatal: the batch's offsets stay unstored.
        let results = score_payloads(&self.handle, &payloads, &self.limits)
            .await
            .map_err(|error| error.to_string())?;
        Ok(results
            .into_iter()
            .map(|result| match result {
                Ok(scored) => Outcome::Produce(vec![OutputRecord::new(
                    &self.output_topic,
                    Some(scored.mention.brand.as_bytes().to_vec()),
                    scored.to_json_vec(),
                )]),
                Err(error) => Outcome::DeadLetter {
                    kind: error.kind().as_str(),
                    reason: error.to_string(),
                },
            })
            .collect())
    }
}
