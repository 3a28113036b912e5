//! Wire schemas shared by every earshot service: [`Mention`] on `mentions`,
//! [`ScoredMention`] on `mentions.scored` and [`Alert`] on `alerts`.
//!
//! Decoding goes through [`Mention::from_json_bytes`] and
//! [`ScoredMention::from_json_bytes`], which validate every field and return a
//! [`SchemaError`] naming the offending field, so that a dead-letter record
//! says exactly what was wrong. Fields the schema does not know are kept and
//! written back out unchanged.

mod alert;
mod error;
mod mention;
mod scored;
pub mod topics;
mod view;

pub use alert::{
    Alert, AlertEvidence, AlertKind, AlertMetrics, AlertStatus, SampleMention, Severity,
    TermEvidence,
};
pub use error::{SchemaError, SchemaErrorKind};
pub use mention::{Mention, MentionMetrics, ValidationLimits};
pub use scored::{ModelInfo, ScoredMention, Sentiment, SentimentLabel, SentimentProbs, Toxicity};
pub use view::ScoredMentionView;

/// The first `limit` characters of `text` (texts, snippets and samples are
/// clipped by characters, never inside one).
pub fn clip_chars(text: &str, limit: usize) -> &str {
    // No more bytes than the limit means no more characters either.
    if text.len() <= limit {
        return text;
    }
    match text.char_indices().nth(limit) {
        Some((byte_index, _)) => &text[..byte_index],
        None => text,
    }
}

/// Formats a timestamp the way every earshot message carries it: RFC 3339 in
/// UTC with a `Z` suffix and only as many fractional digits as needed.
pub fn format_timestamp(timestamp: &chrono::DateTime<chrono::Utc>) -> String {
    timestamp.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    use super::clip_chars;

    #[test]
    fn clips_by_characters() {
        assert_eq!(clip_chars("héllo", 2), "hé");
        assert_eq!(clip_chars("hi", 10), "hi");
        assert_eq!(clip_chars("ééé", 2), "éé");
        assert_eq!(clip_chars("ééé", 3), "ééé");
        assert_eq!(clip_chars("abcdef", 4), "abcd");
        assert_eq!(clip_chars(&"😡".repeat(300), 200), "😡".repeat(200));
    }
}
