//! The heap gives freed pages back to the system even when live
//! allocations sit among them (its own process: resident memory is read).
#![cfg(all(target_os = "linux", target_env = "gnu"))]

use earshot_alerter::heap::resident_bytes;

#[test]
fn freed_pages_among_live_allocations_go_back() {
    const BLOCKS: usize = 2 * 1024;
    const BLOCK_BYTES: usize = 64 * 1024;
    // Blocks under glibc's mmap threshold come from the heap; a small live
    // allocation after each keeps the freed ones from being the heap's top,
    // the way live term tables sit among the room they gave back.
    let mut freed = Vec::with_capacity(BLOCKS);
    let mut live = Vec::with_capacity(BLOCKS);
    for index in 0..BLOCKS {
        freed.push(vec![index as u8 | 1; BLOCK_BYTES]);
        live.push(vec![index as u8; 32]);
    }
    drop(freed);
    let before = resident_bytes();
    assert!(earshot_alerter::heap::give_back_free_pages());
    let after = resident_bytes();
    let given_back = before.saturating_sub(after);
    // 128 MiB were freed; all but the pages a freed block shares with its
    // live neighbours (1 in 16) can leave the process.
    assert!(
        given_back >= (BLOCKS * BLOCK_BYTES * 3 / 4) as u64,
        "resident {before} -> {after} bytes"
    );
    std::hint::black_box(&live);
}
