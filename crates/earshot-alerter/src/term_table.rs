//! A brand's terms under small integer ids: the interner for its bins, the
//! baseline rate and the window counts of each term in one entry.
//!
//! Bins name terms by id, so a mention's terms cost one hash lookup (the
//! name's), and everything after — merging a closing bin's entries, window
//! counts, baseline rates — is an index into one vector. Ids of forgotten
//! terms are reused; a term is forgotten only when no bin names it, which
//! the entry counts (open-bin entries and closed bins) say.

use hashbrown::HashTable;

use crate::detector::{LEVEL_ALPHA, MAX_WINDOWS};
use crate::seen_once::{SeenOnce, SeenOnceNotes};
use crate::term_index::TermIndex;
use crate::term_names::{NameId, TermNames, NO_NAME};

pub(crate) type TermId = u32;

/// Mentions a term needs in a window before it is read at all (as an
/// emerging term or as evidence).
pub(crate) const MIN_TERM_COUNT: u32 = 3;

/// A term's baseline: mentions per bin (deseasonalised) as of a bin. 8
/// bytes: the rate in single precision (it is computed in double and
/// stored rounded, a relative error of 6e-8 that the next update's weight
/// forgets; at 12 bytes these were 4 of every entry's 28, and entries are
/// the largest part of a busy hour's state) and the bin's index modulo
/// 2^32, its age read by a wrapping difference, exact for ages under 2^31
/// bins (4,000 years of one-minute bins; ages are clamped far below).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct TermRate {
    rate: f32,
    updated: i32,
}

/// Ages past this many bins decay as if this old (about 69 days).
const MAX_DECAY_AGE: i64 = 100_000;

/// `(1 - LEVEL_ALPHA)^(2^k)`, each the square of the one before, as `powi`
/// squares its base.
const DECAY_SQUARES: [f64; 17] = {
    let mut squares = [0.0; 17];
    let mut factor = 1.0 - LEVEL_ALPHA;
    let mut bit = 0;
    while bit < squares.len() {
        squares[bit] = factor;
        factor *= factor;
        bit += 1;
    }
    squares
};

/// `(1 - LEVEL_ALPHA)^age` bit for bit as `powi` computes it (the product of
/// the squares of the age's set bits, lowest first), without its loop over
/// every bit up to the highest: with real texts most terms are rare, and
/// their rates are read hours after the last update.
const fn decay_by_bits(age: u32) -> f64 {
    let mut bits = age;
    let mut product = 1.0;
    while bits != 0 {
        product *= DECAY_SQUARES[bits.trailing_zeros() as usize];
        bits &= bits - 1;
    }
    product
}

/// Ages below this read their decay from [`DECAY_TABLE`].
const DECAY_TABLE_AGES: usize = 1024;

/// [`decay_by_bits`] of every age below [`DECAY_TABLE_AGES`] (8 KiB): the
/// emerging-term scan reads the rate of every busy term at every bin
/// close, at ages of up to a window, and the loop's branches on the bits
/// of each age were a tenth of the backtest's time on real texts.
const DECAY_TABLE: [f64; DECAY_TABLE_AGES] = {
    let mut table = [0.0; DECAY_TABLE_AGES];
    let mut age = 0;
    while age < DECAY_TABLE_AGES {
        table[age] = decay_by_bits(age as u32);
        age += 1;
    }
    table
};

fn decay(age: u32) -> f64 {
    match DECAY_TABLE.get(age as usize) {
        Some(factor) => *factor,
        None => decay_by_bits(age),
    }
}

impl TermRate {
    /// `rate` as of the bin of index `bin_index`.
    pub(crate) fn new(rate: f64, bin_index: i64) -> Self {
        TermRate {
            rate: rate as f32,
            updated: bin_index as i32,
        }
    }

    pub(crate) fn at(&self, bin_index: i64) -> f64 {
        let (rate, updated) = (f64::from(self.rate), self.updated);
        let age = i64::from((bin_index as i32).wrapping_sub(updated));
        match age.clamp(0, MAX_DECAY_AGE) {
            0 => rate,
            age => rate * decay(age as u32),
        }
    }

    /// Folds in a bin's (deseasonalised) count with weight `alpha`.
    pub(crate) fn learn(&mut self, observed: f64, alpha: f64, bin_index: i64) {
        let rate = self.at(bin_index);
        *self = TermRate::new(rate + alpha * (observed - rate), bin_index);
    }
}

/// What a term's mention is to the table ([`TermTable::sight`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sighting {
    /// The term has an entry.
    Known(TermId),
    /// Its first mention in the kept bins (or again in the same mention):
    /// noted by hash, no entry.
    First,
    /// Its second mention: a new entry, and the bin of the first mention,
    /// which the caller places there ([`TermTable::hold_earlier_open`],
    /// [`TermTable::hold_earlier_closed`]).
    Second { id: TermId, first_bin: i64 },
}

/// Seen-once notes a brand keeps at most with no term limit (about 4 MiB).
pub(crate) const MAX_SEEN_ONCE: usize = 1 << 18;

/// Seen-once notes a brand keeps at most per term it may hold
/// ([`TermTable::with_limit`]): the busiest brands of a real day note about
/// as many terms as they hold.
const NOTES_PER_TERM: usize = 2;

/// Room a table keeps beyond its fitting threshold ([`Fit`] for entries,
/// four times their use for hash tables) before it gives the rest back
/// ([`TermTable::give_back_room`]):
/// a quiet brand's tables are not reshaped for a few slots.
const FIT_SLACK: usize = 64;

/// When a table's entry slots are worth renaming into fewer
/// ([`TermTable::give_back_room`]). Freed ids are reused by new terms, but
/// a table whose volume fell keeps its busier hour's free slots (56 bytes
/// each): after a real day, 37% of 10k brands' slots were free while only
/// tables under half used were fitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fit {
    /// At any bin close: under half the slots live (cheap to check, and
    /// rare enough that the renaming's cost does not matter).
    MostlyFree,
    /// At the hourly tidy: over a fifth of the slots free.
    Hourly,
}

/// A hash table filling under a quarter of its room.
fn mostly_unused(len: usize, capacity: usize) -> bool {
    capacity > 4 * len + FIT_SLACK
}

/// Pushes onto a vector that lives on at the size it grows to (a table's
/// entries, reused and only shrunk by a fitting; its busy list): it grows
/// by a sixteenth, not by doubling, so that about a sixteenth of it at most
/// is unused room (a doubling left a third unused at a day's busiest hour,
/// an eighth 4 MiB of 10k brands' entries). The large ones have pages of
/// their own (`heap::configure_allocator`) and grow in place.
pub(crate) fn push_with_little_room<T>(items: &mut Vec<T>, item: T) {
    if items.len() == items.capacity() {
        items.reserve_exact(items.len() / 16 + 4);
    }
    items.push(item);
}

/// Heap bytes a hash table of `capacity` items of `T` holds: its buckets
/// ([`hash_table_buckets`]) and a control byte each.
pub(crate) fn hash_table_bytes<T>(capacity: usize) -> usize {
    hash_table_buckets(capacity) * (std::mem::size_of::<T>() + 1)
}

/// hashbrown's buckets for a table of `capacity` items: a power of two,
/// filled to 7/8 at most.
fn hash_table_buckets(capacity: usize) -> usize {
    match capacity {
        0 => 0,
        1..8 => (capacity + 1).next_power_of_two(),
        _ => (capacity * 8 / 7).next_power_of_two(),
    }
}

/// Heap bytes a term table holds, by part ([`TermTable::heap_bytes`]).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TableBytes {
    /// Entry slots (live and free) and the free list.
    pub entries: usize,
    /// The name index and the long names.
    pub names: usize,
    /// Seen-once notes.
    pub notes: usize,
    /// The busy list and shed terms' rates.
    pub other: usize,
}

/// A table's entry slots and notes by what they hold
/// ([`TermTable::census`]): which terms the entries are spent on, for the
/// memory benchmark.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TermCensus {
    /// Entries an open or kept bin names.
    pub held: usize,
    /// Of those, the busy ones: [`MIN_TERM_COUNT`] or more mentions in a
    /// window, the only ones the detector reads.
    pub busy: usize,
    /// Entries no bin names, kept for their rate.
    pub rate_only: usize,
    /// Free slots, reused by new terms until a fit gives them back.
    pub free: usize,
    /// Seen-once notes, and the slots their hash table holds.
    pub notes: usize,
    pub note_slots: usize,
}

impl TermCensus {
    /// Adds another table's (one per brand).
    pub fn add(&mut self, other: &TermCensus) {
        self.held += other.held;
        self.busy += other.busy;
        self.rate_only += other.rate_only;
        self.free += other.free;
        self.notes += other.notes;
        self.note_slots += other.note_slots;
    }
}

/// Notes span fewer bins than this, oldest to newest (22 days of one-minute
/// bins): notes of bins that old are stale whatever the windows.
const MAX_NOTE_SPAN_BINS: i64 = 1 << 15;

/// The baseline of a term shed for room ([`TermTable::shed`]), by its
/// name's hash, as it was then: a term that comes back gets it back,
/// rather than reading as new against no baseline (16 bytes, against an
/// entry's 64 and its bins' places). It does not decay while shed: the
/// rate decays through bins without a mention, and the shed term's
/// mentions were not counted (it came back, so it was not gone).
#[derive(Debug, Clone, Copy)]
struct ShedRate {
    hash: u64,
    rate: f64,
}

/// Bits of a term id in a [`BinTerm`]: a brand's ids stay under
/// [`MAX_TERM_IDS`] (its term limit is clamped to half of it,
/// [`effective_term_limit`]).
const ID_BITS: u32 = 20;
/// Ids a brand can hold: a term past them is not given one.
pub(crate) const MAX_TERM_IDS: usize = 1 << ID_BITS;
/// The most mentions one place counts: a term named more often in one bin
/// takes more places (see [`TermTable::close_bin`]).
pub(crate) const MAX_PLACE_COUNT: u32 = (1 << (32 - ID_BITS)) - 1;

/// A bin's count of one term (one per mention while the bin is open), in 4
/// bytes: a 20-bit id and a 12-bit count. Every bin kept holds one per term
/// it names, and at 6 bytes these places were an eighth of a busy hour's
/// state. A term named more than [`MAX_PLACE_COUNT`] times in one bin
/// takes another place for the rest, so the windows stay exact sums.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct BinTerm(u32);

impl BinTerm {
    pub(crate) fn new(id: TermId, count: u32) -> Self {
        debug_assert!((id as usize) < MAX_TERM_IDS && (1..=MAX_PLACE_COUNT).contains(&count));
        BinTerm(id | (count.min(MAX_PLACE_COUNT) << ID_BITS))
    }

    /// One mention of `id`.
    pub(crate) fn once(id: TermId) -> Self {
        BinTerm::new(id, 1)
    }

    pub(crate) fn id(self) -> TermId {
        self.0 & (MAX_TERM_IDS as u32 - 1)
    }

    pub(crate) fn count(self) -> u32 {
        self.0 >> ID_BITS
    }

    /// The same count under another id (ids are renamed when a table is
    /// fitted).
    fn renamed(self, id: TermId) -> Self {
        BinTerm::new(id, self.count())
    }
}

impl std::fmt::Debug for BinTerm {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("BinTerm")
            .field("id", &self.id())
            .field("count", &self.count())
            .finish()
    }
}

/// The most live terms a brand keeps whatever its configured limit (`0`,
/// no limit, included): half the ids a place can name, so that the terms
/// new in one bin before the next shed still find an id.
pub(crate) fn effective_term_limit(limit: usize) -> usize {
    match limit {
        0 => MAX_TERM_IDS / 2,
        limit => limit.min(MAX_TERM_IDS / 2),
    }
}

