use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{json_type_name, SchemaError};

/// A brand mention as collectors publish it on `mentions`.
///
/// Decode with [`Mention::from_json_bytes`]; fields the schema does not know
/// are kept in [`Mention::extra`] and serialized back at the top level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mention {
    pub id: String,
    pub brand: String,
    pub text: String,
    #[serde(serialize_with = "serialize_timestamp")]
    pub created_at: DateTime<Utc>,
    /// Where the mention was seen: twitter, reddit, news, review, ...
    /// Defaults to `unknown` when the collector did not say.
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<MentionMetrics>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
    /// Fields this version of the schema does not know, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Engagement counts a collector may attach to a mention.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MentionMetrics {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub likes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shares: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub followers: Option<u64>,
    /// Other counters, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Bounds applied while decoding; the defaults suit social posts and reviews.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidationLimits {
    /// Largest encoded message accepted, in bytes.
    pub max_message_bytes: usize,
    /// Longest `id`, in characters.
    pub max_id_chars: usize,
    /// Longest `brand`, in characters.
    pub max_brand_chars: usize,
    /// Earliest accepted `created_at` year.
    pub min_year: i32,
    /// Latest accepted `created_at` year.
    pub max_year: i32,
}

impl Default for ValidationLimits {
    fn default() -> Self {
        ValidationLimits {
            max_message_bytes: 4 * 1024 * 1024,
            max_id_chars: 512,
            max_brand_chars: 200,
            min_year: 1970,
            max_year: 2100,
        }
    }
}

pub(crate) const UNKNOWN_SOURCE: &str = "unknown";

impl Mention {
    /// Decodes and validates a mention from raw message bytes.
    pub fn from_json_bytes(bytes: &[u8], limits: &ValidationLimits) -> Result<Self, SchemaError> {
        let object = parse_object(bytes, limits)?;
        Mention::from_object(object, limits)
    }

    /// Checks size and UTF-8 and parses a JSON object without validating its
    /// fields, for tools that edit fields (replay's `--set`) before
    /// [`Mention::from_object`].
    pub fn object_from_json_bytes(
        bytes: &[u8],
        limits: &ValidationLimits,
    ) -> Result<Map<String, Value>, SchemaError> {
        parse_object(bytes, limits)
    }

    /// Validates a mention held in a JSON object, consuming it.
    pub fn from_object(
        mut object: Map<String, Value>,
        limits: &ValidationLimits,
    ) -> Result<Self, SchemaError> {
        let id = take_required_string(&mut object, "id")?;
        check_not_blank("id", &id)?;
        check_max_chars("id", &id, limits.max_id_chars)?;
        let brand = take_required_string(&mut object, "brand")?;
        check_not_blank("brand", &brand)?;
        check_max_chars("brand", &brand, limits.max_brand_chars)?;
        // An empty text is a valid (if useless) mention: a photo with no caption.
        let text = take_required_string(&mut object, "text")?;
        let created_at_raw = take_required_string(&mut object, "created_at")?;
        let created_at = parse_timestamp("created_at", &created_at_raw, limits)?;
        let source = match take_optional_string(&mut object, "source")? {
            Some(source) if !is_blank(&source) => source,
            _ => UNKNOWN_SOURCE.to_owned(),
        };
        let author = take_optional_string(&mut object, "author")?;
        let url = take_optional_string(&mut object, "url")?;
        let lang = take_optional_string(&mut object, "lang")?;
        let metrics = match object.remove("metrics") {
            None | Some(Value::Null) => None,
            Some(Value::Object(metrics)) => Some(parse_metrics(metrics)?),
            Some(other) => {
                return Err(SchemaError::WrongType {
                    field: "metrics",
                    expected: "an object",
                    found: json_type_name(&other),
                })
            }
        };
        let metadata = match object.remove("metadata") {
            None | Some(Value::Null) => None,
            Some(Value::Object(metadata)) => Some(metadata),
            Some(other) => {
                return Err(SchemaError::WrongType {
                    field: "metadata",
                    expected: "an object",
                    found: json_type_name(&other),
                })
            }
        };
        Ok(Mention {
            id,
            brand,
            text,
            created_at,
            source,
            author,
            url,
            lang,
            metrics,
            metadata,
            extra: object,
        })
    }

