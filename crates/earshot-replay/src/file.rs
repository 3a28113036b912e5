use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use earshot_kafka::{KafkaMetrics, OutputRecord, Producer};
use earshot_schema::{Mention, ValidationLimits};
use earshot_service::{CancellationToken, Health};
use indicatif::{ProgressBar, ProgressStyle};

use crate::pacing::Pacer;
use crate::FileArgs;

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplaySummary {
    pub lines: u64,
    pub sent: u64,
    pub rejected: u64,
    pub elapsed_ms: u128,
}

impl fmt::Display for ReplaySummary {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = (self.elapsed_ms as f64 / 1000.0).max(0.001);
        write!(
            formatter,
            "replayed {} of {} lines ({} rejected) in {:.1} s, {:.0} mentions/s",
            self.sent,
            self.lines,
            self.rejected,
            seconds,
            self.sent as f64 / seconds
        )
    }
}

/// Opens a .jsonl or .jsonl.gz file as lines of raw bytes (not necessarily UTF-8).
pub fn read_lines(path: &Path) -> anyhow::Result<Box<dyn BufRead>> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let gzipped = path.extension().is_some_and(|extension| extension == "gz");
    Ok(if gzipped {
        Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(file)))
    } else {
        Box::new(BufReader::new(file))
    })
}

struct FieldOverride {
    field: String,
    value: String,
}

fn parse_overrides(settings: &[String]) -> anyhow::Result<Vec<FieldOverride>> {
    settings
        .iter()
        .map(|setting| match setting.split_once('=') {
            Some((field, value)) if !field.trim().is_empty() => Ok(FieldOverride {
                field: field.trim().to_owned(),
                value: value.to_owned(),
            }),
            _ => anyhow::bail!("--set expects FIELD=VALUE, got {setting:?}"),
        })
        .collect()
}

fn apply_overrides(mention: &mut Mention, overrides: &[FieldOverride]) {
    for field_override in overrides {
        let value = field_override.value.clone();
        match field_override.field.as_str() {
            "brand" => mention.brand = value,
            "source" => mention.source = value,
            "lang" => mention.lang = Some(value),
            "author" => mention.author = Some(value),
            other => {
                mention
                    .extra
                    .insert(other.to_owned(), serde_json::Value::String(value));
            }
        }
    }
}

/// Replays the files; returns once every valid line is acknowledged.
pub async fn replay_file(
    args: FileArgs,
    shutdown: CancellationToken,
) -> anyhow::Result<ReplaySummary> {
    let overrides = parse_overrides(&args.set)?;
    let registry = earshot_service::new_registry("replay");
    let kafka_metrics = KafkaMetrics::new(&registry)?;
    let replay_metrics = ReplayMetrics::new(&registry)?;
    let health = Health::default();
    let http = start_http(
        &args.http_addr,
        registry,
        health.clone(),
        shutdown.child_token(),
    )
    .await;
    let producer = Producer::new(&args.kafka, kafka_metrics, health, Duration::from_secs(5))?;
    let limits = ValidationLimits::default();
    // Created on the first reject, so a clean replay leaves no empty file behind.
    let mut rejects: Option<BufWriter<File>> = None;
    let progress = Progress::new();
    let mut pacer = Pacer::new(args.speed, args.rate);
    let mut summary = ReplaySummary::default();
    let mut shift: Option<chrono::Duration> = None;
    let mut chunk: Vec<OutputRecord> = Vec::with_capacity(args.chunk_size);
    let started = Instant::now();
    'files: for path in &args.input {
        let mut reader = read_lines(path)?;
        let mut line_number: u64 = 0;
        let mut line = Vec::new();
        loop {
            line.clear();
            let read = reader
                .read_until(b'\n', &mut line)
                .with_context(|| format!("cannot read {}", path.display()))?;
            if read == 0 {
                break;
            }
            line_number += 1;
            let trimmed = trim_line_end(&line);
            if trimmed.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            summary.lines += 1;
            replay_metrics.lines.inc();
            let mut mention = match Mention::from_json_bytes(trimmed, &limits) {
                Ok(mention) => mention,
                Err(error) => {
                    summary.rejected += 1;
                    replay_metrics.rejected.inc();
                    let reject = serde_json::json!({
                        "file": path.display().to_string(),
                        "line": line_number,
                        "kind": error.kind().as_str(),
                        "reason": error.to_string(),
                        "raw": String::from_utf8_lossy(&trimmed[..trimmed.len().min(2048)]),
                    });
                    let writer = match &mut rejects {
                        Some(writer) => writer,
                        None => rejects.insert(BufWriter::new(
                            File::create(&args.reject_file).with_context(|| {
                                format!("cannot create {}", args.reject_file.display())
                            })?,
                        )),
                    };
                    writeln!(writer, "{reject}")?;
                    continue;
                }
            };
            apply_overrides(&mut mention, &overrides);
            if args.shift_to_now {
                let offset = *shift.get_or_insert_with(|| Utc::now() - mention.created_at);
                mention.created_at += offset;
            }
            let delay = pacer.delay_for(mention.created_at);
            if !delay.is_zero() {
                // Paced replays send what they have before sleeping.
                flush_chunk(&producer, &mut chunk, &shutdown, &mut summary).await?;
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shutdown.cancelled() => break 'files,
                }
            }
            chunk.push(OutputRecord::new(
                &args.topic,
                Some(mention.brand.clone().into_bytes()),
                mention.to_json_vec(),
            ));
            if chunk.len() >= args.chunk_size {
                flush_chunk(&producer, &mut chunk, &shutdown, &mut summary).await?;
                progress.update(&summary);
            }
            if shutdown.is_cancelled() {
                break 'files;
            }
        }
    }
    flush_chunk(&producer, &mut chunk, &shutdown, &mut summary).await?;
    if let Some(writer) = &mut rejects {
        writer.flush()?;
    }
    summary.elapsed_ms = started.elapsed().as_millis();
    if let Some((stop, task)) = http {
        stop.cancel();
        let _ = task.await;
    }
    progress.finish(&summary);
    if summary.rejected > 0 {
        tracing::warn!(rejected = summary.rejected, file = %args.reject_file.display(), "invalid lines written to the reject file");
    }
    Ok(summary)
}