/// 24 bytes (a term's merge position in a closing bin is scratch outside
/// it, and so is whether the current mention holds it; a busy term's
/// window counts live in the busy list; its name is every brand's, in
/// [`TermNames`]):
/// every term mentioned twice in a brand's kept hour has one, and entries
/// are the largest part of a busy hour's state. Aligning it to a cache
/// line measured slower, not faster.
#[derive(Debug, Clone)]
pub(crate) struct TermEntry {
    /// The name's id in the detector's [`TermNames`]; [`NO_NAME`] while
    /// the entry's id is free. Names were 14 bytes of every entry (and a
    /// long one's bytes again in its brand's string), while brands share
    /// most words.
    name: NameId,
    /// Closed bins' places naming it: one per kept bin (windows are at
    /// most `u16::MAX` bins), and one more per [`MAX_PLACE_COUNT`] mentions
    /// of it in a bin. Saturated, it stays there ([`Self::release_closed`]):
    /// the term is then held until shed, never forgotten while a bin names
    /// it.
    closed_bins: u16,
    pub rate: TermRate,
    /// Entries of open bins naming it (one per mention).
    open_entries: u32,
    /// Its mentions in each detection window (closed bins only), or where
    /// they are: in the busy list.
    windows: TermWindows,
    /// What its recent mentions were ([`TermTable::hold_once`]): a term
    /// corroborates a surge of the kind its own mentions are.
    pub mood: TermMood,
}

/// How many terms ahead a loop over terms asks for an entry
/// ([`TermTable::busy_terms`], [`TermTable::prefetch_entry_ahead`]).
const PREFETCH_DISTANCE: usize = 8;

/// Bits a quiet term's count takes per window in [`TermWindows`].
const QUIET_COUNT_BITS: u32 = 7;
const QUIET_COUNT_MASK: u32 = (1 << QUIET_COUNT_BITS) - 1;
/// Marks [`TermWindows`] that hold counts, not a busy-list position.
const QUIET: u32 = 1 << 31;
// A quiet term's counts are under MIN_TERM_COUNT in every window (the
// longest holds every other): they fit, one field each, under the mark.
const _: () =
    assert!(MIN_TERM_COUNT <= QUIET_COUNT_MASK && MAX_WINDOWS as u32 * QUIET_COUNT_BITS < 31);

/// A term's mentions in each detection window, in 4 bytes: a busy term's
/// (3 or more in the longest window) are where it is in the busy list,
/// which holds them in full; the others, under [`MIN_TERM_COUNT`] each,
/// are here in 7 bits per window. Three quarters of a busy hour's entries
/// are not busy, and 16 bytes of counts in each was a seventh of the
/// state (the busy list reads them in order, too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TermWindows(u32);

impl TermWindows {
    const NONE: TermWindows = TermWindows(QUIET);

    fn busy_at(position: usize) -> Self {
        debug_assert!(position < QUIET as usize);
        TermWindows(position as u32)
    }

    /// Where the counts are in the busy list; none for a quiet term.
    fn busy_position(self) -> Option<usize> {
        (self.0 & QUIET == 0).then_some(self.0 as usize)
    }

    /// A quiet term's counts (each under [`MIN_TERM_COUNT`]).
    fn quiet(counts: [u32; MAX_WINDOWS]) -> Self {
        let mut packed = QUIET;
        for (slot, count) in counts.iter().enumerate() {
            debug_assert!(*count < MIN_TERM_COUNT, "{counts:?}");
            packed |= (*count).min(QUIET_COUNT_MASK) << (slot as u32 * QUIET_COUNT_BITS);
        }
        TermWindows(packed)
    }

    /// A quiet term's count in window `slot` (0 for a busy one).
    fn quiet_count(self, slot: usize) -> u32 {
        if self.0 & QUIET == 0 {
            return 0;
        }
        (self.0 >> (slot as u32 * QUIET_COUNT_BITS)) & QUIET_COUNT_MASK
    }

    /// A quiet term's counts with `count` more in each of the first
    /// `slots` windows, each staying under [`MIN_TERM_COUNT`] (one add to
    /// the packed fields, not an unpacking: every closing bin's terms).
    fn plus_in_first(self, slots: usize, count: u32) -> Self {
        debug_assert!(self.0 & QUIET != 0 && slots <= MAX_WINDOWS);
        let spread = (0..slots).fold(0, |spread, slot| {
            spread | 1 << (slot as u32 * QUIET_COUNT_BITS)
        });
        let sum = TermWindows(self.0 + count * spread);
        debug_assert!(sum
            .quiet_counts()
            .iter()
            .all(|count| *count < MIN_TERM_COUNT));
        sum
    }

    /// A quiet term's counts with `count` fewer in window `slot` (which
    /// holds at least that many).
    fn minus_in(self, slot: usize, count: u32) -> Self {
        debug_assert!(self.0 & QUIET != 0 && self.quiet_count(slot) >= count);
        TermWindows(self.0 - (count << (slot as u32 * QUIET_COUNT_BITS)))
    }

    /// A quiet term's counts (zeros for a busy one: see the busy list).
    fn quiet_counts(self) -> [u32; MAX_WINDOWS] {
        let mut counts = [0; MAX_WINDOWS];
        if self.0 & QUIET != 0 {
            for (slot, count) in counts.iter_mut().enumerate() {
                *count = (self.0 >> (slot as u32 * QUIET_COUNT_BITS)) & QUIET_COUNT_MASK;
            }
        }
        counts
    }
}

/// A busy term (see [`TermTable::busy`]) and its mentions in each
/// detection window (closed bins only).
#[derive(Debug, Clone, Copy)]
pub(crate) struct BusyTerm {
    pub id: TermId,
    pub in_windows: [u32; MAX_WINDOWS],
}

/// The shares of a term's recent mentions (about its last four, each
/// weighing a quarter of the rest) that were negative and toxic, in 255ths:
/// two bytes, so that every entry can carry them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TermMood {
    negative: u8,
    toxic: u8,
}

impl TermMood {
    /// A new term's, from its first mention held.
    fn of(negative: bool, toxic: bool) -> Self {
        TermMood {
            negative: if negative { u8::MAX } else { 0 },
            toxic: if toxic { u8::MAX } else { 0 },
        }
    }

    /// Moves a quarter of the way towards the mention's.
    fn follow(&mut self, negative: bool, toxic: bool) {
        fn towards(share: u8, hit: bool) -> u8 {
            let target = if hit { i32::from(u8::MAX) } else { 0 };
            let share = i32::from(share);
            // Within 0..=255: a quarter of the way between two such values.
            (share + (target - share) / 4) as u8
        }
        self.negative = towards(self.negative, negative);
        self.toxic = towards(self.toxic, toxic);
    }

    pub(crate) fn negative_share(self) -> f64 {
        f64::from(self.negative) / f64::from(u8::MAX)
    }

    pub(crate) fn toxic_share(self) -> f64 {
        f64::from(self.toxic) / f64::from(u8::MAX)
    }
}

impl TermEntry {
    fn new(name: NameId) -> Self {
        TermEntry {
            name,
            rate: TermRate::default(),
            open_entries: 0,
            closed_bins: 0,
            windows: TermWindows::NONE,
            mood: TermMood::default(),
        }
    }

    fn is_held(&self) -> bool {
        self.open_entries > 0 || self.closed_bins > 0
    }

    fn is_free(&self) -> bool {
        self.name == NO_NAME
    }
}

/// A brand's terms. Its name index is keyed by [`TermNames::hash`] (keyed,
/// so crafted collisions stay out), and every method that reads or changes
/// names takes the detector's [`TermNames`]. Not `Clone`: each entry holds
/// its name there.
#[derive(Debug, Default)]
pub(crate) struct TermTable {
    entries: Vec<TermEntry>,
    free: Vec<TermId>,
    by_name: TermIndex,
    /// Ids with [`MIN_TERM_COUNT`] or more mentions in the longest term
    /// window (which holds every other): the only ones the detector reads.
    /// Real texts put thousands of terms in a busy brand's windows, most
    /// of them seen once or twice; scanning them all at every bin close
    /// took most of the backtest's time. Their window counts live here.
    busy: Vec<BusyTerm>,
    /// Live terms at which the next eviction runs (amortises its scan).
    evict_above: usize,
    /// Terms seen once, by name hash, and the hashes the current mention
    /// noted there (a mention naming a term twice is one mention).
    seen_once: SeenOnceNotes,
    noted: Vec<u64>,
    /// The ids the current mention holds (a mention naming a term twice is
    /// one mention): a few, searched, not a stamp in every entry.
    mention_held: Vec<TermId>,
    /// The oldest and newest bin indexes the notes may hold (bounds: a note
    /// taken out leaves them), none while there are none.
    note_span: Option<(i64, i64)>,
    /// Seen-once records at which the next sweep of stale ones runs.
    sweep_above: usize,
    /// The oldest kept bin as of the last sweep (none before a bin closes:
    /// nothing is stale), and the one at which the notes were last swept
    /// for being full or about to grow (once per bin at most).
    oldest_live: Option<i64>,
    full_sweep_at: Option<i64>,
    /// Seen-once notes kept at most (0: [`MAX_SEEN_ONCE`]).
    note_limit: usize,
    /// Notes dropped before their bin left (their term's first mention goes
    /// uncounted; also a mention with every id taken) and held terms shed
    /// ([`TermTable::shed`]), not yet taken.
    notes_dropped: u64,
    terms_shed: u64,
    /// Baselines of shed terms, at most the term limit: the lowest go first.
    shed_rates: HashTable<ShedRate>,
    /// The bins' length, for a restored rate's bin.
    bin_seconds: i64,
    /// The highest rate of a term forgotten for room (decaying as rates
    /// do): what a new term starts at, as it may be one of them back.
    forgotten_rate: TermRate,
}

impl TermTable {
    /// A table for a brand that holds about `term_limit` terms at most (0:
    /// no limit; [`TermTable::shed`] keeps to it), and twice as many
    /// seen-once notes.
    pub(crate) fn with_limit(term_limit: usize, bin_seconds: i64) -> Self {
        TermTable {
            bin_seconds,
            note_limit: match term_limit {
                0 => 0,
                limit => (limit * NOTES_PER_TERM).clamp(16, MAX_SEEN_ONCE),
            },
            ..TermTable::default()
        }
    }

    /// The id of `name`, given one if it has none (with no rate yet).
    #[cfg(test)]
    pub(crate) fn intern(&mut self, names: &mut TermNames, name: &str) -> TermId {
        let prefix = crate::term_names::prefix_of(name);
        match self.find(names, name) {
            Some(id) => id,
            None => {
                let hash = names.hash(name, prefix);
                self.insert(names, name, prefix, hash)
            }
        }
    }

    /// A new entry for `name` (not in the table), its hash `hash`.
    fn insert(&mut self, names: &mut TermNames, name: &str, prefix: u64, hash: u64) -> TermId {
        let mut entry = TermEntry::new(names.hold(name, prefix, hash));
        // A term not in the table is new or was forgotten for room at no
        // more than this rate: read as the latter, a busy brand's rare
        // words coming back are not news (a crisis's burst is far above).
        entry.rate = self.forgotten_rate;
        let id = match self.free.pop() {
            Some(id) => {
                self.entries[id as usize] = entry;
                id
            }
            None => {
                push_with_little_room(&mut self.entries, entry);
                (self.entries.len() - 1) as TermId
            }
        };
        let entries = &self.entries;
        self.by_name
            .insert(hash, id, |id| names.hash_of(entries[id as usize].name));
        id
    }

    /// Asks for the slots [`Self::sight`] will read first for a name of
    /// `hash`, so that a mention's lookups miss the cache together.
    #[inline(always)]
    pub(crate) fn prefetch(&self, hash: u64) {
        self.by_name.prefetch(hash);
        self.seen_once.prefetch(hash);
    }

