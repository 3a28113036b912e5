//! A strict, schema-specific scanner for the common shape of a scored
//! mention: the alerter's backtest spends most of its decoding time in
//! serde's generic machinery (key matching, visitors, escape handling).
//!
//! It reads a subset of JSON — strings without escapes (the text may have
//! any but an escaped surrogate), numbers of at most 15 digits without an
//! exponent, objects and arrays nested at most [`MAX_DEPTH`] deep — and
//! fills the same [`RawScored`] that serde would. Whatever lies outside
//! that subset (an escape elsewhere, a duplicate field, a number it cannot
//! read exactly as serde_json does) makes it give up with `None`, never
//! guess: the serde decoder then decides. Property tests hold it to that:
//! whenever it answers, serde answers the same.

use std::borrow::Cow;

use super::{RawMetrics, RawModel, RawScored, RawSentiment, RawToxicity};
use crate::{SentimentLabel, SentimentProbs};

/// Deepest nesting read inside fields nobody looks at (serde_json allows 128).
const MAX_DEPTH: usize = 16;
/// Most digits of a number: up to 15 (no exponent), the significand is exact
/// in an f64 and so is the power of ten, so one correctly rounded operation
/// gives the value; serde_json computes it the same way and gets the same.
const MAX_DIGITS: usize = 15;

/// Reads `text` as a whole scored mention, or `None` when unsure: in the
/// writer's own layout if it is in it, else by the general reader.
pub(super) fn scan_common_shape(text: &str) -> Option<RawScored<'_>> {
    scan_whole(text, Scanner::writer_layout).or_else(|| scan_whole(text, Scanner::scored))
}

fn scan_whole<'a>(
    text: &'a str,
    read: impl FnOnce(&mut Scanner<'a>) -> Option<RawScored<'a>>,
) -> Option<RawScored<'a>> {
    let mut scanner = Scanner {
        text,
        bytes: text.as_bytes(),
        position: 0,
    };
    let raw = read(&mut scanner)?;
    scanner.skip_whitespace();
    (scanner.position == scanner.bytes.len()).then_some(raw)
}

/// A number of the subset: `significand / 10^fraction_digits`, negated.
struct Number {
    negative: bool,
    significand: u64,
    fraction_digits: usize,
}

/// 10^0 ..= 10^15, all exact in an f64.
const POWERS_OF_TEN: [f64; MAX_DIGITS + 1] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// The scanner's small steps are `#[inline(always)]`: left as calls, they
/// cost a tenth of a backtest's instructions in calls and register saves.
struct Scanner<'a> {
    text: &'a str,
    bytes: &'a [u8],
    position: usize,
}

/// Where the first quote, backslash or control character is, eight bytes
/// at a time (texts are most of a message's bytes).
#[inline(always)]
fn first_special_byte(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    let mut chunks = bytes.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_le_bytes(word);
        let quote = word ^ (ONES * u64::from(b'"'));
        let backslash = word ^ (ONES * u64::from(b'\\'));
        // A byte's high bit is set where it is zero (quote, backslash) or
        // below 0x20; a borrow can only mark bytes after the first match.
        let found = (quote.wrapping_sub(ONES) & !quote
            | backslash.wrapping_sub(ONES) & !backslash
            | word.wrapping_sub(ONES * 0x20) & !word)
            & HIGH_BITS;
        if found != 0 {
            return Some(offset + found.trailing_zeros() as usize / 8);
        }
        offset += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|byte| matches!(byte, b'"' | b'\\' | 0..=0x1f))
        .map(|position| offset + position)
}

/// A quoted key or value the scanner expects, compared as one 16-byte word
/// (a call to `memcmp` per candidate cost more than the rest of the key).
struct Literal {
    quoted: &'static [u8],
    word: u128,
    mask: u128,
}

impl Literal {
    const fn new(quoted: &'static [u8]) -> Literal {
        assert!(quoted.len() <= 16, "a literal is compared as one u128");
        let mut word = 0u128;
        let mut index = 0;
        while index < quoted.len() {
            word |= (quoted[index] as u128) << (8 * index);
            index += 1;
        }
        let mask = if quoted.len() == 16 {
            u128::MAX
        } else {
            (1u128 << (8 * quoted.len())) - 1
        };
        Literal { quoted, word, mask }
    }

    /// Whether `rest` starts with the literal; `word` is its first 16 bytes
    /// when it has that many (read once for several literals).
    #[inline(always)]
    fn begins(&self, rest: &[u8], word: Option<u128>) -> bool {
        match word {
            Some(word) => word & self.mask == self.word,
            None => rest.starts_with(self.quoted),
        }
    }
}

/// First 16 bytes as one number, if there are that many.
#[inline(always)]
fn first_word(bytes: &[u8]) -> Option<u128> {
    bytes
        .first_chunk::<16>()
        .map(|chunk| u128::from_le_bytes(*chunk))
}

