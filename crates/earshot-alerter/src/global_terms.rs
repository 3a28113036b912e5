//! Every brand's terms together: the share of mentions naming each term
//! across the brands one detector holds, a prior for each brand's own.
//!
//! A brand's term rates learn a window late (a quiet brand's new hashtag
//! must not absorb its own burst), so a small brand has learned little of
//! the language it shares with everyone else: "time" five times in an hour
//! of twenty mentions is chance, which every other brand's mentions say.
//! A term is read against the more of its brand's rate and this share of
//! the brand's window; a crisis's own hashtag is rare everywhere.

use std::collections::HashMap;

use crate::term_names::TermNames;
use crate::term_table::{hash_table_bytes, BinTerm, TermTable};

/// The hourly decay of every count: a half-life of about a day, so that
/// shares follow the day's topics.
const HOURLY_DECAY: f64 = 0.97;
/// Terms whose decayed count falls below this are forgotten: a share this
/// small expects nothing of any brand's window.
const MIN_KEPT_MENTIONS: f64 = 1.0;
/// At most this many terms (about 17 bytes each); past it, the rarer half
/// goes.
pub(crate) const MAX_GLOBAL_TERMS: usize = 1 << 18;

/// Mentions naming each term (by a 64-bit hash of its name: a collision
/// among a quarter million names is about one in 2^28) and mentions in
/// all, decayed alike, learned from bins as they leave the longest term
/// window: what was learned never holds the windows read against it.
///
/// Bins learned during a watermark advance wait in `pending` (whole
/// counts, whose sums do not depend on their order) until every brand has
/// read its windows: brands close the same minute in their map's order,
/// and what one brand read must not depend on which went before it.
#[derive(Debug, Clone)]
pub(crate) struct GlobalTermShares {
    mentions: HashMap<u64, f64, ahash::RandomState>,
    total: f64,
    pending: HashMap<u64, u64, ahash::RandomState>,
    pending_total: u64,
}

impl Default for GlobalTermShares {
    fn default() -> Self {
        GlobalTermShares {
            // Fixed seeds: the same names hash alike in every process.
            mentions: HashMap::with_hasher(ahash::RandomState::with_seeds(
                0x6561_7273,
                0x686f_7421,
                0x7465_726d,
                0x7368_6172,
            )),
            total: 0.0,
            pending: HashMap::default(),
            pending_total: 0,
        }
    }
}

impl GlobalTermShares {
    /// A name's key: the hash of its bytes.
    fn key(&self, name: &[u8]) -> u64 {
        self.mentions.hasher().hash_one(name)
    }

    /// Notes a bin's mentions and the mentions of each of its terms
    /// (names from `terms`, the brand's table, in `names`), learned at
    /// [`Self::learn_pending`]. A busy brand's terms were read from 1 in
    /// 2^`sample_shift` of the bin's mentions: each stands for that many.
    pub(crate) fn learn_bin(
        &mut self,
        terms: &TermTable,
        names: &TermNames,
        bin_total: u32,
        bin_terms: &[BinTerm],
        sample_shift: u8,
    ) {
        self.pending_total += u64::from(bin_total);
        for (index, term) in bin_terms.iter().enumerate() {
            terms.prefetch_name_ahead(names, bin_terms, index);
            let key = self.key(terms.name_bytes(names, term.id()));
            *self.pending.entry(key).or_default() += u64::from(term.count()) << sample_shift;
        }
    }

    /// Learns the bins noted since the last call.
    pub(crate) fn learn_pending(&mut self) {
        self.total += self.pending_total as f64;
        self.pending_total = 0;
        for (key, count) in self.pending.drain() {
            *self.mentions.entry(key).or_default() += count as f64;
        }
        if self.mentions.len() > MAX_GLOBAL_TERMS {
            self.keep_commoner_half();
        }
    }

    /// Decays every count by an hour's worth and forgets the rarest.
    pub(crate) fn hourly(&mut self) {
        self.total *= HOURLY_DECAY;
        self.mentions.retain(|_, count| {
            *count *= HOURLY_DECAY;
            *count >= MIN_KEPT_MENTIONS
        });
        self.mentions.shrink_to(self.mentions.len() * 2);
    }

