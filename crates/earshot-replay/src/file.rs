//! `earshot-replay file`: mention files into a topic, keyed by brand.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use earshot_kafka::OutputRecord;
use earshot_service::CancellationToken;

use crate::checkpoint::{Checkpoint, Progress};
use crate::pacing::Pacer;
use crate::progress::ProgressReporter;
use crate::rejects::RejectWriter;
use crate::sender::OrderedSender;
use crate::source::MentionReader;
use crate::telemetry::Telemetry;
use crate::FileArgs;

/// Pauses at least this long confirm everything sent before them.
pub(crate) const LONG_PAUSE: Duration = Duration::from_millis(200);

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplaySummary {
    /// Non-empty input records read (this run and, when resumed, before).
    pub lines: u64,
    /// Mentions the broker acknowledged (or written to the output file).
    pub sent: u64,
    pub rejected: u64,
    pub elapsed_ms: u128,
    /// Stopped early by SIGTERM/SIGINT; a checkpoint, if given, resumes it.
    pub interrupted: bool,
}

impl fmt::Display for ReplaySummary {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = (self.elapsed_ms as f64 / 1000.0).max(0.001);
        write!(
            formatter,
            "{} {} of {} records ({} rejected) in {:.1} s, {:.0} mentions/s",
            if self.interrupted {
                "interrupted after replaying"
            } else {
                "replayed"
            },
            self.sent,
            self.lines,
            self.rejected,
            seconds,
            self.sent as f64 / seconds
        )
    }
}

impl ReplaySummary {
    fn from_progress(progress: &Progress, started: Instant, interrupted: bool) -> Self {
        ReplaySummary {
            lines: progress.lines,
            sent: progress.sent,
            rejected: progress.rejected,
            elapsed_ms: started.elapsed().as_millis(),
            interrupted,
        }
    }
}