/// Keys of the nested objects, in the order the schema writes them; the
/// sentiment classes are also the labels.
const SENTIMENT_KEYS: &[Literal] = &[
    Literal::new(b"\"label\""),
    Literal::new(b"\"score\""),
    Literal::new(b"\"probs\""),
];
const CLASSES: &[Literal] = &[
    Literal::new(b"\"negative\""),
    Literal::new(b"\"neutral\""),
    Literal::new(b"\"positive\""),
];
const TOXICITY_KEYS: &[Literal] = &[Literal::new(b"\"score\""), Literal::new(b"\"label\"")];
const MODEL_KEYS: &[Literal] = &[Literal::new(b"\"name\""), Literal::new(b"\"version\"")];
const METRICS_KEYS: &[Literal] = &[
    Literal::new(b"\"likes\""),
    Literal::new(b"\"shares\""),
    Literal::new(b"\"followers\""),
];

/// Sets a field once: serde rejects a struct with a duplicate field.
fn set_once<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    match slot {
        Some(_) => None,
        None => {
            *slot = Some(value);
            Some(())
        }
    }
}

/// Same for optional fields (`#[serde(default)] Option<T>`), where `null` is
/// a value: `Some(None)` once seen.
fn set_optional_once<T>(slot: &mut Option<Option<T>>, value: Option<T>) -> Option<()> {
    set_once(slot, value)
}

