//! `earshot-replay`: replays mention files or a time range of a topic into
//! the pipeline, keyed by brand, in stream time.
//!
//! - `file`: JSONL / JSONL.gz / CSV (any encoding, mapped columns) into a
//!   topic, paced by `created_at`, resumable from a checkpoint.
//! - `topic`: `[start, end)` of a topic found with offsets-for-times, merged
//!   across partitions in `created_at` order, into a topic or a JSONL file.

mod checkpoint;
mod file;
mod pacing;
mod progress;
mod rejects;
mod sender;
mod source;
mod telemetry;
mod topic;

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use earshot_service::{CancellationToken, LogArgs};

pub use checkpoint::{Checkpoint, Progress};
pub use file::{replay_file, ReplaySummary};
pub use pacing::{Pacer, Speed};
pub use source::{
    parse_encoding, ColumnMap, FieldOverrides, InputFormat, MentionReader, Rejection, SourceLine,
    SourceOptions, TimeFormat,
};
pub use topic::replay_topic;

#[derive(Debug, clap::Parser)]
#[command(
    name = "earshot-replay",
    version,
    about = "Replay mention files or topic ranges into the earshot pipeline"
)]
pub struct Cli {
    #[command(flatten)]
    pub log: LogArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Replays JSONL, JSONL.gz or CSV mention files into a topic.
    File(FileArgs),
    /// Replays a time range of a topic, in created_at order, to a topic or a file.
    Topic(TopicArgs),
}

/// Pacing flags shared by both modes.
#[derive(Debug, Clone, clap::Args)]
pub struct PacingArgs {
    /// max, realtime, or a multiple such as 60x; keeps the relative timing of created_at.
    #[arg(long, env = "EARSHOT_REPLAY_SPEED", default_value = "max")]
    pub speed: Speed,
    /// Upper bound on mentions per second (0: none).
    #[arg(long, env = "EARSHOT_REPLAY_RATE", default_value_t = 0.0)]
    pub rate: f64,
    /// Shift timestamps so that the first mention is "now" and the replay looks live.
    #[arg(long)]
    pub shift_to_now: bool,
}

/// Producing and telemetry flags shared by both modes.
#[derive(Debug, Clone, clap::Args)]
pub struct SendingArgs {
    /// Address of /metrics and /health while the replay runs ("off" to disable).
    #[arg(long, env = "EARSHOT_HTTP_ADDR", default_value = "127.0.0.1:9473")]
    pub http_addr: String,
    /// Records per produce chunk (a file replay's checkpoint granularity).
    #[arg(long, default_value_t = 5000)]
    pub chunk_size: usize,
    /// Chunks sent before waiting for the oldest one's acknowledgement.
    #[arg(long, default_value_t = 4)]
    pub max_in_flight: usize,
}

