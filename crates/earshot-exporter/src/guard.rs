//! The cardinality guard: which brands get their own label value.
//!
//! Brands in the allowlist always do. Others are ranked by volume with the
//! space-saving algorithm (a fixed number of counters, so memory stays bounded
//! however many distinct brands pass by); a brand that ranks in the top N is
//! admitted for good, up to N admitted brands. Everything else is `other`.

use std::collections::{BTreeSet, HashMap, HashSet};

pub const OTHER: &str = "other";
const MAX_LABEL_CHARS: usize = 64;

pub struct BrandGuard {
    allowlist: HashSet<String>,
    top_n: usize,
    admitted: HashSet<String>,
    /// Space-saving counters: brand -> (count, overestimate).
    counters: HashMap<String, (u64, u64)>,
    /// Counters ordered by count, to find the smallest quickly.
    by_count: BTreeSet<(u64, String)>,
    capacity: usize,
}

impl BrandGuard {
    /// `top_n` brands besides the allowlist get their own label; the ranking
    /// keeps `10 * top_n` counters (at least 100).
    pub fn new(allowlist: impl IntoIterator<Item = String>, top_n: usize) -> Self {
        BrandGuard {
            allowlist: allowlist
                .into_iter()
                .map(|brand| sanitize_label(&brand))
                .collect(),
            top_n,
            admitted: HashSet::new(),
            counters: HashMap::new(),
            by_count: BTreeSet::new(),
            capacity: (top_n * 10).max(100),
        }
    }

    /// Counts one mention of `brand` and returns the label value to use.
    pub fn label_for(&mut self, brand: &str) -> String {
        let brand = sanitize_label(brand);
        if self.allowlist.contains(&brand) || self.admitted.contains(&brand) {
            return brand;
        }
        if self.top_n == 0 {
            return OTHER.to_owned();
        }
        let count = self.observe(&brand);
        if self.admitted.len() < self.top_n && self.is_in_top_n(count) {
            self.admitted.insert(brand.clone());
            return brand;
        }
        OTHER.to_owned()
    }

    fn observe(&mut self, brand: &str) -> u64 {
        if let Some((count, _overestimate)) = self.counters.get_mut(brand) {
            let previous = *count;
            *count += 1;
            self.by_count.remove(&(previous, brand.to_owned()));
            self.by_count.insert((previous + 1, brand.to_owned()));
            return previous + 1;
        }
        if self.counters.len() < self.capacity {
            self.counters.insert(brand.to_owned(), (1, 0));
            self.by_count.insert((1, brand.to_owned()));
            return 1;
        }
        // Replace the smallest counter, inheriting its count as overestimate.
        let Some((smallest, evicted)) = self.by_count.pop_first() else {
            return 1;
        };
        self.counters.remove(&evicted);
        self.counters
            .insert(brand.to_owned(), (smallest + 1, smallest));
        self.by_count.insert((smallest + 1, brand.to_owned()));
        smallest + 1
    }

    fn is_in_top_n(&self, count: u64) -> bool {
        let larger = self
            .by_count
            .iter()
            .rev()
            .take_while(|(other, _)| *other > count)
            .count();
        larger < self.top_n
    }

    /// Entries held, for the memory-bound test.
    pub fn tracked_entries(&self) -> usize {
        self.counters.len() + self.admitted.len() + self.allowlist.len()
    }
}

/// Makes a brand safe as a label value: no control characters, trimmed,
/// at most 64 characters, never empty.
pub fn sanitize_label(raw: &str) -> String {
    let cleaned: String = raw
        .chars()
        .filter(|character| !character.is_control())
        .take(MAX_LABEL_CHARS)
        .collect();
    let trimmed = cleaned.trim().to_lowercase();
    if trimmed.is_empty() {
        "unknown".to_owned()
    } else {
        trimmed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowlisted_and_top_brands_keep_their_label_others_fold() {
        let mut guard = BrandGuard::new(["Acme".to_owned()], 2);
        for _ in 0..50 {
            guard.label_for("big-1");
            guard.label_for("big-2");
        }
        assert_eq!(guard.label_for("acme"), "acme");
        assert_eq!(guard.label_for("big-1"), "big-1");
        assert_eq!(guard.label_for("big-2"), "big-2");
        assert_eq!(guard.label_for("small"), OTHER);
    }

    #[test]
    fn memory_stays_bounded_with_100k_distinct_brands() {
        let mut guard = BrandGuard::new(Vec::new(), 50);
        let mut labels = HashSet::new();
        for index in 0..100_000 {
            labels.insert(guard.label_for(&format!("brand-{index}")));
            // A few heavy brands among the long tail.
            labels.insert(guard.label_for(&format!("heavy-{}", index % 5)));
        }
        assert!(
            guard.tracked_entries() <= 500 + 50,
            "{}",
            guard.tracked_entries()
        );
        assert!(labels.len() <= 51, "{} distinct label values", labels.len());
        for heavy in 0..5 {
            assert_eq!(
                guard.label_for(&format!("heavy-{heavy}")),
                format!("heavy-{heavy}")
            );
        }
    }

    #[test]
    fn sanitizes_label_values() {
        assert_eq!(sanitize_label("  ACME\u{0}\n "), "acme");
        assert_eq!(sanitize_label("\u{1}"), "unknown");
        assert_eq!(sanitize_label(&"x".repeat(500)).len(), 64);
    }
}
