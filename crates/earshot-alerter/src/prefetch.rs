//! Asking for memory before it is read.
//!
//! A mention's words are looked up in tables of up to 16,384 terms per
//! brand, and most lookups miss the cache. One by one, each word waited
//! for its own miss; asked for all at once (a pass over the words before
//! the lookups), the misses overlap. Loops over a bin's terms likewise ask
//! for entries a few terms ahead.

/// Hints that `value` will be read soon; changes nothing the program sees.
#[inline(always)]
pub(crate) fn prefetch_read<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        let address: *const i8 = std::ptr::from_ref(value).cast();
        // SAFETY: a prefetch is only a hint to the cache: it cannot fault
        // and reads nothing into the program, whatever the address (here a
        // live reference's). `sse` is part of every x86_64 target.
        #[allow(unsafe_code)]
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(address);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}
