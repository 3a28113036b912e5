//! Issue 4 (Hugging Face classifier directories): tiny random BERT,
//! DistilBERT and RoBERTa sequence classifiers made by Python transformers
//! during the test give the same token ids and, on a padded batch of mixed
//! lengths, the same logits (within 1e-4) when loaded by earshot in Rust;
//! a text's logits do not depend on its batch; and the scorer uses them in
//! place of its heads with the label mapping from their config.

use std::path::{Path, PathBuf};
use std::process::Command;

use earshot_integration_tests::{model_dir, venv_python};
use earshot_scorer::classifier::SequenceClassifier;
use earshot_scorer::text_scorer::{ClassifierSettings, TextScorer};
use serde::Deserialize;

#[derive(Deserialize)]
struct Expected {
    texts: Vec<String>,
    max_tokens: usize,
    models: std::collections::BTreeMap<String, ExpectedModel>,
}

#[derive(Deserialize)]
struct ExpectedModel {
    input_ids: Vec<Vec<i64>>,
    logits: Vec<Vec<f32>>,
    labels: Vec<String>,
    multi_label: bool,
}

fn make_models(directory: &Path) -> Expected {
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/make_tiny_classifiers.py");
    let status = Command::new(venv_python())
        .arg(&script)
        .arg(directory)
        .arg(model_dir().join("vocab.txt"))
        .status()
        .expect("run python");
    assert!(status.success(), "make_tiny_classifiers.py failed");
    serde_json::from_slice(&std::fs::read(directory.join("expected.json")).expect("expected"))
        .expect("expected json")
}

fn rows(tensor: &tch::Tensor) -> Vec<Vec<f32>> {
    let columns = tensor.size()[1] as usize;
    Vec::<f32>::try_from(tensor.flatten(0, -1))
        .expect("floats")
        .chunks(columns)
        .map(<[f32]>::to_vec)
        .collect()
}

fn max_difference(left: &[Vec<f32>], right: &[Vec<f32>]) -> f32 {
    assert_eq!(left.len(), right.len());
    left.iter()
        .zip(right)
        .flat_map(|(a, b)| {
            assert_eq!(a.len(), b.len());
            a.iter().zip(b).map(|(x, y)| (x - y).abs())
        })
        .fold(0.0, f32::max)
}