impl<'a> Scanner<'a> {
    #[inline(always)]
    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.position) {
            self.position += 1;
        }
    }

    /// The next byte that is not whitespace (one load when there is none:
    /// a compact writer's case, and every token asks).
    #[inline(always)]
    fn peek(&mut self) -> Option<u8> {
        let byte = *self.bytes.get(self.position)?;
        if !matches!(byte, b' ' | b'\t' | b'\n' | b'\r') {
            return Some(byte);
        }
        self.skip_whitespace();
        self.bytes.get(self.position).copied()
    }

    #[inline(always)]
    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.position += 1)
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.skip_whitespace();
        let end = self.position + word.len();
        (self.bytes.get(self.position..end)? == word).then(|| self.position = end)
    }

    /// A string without escapes or control characters (serde_json rejects
    /// raw control characters; escapes are serde's to decode).
    #[inline(always)]
    fn string(&mut self) -> Option<&'a str> {
        self.expect(b'"')?;
        let start = self.position;
        let length = first_special_byte(self.bytes.get(start..)?)?;
        if self.bytes[start + length] != b'"' {
            return None;
        }
        self.position = start + length + 1;
        // Quotes are ASCII, so both ends are character boundaries.
        self.text.get(start..start + length)
    }

    /// A string that may hold escapes, decoded as serde_json decodes them:
    /// a text (posts have line breaks and quotes: one line in twenty of a
    /// real stream, each of which the serde decoder took ten thousand
    /// instructions to read). `None` for what it leaves to serde: an
    /// escaped surrogate (a pair, or serde's error for a lone one), an
    /// unknown escape, a control character.
    fn escaped_string(&mut self) -> Option<Cow<'a, str>> {
        self.expect(b'"')?;
        let start = self.position;
        let mut plain = first_special_byte(self.bytes.get(start..)?)?;
        if self.bytes[start + plain] == b'"' {
            self.position = start + plain + 1;
            // Quotes are ASCII, so both ends are character boundaries.
            return self.text.get(start..start + plain).map(Cow::Borrowed);
        }
        let mut decoded = String::with_capacity(plain + 32);
        let mut at = start;
        loop {
            // Special bytes are ASCII: every cut is at a character boundary.
            decoded.push_str(self.text.get(at..at + plain)?);
            at += plain;
            match self.bytes[at] {
                b'"' => {
                    self.position = at + 1;
                    return Some(Cow::Owned(decoded));
                }
                b'\\' => {
                    let escape = *self.bytes.get(at + 1)?;
                    at += 2;
                    decoded.push(match escape {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let digits = self.bytes.get(at..at + 4)?;
                            let mut code = 0;
                            for digit in digits {
                                code = code << 4 | char::from(*digit).to_digit(16)?;
                            }
                            at += 4;
                            // None for a surrogate.
                            char::from_u32(code)?
                        }
                        _ => return None,
                    });
                }
                _ => return None,
            }
            plain = first_special_byte(self.bytes.get(at..)?)?;
        }
    }

    /// `null` or a string, as serde reads an `Option<&str>`.
    fn optional_string(&mut self) -> Option<Option<&'a str>> {
        if self.peek()? == b'n' {
            self.literal(b"null")?;
            return Some(None);
        }
        self.string().map(Some)
    }

    /// A JSON number within [`MAX_DIGITS`] digits and no exponent.
    #[inline(always)]
    fn number(&mut self) -> Option<Number> {
        self.peek()?;
        let bytes = self.bytes;
        let mut position = self.position;
        let negative = bytes.get(position) == Some(&b'-');
        position += usize::from(negative);
        let mut significand: u64 = 0;
        let integer_start = position;
        while let Some(digit @ b'0'..=b'9') = bytes.get(position) {
            significand = significand * 10 + u64::from(digit - b'0');
            position += 1;
            if position - integer_start > MAX_DIGITS {
                return None;
            }
        }
        let integer_digits = position - integer_start;
        // JSON forbids leading zeros ("01").
        if integer_digits == 0 || (integer_digits > 1 && bytes[integer_start] == b'0') {
            return None;
        }
        let mut fraction_digits = 0;
        if bytes.get(position) == Some(&b'.') {
            position += 1;
            while let Some(digit @ b'0'..=b'9') = bytes.get(position) {
                significand = significand * 10 + u64::from(digit - b'0');
                position += 1;
                fraction_digits += 1;
                if integer_digits + fraction_digits > MAX_DIGITS {
                    return None;
                }
            }
            if fraction_digits == 0 {
                return None;
            }
        }
        if matches!(bytes.get(position), Some(b'e' | b'E')) {
            return None;
        }
        self.position = position;
        Some(Number {
            negative,
            significand,
            fraction_digits,
        })
    }

    /// A number read as serde reads an `f32` (through an `f64`).
    #[inline(always)]
    fn float(&mut self) -> Option<f32> {
        let number = self.number()?;
        // serde_json reads "-0" as the integer 0, not as -0.0.
        if number.negative && number.fraction_digits == 0 {
            return None;
        }
        // Both exact (see MAX_DIGITS): one correctly rounded division, as
        // serde_json computes it.
        let magnitude = number.significand as f64 / POWERS_OF_TEN[number.fraction_digits];
        let value = if number.negative {
            -magnitude
        } else {
            magnitude
        };
        Some(value as f32)
    }

    /// `null` or a non-negative integer, as serde reads an `Option<u64>`.
    fn optional_count(&mut self) -> Option<Option<u64>> {
        if self.peek()? == b'n' {
            self.literal(b"null")?;
            return Some(None);
        }
        let number = self.number()?;
        if number.negative || number.fraction_digits > 0 {
            return None;
        }
        Some(Some(number.significand))
    }

    /// Which of `known` (each quoted, without escapes) the string at the
    /// cursor is, trying the one after the last match first (writers put
    /// fields in one order); `Some(None)` for any other string, read.
    #[inline(always)]
    fn one_of(&mut self, known: &[Literal], next: &mut usize) -> Option<Option<usize>> {
        self.peek()?;
        let rest = self.bytes.get(self.position..)?;
        // Read once, compared with every candidate.
        let word = first_word(rest);
        let matches = |literal: &Literal| literal.begins(rest, word);
        // Each literal ends with a quote, so at most one of them matches:
        // the order of the tries only decides how soon it is found.
        let found = match known.get(*next) {
            Some(expected) if matches(expected) => Some(*next),
            _ => known.iter().position(matches),
        };
        match found {
            Some(index) => {
                self.position += known[index].quoted.len();
                *next = index + 1;
                Some(Some(index))
            }
            None => {
                self.string()?;
                Some(None)
            }
        }
    }

    /// Reads an object, handing `field` the index in `keys` of each key
    /// (`None` for a key it does not know), which reads its value.
    fn object(
        &mut self,
        keys: &[Literal],
        mut field: impl FnMut(&mut Self, Option<usize>) -> Option<()>,
    ) -> Option<()> {
        self.expect(b'{')?;
        if self.peek()? == b'}' {
            self.position += 1;
            return Some(());
        }
        let mut next_key = 0;
        loop {
            let key = self.one_of(keys, &mut next_key)?;
            self.expect(b':')?;
            field(self, key)?;
            match self.peek()? {
                b',' => self.position += 1,
                b'}' => {
                    self.position += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// Skips any value of the subset (what serde ignores it must still parse).
    fn skip_value(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' => self.object(&[], |scanner, _| scanner.skip_value(depth + 1)),
            b'[' => {
                self.position += 1;
                if self.peek()? == b']' {
                    self.position += 1;
                    return Some(());
                }
                loop {
                    self.skip_value(depth + 1)?;
                    match self.peek()? {
                        b',' => self.position += 1,
                        b']' => {
                            self.position += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.number().map(drop),
        }
    }

    /// Moves past `literal` if the text goes on with it exactly.
    #[inline(always)]
    fn skip_exact(&mut self, literal: &Literal) -> bool {
        let rest = self.bytes.get(self.position..).unwrap_or_default();
        let found = literal.begins(rest, first_word(rest));
        if found {
            self.position += literal.quoted.len();
        }
        found
    }

    #[inline(always)]
    fn exact(&mut self, literal: &Literal) -> Option<()> {
        self.skip_exact(literal).then_some(())
    }

    /// The value after `key`, read by `read`.
    #[inline(always)]
    fn after<T>(&mut self, key: &Literal, read: impl FnOnce(&mut Self) -> Option<T>) -> Option<T> {
        self.exact(key)?;
        read(self)
    }

    /// The layout the schema writes (compact, fields in its order, absent
    /// options left out: the scorer's and the synthetic streams' lines),
    /// read as one comparison per `,"key":` instead of a search among the
    /// keys; `None` at the first difference (whitespace, another order, a
    /// `metadata` object, an unknown field), where [`Scanner::scored`]
    /// starts over. Values are read as there, and each field once.
    fn writer_layout(&mut self) -> Option<RawScored<'a>> {
        const ID: Literal = Literal::new(b"{\"id\":");
        const BRAND: Literal = Literal::new(b",\"brand\":");
        const TEXT: Literal = Literal::new(b",\"text\":");
        const CREATED_AT: Literal = Literal::new(b",\"created_at\":");
        const SOURCE: Literal = Literal::new(b",\"source\":");
        const AUTHOR: Literal = Literal::new(b",\"author\":");
        const URL: Literal = Literal::new(b",\"url\":");
        const LANG: Literal = Literal::new(b",\"lang\":");
        const METRICS: Literal = Literal::new(b",\"metrics\":");
        const SENTIMENT: Literal = Literal::new(b",\"sentiment\":");
        const LABEL_FIRST: Literal = Literal::new(b"{\"label\":");
        const SCORE: Literal = Literal::new(b",\"score\":");
        const PROBS: Literal = Literal::new(b",\"probs\":");
        const NEGATIVE_FIRST: Literal = Literal::new(b"{\"negative\":");
        const NEUTRAL: Literal = Literal::new(b",\"neutral\":");
        const POSITIVE: Literal = Literal::new(b",\"positive\":");
        const TOXICITY: Literal = Literal::new(b"}},\"toxicity\":");
        const SCORE_FIRST: Literal = Literal::new(b"{\"score\":");
        const LABEL: Literal = Literal::new(b",\"label\":");
        const MODEL: Literal = Literal::new(b"},\"model\":");
        const NAME_FIRST: Literal = Literal::new(b"{\"name\":");
        const VERSION: Literal = Literal::new(b",\"version\":");
        const SCORED_AT: Literal = Literal::new(b"},\"scored_at\":");
        const END: Literal = Literal::new(b"}");

        let id = self.after(&ID, Self::string)?;
        let brand = self.after(&BRAND, Self::string)?;
        let text = self.after(&TEXT, Self::escaped_string)?;
        let created_at = self.after(&CREATED_AT, Self::string)?;
        let optional = |scanner: &mut Self, key: &Literal| {
            if scanner.skip_exact(key) {
                scanner.optional_string()
            } else {
                Some(None)
            }
        };
        let source = optional(self, &SOURCE)?;
        let author = optional(self, &AUTHOR)?;
        let url = optional(self, &URL)?;
        let lang = optional(self, &LANG)?;
        let metrics = if self.skip_exact(&METRICS) {
            self.metrics()?
        } else {
            None
        };
        self.exact(&SENTIMENT)?;
        let label = self.after(&LABEL_FIRST, Self::sentiment_label)?;
        let sentiment_score = self.after(&SCORE, Self::float)?;
        self.exact(&PROBS)?;
        let negative = self.after(&NEGATIVE_FIRST, Self::float)?;
        let neutral = self.after(&NEUTRAL, Self::float)?;
        let positive = self.after(&POSITIVE, Self::float)?;
        self.exact(&TOXICITY)?;
        let toxicity_score = self.after(&SCORE_FIRST, Self::float)?;
        let toxicity_label = self.after(&LABEL, Self::string)?;
        self.exact(&MODEL)?;
        let model_name = self.after(&NAME_FIRST, Self::string)?;
        let model_version = self.after(&VERSION, Self::string)?;
        let scored_at = self.after(&SCORED_AT, Self::string)?;
        self.exact(&END)?;
        Some(RawScored {
            id,
            brand,
            text,
            created_at,
            source,
            _author: author,
            url,
            _lang: lang,
            _metrics: metrics,
            _metadata: None,
            sentiment: RawSentiment {
                label,
                score: sentiment_score,
                _probs: SentimentProbs {
                    negative,
                    neutral,
                    positive,
                },
            },
            toxicity: RawToxicity {
                score: toxicity_score,
                label: toxicity_label,
            },
            _model: RawModel {
                _name: model_name,
                _version: model_version,
            },
            scored_at,
        })
    }

    fn scored(&mut self) -> Option<RawScored<'a>> {
        let mut id = None;
        let mut brand = None;
        let mut text = None;
        let mut created_at = None;
        let mut source = None;
        let mut author = None;
        let mut url = None;
        let mut lang = None;
        let mut metrics = None;
        let mut metadata = None;
        let mut sentiment = None;
        let mut toxicity = None;
        let mut model = None;
        let mut scored_at = None;
        // In the order the schema writes them.
        const KEYS: &[Literal] = &[
            Literal::new(b"\"id\""),
            Literal::new(b"\"brand\""),
            Literal::new(b"\"text\""),
            Literal::new(b"\"created_at\""),
            Literal::new(b"\"source\""),
            Literal::new(b"\"author\""),
            Literal::new(b"\"url\""),
            Literal::new(b"\"lang\""),
            Literal::new(b"\"metrics\""),
            Literal::new(b"\"metadata\""),
            Literal::new(b"\"sentiment\""),
            Literal::new(b"\"toxicity\""),
            Literal::new(b"\"model\""),
            Literal::new(b"\"scored_at\""),
        ];
        self.object(KEYS, |scanner, key| match key {
            Some(0) => set_once(&mut id, scanner.string()?),
            Some(1) => set_once(&mut brand, scanner.string()?),
            Some(2) => set_once(&mut text, scanner.escaped_string()?),
            Some(3) => set_once(&mut created_at, scanner.string()?),
            Some(4) => set_optional_once(&mut source, scanner.optional_string()?),
            Some(5) => set_optional_once(&mut author, scanner.optional_string()?),
            Some(6) => set_optional_once(&mut url, scanner.optional_string()?),
            Some(7) => set_optional_once(&mut lang, scanner.optional_string()?),
            Some(8) => set_optional_once(&mut metrics, scanner.metrics()?),
            Some(9) => {
                let value = if scanner.peek()? == b'n' {
                    scanner.literal(b"null")?;
                    None
                } else if scanner.peek()? == b'{' {
                    scanner.skip_value(1)?;
                    Some(super::AnyObject)
                } else {
                    return None;
                };
                set_optional_once(&mut metadata, value)
            }
            Some(10) => set_once(&mut sentiment, scanner.sentiment()?),
            Some(11) => set_once(&mut toxicity, scanner.toxicity()?),
            Some(12) => set_once(&mut model, scanner.model()?),
            Some(13) => set_once(&mut scored_at, scanner.string()?),
            _ => scanner.skip_value(1),
        })?;
        Some(RawScored {
            id: id?,
            brand: brand?,
            text: text?,
            created_at: created_at?,
            source: source.flatten(),
            _author: author.flatten(),
            url: url.flatten(),
            _lang: lang.flatten(),
            _metrics: metrics.flatten(),
            _metadata: metadata.flatten(),
            sentiment: sentiment?,
            toxicity: toxicity?,
            _model: model?,
            scored_at: scored_at?,
        })
    }

    fn sentiment(&mut self) -> Option<RawSentiment> {
        let mut label = None;
        let mut score = None;
        let mut probs = None;
        self.object(SENTIMENT_KEYS, |scanner, key| match key {
            Some(0) => set_once(&mut label, scanner.sentiment_label()?),
            Some(1) => set_once(&mut score, scanner.float()?),
            Some(2) => set_once(&mut probs, scanner.probs()?),
            _ => scanner.skip_value(2),
        })?;
        Some(RawSentiment {
            label: label?,
            score: score?,
            _probs: probs?,
        })
    }

    fn sentiment_label(&mut self) -> Option<SentimentLabel> {
        match self.one_of(CLASSES, &mut 0)? {
            Some(0) => Some(SentimentLabel::Negative),
            Some(1) => Some(SentimentLabel::Neutral),
            Some(2) => Some(SentimentLabel::Positive),
            _ => None,
        }
    }

    fn probs(&mut self) -> Option<SentimentProbs> {
        let mut negative = None;
        let mut neutral = None;
        let mut positive = None;
        self.object(CLASSES, |scanner, key| match key {
            Some(0) => set_once(&mut negative, scanner.float()?),
            Some(1) => set_once(&mut neutral, scanner.float()?),
            Some(2) => set_once(&mut positive, scanner.float()?),
            _ => scanner.skip_value(3),
        })?;
        Some(SentimentProbs {
            negative: negative?,
            neutral: neutral?,
            positive: positive?,
        })
    }

    fn toxicity(&mut self) -> Option<RawToxicity<'a>> {
        let mut score = None;
        let mut label = None;
        self.object(TOXICITY_KEYS, |scanner, key| match key {
            Some(0) => set_once(&mut score, scanner.float()?),
            Some(1) => set_once(&mut label, scanner.string()?),
            _ => scanner.skip_value(2),
        })?;
        Some(RawToxicity {
            score: score?,
            label: label?,
        })
    }

    fn model(&mut self) -> Option<RawModel<'a>> {
        let mut name = None;
        let mut version = None;
        self.object(MODEL_KEYS, |scanner, key| match key {
            Some(0) => set_once(&mut name, scanner.string()?),
            Some(1) => set_once(&mut version, scanner.string()?),
            _ => scanner.skip_value(2),
        })?;
        Some(RawModel {
            _name: name?,
            _version: version?,
        })
    }

    /// `null` or the metrics object (`Option<RawMetrics>`).
    fn metrics(&mut self) -> Option<Option<RawMetrics>> {
        if self.peek()? == b'n' {
            self.literal(b"null")?;
            return Some(None);
        }
        let mut likes = None;
        let mut shares = None;
        let mut followers = None;
        self.object(METRICS_KEYS, |scanner, key| match key {
            Some(0) => set_optional_once(&mut likes, scanner.optional_count()?),
            Some(1) => set_optional_once(&mut shares, scanner.optional_count()?),
            Some(2) => set_optional_once(&mut followers, scanner.optional_count()?),
            _ => scanner.skip_value(2),
        })?;
        Some(Some(RawMetrics {
            _likes: likes.flatten(),
            _shares: shares.flatten(),
            _followers: followers.flatten(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What the synthetic streams and the scorer write.
    const PLAIN: &str = r#"{"id":"synth-1","brand":"brand-0004","text":"staff weekend question order seat morning","created_at":"2026-11-02T00:00:32Z","source":"twitter","sentiment":{"label":"positive","score":0.75,"probs":{"negative":0.05,"neutral":0.15,"positive":0.8}},"toxicity":{"score":0.05,"label":"non_toxic"},"model":{"name":"synthetic","version":"1"},"scored_at":"2026-11-02T00:00:32Z"}"#;
    /// Every optional field, nested unknown fields, nulls and whitespace.
    const RICH: &str = " {\"id\" : \"m-1\", \"brand\":\"acme\",\t\"text\":\"the new phone is awful 😡\",\"created_at\":\"2026-11-23T10:00:00+01:00\",\"source\":null,\"author\":\"@someone\",\"url\":\"https://example.com/1\",\"lang\":\"en\",\"metrics\":{\"likes\":3,\"shares\":null,\"views\":50,\"ratio\":-0.5},\"metadata\":{\"k\":[1,true,false,null,{\"x\":\"y\"},[]],\"e\":{}},\"sentiment\":{\"label\":\"negative\",\"score\":-0.8,\"probs\":{\"negative\":0.85,\"neutral\":0.1,\"positive\":0.05},\"extra\":[0]},\"toxicity\":{\"score\":1,\"label\":\"toxic\"},\"model\":{\"name\":\"m\",\"version\":\"1\"},\"scored_at\":\"2026-11-23T09:00:01Z\",\"shard\":4}\r\n";

    /// The writer's layout with every optional field it may write.
    const WRITER_FULL: &str = r#"{"id":"m-1","brand":"acme","text":"late again, #refund","created_at":"2026-11-23T10:00:00Z","source":"review","author":"@a","url":"https://example.com/1","lang":"en","metrics":{"likes":3,"followers":1200},"sentiment":{"label":"negative","score":-0.62,"probs":{"negative":0.7,"neutral":0.22,"positive":0.08}},"toxicity":{"score":0.31,"label":"non_toxic"},"model":{"name":"minilm","version":"2"},"scored_at":"2026-11-23T10:00:01Z"}"#;

    /// The writer's layout without the fields that may be left out, and a
    /// null source.
    const WRITER_BARE: &str = r#"{"id":"m-2","brand":"acme","text":"","created_at":"2026-11-23T10:00:00Z","sentiment":{"label":"neutral","score":0,"probs":{"negative":0.1,"neutral":0.8,"positive":0.1}},"toxicity":{"score":0,"label":"non_toxic"},"model":{"name":"m","version":""},"scored_at":"2026-11-23T10:00:01Z"}"#;
    const WRITER_NULL_SOURCE: &str = r#"{"id":"m-3","brand":"acme","text":"x","created_at":"2026-11-23T10:00:00Z","source":null,"sentiment":{"label":"positive","score":0.9,"probs":{"negative":0.0,"neutral":0.1,"positive":0.9}},"toxicity":{"score":0.01,"label":"non_toxic"},"model":{"name":"m","version":"1"},"scored_at":"2026-11-23T10:00:01Z"}"#;

    /// Fields in another order than the schema writes them.
    const SHUFFLED: &str = r#"{"scored_at":"2026-11-02T00:00:32Z","model":{"version":"1","name":"synthetic"},"toxicity":{"label":"non_toxic","score":0.05},"sentiment":{"probs":{"positive":0.8,"neutral":0.15,"negative":0.05},"score":0.75,"label":"positive"},"text":"staff weekend","source":"twitter","created_at":"2026-11-02T00:00:32Z","brand":"brand-0004","id":"synth-1"}"#;

    /// JSON punctuation, digits, literals' letters, whitespace, a control
    /// character and a non-ASCII letter.
    const EDIT_CHARS: &str = " \t\n\u{1}\"{}[],:0159.-eE\\nultrafsé";

    /// Pieces of a JSON string: the first [`DECODED_PIECES`] the scanner
    /// decodes, then what it leaves to serde (a surrogate pair, a lone
    /// surrogate, bad hex, an unknown escape, a raw control character, a
    /// backslash at the end of the string).
    const PIECES: &[&str] = &[
        "plain",
        " ",
        "é",
        "😡",
        r"\n",
        r#"\""#,
        r"\\",
        r"\/",
        r"\b",
        r"\f",
        r"\r",
        r"\t",
        r"\u0041",
        r"\u00e9",
        r"\uFFFF",
        r"\u0000",
        r"\ud83d\ude00",
        r"\ud83d",
        r"\udc00",
        r"\u12G4",
        r"\u12",
        r"\x",
        "\u{1}",
        "\\",
    ];
    const DECODED_PIECES: usize = 16;

    /// `line` with its text (a string without escapes) replaced by `text`.
    fn with_text(line: &str, text: &str) -> String {
        const KEY: &str = "\"text\":\"";
        let start = line.find(KEY).expect("a text") + KEY.len();
        let end = start + line[start..].find('"').expect("the text's end");
        format!("{}{text}{}", &line[..start], &line[end..])
    }

    /// What the view decodes with when the scanner gives up.
    fn serde(text: &str) -> Option<RawScored<'_>> {
        super::super::decode_with_serde(text)
    }

    #[test]
    fn reads_the_common_shapes_as_serde_does() {
        for text in [
            PLAIN,
            WRITER_FULL,
            WRITER_BARE,
            WRITER_NULL_SOURCE,
            RICH,
            SHUFFLED,
        ] {
            let scanned = scan_common_shape(text).expect("common shape");
            assert_eq!(Some(&scanned), serde(text).as_ref(), "{text}");
        }
        let rich = scan_common_shape(RICH).expect("rich");
        assert_eq!(rich.source, None);
        assert_eq!(rich._metrics.map(|metrics| metrics._likes), Some(Some(3)));
        assert_eq!(rich.sentiment.label, SentimentLabel::Negative);
        assert_eq!(rich.toxicity.score, 1.0);
    }

    #[test]
    fn reads_the_writers_layout_as_the_general_reader_does() {
        for text in [PLAIN, WRITER_FULL, WRITER_BARE, WRITER_NULL_SOURCE] {
            let fast = scan_whole(text, Scanner::writer_layout);
            assert!(fast.is_some(), "{text}");
            assert_eq!(fast, scan_whole(text, Scanner::scored), "{text}");
        }
        // Whitespace, another order, unknown fields and metadata: the
        // general reader's.
        for text in [RICH, SHUFFLED] {
            assert!(scan_whole(text, Scanner::writer_layout).is_none(), "{text}");
        }
    }

    /// A text's escapes are decoded as serde decodes them, in both layouts.
    #[test]
    fn decodes_a_texts_escapes_as_serde_does() {
        for escaped in [
            r#"say \"hi\"\nnow\\then\/\b\f\r\t"#,
            r#"caf\u00e9 \u00E9\u2603 \u0000 end"#,
            r#"\n"#,
            r#"ends with a quote\""#,
        ] {
            for base in [PLAIN, WRITER_FULL, SHUFFLED] {
                let line = with_text(base, escaped);
                let scanned = scan_common_shape(&line).expect("scanned");
                assert!(matches!(scanned.text, Cow::Owned(_)), "{line}");
                assert_eq!(Some(&scanned), serde(&line).as_ref(), "{line}");
            }
        }
    }

    #[test]
    fn gives_up_outside_its_subset() {
        for (from, to) in [
            // serde decodes escapes (and accepts these): only the text's
            // common ones are decoded here
            ("phone", "ph\\ud83d\\ude00ne"),
            ("phone", "ph\\ud83dne"),
            ("phone", "ph\\u00ne"),
            ("phone", "ph\\u+0ane"),
            ("phone", "ph\\xne"),
            ("\"acme\"", "\"ac\\\"me\""),
            // serde accepts these, the scanner cannot be sure of the value
            ("-0.8", "-8e-1"),
            ("\"score\":1,", "\"score\":1.00000000000000000,"),
            ("\"score\":-0.8", "\"score\":-0"),
            // serde rejects these
            ("\"lang\":\"en\"", "\"lang\":\"en\",\"lang\":\"fr\""),
            ("\"likes\":3", "\"likes\":03"),
            ("\"likes\":3", "\"likes\":-3"),
            ("\"likes\":3", "\"likes\":3.5"),
            ("\"e\":{}", "\"e\":{},"),
            ("awful", "aw\u{1}ful"),
            ("\"negative\",\"score\"", "\"sad\",\"score\""),
            ("\"shard\":4}", "\"shard\":4}x"),
            ("\"metadata\":{", "\"metadata\":[{"),
        ] {
            assert!(RICH.contains(from), "{from}");
            let text = RICH.replacen(from, to, 1);
            assert_eq!(scan_common_shape(&text), None, "{text}");
        }
        let deep = RICH.replacen(
            "\"e\":{}",
            &format!("\"e\":{}{}", "[".repeat(20), "]".repeat(20)),
            1,
        );
        assert_eq!(scan_common_shape(&deep), None);
        assert!(serde(&deep).is_some());
    }

    #[test]
    fn finds_the_first_special_byte_as_a_plain_search_does() {
        let plain = |bytes: &[u8]| {
            bytes
                .iter()
                .position(|byte| matches!(byte, b'"' | b'\\' | 0..=0x1f))
        };
        // Every byte value at every position of a chunk and of the tail, in
        // ASCII and in multi-byte UTF-8 surroundings, once and twice.
        for filler in [b'a', 0xc3, b' ', b'!', 0xff] {
            for length in [0, 5, 8, 13, 24] {
                for position in 0..length {
                    for value in 0..=255u8 {
                        let mut bytes = vec![filler; length];
                        bytes[position] = value;
                        assert_eq!(first_special_byte(&bytes), plain(&bytes), "{bytes:?}");
                        if position + 3 < length {
                            bytes[position + 3] = b'"';
                            assert_eq!(first_special_byte(&bytes), plain(&bytes), "{bytes:?}");
                        }
                    }
                }
            }
        }
    }

    proptest! {
        /// Decimals read as serde_json reads an `f32`, bit for bit.
        #[test]
        fn reads_decimals_as_serde_does(
            negative in any::<bool>(),
            integer in 0u64..10_000_000,
            fraction in 0u64..100_000_000,
            fraction_digits in 0usize..9,
        ) {
            let mut text = format!("{}{integer}", if negative { "-" } else { "" });
            if fraction_digits > 0 {
                let fraction = format!("{fraction:08}");
                text.push('.');
                text.push_str(&fraction[..fraction_digits]);
            }
            let mut scanner = Scanner { text: &text, bytes: text.as_bytes(), position: 0 };
            let expected: f32 = serde_json::from_str(&text).expect("a JSON number");
            match scanner.float() {
                Some(value) => prop_assert_eq!(value.to_bits(), expected.to_bits(), "{}", text),
                // Only "-0"-like integers are left to serde.
                None => prop_assert!(negative && fraction_digits == 0),
            }
        }

        /// Texts of plain runs and escapes, valid or not: whenever the
        /// scanner answers, serde answers the same, and it answers every
        /// text of the escapes it decodes.
        #[test]
        fn reads_escaped_texts_as_serde_does(
            base in 0usize..3,
            pieces in proptest::collection::vec(0usize..PIECES.len(), 0..12),
        ) {
            let escaped: String = pieces.iter().map(|piece| PIECES[*piece]).collect();
            let base = [PLAIN, WRITER_FULL, SHUFFLED][base];
            let line = with_text(base, &escaped);
            let decodable = pieces.iter().all(|piece| *piece < DECODED_PIECES);
            match scan_common_shape(&line) {
                Some(scanned) => prop_assert_eq!(Some(scanned), serde(&line), "{}", line),
                None => prop_assert!(!decodable, "{}", line),
            }
        }

        /// Byte edits of both shapes: whenever the scanner answers, serde
        /// answers the same.
        #[test]
        fn never_disagrees_with_serde(
            base in 0usize..4,
            edits in proptest::collection::vec((0usize..400, any::<u8>()), 1..4)
        ) {
            let mut text: Vec<char> = [RICH, PLAIN, WRITER_FULL, WRITER_BARE][base].chars().collect();
            let edit_chars: Vec<char> = EDIT_CHARS.chars().collect();
            for (position, pick) in edits {
                let position = position % text.len();
                text[position] = edit_chars[usize::from(pick) % edit_chars.len()];
            }
            let text: String = text.into_iter().collect();
            if let Some(scanned) = scan_common_shape(&text) {
                prop_assert_eq!(Some(scanned), serde(&text), "{}", text);
            }
            // The writer's layout reader on its own (the general one hides it).
            if let Some(fast) = scan_whole(&text, Scanner::writer_layout) {
                prop_assert_eq!(Some(fast), serde(&text), "{}", text);
            }
        }
    }
}
