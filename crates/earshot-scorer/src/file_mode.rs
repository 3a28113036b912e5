//! File mode: `earshot-scorer score --input IN --output OUT [--dlq DLQ]`.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;
use earshot_schema::ValidationLimits;
use indicatif::{ProgressBar, ProgressStyle};

use crate::scoring::score_payloads;
use crate::worker::ScoringHandle;

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
            let payloads: Vec<&[u8]> = batch.iter().map(|(_, line)| line.as_slice()).collect();
            let results = score_payloads(handle, &payloads, &limits).await?;
            for ((number, raw), result) in batch.iter().zip(results) {
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
            batch.clear();
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