#[test]
fn hugging_face_classifiers_match_python_and_replace_the_heads() {
    let directory = tempfile::tempdir().expect("dir");
    let expected = make_models(directory.path());
    let texts: Vec<&str> = expected.texts.iter().map(String::as_str).collect();
    assert_eq!(expected.models.len(), 3);
    for (name, model) in &expected.models {
        let classifier = SequenceClassifier::load(
            &directory.path().join(name),
            tch::Device::Cpu,
            expected.max_tokens,
        )
        .unwrap_or_else(|error| panic!("{name} loads: {error}"));
        assert_eq!(
            classifier.labels(),
            model.labels.as_slice(),
            "{name} labels"
        );
        assert_eq!(classifier.is_multi_label(), model.multi_label, "{name}");
        let ids = classifier.tokenize(&texts);
        assert_eq!(
            ids, model.input_ids,
            "{name}: token ids differ from Python's"
        );
        let lengths: std::collections::BTreeSet<usize> = ids.iter().map(Vec::len).collect();
        assert!(lengths.len() >= 5, "{name}: the batch mixes lengths");
        let batch = rows(&classifier.logits_for_tokens(&ids).expect("logits"));
        let difference = max_difference(&batch, &model.logits);
        println!("{name}: max |rust - python| logit difference {difference:e}");
        assert!(
            difference < 1e-4,
            "{name}: logits differ from Python's by {difference}"
        );
        let magnitude = model
            .logits
            .iter()
            .flatten()
            .fold(0.0f32, |m, x| m.max(x.abs()));
        assert!(
            magnitude > 0.01,
            "{name}: logits large enough to mean something"
        );
        // Each text alone gives the logits it got in the padded batch.
        for (index, sequence) in ids.iter().enumerate() {
            let alone = rows(
                &classifier
                    .logits_for_tokens(std::slice::from_ref(sequence))
                    .expect("logits"),
            );
            let difference = max_difference(&alone, &batch[index..=index]);
            assert!(
                difference < 1e-5,
                "{name}: text {index} depends on its batch ({difference})"
            );
        }
    }

    // The scorer with a BERT sentiment classifier and a multi-label RoBERTa
    // toxicity classifier in place of both heads (no encoder needed).
    let settings = ClassifierSettings {
        sentiment_model: Some(directory.path().join("bert")),
        toxicity_model: Some(directory.path().join("roberta")),
        toxicity_threshold: 0.5,
        ..ClassifierSettings::default()
    };
    let scorer = TextScorer::load(
        None,
        &earshot_scorer::train::default_heads_dir(),
        &settings,
        tch::Device::Cpu,
        expected.max_tokens,
        earshot_scorer::encoder::Precision::F32,
    )
    .expect("scorer");
    assert_eq!(scorer.model_info().name, "sentiment=bert+toxicity=roberta");
    let scores = scorer.score(&texts, 3).expect("scores");
    let softmax = |row: &[f32]| {
        let exp: Vec<f32> = row.iter().map(|x| x.exp()).collect();
        let total: f32 = exp.iter().sum();
        exp.into_iter().map(|x| x / total).collect::<Vec<_>>()
    };
    for (index, score) in scores.iter().enumerate() {
        let sentiment = softmax(&expected.models["bert"].logits[index]);
        let probs = score.sentiment.probs;
        assert!(
            (probs.negative - sentiment[0]).abs() < 1e-4,
            "text {index} negative"
        );
        assert!(
            (probs.neutral - sentiment[1]).abs() < 1e-4,
            "text {index} neutral"
        );
        assert!(
            (probs.positive - sentiment[2]).abs() < 1e-4,
            "text {index} positive"
        );
        let toxic = 1.0 / (1.0 + (-expected.models["roberta"].logits[index][0]).exp());
        assert!(
            (score.toxicity.score - toxic).abs() < 1e-4,
            "text {index} toxicity"
        );
    }

    // A 2-label model with anonymous labels needs a mapping, and says so.
    let unmapped = TextScorer::load(
        None,
        &earshot_scorer::train::default_heads_dir(),
        &ClassifierSettings {
            sentiment_model: Some(directory.path().join("distilbert")),
            toxicity_model: Some(directory.path().join("roberta")),
            ..ClassifierSettings::default()
        },
        tch::Device::Cpu,
        expected.max_tokens,
        earshot_scorer::encoder::Precision::F32,
    );
    let error = unmapped.err().expect("LABEL_0/LABEL_1 cannot be guessed");
    assert!(
        error.to_string().contains("--sentiment-label-map"),
        "{error}"
    );
    let mapped = TextScorer::load(
        Some(&model_dir()),
        &earshot_scorer::train::default_heads_dir(),
        &ClassifierSettings {
            sentiment_model: Some(directory.path().join("distilbert")),
            sentiment_label_map: vec![
                ("LABEL_0".into(), "negative".into()),
                ("LABEL_1".into(), "positive".into()),
            ],
            ..ClassifierSettings::default()
        },
        tch::Device::Cpu,
        expected.max_tokens,
        earshot_scorer::encoder::Precision::F32,
    )
    .expect("mapped distilbert with the shipped toxicity head");
    let scores = mapped.score(&texts, 64).expect("scores");
    for (index, score) in scores.iter().enumerate() {
        let sentiment = softmax(&expected.models["distilbert"].logits[index]);
        assert_eq!(score.sentiment.probs.neutral, 0.0);
        assert!((score.sentiment.probs.positive - sentiment[1]).abs() < 1e-4);
    }
    assert!(mapped
        .model_info()
        .name
        .starts_with("sentiment=distilbert+"));
}
