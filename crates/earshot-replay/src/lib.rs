//! `earshot-replay`: replays mention files into a topic, keyed by brand.

mod file;
mod pacing;

use std::path::PathBuf;

use earshot_service::{CancellationToken, LogArgs};

pub use file::{read_lines, replay_file, ReplaySummary};
pub use pacing::{Pacer, Speed};

#[derive(Debug, clap::Parser)]
#[command(
    name = "earshot-replay",
    version,
    about = "Replay mention files into the earshot pipeline"
)]
pub struct Cli {
    #[command(flatten)]
    pub log: LogArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Replays JSONL or JSONL.gz mention files into a topic.
    File(FileArgs),
}

#[derive(Debug, clap::Args)]
pub struct FileArgs {
    #[command(flatten)]
    pub kafka: earshot_kafka::KafkaArgs,
    /// Input files: .jsonl or .jsonl.gz, one mention per line.
    #[arg(long, required = true, num_args = 1..)]
    pub input: Vec<PathBuf>,
    /// Topic to write to.
    #[arg(long, env = "EARSHOT_REPLAY_TOPIC", default_value = earshot_schema::topics::MENTIONS)]
    pub topic: String,
    /// max, realtime, or a multiple such as 60x; keeps the relative timing of created_at.
    #[arg(long, env = "EARSHOT_REPLAY_SPEED", default_value = "max")]
    pub speed: Speed,
    /// Upper bound on mentions per second (0: none).
    #[arg(long, env = "EARSHOT_REPLAY_RATE", default_value_t = 0.0)]
    pub rate: f64,
    /// Shift timestamps so that the first mention is "now" and the replay looks live.
    #[arg(long)]
    pub shift_to_now: bool,
    /// Override a field on every mention, e.g. brand=acme (repeatable).
    #[arg(long = "set", value_name = "FIELD=VALUE")]
    pub set: Vec<String>,
    /// Where invalid lines go, with file, line number and reason.
    #[arg(
        long,
        env = "EARSHOT_REPLAY_REJECT_FILE",
        default_value = "replay.rejects.jsonl"
    )]
    pub reject_file: PathBuf,
    /// Address of /metrics and /health while the replay runs ("off" to disable).
    #[arg(long, env = "EARSHOT_HTTP_ADDR", default_value = "127.0.0.1:9473")]
    pub http_addr: String,
    /// Records sent before waiting for their acknowledgement.
    #[arg(long, default_value_t = 2000)]
    pub chunk_size: usize,
}

/// Runs the chosen command.
pub async fn run(cli: Cli, shutdown: CancellationToken) -> anyhow::Result<ReplaySummary> {
    match cli.command {
        Command::File(args) => replay_file(args, shutdown).await,
    }
}
