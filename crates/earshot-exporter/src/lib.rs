//! earshot-exporter: the scored stream and alerts as Prometheus metrics.

mod guard;
mod metrics;

use std::net::SocketAddr;

use chrono::Utc;
use earshot_kafka::{
    BatchProcessor, InputRecord, KafkaArgs, Outcome, PipelineArgs, PipelineService,
    PipelineSettings,
};
use earshot_schema::{topics, Alert, ScoredMention, ValidationLimits};
use earshot_service::{CancellationToken, LogArgs};

pub use guard::{sanitize_label, BrandGuard, OTHER};
pub use metrics::BrandMetrics;

#[derive(Debug, clap::Parser)]
#[command(
    name = "earshot-exporter",
    version,
    about = "Export the scored mention stream as Prometheus metrics"
)]
pub struct Cli {
    #[command(flatten)]
    pub log: LogArgs,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    /// Topic of scored mentions.
    #[arg(long, env = "EARSHOT_SCORED_TOPIC", default_value = topics::MENTIONS_SCORED)]
    pub scored_topic: String,
    /// Topic of alerts.
    #[arg(long, env = "EARSHOT_ALERTS_TOPIC", default_value = topics::ALERTS)]
    pub alerts_topic: String,
    /// Address of /metrics and /health.
    #[arg(long, env = "EARSHOT_HTTP_ADDR", default_value = "127.0.0.1:9464")]
    pub http_addr: SocketAddr,
    /// Brands that always get their own label value, comma-separated.
    #[arg(long, env = "EARSHOT_BRAND_ALLOWLIST", value_delimiter = ',')]
    pub brand_allowlist: Vec<String>,
    /// How many more brands, by volume, get their own label; the rest are `other`.
    #[arg(long, env = "EARSHOT_TOP_BRANDS", default_value_t = 200)]
    pub top_brands: usize,
    /// Competitor group for share of voice, as group=brand1,brand2 (repeat; `;` in env).
    #[arg(
        long = "competitor-group",
        env = "EARSHOT_COMPETITOR_GROUPS",
        value_delimiter = ';'
    )]
    pub competitor_groups: Vec<String>,
}

/// Updates the brand metrics from each record; produces nothing, so a record
/// counts as delivered once counted.
pub struct ExportProcessor {
    pub metrics: BrandMetrics,
    pub guard: BrandGuard,
    pub scored_topic: String,
    pub limits: ValidationLimits,
}

impl ExportProcessor {
    /// Updates the brand metrics for one scored mention.
    pub fn count_scored(&mut self, scored: &ScoredMention) {
        let brand = self.guard.label_for(&scored.mention.brand);
        let source = sanitize_label(&scored.mention.source);
        let metrics = &self.metrics;
        metrics
            .mentions
            .with_label_values(&[&brand, &source, scored.sentiment.label.as_str()])
            .inc();
        if scored.toxicity.is_toxic() {
            metrics
                .toxic_mentions
                .with_label_values(&[&brand, &source])
                .inc();
        }
        metrics
            .sentiment_score
            .with_label_values(&[&brand])
            .observe(f64::from(scored.sentiment.score));
        metrics
            .toxicity_score
            .with_label_values(&[&brand])
            .observe(f64::from(scored.toxicity.score));
        if let Some(mention_metrics) = &scored.mention.metrics {
            if let Some(likes) = mention_metrics.likes {
                metrics
                    .engagement
                    .with_label_values(&[&brand, "likes"])
                    .inc_by(likes);
            }
            if let Some(shares) = mention_metrics.shares {
                metrics
                    .engagement
                    .with_label_values(&[&brand, "shares"])
                    .inc_by(shares);
            }
            if let Some(followers) = mention_metrics.followers {
                metrics.reach.with_label_values(&[&brand]).inc_by(followers);
            }
        }
        let scoring = (scored.scored_at - scored.mention.created_at).num_milliseconds();
        if scoring >= 0 {
            metrics
                .scoring_latency
                .with_label_values(&[&source])
                .observe(scoring as f64 / 1000.0);
        }
        let export = (Utc::now() - scored.scored_at).num_milliseconds().max(0);
        metrics
            .export_latency
            .with_label_values(&["scored_to_exported"])
            .observe(export as f64 / 1000.0);
    }

