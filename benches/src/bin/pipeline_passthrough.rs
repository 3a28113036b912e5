//! The scorer's Kafka path without the model: earshot's at-least-once
//! pipeline (same flags, batching, DLQ, offset handling) validating each
//! mention and writing a `ScoredMention` with neutral scores. `make bench`
//! compares it with `kafka_forward_loop` to show the Kafka/JSON overhead.

use clap::Parser;
use earshot_kafka::{
    BatchProcessor, InputRecord, KafkaArgs, Outcome, PipelineArgs, PipelineService,
    PipelineSettings,
};
use earshot_schema::{
    Mention, ModelInfo, ScoredMention, Sentiment, SentimentProbs, Toxicity, ValidationLimits,
};
use earshot_scorer::service::scored_outcome;

#[derive(Debug, Parser)]
#[command(about = "earshot's pipeline with a passthrough processor instead of the model")]
struct Cli {
    #[command(flatten)]
    kafka: KafkaArgs,
    #[command(flatten)]
    pipeline: PipelineArgs,
    #[arg(long, default_value = "mentions")]
    input_topic: String,
    #[arg(long, default_value = "mentions.scored")]
    output_topic: String,
    #[arg(long, default_value = "127.0.0.1:0")]
    http_addr: std::net::SocketAddr,
}

struct Passthrough {
    output_topic: String,
    limits: ValidationLimits,
    model: ModelInfo,
}

impl BatchProcessor for Passthrough {
    async fn process(&mut self, batch: &[InputRecord]) -> Result<Vec<Outcome>, String> {
        let neutral = Sentiment::from_probs(SentimentProbs {
            negative: 0.0,
            neutral: 1.0,
            positive: 0.0,
        });
        let scored_at = chrono::Utc::now();
        Ok(batch
            .iter()
            .map(|record| {
                let result =
                    Mention::from_json_bytes(&record.payload, &self.limits).map(|mention| {
                        ScoredMention {
                            sentiment: neutral,
                            toxicity: Toxicity::from_score(0.0, 0.5),
                            model: self.model.clone(),
                            scored_at,
                            mention,
                        }
                    });
                scored_outcome(result, &self.output_topic)
            })
            .collect())
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let shutdown = earshot_service::shutdown_on_signals();
    let service = PipelineService::start("passthrough", cli.http_addr, &shutdown).await?;
    let settings = PipelineSettings::from_args(
        "passthrough",
        &cli.pipeline,
        vec![cli.input_topic.clone()],
        "earshot-passthrough",
    );
    let processor = Passthrough {
        output_topic: cli.output_topic,
        limits: ValidationLimits::default(),
        model: ModelInfo {
            name: "passthrough".to_owned(),
            version: "0".to_owned(),
        },
    };
    service
        .run(cli.kafka, settings, processor, shutdown)
        .await?;
    Ok(())
}
