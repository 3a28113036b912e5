//! Hot paths, per mention or per batch: parse + validate, encode, the
//! exporter's label guard, tokenization, and model scoring of a batch.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use earshot_benches::{model_dir, sample_lines};
use earshot_exporter::BrandGuard;
use earshot_schema::{
    Mention, ModelInfo, ScoredMention, Sentiment, SentimentProbs, Toxicity, ValidationLimits,
};

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
    let scored: Vec<ScoredMention> = lines
        .iter()
        .filter_map(|line| Mention::from_json_bytes(line.as_bytes(), &limits).ok())
        .map(|mention| ScoredMention {
            mention,
            sentiment: Sentiment::from_probs(SentimentProbs {
                negative: 0.2,
                neutral: 0.3,
                positive: 0.5,
            }),
            toxicity: Toxicity::from_score(0.1, 0.7),
            model: ModelInfo {
                name: "bench".into(),
                version: "1".into(),
            },
            scored_at: chrono::Utc::now(),
        })
        .collect();
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

criterion_group!(benches, parse_and_validate, brand_guard, model);
criterion_main!(benches);
