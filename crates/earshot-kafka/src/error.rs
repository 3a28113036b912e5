use rdkafka::error::KafkaError;

/// Errors from the Kafka plumbing.
#[derive(Debug, thiserror::Error)]
pub enum KafkaPlumbingError {
    #[error("invalid kafka configuration: {0}")]
    Config(String),
    #[error("kafka client error: {0}")]
    Client(#[from] KafkaError),
    #[error("cannot read {path}: {source}")]
    ReadFile {
        path: String,
        source: std::io::Error,
    },
    #[error("processor failed: {0}")]
    Processor(String),
    #[error("delivery to {topic} failed: {error}")]
    Delivery { topic: String, error: KafkaError },
    #[error("shutdown interrupted delivery; {undelivered} records not acknowledged (their offsets were not stored)")]
    Interrupted { undelivered: usize },
}

impl KafkaPlumbingError {
    /// Returns a bounded label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            KafkaPlumbingError::Config(_) => "config",
            KafkaPlumbingError::Client(_) => "client",
            KafkaPlumbingError::ReadFile { .. } => "read_file",
            KafkaPlumbingError::Processor(_) => "processor",
            KafkaPlumbingError::Delivery { .. } => "delivery",
            KafkaPlumbingError::Interrupted { .. } => "interrupted",
        }
    }
}

pub type Result<T, E = KafkaPlumbingError> = std::result::Result<T, E>;
