//! Handing the room the detector gave back to the system, and reading
//! what the process holds.
//!
//! Once an hour the detector drops the terms and notes of busier hours and
//! shrinks its tables (`TermTable::give_back_room`), but glibc keeps what
//! is freed among live allocations: a day's run of 10k brands stayed at
//! 432 MiB resident, 376 MiB with a trim after each tidy (BENCHMARKS.md).
//! `malloc_trim` returns the free pages in the middle of each arena too,
//! not only the top (about 3 ms for 10k or 100k brands).

/// Allocations this large or larger get pages of their own (mmap).
const OWN_PAGES_FROM_BYTES: usize = 64 * 1024;

/// Sets the allocator up for a long-lived state of many growing tables:
/// allocations of [`OWN_PAGES_FROM_BYTES`] or more (a busy brand's term
/// entries, index and notes) get pages of their own, so that they grow in
/// place (mremap) and go back to the system whole when freed. By default
/// glibc raises that threshold to the size of each such block freed, up to
/// 32 MiB, after which the tables grow inside the heap and leave holes
/// there as they move: 206 MiB resident at 10k brands' busiest hour
/// against 199 with it fixed (BENCHMARKS.md). Call once, before the
/// detector allocates. True where it was set (glibc only).
pub fn configure_allocator() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes the allocator's parameters, under
        // its own lock; it is safe at any time and from any thread.
        #[allow(unsafe_code)]
        let set = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, OWN_PAGES_FROM_BYTES as i32) };
        set == 1
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

/// Returns the heap's free pages to the system; true where some were
/// returned. A no-op (false) where the C library is not glibc.
pub fn give_back_free_pages() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim takes each arena's own lock and only releases
        // pages no allocation uses (madvise), so it is safe at any time and
        // from any thread; 0 keeps no extra padding at the heap's top.
        #[allow(unsafe_code)]
        let released = unsafe { libc::malloc_trim(0) };
        released == 1
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

/// The process's resident memory in bytes (`VmRSS`), for benchmarks and
/// tests; 0 where `/proc` does not say.
pub fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kilobytes| kilobytes.parse::<u64>().ok())
        .map_or(0, |kilobytes| kilobytes * 1024)
}
