//! Term names shared by every brand of a detector: each name once, under a
//! 4-byte id that brands' term entries hold.
//!
//! Brands speak one language: at 10k brands' busiest hour, 2.0M term
//! entries named about 50k distinct words, each entry keeping 14 bytes of
//! its name (and a long name's bytes again in its brand's string). A name
//! here is counted by the entries holding it and goes with the last.

use ahash::RandomState;
use hashbrown::HashTable;

use crate::terms::MAX_TERM_BYTES;

/// A name's id in [`TermNames`].
pub(crate) type NameId = u32;

/// Marks a free term entry (no name).
pub(crate) const NO_NAME: NameId = NameId::MAX;

/// A name: its first eight bytes (the whole of most), where a longer one's
/// bytes start in `TermNames::long_names`, its length (0 while the id is
/// free) and how many term entries hold it. 20 bytes.
#[derive(Debug, Clone, Copy, Default)]
struct NameRecord {
    prefix: [u8; 8],
    long_at: u32,
    holders: u32,
    len: u16,
}

impl NameRecord {
    fn name<'names>(&'names self, long_names: &'names str) -> &'names str {
        let length = usize::from(self.len);
        if length <= 8 {
            // The bytes of a whole name (a `str`), so valid UTF-8.
            std::str::from_utf8(&self.prefix[..length]).unwrap_or_default()
        } else {
            let start = self.long_at as usize;
            long_names.get(start..start + length).unwrap_or_default()
        }
    }

    /// The name's bytes, unchecked (a key's, where a `str`'s check of a
    /// short name cost more than hashing it).
    fn bytes<'names>(&'names self, long_names: &'names str) -> &'names [u8] {
        let length = usize::from(self.len);
        if length <= 8 {
            &self.prefix[..length]
        } else {
            let start = self.long_at as usize;
            long_names
                .as_bytes()
                .get(start..start + length)
                .unwrap_or_default()
        }
    }

    fn is(&self, long_names: &str, name: &str, prefix: u64) -> bool {
        usize::from(self.len) == name.len()
            && u64::from_le_bytes(self.prefix) == prefix
            // Bytes, not `str::get`: byte 8 may fall inside a character,
            // where `get` gives `None` for both names alike.
            && (name.len() <= 8
                || self.name(long_names).as_bytes().get(8..) == name.as_bytes().get(8..))
    }
}

/// A name's first eight bytes as a number, zero-padded.
pub(crate) fn prefix_of(name: &str) -> u64 {
    let bytes = name.as_bytes();
    let mut prefix = [0; 8];
    let length = bytes.len().min(8);
    prefix[..length].copy_from_slice(&bytes[..length]);
    u64::from_le_bytes(prefix)
}

/// The names and their index. Term names come from mention texts, which
/// anyone can write: a keyed hash (aHash with a random seed) keeps crafted
/// collisions out. Brands index their terms under the same hash
/// ([`TermNames::hash`]), so a mention's term is hashed once.
#[derive(Debug, Default)]
pub(crate) struct TermNames {
    records: Vec<NameRecord>,
    free: Vec<NameId>,
    by_name: HashTable<NameId>,
    /// Names over eight bytes, one after another, and the bytes of those
    /// let go since the last compaction.
    long_names: String,
    forgotten_bytes: usize,
    hasher: RandomState,
}

/// Free ids (beyond a fifth) worth renaming every brand's entries for
/// ([`TermNames::give_back_room`]): a quiet detector's few are not.
const MIN_FREE_TO_RENAME: usize = 64;

/// Bytes of let-go long names past which, and past half the string, the
/// live ones are copied into a new one.
const MIN_COMPACTION_BYTES: usize = 1024;

impl TermNames {
    /// The keyed hash of `name`, whose [`prefix_of`] is `prefix`: a short
    /// name hashes as its prefix and length (two words, no loop over
    /// bytes); a longer one as a whole, so that names sharing their first
    /// eight bytes do not share a hash whatever the seed.
    pub(crate) fn hash(&self, name: &str, prefix: u64) -> u64 {
        name_hash(&self.hasher, name, prefix)
    }

