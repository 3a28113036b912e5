//! glibc malloc settings for libtorch's activation buffers.
//!
//! Each forward allocates and frees buffers of several MB per layer. By
//! default glibc serves blocks that large with mmap and returns freed heap
//! tops to the kernel, so every forward faults and zeroes fresh pages again:
//! 16% of the int8 forward's time went to the kernel (perf). Keeping such
//! blocks in the heap made the bare forward 1.2-1.3x faster here
//! (BENCHMARKS.md). The heap then keeps what the largest batch needed, which
//! peak memory counted anyway.

/// Blocks up to this size come from the heap, not mmap.
const MMAP_THRESHOLD: i32 = 256 << 20;
/// Free heap above this size is given back to the kernel.
const TRIM_THRESHOLD: i32 = 1 << 30;

/// Applies the settings; call before the model loads. Returns false where
/// the C library refused them or is not glibc.
pub fn keep_large_blocks_in_heap() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes malloc's tuning parameters; it takes
        // malloc's own lock and is safe to call at any time.
        #[allow(unsafe_code)]
        let applied = unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
        };
        applied
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_takes_the_settings() {
        assert!(super::keep_large_blocks_in_heap());
    }
}
