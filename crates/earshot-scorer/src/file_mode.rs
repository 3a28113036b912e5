//! File mode: `earshot-scorer score --input IN --output OUT [--dlq DLQ]`.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;
use earshot_schema::{SchemaError, ScoredMention, ValidationLimits};
use indicatif::{ProgressBar, ProgressStyle};

use crate::scoring::{score_payloads, Scoring};
use crate::worker::ScoringHandle;

/// A batch's input lines and, per line, its scored mention or why it is invalid.
type ScoredBatch = (
    Vec<(u64, Vec<u8>)>,
    Result<Vec<Result<ScoredMention, SchemaError>>, crate::ScorerError>,
);

/// Counts from one file run.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FileSummary {
    pub lines: u64,
    pub scored: u64,
    pub dead_lettered: u64,
}

/// Scores JSONL from `input` (`-` for stdin) into `output` (`-` for stdout);
/// invalid lines go to `dlq` with their line number and reason.
pub async fn score_file(
    handle: &ScoringHandle,
    input: &str,
    output: &str,
    dlq: Option<PathBuf>,
    // Lines per request to the model thread, which sorts them by length and
    // cuts its own batches (`WorkerSettings::max_batch`).
    batch_size: usize,
) -> anyhow::Result<FileSummary> {
    let reader: Box<dyn BufRead + Send> = if input == "-" {
        Box::new(BufReader::new(std::io::stdin()))
    } else {
        Box::new(BufReader::new(
            File::open(input).with_context(|| format!("cannot open {input}"))?,
        ))
    };
    let mut writer: Box<dyn Write + Send> = if output == "-" {
        Box::new(BufWriter::new(std::io::stdout()))
    } else {
        Box::new(BufWriter::new(
            File::create(output).with_context(|| format!("cannot create {output}"))?,
        ))
    };
    let dlq_path = dlq.unwrap_or_else(|| {
        if output == "-" {
            PathBuf::from("scored.dlq.jsonl")
        } else {
            PathBuf::from(format!("{output}.dlq.jsonl"))
        }
    });
    let mut dead_letters = BufWriter::new(
        File::create(&dlq_path).with_context(|| format!("cannot create {}", dlq_path.display()))?,
    );
    let progress = std::io::IsTerminal::is_terminal(&std::io::stderr()).then(|| {
        let bar = ProgressBar::new_spinner();
        if let Ok(style) =
            ProgressStyle::with_template("{spinner} {elapsed} {pos} lines ({per_sec}) {msg}")
        {
            bar.set_style(style);
        }
        bar
    });
    let limits = ValidationLimits::default();
    let mut summary = FileSummary::default();
    let mut lines = reader.split(b'\n');
    let mut batch: Vec<(u64, Vec<u8>)> = Vec::with_capacity(batch_size);
    let mut line_number: u64 = 0;
    // Batches being scored, oldest first: the next batch is read and decoded
    // while the model thread works on the previous one; output stays in order.
    let mut in_flight: VecDeque<tokio::task::JoinHandle<ScoredBatch>> = VecDeque::new();
    loop {
        let next = lines.next();
        let finished = next.is_none();
        if let Some(line) = next {
            let mut line = line.with_context(|| format!("cannot read {input}"))?;
            line_number += 1;
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if !line.iter().all(u8::is_ascii_whitespace) {
                batch.push((line_number, line));
            }
        }
        if batch.len() >= batch_size || (finished && !batch.is_empty()) {
            let lines_of_batch = std::mem::replace(&mut batch, Vec::with_capacity(batch_size));
            let handle = handle.clone();
            in_flight.push_back(tokio::spawn(async move {
                let payloads: Vec<&[u8]> = lines_of_batch
                    .iter()
                    .map(|(_, line)| line.as_slice())
                    .collect();
                let results = score_payloads(Scoring::Model(&handle), &payloads, &limits).await;
                (lines_of_batch, results)
            }));
        }
        while in_flight.len() > usize::from(!finished) {
            let Some(oldest) = in_flight.pop_front() else {
                break;
            };
            let (lines_of_batch, results) = oldest.await?;
            for ((number, raw), result) in lines_of_batch.iter().zip(results?) {
                summary.lines += 1;
                match result {
                    Ok(scored) => {
                        writer.write_all(&scored.to_json_vec())?;
                        writer.write_all(b"\n")?;
                        summary.scored += 1;
                    }
                    Err(error) => {
                        let record = serde_json::json!({
                            "line": number,
                            "kind": error.kind().as_str(),
                            "reason": error.to_string(),
                            "raw": String::from_utf8_lossy(&raw[..raw.len().min(4096)]),
                        });
                        writeln!(dead_letters, "{record}")?;
                        summary.dead_lettered += 1;
                    }
                }
            }
            if let Some(bar) = &progress {
                bar.set_position(summary.lines);
                bar.set_message(format!("{} to the DLQ", summary.dead_lettered));
            }
        }
        if finished {
            break;
        }
    }
    writer.flush()?;
    dead_letters.flush()?;
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    Ok(summary)
}