    /// Returns the message key: the brand, so that a brand stays in one partition.
    pub fn key(&self) -> &str {
        &self.brand
    }

    /// Serializes to the JSON wire format.
    pub fn to_json_vec(&self) -> Vec<u8> {
        // Serializing plain strings, numbers and maps cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

fn parse_metrics(mut metrics: Map<String, Value>) -> Result<MentionMetrics, SchemaError> {
    Ok(MentionMetrics {
        likes: take_optional_count(&mut metrics, "metrics.likes", "likes")?,
        shares: take_optional_count(&mut metrics, "metrics.shares", "shares")?,
        followers: take_optional_count(&mut metrics, "metrics.followers", "followers")?,
        extra: metrics,
    })
}

pub(crate) fn serialize_timestamp<S: serde::Serializer>(
    timestamp: &DateTime<Utc>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&crate::format_timestamp(timestamp))
}

/// Checks size and UTF-8, then parses a JSON object.
pub(crate) fn parse_object(
    bytes: &[u8],
    limits: &ValidationLimits,
) -> Result<Map<String, Value>, SchemaError> {
    if bytes.len() > limits.max_message_bytes {
        return Err(SchemaError::TooLarge {
            size: bytes.len(),
            limit: limits.max_message_bytes,
        });
    }
    // Checked up front so that the error says "UTF-8" rather than a JSON position.
    if let Err(utf8_error) = std::str::from_utf8(bytes) {
        return Err(SchemaError::InvalidUtf8 {
            valid_up_to: utf8_error.valid_up_to(),
        });
    }
    let value: Value =
        serde_json::from_slice(bytes).map_err(|json_error| SchemaError::InvalidJson {
            message: json_error.to_string(),
        })?;
    match value {
        Value::Object(object) => Ok(object),
        _ => Err(SchemaError::NotAnObject),
    }
}

pub(crate) fn take_required_string(
    object: &mut Map<String, Value>,
    field: &'static str,
) -> Result<String, SchemaError> {
    match object.remove(field) {
        None | Some(Value::Null) => Err(SchemaError::MissingField { field }),
        Some(Value::String(value)) => Ok(value),
        Some(other) => Err(SchemaError::WrongType {
            field,
            expected: "a string",
            found: json_type_name(&other),
        }),
    }
}

pub(crate) fn take_optional_string(
    object: &mut Map<String, Value>,
    field: &'static str,
) -> Result<Option<String>, SchemaError> {
    match object.remove(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(value)) => Ok(Some(value)),
        Some(other) => Err(SchemaError::WrongType {
            field,
            expected: "a string",
            found: json_type_name(&other),
        }),
    }
}

fn take_optional_count(
    object: &mut Map<String, Value>,
    field: &'static str,
    key: &str,
) -> Result<Option<u64>, SchemaError> {
    match object.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(number)) => match number.as_u64() {
            Some(count) => Ok(Some(count)),
            // Some collectors send counts as floats ("12.0"); accept whole ones.
            None => match number.as_f64() {
                Some(float) if float >= 0.0 && float.fract() == 0.0 && float < 1.0e18 => {
                    Ok(Some(float as u64))
                }
                _ => Err(SchemaError::OutOfRange {
                    field,
                    reason: format!("{number} is not a non-negative whole number"),
                }),
            },
        },
        Some(other) => Err(SchemaError::WrongType {
            field,
            expected: "a number",
            found: json_type_name(&other),
        }),
    }
}

pub(crate) fn check_not_blank(field: &'static str, value: &str) -> Result<(), SchemaError> {
    if is_blank(value) {
        return Err(SchemaError::Empty { field });
    }
    Ok(())
}

/// Whether `value` is empty or whitespace only (as `str::trim` sees it);
/// an ASCII first byte that is not whitespace answers at once.
pub(crate) fn is_blank(value: &str) -> bool {
    match value.as_bytes().first() {
        // `char::is_whitespace` among ASCII: space, and tab to carriage return.
        Some(byte) if byte.is_ascii() && !matches!(byte, b' ' | b'\t'..=b'\r') => false,
        _ => value.trim().is_empty(),
    }
}

