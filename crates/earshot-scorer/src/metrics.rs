use prometheus::{
    exponential_buckets, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry,
};

/// Model-side metrics of the scorer.
#[derive(Clone)]
pub struct ScorerMetrics {
    pub texts_scored: IntCounter,
    pub cache_hits: IntCounter,
    pub inference_seconds: Histogram,
    pub model_batch_size: Histogram,
    pub degraded: IntGauge,
    pub mode_switches: IntCounterVec,
    pub lexicon_scored: IntCounter,
}

impl ScorerMetrics {
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let metrics = ScorerMetrics {
            texts_scored: IntCounter::new(
                "scorer_texts_scored_total",
                "Texts run through the model (cache misses).",
            )?,
            cache_hits: IntCounter::new(
                "scorer_cache_hits_total",
                "Texts answered from the cache of recent texts.",
            )?,
            inference_seconds: Histogram::with_opts(
                HistogramOpts::new(
                    "scorer_inference_duration_seconds",
                    "Model time per batch (tokenize, encode, heads).",
                )
                .buckets(exponential_buckets(0.001, 2.0, 14)?),
            )?,
            model_batch_size: Histogram::with_opts(
                HistogramOpts::new(
                    "scorer_model_batch_size_texts",
                    "Distinct texts per model call.",
                )
                .buckets(exponential_buckets(1.0, 2.0, 10)?),
            )?,
            degraded: IntGauge::new(
                "scorer_degraded",
                "1 while the lexicon scores instead of the model (consumer lag too high).",
            )?,
            mode_switches: IntCounterVec::new(
                Opts::new(
                    "scorer_mode_switches_total",
                    "Switches between model and lexicon scoring, by direction.",
                ),
                &["direction"],
            )?,
            lexicon_scored: IntCounter::new(
                "scorer_lexicon_scored_total",
                "Mentions scored by the lexicon in degraded mode.",
            )?,
        };
        registry.register(Box::new(metrics.texts_scored.clone()))?;
        registry.register(Box::new(metrics.degraded.clone()))?;
        registry.register(Box::new(metrics.mode_switches.clone()))?;
        registry.register(Box::new(metrics.lexicon_scored.clone()))?;
        registry.register(Box::new(metrics.cache_hits.clone()))?;
        registry.register(Box::new(metrics.inference_seconds.clone()))?;
        registry.register(Box::new(metrics.model_batch_size.clone()))?;
        Ok(metrics)
    }

    /// Metrics in a private registry, for file mode and tests.
    pub fn unregistered() -> Self {
        match ScorerMetrics::new(&Registry::new()) {
            Ok(metrics) => metrics,
            Err(error) => panic!("scorer metric definitions are invalid: {error}"),
        }
    }
}
