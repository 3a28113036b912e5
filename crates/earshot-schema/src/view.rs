//! A borrowed view of a scored mention: the fields detection reads, decoded
//! without building a JSON tree (the alerter's backtest reads millions of
//! lines a second).

mod scan;

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::mention::{
    check_max_chars, check_not_blank, is_blank, parse_timestamp, timestamp_is_valid, UNKNOWN_SOURCE,
};
use crate::{
    SchemaError, ScoredMention, SentimentLabel, SentimentProbs, Toxicity, ValidationLimits,
};

/// What the detector reads of a scored mention.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredMentionView<'a> {
    pub id: Cow<'a, str>,
    pub brand: Cow<'a, str>,
    pub text: Cow<'a, str>,
    /// `unknown` when the collector did not say, as in [`crate::Mention`].
    pub source: Cow<'a, str>,
    pub url: Option<Cow<'a, str>>,
    pub created_at: DateTime<Utc>,
    pub sentiment: SentimentLabel,
    /// P(positive) - P(negative).
    pub sentiment_score: f32,
    pub toxicity_score: f32,
    pub toxic: bool,
}

impl ScoredMention {
    /// Borrows the fields detection reads.
    pub fn view(&self) -> ScoredMentionView<'_> {
        ScoredMentionView {
            id: Cow::Borrowed(&self.mention.id),
            brand: Cow::Borrowed(&self.mention.brand),
            text: Cow::Borrowed(&self.mention.text),
            source: Cow::Borrowed(&self.mention.source),
            url: self.mention.url.as_deref().map(Cow::Borrowed),
            created_at: self.mention.created_at,
            sentiment: self.sentiment.label,
            sentiment_score: self.sentiment.score,
            toxicity_score: self.toxicity.score,
            toxic: self.toxicity.is_toxic(),
        }
    }
}

impl<'a> ScoredMentionView<'a> {
    /// Decodes and validates like [`ScoredMention::from_json_bytes`] and
    /// accepts exactly the same messages: a typed, borrowing decoder handles
    /// the common shape, and whatever it does not (escaped short fields,
    /// duplicate keys, whole-number floats as counts, any error) is decided
    /// by the full decoder, which also gives the error.
    pub fn from_json_bytes(
        bytes: &'a [u8],
        limits: &ValidationLimits,
    ) -> Result<ScoredMentionView<'a>, SchemaError> {
        match Self::decode_common_shape(bytes, limits) {
            Some(view) => Ok(view),
            None => ScoredMention::from_json_bytes(bytes, limits)
                .map(|scored| scored.view().into_owned()),
        }
    }

    /// Copies the borrowed fields so that the view outlives the message.
    pub fn into_owned(self) -> ScoredMentionView<'static> {
        ScoredMentionView {
            id: Cow::Owned(self.id.into_owned()),
            brand: Cow::Owned(self.brand.into_owned()),
            text: Cow::Owned(self.text.into_owned()),
            source: Cow::Owned(self.source.into_owned()),
            url: self.url.map(|url| Cow::Owned(url.into_owned())),
            created_at: self.created_at,
            sentiment: self.sentiment,
            sentiment_score: self.sentiment_score,
            toxicity_score: self.toxicity_score,
            toxic: self.toxic,
        }
    }

    /// The fast path: `None` whenever it is not sure, never a wrong `Some`
    /// (checked against the full decoder by a property test).
    fn decode_common_shape(bytes: &'a [u8], limits: &ValidationLimits) -> Option<Self> {
        if bytes.len() > limits.max_message_bytes {
            return None;
        }
        // Validated once here (SIMD), so the parser need not check each string.
        let text = simdutf8::basic::from_utf8(bytes).ok()?;
        let raw = match scan::scan_common_shape(text) {
            Some(raw) => raw,
            None => decode_with_serde(text)?,
        };
        check_not_blank("id", raw.id).ok()?;
        check_max_chars("id", raw.id, limits.max_id_chars).ok()?;
        check_not_blank("brand", raw.brand).ok()?;
        check_max_chars("brand", raw.brand, limits.max_brand_chars).ok()?;
        let created_at = parse_timestamp("created_at", raw.created_at, limits).ok()?;
        if !timestamp_is_valid(raw.scored_at, limits) {
            return None;
        }
        if !(-1.0..=1.0).contains(&raw.sentiment.score)
            || !(0.0..=1.0).contains(&raw.toxicity.score)
        {
            return None;
        }
        let source = match raw.source {
            Some(source) if !is_blank(source) => source,
            _ => UNKNOWN_SOURCE,
        };
        Some(ScoredMentionView {
            id: Cow::Borrowed(raw.id),
            brand: Cow::Borrowed(raw.brand),
            text: raw.text,
            source: Cow::Borrowed(source),
            url: raw.url.map(Cow::Borrowed),
            created_at,
            sentiment: raw.sentiment.label,
            sentiment_score: raw.sentiment.score,
            toxicity_score: raw.toxicity.score,
            toxic: raw.toxicity.label == Toxicity::TOXIC,
        })
    }
}

/// The common shape, read by serde (escaped texts and whatever else the
/// scanner leaves).
fn decode_with_serde(text: &str) -> Option<RawScored<'_>> {
    // A derived struct also accepts a JSON array (fields by position).
    if text.bytes().find(|byte| !byte.is_ascii_whitespace()) != Some(b'{') {
        return None;
    }
    serde_json::from_str(text).ok()
}

