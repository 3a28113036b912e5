//! Term extraction for the emerging-terms detector and alert evidence.

use crate::term_names::prefix_of;

/// Words too common to say anything.
const STOPWORDS: [&str; 66] = [
    "the", "and", "for", "you", "your", "are", "was", "were", "this", "that", "with", "have",
    "has", "had", "not", "but", "just", "they", "them", "their", "from", "what", "when", "will",
    "would", "can", "cant", "can't", "don't", "dont", "all", "out", "get", "got", "our", "about",
    "there", "been", "how", "why", "who", "its", "it's", "i'm", "im", "now", "one", "any", "too",
    "very", "more", "some", "than", "then", "into", "also", "amp", "via", "only", "still", "even",
    "again", "could", "should", "does", "did",
];

/// A word of up to 7 bytes as one number: its bytes, little-endian, and
/// its length in the top byte (so that no two words share one).
const fn packed(word: &[u8]) -> u64 {
    let mut key = (word.len() as u64) << 56;
    let mut index = 0;
    while index < word.len() {
        key |= (word[index] as u64) << (8 * index);
        index += 1;
    }
    key
}

const STOPWORD_SLOTS_BITS: u32 = 9;

const fn stopword_slot(key: u64, multiplier: u64) -> usize {
    (key.wrapping_mul(multiplier) >> (64 - STOPWORD_SLOTS_BITS)) as usize
}

/// The stopwords by [`packed`] key in a table of 512 slots, each in the slot
/// its key hashes to with the first multiplier that leaves no two in one
/// (found at compile time; a word is then one multiplication and one
/// comparison away, where a `match` on strings compared several).
const STOPWORD_TABLE: ([u64; 1 << STOPWORD_SLOTS_BITS], u64) = {
    let mut multiplier: u64 = 0x9e37_79b9_7f4a_7c15;
    loop {
        // No key is all ones (the top byte holds a length below 8).
        let mut table = [u64::MAX; 1 << STOPWORD_SLOTS_BITS];
        let mut clash = false;
        let mut index = 0;
        while index < STOPWORDS.len() {
            let word = STOPWORDS[index].as_bytes();
            assert!(word.len() < 8, "stopwords are packed into 7 bytes");
            let key = packed(word);
            let slot = stopword_slot(key, multiplier);
            if table[slot] != u64::MAX && table[slot] != key {
                clash = true;
            }
            table[slot] = key;
            index += 1;
        }
        if !clash {
            break (table, multiplier);
        }
        multiplier = multiplier
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1)
            | 1;
    }
};

fn is_stopword(word: &str) -> bool {
    word.len() < 8 && is_stopword_key(packed(word.as_bytes()))
}

/// [`is_stopword`] for a word of `length` bytes whose [`prefix_of`] is
/// `prefix` (for words under 8 bytes, the [`packed`] key less the length).
#[inline(always)]
fn is_stopword_prefix(length: usize, prefix: u64) -> bool {
    length < 8 && is_stopword_key(prefix | (length as u64) << 56)
}

#[inline(always)]
fn is_stopword_key(key: u64) -> bool {
    let (table, multiplier) = &STOPWORD_TABLE;
    table[stopword_slot(key, *multiplier)] == key
}

/// Returns the distinct terms of a text: lower-cased words of 3+ characters
/// and hashtags, without stopwords, links, user handles or the brand itself.
pub fn terms_of(text: &str, brand: &str) -> Vec<String> {
    let mut terms: Vec<String> = Vec::new();
    let mut scratch = String::new();
    for_each_term(text, &brand.to_lowercase(), &mut scratch, |term, _| {
        if !terms.iter().any(|known| known == term) {
            terms.push(term.to_owned());
        }
    });
    terms
}

/// Calls `found` with each term of a text (repeats included) and the
/// term's first eight bytes (`term_names::prefix_of`), using `scratch`
/// instead of allocating: the detector runs this on every mention.
/// `brand_lower` is the brand, lower-cased.
pub fn for_each_term(
    text: &str,
    brand_lower: &str,
    scratch: &mut String,
    mut found: impl FnMut(&str, u64),
) {
    if !text.is_ascii() {
        for raw in text.split_whitespace().take(MAX_WORDS) {
            term_of_word(raw, None, brand_lower, scratch, &mut found);
        }
        return;
    }
    // ASCII (most texts): words split eight bytes at a time, and whether a
    // word is already plain (lower-case letters and digits) learnt on the way.
    let bytes = text.as_bytes();
    let mut index = 0;
    for _ in 0..MAX_WORDS {
        while index < bytes.len() && is_ascii_space(bytes[index]) {
            index += 1;
        }
        if index == bytes.len() {
            return;
        }
        let start = index;
        let first_chunk = ascii_word_at(bytes, index);
        let mut word = first_chunk;
        let mut plain = true;
        loop {
            let spaces = ascii_spaces(word);
            let plain_bytes = ascii_plain(word);
            if spaces == 0 {
                plain &= plain_bytes == BYTE_HIGH_BITS;
                index += 8;
                word = ascii_word_at(bytes, index);
                continue;
            }
            // The bytes before the first space end the word.
            let before = spaces.trailing_zeros() as usize / 8;
            let mask = BYTE_HIGH_BITS & ((1u64 << (before * 8)).wrapping_sub(1));
            plain &= plain_bytes & mask == mask;
            index += before;
            break;
        }
        let raw = text.get(start..index).unwrap_or_default();
        // The word's first eight bytes: its `prefix_of`.
        let plain = plain.then(|| {
            if raw.len() >= 8 {
                first_chunk
            } else {
                first_chunk & ((1u64 << (8 * raw.len())) - 1)
            }
        });
        term_of_word(raw, plain, brand_lower, scratch, &mut found);
    }
}

