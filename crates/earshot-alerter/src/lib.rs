//! earshot-alerter: per-brand, event-time crisis detection on
//! `mentions.scored`, publishing alert state changes to `alerts`.

pub mod config;
pub mod detector;
mod global_terms;
pub mod heap;
mod lines;
pub mod notify;
mod prefetch;
pub mod rebuild;
mod recent_texts;
mod seen_once;
pub mod synth;
pub mod tails;
mod term_index;
mod term_names;
mod term_table;
pub mod terms;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use earshot_kafka::{
    BatchProcessor, InputRecord, KafkaArgs, Outcome, OutputRecord, PipelineArgs, PipelineService,
    PipelineSettings,
};
use earshot_schema::{topics, Alert, ScoredMentionView, ValidationLimits};
use earshot_service::{CancellationToken, LogArgs};
use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

pub use config::{DetectorConfig, Thresholds};
pub use detector::{Detector, StateBytes};
pub use term_table::TermCensus;

#[derive(Debug, clap::Parser)]
#[command(
    name = "earshot-alerter",
    version,
    about = "Detect brand crises early on the scored mention stream"
)]
pub struct Cli {
    #[command(flatten)]
    pub log: LogArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Consumes `mentions.scored`, publishes alert state changes to `alerts`.
    Serve(Box<ServeArgs>),
    /// Runs the same detector over a scored JSONL file at full speed.
    Backtest(BacktestArgs),
    /// Writes a labeled synthetic scored stream and its ground truth.
    Synth(SynthArgs),
}

#[derive(Debug, clap::Args)]
pub struct SynthArgs {
    /// Scored mentions, JSONL, in arrival order.
    #[arg(long)]
    pub output: PathBuf,
    /// Ground truth: one JSON line per injected event.
    #[arg(long)]
    pub truth: PathBuf,
    /// Number of brands; their volumes spread geometrically from
    /// --min-per-hour to --max-per-hour.
    #[arg(long, default_value_t = 20)]
    pub brands: usize,
    /// Mentions per hour of the quietest brand (on average over a week).
    #[arg(long, default_value_t = 3.0)]
    pub min_per_hour: f64,
    /// Mentions per hour of the busiest brand.
    #[arg(long, default_value_t = 3000.0)]
    pub max_per_hour: f64,
    #[arg(long, default_value_t = 3.0)]
    pub days: f64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Real mention texts by label (JSON lines `{"label", "text"}`; labels
    /// negative, neutral, positive, toxic), e.g. from
    /// `benches/scripts/alerter_text_pool.py`; without it, texts are six
    /// words from a built-in list.
    #[arg(long)]
    pub texts: Option<PathBuf>,
    /// Share of each brand's mentions that continue the thread of its
    /// previous mention and take its labels (0 to 1): shares that swing
    /// further from window to window, as real streams' do.
    #[arg(long, default_value_t = 0.0)]
    pub thread_share: f64,
    /// Share of each brand's mentions that repost its previous mention:
    /// the same text and labels (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    pub repost_share: f64,
}

#[derive(Debug, Clone, clap::Args)]
pub struct DetectorArgs {
    /// Sensitivity preset: sensitive, balanced or conservative.
    #[arg(long, env = "EARSHOT_ALERTER_PRESET", default_value = "balanced")]
    pub preset: String,
    /// JSON config with a preset, warm-up hours, lateness and per-brand overrides.
    #[arg(long, env = "EARSHOT_ALERTER_CONFIG")]
    pub config: Option<PathBuf>,
}

impl DetectorArgs {
    fn load(&self) -> anyhow::Result<DetectorConfig> {
        Ok(DetectorConfig::load(&self.preset, self.config.as_deref())?)
    }
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    #[command(flatten)]
    pub detector: DetectorArgs,
    /// Topic of scored mentions.
    #[arg(long, env = "EARSHOT_SCORED_TOPIC", default_value = topics::MENTIONS_SCORED)]
    pub scored_topic: String,
    /// Topic the alerts go to.
    #[arg(long, env = "EARSHOT_ALERTS_TOPIC", default_value = topics::ALERTS)]
    pub alerts_topic: String,
    /// Address of /metrics and /health.
    #[arg(long, env = "EARSHOT_HTTP_ADDR", default_value = "127.0.0.1:9472")]
    pub http_addr: SocketAddr,
    /// On start or rebalance, how much of a partition's recent history
    /// (by record time) is re-read to rebuild its detector; 0 starts cold.
    #[arg(long, env = "EARSHOT_ALERTER_REBUILD_WINDOW", default_value = "48h", value_parser = earshot_service::parse_duration)]
    pub rebuild_window: std::time::Duration,
    #[command(flatten)]
    pub notify: notify::NotifyArgs,
}

#[derive(Debug, clap::Args)]
pub struct BacktestArgs {
    #[command(flatten)]
    pub detector: DetectorArgs,
    /// Scored mentions, JSONL, in stream order.
    #[arg(long)]
    pub input: PathBuf,
    /// Where every alert state change goes, one JSON line each.
    #[arg(long)]
    pub output: PathBuf,
}

/// Counts from a backtest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BacktestSummary {
    pub mentions: u64,
    pub invalid: u64,
    pub late: u64,
    /// Mentions copying a recent text of their brand's (words not re-read).
    pub text_copies: u64,
    /// Mentions outside their busy brand's term sample (words not read).
    pub terms_unread: u64,
    pub alerts: u64,
}

