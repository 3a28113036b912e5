//! `Detector::state_bytes` (the `earshot_alerter_state_bytes` gauges) is
//! what the detector's state asked of the allocator: checked against an
//! allocator that counts live bytes (its own process, one test).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use chrono::{DateTime, Duration};
use earshot_alerter::synth::{generate_with_texts, SynthBrand, TextPool};
use earshot_alerter::{Detector, DetectorConfig};

/// The system allocator, counting the bytes live.
struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call goes to the system allocator unchanged; only a counter
// is updated besides.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(pointer, layout) }
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: the caller's contract, passed on.
        unsafe { System.realloc(pointer, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
fn state_bytes_are_what_the_state_asked_of_the_allocator() {
    // A vocabulary of 20,000 made-up words, so that term tables, notes and
    // long names fill as real texts fill them.
    let pool = TextPool::made_up(7, 20_000, 2000);
    // Brands from 2 to 2,000 mentions an hour, over three hours: quiet
    // brands' few bins and busy brands' full term tables both count.
    let brands: Vec<SynthBrand> = (0..60)
        .map(|index| SynthBrand {
            name: format!("brand-{index:03}"),
            mentions_per_hour: 2.0 * 1000f64.powf(f64::from(index) / 59.0),
            negative_share: 0.25,
            toxic_share: 0.03,
            thread_share: 0.0,
            repost_share: 0.0,
        })
        .collect();
    let start = DateTime::from_timestamp(1_793_577_600, 0).expect("time");
    let stream = generate_with_texts(&brands, &[], start, 3 * 60, 5, Some(&pool));
    // From before the detector: its table of recent texts is allocated new.
    let before = LIVE_BYTES.load(Ordering::Relaxed);
    let mut detector = Detector::new(DetectorConfig::default());
    for mention in &stream {
        drop(detector.ingest(mention));
    }
    drop(detector.advance_watermark((start + Duration::minutes(3 * 60 + 5)).timestamp()));
    let live = LIVE_BYTES.load(Ordering::Relaxed) - before;
    let state = detector.state_bytes();
    let stated = state.total() as isize;
    // Outside the statement: scratch vectors reused across mentions, and
    // B-tree nodes' spare room for open bins.
    assert!(
        stated <= live && stated * 100 >= live * 95,
        "stated {stated} bytes ({state:?}), live {live}"
    );
    for (part, bytes) in state.parts() {
        assert!(bytes > 0, "{part}: {state:?}");
    }
    eprintln!("stated {stated} bytes of {live} live: {state:?}");
}
