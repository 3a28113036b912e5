//! The scorer's hardware ceiling: the bare MiniLM forward (with masked mean
//! pooling) on the same batches file mode builds (each window of 1,024 lines
//! sorted by token length, cut into batches of 64), tokenized before the
//! clock starts. Prints one JSON line.
//!
//!     scorer_ceiling INPUT.jsonl [BATCH] [THREADS] [SORT_WINDOW]
//!
//! `EARSHOT_BENCH_INT8=1` runs the int8 encoder (the scorer's CPU default).

use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut arguments = std::env::args().skip(1);
    let input = arguments
        .next()
        .ok_or("usage: scorer_ceiling INPUT.jsonl [BATCH] [THREADS] [SORT_WINDOW]")?;
    let batch: usize = arguments.next().map_or(Ok(64), |text| text.parse())?;
    let threads: i32 = arguments.next().map_or(Ok(2), |text| text.parse())?;
    let window: usize = arguments.next().map_or(Ok(1024), |text| text.parse())?;
    tch::set_num_threads(threads);
    // As the scorer does (allocator.rs).
    earshot_scorer::allocator::keep_large_blocks_in_heap();
    let texts: Vec<String> = std::fs::read_to_string(&input)?
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|value| value["text"].as_str().map(str::to_owned))
        .collect();
    let backend = match std::env::var("EARSHOT_BENCH_INT8").as_deref() {
        Ok("1") => earshot_scorer::encoder::EncoderBackend::FusedInt8,
        _ => earshot_scorer::encoder::EncoderBackend::Fused,
    };
    let encoder = earshot_scorer::encoder::Encoder::load_with(
        &earshot_benches::model_dir(),
        tch::Device::Cpu,
        128,
        backend,
    )?;
    // File mode sorts each window of lines by token length; so does this.
    let mut batches: Vec<Vec<Vec<i64>>> = Vec::new();
    for chunk in texts.chunks(window.max(batch)) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        let mut sequences = encoder.tokenize(&refs);
        sequences.sort_by_key(Vec::len);
        batches.extend(sequences.chunks(batch).map(<[Vec<i64>]>::to_vec));
    }
    // One warm-up batch, as every measured run gets.
    if let Some(first) = batches.first() {
        let _warm = encoder.embed_tokens(first)?;
    }
    let started = Instant::now();
    for sequences in &batches {
        let _pooled = encoder.embed_tokens(sequences)?;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({"texts": texts.len(), "seconds": seconds, "per_second": texts.len() as f64 / seconds})
    );
    Ok(())
}