/// Runs the detector over a file; returns what it saw.
pub fn backtest(
    detector_config: DetectorConfig,
    input: &std::path::Path,
    output: &std::path::Path,
) -> anyhow::Result<BacktestSummary> {
    let mut reader = lines::LineReader::new(
        File::open(input).with_context(|| format!("cannot open {}", input.display()))?,
    );
    let mut writer = BufWriter::new(
        File::create(output).with_context(|| format!("cannot create {}", output.display()))?,
    );
    let limits = ValidationLimits::default();
    let mut detector = Detector::new(detector_config);
    let mut summary = BacktestSummary::default();
    let mut write_alerts =
        |alerts: Vec<Alert>, summary: &mut BacktestSummary| -> std::io::Result<()> {
            for alert in alerts {
                writer.write_all(&alert.to_json_vec())?;
                writer.write_all(b"\n")?;
                summary.alerts += 1;
            }
            Ok(())
        };
    while let Some(line) = reader
        .next_line()
        .with_context(|| format!("cannot read {}", input.display()))?
    {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match ScoredMentionView::from_json_bytes(line, &limits) {
            Ok(mention) => {
                let alerts = detector.ingest_view(&mention);
                write_alerts(alerts, &mut summary)?;
            }
            Err(_) => summary.invalid += 1,
        }
    }
    write_alerts(detector.flush(), &mut summary)?;
    writer.flush()?;
    summary.mentions = detector.stats.mentions;
    summary.late = detector.stats.late;
    summary.text_copies = detector.stats.text_copies;
    summary.terms_unread = detector.stats.terms_unread;
    Ok(summary)
}

/// Reads one of the detector's stats.
type ReadStat = fn(&detector::DetectorStats) -> u64;

/// Detector stats published as counters: (name, help, the stat). Each
/// grows by what a mention added to its stat.
const STAT_COUNTERS: [(&str, &str, ReadStat); 8] = [
    (
        "alerter_mentions_total",
        "Scored mentions fed to the detector.",
        |stats| stats.mentions,
    ),
    (
        "alerter_late_mentions_total",
        "Mentions older than the watermark, not counted in detection.",
        |stats| stats.late,
    ),
    (
        "alerter_term_notes_dropped_total",
        "Seen-once term notes dropped for room before their bin left (a brand at twice max_terms_per_brand notes): those first mentions go uncounted.",
        |stats| stats.term_notes_dropped,
    ),
    (
        "alerter_terms_shed_total",
        "Terms forgotten for room by brands past max_terms_per_brand (the least mentioned of late); one mentioned again starts over.",
        |stats| stats.terms_shed,
    ),
    (
        "alerter_brands_forgotten_total",
        "Brands forgotten after forget_idle_brands_hours (a week by default) without a mention, with nothing open.",
        |stats| stats.brands_forgotten,
    ),
    (
        "alerter_term_tables_fitted_total",
        "Brand term tables that gave back the room of a busier hour (a fifth of their entries free at the hourly tidy, half at any bin close, or a quarter of their notes in use).",
        |stats| stats.term_tables_fitted,
    ),
    (
        "alerter_text_copies_total",
        "Mentions whose text copied one of their brand's within the longest term window (reposts, retweets): counted, their words not read again.",
        |stats| stats.text_copies,
    ),
    (
        "alerter_terms_unread_total",
        "Mentions of busy brands whose terms were not read: outside their brand's sample (term_sample_per_hour); counted towards volume, negative and toxic all the same.",
        |stats| stats.terms_unread,
    ),
];

