//! Term extraction for the emerging-terms detector and alert evidence.

const STOPWORDS: &[&str] = &[
    "the", "and", "for", "you", "your", "are", "was", "were", "this", "that", "with", "have",
    "has", "had", "not", "but", "just", "they", "them", "their", "from", "what", "when", "will",
    "would", "can", "cant", "can't", "don't", "dont", "all", "out", "get", "got", "our", "about",
    "there", "been", "how", "why", "who", "its", "it's", "i'm", "im", "now", "one", "any", "too",
    "very", "more", "some", "than", "then", "into", "also", "amp", "via", "only", "still", "even",
    "again", "could", "should", "does", "did",
];

/// Returns the distinct terms of a text: lower-cased words of 3+ characters
/// and hashtags, without stopwords, links, user handles or the brand itself.
pub fn terms_of(text: &str, brand: &str) -> Vec<String> {
    let brand = brand.to_lowercase();
    let mut terms: Vec<String> = Vec::new();
    for raw in text.split_whitespace().take(60) {
        if raw.starts_with('@') || raw.starts_with("http") || raw.starts_with("www.") {
            continue;
        }
        let cleaned: String = raw
            .chars()
            .filter(|character| {
                character.is_alphanumeric() || *character == '#' || *character == '\''
            })
            .collect::<String>()
            .to_lowercase();
        let word = cleaned.trim_matches('\'');
        let bare = word.trim_start_matches('#');
        if bare.chars().count() < 3 || bare.chars().all(|character| character.is_ascii_digit()) {
            continue;
        }
        if STOPWORDS.contains(&bare) || bare == brand || bare.contains(&brand) && brand.len() >= 4 {
            continue;
        }
        if !terms.iter().any(|term| term == word) {
            terms.push(word.to_owned());
        }
    }
    terms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_hashtags_and_drops_noise() {
        let terms = terms_of(
            "@United lost my bag AGAIN!! #lostbag http://t.co/x the refund 2015 Unitedairlines",
            "united",
        );
        assert_eq!(terms, vec!["lost", "bag", "#lostbag", "refund"]);
    }
}