#[derive(Debug, clap::Args)]
pub struct FileArgs {
    #[command(flatten)]
    pub kafka: earshot_kafka::KafkaArgs,
    /// Input files: .jsonl, .csv or .tsv, each optionally .gz.
    #[arg(long, required = true, num_args = 1..)]
    pub input: Vec<PathBuf>,
    /// Input format; by default guessed from each file's name.
    #[arg(long, value_enum)]
    pub format: Option<InputFormat>,
    /// Text encoding of the input (utf-8, latin-1, windows-1252, ...).
    #[arg(long, env = "EARSHOT_REPLAY_ENCODING", default_value = "utf-8", value_parser = parse_encoding)]
    pub encoding: &'static encoding_rs::Encoding,
    /// CSV column for a mention field, e.g. text=Comment (repeatable; default: same name).
    #[arg(long = "column", value_name = "FIELD=COLUMN")]
    pub columns: Vec<String>,
    /// CSV field delimiter (one byte; \t for TSV). Default: tab for .tsv, else comma.
    #[arg(long)]
    pub delimiter: Option<char>,
    /// How created_at is written: rfc3339, epoch-s, epoch-ms, or a strftime pattern.
    #[arg(long, default_value = "rfc3339")]
    pub time_format: TimeFormat,
    /// Topic to write to.
    #[arg(long, env = "EARSHOT_REPLAY_TOPIC", default_value = earshot_schema::topics::MENTIONS)]
    pub topic: String,
    #[command(flatten)]
    pub pacing: PacingArgs,
    /// Set a field on every mention, e.g. brand=acme or source=forum (repeatable).
    #[arg(long = "set", value_name = "FIELD=VALUE")]
    pub set: Vec<String>,
    /// Brand for the mentions of one input file that have none (repeatable).
    #[arg(long = "brand-map", value_name = "FILE=BRAND")]
    pub brand_map: Vec<String>,
    /// Where invalid records go, with file, line number and reason.
    #[arg(
        long,
        env = "EARSHOT_REPLAY_REJECT_FILE",
        default_value = "replay.rejects.jsonl"
    )]
    pub reject_file: PathBuf,
    /// Progress file: written after every acknowledged chunk; rerunning the
    /// same command resumes after what the broker already has.
    #[arg(long, env = "EARSHOT_REPLAY_CHECKPOINT")]
    pub checkpoint: Option<PathBuf>,
    #[command(flatten)]
    pub sending: SendingArgs,
}

impl FileArgs {
    fn source_options(&self) -> anyhow::Result<SourceOptions> {
        let delimiter = match self.delimiter {
            Some(delimiter) if delimiter.is_ascii() => delimiter as u8,
            Some(delimiter) => {
                anyhow::bail!("--delimiter must be one ASCII character, got {delimiter:?}")
            }
            None if self.input.iter().any(|path| {
                path.to_string_lossy()
                    .to_ascii_lowercase()
                    .trim_end_matches(".gz")
                    .ends_with(".tsv")
            }) =>
            {
                b'\t'
            }
            None => b',',
        };
        Ok(SourceOptions {
            format: self.format,
            encoding: self.encoding,
            columns: ColumnMap::parse(&self.columns)?,
            delimiter,
            time_format: self.time_format.clone(),
            overrides: FieldOverrides::parse(&self.set, &self.brand_map)?,
            limits: earshot_schema::ValidationLimits::default(),
        })
    }
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("destination").required(true).args(["to", "output"])))]
pub struct TopicArgs {
    #[command(flatten)]
    pub kafka: earshot_kafka::KafkaArgs,
    /// Topic to read.
    #[arg(long, default_value = earshot_schema::topics::MENTIONS_SCORED)]
    pub from: String,
    /// First created_at to include (RFC 3339).
    #[arg(long)]
    pub start: DateTime<Utc>,
    /// First created_at to exclude (RFC 3339).
    #[arg(long)]
    pub end: DateTime<Utc>,
    /// Topic to write to.
    #[arg(long)]
    pub to: Option<String>,
    /// JSONL file to write to (- for stdout).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Stop reading a partition at records written this long after --end
    /// (default: read to the end of the log, which finds arbitrarily late data).
    #[arg(long, value_parser = earshot_service::parse_duration)]
    pub max_lateness: Option<std::time::Duration>,
    /// Records held to put out-of-order records within a partition in order.
    #[arg(long, default_value_t = 10_000)]
    pub reorder_window: usize,
    #[command(flatten)]
    pub pacing: PacingArgs,
    /// Where records without a readable created_at go.
    #[arg(long, default_value = "replay.rejects.jsonl")]
    pub reject_file: PathBuf,
    #[command(flatten)]
    pub sending: SendingArgs,
}

/// Runs the chosen command.
pub async fn run(cli: Cli, shutdown: CancellationToken) -> anyhow::Result<ReplaySummary> {
    match cli.command {
        Command::File(args) => replay_file(args, shutdown).await,
        Command::Topic(args) => replay_topic(args, shutdown).await,
    }
}