#[derive(Clone)]
struct AlerterMetrics {
    /// Each of [`STAT_COUNTERS`], with how it reads its stat.
    stat_counters: Vec<(ReadStat, IntCounter)>,
    heap_trims: IntCounter,
    rebuilds: IntCounter,
    rebuild_mentions: IntCounter,
    alerts: IntCounterVec,
    brands: IntGauge,
    open_incidents: IntGauge,
    state_bytes: IntGaugeVec,
}

impl AlerterMetrics {
    fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let metrics = AlerterMetrics {
            stat_counters: STAT_COUNTERS
                .iter()
                .map(|(name, help, stat)| Ok((*stat, IntCounter::new(*name, *help)?)))
                .collect::<Result<_, prometheus::Error>>()?,
            heap_trims: IntCounter::new(
                "alerter_heap_trims_total",
                "Times the free heap was handed back to the system (after each hourly tidy of the term tables, and after a rebuild).",
            )?,
            alerts: IntCounterVec::new(
                Opts::new(
                    "alerter_alerts_emitted_total",
                    "Alert state changes published.",
                ),
                &["kind", "severity", "status"],
            )?,
            rebuilds: IntCounter::new(
                "alerter_rebuilds_total",
                "Partition detectors rebuilt from the topic (start, rebalance).",
            )?,
            rebuild_mentions: IntCounter::new(
                "alerter_rebuild_mentions_total",
                "Scored mentions re-read to rebuild detectors.",
            )?,
            brands: IntGauge::new("alerter_brands_tracked", "Brands with detector state.")?,
            open_incidents: IntGauge::new("alerter_open_incidents", "Incidents currently open.")?,
            state_bytes: IntGaugeVec::new(
                Opts::new(
                    "alerter_state_bytes",
                    "Heap bytes of the detectors' state by part, as asked of the allocator (resident memory is more), updated after each hourly tidy and rebuild.",
                ),
                &["part"],
            )?,
        };
        for (_, counter) in &metrics.stat_counters {
            registry.register(Box::new(counter.clone()))?;
        }
        registry.register(Box::new(metrics.heap_trims.clone()))?;
        registry.register(Box::new(metrics.alerts.clone()))?;
        registry.register(Box::new(metrics.rebuilds.clone()))?;
        registry.register(Box::new(metrics.rebuild_mentions.clone()))?;
        registry.register(Box::new(metrics.brands.clone()))?;
        registry.register(Box::new(metrics.open_incidents.clone()))?;
        registry.register(Box::new(metrics.state_bytes.clone()))?;
        Ok(metrics)
    }
}

/// A partition's detector and the next offset it expects.
struct PartitionDetector {
    detector: Detector,
    next_offset: i64,
    /// Its state's bytes as of its last hourly tidy or rebuild (a walk
    /// over its brands and bins: 0.4 s for 100k brands, so not redone for
    /// the partitions that did not tidy).
    state_bytes: detector::StateBytes,
    /// Tidied or rebuilt in this batch: its state is measured again, and
    /// the heap handed back, once the batch is through.
    measure_due: bool,
}

