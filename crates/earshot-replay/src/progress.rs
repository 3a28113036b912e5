//! A progress bar with rate, ETA and rejects on a terminal; periodic log
//! lines otherwise (CI, pipes, systemd).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

const LOG_EVERY: Duration = Duration::from_secs(5);

pub(crate) struct ProgressReporter {
    bar: Option<ProgressBar>,
    started: Instant,
    last_log: Instant,
    /// Input bytes read so far and in all (file replays); the bar's ETA.
    bytes_read: Arc<AtomicU64>,
    total_bytes: u64,
}

impl ProgressReporter {
    /// `total_bytes` of 0 means "unknown" (topic replays): a spinner.
    pub(crate) fn new(total_bytes: u64, bytes_read: Arc<AtomicU64>) -> Self {
        let on_terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
        let bar = on_terminal.then(|| {
            let (bar, template) = if total_bytes > 0 {
                (
                    ProgressBar::new(total_bytes),
                    "{bar:30} {percent:>3}% {binary_bytes}/{binary_total_bytes} ETA {eta} {msg}",
                )
            } else {
                (ProgressBar::new_spinner(), "{spinner} {elapsed} {msg}")
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style);
            }
            bar
        });
        ProgressReporter {
            bar,
            started: Instant::now(),
            last_log: Instant::now(),
            bytes_read,
            total_bytes,
        }
    }

    pub(crate) fn update(&mut self, sent: u64, rejected: u64) {
        let rate = sent as f64 / self.started.elapsed().as_secs_f64().max(0.001);
        match &self.bar {
            Some(bar) => {
                bar.set_position(self.bytes_read.load(Ordering::Relaxed));
                bar.set_message(format!("{sent} sent, {rate:.0}/s, {rejected} rejected"));
                bar.tick();
            }
            None if self.last_log.elapsed() >= LOG_EVERY => {
                self.last_log = Instant::now();
                let percent = if self.total_bytes > 0 {
                    100.0 * self.bytes_read.load(Ordering::Relaxed) as f64 / self.total_bytes as f64
                } else {
                    f64::NAN
                };
                tracing::info!(
                    sent,
                    rejected,
                    rate = format!("{rate:.0}/s"),
                    percent = format!("{percent:.1}"),
                    "replay progress"
                );
            }
            None => {}
        }
    }

    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
