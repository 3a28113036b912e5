//! A brand's term ids by their names' hashes, 4 bytes a slot.
//!
//! hashbrown's table of ids took 5 bytes a bucket in a power of two of
//! them, about 8 bytes a term (17 MiB of 10k brands' busiest hour). Here
//! each slot holds a term's id with a few bits of its hash (a tag, so that
//! most slots are told apart without reading the entry) and its distance
//! from its home slot: Robin Hood placement, any number of slots, 70% to
//! 88% full. A lookup stops at an empty slot or one nearer its home than
//! the term would be; removal shifts the run back (the distances say how,
//! no hash needed). Only growing needs the hashes again, from the names.
//! Ids whose run would not fit even in a table mostly empty (hashes alike
//! in their top bits: the keyed hash makes it chance) wait in a short list
//! searched after the slots.

use crate::seen_once::{home_slot, next_slot};
use crate::term_table::{TermId, MAX_TERM_IDS};

const ID_BITS: u32 = MAX_TERM_IDS.trailing_zeros();
const TAG_BITS: u32 = 6;
const DISTANCE_BITS: u32 = 32 - ID_BITS - TAG_BITS;
const ID_MASK: u32 = (1 << ID_BITS) - 1;
const TAG_MASK: u32 = (1 << TAG_BITS) - 1;
/// A slot stores its distance plus one (0 is an empty slot), so distances
/// run to this; a run placing a term further grows the table.
const MAX_DISTANCE: u32 = (1 << DISTANCE_BITS) - 2;
const _: () = assert!(DISTANCE_BITS >= 5 && MAX_TERM_IDS.is_power_of_two());

/// Slots a table starts with.
const MIN_SLOTS: usize = 8;

/// Terms a table of `slots` slots holds before it grows: seven eighths
/// (one slot at least stays empty).
fn fill_limit(slots: usize) -> usize {
    slots.saturating_sub((slots / 8).max(1))
}

fn grown(slots: usize) -> usize {
    (slots + slots / 4 + 1).max(MIN_SLOTS)
}

fn tag_of(hash: u64) -> u32 {
    hash as u32 & TAG_MASK
}

fn pack(id: TermId, tag: u32, distance: u32) -> u32 {
    debug_assert!((id as usize) < MAX_TERM_IDS && distance <= MAX_DISTANCE);
    id | tag << ID_BITS | (distance + 1) << (ID_BITS + TAG_BITS)
}

fn id_of(slot: u32) -> TermId {
    slot & ID_MASK
}

fn slot_tag(slot: u32) -> u32 {
    slot >> ID_BITS & TAG_MASK
}

/// Of an occupied slot.
fn distance_of(slot: u32) -> u32 {
    (slot >> (ID_BITS + TAG_BITS)) - 1
}

fn with_distance(slot: u32, distance: u32) -> u32 {
    pack(id_of(slot), slot_tag(slot), distance)
}

/// The index: see the module's doc.
#[derive(Debug, Clone, Default)]
pub(crate) struct TermIndex {
    slots: Vec<u32>,
    /// Ids in no slot (see the module's doc); usually none.
    overflow: Vec<TermId>,
    len: usize,
}