/// Feeds scored mentions to the detector; each record's outcome carries the
/// alerts its arrival caused (bins its watermark advance closed).
///
/// One detector per input partition: a brand lives in one partition (the
/// key), and partitions are consumed at uneven speeds, so one watermark for
/// all would race ahead with the fastest partition and make the others late.
/// A detector is rebuilt (see `rebuild`) whenever its partition's records do
/// not continue where it left off: at start, and after a rebalance.
struct AlertProcessor {
    detector_config: DetectorConfig,
    detectors: std::collections::HashMap<(String, i32), PartitionDetector>,
    alerts_topic: String,
    limits: ValidationLimits,
    metrics: AlerterMetrics,
    kafka: KafkaArgs,
    rebuild_window: std::time::Duration,
    shutdown: CancellationToken,
}

impl AlertProcessor {
    async fn rebuild(&self, record: &InputRecord) -> Result<Detector, String> {
        if self.rebuild_window.is_zero() {
            return Ok(Detector::new(self.detector_config.clone()));
        }
        let record_ms = record
            .timestamp_ms
            .unwrap_or_else(|| chrono::Utc::now().timestamp_millis());
        let request = rebuild::RebuildRequest {
            scored_topic: record.topic.clone(),
            partition: record.partition,
            resume_offset: record.offset,
            from_ms: record_ms.saturating_sub(self.rebuild_window.as_millis() as i64),
            alerts_topic: self.alerts_topic.clone(),
        };
        let kafka = self.kafka.clone();
        let config = self.detector_config.clone();
        let shutdown = self.shutdown.clone();
        let task_request = request.clone();
        let (detector, report) = tokio::task::spawn_blocking(move || {
            rebuild::rebuild_detector(&kafka, config, &task_request, &shutdown)
        })
        .await
        .map_err(|error| format!("rebuild task failed: {error}"))?
        .map_err(|error| {
            format!(
                "cannot rebuild the detector of {}[{}]: {error}",
                request.scored_topic, request.partition
            )
        })?;
        self.metrics.rebuilds.inc();
        self.metrics
            .rebuild_mentions
            .inc_by(report.mentions_replayed);
        tracing::info!(
            topic = %request.scored_topic,
            partition = request.partition,
            resume_offset = request.resume_offset,
            mentions_replayed = report.mentions_replayed,
            alerts_read = report.alerts_read,
            incidents_kept = report.incidents.kept,
            incidents_adopted = report.incidents.adopted,
            incidents_closed = report.incidents.closed,
            incidents_dropped = report.incidents.dropped,
            elapsed_ms = report.elapsed.as_millis() as u64,
            "detector rebuilt"
        );
        Ok(detector)
    }
}

