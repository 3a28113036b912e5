//! Hot paths, per mention or per batch: parse + validate, encode, the
//! exporter's label guard and metric update, the detector's update,
//! length-sorted batching, tokenization, and model scoring of a batch.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use earshot_benches::{model_dir, sample_lines};
use earshot_exporter::BrandGuard;
use earshot_schema::{
    Mention, ModelInfo, ScoredMention, ScoredMentionView, Sentiment, SentimentProbs, Toxicity,
    ValidationLimits,
};

/// The sample mentions with fixed scores, in file (stream) order.
fn sample_scored() -> Vec<ScoredMention> {
    let limits = ValidationLimits::default();
    sample_lines()
        .iter()
        .filter_map(|line| Mention::from_json_bytes(line.as_bytes(), &limits).ok())
        .enumerate()
        .map(|(index, mention)| ScoredMention {
            mention,
            sentiment: Sentiment::from_probs(if index % 5 == 0 {
                SentimentProbs {
                    negative: 0.7,
                    neutral: 0.2,
                    positive: 0.1,
                }
            } else {
                SentimentProbs {
                    negative: 0.2,
                    neutral: 0.3,
                    positive: 0.5,
                }
            }),
            toxicity: Toxicity::from_score(if index % 17 == 0 { 0.9 } else { 0.1 }, 0.7),
            model: ModelInfo {
                name: "bench".into(),
                version: "1".into(),
            },
            scored_at: chrono::Utc::now(),
        })
        .collect()
}

fn parse_and_validate(criterion: &mut Criterion) {
    let lines = sample_lines();
    let limits = ValidationLimits::default();
    let mut group = criterion.benchmark_group("schema");
    group.throughput(Throughput::Elements(lines.len() as u64));
    group.bench_function("mention_parse_validate", |bench| {
        bench.iter(|| {
            lines
                .iter()
                .filter(|line| Mention::from_json_bytes(line.as_bytes(), &limits).is_ok())
                .count()
        })
    });
    let scored = sample_scored();
    group.bench_function("scored_mention_encode", |bench| {
        bench.iter(|| {
            scored
                .iter()
                .map(|scored| scored.to_json_vec().len())
                .sum::<usize>()
        })
    });
    let encoded: Vec<Vec<u8>> = scored.iter().map(ScoredMention::to_json_vec).collect();
    group.bench_function("scored_mention_parse_validate", |bench| {
        bench.iter(|| {
            encoded
                .iter()
                .filter(|bytes| ScoredMention::from_json_bytes(bytes, &limits).is_ok())
                .count()
        })
    });
    // What the alerter decodes: the fields detection reads, borrowed.
    group.bench_function("scored_mention_view_parse_validate", |bench| {
        bench.iter(|| {
            encoded
                .iter()
                .filter(|bytes| ScoredMentionView::from_json_bytes(bytes, &limits).is_ok())
                .count()
        })
    });
    group.finish();
}

fn brand_guard(criterion: &mut Criterion) {
    let brands: Vec<String> = (0..10_000)
        .map(|index| format!("brand-{}", index % 2_000))
        .collect();
    let mut group = criterion.benchmark_group("exporter");
    group.throughput(Throughput::Elements(brands.len() as u64));
    group.bench_function("brand_guard_label", |bench| {
        bench.iter_batched(
            || BrandGuard::new(Vec::new(), 200),
            |mut guard| {
                brands
                    .iter()
                    .map(|brand| guard.label_for(brand).len())
                    .sum::<usize>()
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn exporter_update(criterion: &mut Criterion) {
    let scored = sample_scored();
    let registry = earshot_service::new_registry("bench");
    let Ok(metrics) = earshot_exporter::BrandMetrics::new(&registry) else {
        eprintln!("skipping the exporter benchmark: metrics registration failed");
        return;
    };
    let mut processor = earshot_exporter::ExportProcessor {
        metrics,
        guard: BrandGuard::new(Vec::new(), 200),
        scored_topic: "mentions.scored".into(),
        limits: ValidationLimits::default(),
    };
    let mut group = criterion.benchmark_group("exporter");
    group.throughput(Throughput::Elements(scored.len() as u64));
    group.bench_function("count_scored", |bench| {
        bench.iter(|| {
            for mention in &scored {
                processor.count_scored(mention);
            }
        })
    });
    group.finish();
}

fn detector_update(criterion: &mut Criterion) {
    let scored = sample_scored();
    let Ok(config) = earshot_alerter::DetectorConfig::load("balanced", None) else {
        eprintln!("skipping the detector benchmark: no balanced preset");
        return;
    };
    let mut group = criterion.benchmark_group("alerter");
    group.throughput(Throughput::Elements(scored.len() as u64));
    // A fresh detector per iteration: the sample's 2,000 mentions in stream
    // order, every event-time bin, baseline and incident update included.
    group.bench_function("detector_ingest", |bench| {
        bench.iter_batched(
            || earshot_alerter::Detector::new(config.clone()),
            |mut detector| {
                scored
                    .iter()
                    .map(|mention| detector.ingest(mention).len())
                    .sum::<usize>()
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn batching(criterion: &mut Criterion) {
    // 1,024 token sequences of tweet-like lengths; the batch function only
    // pads, so this is the sorting, padding and row reassembly around the model.
    let sequences: Vec<Vec<i64>> = (0..1_024)
        .map(|index| vec![101; 8 + (index * 37) % 90])
        .collect();
    let mut group = criterion.benchmark_group("scorer");
    group.throughput(Throughput::Elements(sequences.len() as u64));
    group.bench_function("length_sorted_batches_1024", |bench| {
        bench.iter(|| {
            earshot_scorer::batching::length_sorted_rows(&sequences, 64, 384, |batch| {
                let (ids, _mask) = earshot_scorer::batching::pad(batch, 0, tch::Device::Cpu);
                Ok(tch::Tensor::zeros(
                    [ids.size()[0], 384],
                    (tch::Kind::Float, tch::Device::Cpu),
                ))
            })
            .is_ok()
        })
    });
    group.finish();
}

fn model(criterion: &mut Criterion) {
    let directory = model_dir();
    let Ok(encoder) = earshot_scorer::encoder::Encoder::load(&directory, tch::Device::Cpu, 128)
    else {
        eprintln!(
            "skipping model benchmarks: no encoder at {}",
            directory.display()
        );
        return;
    };
    let Ok(heads) = earshot_scorer::heads::Heads::load(&earshot_scorer::train::default_heads_dir())
    else {
        eprintln!("skipping model benchmarks: no heads");
        return;
    };
    let limits = ValidationLimits::default();
    let texts: Vec<String> = sample_lines()
        .iter()
        .filter_map(|line| Mention::from_json_bytes(line.as_bytes(), &limits).ok())
        .map(|mention| mention.text)
        .take(64)
        .collect();
    let references: Vec<&str> = texts.iter().map(String::as_str).collect();
    let mut group = criterion.benchmark_group("scorer");
    group.throughput(Throughput::Elements(references.len() as u64));
    group.bench_function("tokenize_64", |bench| {
        bench.iter(|| encoder.tokenize(&references).len())
    });
    group.sample_size(10);
    group.bench_function("embed_and_score_64", |bench| {
        bench.iter(|| {
            let embeddings = encoder
                .embed(&references, 64)
                .map(|embeddings| heads.score(&embeddings));
            matches!(embeddings, Ok(Ok(_)))
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    parse_and_validate,
    brand_guard,
    exporter_update,
    detector_update,
    batching,
    model
);
criterion_main!(benches);
