//! Copies of a brand's recent texts: reposts, retweets, a complaint pasted
//! by many accounts.
//!
//! A copy is a mention (it counts towards volume, negative and toxic), but
//! its words are not new evidence: emerging terms are read from distinct
//! texts. Without this, a reposted complaint's words "emerged" on their
//! own copies and corroborated the negative count that the same copies
//! raised (on streams where 30% of mentions repost the one before, 626 of
//! 681 false pages were corroborated that way).

use ahash::RandomState;

/// Slots in the table: 4 MiB a detector, whatever the number of brands,
/// enough for an hour of half a million mentions before slots are taken
/// over (then a copy can pass for a new text: the detector's behaviour
/// before this existed).
const SLOTS_BITS: u32 = 19;

/// A brand's texts seen in the last `horizon_bins` bins, as a direct-mapped
/// table of (fingerprint, bin) shared by all brands.
#[derive(Debug, Clone)]
pub(crate) struct RecentTexts {
    /// Per slot: the text's 32-bit tag (high half) and the bin it was last
    /// counted as new in (low half, wrapping); 0 is empty.
    slots: Box<[u64]>,
    hasher: RandomState,
    horizon_bins: u32,
}

impl RecentTexts {
    /// A table that remembers a text for `horizon_bins` bins (the longest
    /// term window: a text's words count once per window).
    pub(crate) fn new(horizon_bins: usize) -> Self {
        RecentTexts {
            slots: vec![0; 1 << SLOTS_BITS].into_boxed_slice(),
            // Fixed seeds: a backtest reads the same in every process.
            hasher: RandomState::with_seeds(0x7265_706f, 0x7374_6564, 0x636f_7069, 0x6573_2121),
            horizon_bins: u32::try_from(horizon_bins).unwrap_or(u32::MAX),
        }
    }

    /// Whether `text` is a copy of one `brand` had within the horizon of
    /// `bin_index`; if not, it is remembered as seen at `bin_index`. A
    /// text is remembered from when it was last new, not last copied, so
    /// that a text copied all day still brings its words once a window.
    pub(crate) fn is_copy(&mut self, brand: &str, text: &str, bin_index: i64) -> bool {
        let hash = self.hasher.hash_one((brand, copy_key(text)));
        let slot = (hash >> (64 - SLOTS_BITS)) as usize;
        let tag = hash as u32 | 1;
        // Bin indexes wrap at 2^32 minutes (8,000 years of one-minute bins);
        // only differences are read.
        let bin = bin_index as u32;
        let Some(entry) = self.slots.get_mut(slot) else {
            return false;
        };
        let (seen_tag, seen_bin) = ((*entry >> 32) as u32, *entry as u32);
        // Late and out-of-order mentions read the distance either way.
        let age = bin.wrapping_sub(seen_bin).min(seen_bin.wrapping_sub(bin));
        if seen_tag == tag && age < self.horizon_bins {
            return true;
        }
        *entry = u64::from(tag) << 32 | u64::from(bin);
        false
    }

    /// Heap bytes held (the table: fixed).
    pub(crate) fn heap_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.slots)
    }
}

/// The part of a text that copies share: without surrounding whitespace
/// and without a retweet's `RT @handle:` prefix.
fn copy_key(text: &str) -> &str {
    let text = text.trim();
    text.strip_prefix("RT @")
        .and_then(|rest| rest.split_once(':'))
        .map_or(text, |(_, copied)| copied.trim_start())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_within_the_horizon_is_a_copy_once_per_horizon() {
        let mut recent = RecentTexts::new(60);
        assert!(!recent.is_copy("acme", "the update broke my phone", 100));
        assert!(recent.is_copy("acme", "the update broke my phone", 100));
        assert!(recent.is_copy("acme", "  the update broke my phone\n", 159));
        // Remembered from when it was new (bin 100), not from its copies.
        assert!(!recent.is_copy("acme", "the update broke my phone", 160));
        assert!(recent.is_copy("acme", "the update broke my phone", 161));
    }

    #[test]
    fn brands_texts_and_late_mentions_are_told_apart() {
        let mut recent = RecentTexts::new(60);
        assert!(!recent.is_copy("acme", "the update broke my phone", 1_000));
        assert!(!recent.is_copy("globex", "the update broke my phone", 1_000));
        assert!(!recent.is_copy("acme", "the update broke my laptop", 1_000));
        // A late mention from before the original is still within reach.
        assert!(recent.is_copy("acme", "the update broke my phone", 950));
        assert!(!recent.is_copy("acme", "the update broke my laptop", 2_000));
    }

    #[test]
    fn a_retweet_is_a_copy_of_its_original() {
        let mut recent = RecentTexts::new(60);
        assert!(!recent.is_copy("acme", "the update broke my phone", 7));
        assert!(recent.is_copy("acme", "RT @dana_k: the update broke my phone", 8));
        assert!(!recent.is_copy("acme", "RT about the update", 8));
        assert_eq!(copy_key("RT @a: b"), "b");
        assert_eq!(copy_key("RT @a b"), "RT @a b");
    }
}