    /// What a mention of `name` in the bin starting at `bin_start` is: a
    /// known term, a first mention (noted, no entry) or a second one (an
    /// entry now, and where the first was). `is_live` says whether a bin
    /// is still kept (open, or closed within the longest window): a first
    /// mention in a bin no longer kept is out of every window. (Inlined
    /// into its one caller, which the compiler stopped doing by itself:
    /// +5% instructions per mention.)
    /// `hash` is `names.hash(name, prefix)`, computed by the caller when
    /// it asked for the slots ([`Self::prefetch`]).
    #[inline(always)]
    pub(crate) fn sight(
        &mut self,
        names: &mut TermNames,
        (name, prefix, hash): (&str, u64, u64),
        bin_start: i64,
        is_live: impl Fn(i64) -> bool,
    ) -> Sighting {
        let entries = &self.entries;
        if let Some(id) = self
            .by_name
            .find(hash, |id| names.is(entries[id as usize].name, name, prefix))
        {
            return Sighting::Known(id);
        }
        let bin_index = self.bin_index(bin_start);
        let newest_note = self.note_span.map_or(bin_index, |(_, newest)| newest);
        let Some(seen) = self.seen_once.find(hash) else {
            // At the limit or about to grow: notes of bins no longer kept go
            // first (growing for them would keep the table at the day's
            // busiest size plus its stale part, for good), then, at the
            // limit, the older half: a term coming back soon (an emerging
            // one) still finds its note, and a flood of made-up words
            // cannot lock new terms out.
            let note_limit = match self.note_limit {
                0 => MAX_SEEN_ONCE,
                limit => limit,
            };
            if self.seen_once.len() >= self.seen_once.capacity().min(note_limit) {
                let capacity = self.seen_once.capacity();
                self.drop_stale_notes_once_per_bin();
                if self.seen_once.len() >= note_limit {
                    self.drop_older_notes();
                } else if self.seen_once.len() + capacity / 16 > capacity && capacity < note_limit {
                    // The sweep freed under a sixteenth (a busy brand's notes
                    // of one bin, once a minute): growing now spares a sweep
                    // of the whole table at each of the next bins.
                    self.seen_once.grow();
                }
            }
            self.note(hash, bin_index);
            self.noted.push(hash);
            return Sighting::First;
        };
        let first_bin = self.seen_once.get(seen).bin_index(newest_note) * self.bin_seconds.max(1);
        if first_bin == bin_start && self.noted.contains(&hash) {
            return Sighting::First;
        }
        if !is_live(first_bin) {
            // Noted anew in place (a note's place is its hash's), unless
            // the span would grow too long.
            let in_span = self.note_span.is_some_and(|(oldest, newest)| {
                newest - bin_index < MAX_NOTE_SPAN_BINS && bin_index - oldest < MAX_NOTE_SPAN_BINS
            });
            if in_span {
                self.seen_once.replace(seen, SeenOnce::new(hash, bin_index));
                self.widen_note_span(bin_index);
            } else {
                self.seen_once.remove(seen);
                self.note(hash, bin_index);
            }
            self.noted.push(hash);
            return Sighting::First;
        }
        if self.free.is_empty() && self.entries.len() >= MAX_TERM_IDS {
            // Every id a place can name is taken (terms new within one bin,
            // before the shed): the mention goes uncounted, as a dropped
            // note's would.
            self.notes_dropped += 1;
            return Sighting::First;
        }
        self.seen_once.remove(seen);
        let id = self.insert(names, name, prefix, hash);
        if let Ok(shed) = self.shed_rates.find_entry(hash, |shed| shed.hash == hash) {
            self.entries[id as usize].rate =
                TermRate::new(shed.remove().0.rate, self.bin_index(bin_start));
        }
        Sighting::Second { id, first_bin }
    }

    /// Holds `id` for an open bin's entry of an earlier mention (its
    /// first, placed when it came back).
    pub(crate) fn hold_earlier_open(&mut self, id: TermId) {
        if let Some(entry) = self.entries.get_mut(id as usize) {
            entry.open_entries += 1;
        }
    }

    /// Holds `id` for a closed bin's entry of an earlier mention, `age`
    /// bins before the newest closed one: counted in the windows longer
    /// than `age` (`windows`, in bins, by slot), and learned as that bin
    /// learned its terms (its deseasonalised count and weight, at
    /// `bin_index`), which is all the rate an entry from then would have.
    pub(crate) fn hold_earlier_closed(
        &mut self,
        id: TermId,
        age: usize,
        windows: &[usize],
        learned: Option<(f64, f64, i64)>,
    ) {
        let Some(entry) = self.entries.get_mut(id as usize) else {
            return;
        };
        entry.closed_bins += 1;
        // A new entry's: one mention in any window, below MIN_TERM_COUNT,
        // so never busy.
        debug_assert!(entry.windows.busy_position().is_none());
        let mut counts = entry.windows.quiet_counts();
        for (in_window, window) in counts.iter_mut().zip(windows) {
            if age < *window {
                *in_window += 1;
            }
        }
        entry.windows = TermWindows::quiet(counts);
        if let Some((deseasonalised, alpha, bin_index)) = learned {
            entry.rate.learn(deseasonalised, alpha, bin_index);
        }
    }

    /// Drops the seen-once records of bins before `oldest_live` (no longer
    /// kept), once they have grown by a quarter since the last sweep.
    pub(crate) fn sweep_seen_once(&mut self, oldest_live: i64) {
        self.oldest_live = Some(oldest_live);
        // Also when the oldest notes near the longest span: a quiet brand's
        // few notes may stay under the next sweep's size for weeks.
        let old_notes = self.note_span.is_some_and(|(oldest, _)| {
            self.bin_index(oldest_live) - oldest >= MAX_NOTE_SPAN_BINS / 2
        });
        if self.seen_once.len() > self.sweep_above || old_notes {
            self.drop_stale_notes();
        }
    }

    /// Drops the notes of bins before the oldest kept one; the next
    /// regular sweep waits for a quarter more.
    fn drop_stale_notes(&mut self) {
        let Some(oldest_live) = self.oldest_live else {
            return;
        };
        let oldest_live = self.bin_index(oldest_live);
        self.drop_notes_before(oldest_live);
        self.sweep_above = self.seen_once.len() + self.seen_once.len() / 4 + 16;
    }

    /// A bin's index (a table's bins are whole; a table with no bin length
    /// counts seconds).
    fn bin_index(&self, bin_start: i64) -> i64 {
        bin_start.div_euclid(self.bin_seconds.max(1))
    }

    /// Drops the notes of bins before the one of index `oldest_kept`.
    fn drop_notes_before(&mut self, oldest_kept: i64) {
        let Some((oldest, newest)) = self.note_span else {
            return;
        };
        if oldest >= oldest_kept {
            return;
        }
        self.seen_once
            .retain_bins(newest, |bin_index| bin_index >= oldest_kept);
        self.note_span =
            (!self.seen_once.is_empty() && newest >= oldest_kept).then_some((oldest_kept, newest));
    }

    /// Keeps the notes' span under [`MAX_NOTE_SPAN_BINS`] with a note of
    /// bin `bin_index` in it, and says whether it can be kept: notes half
    /// that span older go (stale: no window is that long; the sweeps
    /// usually took them long before), and a note that much older than the
    /// newest is not kept (a lateness of weeks), counted as dropped early.
    fn make_note_room(&mut self, bin_index: i64) -> bool {
        let Some((oldest, newest)) = self.note_span else {
            self.note_span = Some((bin_index, bin_index));
            return true;
        };
        if newest - bin_index >= MAX_NOTE_SPAN_BINS {
            self.notes_dropped += 1;
            return false;
        }
        if bin_index - oldest >= MAX_NOTE_SPAN_BINS {
            self.drop_notes_before(bin_index - MAX_NOTE_SPAN_BINS / 2);
        }
        self.widen_note_span(bin_index);
        true
    }

    fn widen_note_span(&mut self, bin_index: i64) {
        self.note_span = Some(match self.note_span {
            Some((oldest, newest)) => (oldest.min(bin_index), newest.max(bin_index)),
            None => (bin_index, bin_index),
        });
    }

    /// Notes a term first mentioned in the bin of index `bin_index`.
    fn note(&mut self, hash: u64, bin_index: i64) {
        if self.make_note_room(bin_index) {
            self.seen_once.insert(SeenOnce::new(hash, bin_index));
        }
    }

    /// Drops the older half of the notes or more, by whole bins.
    fn drop_older_notes(&mut self) {
        let Some((_, newest)) = self.note_span else {
            return;
        };
        let mut starts: Vec<i64> = self
            .seen_once
            .iter()
            .map(|seen| seen.bin_index(newest))
            .collect();
        if starts.is_empty() {
            return;
        }
        let middle = starts.len() / 2;
        let (_, cutoff, _) = starts.select_nth_unstable(middle);
        let cutoff = *cutoff;
        // The bins before the middle one; if none, the middle one too (all
        // in one bin: they all go).
        let keep_middle = starts.iter().any(|start| *start < cutoff);
        let before = self.seen_once.len();
        self.seen_once.retain_bins(newest, |start| {
            start > cutoff || (keep_middle && start == cutoff)
        });
        self.note_span = (!self.seen_once.is_empty()).then_some((cutoff, newest));
        self.notes_dropped += (before - self.seen_once.len()) as u64;
        self.sweep_above = self.seen_once.len() + self.seen_once.len() / 4 + 16;
    }

    /// The notes dropped early and the terms shed since the last call.
    pub(crate) fn take_losses(&mut self) -> (u64, u64) {
        (
            std::mem::take(&mut self.notes_dropped),
            std::mem::take(&mut self.terms_shed),
        )
    }

    /// Drops the notes of bins no longer kept, at most once per oldest kept
    /// bin (which alone decides what is stale: a sweep that freed nothing
    /// is not repeated for every new term).
    fn drop_stale_notes_once_per_bin(&mut self) {
        if self.full_sweep_at != self.oldest_live {
            self.full_sweep_at = self.oldest_live;
            self.drop_stale_notes();
        }
    }

    /// Whether `name` is noted as seen once, in the bin starting when.
    #[cfg(test)]
    pub(crate) fn seen_once_bin(&self, names: &TermNames, name: &str) -> Option<i64> {
        let hash = names.hash(name, crate::term_names::prefix_of(name));
        let (_, newest) = self.note_span?;
        self.seen_once
            .find(hash)
            .map(|slot| self.seen_once.get(slot).bin_index(newest) * self.bin_seconds.max(1))
    }

    /// The id of `name`, if the brand knows it.
    #[cfg(test)]
    pub(crate) fn find(&self, names: &TermNames, name: &str) -> Option<TermId> {
        let prefix = crate::term_names::prefix_of(name);
        self.by_name.find(names.hash(name, prefix), |id| {
            names.is(self.entries[id as usize].name, name, prefix)
        })
    }

