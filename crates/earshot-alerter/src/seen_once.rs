//! Terms a brand has mentioned once in its kept bins: 7-byte notes of a
//! name's hash and the bin, in a table of their own.
//!
//! The notes were hashbrown's table, 9 bytes a slot and doubling as it
//! grew: at 10k brands' busiest hour it was 42% full, a fifth of the
//! detector's state. This one is open addressing with linear probing over
//! the notes themselves (0 marks an empty slot, which no note is), any
//! number of slots, grown by a quarter at seven eighths full: 7 bytes a
//! slot, 70% to 88% full (grown by an eighth at nine tenths, the moves and
//! shifts cost the backtest a tenth more instructions; at four fifths, the
//! notes of 10k brands' peak took 4 MiB more). Robin Hood placement keeps
//! each run in order of the notes' home slots, so a lookup for a term not
//! noted (most are) stops as soon as it passes where the note would be,
//! not at the run's end (plain linear probing at four fifths full made the
//! backtest 10% slower). Removal shifts the run after the slot back (no
//! tombstones).

/// The bits of a note that hold its bin.
pub(crate) const NOTE_BIN_MASK: u64 = (1 << 16) - 1;
/// Bits of its name's hash a note keeps: the highest.
const NOTE_HASH_BITS: u32 = 39;
/// Set in every note, so that none is 0 (an empty slot).
const NOTE_MARK: u64 = 1 << (16 + NOTE_HASH_BITS);

/// A term mentioned once in the kept bins, in 7 bytes (the low 56 bits of
/// this): a mark, the top 39 bits of its name's keyed hash, and the bin's
/// index modulo 2^16 in the low bits. The bin is read back against the
/// newest note's (`TermTable::note_span`, exact while the notes span under
/// 2^16 bins, which the table keeps to under 2^15).
///
/// A term not noted is taken for a noted one when their kept bits agree.
/// Only a note at the same home slot can (its top bits place it), so a
/// lookup risks about `slots / 2^39` (3e-8 in a table of 16k slots, four
/// times a busy brand's at its peak), a few a day at 100k brands' volume:
/// a mention's term counted as another's second (one mention in an
/// earlier bin). With 47 bits in 8 bytes notes were an eighth of a busy
/// hour's state; with 31 bits in 6 it was hundreds a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SeenOnce(u64);

impl SeenOnce {
    pub(crate) fn new(hash: u64, bin_index: i64) -> Self {
        SeenOnce(NOTE_MARK | kept_hash(hash) << 16 | bin_index as u64 & NOTE_BIN_MASK)
    }

    pub(crate) fn is_of(&self, hash: u64) -> bool {
        self.0 >> 16 == NOTE_MARK >> 16 | kept_hash(hash)
    }

    /// What places a note of `hash` in the table: the kept hash bits, from
    /// the top (a slot is taken from the highest bits).
    fn placement_of(hash: u64) -> u64 {
        kept_hash(hash) << (64 - NOTE_HASH_BITS)
    }

    fn placement(self) -> u64 {
        (self.0 >> 16 & ((1 << NOTE_HASH_BITS) - 1)) << (64 - NOTE_HASH_BITS)
    }
}

/// The hash bits a note keeps, as a number.
fn kept_hash(hash: u64) -> u64 {
    hash >> (64 - NOTE_HASH_BITS)
}

/// A note as its slot stores it: its low seven bytes, little-endian.
type Slot = [u8; 7];

fn to_slot(note: u64) -> Slot {
    debug_assert!(note < 1 << 56);
    let bytes = note.to_le_bytes();
    [
        bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6],
    ]
}

/// Whether a slot holds a note: its mark, one byte's bit (scans for an
/// empty slot and sweeps read every slot on their way).
#[inline(always)]
fn is_taken(slot: Slot) -> bool {
    const MARK_BYTE: usize = 6;
    const MARK_BIT: u8 = (NOTE_MARK >> (8 * MARK_BYTE)) as u8;
    slot[MARK_BYTE] & MARK_BIT != 0
}

/// Three loads (4, 2 and 1 bytes), not a byte-wise copy: notes are read at
/// every step of every lookup.
#[inline(always)]
fn from_slot(slot: Slot) -> u64 {
    let [b0, b1, b2, b3, b4, b5, b6] = slot;
    u64::from(u32::from_le_bytes([b0, b1, b2, b3]))
        | u64::from(u16::from_le_bytes([b4, b5])) << 32
        | u64::from(b6) << 48
}