    /// Forgets the rarer half exactly (ties by hash, so that which go
    /// does not depend on the map's order).
    fn keep_commoner_half(&mut self) {
        let mut counts: Vec<(f64, u64)> = self
            .mentions
            .iter()
            .map(|(key, count)| (*count, *key))
            .collect();
        let middle = counts.len() / 2;
        counts.select_nth_unstable_by(middle, |left, right| {
            left.0.total_cmp(&right.0).then(left.1.cmp(&right.1))
        });
        for (_, key) in &counts[..middle] {
            self.mentions.remove(key);
        }
    }

    /// The share of mentions naming `name` (0 for a term never learned).
    pub(crate) fn share(&self, name: &str) -> f64 {
        if self.total <= 0.0 {
            return 0.0;
        }
        self.mentions
            .get(&self.key(name.as_bytes()))
            .map_or(0.0, |count| (count / self.total).min(1.0))
    }

    /// A term's expectation in a window of `window_mentions`: the more of
    /// `own` (from the brand's rate) and this share of the window.
    pub(crate) fn at_least_share(&self, own: f64, name: &str, window_mentions: f64) -> f64 {
        own.max(self.share(name) * window_mentions)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.mentions.len()
    }

    /// Heap bytes asked for (both maps' buckets).
    pub(crate) fn heap_bytes(&self) -> usize {
        hash_table_bytes::<(u64, f64)>(self.mentions.capacity())
            + hash_table_bytes::<(u64, u64)>(self.pending.capacity())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn learn(
        shares: &mut GlobalTermShares,
        table: &mut TermTable,
        names: &mut TermNames,
        total: u32,
        terms: &[(&str, u32)],
        sample_shift: u8,
    ) {
        let bin_terms: Vec<BinTerm> = terms
            .iter()
            .map(|(name, count)| BinTerm::new(table.intern(names, name), *count))
            .collect();
        shares.learn_bin(table, names, total, &bin_terms, sample_shift);
    }

    #[test]
    fn shares_are_learned_after_the_advance_and_decay_alike() {
        let mut shares = GlobalTermShares::default();
        let mut table = TermTable::default();
        let mut names = TermNames::default();
        learn(
            &mut shares,
            &mut table,
            &mut names,
            10,
            &[("time", 4), ("rare", 1)],
            0,
        );
        // Not read until every brand has read its windows.
        assert_eq!(shares.share("time"), 0.0);
        shares.learn_pending();
        learn(&mut shares, &mut table, &mut names, 10, &[("time", 2)], 0);
        shares.learn_pending();
        assert_eq!(shares.share("time"), 6.0 / 20.0);
        assert_eq!(shares.share("rare"), 1.0 / 20.0);
        assert_eq!(shares.share("never"), 0.0);
        // An hour decays counts and total alike; a count under one goes.
        shares.hourly();
        assert!((shares.share("time") - 0.3).abs() < 1e-12);
        assert_eq!(shares.share("rare"), 0.0);
        assert_eq!(shares.len(), 1);
    }

    #[test]
    fn a_sampled_bins_terms_stand_for_the_mentions_not_read() {
        let mut shares = GlobalTermShares::default();
        let mut table = TermTable::default();
        let mut names = TermNames::default();
        // 1 in 4 of 400 mentions read, "recall" in 10 of them: 40 of 400.
        learn(
            &mut shares,
            &mut table,
            &mut names,
            400,
            &[("recall", 10)],
            2,
        );
        learn(
            &mut shares,
            &mut table,
            &mut names,
            100,
            &[("recall", 10)],
            0,
        );
        shares.learn_pending();
        assert_eq!(shares.share("recall"), 50.0 / 500.0);
        assert_eq!(shares.at_least_share(1.0, "recall", 25.0), 2.5);
        assert_eq!(shares.at_least_share(3.0, "recall", 25.0), 3.0);
    }

    #[test]
    fn past_the_limit_the_rarer_half_goes() {
        let mut shares = GlobalTermShares::default();
        let mut table = TermTable::default();
        let mut names = TermNames::default();
        let term_names: Vec<String> = (0..=MAX_GLOBAL_TERMS)
            .map(|index| format!("t{index}"))
            .collect();
        let terms: Vec<(&str, u32)> = term_names
            .iter()
            .enumerate()
            .map(|(index, name)| (name.as_str(), if index % 2 == 0 { 5 } else { 2 }))
            .collect();
        learn(&mut shares, &mut table, &mut names, 1000, &terms, 0);
        shares.learn_pending();
        assert_eq!(shares.len(), MAX_GLOBAL_TERMS / 2 + 1);
        assert!(shares.share("t0") > 0.0);
        assert_eq!(shares.share("t1"), 0.0);
    }
}
