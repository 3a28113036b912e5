//! Kafka plumbing for every earshot service; the only crate that imports
//! rdkafka.
//!
//! - [`KafkaArgs`]: brokers and any librdkafka property (SASL/TLS included),
//!   by flag or `EARSHOT_*` env, secrets redacted from logs.
//! - [`run_pipeline`]: the at-least-once consume -> process -> produce loop
//!   with dead-lettering, backpressure, lag metrics and a draining shutdown.
//! - [`Producer`]: a produce-and-await-delivery helper for tools that only
//!   write (replay, the alerter's alert sink).
//! - [`admin`]: topic creation and watermark queries.
//! - [`range`]: reading a time range of a topic without a consumer group.

pub mod admin;
mod config;
mod context;
mod dlq;
mod error;
mod metrics;
mod pipeline;
mod producer;
pub mod range;
mod record;
mod service;

pub use config::{redact_config, KafkaArgs, PipelineArgs};
pub use context::{ClientHealthContext, ConsumerHealthContext};
pub use dlq::{dlq_headers, DLQ_HEADER_PREFIX};
pub use error::{KafkaPlumbingError, Result};
pub use metrics::KafkaMetrics;
pub use pipeline::{run_pipeline, BatchProcessor, PipelineReport, PipelineSettings};
pub use producer::{PendingSend, Producer};
pub use record::{InputRecord, Outcome, OutputRecord};
pub use service::PipelineService;

/// Re-exported for tools that read topics directly (replay's topic mode).
pub use rdkafka;