impl SeenOnce {
    /// The bin's index, given the newest note's: exact when it is under
    /// 2^16 bins older.
    pub(crate) fn bin_index(&self, newest: i64) -> i64 {
        newest - ((newest as u64).wrapping_sub(self.0) & NOTE_BIN_MASK) as i64
    }
}

/// The home slot of `bits` among `slots`, for open addressing over any
/// number of slots (no power of two needed): the top bits, scaled. Shared
/// with `term_index`.
#[inline]
pub(crate) fn home_slot(bits: u64, slots: usize) -> usize {
    ((u128::from(bits) * slots as u128) >> 64) as usize
}

/// The slot after `slot` among `slots`, wrapping to the first.
#[inline]
pub(crate) fn next_slot(slot: usize, slots: usize) -> usize {
    if slot + 1 == slots {
        0
    } else {
        slot + 1
    }
}

/// Slots a table starts with.
const MIN_SLOTS: usize = 8;

/// The notes: an open-addressing set (see the module's doc).
#[derive(Debug, Clone, Default)]
pub(crate) struct SeenOnceNotes {
    /// Notes and empty slots (0).
    slots: Vec<Slot>,
    len: usize,
}

/// Notes a table of `slots` slots holds before it grows: seven eighths
/// (one slot at least stays empty).
fn fill_limit(slots: usize) -> usize {
    slots.saturating_sub((slots / 8).max(1))
}

impl SeenOnceNotes {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Notes it holds before it grows.
    pub(crate) fn capacity(&self) -> usize {
        fill_limit(self.slots.len())
    }

    /// Slots, empty or not.
    pub(crate) fn slots(&self) -> usize {
        self.slots.len()
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot>()
    }

    /// Where a note placed by `placement` starts looking.
    fn home(&self, placement: u64) -> usize {
        home_slot(placement, self.slots.len())
    }

    fn next(&self, slot: usize) -> usize {
        next_slot(slot, self.slots.len())
    }

    /// How far `slot` is past the home slot of the note in it.
    fn distance(&self, slot: usize, note: u64) -> usize {
        let home = self.home(SeenOnce(note).placement());
        if slot >= home {
            slot - home
        } else {
            slot + self.slots.len() - home
        }
    }

    fn load(&self, slot: usize) -> u64 {
        from_slot(self.slots[slot])
    }

    fn store(&mut self, slot: usize, note: u64) {
        self.slots[slot] = to_slot(note);
    }

    /// Asks for the slot a lookup of `hash` starts at (see `prefetch`).
    #[inline(always)]
    pub(crate) fn prefetch(&self, hash: u64) {
        if let Some(slot) = self.slots.get(self.home(SeenOnce::placement_of(hash))) {
            crate::prefetch::prefetch_read(slot);
        }
    }