    /// The hash of the name of `id` (what [`Self::hash`] gave it).
    pub(crate) fn hash_of(&self, id: NameId) -> u64 {
        let name = self.name(id);
        self.hash(name, prefix_of(name))
    }

    /// Asks for the record of `id` (see `prefetch`).
    #[inline(always)]
    pub(crate) fn prefetch(&self, id: NameId) {
        if let Some(record) = self.records.get(id as usize) {
            crate::prefetch::prefetch_read(record);
        }
    }

    /// Whether `id` is `name` (whose prefix is `prefix`).
    #[inline(always)]
    pub(crate) fn is(&self, id: NameId, name: &str, prefix: u64) -> bool {
        self.records
            .get(id as usize)
            .is_some_and(|record| record.is(&self.long_names, name, prefix))
    }

    /// The bytes of the name of `id` (none for none).
    pub(crate) fn name_bytes(&self, id: NameId) -> &[u8] {
        self.records
            .get(id as usize)
            .map_or(&[], |record| record.bytes(&self.long_names))
    }

    /// The name of `id` ("" for none).
    pub(crate) fn name(&self, id: NameId) -> &str {
        self.records
            .get(id as usize)
            .map_or("", |record| record.name(&self.long_names))
    }

    /// The id of `name` (hash `hash`) for one more holder, given one if it
    /// has none.
    pub(crate) fn hold(&mut self, name: &str, prefix: u64, hash: u64) -> NameId {
        let (records, long_names) = (&self.records, self.long_names.as_str());
        if let Some(id) = self.by_name.find(hash, |id| {
            records[*id as usize].is(long_names, name, prefix)
        }) {
            let id = *id;
            let record = &mut self.records[id as usize];
            record.holders = record.holders.saturating_add(1);
            return id;
        }
        debug_assert!((1..=MAX_TERM_BYTES).contains(&name.len()));
        let long_at = self.long_names.len() as u32;
        if name.len() > 8 {
            self.long_names.push_str(name);
        }
        let record = NameRecord {
            prefix: prefix.to_le_bytes(),
            long_at,
            holders: 1,
            len: name.len() as u16,
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.records[id as usize] = record;
                id
            }
            None => {
                self.records.push(record);
                (self.records.len() - 1) as NameId
            }
        };
        let (records, long_names, hasher) = (&self.records, &self.long_names, &self.hasher);
        self.by_name.insert_unique(hash, id, |id| {
            record_hash(hasher, long_names, &records[*id as usize])
        });
        id
    }

    /// One holder of `id` fewer: with the last, the name goes and its id
    /// is free for another.
    pub(crate) fn release(&mut self, id: NameId) {
        let Some(record) = self.records.get_mut(id as usize) else {
            return;
        };
        if record.len == 0 {
            return;
        }
        // A saturated count no longer says when the last holder goes.
        if record.holders != u32::MAX {
            record.holders -= 1;
        }
        if record.holders > 0 {
            return;
        }
        let record = *record;
        let hash = record_hash(&self.hasher, &self.long_names, &record);
        if let Ok(found) = self.by_name.find_entry(hash, |known| *known == id) {
            found.remove();
        }
        if record.len > 8 {
            self.forgotten_bytes += usize::from(record.len);
        }
        self.records[id as usize] = NameRecord::default();
        self.free.push(id);
        if self.forgotten_bytes >= MIN_COMPACTION_BYTES
            && self.forgotten_bytes * 2 >= self.long_names.len()
        {
            self.rewrite_long_names();
        }
    }

    /// Names held.
    pub(crate) fn len(&self) -> usize {
        self.records.len() - self.free.len()
    }

    /// Entries holding `id` (0 for a free id).
    #[cfg(test)]
    pub(crate) fn holders(&self, id: NameId) -> u32 {
        self.records
            .get(id as usize)
            .map_or(0, |record| record.holders)
    }

    /// Entries holding `name` (0 for a name not kept).
    #[cfg(test)]
    pub(crate) fn holders_of(&self, name: &str) -> u32 {
        let prefix = prefix_of(name);
        let hash = self.hash(name, prefix);
        self.by_name
            .find(hash, |id| self.is(*id, name, prefix))
            .map_or(0, |id| self.holders(*id))
    }

    /// Bytes of the long-name string (live and let-go names).
    #[cfg(test)]
    pub(crate) fn long_name_bytes(&self) -> usize {
        self.long_names.len()
    }

    /// Heap bytes asked for.
    pub(crate) fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        self.records.capacity() * size_of::<NameRecord>()
            + self.free.capacity() * size_of::<NameId>()
            + crate::term_table::hash_table_bytes::<NameId>(self.by_name.capacity())
            + self.long_names.capacity()
    }

    /// Gives back the room of names let go since a busier hour: when over
    /// a fifth of the ids are free, the live names take the lowest ids, in
    /// the order they had, and the renaming (old id to new, [`NO_NAME`] for
    /// a free one) comes back for every brand's entries
    /// ([`crate::term_table::TermTable::rename_names`]); the index and the
    /// long names shrink to the live ones. Otherwise the records would
    /// keep the size of the busiest hour's vocabulary for good.
    #[must_use = "every brand's entries must be renamed"]
    pub(crate) fn give_back_room(&mut self) -> Option<Vec<NameId>> {
        let live = self.len();
        let renamed = (self.records.len() > live + live / 4 + MIN_FREE_TO_RENAME).then(|| {
            let mut renamed = vec![NO_NAME; self.records.len()];
            let mut kept = Vec::with_capacity(live);
            for (id, record) in self.records.drain(..).enumerate() {
                if record.len != 0 {
                    renamed[id] = kept.len() as NameId;
                    kept.push(record);
                }
            }
            self.records = kept;
            self.free = Vec::new();
            self.by_name
                .iter_mut()
                .for_each(|id| *id = renamed[*id as usize]);
            renamed
        });
        if self.by_name.capacity() > 2 * live + MIN_FREE_TO_RENAME {
            let (records, long_names, hasher) = (&self.records, &self.long_names, &self.hasher);
            self.by_name.shrink_to(live, |id| {
                record_hash(hasher, long_names, &records[*id as usize])
            });
        }
        if self.forgotten_bytes > 0 || self.long_names.capacity() > 2 * self.long_names.len() {
            self.rewrite_long_names();
        }
        renamed
    }

    /// Copies the live long names into a new string that fits them.
    fn rewrite_long_names(&mut self) {
        let mut kept = String::with_capacity(self.long_names.len() - self.forgotten_bytes);
        for record in &mut self.records {
            if record.len > 8 {
                let name = record.name(&self.long_names);
                let long_at = kept.len() as u32;
                kept.push_str(name);
                record.long_at = long_at;
            }
        }
        self.long_names = kept;
        self.forgotten_bytes = 0;
    }
}

