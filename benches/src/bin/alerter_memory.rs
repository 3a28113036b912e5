//! Detector memory at scale: feeds BRANDS brands (volumes heavy-tailed from
//! ~2 to ~1,000 mentions/hour, median ~3) for HOURS of synthetic stream, one
//! minute at a time so that the stream itself is never held, and reports the
//! resident memory the detector state added.
//!
//!   alerter_memory [BRANDS] [HOURS] [TEXT_POOL|-] [MAX_TERMS_PER_BRAND]
//!
//! (default 100000 2, word list, the detector's default term limit).
//! With a text pool (`benches/scripts/alerter_text_pool.py`), mentions carry
//! real texts: a real vocabulary fills each brand's term table, which the
//! built-in twenty-word list never does. As the service does, the free heap
//! goes back to the system after each hourly tidy (`heap`); set
//! EARSHOT_BENCH_NO_TRIM=1 to see what glibc keeps without it. Large
//! tables get pages of their own as in the service
//! (`heap::configure_allocator`); EARSHOT_BENCH_DEFAULT_MALLOC=1 leaves
//! glibc's default.

use std::time::Instant;

use chrono::{TimeZone, Utc};
use earshot_alerter::heap::resident_bytes;
use earshot_alerter::synth::{generate_with_texts, SynthBrand, TextPool};
use earshot_alerter::{Detector, DetectorConfig};

fn main() {
    let mut arguments = std::env::args().skip(1);
    let brand_count: usize = arguments
        .next()
        .and_then(|text| text.parse().ok())
        .unwrap_or(100_000);
    let hours: i64 = arguments
        .next()
        .and_then(|text| text.parse().ok())
        .unwrap_or(2);
    let pool = arguments.next().filter(|path| path != "-").map(|path| {
        match TextPool::load(path.as_ref()) {
            Ok(pool) => pool,
            Err(error) => {
                eprintln!("alerter_memory: {error}");
                std::process::exit(2);
            }
        }
    });
    let mut config = DetectorConfig::default();
    if let Some(limit) = arguments.next().and_then(|text| text.parse().ok()) {
        config.max_terms_per_brand = limit;
    }
    let term_limit = config.max_terms_per_brand;
    let brands: Vec<SynthBrand> = (0..brand_count)
        .map(|index| {
            let position = index as f64 / brand_count.max(2) as f64;
            SynthBrand {
                name: format!("brand-{index:06}"),
                mentions_per_hour: 2.0 * 500f64.powf(position.powi(4)),
                negative_share: 0.25,
                toxic_share: 0.03,
                thread_share: 0.0,
                repost_share: 0.0,
            }
        })
        .collect();
    let per_hour: f64 = brands.iter().map(|brand| brand.mentions_per_hour).sum();
    let start = Utc
        .with_ymd_and_hms(2026, 11, 2, 0, 0, 0)
        .single()
        .unwrap_or_default();
    if std::env::var_os("EARSHOT_BENCH_DEFAULT_MALLOC").is_none() {
        earshot_alerter::heap::configure_allocator();
    }
    let before = resident_bytes();
    let started = Instant::now();
    let mut detector = Detector::new(config);
    let mut mentions = 0u64;
    let trim = std::env::var_os("EARSHOT_BENCH_NO_TRIM").is_none();
    let mut trims = 0u32;
    let mut trim_seconds = 0.0f64;
    for minute in 0..hours * 60 {
        let batch = generate_with_texts(
            &brands,
            &[],
            start + chrono::Duration::minutes(minute),
            1,
            minute as u64,
            pool.as_ref(),
        );
        let tidies = detector.stats.hourly_tidies;
        for scored in &batch {
            detector.ingest(scored);
        }
        mentions += batch.len() as u64;
        if trim && detector.stats.hourly_tidies > tidies {
            let trim_started = Instant::now();
            earshot_alerter::heap::give_back_free_pages();
            trim_seconds += trim_started.elapsed().as_secs_f64();
            trims += 1;
        }
    }
    let after = resident_bytes();
    let added = after.saturating_sub(before);
    println!(
        "{brand_count} brands ({per_hour:.0} mentions/hour in all), {hours} h, {mentions} mentions ({}, at most {term_limit} terms per brand) in {:.0} s",
        if pool.is_some() { "real texts" } else { "word-list texts" },
        started.elapsed().as_secs_f64()
    );
    println!(
        "detector state: {:.0} MiB resident ({:.1} KiB per brand); brands tracked {}",
        added as f64 / (1024.0 * 1024.0),
        added as f64 / 1024.0 / brand_count.max(1) as f64,
        detector.brands_tracked()
    );
    println!(
        "terms shed {}, seen-once notes dropped early {}",
        detector.stats.terms_shed, detector.stats.term_notes_dropped
    );
    // What the entries are spent on: terms a bin holds, the busy ones the
    // detector reads among them, and terms kept only for their rate.
    let census = detector.term_census();
    println!(
        "term entries: {} held by a bin ({} busy), {} for their rate only, {} free slots; seen-once notes {} in {} slots",
        census.held, census.busy, census.rate_only, census.free, census.notes, census.note_slots
    );
    let measure_started = Instant::now();
    let state = detector.state_bytes();
    let measure_ms = measure_started.elapsed().as_secs_f64() * 1000.0;
    let mib = |bytes: usize| bytes as f64 / (1024.0 * 1024.0);
    let parts: Vec<String> = state
        .parts()
        .iter()
        .map(|(part, bytes)| format!("{part} {:.1}", mib(*bytes)))
        .collect();
    println!(
        "asked of the allocator: {:.0} MiB ({:.1} KiB per brand): {} (MiB; measured in {measure_ms:.0} ms)",
        mib(state.total()),
        state.total() as f64 / 1024.0 / brand_count.max(1) as f64,
        parts.join(", ")
    );
    // Where it goes by volume: the few busy brands or the many quiet ones.
    let classes = [5.0, 20.0, 100.0, 300.0, f64::INFINITY];
    let mut by_class = vec![(0usize, earshot_alerter::StateBytes::default()); classes.len()];
    for (name, bytes) in detector.state_bytes_by_brand() {
        let per_hour = name
            .strip_prefix("brand-")
            .and_then(|index| index.parse::<usize>().ok())
            .and_then(|index| brands.get(index))
            .map_or(0.0, |brand| brand.mentions_per_hour);
        let class = classes
            .iter()
            .position(|most| per_hour < *most)
            .unwrap_or(classes.len() - 1);
        by_class[class].0 += 1;
        by_class[class].1.add(&bytes);
    }
    let mut below = 0.0;
    for (most, (count, bytes)) in classes.iter().zip(&by_class) {
        let parts: Vec<String> = bytes
            .parts()
            .iter()
            .filter(|(_, bytes)| *bytes > 0)
            .map(|(part, part_bytes)| {
                format!(
                    "{part} {:.1}",
                    *part_bytes as f64 / 1024.0 / (*count).max(1) as f64
                )
            })
            .collect();
        println!(
            "  {below:.0}-{most:.0} mentions/hour: {count} brands, {:.1} MiB ({:.1} KiB per brand: {})",
            mib(bytes.total()),
            bytes.total() as f64 / 1024.0 / (*count).max(1) as f64,
            parts.join(", ")
        );
        below = *most;
    }
    println!(
        "heap handed back {trims} times ({:.0} ms in all, {:.1} ms each)",
        trim_seconds * 1000.0,
        trim_seconds * 1000.0 / f64::from(trims.max(1))
    );
}
