use crate::record::{InputRecord, OutputRecord};

/// Every header the dead-letter step adds starts with this prefix.
pub const DLQ_HEADER_PREFIX: &str = "earshot.dlq.";

/// Returns the headers that explain a dead-lettered record.
pub fn dlq_headers(
    input: &InputRecord,
    kind: &str,
    reason: &str,
    service: &str,
) -> Vec<(String, Vec<u8>)> {
    let mut headers = input.headers.clone();
    let added = [
        ("error", reason.to_owned()),
        ("error.kind", kind.to_owned()),
        ("source.topic", input.topic.clone()),
        ("source.partition", input.partition.to_string()),
        ("source.offset", input.offset.to_string()),
        ("service", service.to_owned()),
    ];
    for (name, value) in added {
        headers.push((format!("{DLQ_HEADER_PREFIX}{name}"), value.into_bytes()));
    }
    headers
}

/// Builds the dead-letter record: the raw key and payload, untouched, and
/// headers that say why and where from.
pub(crate) fn dead_letter_record(
    input: &InputRecord,
    dlq_topic: &str,
    kind: &str,
    reason: &str,
    service: &str,
) -> OutputRecord {
    OutputRecord {
        topic: dlq_topic.to_owned(),
        key: input.key.clone(),
        payload: input.payload.clone(),
        headers: dlq_headers(input, kind, reason, service),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_raw_bytes_and_original_headers() {
        let input = InputRecord {
            topic: "mentions".into(),
            partition: 2,
            offset: 41,
            key: Some(b"acme".to_vec()),
            payload: b"\xff not json".to_vec(),
            headers: vec![("trace".into(), b"abc".to_vec())],
            timestamp_ms: None,
        };
        let record = dead_letter_record(
            &input,
            "mentions.dlq",
            "invalid_utf8",
            "bad bytes",
            "scorer",
        );
        assert_eq!(record.payload, input.payload);
        assert_eq!(record.key, input.key);
        let header = |name: &str| {
            record
                .headers
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| String::from_utf8_lossy(value).into_owned())
        };
        assert_eq!(header("trace").as_deref(), Some("abc"));
        assert_eq!(header("earshot.dlq.error").as_deref(), Some("bad bytes"));
        assert_eq!(
            header("earshot.dlq.error.kind").as_deref(),
            Some("invalid_utf8")
        );
        assert_eq!(header("earshot.dlq.source.partition").as_deref(), Some("2"));
        assert_eq!(header("earshot.dlq.source.offset").as_deref(), Some("41"));
    }
}