fn name_hash(hasher: &RandomState, name: &str, prefix: u64) -> u64 {
    debug_assert_eq!(prefix, prefix_of(name));
    if name.len() <= 8 {
        hasher.hash_one((prefix, name.len()))
    } else {
        hasher.hash_one(name)
    }
}

/// The hash a record's name is indexed under.
fn record_hash(hasher: &RandomState, long_names: &str, record: &NameRecord) -> u64 {
    name_hash(
        hasher,
        record.name(long_names),
        u64::from_le_bytes(record.prefix),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hold(names: &mut TermNames, name: &str) -> NameId {
        let prefix = prefix_of(name);
        let hash = names.hash(name, prefix);
        names.hold(name, prefix, hash)
    }

    proptest::proptest! {
        /// Names get the same id exactly when they are the same, around the
        /// eight bytes compared as a number (shared prefixes, zero bytes,
        /// multi-byte characters across the boundary).
        #[test]
        fn names_share_an_id_exactly_when_equal(
            names in proptest::collection::vec("(abcdefgh|abc|ab\\x00)?[a-c\\x00é]{1,10}", 1..40),
        ) {
            let mut table = TermNames::default();
            let ids: Vec<NameId> = names.iter().map(|name| hold(&mut table, name)).collect();
            for (left, left_id) in names.iter().zip(&ids) {
                proptest::prop_assert_eq!(table.name(*left_id), left.as_str());
                proptest::prop_assert_eq!(table.hash_of(*left_id), table.hash(left, prefix_of(left)));
                for (right, right_id) in names.iter().zip(&ids) {
                    proptest::prop_assert_eq!(left == right, left_id == right_id);
                    // The comparison alone, as a hash collision would need it.
                    proptest::prop_assert_eq!(left == right, table.is(*left_id, right, prefix_of(right)));
                }
            }
        }
    }

    #[test]
    fn names_differing_after_a_character_split_at_byte_eight_differ() {
        let mut names = TermNames::default();
        // Same length, same first eight bytes (the eighth inside an "é").
        let left = hold(&mut names, "abcéééé\0aa");
        let right = hold(&mut names, "abcéééaaéa");
        assert_ne!(left, right);
        assert_eq!(names.name(right), "abcéééaaéa");
        // The comparison itself (the whole-name hashes keep them apart above).
        assert!(!names.is(left, "abcéééaaéa", prefix_of("abcéééaaéa")));
        assert!(names.is(left, "abcéééé\0aa", prefix_of("abcéééé\0aa")));
    }

    /// A name goes with its last holder, and its id is then another's.
    #[test]
    fn a_name_goes_with_its_last_holder() {
        let mut names = TermNames::default();
        let refund = hold(&mut names, "refund");
        assert_eq!(hold(&mut names, "refund"), refund);
        assert_eq!(names.holders(refund), 2);
        names.release(refund);
        assert_eq!(names.name(refund), "refund");
        names.release(refund);
        assert_eq!(names.len(), 0);
        assert_eq!(names.name(refund), "");
        // Releasing a free id again changes nothing.
        names.release(refund);
        assert_eq!(names.holders(refund), 0);
        let delay = hold(&mut names, "delay");
        assert_eq!(delay, refund);
        assert_eq!(names.name(delay), "delay");
        assert_eq!(names.holders(delay), 1);
        let again = hold(&mut names, "refund");
        assert_ne!(again, delay);
        assert_eq!(names.name(again), "refund");
    }

    #[test]
    fn long_names_survive_the_compaction_of_let_go_ones() {
        let mut names = TermNames::default();
        let long: Vec<String> = (0..200)
            .map(|index| format!("longname{index:04}"))
            .collect();
        let ids: Vec<NameId> = long.iter().map(|name| hold(&mut names, name)).collect();
        let before = names.long_name_bytes();
        for id in ids.iter().skip(1) {
            names.release(*id);
        }
        assert!(names.long_name_bytes() < before / 2);
        assert_eq!(names.name(ids[0]), "longname0000");
        let id = hold(&mut names, "longname0000");
        assert_eq!(id, ids[0]);
        let back = hold(&mut names, "longname0150");
        assert_eq!(names.name(back), "longname0150");
        let renamed = names.give_back_room().expect("most ids free");
        assert_eq!(names.long_name_bytes(), 2 * "longname0000".len());
        // The live names take the lowest ids, in the order they had.
        assert_eq!(renamed[ids[0] as usize], 0);
        assert_eq!(renamed[back as usize], 1);
        assert!(renamed
            .iter()
            .enumerate()
            .all(|(id, new)| *new == NO_NAME || id == ids[0] as usize || id == back as usize));
        assert_eq!(names.name(0), "longname0000");
        assert_eq!(names.name(1), "longname0150");
        assert_eq!(hold(&mut names, "longname0150"), 1);
        assert_eq!(names.holders(1), 2);
        assert_eq!(hold(&mut names, "fresh"), 2);
        assert!(names.give_back_room().is_none(), "nothing free");
    }
}