const BYTE_HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// The eight bytes of `bytes` from `index`, little-endian, spaces past the end.
fn ascii_word_at(bytes: &[u8], index: usize) -> u64 {
    match bytes.get(index..index + 8) {
        Some(chunk) => u64::from_le_bytes(chunk.try_into().unwrap_or([b' '; 8])),
        None => {
            let mut chunk = [b' '; 8];
            let rest = bytes.get(index..).unwrap_or_default();
            chunk[..rest.len()].copy_from_slice(rest);
            u64::from_le_bytes(chunk)
        }
    }
}

/// The high bit of each byte of `word` above `bound` (ASCII bytes only:
/// adding at most 0x7f to a byte below 0x80 never carries into the next).
fn bytes_above(word: u64, bound: u8) -> u64 {
    word.wrapping_add(u64::from(0x7f - bound) * 0x0101_0101_0101_0101) & BYTE_HIGH_BITS
}

/// The high bit of each byte of `word` within `low..=high`.
fn bytes_within(word: u64, low: u8, high: u8) -> u64 {
    bytes_above(word, low - 1) & !bytes_above(word, high)
}

/// [`is_ascii_space`] for the eight bytes of `word`, as high bits.
fn ascii_spaces(word: u64) -> u64 {
    bytes_within(word, b'\t', b'\r') | bytes_within(word, b' ', b' ')
}

/// Lower-case letters and digits among the eight bytes of `word`, as high bits.
fn ascii_plain(word: u64) -> u64 {
    bytes_within(word, b'a', b'z') | bytes_within(word, b'0', b'9')
}

/// Words read of a text at most (a pasted essay adds nothing but work).
const MAX_WORDS: usize = 60;

/// A longer word is no term (pasted data, not language): term entries keep
/// a name's length in 16 bits.
pub(crate) const MAX_TERM_BYTES: usize = 1024;

/// `char::is_whitespace` among ASCII bytes: space, and tab to carriage
/// return (vertical tab and form feed included).
fn is_ascii_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t'..=b'\r')
}

/// Passes the term `raw` makes, if any, to `found`; `plain` (its
/// [`prefix_of`]) when `raw` is known to be lower-case ASCII letters and
/// digits only.
#[inline(always)]
fn term_of_word(
    raw: &str,
    plain: Option<u64>,
    brand_lower: &str,
    scratch: &mut String,
    found: &mut impl FnMut(&str, u64),
) {
    if let Some(prefix) = plain {
        // Most words: no handle, hashtag, `www.` or punctuation to look
        // for, and ASCII, so the length counts the characters.
        if (3..=MAX_TERM_BYTES).contains(&raw.len())
            && !raw.starts_with("http")
            && !raw.bytes().all(|byte| byte.is_ascii_digit())
            && !is_stopword_prefix(raw.len(), prefix)
            && !is_brand(raw, brand_lower)
        {
            found(raw, prefix);
        }
        return;
    }
    if raw.starts_with('@') || raw.starts_with("http") || raw.starts_with("www.") {
        return;
    }
    let word = normalized(raw, scratch);
    let bare = word.trim_start_matches('#');
    let short = if bare.is_ascii() {
        bare.len() < 3
    } else {
        bare.chars().count() < 3
    };
    if short || word.len() > MAX_TERM_BYTES || bare.bytes().all(|byte| byte.is_ascii_digit()) {
        return;
    }
    if !is_stopword(bare) && !is_brand(bare, brand_lower) {
        found(word, prefix_of(word));
    }
}

/// The brand itself, or a longer word containing it (`#acmefail`).
#[inline(always)]
fn is_brand(bare: &str, brand_lower: &str) -> bool {
    bare == brand_lower
        // Length first: most words are shorter than the brand.
        || brand_lower.len() >= 4 && bare.len() > brand_lower.len() && bare.contains(brand_lower)
}