struct ReplayMetrics {
    lines: prometheus::IntCounter,
    rejected: prometheus::IntCounter,
}

impl ReplayMetrics {
    fn new(registry: &prometheus::Registry) -> Result<Self, prometheus::Error> {
        let lines =
            prometheus::IntCounter::new("replay_lines_total", "Non-empty input lines read.")?;
        let rejected = prometheus::IntCounter::new(
            "replay_rejected_lines_total",
            "Input lines written to the reject file.",
        )?;
        registry.register(Box::new(lines.clone()))?;
        registry.register(Box::new(rejected.clone()))?;
        Ok(ReplayMetrics { lines, rejected })
    }
}

type HttpTask = tokio::task::JoinHandle<Result<(), earshot_service::HttpError>>;

/// Serves /metrics and /health while replaying. A busy port only warns: a
/// replay is a tool, and two may run side by side.
async fn start_http(
    address: &str,
    registry: prometheus::Registry,
    health: Health,
    stop: CancellationToken,
) -> Option<(CancellationToken, HttpTask)> {
    if address == "off" {
        return None;
    }
    let Ok(socket) = address.parse() else {
        tracing::warn!(address, "invalid --http-addr, not serving metrics");
        return None;
    };
    match earshot_service::serve_http(socket, registry, health, stop.clone()).await {
        Ok((_, task)) => Some((stop, task)),
        Err(error) => {
            tracing::warn!(%error, "not serving metrics");
            None
        }
    }
}

async fn flush_chunk(
    producer: &Producer,
    chunk: &mut Vec<OutputRecord>,
    shutdown: &CancellationToken,
    summary: &mut ReplaySummary,
) -> anyhow::Result<()> {
    if chunk.is_empty() {
        return Ok(());
    }
    producer.send_all(chunk, shutdown).await?;
    summary.sent += chunk.len() as u64;
    chunk.clear();
    Ok(())
}

fn trim_line_end(line: &[u8]) -> &[u8] {
    let mut end = line.len();
    while end > 0 && (line[end - 1] == b'\n' || line[end - 1] == b'\r') {
        end -= 1;
    }
    &line[..end]
}

/// A progress bar on a terminal; periodic log lines otherwise.
struct Progress {
    bar: Option<ProgressBar>,
    last_log: std::cell::Cell<Instant>,
}

impl Progress {
    fn new() -> Self {
        let bar = std::io::IsTerminal::is_terminal(&std::io::stderr()).then(|| {
            let bar = ProgressBar::new_spinner();
            if let Ok(style) =
                ProgressStyle::with_template("{spinner} {elapsed} {pos} sent ({per_sec}) {msg}")
            {
                bar.set_style(style);
            }
            bar
        });
        Progress {
            bar,
            last_log: std::cell::Cell::new(Instant::now()),
        }
    }

    fn update(&self, summary: &ReplaySummary) {
        match &self.bar {
            Some(bar) => {
                bar.set_position(summary.sent);
                bar.set_message(format!("{} rejected", summary.rejected));
            }
            None if self.last_log.get().elapsed() >= Duration::from_secs(5) => {
                self.last_log.set(Instant::now());
                tracing::info!(
                    sent = summary.sent,
                    rejected = summary.rejected,
                    "replay progress"
                );
            }
            None => {}
        }
    }

    fn finish(&self, summary: &ReplaySummary) {
        if let Some(bar) = &self.bar {
            bar.set_position(summary.sent);
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_set_known_and_extra_fields() {
        let mut mention = Mention::from_json_bytes(
            br#"{"id":"1","brand":"a","text":"t","created_at":"2026-01-01T00:00:00Z"}"#,
            &ValidationLimits::default(),
        )
        .expect("mention");
        let overrides =
            parse_overrides(&["brand=acme".into(), "campaign=x".into()]).expect("parse");
        apply_overrides(&mut mention, &overrides);
        assert_eq!(mention.brand, "acme");
        assert_eq!(mention.extra["campaign"], "x");
        assert!(parse_overrides(&["nonsense".into()]).is_err());
    }

    #[test]
    fn reads_gzipped_and_plain_lines() {
        let directory = tempfile::tempdir().expect("dir");
        let plain = directory.path().join("a.jsonl");
        std::fs::write(&plain, "one\r\ntwo\n").expect("write");
        let gzipped = directory.path().join("a.jsonl.gz");
        let mut encoder = flate2::write::GzEncoder::new(
            File::create(&gzipped).expect("create"),
            flate2::Compression::fast(),
        );
        encoder.write_all(b"one\r\ntwo\n").expect("gz");
        encoder.finish().expect("finish");
        for path in [plain, gzipped] {
            let lines: Vec<Vec<u8>> = read_lines(&path)
                .expect("open")
                .split(b'\n')
                .map(|line| trim_line_end(&line.expect("line")).to_vec())
                .collect();
            assert_eq!(lines, vec![b"one".to_vec(), b"two".to_vec()]);
        }
    }
}