    /// The name of `id` ("" for a free or unknown id).
    pub(crate) fn name<'names>(&self, names: &'names TermNames, id: TermId) -> &'names str {
        self.entries
            .get(id as usize)
            .map_or("", |entry| names.name(entry.name))
    }

    /// Asks for the entry of the term [`PREFETCH_DISTANCE`] places after
    /// `index` in `terms`: loops over a bin's terms read their entries in
    /// no order the hardware can guess, and waited on each in turn.
    #[inline(always)]
    pub(crate) fn prefetch_entry_ahead(&self, terms: &[BinTerm], index: usize) {
        if let Some(term) = terms.get(index + PREFETCH_DISTANCE) {
            self.prefetch_entry(term.id());
        }
    }

    /// Asks for the entry of `id`, if it has one.
    #[inline(always)]
    fn prefetch_entry(&self, id: TermId) {
        if let Some(entry) = self.entries.get(id as usize) {
            crate::prefetch::prefetch_read(entry);
        }
    }

    /// Asks for the name record of the term half [`PREFETCH_DISTANCE`]
    /// places after `index` (its entry asked for by
    /// [`Self::prefetch_entry_ahead`] earlier), and for the entry past it.
    #[inline(always)]
    pub(crate) fn prefetch_name_ahead(&self, names: &TermNames, terms: &[BinTerm], index: usize) {
        self.prefetch_entry_ahead(terms, index);
        if let Some(entry) = terms
            .get(index + PREFETCH_DISTANCE / 2)
            .and_then(|term| self.entries.get(term.id() as usize))
        {
            names.prefetch(entry.name);
        }
    }

    /// The bytes of [`Self::name`].
    pub(crate) fn name_bytes<'names>(&self, names: &'names TermNames, id: TermId) -> &'names [u8] {
        self.entries
            .get(id as usize)
            .map_or(&[], |entry| names.name_bytes(entry.name))
    }

    #[cfg(test)]
    pub(crate) fn entry(&self, id: TermId) -> Option<&TermEntry> {
        self.entries.get(id as usize)
    }

    pub(crate) fn entry_mut(&mut self, id: TermId) -> Option<&mut TermEntry> {
        self.entries.get_mut(id as usize)
    }

    /// Room held: entry slots (live and free) and allocated, and note slots.
    #[cfg(test)]
    pub(crate) fn room(&self) -> (usize, usize, usize) {
        (
            self.entries.len(),
            self.entries.capacity(),
            self.seen_once.capacity(),
        )
    }

    /// Its entry slots and notes by what they hold: a walk over every
    /// entry, for benchmarks.
    pub(crate) fn census(&self) -> TermCensus {
        let mut census = TermCensus {
            busy: self.busy.len(),
            notes: self.seen_once.len(),
            note_slots: self.seen_once.slots(),
            ..TermCensus::default()
        };
        for entry in &self.entries {
            if entry.is_free() {
                census.free += 1;
            } else if entry.is_held() {
                census.held += 1;
            } else {
                census.rate_only += 1;
            }
        }
        census
    }

    /// Heap bytes held, by part, from capacities (what was asked of the
    /// allocator, not what it spends on it).
    pub(crate) fn heap_bytes(&self) -> TableBytes {
        use std::mem::size_of;
        TableBytes {
            entries: self.entries.capacity() * size_of::<TermEntry>()
                + self.free.capacity() * size_of::<TermId>(),
            names: self.by_name.heap_bytes(),
            notes: self.seen_once.heap_bytes() + self.noted.capacity() * size_of::<u64>(),
            other: self.busy.capacity() * size_of::<BusyTerm>()
                + self.mention_held.capacity() * size_of::<TermId>()
                + hash_table_bytes::<ShedRate>(self.shed_rates.capacity()),
        }
    }

    /// Live terms (named ids).
    pub(crate) fn len(&self) -> usize {
        self.entries.len() - self.free.len()
    }

    /// The ids with a name.
    #[cfg(test)]
    pub(crate) fn live_ids(&self) -> impl Iterator<Item = TermId> + '_ {
        (0..self.entries.len() as TermId).filter(|id| !self.entries[*id as usize].is_free())
    }

    /// The terms some closed bin names, with their window counts.
    #[cfg(test)]
    pub(crate) fn window_terms(&self) -> impl Iterator<Item = (TermId, &TermEntry)> {
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, entry)| entry.closed_bins > 0)
            .map(|(id, entry)| (id as TermId, entry))
    }

    /// Starts the next mention: [`TermTable::hold_once`] holds each of its
    /// terms once.
    pub(crate) fn start_mention(&mut self) {
        self.noted.clear();
        self.mention_held.clear();
    }

    /// Holds `id` for an open bin's entry unless the current mention already
    /// does; says whether it did.
    pub(crate) fn hold_once(&mut self, id: TermId, negative: bool, toxic: bool) -> bool {
        if self.mention_held.contains(&id) {
            return false;
        }
        match self.entries.get_mut(id as usize) {
            Some(entry) => {
                self.mention_held.push(id);
                entry.open_entries += 1;
                entry.mood.follow(negative, toxic);
                true
            }
            _ => false,
        }
    }

    /// A new entry's mood, from the mention that gave it its id (its first
    /// mention was noted by hash only).
    pub(crate) fn start_mood(&mut self, id: TermId, negative: bool, toxic: bool) {
        if let Some(entry) = self.entries.get_mut(id as usize) {
            entry.mood = TermMood::of(negative, toxic);
        }
    }

    /// Merges a closing bin's entries into one per term (in order of first
    /// appearance, no sort; a term named more than [`MAX_PLACE_COUNT`]
    /// times takes another place where its count fills one) and moves
    /// their hold from open to closed. `positions` is scratch, indexed by
    /// id, for where each term's merged entry went (shared by every brand,
    /// so not a field of each entry): a term has one when its position is
    /// among the merged ones and names it (whatever an earlier merge left
    /// there).
    pub(crate) fn close_bin(&mut self, terms: &mut Vec<BinTerm>, positions: &mut Vec<u32>) {
        if positions.len() < self.entries.len() {
            positions.resize(self.entries.len(), 0);
        }
        let mut kept = 0;
        for index in 0..terms.len() {
            let place = terms[index];
            let (id, mut count) = (place.id(), place.count());
            let (Some(entry), Some(position)) = (
                self.entries.get_mut(id as usize),
                positions.get_mut(id as usize),
            ) else {
                continue;
            };
            entry.open_entries = entry.open_entries.saturating_sub(1);
            let merged_at = *position as usize;
            if merged_at < kept && terms[merged_at].id() == id {
                let merged = &mut terms[merged_at];
                let room = MAX_PLACE_COUNT - merged.count();
                *merged = BinTerm::new(id, merged.count() + count.min(room));
                if count <= room {
                    continue;
                }
                // Full: the rest starts the term's next place.
                count -= room;
            }
            *position = kept as u32;
            entry.closed_bins = entry.closed_bins.saturating_add(1);
            // `kept <= index`: the place read above is the last overwritten.
            terms[kept] = BinTerm::new(id, count);
            kept += 1;
        }
        terms.truncate(kept);
    }

    /// An open bin was dropped unclosed (its mentions could no longer be placed).
    pub(crate) fn release_open(&mut self, terms: &[BinTerm]) {
        for term in terms {
            if let Some(entry) = self.entries.get_mut(term.id() as usize) {
                entry.open_entries = entry.open_entries.saturating_sub(1);
            }
        }
    }

    /// A closed bin was dropped (its terms may then be forgotten).
    pub(crate) fn release_closed(&mut self, terms: &[BinTerm]) {
        for term in terms {
            if let Some(entry) = self.entries.get_mut(term.id() as usize) {
                // A saturated count no longer says when no bin names it.
                if entry.closed_bins != u16::MAX {
                    entry.closed_bins = entry.closed_bins.saturating_sub(1);
                }
            }
        }
    }

    /// The terms with [`MIN_TERM_COUNT`] or more mentions in some window,
    /// with their counts.
    /// (Each entry is asked for a few terms ahead: a busy brand's scan
    /// at every bin close waited on each entry's rate in turn.)
    pub(crate) fn busy_terms(&self) -> impl Iterator<Item = (&BusyTerm, &TermEntry)> {
        self.busy.iter().enumerate().map(|(position, busy)| {
            if let Some(ahead) = self.busy.get(position + PREFETCH_DISTANCE) {
                self.prefetch_entry(ahead.id);
            }
            (busy, &self.entries[busy.id as usize])
        })
    }

    /// The term's mentions in each window (closed bins only).
    #[cfg(test)]
    pub(crate) fn window_counts(&self, id: TermId) -> [u32; MAX_WINDOWS] {
        self.entries
            .get(id as usize)
            .map_or([0; MAX_WINDOWS], |entry| self.counts_of(entry))
    }

    fn counts_of(&self, entry: &TermEntry) -> [u32; MAX_WINDOWS] {
        match entry.windows.busy_position() {
            Some(position) => self
                .busy
                .get(position)
                .map_or([0; MAX_WINDOWS], |busy| busy.in_windows),
            None => entry.windows.quiet_counts(),
        }
    }

    /// A closed bin enters the first `slots` windows; `longest` is the
    /// slot of the longest of them.
    pub(crate) fn enter_windows(&mut self, terms: &[BinTerm], slots: usize, longest: usize) {
        for (index, term) in terms.iter().enumerate() {
            self.prefetch_entry_ahead(terms, index);
            let Some(entry) = self.entries.get_mut(term.id() as usize) else {
                continue;
            };
            let count = term.count();
            if let Some(busy) = entry
                .windows
                .busy_position()
                .and_then(|position| self.busy.get_mut(position))
            {
                for in_window in busy.in_windows.iter_mut().take(slots) {
                    *in_window += count;
                }
                continue;
            }
            if entry.windows.busy_position().is_none()
                && entry.windows.quiet_count(longest) + count < MIN_TERM_COUNT
            {
                // Still quiet in every window (the longest holds the most).
                entry.windows = entry.windows.plus_in_first(slots, count);
                continue;
            }
            let mut counts = entry.windows.quiet_counts();
            for in_window in counts.iter_mut().take(slots) {
                *in_window += count;
            }
            if counts[longest] >= MIN_TERM_COUNT {
                entry.windows = TermWindows::busy_at(self.busy.len());
                // 20 bytes each, 455k at 10k brands' busiest hour:
                // a sixteenth of room at most, not half.
                push_with_little_room(
                    &mut self.busy,
                    BusyTerm {
                        id: term.id(),
                        in_windows: counts,
                    },
                );
            } else {
                entry.windows = TermWindows::quiet(counts);
            }
        }
    }

    /// A closed bin leaves the window in `slot`; `longest` as above.
    pub(crate) fn leave_window(&mut self, terms: &[BinTerm], slot: usize, longest: usize) {
        for (index, term) in terms.iter().enumerate() {
            self.prefetch_entry_ahead(terms, index);
            let Some(entry) = self.entries.get_mut(term.id() as usize) else {
                continue;
            };
            let count = term.count();
            let Some(position) = entry.windows.busy_position() else {
                entry.windows = entry.windows.minus_in(slot, count);
                continue;
            };
            let Some(busy) = self.busy.get_mut(position) else {
                continue;
            };
            busy.in_windows[slot] -= count;
            if slot == longest && busy.in_windows[slot] < MIN_TERM_COUNT {
                let counts = self.unlist_busy(term.id());
                self.entries[term.id() as usize].windows = TermWindows::quiet(counts);
            }
        }
    }

    /// Takes `id` out of the busy list; returns the window counts it had
    /// there (its entry's are none until the caller sets them).
    fn unlist_busy(&mut self, id: TermId) -> [u32; MAX_WINDOWS] {
        let entry = &mut self.entries[id as usize];
        let Some(position) = entry.windows.busy_position() else {
            return entry.windows.quiet_counts();
        };
        entry.windows = TermWindows::NONE;
        if position >= self.busy.len() {
            return [0; MAX_WINDOWS];
        }
        let removed = self.busy.swap_remove(position);
        if let Some(moved) = self.busy.get(position) {
            self.entries[moved.id as usize].windows = TermWindows::busy_at(position);
        }
        removed.in_windows
    }

    /// The window counts of a closed bin's terms back to zero: every
    /// closed bin is being dropped (after a gap longer than any window).
    pub(crate) fn clear_windows(&mut self, terms: &[BinTerm]) {
        for term in terms {
            if let Some(entry) = self.entries.get_mut(term.id() as usize) {
                entry.windows = TermWindows::NONE;
            }
        }
        for busy in self.busy.drain(..) {
            self.entries[busy.id as usize].windows = TermWindows::NONE;
        }
    }

    /// Forgets terms no bin names that are too rare to matter (a rate under
    /// `rare_rate`) and, past `limit` live terms, the rarest others, keeping
    /// three quarters of `limit`. Runs when the table has grown by a
    /// quarter since the last time (amortises its scan).
    pub(crate) fn evict(
        &mut self,
        names: &mut TermNames,
        bin_index: i64,
        limit: usize,
        rare_rate: f64,
    ) {
        if self.len() > self.evict_above {
            self.evict_now(names, bin_index, limit, rare_rate);
        }
    }

    /// [`Self::evict`] whether or not the table has grown, and the notes of
    /// bins no longer kept dropped whether or not they have: a brand whose
    /// volume fell after a busy hour stops adding terms and notes, and
    /// would keep that hour's thousands of unheld terms and stale notes
    /// (and their room) for good.
    pub(crate) fn tidy(
        &mut self,
        names: &mut TermNames,
        bin_index: i64,
        limit: usize,
        rare_rate: f64,
    ) {
        self.evict_now(names, bin_index, limit, rare_rate);
        self.drop_stale_notes();
    }

    fn evict_now(&mut self, names: &mut TermNames, bin_index: i64, limit: usize, rare_rate: f64) {
        let mut unheld: Vec<(f64, TermId)> = Vec::new();
        for id in 0..self.entries.len() {
            let entry = &self.entries[id];
            if entry.is_held() || entry.is_free() {
                continue;
            }
            let rate = entry.rate.at(bin_index);
            if rate < rare_rate {
                self.forget(names, id as TermId);
            } else {
                unheld.push((rate, id as TermId));
            }
        }
        let keep = limit * 3 / 4;
        if self.len() > limit && unheld.len() > keep {
            // Ties by name, so that which term goes does not depend on ids.
            unheld.sort_by(|left, right| {
                left.0
                    .total_cmp(&right.0)
                    .then_with(|| self.name(names, left.1).cmp(self.name(names, right.1)))
            });
            let excess = unheld.len() - keep;
            if let Some((frontier, _)) = unheld.get(excess.wrapping_sub(1)) {
                self.raise_forgotten_rate(*frontier, bin_index);
            }
            for (_, id) in unheld.into_iter().take(excess) {
                self.forget(names, id);
            }
        }
        self.evict_above = self.len() + self.len() / 4 + 16;
    }

    /// Past `limit` live terms (0: no limit), forgets the quarter of
    /// `limit` least mentioned of late, held or not, and takes them out of
    /// every bin (`bins`: the term places of the brand's open and closed
    /// bins). Of late is the most mentions per bin over the term windows
    /// (`windows`, in bins, by slot), open bins included: a term rising in
    /// the shortest window outranks a steady one of the hour. Ties go to
    /// the lower baseline rate, then the name. A term shed and mentioned
    /// again starts over (a first mention), its counts gone but its rate
    /// kept by hash unless too rare (`rare_rate`): the bound on a brand's
    /// memory, whatever its volume and vocabulary.
    pub(crate) fn shed<'bins>(
        &mut self,
        names: &mut TermNames,
        limit: usize,
        windows: &[usize],
        bin_index: i64,
        rare_rate: f64,
        bins: impl Iterator<Item = &'bins mut Vec<BinTerm>>,
    ) {
        let limit = effective_term_limit(limit);
        if self.len() <= limit {
            return;
        }
        let mut ranked: Vec<(f64, f64, TermId)> = Vec::with_capacity(self.len());
        for (id, entry) in self.entries.iter().enumerate() {
            if entry.is_free() {
                continue;
            }
            let of_late = self
                .counts_of(entry)
                .iter()
                .zip(windows)
                .map(|(count, bins)| f64::from(count + entry.open_entries) / (*bins).max(1) as f64)
                .fold(0.0, f64::max);
            ranked.push((of_late, entry.rate.at(bin_index), id as TermId));
        }
        let excess = ranked.len() - limit * 3 / 4;
        let order = |left: &(f64, f64, TermId), right: &(f64, f64, TermId)| {
            left.0
                .total_cmp(&right.0)
                .then(left.1.total_cmp(&right.1))
                .then_with(|| self.name(names, left.2).cmp(self.name(names, right.2)))
        };
        if excess < ranked.len() {
            ranked.select_nth_unstable_by(excess, order);
        }
        let mut is_shed = vec![false; self.entries.len()];
        for (_, _, id) in &ranked[..excess] {
            is_shed[*id as usize] = true;
        }
        for terms in bins {
            terms.retain(|term| !is_shed[term.id() as usize]);
        }
        for (_, _, id) in &ranked[..excess] {
            self.unlist_busy(*id);
            let entry = &mut self.entries[*id as usize];
            entry.open_entries = 0;
            entry.closed_bins = 0;
            entry.windows = TermWindows::NONE;
            let rate = entry.rate.at(bin_index);
            if let Some(hash) = self.forget(names, *id) {
                if rate >= rare_rate {
                    self.shed_rates
                        .insert_unique(hash, ShedRate { hash, rate }, |shed| shed.hash);
                }
            }
        }
        if self.shed_rates.len() > limit {
            // The lower half of the rates goes (amortised: once per half).
            let mut rates: Vec<f64> = self.shed_rates.iter().map(|shed| shed.rate).collect();
            let middle = rates.len() / 2;
            let (_, cutoff, _) = rates.select_nth_unstable_by(middle, f64::total_cmp);
            let cutoff = *cutoff;
            self.raise_forgotten_rate(cutoff, bin_index);
            self.shed_rates.retain(|shed| shed.rate > cutoff);
        }
        self.terms_shed += excess as u64;
    }

    /// Whether a busier hour left the table's room unused: its entries
    /// free as `fit` says, or its notes or shed rates filling under a
    /// quarter of their tables. (Checked at every bin close: comparisons
    /// only.)
    pub(crate) fn has_room_to_give_back(&self, fit: Fit) -> bool {
        self.entries_to_fit(fit)
            || mostly_unused(self.seen_once.len(), self.seen_once.capacity())
            || mostly_unused(self.shed_rates.len(), self.shed_rates.capacity())
    }

    /// Whether the entries are worth renaming into fewer slots: under half
    /// of them live at any bin close; at the hourly tidy, a fifth free.
    fn entries_to_fit(&self, fit: Fit) -> bool {
        let live = self.len();
        match fit {
            Fit::MostlyFree => self.entries.len() > 2 * live + FIT_SLACK,
            Fit::Hourly => self.entries.len() > live + live / 4 + FIT_SLACK,
        }
    }

    /// Gives back the room a busier hour left ([`Self::has_room_to_give_back`]):
    /// live terms take the lowest ids, in the order they had (`bins`: the
    /// term places of the brand's open and closed bins, renamed too), the
    /// entries shrink to them, and the notes and shed rates to theirs.
    /// Tables and vectors otherwise keep the size of their busiest moment
    /// for good: a day's peak hour, or a brand's one viral day, would set a
    /// brand's memory until it is forgotten. Ids are all that change: bins
    /// order terms by first mention and ties go by name, not by id.
    pub(crate) fn give_back_room<'bins>(
        &mut self,
        names: &TermNames,
        fit: Fit,
        bins: impl Iterator<Item = &'bins mut Vec<BinTerm>>,
    ) {
        if self.entries_to_fit(fit) {
            let mut renamed = vec![TermId::MAX; self.entries.len()];
            let mut live = Vec::with_capacity(self.len() + self.len() / 8 + 4);
            for (id, entry) in self.entries.drain(..).enumerate() {
                if !entry.is_free() {
                    renamed[id] = live.len() as TermId;
                    live.push(entry);
                }
            }
            self.entries = live;
            self.free = Vec::new();
            self.by_name.rename(&renamed);
            for busy in &mut self.busy {
                busy.id = renamed[busy.id as usize];
            }
            self.busy.shrink_to_fit();
            for terms in bins {
                for term in terms.iter_mut() {
                    *term = term.renamed(renamed[term.id() as usize]);
                }
            }
            let entries = &self.entries;
            self.by_name
                .shrink_to_fit(|id| names.hash_of(entries[id as usize].name));
        }
        if mostly_unused(self.seen_once.len(), self.seen_once.capacity()) {
            self.seen_once.shrink_to_fit();
        }
        if mostly_unused(self.shed_rates.len(), self.shed_rates.capacity()) {
            self.shed_rates.shrink_to(0, |shed| shed.hash);
        }
    }

    /// Asserts that the holds are what the bins say: `closed_bins` and
    /// `open_entries` per id, recounted from the bins; every window count is
    /// zero past `windows`, and the name index agrees with the entries.
    #[cfg(test)]
    pub(crate) fn check_holds(
        &self,
        names: &TermNames,
        closed_bins: &std::collections::HashMap<TermId, u32>,
        open_entries: &std::collections::HashMap<TermId, u32>,
        windows: usize,
    ) {
        for (id, entry) in self.entries.iter().enumerate() {
            let id = id as TermId;
            let name = names.name(entry.name);
            assert_eq!(
                u32::from(entry.closed_bins),
                closed_bins.get(&id).copied().unwrap_or(0),
                "{name}"
            );
            assert_eq!(
                entry.open_entries,
                open_entries.get(&id).copied().unwrap_or(0),
                "{name}"
            );
            let counts = self.counts_of(entry);
            assert!(counts[windows..].iter().all(|count| *count == 0));
            if entry.closed_bins == 0 {
                assert!(counts.iter().all(|count| *count == 0), "{name}");
            }
            if entry.is_free() {
                assert!(!entry.is_held());
                assert!(self.free.contains(&id));
            } else {
                assert_eq!(self.find(names, name), Some(id));
            }
        }
        assert_eq!(self.by_name.len(), self.len());
        for (id, entry) in self.entries.iter().enumerate() {
            let busy = self
                .counts_of(entry)
                .iter()
                .any(|count| *count >= MIN_TERM_COUNT);
            let name = names.name(entry.name);
            let listed = self.busy.iter().any(|busy| busy.id == id as TermId);
            assert_eq!(busy, listed, "{name}");
        }
        for (position, busy) in self.busy.iter().enumerate() {
            assert_eq!(
                self.entries[busy.id as usize].windows.busy_position(),
                Some(position)
            );
        }
    }

    /// Notes that terms up to `rate` (as of `bin_index`) were forgotten.
    fn raise_forgotten_rate(&mut self, rate: f64, bin_index: i64) {
        if rate > self.forgotten_rate.at(bin_index) {
            self.forgotten_rate = TermRate::new(rate, bin_index);
        }
    }

    /// Frees `id` and lets its name go; returns the name's hash if it was
    /// live.
    fn forget(&mut self, names: &mut TermNames, id: TermId) -> Option<u64> {
        let entry = self.entries.get_mut(id as usize)?;
        if entry.is_free() {
            return None;
        }
        let name = std::mem::replace(&mut entry.name, NO_NAME);
        let hash = names.hash_of(name);
        self.by_name.remove(hash, id);
        names.release(name);
        self.free.push(id);
        Some(hash)
    }

    /// Renames its entries' names as the names were
    /// ([`TermNames::give_back_room`]); the index, by the names' hashes,
    /// stays.
    pub(crate) fn rename_names(&mut self, renamed: &[NameId]) {
        for entry in &mut self.entries {
            if let Some(new) = renamed.get(entry.name as usize) {
                entry.name = *new;
            }
        }
    }

    /// Lets go of every name the table holds (its brand is forgotten).
    pub(crate) fn release_names(&mut self, names: &mut TermNames) {
        for entry in &mut self.entries {
            if !entry.is_free() {
                names.release(std::mem::replace(&mut entry.name, NO_NAME));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::term_names::prefix_of;

    /// [`TermTable::sight`] of `name`, its prefix and hash computed.
    fn sight_named(
        table: &mut TermTable,
        names: &mut TermNames,
        name: &str,
        bin_start: i64,
        is_live: impl Fn(i64) -> bool,
    ) -> Sighting {
        let prefix = prefix_of(name);
        let hash = names.hash(name, prefix);
        table.sight(names, (name, prefix, hash), bin_start, is_live)
    }

    fn entries(ids: &[TermId]) -> Vec<BinTerm> {
        ids.iter().map(|id| BinTerm::new(*id, 1)).collect()
    }

    /// Interns `name` with its rate set to `rate` as of bin 0.
    fn intern_at_rate(
        table: &mut TermTable,
        names: &mut TermNames,
        name: &str,
        rate: f64,
    ) -> TermId {
        let id = table.intern(names, name);
        if let Some(entry) = table.entry_mut(id) {
            entry.rate = TermRate::new(rate, 0);
        }
        id
    }

    proptest::proptest! {
        /// A table finds each name under the id it gave it, and names share
        /// an id exactly when equal (the comparison itself: `term_names`).
        #[test]
        fn names_share_an_id_exactly_when_equal(
            term_names in proptest::collection::vec("(abcdefgh|abc|ab\\x00)?[a-c\\x00é]{1,10}", 1..40),
        ) {
            let mut table = TermTable::default();
            let mut names = TermNames::default();
            let ids: Vec<TermId> = term_names.iter().map(|name| table.intern(&mut names, name)).collect();
            for (left, left_id) in term_names.iter().zip(&ids) {
                proptest::prop_assert_eq!(table.name(&names, *left_id), left.as_str());
                proptest::prop_assert_eq!(table.find(&names, left), Some(*left_id));
                for (right, right_id) in term_names.iter().zip(&ids) {
                    proptest::prop_assert_eq!(left == right, left_id == right_id);
                }
            }
        }
    }

    #[test]
    fn a_term_entry_is_24_bytes_and_a_bin_place_4() {
        assert_eq!(std::mem::size_of::<TermRate>(), 8);
        assert_eq!(std::mem::size_of::<TermEntry>(), 24);
        assert_eq!(std::mem::size_of::<BinTerm>(), 4);
    }

    #[test]
    fn a_place_keeps_its_id_and_count_apart() {
        let top_id = MAX_TERM_IDS as TermId - 1;
        for (id, count) in [
            (0, 1),
            (top_id, 1),
            (0, MAX_PLACE_COUNT),
            (top_id, MAX_PLACE_COUNT),
            (12_345, 678),
        ] {
            let place = BinTerm::new(id, count);
            assert_eq!((place.id(), place.count()), (id, count));
            assert_eq!(place.renamed(7).id(), 7);
            assert_eq!(place.renamed(7).count(), count);
        }
    }

    /// Half the ids a place can name, whatever the limit asked (no limit
    /// included).
    #[test]
    fn the_term_limit_stays_under_the_ids_a_place_names() {
        assert_eq!(effective_term_limit(0), MAX_TERM_IDS / 2);
        assert_eq!(effective_term_limit(16_384), 16_384);
        assert_eq!(effective_term_limit(usize::MAX), MAX_TERM_IDS / 2);
    }

    /// A term's window counts move into the busy list at its third mention
    /// in the longest window and back into its entry below that, exact
    /// both ways, and a term moved within the list by another's leaving is
    /// found at its new place (fails without updating it).
    #[test]
    fn window_counts_move_between_the_entry_and_the_busy_list() {
        let mut table = TermTable::default();
        let mut names = TermNames::default();
        let (refund, delay) = (
            table.intern(&mut names, "refund"),
            table.intern(&mut names, "delay"),
        );
        let place = |id: TermId, count: u32| [BinTerm::new(id, count)];
        let busy_ids = |table: &TermTable| -> Vec<TermId> {
            table.busy_terms().map(|(busy, _)| busy.id).collect()
        };
        // Three windows; the longest in slot 2.
        table.enter_windows(&[BinTerm::new(refund, 2), BinTerm::new(delay, 1)], 3, 2);
        assert_eq!(table.window_counts(refund), [2, 2, 2, 0]);
        assert!(busy_ids(&table).is_empty());
        table.enter_windows(&place(delay, 5), 3, 2);
        table.enter_windows(&place(refund, 1), 3, 2);
        assert_eq!(busy_ids(&table), [delay, refund]);
        assert_eq!(table.window_counts(delay), [6, 6, 6, 0]);
        assert_eq!(table.window_counts(refund), [3, 3, 3, 0]);
        // The bin of 5 leaves the windows, shortest first.
        table.leave_window(&place(delay, 5), 0, 2);
        table.leave_window(&place(delay, 5), 1, 2);
        assert_eq!(table.window_counts(delay), [1, 1, 6, 0]);
        table.leave_window(&place(delay, 5), 2, 2);
        assert_eq!(busy_ids(&table), [refund]);
        assert_eq!(table.window_counts(delay), [1, 1, 1, 0]);
        assert_eq!(table.window_counts(refund), [3, 3, 3, 0]);
        for slot in 0..3 {
            table.leave_window(&place(refund, 2), slot, 2);
        }
        assert!(busy_ids(&table).is_empty());
        assert_eq!(table.window_counts(refund), [1, 1, 1, 0]);
        table.clear_windows(&place(refund, 1));
        assert_eq!(table.window_counts(refund), [0; MAX_WINDOWS]);
    }

    /// A term is held once per mention, and again by the next.
    #[test]
    fn a_mention_holds_a_term_once() {
        let mut table = TermTable::default();
        let mut names = TermNames::default();
        let (acme, bolt) = (
            table.intern(&mut names, "acme"),
            table.intern(&mut names, "bolt"),
        );
        table.start_mention();
        assert!(table.hold_once(acme, false, false));
        assert!(table.hold_once(bolt, false, false));
        assert!(!table.hold_once(acme, false, false), "once per mention");
        table.start_mention();
        assert!(table.hold_once(acme, false, false));
        assert_eq!(table.entry(acme).map(|entry| entry.open_entries), Some(2));
        assert_eq!(table.entry(bolt).map(|entry| entry.open_entries), Some(1));
    }

    /// A merge reads only its own positions: scratch left by other merges
    /// (here pointing every id at the first place) does not merge two
    /// terms into one place.
    #[test]
    fn a_merge_ignores_positions_left_by_others() {
        let mut table = TermTable::default();
        let mut names = TermNames::default();
        let ids: Vec<TermId> = ["acme", "bolt", "crux"]
            .iter()
            .map(|name| table.intern(&mut names, name))
            .collect();
        let mut bin = Vec::new();
        for id in [ids[1], ids[0], ids[1], ids[2], ids[0], ids[1]] {
            table.start_mention();
            table.hold_once(id, false, false);
            bin.push(BinTerm::once(id));
        }
        let mut positions = vec![0; 16];
        table.close_bin(&mut bin, &mut positions);
        assert_eq!(
            bin,
            vec![
                BinTerm::new(ids[1], 3),
                BinTerm::new(ids[0], 2),
                BinTerm::new(ids[2], 1)
            ]
        );
    }

    /// The census sorts entries by what holds them: a bin (busy at three
    /// mentions in a window), only a rate, or nothing (a free slot).
    #[test]
    fn the_census_counts_held_busy_rate_only_and_free_entries() {
        let mut table = TermTable::default();
        let mut names = TermNames::default();
        let acme = table.intern(&mut names, "acme");
        let bolt = table.intern(&mut names, "bolt");
        let gone = table.intern(&mut names, "gone");
        table.forget(&mut names, gone);
        let mut bin = Vec::new();
        for _ in 0..3 {
            table.start_mention();
            if table.hold_once(acme, false, false) {
                bin.push(BinTerm::new(acme, 1));
            }
        }
        let census = table.census();
        assert_eq!(
            (census.held, census.busy, census.rate_only, census.free),
            (1, 0, 1, 1)
        );
        table.close_bin(&mut bin, &mut Vec::new());
        table.enter_windows(&bin, 1, 0);
        let census = table.census();
        assert_eq!(
            (census.held, census.busy, census.rate_only, census.free),
            (1, 1, 1, 1)
        );
        assert_eq!(table.entry(bolt).map(TermEntry::is_held), Some(false));
        table.leave_window(&bin, 0, 0);
        table.release_closed(&bin);
        let census = table.census();
        assert_eq!(
            (census.held, census.busy, census.rate_only, census.free),
            (0, 0, 2, 1)
        );
    }

    /// A term named more than [`MAX_PLACE_COUNT`] times in one bin takes
    /// more places, in order, each held: the windows count every mention,
    /// take out what they added, and the term is free once they are gone.
    #[test]
    fn a_full_place_starts_another_and_the_windows_stay_exact_sums() {
        let mut table = TermTable::default();
        let mut names = TermNames::default();
        let (brand, other) = (
            table.intern(&mut names, "acme"),
            table.intern(&mut names, "other"),
        );
        let mentions = 2 * MAX_PLACE_COUNT + 100;
        let mut bin = Vec::new();
        for mention in 0..mentions {
            table.start_mention();
            if table.hold_once(brand, false, false) {
                bin.push(BinTerm::once(brand));
            }
            if mention == 5 && table.hold_once(other, false, false) {
                bin.push(BinTerm::once(other));
            }
        }
        table.close_bin(&mut bin, &mut Vec::new());
        assert_eq!(
            bin,
            vec![
                BinTerm::new(brand, MAX_PLACE_COUNT),
                BinTerm::new(other, 1),
                BinTerm::new(brand, MAX_PLACE_COUNT),
                BinTerm::new(brand, 100),
            ]
        );
        assert_eq!(table.entry(brand).map(|entry| entry.closed_bins), Some(3));
        table.enter_windows(&bin, 3, 2);
        let in_windows = |table: &TermTable| table.window_counts(brand);
        assert_eq!(in_windows(&table), [mentions, mentions, mentions, 0]);
        assert_eq!(table.busy_terms().count(), 1);
        for slot in 0..3 {
            table.leave_window(&bin, slot, 2);
        }
        assert_eq!(in_windows(&table), [0; MAX_WINDOWS]);
        assert_eq!(table.busy_terms().count(), 0);
        table.release_closed(&bin);
        assert_eq!(table.entry(brand).map(|entry| entry.is_held()), Some(false));
    }

    /// With every id a place can name taken, a term's second mention gets
    /// no entry (counted as a dropped note) until an id is free again.
    #[test]
    fn a_term_past_the_ids_waits_for_a_free_one() {
        let mut table = TermTable::default();
        let mut names = TermNames::default();
        for index in 0..MAX_TERM_IDS {
            table.intern(&mut names, &format!("w{index}"));
        }
        let sight = |table: &mut TermTable, names: &mut TermNames| {
            table.start_mention();
            sight_named(table, names, "newcomer", 0, |_| true)
        };
        assert_eq!(sight(&mut table, &mut names), Sighting::First);
        assert_eq!(sight(&mut table, &mut names), Sighting::First);
        assert_eq!(table.take_losses(), (1, 0));
        assert_eq!(table.len(), MAX_TERM_IDS);
        let freed = table.find(&names, "w7").expect("w7");
        table.forget(&mut names, freed);
        assert_eq!(
            sight(&mut table, &mut names),
            Sighting::Second {
                id: freed,
                first_bin: 0
            }
        );
    }

    /// A hold count at its limit stays there: the term is never forgotten
    /// while a bin may name it (fails if it is taken down).
    #[test]
    fn a_saturated_hold_stays() {
        let mut table = TermTable::default();
        let mut names = TermNames::default();
        let acme = table.intern(&mut names, "acme");
        if let Some(entry) = table.entry_mut(acme) {
            entry.closed_bins = u16::MAX - 1;
        }
        let mut bin = vec![BinTerm::once(acme)];
        table.start_mention();
        assert!(table.hold_once(acme, false, false));
        table.close_bin(&mut bin, &mut Vec::new());
        assert_eq!(
            table.entry(acme).map(|entry| entry.closed_bins),
            Some(u16::MAX)
        );
        table.release_closed(&bin);
        assert_eq!(
            table.entry(acme).map(|entry| entry.closed_bins),
            Some(u16::MAX)
        );
    }

    #[test]
    fn rates_decay_as_powi_computes_bit_for_bit() {
        // Rates a single-precision float holds exactly, as stored.
        for rate in [0.0, 2f64.powi(-30), 0.375, 3.0, 1234.5] {
            for age in (0..=MAX_DECAY_AGE as i32).chain([MAX_DECAY_AGE as i32 + 7]) {
                let term = TermRate::new(rate, 10);
                let clamped = age.min(MAX_DECAY_AGE as i32);
                let expected = rate * (1.0 - LEVEL_ALPHA).powi(clamped);
                let got = term.at(10 + i64::from(age));
                assert_eq!(got.to_bits(), expected.to_bits(), "rate {rate}, age {age}");
            }
        }
    }

    #[test]
    fn closing_a_bin_merges_entries_and_moves_the_hold() {
        let mut table = TermTable::default();
        let mut names = TermNames::default();
        let refund = table.intern(&mut names, "refund");
        let delay = table.intern(&mut names, "delay");
        assert_eq!(table.intern(&mut names, "refund"), refund);
        // Three mentions, one naming refund twice.
        let mut bin = Vec::new();
        for mention in [&[refund, delay, refund][..], &[refund], &[refund]] {
            table.start_mention();
            for id in mention {
                if table.hold_once(*id, false, false) {
                    bin.push(BinTerm::new(*id, 1));
                }
            }
        }
        assert_eq!(bin.len(), 4);
        table.close_bin(&mut bin, &mut Vec::new());
        assert_eq!(bin, vec![BinTerm::new(refund, 3), BinTerm::new(delay, 1)]);
        for id in [refund, delay] {
            let entry = table.entry(id).expect("entry");
            assert_eq!((entry.open_entries, entry.closed_bins), (0, 1));
        }
        // A second bin with the same term: one more closed bin, one listing.
        let mut second = entries(&[delay]);
        table.start_mention();
        assert!(table.hold_once(delay, false, false));
        table.close_bin(&mut second, &mut Vec::new());
        assert_eq!(table.entry(delay).map(|entry| entry.closed_bins), Some(2));
        let mut listed: Vec<TermId> = table.window_terms().map(|(id, _)| id).collect();
        listed.sort_unstable();
        assert_eq!(listed, vec![refund, delay]);
        table.release_closed(&bin);
        let listed: Vec<TermId> = table.window_terms().map(|(id, _)| id).collect();
        assert_eq!(listed, vec![delay]);
        assert_eq!(
            table.entry(refund).map(|entry| entry.is_held()),
            Some(false)
        );
    }

    #[test]
    fn a_term_gets_an_entry_at_its_second_mention_in_the_kept_bins() {
        let mut table = TermTable::default();
        let mut names = TermNames::default();
        let kept = |start: i64| start >= 60;
        let sight = |table: &mut TermTable, names: &mut TermNames, name: &str, bin_start: i64| {
            sight_named(table, names, name, bin_start, kept)
        };
        for name in ["refund", "a-longer-term-name"] {
            table.start_mention();
            assert_eq!(sight(&mut table, &mut names, name, 60), Sighting::First);
            // Twice in one mention is one mention.
            assert_eq!(sight(&mut table, &mut names, name, 60), Sighting::First);
            assert_eq!(table.find(&names, name), None);
            assert_eq!(table.seen_once_bin(&names, name), Some(60));
            table.start_mention();
            let Sighting::Second { id, first_bin } = sight(&mut table, &mut names, name, 120)
            else {
                panic!("{name}: no entry at the second mention");
            };
            assert_eq!((table.name(&names, id), first_bin), (name, 60));
            assert_eq!(table.seen_once_bin(&names, name), None);
            table.start_mention();
            assert_eq!(
                sight(&mut table, &mut names, name, 120),
                Sighting::Known(id)
            );
        }
        assert_eq!(table.len(), 2);
        // A first mention in a bin no longer kept is out of every window:
        // the next is a first mention again.
        table.start_mention();
        assert_eq!(sight(&mut table, &mut names, "delay", 0), Sighting::First);
        table.start_mention();
        assert_eq!(sight(&mut table, &mut names, "delay", 120), Sighting::First);
        assert_eq!(table.seen_once_bin(&names, "delay"), Some(120));
        // Notes of bins no longer kept are swept.
        for index in 0..40 {
            table.start_mention();
            sight(&mut table, &mut names, &format!("old{index}"), 0);
        }
        table.sweep_seen_once(60);
        assert_eq!(table.seen_once_bin(&names, "old0"), None);
        assert_eq!(table.seen_once_bin(&names, "old39"), None);
        assert_eq!(table.seen_once_bin(&names, "delay"), Some(120));
        assert_eq!(table.len(), 2);
    }

    /// Past the limit the least mentioned of late go, the lowest rates
    /// first among equals; one that comes back gets the rate it had then.
    #[test]
    fn a_shed_term_that_comes_back_gets_its_rate_back() {
        let mut table = TermTable::with_limit(4, 60);
        let mut names = TermNames::default();
        for (index, rate) in [0.5, 0.4, 0.3, 0.2, 0.1, 0.001].iter().enumerate() {
            intern_at_rate(&mut table, &mut names, &format!("t{index}"), *rate);
        }
        table.shed(&mut names, 4, &[10, 30, 60], 0, 0.01, std::iter::empty());
        // Six over four: down to three (none mentioned of late).
        assert_eq!(table.len(), 3);
        assert!(table.find(&names, "t2").is_some() && table.find(&names, "t3").is_none());
        assert_eq!(table.take_losses(), (0, 3));
        let sight = |table: &mut TermTable, names: &mut TermNames, name: &str, bin: i64| {
            table.start_mention();
            sight_named(table, names, name, bin, |_| true)
        };
        // t4 comes back 100 bins later, twice: its rate as when shed, as of
        // now (it was mentioned meanwhile, uncounted).
        assert_eq!(sight(&mut table, &mut names, "t4", 6000), Sighting::First);
        let Sighting::Second { id, .. } = sight(&mut table, &mut names, "t4", 6000) else {
            panic!("no entry for t4");
        };
        // (As stored: in single precision.)
        assert_eq!(
            table.entry(id).map(|entry| entry.rate.at(100)),
            Some(f64::from(0.1_f32))
        );
        // t5's rate was too rare to remember: it starts with none.
        sight(&mut table, &mut names, "t5", 6000);
        let Sighting::Second { id, .. } = sight(&mut table, &mut names, "t5", 6000) else {
            panic!("no entry for t5");
        };
        assert_eq!(table.entry(id).map(|entry| entry.rate.at(100)), Some(0.0));
    }

    /// At the note limit the older half of the notes goes (whole bins), so
    /// that new terms are still noted: a flood of new words cannot lock a
    /// brand's new terms out, and a term coming back soon finds its note.
    #[test]
    fn at_the_note_limit_the_older_notes_make_room() {
        let mut table = TermTable::with_limit(64, 60);
        let mut names = TermNames::default();
        let kept = |_: i64| true;
        let sight = |table: &mut TermTable, names: &mut TermNames, name: &str, bin: i64| {
            table.start_mention();
            sight_named(table, names, name, bin, kept)
        };
        for index in 0..64 {
            assert_eq!(
                sight(&mut table, &mut names, &format!("a{index}"), 0),
                Sighting::First
            );
            assert_eq!(
                sight(&mut table, &mut names, &format!("b{index}"), 60),
                Sighting::First
            );
        }
        assert_eq!(table.take_losses(), (0, 0));
        // 128 notes: the limit. The next new term drops bin 0's.
        assert_eq!(sight(&mut table, &mut names, "fresh", 120), Sighting::First);
        assert_eq!(table.take_losses(), (64, 0));
        assert_eq!(table.seen_once_bin(&names, "a0"), None);
        assert_eq!(table.seen_once_bin(&names, "a63"), None);
        assert_eq!(table.seen_once_bin(&names, "b0"), Some(60));
        assert_eq!(table.seen_once_bin(&names, "fresh"), Some(120));
        // A kept note still makes an entry at the second mention; a dropped
        // one starts over.
        assert!(matches!(
            sight(&mut table, &mut names, "b5", 120),
            Sighting::Second { first_bin: 60, .. }
        ));
        assert_eq!(sight(&mut table, &mut names, "a5", 120), Sighting::First);
        // All notes in one bin: they all go (a bin is the unit of age).
        let mut table = TermTable::with_limit(8, 60);
        let mut names = TermNames::default();
        for index in 0..16 {
            assert_eq!(
                sight(&mut table, &mut names, &format!("c{index}"), 0),
                Sighting::First
            );
        }
        assert_eq!(sight(&mut table, &mut names, "d", 0), Sighting::First);
        assert_eq!(table.take_losses(), (16, 0));
        assert_eq!(table.seen_once_bin(&names, "d"), Some(0));
        // No limit: the default table notes far more.
        let mut table = TermTable::default();
        let mut names = TermNames::default();
        for index in 0..1000 {
            assert_eq!(
                sight(&mut table, &mut names, &format!("e{index}"), 0),
                Sighting::First
            );
        }
        assert_eq!(table.take_losses(), (0, 0));
    }

    /// A mention of `name` alone in the bin starting at `bin_start`, the
    /// bins from `first_kept` on kept.
    fn sight_alone(
        table: &mut TermTable,
        names: &mut TermNames,
        name: &str,
        bin_start: i64,
        first_kept: i64,
    ) -> Sighting {
        table.start_mention();
        sight_named(table, names, name, bin_start, |start| start >= first_kept)
    }

    /// Notes of bins no longer kept make room before the notes grow: the
    /// table would otherwise keep the size of the day's busiest hour plus
    /// its stale notes.
    #[test]
    fn stale_notes_make_room_before_the_notes_grow() {
        let mut table = TermTable::default();
        let mut names = TermNames::default();
        let sight = |table: &mut TermTable, names: &mut TermNames, name: &str, bin_start: i64| {
            sight_alone(table, names, name, bin_start, 60)
        };
        for index in 0..100 {
            sight(&mut table, &mut names, &format!("old{index}"), 0);
        }
        // A regular sweep that frees nothing: the next waits for 141 notes.
        table.sweep_seen_once(0);
        let size = table.seen_once.slots();
        let mut fresh = 0;
        // `capacity` is what fits before the table grows or rehashes.
        while table.seen_once.len() < table.seen_once.capacity() {
            sight(&mut table, &mut names, &format!("new{fresh}"), 60);
            fresh += 1;
        }
        // Bin 0 leaves; too few notes for a regular sweep.
        table.sweep_seen_once(60);
        assert_eq!(table.seen_once_bin(&names, "old0"), Some(0));
        assert_eq!(sight(&mut table, &mut names, "fresh", 60), Sighting::First);
        assert_eq!(table.seen_once.slots(), size);
        assert_eq!(table.seen_once_bin(&names, "old0"), None);
        assert_eq!(table.seen_once.len(), fresh + 1);
        // With nothing stale, the notes grow as before.
        for index in 0..200 {
            assert_eq!(
                sight(&mut table, &mut names, &format!("more{index}"), 60),
                Sighting::First
            );
        }
        assert!(table.seen_once.slots() > size);
        assert_eq!(table.seen_once.len(), fresh + 201);
    }

    /// A sweep at capacity that frees under a sixteenth of the notes (a
    /// busy brand's oldest bin, each minute) grows the table too, or each
    /// next bin would sweep the whole table again for as little.
    #[test]
    fn a_sweep_that_frees_little_grows_the_notes_at_once() {
        let mut table = TermTable::default();
        let mut names = TermNames::default();
        let sight = |table: &mut TermTable, names: &mut TermNames, name: &str, bin_start: i64| {
            sight_alone(table, names, name, bin_start, 60)
        };
        for index in 0..2 {
            sight(&mut table, &mut names, &format!("old{index}"), 0);
        }
        for index in 0..250 {
            sight(&mut table, &mut names, &format!("new{index}"), 60);
        }
        let mut fresh = 250;
        // A regular sweep that frees nothing: the next waits for a quarter
        // more, past the table's capacity.
        table.sweep_seen_once(0);
        while table.seen_once.len() < table.seen_once.capacity() {
            sight(&mut table, &mut names, &format!("new{fresh}"), 60);
            fresh += 1;
        }
        let size = table.seen_once.slots();
        // Bin 0 leaves: two notes of over 250 are stale.
        table.sweep_seen_once(60);
        assert_eq!(table.seen_once_bin(&names, "old0"), Some(0));
        assert_eq!(sight(&mut table, &mut names, "fresh", 60), Sighting::First);
        assert_eq!(table.seen_once_bin(&names, "old0"), None);
        assert_eq!(table.seen_once.len(), fresh + 1);
        assert!(table.seen_once.slots() > size, "{size} slots");
    }

    /// A note is found by the top 39 bits of its hash only, and gives
    /// back its bin's index against any newer one under 2^16 bins away,
    /// also across the wraps of the stored 16 bits and below zero.
    #[test]
    fn a_seen_once_note_reads_back_its_hash_and_bin() {
        for bin_index in [
            -70_000,
            -1,
            0,
            1,
            65_535,
            65_536,
            29_892_960,
            (1 << 32) - 1,
            i64::from(u32::MAX) * 60,
        ] {
            for hash in [0, 1, u64::MAX, 0x8000_0000_ffff_0001] {
                let note = SeenOnce::new(hash, bin_index);
                assert!(note.is_of(hash));
                assert!(note.is_of(hash ^ 0xffff), "the low 25 bits are not kept");
                assert!(note.is_of(hash ^ (1 << 24)));
                assert!(!note.is_of(hash ^ (1 << 25)));
                assert!(!note.is_of(hash ^ (1 << 63)));
                for newer in [0, 1, 59, 32_767, 65_535] {
                    let newest = bin_index + newer;
                    assert_eq!(
                        note.bin_index(newest),
                        bin_index,
                        "{bin_index} from {newest}"
                    );
                }
                assert_ne!(note.bin_index(bin_index + 65_536), bin_index);
            }
        }
    }

    /// Notes are kept within a span they read back exactly in: a note a
    /// span newer than the oldest drops the old ones (stale), one a span
    /// older than the newest is not kept, and a sweep drops notes half a
    /// span old even when too few to sweep for size.
    #[test]
    fn notes_stay_within_the_span_they_read_back_in() {
        let mut table = TermTable::with_limit(0, 60);
        let mut names = TermNames::default();
        let no_bin_kept = |_: i64| false;
        let sight = |table: &mut TermTable, names: &mut TermNames, name: &str, bin_index: i64| {
            table.start_mention();
            sight_named(table, names, name, bin_index * 60, no_bin_kept)
        };
        assert_eq!(sight(&mut table, &mut names, "first", 100), Sighting::First);
        assert_eq!(
            sight(&mut table, &mut names, "second", 101),
            Sighting::First
        );
        assert_eq!(table.seen_once_bin(&names, "first"), Some(100 * 60));
        // A span later: the old notes go, not misread as recent.
        let later = 100 + MAX_NOTE_SPAN_BINS;
        assert_eq!(
            sight(&mut table, &mut names, "third", later),
            Sighting::First
        );
        assert_eq!(table.seen_once_bin(&names, "first"), None);
        assert_eq!(table.seen_once_bin(&names, "second"), None);
        assert_eq!(table.seen_once_bin(&names, "third"), Some(later * 60));
        assert_eq!(table.take_losses(), (0, 0), "stale notes are not losses");
        // A span earlier than the newest: not kept, and counted.
        assert_eq!(
            sight(&mut table, &mut names, "early", later - MAX_NOTE_SPAN_BINS),
            Sighting::First
        );
        assert_eq!(table.seen_once_bin(&names, "early"), None);
        assert_eq!(table.take_losses(), (1, 0));
        // A quiet table's sweep takes notes half a span old: stale ones stay
        // until the notes grow by a quarter (and 16) since the last sweep.
        table.sweep_seen_once(later * 60);
        table.sweep_seen_once((later + 1) * 60);
        assert_eq!(
            table.seen_once_bin(&names, "third"),
            Some(later * 60),
            "too few"
        );
        table.sweep_seen_once((later + MAX_NOTE_SPAN_BINS / 2 - 1) * 60);
        assert_eq!(table.seen_once_bin(&names, "third"), Some(later * 60));
        table.sweep_seen_once((later + MAX_NOTE_SPAN_BINS / 2) * 60);
        assert_eq!(table.seen_once_bin(&names, "third"), None);
    }

    /// Entries are reused, never shrunk: they grow by an eighth, so that
    /// whatever their count about an eighth of them at most is unused.
    #[test]
    fn term_entries_grow_by_a_sixteenth() {
        let mut table = TermTable::default();
        let mut names = TermNames::default();
        for index in 0..3000 {
            table.intern(&mut names, &format!("term{index}"));
            let (len, capacity) = (table.entries.len(), table.entries.capacity());
            assert!(capacity <= len + len / 16 + 4, "{capacity} for {len}");
        }
    }

    /// Forgotten terms let their names go (long ones compacted away), the
    /// kept ones still read and find theirs, and a brand forgotten lets go
    /// of every name it held.
    #[test]
    fn forgotten_terms_let_their_names_go() {
        let mut table = TermTable::default();
        let mut names = TermNames::default();
        let name = |index: usize| format!("longer-name-{index:04}-{}", "é".repeat(index % 3));
        for index in 0..200 {
            let rate = if index % 4 == 0 { 1.0 } else { 0.0 };
            intern_at_rate(&mut table, &mut names, &name(index), rate);
        }
        intern_at_rate(&mut table, &mut names, "short", 1.0);
        // Another brand holds one of the names that go here.
        let mut other = TermTable::default();
        other.intern(&mut names, &name(1));
        let before = names.long_name_bytes();
        table.evict(&mut names, 0, 400, 0.5);
        assert!(names.long_name_bytes() < before, "compacted");
        assert_eq!(names.len(), 50 + 1 + 1);
        for index in 0..200 {
            let found = table.find(&names, &name(index));
            assert_eq!(found.is_some(), index % 4 == 0, "{}", name(index));
            if let Some(id) = found {
                assert_eq!(table.name(&names, id), name(index));
            }
        }
        assert_eq!(other.name(&names, 0), name(1));
        assert_eq!(
            table.name(&names, table.find(&names, "short").expect("short kept")),
            "short"
        );
        let fresh = table.intern(&mut names, "a-fresh-long-name");
        assert_eq!(table.name(&names, fresh), "a-fresh-long-name");
        assert_eq!(table.find(&names, "a-fresh-long-name"), Some(fresh));
        table.release_names(&mut names);
        assert_eq!(names.len(), 1);
        assert_eq!(table.find(&names, "short"), None);
        other.release_names(&mut names);
        assert_eq!(names.len(), 0);
    }

    #[test]
    fn terms_too_rare_to_matter_are_forgotten_below_the_limit_unless_held() {
        let mut table = TermTable::default();
        let mut names = TermNames::default();
        let rare_held = intern_at_rate(&mut table, &mut names, "rareheld", 0.001);
        table.start_mention();
        table.hold_once(rare_held, false, false);
        intern_at_rate(&mut table, &mut names, "rare", 0.001);
        intern_at_rate(&mut table, &mut names, "common", 0.5);
        // Decayed below the bar since its last update: rare by now.
        intern_at_rate(&mut table, &mut names, "faded", 0.0045);
        table.evict(&mut names, 300, 400, 0.004);
        assert!(table.find(&names, "rareheld").is_some());
        assert!(table.find(&names, "common").is_some());
        assert!(table.find(&names, "rare").is_none());
        assert!(table.find(&names, "faded").is_none());
        assert_eq!(table.len(), 2);
    }

    /// Between tidies only a table under half used is fitted; at the
    /// hourly tidy, one with a fifth of its slots free is too.
    #[test]
    fn the_hourly_tidy_fits_a_table_with_a_fifth_free() {
        let mut table = TermTable::default();
        let mut names = TermNames::default();
        for index in 0..1000 {
            intern_at_rate(
                &mut table,
                &mut names,
                &format!("term{index:04}"),
                f64::from(index),
            );
        }
        let forget =
            |table: &mut TermTable, names: &mut TermNames, range: std::ops::Range<usize>| {
                for index in range {
                    let id = table
                        .find(names, &format!("term{index:04}"))
                        .expect("known");
                    table.forget(names, id);
                }
            };
        // A tenth free: nothing to fit either way.
        forget(&mut table, &mut names, 0..100);
        assert!(!table.has_room_to_give_back(Fit::MostlyFree));
        assert!(!table.has_room_to_give_back(Fit::Hourly));
        // Three tenths free: only the hourly tidy fits it.
        forget(&mut table, &mut names, 100..300);
        assert!(!table.has_room_to_give_back(Fit::MostlyFree));
        assert!(table.has_room_to_give_back(Fit::Hourly));
        let mut bins = [vec![BinTerm::new(
            table.find(&names, "term0999").expect("known"),
            2,
        )]];
        table.give_back_room(&names, Fit::MostlyFree, bins.iter_mut());
        assert_eq!(table.room().0, 1000);
        table.give_back_room(&names, Fit::Hourly, bins.iter_mut());
        assert_eq!(table.room().0, 700);
        assert_eq!(table.len(), 700);
        assert_eq!(table.name(&names, bins[0][0].id()), "term0999");
        for index in 300..1000 {
            let name = format!("term{index:04}");
            let id = table.find(&names, &name).expect("kept");
            assert!((id as usize) < 700);
            assert_eq!(table.name(&names, id), name);
            let rate = table.entry(id).map(|entry| entry.rate.at(0));
            assert_eq!(rate, Some(index as f64));
        }
        assert!(table.find(&names, "term0042").is_none());
    }

    #[test]
    fn eviction_forgets_the_rarest_unheld_terms_and_reuses_their_ids() {
        let mut table = TermTable::default();
        let mut names = TermNames::default();
        let limit = 8;
        let held = table.intern(&mut names, "held");
        table.start_mention();
        table.hold_once(held, false, false);
        for index in 0..12 {
            intern_at_rate(
                &mut table,
                &mut names,
                &format!("term{index:02}"),
                f64::from(index),
            );
        }
        assert_eq!(table.len(), 13);
        table.evict(&mut names, 0, limit, 0.0);
        // Six of the twelve unheld terms stay: the commonest; the held one too.
        assert_eq!(table.len(), 7);
        assert!(table.find(&names, "held").is_some());
        for index in 0..12 {
            let known = table.find(&names, &format!("term{index:02}")).is_some();
            assert_eq!(known, index >= 6, "term{index:02}");
        }
        // Freed ids come back, under their new names only.
        let fresh = table.intern(&mut names, "fresh");
        assert!(fresh < 13);
        assert_eq!(table.name(&names, fresh), "fresh");
        assert_eq!(table.find(&names, "fresh"), Some(fresh));
        // A new term starts at the highest rate forgotten (term05's): it
        // may be one of them back. It decays as any rate does.
        assert_eq!(table.entry(fresh).map(|entry| entry.rate.at(0)), Some(5.0));
        assert_eq!(
            table.entry(fresh).map(|entry| entry.rate.at(100)),
            Some(TermRate::new(5.0, 0).at(100))
        );
        assert!(TermRate::new(5.0, 0).at(100) < 5.0);
        for index in 6..12 {
            let name = format!("term{index:02}");
            let id = table.find(&names, &name).expect("kept");
            assert_eq!(table.name(&names, id), name);
        }
    }
}