/// A word lower-cased, without punctuation other than `#` and inner `'`.
/// Most words already are (lower-case ASCII letters and digits) and are
/// returned as they are, without a copy.
fn normalized<'word>(raw: &'word str, scratch: &'word mut String) -> &'word str {
    if raw
        .bytes()
        .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit())
    {
        return raw;
    }
    let keep =
        |character: &char| character.is_alphanumeric() || *character == '#' || *character == '\'';
    scratch.clear();
    if raw.is_ascii() {
        // Byte by byte: real texts send capitals and punctuation this way.
        for byte in raw.bytes() {
            if byte.is_ascii_alphanumeric() || byte == b'#' || byte == b'\'' {
                scratch.push(char::from(byte.to_ascii_lowercase()));
            }
        }
    } else {
        // str::to_lowercase knows word-final sigma; per-char lowering does not.
        scratch.push_str(&raw.chars().filter(keep).collect::<String>().to_lowercase());
    }
    scratch.trim_matches('\'')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Terms are those of the plain definition (words as
        /// `split_whitespace` splits them, each normalized), on the ASCII
        /// path and the other, whatever the whitespace (ASCII controls,
        /// vertical tab, no-break space).
        #[test]
        fn terms_are_those_of_split_and_normalized_words(
            text in "([a-zA-Z0-9#'@.]{0,19}[\\t\\n\\x0b\\x0c\\r\\x1c\\x1f \u{a0}\u{2003}é]{1,2}){0,70}",
            brand in "[a-z]{3,5}",
        ) {
            for text in [text.clone(), text.chars().filter(char::is_ascii).collect()] {
                let mut scratch = String::new();
                let mut expected = Vec::new();
                for raw in text.split_whitespace().take(MAX_WORDS) {
                    term_of_word(raw, None, &brand, &mut scratch, &mut |term: &str, _| {
                        expected.push(term.to_owned())
                    });
                }
                let mut terms = Vec::new();
                for_each_term(&text, &brand, &mut scratch, |term, prefix| {
                    assert_eq!(prefix, prefix_of(term), "{term}");
                    terms.push(term.to_owned());
                });
                prop_assert_eq!(terms, expected);
            }
        }

        /// The copy-free and ASCII paths lower and filter a word exactly as
        /// the general one does.
        #[test]
        fn every_path_normalizes_a_word_alike(raw in "[ -~é ÄΣς]{0,16}") {
            let keep = |character: &char| {
                character.is_alphanumeric() || *character == '#' || *character == '\''
            };
            let general = raw.chars().filter(keep).collect::<String>().to_lowercase();
            let mut scratch = String::new();
            prop_assert_eq!(normalized(&raw, &mut scratch), general.trim_matches('\''));
        }
    }

    proptest! {
        /// The stopword table answers as a plain list lookup would.
        #[test]
        fn stopwords_are_exactly_the_listed_words(word in "[a-z']{0,9}") {
            prop_assert_eq!(is_stopword(&word), STOPWORDS.contains(&word.as_str()));
        }
    }

    /// A word over [`MAX_TERM_BYTES`] is no term, on the plain path, the
    /// general one and the non-ASCII one alike; one of that length is.
    #[test]
    fn a_word_longer_than_a_term_is_none() {
        for letter in ["a", "A", "é"] {
            let longest = letter.repeat(MAX_TERM_BYTES / letter.len());
            let longer = format!("{longest}{}", "a".repeat(letter.len()));
            let mut terms = Vec::new();
            for_each_term(
                &format!("{longest} ok word {longer}"),
                "acme",
                &mut String::new(),
                |term, _| {
                    terms.push(term.to_owned());
                },
            );
            assert_eq!(
                terms,
                [longest.to_lowercase(), "word".to_owned()],
                "{letter}"
            );
        }
    }

    #[test]
    fn every_stopword_is_found_and_near_misses_are_not() {
        for word in STOPWORDS {
            assert!(is_stopword(word), "{word}");
            for near in [
                &word[1..],
                &word[..word.len() - 1],
                &format!("{word}s"),
                &format!("{word}\0"),
            ] {
                assert_eq!(is_stopword(near), STOPWORDS.contains(&near), "{near:?}");
            }
        }
    }

    #[test]
    fn keeps_hashtags_and_drops_noise() {
        let terms = terms_of(
            "@United lost my bag AGAIN!! #lostbag http://t.co/x the refund 2015 Unitedairlines",
            "united",
        );
        assert_eq!(terms, vec!["lost", "bag", "#lostbag", "refund"]);
    }

    #[test]
    fn lowers_non_ascii_words_like_str_to_lowercase() {
        assert_eq!(
            terms_of("ΟΔΥΣΣΕΥΣ Ärger ÄRGER", "acme"),
            vec!["οδυσσευς", "ärger"]
        );
    }
}