    fn count_alert(&mut self, alert: &Alert) {
        let brand = self.guard.label_for(&alert.brand);
        let status = match alert.status {
            earshot_schema::AlertStatus::Firing => "firing",
            earshot_schema::AlertStatus::Resolved => "resolved",
        };
        self.metrics
            .alerts
            .with_label_values(&[&brand, alert.kind.as_str(), alert.severity.as_str(), status])
            .inc();
    }
}

impl BatchProcessor for ExportProcessor {
    async fn process(&mut self, batch: &[InputRecord]) -> Result<Vec<Outcome>, String> {
        let mut outcomes = Vec::with_capacity(batch.len());
        for record in batch {
            let outcome = if record.topic == self.scored_topic {
                match ScoredMention::from_json_bytes(&record.payload, &self.limits) {
                    Ok(scored) => {
                        self.count_scored(&scored);
                        Outcome::Produce(Vec::new())
                    }
                    Err(error) => Outcome::DeadLetter {
                        kind: error.kind().as_str(),
                        reason: error.to_string(),
                    },
                }
            } else {
                match Alert::from_json_bytes(&record.payload) {
                    Ok(alert) => {
                        self.count_alert(&alert);
                        Outcome::Produce(Vec::new())
                    }
                    Err(error) => Outcome::DeadLetter {
                        kind: error.kind().as_str(),
                        reason: error.to_string(),
                    },
                }
            };
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }
}

fn parse_groups(specs: &[String]) -> anyhow::Result<Vec<(String, Vec<String>)>> {
    let mut groups = Vec::new();
    for spec in specs.iter().filter(|spec| !spec.trim().is_empty()) {
        let Some((group, brands)) = spec.split_once('=') else {
            anyhow::bail!("--competitor-group expects group=brand1,brand2, got {spec:?}");
        };
        let brands = brands.split(',').map(sanitize_label).collect();
        groups.push((sanitize_label(group), brands));
    }
    Ok(groups)
}

/// Runs the exporter until shutdown.
pub async fn run(cli: Cli, shutdown: CancellationToken) -> anyhow::Result<()> {
    let service = PipelineService::start("exporter", cli.http_addr, &shutdown).await?;
    let metrics = BrandMetrics::new(&service.registry)?;
    let groups = parse_groups(&cli.competitor_groups)?;
    let mut allowlist: Vec<String> = cli.brand_allowlist.clone();
    for (group, brands) in &groups {
        for brand in brands {
            // Brands compared in a group must never fold into `other`.
            allowlist.push(brand.clone());
            metrics
                .brand_group
                .with_label_values(&[brand, group])
                .set(1);
        }
    }
    tracing::info!(address = %service.address, "exporter ready");
    let processor = ExportProcessor {
        metrics,
        guard: BrandGuard::new(allowlist, cli.top_brands),
        scored_topic: cli.scored_topic.clone(),
        limits: ValidationLimits::default(),
    };
    let settings = PipelineSettings::from_args(
        "exporter",
        &cli.pipeline,
        vec![cli.scored_topic.clone(), cli.alerts_topic.clone()],
        "earshot-exporter",
    );
    service
        .run(cli.kafka, settings, processor, shutdown)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_competitor_groups() {
        let groups = parse_groups(&["airlines=United, Delta".into()]).expect("groups");
        assert_eq!(
            groups,
            vec![(
                "airlines".to_owned(),
                vec!["united".to_owned(), "delta".to_owned()]
            )]
        );
        assert!(parse_groups(&["nonsense".into()]).is_err());
    }
}