impl TermIndex {
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        (self.slots.capacity() + self.overflow.capacity()) * std::mem::size_of::<u32>()
    }

    /// Where a term of `hash` starts looking: its top bits (the tag is the
    /// low bits).
    fn home(&self, hash: u64) -> usize {
        home_slot(hash, self.slots.len())
    }

    fn next(&self, slot: usize) -> usize {
        next_slot(slot, self.slots.len())
    }

    /// The slot of the id of `hash` that `is_it` says is the one.
    fn slot_of(&self, hash: u64, mut is_it: impl FnMut(TermId) -> bool) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let tag = tag_of(hash);
        let mut slot = self.home(hash);
        let mut distance = 0;
        loop {
            let held = self.slots[slot];
            if held == 0 || distance_of(held) < distance {
                return None;
            }
            if distance_of(held) == distance && slot_tag(held) == tag && is_it(id_of(held)) {
                return Some(slot);
            }
            slot = self.next(slot);
            distance += 1;
        }
    }

    /// Asks for the slot a lookup of `hash` starts at (see `prefetch`).
    #[inline(always)]
    pub(crate) fn prefetch(&self, hash: u64) {
        if let Some(slot) = self.slots.get(self.home(hash)) {
            crate::prefetch::prefetch_read(slot);
        }
    }

    /// The id of `hash` whose term `is_it` (its name compared).
    #[inline(always)]
    pub(crate) fn find(&self, hash: u64, mut is_it: impl FnMut(TermId) -> bool) -> Option<TermId> {
        match self.slot_of(hash, &mut is_it) {
            Some(slot) => Some(id_of(self.slots[slot])),
            None if self.overflow.is_empty() => None,
            None => self.overflow.iter().copied().find(|id| is_it(*id)),
        }
    }

    /// Adds `id`, whose name hashes to `hash` and is not in the index;
    /// `hash_of` gives every id's hash when the table grows.
    pub(crate) fn insert(&mut self, hash: u64, id: TermId, hash_of: impl Fn(TermId) -> u64) {
        if self.len + 1 > fill_limit(self.slots.len()) {
            self.rebuild(grown(self.slots.len()), None, &hash_of);
        }
        if let Err(carried) = self.place(hash, id) {
            // A run grew past what a slot can say: the carried id (this
            // one or one it displaced) goes in with more room, unless the
            // table is mostly empty already.
            if self.len * 2 >= self.slots.len() {
                self.rebuild(grown(self.slots.len()), Some(carried), &hash_of);
            } else {
                self.overflow.push(carried);
            }
        }
        self.len += 1;
    }

    /// Robin Hood: an id nearer its home than the one being placed gives up
    /// its slot and is placed further on. Fails with the id being carried
    /// when its distance would not fit in a slot (it is then in no slot).
    fn place(&mut self, hash: u64, id: TermId) -> Result<(), TermId> {
        let mut carried = pack(id, tag_of(hash), 0);
        let mut slot = self.home(hash);
        loop {
            let held = self.slots[slot];
            if held == 0 {
                self.slots[slot] = carried;
                return Ok(());
            }
            if distance_of(held) < distance_of(carried) {
                self.slots[slot] = carried;
                carried = held;
            }
            let distance = distance_of(carried) + 1;
            if distance > MAX_DISTANCE {
                return Err(id_of(carried));
            }
            carried = with_distance(carried, distance);
            slot = self.next(slot);
        }
    }

    /// Moves the ids (those in the overflow and `extra` too) into
    /// `slot_count` slots; those whose run does not fit go to the overflow.
    fn rebuild(
        &mut self,
        slot_count: usize,
        extra: Option<TermId>,
        hash_of: impl Fn(TermId) -> u64,
    ) {
        let old = std::mem::replace(&mut self.slots, vec![0; slot_count.max(MIN_SLOTS)]);
        let waiting = std::mem::take(&mut self.overflow);
        let ids = old
            .into_iter()
            .filter(|slot| *slot != 0)
            .map(id_of)
            .chain(waiting)
            .chain(extra);
        for id in ids {
            if let Err(carried) = self.place(hash_of(id), id) {
                self.overflow.push(carried);
            }
        }
    }

    /// Takes out `id`, whose name hashes to `hash`; says whether it was in.
    pub(crate) fn remove(&mut self, hash: u64, id: TermId) -> bool {
        let Some(mut slot) = self.slot_of(hash, |held| held == id) else {
            let Some(at) = self.overflow.iter().position(|held| *held == id) else {
                return false;
            };
            self.overflow.swap_remove(at);
            self.len -= 1;
            return true;
        };
        loop {
            let next = self.next(slot);
            let held = self.slots[next];
            if held == 0 || distance_of(held) == 0 {
                self.slots[slot] = 0;
                break;
            }
            self.slots[slot] = with_distance(held, distance_of(held) - 1);
            slot = next;
        }
        self.len -= 1;
        true
    }

    /// Renames every id (`renamed[old]`; ids are renamed when a table is
    /// fitted, their hashes stay).
    pub(crate) fn rename(&mut self, renamed: &[TermId]) {
        for slot in self.slots.iter_mut().filter(|slot| **slot != 0) {
            let id = renamed[id_of(*slot) as usize];
            *slot = pack(id, slot_tag(*slot), distance_of(*slot));
        }
        for id in &mut self.overflow {
            *id = renamed[*id as usize];
        }
    }

    /// Gives back the room beyond what the ids need.
    pub(crate) fn shrink_to_fit(&mut self, hash_of: impl Fn(TermId) -> u64) {
        let slots = match self.len {
            0 => 0,
            len => (len + len / 5 + 1).max(MIN_SLOTS),
        };
        if slots < self.slots.len() {
            if slots == 0 {
                self.slots = Vec::new();
                self.overflow = Vec::new();
            } else {
                self.rebuild(slots, None, hash_of);
            }
        }
    }

    /// Slots, empty or not.
    #[cfg(test)]
    pub(crate) fn slots(&self) -> usize {
        self.slots.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Hashes that crowd a few homes (their top bits alike) and share tags,
    /// so that runs wrap and shift and tags alone do not tell ids apart.
    fn crowded_hash(id: TermId) -> u64 {
        (u64::from(id) % 5) << 61
            | u64::from(id).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 8 & !63
            | u64::from(id % 3)
    }

    proptest::proptest! {
        /// Any sequence of inserts, removals, renamings and shrinks leaves
        /// exactly the ids a map would hold, each found by its hash, in
        /// Robin Hood order, never fuller than seven eighths.
        #[test]
        fn the_index_agrees_with_a_map(
            operations in proptest::collection::vec((0u8..4, 0u32..400), 1..500),
        ) {
            let mut index = TermIndex::default();
            // id -> the key it was inserted under (its "name").
            let mut model: HashMap<TermId, u32> = HashMap::new();
            let mut names: Vec<u32> = (0..1024).collect();
            for (operation, key) in operations {
                let id = key;
                match operation {
                    0 | 1 if !model.contains_key(&id) => {
                        let name = names[id as usize];
                        index.insert(crowded_hash(name), id, |id| crowded_hash(names[id as usize]));
                        model.insert(id, name);
                    }
                    0 | 1 => {
                        let name = model[&id];
                        proptest::prop_assert!(index.remove(crowded_hash(name), id));
                        model.remove(&id);
                    }
                    2 => {
                        // Swap two ids (a fitting renames): the names move with them.
                        let other = (id + 1) % 400;
                        let mut renamed: Vec<TermId> = (0..1024).collect();
                        renamed.swap(id as usize, other as usize);
                        index.rename(&renamed);
                        names.swap(id as usize, other as usize);
                        let (left, right) = (model.remove(&id), model.remove(&other));
                        if let Some(name) = left {
                            model.insert(other, name);
                        }
                        if let Some(name) = right {
                            model.insert(id, name);
                        }
                    }
                    _ => index.shrink_to_fit(|id| crowded_hash(names[id as usize])),
                }
                proptest::prop_assert_eq!(index.len(), model.len());
                proptest::prop_assert!(index.len() <= fill_limit(index.slots()) || index.slots() == 0);
                for slot in 0..index.slots.len() {
                    let (here, there) = (index.slots[slot], index.slots[index.next(slot)]);
                    if here != 0 && there != 0 {
                        proptest::prop_assert!(distance_of(there) <= distance_of(here) + 1);
                    }
                }
            }
            for id in 0..400 {
                let name = names[id as usize];
                let found = index.find(crowded_hash(name), |held| names[held as usize] == name);
                proptest::prop_assert_eq!(found, model.contains_key(&id).then_some(id));
            }
        }
    }

    #[test]
    fn a_slot_packs_the_largest_id_tag_and_distance() {
        let top = MAX_TERM_IDS as TermId - 1;
        let slot = pack(top, TAG_MASK, MAX_DISTANCE);
        assert_ne!(slot, 0);
        assert_eq!(
            (id_of(slot), slot_tag(slot), distance_of(slot)),
            (top, TAG_MASK, MAX_DISTANCE)
        );
        assert_eq!(distance_of(pack(0, 0, 0)), 0);
        assert_ne!(pack(0, 0, 0), 0);
    }

    /// Ids all at one home overflow the distances a slot says: the table
    /// grows while that helps, the rest wait in the overflow, and every id
    /// is still found and removed.
    #[test]
    fn a_run_too_long_for_a_slot_grows_the_table() {
        let mut index = TermIndex::default();
        // Homes alike in any table under 2^20 slots, tags alike.
        let hash = |id: TermId| u64::from(id) << 8;
        for id in 0..200 {
            index.insert(hash(id), id, hash);
        }
        assert_eq!(index.len(), 200);
        for id in 0..200 {
            assert_eq!(index.find(hash(id), |held| held == id), Some(id));
        }
        assert!(!index.overflow.is_empty());
        assert!(index.remove(hash(7), 7));
        assert!(index.remove(hash(199), 199));
        assert_eq!(index.len(), 198);
        assert_eq!(index.find(hash(7), |held| held == 7), None);
        assert_eq!(index.find(hash(199), |held| held == 199), None);
        assert_eq!(index.find(hash(8), |held| held == 8), Some(8));
        let mut renamed: Vec<TermId> = (0..200).collect();
        renamed.swap(8, 198);
        index.rename(&renamed);
        assert_eq!(index.find(hash(8), |held| held == 198), Some(198));
    }

    #[test]
    fn the_index_grows_by_a_quarter_and_shrinks_to_fit() {
        let mut index = TermIndex::default();
        let hash = |id: TermId| u64::from(id).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        for id in 0..1000 {
            index.insert(hash(id), id, hash);
        }
        assert!(index.len() <= fill_limit(index.slots()));
        assert!(
            index.len() * 10 >= index.slots() * 7,
            "{} slots",
            index.slots()
        );
        for id in 0..900 {
            assert!(index.remove(hash(id), id));
        }
        index.shrink_to_fit(hash);
        assert!(index.slots() <= 100 + 100 / 5 + 1);
        for id in 900..1000 {
            assert_eq!(index.find(hash(id), |held| held == id), Some(id));
        }
    }
}
