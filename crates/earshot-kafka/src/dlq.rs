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
/// headers that say why and where from. A payload over `max_payload_bytes`
/// (a 10 MB poison message would exceed the producer's and most brokers'
/// message limits, and a dead letter that cannot be written would stall the
/// service) keeps its first `max_payload_bytes` bytes, and the header
/// `earshot.dlq.payload.truncated_from` gives the original size; the
/// source headers still point at the whole record.
pub(crate) fn dead_letter_record(
    input: &InputRecord,
    dlq_topic: &str,
    kind: &str,
    reason: &str,
    service: &str,
    max_payload_bytes: usize,
) -> OutputRecord {
    let mut headers = dlq_headers(input, kind, reason, service);
    let payload = if input.payload.len() > max_payload_bytes {
        headers.push((
            format!("{DLQ_HEADER_PREFIX}payload.truncated_from"),
            input.payload.len().to_string().into_bytes(),
        ));
        input.payload[..max_payload_bytes].to_vec()
    } else {
        input.payload.clone()
    };
    OutputRecord {
        topic: dlq_topic.to_owned(),
        key: input.key.clone(),
        payload,
        headers,
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
            1024,
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

    #[test]
    fn truncates_oversized_payloads_and_says_so() {
        let input = InputRecord {
            topic: "mentions".into(),
            partition: 0,
            offset: 7,
            key: None,
            payload: vec![b'x'; 10_000],
            headers: Vec::new(),
            timestamp_ms: None,
        };
        let record = dead_letter_record(&input, "mentions.dlq", "too_large", "big", "scorer", 100);
        assert_eq!(record.payload.len(), 100);
        let truncated = record
            .headers
            .iter()
            .find(|(name, _)| name == "earshot.dlq.payload.truncated_from")
            .map(|(_, value)| value.clone());
        assert_eq!(truncated, Some(b"10000".to_vec()));
    }
}
