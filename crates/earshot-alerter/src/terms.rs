//! Term extraction for the emerging-terms detector and alert evidence.

/// Words too common to say anything (a `match` compiles to a length
/// switch, several times faster than scanning a list for every word).
fn is_stopword(word: &str) -> bool {
    matches!(
        word,
        "the"
            | "and"
            | "for"
            | "you"
            | "your"
            | "are"
            | "was"
            | "were"
            | "this"
            | "that"
            | "with"
            | "have"
            | "has"
            | "had"
            | "not"
            | "but"
            | "just"
            | "they"
            | "them"
            | "their"
            | "from"
            | "what"
            | "when"
            | "will"
            | "would"
            | "can"
            | "cant"
            | "can't"
            | "don't"
            | "dont"
            | "all"
            | "out"
            | "get"
            | "got"
            | "our"
            | "about"
            | "there"
            | "been"
            | "how"
            | "why"
            | "who"
            | "its"
            | "it's"
            | "i'm"
            | "im"
            | "now"
            | "one"
            | "any"
            | "too"
            | "very"
            | "more"
            | "some"
            | "than"
            | "then"
            | "into"
            | "also"
            | "amp"
            | "via"
            | "only"
            | "still"
            | "even"
            | "again"
            | "could"
            | "should"
            | "does"
            | "did"
    )
}

/// Returns the distinct terms of a text: lower-cased words of 3+ characters
/// and hashtags, without stopwords, links, user handles or the brand itself.
pub fn terms_of(text: &str, brand: &str) -> Vec<String> {
    let mut terms: Vec<String> = Vec::new();
    let mut scratch = String::new();
    for_each_term(text, &brand.to_lowercase(), &mut scratch, |term| {
        if !terms.iter().any(|known| known == term) {
            terms.push(term.to_owned());
        }
    });
    terms
}

/// Calls `found` with each term of a text (repeats included), using
/// `scratch` instead of allocating: the detector runs this on every mention.
/// `brand_lower` is the brand, lower-cased.
pub fn for_each_term(
    text: &str,
    brand_lower: &str,
    scratch: &mut String,
    mut found: impl FnMut(&str),
) {
    if !text.is_ascii() {
        for raw in text.split_whitespace().take(MAX_WORDS) {
            term_of_word(raw, false, brand_lower, scratch, &mut found);
        }
        return;
    }
    // ASCII (most texts): words split byte by byte, and whether a word is
    // already plain (lower-case letters and digits) learnt on the way.
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
        let mut plain = true;
        while index < bytes.len() && !is_ascii_space(bytes[index]) {
            plain &= bytes[index].is_ascii_lowercase() | bytes[index].is_ascii_digit();
            index += 1;
        }
        let raw = text.get(start..index).unwrap_or_default();
        term_of_word(raw, plain, brand_lower, scratch, &mut found);
    }
}

/// Words read of a text at most (a pasted essay adds nothing but work).
const MAX_WORDS: usize = 60;

/// `char::is_whitespace` among ASCII bytes: space, and tab to carriage
/// return (vertical tab and form feed included).
fn is_ascii_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t'..=b'\r')
}

/// Passes the term `raw` makes, if any, to `found`; `plain` when `raw` is
/// known to be lower-case ASCII letters and digits only.
fn term_of_word(
    raw: &str,
    plain: bool,
    brand_lower: &str,
    scratch: &mut String,
    found: &mut impl FnMut(&str),
) {
    if raw.starts_with('@') || raw.starts_with("http") || raw.starts_with("www.") {
        return;
    }
    let word = if plain { raw } else { normalized(raw, scratch) };
    let bare = word.trim_start_matches('#');
    let short = if bare.is_ascii() {
        bare.len() < 3
    } else {
        bare.chars().count() < 3
    };
    if short || bare.bytes().all(|byte| byte.is_ascii_digit()) {
        return;
    }
    if is_stopword(bare)
        || bare == brand_lower
        // Length first: most words are shorter than the brand.
        || brand_lower.len() >= 4 && bare.len() > brand_lower.len() && bare.contains(brand_lower)
    {
        return;
    }
    found(word);
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
        scratch.extend(
            raw.chars()
                .filter(keep)
                .map(|character| character.to_ascii_lowercase()),
        );
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
            text in "([a-zA-Z0-9#'@.]{0,7}[\\t\\n\\x0b\\x0c\\r\\x1c\\x1f \u{a0}\u{2003}é]{1,2}){0,70}",
            brand in "[a-z]{3,5}",
        ) {
            for text in [text.clone(), text.chars().filter(char::is_ascii).collect()] {
                let mut scratch = String::new();
                let mut expected = Vec::new();
                for raw in text.split_whitespace().take(MAX_WORDS) {
                    term_of_word(raw, false, &brand, &mut scratch, &mut |term: &str| {
                        expected.push(term.to_owned())
                    });
                }
                let mut terms = Vec::new();
                for_each_term(&text, &brand, &mut scratch, |term| terms.push(term.to_owned()));
                prop_assert_eq!(terms, expected);
            }
        }

        /// The copy-free and ASCII paths lower and filter a word exactly as
        /// the general one does.
        #[test]
        fn every_path_normalizes_a_word_alike(raw in "[a-zA-Z0-9#'.,!é ÄΣς]{0,12}") {
            let keep = |character: &char| {
                character.is_alphanumeric() || *character == '#' || *character == '\''
            };
            let general = raw.chars().filter(keep).collect::<String>().to_lowercase();
            let mut scratch = String::new();
            prop_assert_eq!(normalized(&raw, &mut scratch), general.trim_matches('\''));
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