impl BatchProcessor for AlertProcessor {
    async fn process(&mut self, batch: &[InputRecord]) -> Result<Vec<Outcome>, String> {
        let mut outcomes = Vec::with_capacity(batch.len());
        for record in batch {
            let key = (record.topic.clone(), record.partition);
            let continues = self
                .detectors
                .get(&key)
                .is_some_and(|current| current.next_offset == record.offset);
            if !continues {
                let detector = self.rebuild(record).await?;
                self.detectors.insert(
                    key.clone(),
                    PartitionDetector {
                        detector,
                        next_offset: record.offset,
                        state_bytes: detector::StateBytes::default(),
                        measure_due: true,
                    },
                );
            }
            let Some(current) = self.detectors.get_mut(&key) else {
                return Err("detector missing right after insertion".into());
            };
            current.next_offset = record.offset + 1;
            let mention = match ScoredMentionView::from_json_bytes(&record.payload, &self.limits) {
                Ok(mention) => mention,
                Err(error) => {
                    outcomes.push(Outcome::DeadLetter {
                        kind: error.kind().as_str(),
                        reason: error.to_string(),
                    });
                    continue;
                }
            };
            let detector = &mut current.detector;
            let before = detector.stats.clone();
            let alerts = detector.ingest_view(&mention);
            let after = &detector.stats;
            for (stat, counter) in &self.metrics.stat_counters {
                counter.inc_by(stat(after) - stat(&before));
            }
            current.measure_due |= after.hourly_tidies > before.hourly_tidies;
            let records = alerts
                .iter()
                .map(|alert| {
                    let status = match alert.status {
                        earshot_schema::AlertStatus::Firing => "firing",
                        earshot_schema::AlertStatus::Resolved => "resolved",
                    };
                    self.metrics
                        .alerts
                        .with_label_values(&[alert.kind.as_str(), alert.severity.as_str(), status])
                        .inc();
                    tracing::info!(alert_id = %alert.id, summary = %alert.summary, "alert");
                    OutputRecord::new(
                        &self.alerts_topic,
                        Some(alert.brand.as_bytes().to_vec()),
                        alert.to_json_vec(),
                    )
                })
                .collect();
            outcomes.push(Outcome::Produce(records));
        }
        let brands: usize = self
            .detectors
            .values()
            .map(|current| current.detector.brands_tracked())
            .sum();
        let incidents: usize = self
            .detectors
            .values()
            .map(|current| current.detector.open_incidents())
            .sum();
        self.metrics.brands.set(brands as i64);
        self.metrics.open_incidents.set(incidents as i64);
        // The room the hourly tidy (or a replaced detector) freed goes back
        // to the system once the batch is through.
        if self.detectors.values().any(|current| current.measure_due) {
            let started = Instant::now();
            let released = heap::give_back_free_pages();
            self.metrics.heap_trims.inc();
            let mut state = detector::StateBytes::default();
            for current in self.detectors.values_mut() {
                if current.measure_due {
                    current.state_bytes = current.detector.state_bytes();
                    current.measure_due = false;
                }
                state.add(&current.state_bytes);
            }
            for (part, bytes) in state.parts() {
                self.metrics
                    .state_bytes
                    .with_label_values(&[part])
                    .set(bytes as i64);
            }
            tracing::debug!(
                released,
                state_bytes = state.total(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "free heap handed back, state measured"
            );
        }
        Ok(outcomes)
    }
}

/// Builds brands of spread-out volumes and one event per brand (cycling
/// through the shapes) after the first day; returns (brands, events).
pub fn synth_scenario(
    brand_count: usize,
    per_hour: std::ops::RangeInclusive<f64>,
    minutes: i64,
    seed: u64,
) -> (Vec<synth::SynthBrand>, Vec<synth::SynthEvent>) {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use synth::EventShape;
    let shapes = [
        EventShape::SuddenCrisis {
            multiplier: 4.0,
            negative_share: 0.8,
        },
        EventShape::SentimentCollapse {
            negative_share: 0.75,
        },
        EventShape::ToxicBrigade {
            extra_per_hour: 60.0,
        },
        EventShape::SlowBurn {
            multiplier: 3.0,
            negative_share: 0.7,
        },
        EventShape::ViralPositive { multiplier: 5.0 },
        EventShape::IngestionGap,
    ];
    let mut brands = Vec::new();
    let mut events = Vec::new();
    let mut onsets = StdRng::seed_from_u64(seed ^ 0x0e57_a7e5);
    for index in 0..brand_count {
        let name = format!("brand-{index:04}");
        // Geometric from the quietest to the busiest.
        let ratio = (per_hour.end() / per_hour.start().max(0.01)).max(1.0);
        let position = index as f64 / (brand_count.max(2) - 1) as f64;
        let mentions_per_hour = per_hour.start() * ratio.powf(position);
        brands.push(synth::SynthBrand {
            name: name.clone(),
            mentions_per_hour,
            negative_share: 0.25,
            toxic_share: 0.03,
            thread_share: 0.0,
            repost_share: 0.0,
        });
        if minutes > 2 * 24 * 60 {
            let shape = shapes[(index + seed as usize) % shapes.len()];
            // Drawn, not computed from the index: an arithmetic rule put
            // every event of a shape at the same time of day (and the
            // hardest shapes always at night on some seeds).
            let start_minute = 24 * 60 + onsets.gen_range(0..(minutes - 2 * 24 * 60).max(1));
            events.push(synth::SynthEvent {
                brand: name,
                start_minute,
                duration_minutes: 60,
                shape,
                term: format!("#issue{index}"),
            });
        }
    }
    (brands, events)
}

/// Runs the chosen subcommand.
pub async fn run(cli: Cli, shutdown: CancellationToken) -> anyhow::Result<()> {
    heap::configure_allocator();
    match cli.command {
        Command::Backtest(args) => {
            let config = args.detector.load()?;
            let started = Instant::now();
            let summary =
                tokio::task::spawn_blocking(move || backtest(config, &args.input, &args.output))
                    .await??;
            let seconds = started.elapsed().as_secs_f64().max(1e-9);
            eprintln!(
                "backtest: {} mentions ({} invalid, {} late, {} text copies, {} outside their brand's term sample), {} alert state changes, {:.0} mentions/s",
                summary.mentions, summary.invalid, summary.late, summary.text_copies, summary.terms_unread, summary.alerts, summary.mentions as f64 / seconds
            );
            Ok(())
        }
        Command::Synth(args) => {
            for (flag, share) in [
                ("--thread-share", args.thread_share),
                ("--repost-share", args.repost_share),
            ] {
                anyhow::ensure!(
                    (0.0..=1.0).contains(&share),
                    "{flag} must be between 0 and 1, not {share}"
                );
            }
            let minutes = (args.days * 24.0 * 60.0) as i64;
            let (mut brands, events) = synth_scenario(
                args.brands,
                args.min_per_hour..=args.max_per_hour,
                minutes,
                args.seed,
            );
            for brand in &mut brands {
                brand.thread_share = args.thread_share;
                brand.repost_share = args.repost_share;
            }
            let start = chrono::DateTime::from_timestamp(1_793_577_600, 0).unwrap_or_default();
            let pool = args
                .texts
                .as_deref()
                .map(synth::TextPool::load)
                .transpose()?;
            let stream = synth::generate_with_texts(
                &brands,
                &events,
                start,
                minutes,
                args.seed,
                pool.as_ref(),
            );
            let mut output = BufWriter::new(
                File::create(&args.output)
                    .with_context(|| format!("cannot create {}", args.output.display()))?,
            );
            for scored in &stream {
                output.write_all(&scored.to_json_vec())?;
                output.write_all(b"\n")?;
            }
            output.flush()?;
            let mut truth = BufWriter::new(
                File::create(&args.truth)
                    .with_context(|| format!("cannot create {}", args.truth.display()))?,
            );
            for event in &events {
                let line = serde_json::json!({
                    "brand": event.brand,
                    "shape": format!("{:?}", event.shape),
                    "crisis": event.shape.is_crisis(),
                    "term": event.term,
                    "onset_at": earshot_schema::format_timestamp(&(start + chrono::Duration::minutes(event.start_minute))),
                    "end_at": earshot_schema::format_timestamp(&(start + chrono::Duration::minutes(event.start_minute + event.duration_minutes))),
                });
                writeln!(truth, "{line}")?;
            }
            truth.flush()?;
            eprintln!(
                "wrote {} mentions of {} brands and {} events",
                stream.len(),
                brands.len(),
                events.len()
            );
            Ok(())
        }
        Command::Serve(args) => {
            let args = *args;
            let service = PipelineService::start("alerter", args.http_addr, &shutdown).await?;
            let metrics = AlerterMetrics::new(&service.registry)?;
            tracing::info!(address = %service.address, "alerter ready");
            let processor = AlertProcessor {
                detector_config: args.detector.load()?,
                detectors: std::collections::HashMap::new(),
                alerts_topic: args.alerts_topic.clone(),
                limits: ValidationLimits::default(),
                metrics,
                kafka: args.kafka.clone(),
                rebuild_window: args.rebuild_window,
                shutdown: shutdown.clone(),
            };
            let settings = PipelineSettings::from_args(
                "alerter",
                &args.pipeline,
                vec![args.scored_topic.clone()],
                "earshot-alerter",
            );
            let sinks = notify::spawn_sinks(
                &args.notify,
                &notify::SinkContext {
                    kafka: &args.kafka,
                    pipeline: &args.pipeline,
                    alerts_topic: &args.alerts_topic,
                    group_id: &settings.group_id,
                    registry: &service.registry,
                    health: &service.health,
                    shutdown: &shutdown,
                },
            )?;
            let detection = service
                .run(args.kafka, settings, processor, shutdown.clone())
                .await;
            // The pipeline's end cancels `shutdown`, which stops the sinks too.
            shutdown.cancel();
            let notified = sinks.join(&shutdown).await;
            detection?;
            notified
        }
    }
}