    /// The slot of the note of `hash`, if there is one.
    pub(crate) fn find(&self, hash: u64) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let mut slot = self.home(SeenOnce::placement_of(hash));
        let mut distance = 0;
        loop {
            let note = self.load(slot);
            if note == 0 {
                return None;
            }
            if SeenOnce(note).is_of(hash) {
                return Some(slot);
            }
            // A note nearer its home than this one would be: past where it
            // would have been placed.
            if self.distance(slot, note) < distance {
                return None;
            }
            slot = self.next(slot);
            distance += 1;
        }
    }

    /// The note in `slot` (from [`Self::find`]).
    pub(crate) fn get(&self, slot: usize) -> SeenOnce {
        SeenOnce(self.load(slot))
    }

    /// Puts `note`, of the same hash, in place of the one in `slot`.
    pub(crate) fn replace(&mut self, slot: usize, note: SeenOnce) {
        debug_assert_eq!(note.placement(), self.get(slot).placement());
        self.store(slot, note.0);
    }

    /// Takes out the note in `slot` (from [`Self::find`]): the notes after
    /// it, up to one at its home, move back a slot each (still in order),
    /// as one move of their bytes.
    pub(crate) fn remove(&mut self, slot: usize) {
        let mut last = slot;
        loop {
            let next = self.next(last);
            let note = self.load(next);
            if note == 0 || self.distance(next, note) == 0 {
                break;
            }
            last = next;
        }
        self.shift_back(slot, last);
        self.store(last, 0);
        self.len -= 1;
    }

    /// Moves the notes after `hole` up to `last` (circularly) back one
    /// slot, into `hole`.
    fn shift_back(&mut self, hole: usize, last: usize) {
        let slots = &mut self.slots;
        if hole <= last {
            slots.copy_within(hole + 1..=last, hole);
        } else {
            let end = slots.len() - 1;
            slots.copy_within(hole + 1.., hole);
            slots[end] = slots[0];
            slots.copy_within(1..=last, 0);
        }
    }

    /// Moves the notes from `first` up to before the empty slot `empty`
    /// (circularly) on one slot, leaving `first` free.
    fn shift_on(&mut self, first: usize, empty: usize) {
        let slots = &mut self.slots;
        if first <= empty {
            slots.copy_within(first..empty, first + 1);
        } else {
            let end = slots.len() - 1;
            slots.copy_within(..empty, 1);
            slots[0] = slots[end];
            slots.copy_within(first..end, first + 1);
        }
    }

    /// Adds `note`, of a hash not noted.
    pub(crate) fn insert(&mut self, note: SeenOnce) {
        if self.len + 1 > self.capacity() {
            self.grow();
        }
        self.place(note);
        self.len += 1;
    }

    /// Grows the table by a quarter.
    pub(crate) fn grow(&mut self) {
        let slots = self.slots.len();
        self.rebuild((slots + slots / 4 + 1).max(MIN_SLOTS));
    }

    /// Robin Hood: the note goes before the first one nearer its home
    /// than it would be, and the rest of that run moves on a slot, as one
    /// move of their bytes (at seven eighths full a run's tail is tens of
    /// slots: carrying each displaced note on, its home computed at every
    /// step, cost a tenth of the backtest's instructions).
    fn place(&mut self, note: SeenOnce) {
        let mut slot = self.home(note.placement());
        let mut distance = 0;
        loop {
            let held = self.load(slot);
            if held == 0 {
                self.store(slot, note.0);
                return;
            }
            if self.distance(slot, held) < distance {
                break;
            }
            slot = self.next(slot);
            distance += 1;
        }
        let mut empty = self.next(slot);
        while is_taken(self.slots[empty]) {
            empty = self.next(empty);
        }
        self.shift_on(slot, empty);
        self.store(slot, note.0);
    }

    /// Moves the notes into `slot_count` slots (none if 0).
    fn rebuild(&mut self, slot_count: usize) {
        let old = std::mem::replace(&mut self.slots, vec![[0; 7]; slot_count]);
        for note in old.into_iter().map(from_slot).filter(|note| *note != 0) {
            self.place(SeenOnce(note));
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = SeenOnce> + '_ {
        self.slots
            .iter()
            .map(|slot| from_slot(*slot))
            .filter(|note| *note != 0)
            .map(SeenOnce)
    }

    /// Keeps the notes whose bin `keep` says (given the bin's index, read
    /// against the newest note's, `newest`), in one pass: each kept note
    /// moves back to its home or just after the kept note before it,
    /// whichever is later, which keeps the runs in order (a removal each,
    /// shifting its run back, cost hundreds of instructions a note at
    /// seven eighths full). The pass starts after an empty slot, which no
    /// run crosses, and reads two bytes of most notes (the bin) and one of
    /// an empty slot (the mark): sweeps read every slot of the table.
    pub(crate) fn retain_bins(&mut self, newest: i64, keep: impl Fn(i64) -> bool) {
        let count = self.slots.len();
        let Some(empty) = self.slots.iter().position(|slot| !is_taken(*slot)) else {
            return;
        };
        // Positions in the pass's order: position 0 is the slot after the
        // empty one; `free` is the first position no kept note has taken.
        let mut slot = empty;
        let mut free = 0;
        for position in 0..count {
            slot = self.next(slot);
            let bytes = self.slots[slot];
            if !is_taken(bytes) {
                free = position + 1;
                continue;
            }
            let bin = u64::from(u16::from_le_bytes([bytes[0], bytes[1]]));
            if !keep(SeenOnce(bin).bin_index(newest)) {
                self.slots[slot] = [0; 7];
                self.len -= 1;
            } else if free == position {
                // Nothing before it in its run was taken out: it stays.
                free += 1;
            } else {
                let note = from_slot(bytes);
                let target = (position - self.distance(slot, note)).max(free);
                let target_slot = (empty + 1 + target) % count;
                self.slots[slot] = [0; 7];
                self.slots[target_slot] = bytes;
                free = target + 1;
            }
        }
    }

    /// Gives back the room beyond what the notes need.
    pub(crate) fn shrink_to_fit(&mut self) {
        let slots = match self.len {
            0 => 0,
            len => (len + len / 5 + 1).max(MIN_SLOTS),
        };
        if slots < self.slots.len() {
            self.rebuild(slots);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Hashes that crowd a few slots (their top bits alike), so that runs
    /// wrap and removals shift.
    fn crowded_hash(index: u64) -> u64 {
        (index % 7) << 61 | (index & 0x3ff) << 40 | index.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 24
    }

    proptest::proptest! {
        /// Any sequence of inserts, replacements, removals, retains and
        /// shrinks leaves exactly the notes a map would hold, each found by
        /// its hash, with the table never fuller than seven eighths.
        #[test]
        fn notes_agree_with_a_map(
            operations in proptest::collection::vec((0u8..5, 0u64..300, 0i64..1000), 1..600),
        ) {
            let mut notes = SeenOnceNotes::default();
            let mut model: HashMap<u64, i64> = HashMap::new();
            for (operation, index, bin) in operations {
                let hash = crowded_hash(index);
                match (operation, notes.find(hash)) {
                    (0 | 1, None) => {
                        notes.insert(SeenOnce::new(hash, bin));
                        model.insert(hash, bin);
                    }
                    (0, Some(slot)) => {
                        notes.replace(slot, SeenOnce::new(hash, bin));
                        model.insert(hash, bin);
                    }
                    (1 | 2, Some(slot)) => {
                        notes.remove(slot);
                        model.remove(&hash);
                    }
                    (3, _) => {
                        notes.retain_bins(1000, |index| index % 3 != bin % 3);
                        model.retain(|_, kept| *kept % 3 != bin % 3);
                    }
                    (4, _) => notes.shrink_to_fit(),
                    _ => {}
                }
                proptest::prop_assert_eq!(notes.len(), model.len());
                proptest::prop_assert!(notes.len() <= notes.capacity() || notes.slots() == 0);
                // Robin Hood order: along a run, each note is at most one
                // slot further from its home than the one before.
                for slot in 0..notes.slots() {
                    let next = notes.next(slot);
                    let (here, there) = (notes.load(slot), notes.load(next));
                    if here != 0 && there != 0 {
                        proptest::prop_assert!(
                            notes.distance(next, there) <= notes.distance(slot, here) + 1
                        );
                    }
                }
            }
            for index in 0..300 {
                let hash = crowded_hash(index);
                let found = notes.find(hash).map(|slot| notes.get(slot).bin_index(1000));
                proptest::prop_assert_eq!(found, model.get(&hash).copied());
            }
            proptest::prop_assert_eq!(notes.iter().count(), model.len());
        }
    }

    #[test]
    fn a_note_reads_back_its_bin_and_is_never_an_empty_slot() {
        let note = SeenOnce::new(0, 0);
        assert_ne!(note.0, 0);
        assert!(note.is_of(0));
        assert!(note.is_of((1 << 25) - 1), "the low 25 bits are not kept");
        assert!(!note.is_of(1 << 25));
        let top = SeenOnce::new(u64::MAX, 70_000);
        assert_eq!(top.bin_index(70_010), 70_000);
        assert!(top.is_of(u64::MAX) && !top.is_of(u64::MAX >> 1));
        assert_eq!(from_slot(to_slot(top.0)), top.0);
        assert_eq!(std::mem::size_of::<Slot>(), 7);
    }

    #[test]
    fn the_table_grows_by_a_quarter_and_shrinks_to_fit() {
        let mut notes = SeenOnceNotes::default();
        for index in 0..1000u64 {
            let hash = index.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            notes.insert(SeenOnce::new(hash, (index % 4) as i64));
        }
        // Seven eighths full at most, and over two thirds after growing.
        assert!(notes.len() <= notes.capacity());
        assert!(notes.len() * 8 <= notes.slots() * 7);
        assert!(
            notes.len() * 3 > notes.slots() * 2,
            "{} slots",
            notes.slots()
        );
        notes.retain_bins(3, |index| index == 0);
        assert_eq!(notes.len(), 250);
        let remaining = notes.len();
        notes.shrink_to_fit();
        assert!(notes.slots() <= remaining + remaining / 5 + 1);
        assert_eq!(notes.iter().count(), remaining);
    }
}