pub(crate) fn check_max_chars(
    field: &'static str,
    value: &str,
    limit: usize,
) -> Result<(), SchemaError> {
    // No more bytes than the limit means no more characters either.
    if value.len() <= limit {
        return Ok(());
    }
    let length = value.chars().count();
    if length > limit {
        return Err(SchemaError::TooLong {
            field,
            length,
            limit,
        });
    }
    Ok(())
}

pub(crate) fn parse_timestamp(
    field: &'static str,
    raw: &str,
    limits: &ValidationLimits,
) -> Result<DateTime<Utc>, SchemaError> {
    let utc = match parse_plain_utc(raw) {
        Some(utc) => utc,
        None => DateTime::parse_from_rfc3339(raw)
            .map_err(|_| SchemaError::InvalidTimestamp {
                field,
                value: crate::clip_chars(raw, 64).to_owned(),
            })?
            .with_timezone(&Utc),
    };
    if utc.year() < limits.min_year || utc.year() > limits.max_year {
        return Err(SchemaError::OutOfRange {
            field,
            reason: format!(
                "year {} is outside {}..={}",
                utc.year(),
                limits.min_year,
                limits.max_year
            ),
        });
    }
    Ok(utc)
}

/// Whether `raw` is a timestamp within the limits, as `parse_timestamp`
/// would say, without building it when it is plain UTC (validated-only
/// fields such as `scored_at`).
pub(crate) fn timestamp_is_valid(raw: &str, limits: &ValidationLimits) -> bool {
    match plain_utc_fields(raw) {
        Some(fields) => (limits.min_year..=limits.max_year).contains(&fields.year),
        None => parse_timestamp("", raw, limits).is_ok(),
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ`, the shape every earshot producer writes, read
/// without chrono's general RFC 3339 parser (a third of a backtest's
/// decoding); `None` for anything else, which goes to that parser.
fn parse_plain_utc(raw: &str) -> Option<DateTime<Utc>> {
    let fields = plain_utc_fields(raw)?;
    let date = chrono::NaiveDate::from_ymd_opt(fields.year, fields.month, fields.day)?;
    Some(
        date.and_hms_opt(fields.hour, fields.minute, fields.second)?
            .and_utc(),
    )
}

/// The fields of a plain UTC timestamp, each within its calendar range.
struct PlainUtc {
    year: i32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
}

fn plain_utc_fields(raw: &str) -> Option<PlainUtc> {
    let bytes: &[u8; 20] = raw.as_bytes().try_into().ok()?;
    let (head, rest) = bytes.split_first_chunk::<8>()?;
    let (middle, tail) = rest.split_first_chunk::<8>()?;
    let tail: &[u8; 4] = tail.try_into().ok()?;
    // Little-endian: byte i of a word is bits 8i..8i+8. The 20 bytes as
    // `YYYY-MM-`, `DDTHH:MM` and `:SSZ`; digit bytes marked 0xff.
    let (head, middle, tail) = (
        u64::from_le_bytes(*head),
        u64::from_le_bytes(*middle),
        u64::from(u32::from_le_bytes(*tail)),
    );
    const HEAD_DIGITS: u64 = 0x00ff_ff00_ffff_ffff;
    const MIDDLE_DIGITS: u64 = 0xffff_00ff_ff00_ffff;
    const TAIL_DIGITS: u64 = 0x0000_0000_00ff_ff00;
    const HEAD_SEPARATORS: u64 = (b'-' as u64) << 32 | (b'-' as u64) << 56;
    const MIDDLE_SEPARATORS: u64 = (b'T' as u64) << 16 | (b':' as u64) << 40;
    const TAIL_SEPARATORS: u64 = b':' as u64 | (b'Z' as u64) << 24;
    // A digit byte is 0x30..=0x39: its high nibble is 3, also after adding 6
    // (a byte of 0xfa or more could carry into the next, but it fails its
    // own test first).
    let digits = |word: u64, mask: u64| {
        let high = mask & 0xf0f0_f0f0_f0f0_f0f0;
        let three = mask & 0x3030_3030_3030_3030;
        word & high == three && word.wrapping_add(0x0606_0606_0606_0606) & high == three
    };
    if !(digits(head, HEAD_DIGITS) && digits(middle, MIDDLE_DIGITS) && digits(tail, TAIL_DIGITS))
        || head & !HEAD_DIGITS != HEAD_SEPARATORS
        || middle & !MIDDLE_DIGITS != MIDDLE_SEPARATORS
        || tail & !TAIL_DIGITS != TAIL_SEPARATORS
    {
        return None;
    }
    let digit = |word: u64, at: u32| ((word >> (8 * at)) & 0x0f) as u32;
    let pair = |word: u64, at: u32| digit(word, at) * 10 + digit(word, at + 1);
    let fields = PlainUtc {
        year: (pair(head, 0) * 100 + pair(head, 2)) as i32,
        month: pair(head, 5),
        day: pair(middle, 0),
        hour: pair(middle, 3),
        minute: pair(middle, 6),
        second: pair(tail, 1),
    };
    let leap_year = fields.year % 4 == 0 && (fields.year % 100 != 0 || fields.year % 400 == 0);
    let days_in_month = match fields.month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap_year => 29,
        2 => 28,
        _ => return None,
    };
    // A leap second (60) takes chrono's path, which knows how to hold it.
    let valid = (1..=days_in_month).contains(&fields.day)
        && fields.hour < 24
        && fields.minute < 60
        && fields.second < 60;
    valid.then_some(fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// `is_blank` is `trim().is_empty()`, whatever the first character
        /// (every ASCII byte, Unicode spaces, the ASCII separators that
        /// `char::is_whitespace` leaves out).
        #[test]
        fn blank_is_what_trim_empties(value in "[\\x00-\\x7f\u{85}\u{a0}\u{2003}é]{0,4}") {
            prop_assert_eq!(is_blank(&value), value.trim().is_empty());
        }

        /// The fast timestamp path agrees with chrono wherever it answers,
        /// and answers for every valid plain UTC timestamp.
        #[test]
        fn plain_utc_timestamps_read_as_chrono_reads_them(
            year in 0u32..10_000, month in 0u32..14, day in 0u32..33,
            hour in 0u32..26, minute in 0u32..62, second in 0u32..62,
            separator in prop::sample::select(vec!['T', 't', ' ', 'x']),
            zone in prop::sample::select(vec!["Z", "z", "+00:00", "+01:30", "ZZ"]),
        ) {
            let raw = format!(
                "{year:04}-{month:02}-{day:02}{separator}{hour:02}:{minute:02}:{second:02}{zone}"
            );
            let chrono = DateTime::parse_from_rfc3339(&raw).ok().map(|at| at.with_timezone(&Utc));
            match parse_plain_utc(&raw) {
                Some(fast) => prop_assert_eq!(Some(fast), chrono),
                None => prop_assert!(
                    chrono.is_none() || separator != 'T' || zone != "Z" || second >= 60,
                    "{} was left to chrono", raw
                ),
            }
        }

        /// Every byte value at every position of valid plain timestamps:
        /// the fast path never accepts what chrono rejects or reads it
        /// otherwise (bytes next to the digits, `:` to `?`, and those that
        /// would carry into the next byte included).
        #[test]
        fn one_byte_changed_reads_as_chrono_reads_it(
            year in 1u32..10_000, month in 1u32..13, day in 1u32..29,
            hour in 0u32..24, minute in 0u32..60, second in 0u32..60,
        ) {
            let valid = format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z");
            for position in 0..valid.len() {
                for byte in 0..=u8::MAX {
                    let mut bytes = valid.clone().into_bytes();
                    bytes[position] = byte;
                    let Ok(raw) = String::from_utf8(bytes) else {
                        prop_assert!(byte >= 0x80);
                        continue;
                    };
                    let chrono = DateTime::parse_from_rfc3339(&raw)
                        .ok()
                        .map(|at| at.with_timezone(&Utc));
                    if let Some(fast) = parse_plain_utc(&raw) {
                        prop_assert_eq!(Some(fast), chrono, "{}", raw);
                    }
                }
            }
        }

        #[test]
        fn any_text_reads_as_chrono_reads_it(raw in "[0-9T:Z+. -]{18,22}") {
            if let Some(fast) = parse_plain_utc(&raw) {
                let chrono = DateTime::parse_from_rfc3339(&raw).ok().map(|at| at.with_timezone(&Utc));
                prop_assert_eq!(Some(fast), chrono);
            }
        }
    }

    /// Validating without building accepts what parsing accepts: every
    /// month and day around the month ends, leap years and centuries,
    /// hours, leap seconds, zones, and years at the limits.
    #[test]
    fn validity_is_what_parsing_says() {
        let narrow = ValidationLimits {
            min_year: 2000,
            max_year: 2023,
            ..ValidationLimits::default()
        };
        let mut checked = 0;
        for limits in [ValidationLimits::default(), narrow] {
            for year in [1899, 1900, 1999, 2000, 2023, 2024, 2026, 2100] {
                for month in 0..=13 {
                    for day in 0..=32 {
                        for (hour, second) in [(0, 0), (23, 59), (24, 0), (12, 60)] {
                            for zone in ["Z", "+00:00", "ZZ"] {
                                let raw = format!(
                                    "{year:04}-{month:02}-{day:02}T{hour:02}:00:{second:02}{zone}"
                                );
                                assert_eq!(
                                    timestamp_is_valid(&raw, &limits),
                                    parse_timestamp("scored_at", &raw, &limits).is_ok(),
                                    "{raw}"
                                );
                                checked += 1;
                            }
                        }
                    }
                }
            }
        }
        assert!(checked > 10_000);
    }

    fn limits() -> ValidationLimits {
        ValidationLimits::default()
    }

    fn valid_json() -> serde_json::Value {
        serde_json::json!({
            "id": "m-1",
            "brand": "acme",
            "text": "the new acme phone is great",
            "created_at": "2026-11-23T10:00:00+01:00",
            "source": "twitter",
            "author": "@someone",
            "url": "https://example.com/1",
            "lang": "en",
            "metrics": {"likes": 3, "shares": 1, "followers": 1200, "views": 50},
            "metadata": {"campaign": "launch"},
            "collector_version": "7"
        })
    }

    fn decode(value: &serde_json::Value) -> Result<Mention, SchemaError> {
        Mention::from_json_bytes(value.to_string().as_bytes(), &limits())
    }

    #[test]
    fn decodes_a_complete_mention() {
        let mention = decode(&valid_json()).expect("valid mention");
        assert_eq!(mention.id, "m-1");
        assert_eq!(mention.key(), "acme");
        assert_eq!(
            crate::format_timestamp(&mention.created_at),
            "2026-11-23T09:00:00Z"
        );
        let metrics = mention.metrics.as_ref().expect("metrics");
        assert_eq!(metrics.likes, Some(3));
        assert_eq!(metrics.followers, Some(1200));
        assert_eq!(metrics.extra["views"], 50);
    }

    #[test]
    fn keeps_unknown_fields_through_a_round_trip() {
        let mention = decode(&valid_json()).expect("valid mention");
        assert_eq!(mention.extra["collector_version"], "7");
        let encoded: serde_json::Value =
            serde_json::from_slice(&mention.to_json_vec()).expect("json");
        assert_eq!(encoded["collector_version"], "7");
        assert_eq!(encoded["metrics"]["views"], 50);
        assert_eq!(encoded["metadata"]["campaign"], "launch");
        let again = Mention::from_json_bytes(&mention.to_json_vec(), &limits()).expect("again");
        assert_eq!(again, mention);
    }

    #[test]
    fn source_defaults_to_unknown() {
        let mut value = valid_json();
        value.as_object_mut().expect("object").remove("source");
        assert_eq!(decode(&value).expect("valid").source, "unknown");
    }

    #[test]
    fn each_missing_required_field_is_named() {
        for field in ["id", "brand", "text", "created_at"] {
            let mut value = valid_json();
            value.as_object_mut().expect("object").remove(field);
            assert_eq!(decode(&value), Err(SchemaError::MissingField { field }));
        }
    }

    #[test]
    fn each_mistyped_field_is_named() {
        let cases = [
            ("id", serde_json::json!(17)),
            ("brand", serde_json::json!(["acme"])),
            ("text", serde_json::json!({"a": 1})),
            ("created_at", serde_json::json!(1700000000)),
            ("source", serde_json::json!(true)),
            ("author", serde_json::json!(1)),
            ("url", serde_json::json!(1)),
            ("lang", serde_json::json!(1)),
            ("metrics", serde_json::json!("many")),
            ("metadata", serde_json::json!([1])),
        ];
        for (field, bad) in cases {
            let mut value = valid_json();
            value[field] = bad;
            let error = decode(&value).expect_err(field);
            assert_eq!(error.field(), Some(field), "{error}");
            assert!(error.to_string().contains(field), "{error}");
        }
        let mut value = valid_json();
        value["metrics"]["likes"] = serde_json::json!("3");
        assert_eq!(
            decode(&value).expect_err("likes").field(),
            Some("metrics.likes")
        );
        value["metrics"]["likes"] = serde_json::json!(-3);
        assert_eq!(
            decode(&value).expect_err("likes").field(),
            Some("metrics.likes")
        );
    }

    #[test]
    fn rejects_blank_ids_and_brands_and_bad_timestamps() {
        let mut value = valid_json();
        value["brand"] = serde_json::json!("   ");
        assert_eq!(decode(&value), Err(SchemaError::Empty { field: "brand" }));
        let mut value = valid_json();
        value["created_at"] = serde_json::json!("yesterday");
        assert_eq!(
            decode(&value).expect_err("timestamp").kind(),
            crate::SchemaErrorKind::InvalidTimestamp
        );
        value["created_at"] = serde_json::json!("9999-01-01T00:00:00Z");
        assert_eq!(
            decode(&value).expect_err("future").field(),
            Some("created_at")
        );
        value["created_at"] = serde_json::json!("1066-10-14T09:00:00Z");
        assert_eq!(
            decode(&value).expect_err("ancient").field(),
            Some("created_at")
        );
    }

    #[test]
    fn rejects_non_objects_bad_json_bad_utf8_and_oversize() {
        let limits = limits();
        assert_eq!(
            Mention::from_json_bytes(b"[1,2]", &limits),
            Err(SchemaError::NotAnObject)
        );
        assert!(matches!(
            Mention::from_json_bytes(b"{\"id\": ", &limits),
            Err(SchemaError::InvalidJson { .. })
        ));
        assert_eq!(
            Mention::from_json_bytes(b"{\"id\": \"\xff\"}", &limits),
            Err(SchemaError::InvalidUtf8 { valid_up_to: 8 })
        );
        let small = ValidationLimits {
            max_message_bytes: 10,
            ..limits
        };
        assert!(matches!(
            Mention::from_json_bytes(valid_json().to_string().as_bytes(), &small),
            Err(SchemaError::TooLarge { .. })
        ));
    }

    #[test]
    fn accepts_unicode_nul_and_huge_text() {
        let mut value = valid_json();
        let tricky = "ok 👍🏽 مرحبا e\u{301} \u{0} 日本語";
        value["text"] = serde_json::json!(tricky);
        assert_eq!(decode(&value).expect("unicode").text, tricky);
        let huge = "a".repeat(1024 * 1024);
        value["text"] = serde_json::json!(huge);
        assert_eq!(decode(&value).expect("huge").text.len(), 1024 * 1024);
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Mention::from_json_bytes(&bytes, &ValidationLimits::default());
        }

        #[test]
        fn round_trips_any_valid_mention(
            id in "[a-zA-Z0-9:_-]{1,40}",
            brand in "\\PC{1,30}".prop_filter("non-blank", |b| !b.trim().is_empty()),
            text in "\\PC{0,200}",
            seconds in 0i64..4_000_000_000,
            likes in proptest::option::of(0u64..1_000_000),
            extra_value in "\\PC{0,20}",
        ) {
            let created_at = DateTime::from_timestamp(seconds, 0).expect("in range");
            let mention = Mention {
                id, brand, text, created_at,
                source: "reddit".into(), author: None, url: None, lang: None,
                metrics: likes.map(|likes| MentionMetrics { likes: Some(likes), ..Default::default() }),
                metadata: None,
                extra: [("x_extra".to_string(), Value::String(extra_value))].into_iter().collect(),
            };
            let decoded = Mention::from_json_bytes(&mention.to_json_vec(), &ValidationLimits::default());
            prop_assert_eq!(decoded, Ok(mention));
        }
    }
}