/// Every field the full decoder checks, typed as it requires. Plain `&str`
/// fails on an escaped string, which sends that message to the full decoder.
#[derive(Debug, PartialEq, Deserialize)]
struct RawScored<'a> {
    id: &'a str,
    brand: &'a str,
    #[serde(borrow)]
    text: Cow<'a, str>,
    created_at: &'a str,
    #[serde(default)]
    source: Option<&'a str>,
    #[serde(default, rename = "author")]
    _author: Option<&'a str>,
    #[serde(default)]
    url: Option<&'a str>,
    #[serde(default, rename = "lang")]
    _lang: Option<&'a str>,
    #[serde(default, rename = "metrics")]
    _metrics: Option<RawMetrics>,
    #[serde(default, rename = "metadata")]
    _metadata: Option<AnyObject>,
    sentiment: RawSentiment,
    #[serde(borrow)]
    toxicity: RawToxicity<'a>,
    #[serde(borrow, rename = "model")]
    _model: RawModel<'a>,
    scored_at: &'a str,
}

#[derive(Debug, PartialEq, Deserialize)]
struct RawSentiment {
    label: SentimentLabel,
    score: f32,
    #[serde(rename = "probs")]
    _probs: SentimentProbs,
}

#[derive(Debug, PartialEq, Deserialize)]
struct RawToxicity<'a> {
    score: f32,
    label: &'a str,
}

#[derive(Debug, PartialEq, Deserialize)]
struct RawModel<'a> {
    #[serde(rename = "name")]
    _name: &'a str,
    #[serde(rename = "version")]
    _version: &'a str,
}

/// Counts as the full decoder accepts them (whole floats go the slow way).
#[derive(Debug, PartialEq, Deserialize)]
struct RawMetrics {
    #[serde(default, rename = "likes")]
    _likes: Option<u64>,
    #[serde(default, rename = "shares")]
    _shares: Option<u64>,
    #[serde(default, rename = "followers")]
    _followers: Option<u64>,
}

/// Any JSON object, contents unread.
#[derive(Debug, PartialEq)]
struct AnyObject;

impl<'de> Deserialize<'de> for AnyObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = AnyObject;
            fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AnyObject, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(AnyObject)
            }
        }
        deserializer.deserialize_map(ObjectVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const VALID: &str = r#"{"id":"m-1","brand":"acme","text":"the \"new\" phone\nis awful 😡","created_at":"2026-11-23T10:00:00+01:00","source":"twitter","author":"@someone","url":"https://example.com/1","lang":"en","metrics":{"likes":3,"views":50},"metadata":{"k":[1]},"sentiment":{"label":"negative","score":-0.8,"probs":{"negative":0.85,"neutral":0.1,"positive":0.05}},"toxicity":{"score":0.9,"label":"toxic"},"model":{"name":"m","version":"1"},"scored_at":"2026-11-23T09:00:01Z","shard":4}"#;

    /// JSON punctuation, literals' letters and bytes that break UTF-8.
    const EDIT_BYTES: &[u8] = b" \"{}[],:0-9.eE\\nultrafs\xc3\xff";

    fn full(bytes: &[u8]) -> Result<ScoredMentionView<'static>, SchemaError> {
        ScoredMention::from_json_bytes(bytes, &ValidationLimits::default())
            .map(|scored| scored.view().into_owned())
    }

    #[test]
    fn the_common_shape_decodes_without_the_full_decoder() {
        let limits = ValidationLimits::default();
        let view = ScoredMentionView::decode_common_shape(VALID.as_bytes(), &limits)
            .expect("common shape");
        assert_eq!(Ok(view.clone()), full(VALID.as_bytes()));
        assert!(matches!(view.id, Cow::Borrowed(_)));
        assert!(view.toxic);
        assert_eq!(view.text, "the \"new\" phone\nis awful 😡");
    }

    #[test]
    fn what_the_fast_path_leaves_is_decided_by_the_full_decoder() {
        let limits = ValidationLimits::default();
        for (text, accepted) in [
            (VALID.replace("\"m-1\"", "\"m\\u002d1\""), true),
            (VALID.replace("\"likes\":3", "\"likes\":3.0"), true),
            (
                VALID.replace("\"source\":\"twitter\"", "\"source\":\" \""),
                true,
            ),
            (
                VALID.replace("\"lang\":\"en\"", "\"lang\":\"en\",\"lang\":\"fr\""),
                true,
            ),
            (VALID.replace("\"likes\":3", "\"likes\":-3"), false),
            (
                VALID.replace("\"brand\":\"acme\"", "\"brand\":\" \""),
                false,
            ),
            (
                VALID.replace("\"metadata\":{\"k\":[1]}", "\"metadata\":[1]"),
                false,
            ),
            (VALID.replace("-0.8", "-1.5"), false),
            (format!("[{VALID}]"), false),
        ] {
            let decoded = ScoredMentionView::from_json_bytes(text.as_bytes(), &limits);
            assert_eq!(decoded.is_ok(), accepted, "{text}");
            assert_eq!(
                decoded.map(ScoredMentionView::into_owned),
                full(text.as_bytes())
            );
        }
    }

    proptest! {
        /// Byte edits of a valid message: the view accepts exactly what the
        /// full decoder accepts, with the same fields.
        #[test]
        fn agrees_with_the_full_decoder(
            edits in proptest::collection::vec((0usize..VALID.len(), any::<u8>()), 1..4)
        ) {
            let mut bytes = VALID.as_bytes().to_vec();
            for (position, byte) in edits {
                let position = position % bytes.len();
                bytes[position] = EDIT_BYTES[usize::from(byte) % EDIT_BYTES.len()];
            }
            let limits = ValidationLimits::default();
            let view = ScoredMentionView::from_json_bytes(&bytes, &limits).map(ScoredMentionView::into_owned);
            prop_assert_eq!(view, full(&bytes));
        }
    }
}
