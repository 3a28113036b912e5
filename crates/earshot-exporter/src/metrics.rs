use prometheus::{
    exponential_buckets, linear_buckets, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec,
    Opts, Registry,
};

/// The brand-facing metric families the dashboards and recording rules use.
#[derive(Clone)]
pub struct BrandMetrics {
    pub mentions: IntCounterVec,
    pub toxic_mentions: IntCounterVec,
    pub sentiment_score: HistogramVec,
    pub toxicity_score: HistogramVec,
    pub engagement: IntCounterVec,
    pub reach: IntCounterVec,
    pub alerts: IntCounterVec,
    pub scoring_latency: HistogramVec,
    pub export_latency: HistogramVec,
    pub brand_group: IntGaugeVec,
}

impl BrandMetrics {
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let latency_buckets = exponential_buckets(0.01, 2.0, 18)?;
        let metrics = BrandMetrics {
            mentions: IntCounterVec::new(
                Opts::new(
                    "mentions_total",
                    "Scored mentions by brand, source and sentiment label.",
                ),
                &["brand", "source", "sentiment"],
            )?,
            toxic_mentions: IntCounterVec::new(
                Opts::new(
                    "toxic_mentions_total",
                    "Mentions labeled toxic, by brand and source.",
                ),
                &["brand", "source"],
            )?,
            sentiment_score: HistogramVec::new(
                HistogramOpts::new(
                    "sentiment_score",
                    "Sentiment score P(positive) - P(negative) per mention.",
                )
                .buckets(linear_buckets(-1.0, 0.2, 11)?),
                &["brand"],
            )?,
            toxicity_score: HistogramVec::new(
                HistogramOpts::new("toxicity_score", "Toxicity probability per mention.")
                    .buckets(linear_buckets(0.1, 0.1, 10)?),
                &["brand"],
            )?,
            engagement: IntCounterVec::new(
                Opts::new(
                    "mention_engagement_total",
                    "Likes and shares reported with mentions.",
                ),
                &["brand", "kind"],
            )?,
            reach: IntCounterVec::new(
                Opts::new(
                    "mention_reach_total",
                    "Sum of the authors' follower counts over mentions (potential reach).",
                ),
                &["brand"],
            )?,
            alerts: IntCounterVec::new(
                Opts::new(
                    "alerts_total",
                    "Crisis alert messages by brand, kind, severity and status.",
                ),
                &["brand", "kind", "severity", "status"],
            )?,
            scoring_latency: HistogramVec::new(
                HistogramOpts::new(
                    "scoring_latency_seconds",
                    "From a mention's created_at to its scored_at.",
                )
                .buckets(latency_buckets.clone()),
                &["source"],
            )?,
            export_latency: HistogramVec::new(
                HistogramOpts::new(
                    "export_latency_seconds",
                    "From scored_at to the exporter counting the mention.",
                )
                .buckets(latency_buckets),
                &["stage"],
            )?,
            brand_group: IntGaugeVec::new(
                Opts::new(
                    "brand_group_info",
                    "1 for each brand in a competitor group (for share of voice).",
                ),
                &["brand", "group"],
            )?,
        };
        registry.register(Box::new(metrics.mentions.clone()))?;
        registry.register(Box::new(metrics.toxic_mentions.clone()))?;
        registry.register(Box::new(metrics.sentiment_score.clone()))?;
        registry.register(Box::new(metrics.toxicity_score.clone()))?;
        registry.register(Box::new(metrics.engagement.clone()))?;
        registry.register(Box::new(metrics.reach.clone()))?;
        registry.register(Box::new(metrics.alerts.clone()))?;
        registry.register(Box::new(metrics.scoring_latency.clone()))?;
        registry.register(Box::new(metrics.export_latency.clone()))?;
        registry.register(Box::new(metrics.brand_group.clone()))?;
        Ok(metrics)
    }
}
