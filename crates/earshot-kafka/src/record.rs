/// A consumed record, owned so that it can cross tasks and threads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub headers: Vec<(String, Vec<u8>)>,
    /// Broker or producer timestamp in milliseconds since the epoch.
    pub timestamp_ms: Option<i64>,
}

/// A record to produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputRecord {
    pub topic: String,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub headers: Vec<(String, Vec<u8>)>,
}

impl OutputRecord {
    /// Returns a record with a key and payload and no headers.
    pub fn new(topic: impl Into<String>, key: Option<Vec<u8>>, payload: Vec<u8>) -> Self {
        OutputRecord {
            topic: topic.into(),
            key,
            payload,
            headers: Vec::new(),
        }
    }
}

/// What a processor decided for one input record.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Produce these records; an empty list means "handled, nothing to write"
    /// (a filtered record counts as delivered).
    Produce(Vec<OutputRecord>),
    /// The record cannot be processed: send its raw bytes to the dead-letter
    /// topic with the reason.
    DeadLetter {
        /// A bounded label such as `missing_field`.
        kind: &'static str,
        /// The human-readable reason.
        reason: String,
    },
}