/// Replays the files; returns once every valid record is acknowledged, or
/// after an interruption once what was read is acknowledged and checkpointed.
pub async fn replay_file(
    args: FileArgs,
    shutdown: CancellationToken,
) -> anyhow::Result<ReplaySummary> {
    let started = Instant::now();
    let options = args.source_options()?;
    let checkpoint = match &args.checkpoint {
        Some(path) => Checkpoint::load(path, &args.input, &args.topic)?,
        None => None,
    }
    .unwrap_or_else(|| Checkpoint::new(args.input.clone(), args.topic.clone()));
    if checkpoint.complete {
        tracing::info!("the checkpoint says this replay is complete; nothing to send");
        return Ok(ReplaySummary::from_progress(
            &checkpoint.progress,
            started,
            false,
        ));
    }
    let resume_from = checkpoint.progress.clone();
    if resume_from != Progress::default() {
        tracing::info!(
            file = %args.input[resume_from.file_index.min(args.input.len() - 1)].display(),
            after_line = resume_from.line,
            already_sent = resume_from.sent,
            "resuming from the checkpoint"
        );
    }
    let telemetry = Telemetry::start(&args.sending.http_addr, shutdown.child_token()).await?;
    let producer = telemetry.producer(&args.kafka)?;
    let mut rejects = RejectWriter::new(&args.reject_file, resume_from.reject_bytes)?;
    let total_bytes = args
        .input
        .iter()
        .filter_map(|path| std::fs::metadata(path).ok())
        .map(|metadata| metadata.len())
        .sum();
    let bytes_read = Arc::new(AtomicU64::new(0));
    let mut reporter = ProgressReporter::new(total_bytes, bytes_read.clone());
    let mut pacer = Pacer::new(args.pacing.speed, args.pacing.rate);
    let mut sender: OrderedSender<Progress> = OrderedSender::new(
        producer,
        args.sending.chunk_size,
        args.sending.max_in_flight,
    );
    let mut read = resume_from.clone();
    let mut keeper = CheckpointKeeper {
        checkpoint,
        path: args.checkpoint.clone(),
        last_saved: Instant::now(),
    };
    let mut interrupted = false;

    'files: for (file_index, path) in args.input.iter().enumerate() {
        if file_index < resume_from.file_index {
            continue;
        }
        let skip_through = if file_index == resume_from.file_index {
            resume_from.line
        } else {
            0
        };
        let mut reader = MentionReader::open(path, &options, bytes_read.clone())?;
        read.file_index = file_index;
        read.line = skip_through;
        while let Some(source_line) = reader.next_line()? {
            if source_line.line <= skip_through {
                continue;
            }
            let before = read.clone();
            read.line = source_line.line;
            read.lines += 1;
            telemetry.lines.inc();
            let mut mention = match source_line.mention {
                Ok(mention) => mention,
                Err(rejection) => {
                    read.rejected += 1;
                    telemetry.rejected.inc();
                    rejects.write(&serde_json::json!({
                        "file": path.display().to_string(),
                        "line": source_line.line,
                        "kind": rejection.kind,
                        "reason": rejection.reason,
                        "raw": rejection.raw,
                    }))?;
                    read.reject_bytes = rejects.bytes();
                    continue;
                }
            };
            if args.pacing.shift_to_now {
                let shift_ms = *keeper
                    .checkpoint
                    .shift_ms
                    .get_or_insert_with(|| (Utc::now() - mention.created_at).num_milliseconds());
                mention.created_at += chrono::Duration::milliseconds(shift_ms);
            }
            let delay = pacer.delay_for(mention.created_at);
            if !delay.is_zero() {
                // A paced replay sends what it has before sleeping, and before
                // a long sleep waits for the acks so that the checkpoint is
                // current while it waits.
                rejects.flush()?;
                let confirmed = if delay >= LONG_PAUSE {
                    sender.drain(before.clone(), &shutdown).await?
                } else {
                    sender.cut(before.clone(), &shutdown).await?
                };
                keeper.settle(confirmed)?;
                reporter.update(keeper.checkpoint.progress.sent, read.rejected);
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shutdown.cancelled() => {
                        interrupted = true;
                        // This mention was not sent; everything before it was.
                        read = before;
                        break 'files;
                    }
                }
            }
            sender.push(OutputRecord::new(
                &args.topic,
                Some(mention.brand.clone().into_bytes()),
                mention.to_json_vec(),
            ));
            read.sent += 1;
            if sender.chunk_is_full() {
                rejects.flush()?;
                let confirmed = sender.cut(read.clone(), &shutdown).await?;
                keeper.settle(confirmed)?;
                reporter.update(keeper.checkpoint.progress.sent, read.rejected);
            }
            if shutdown.is_cancelled() {
                interrupted = true;
                break 'files;
            }
        }
    }
    rejects.flush()?;
    let confirmed = sender.drain(read.clone(), &shutdown).await?;
    keeper.settle(confirmed)?;
    // Rejects after the last mention are settled too.
    keeper.checkpoint.progress = read;
    keeper.checkpoint.complete = !interrupted;
    keeper.save()?;
    reporter.finish();
    telemetry.stop().await;
    let summary = ReplaySummary::from_progress(&keeper.checkpoint.progress, started, interrupted);
    if summary.rejected > 0 {
        tracing::warn!(rejected = summary.rejected, file = %rejects.path().display(), "invalid records written to the reject file");
    }
    if interrupted {
        match &args.checkpoint {
            Some(path) => {
                tracing::warn!(checkpoint = %path.display(), "interrupted; run the same command again to resume")
            }
            None => tracing::warn!("interrupted; pass --checkpoint FILE to make replays resumable"),
        }
    }
    Ok(summary)
}

/// Keeps the checkpoint at the newest acknowledged chunk, saving it at most
/// every [`SAVE_EVERY`] (paced replays acknowledge tiny chunks very often)
/// and always at the end.
struct CheckpointKeeper {
    checkpoint: Checkpoint,
    path: Option<PathBuf>,
    last_saved: Instant,
}

/// After a kill -9, at most this much acknowledged replay is sent again.
const SAVE_EVERY: Duration = Duration::from_millis(50);

impl CheckpointKeeper {
    fn settle(&mut self, confirmed: Vec<(Progress, usize)>) -> anyhow::Result<()> {
        let Some((progress, _)) = confirmed.into_iter().last() else {
            return Ok(());
        };
        self.checkpoint.progress = progress;
        if self.last_saved.elapsed() >= SAVE_EVERY {
            self.save()?;
        }
        Ok(())
    }

    fn save(&mut self) -> anyhow::Result<()> {
        if let Some(path) = &self.path {
            self.checkpoint.save(path)?;
        }
        self.last_saved = Instant::now();
        Ok(())
    }
}
