//! Default topic names. Every service lets the operator override them.

/// Raw mentions as they arrive from collectors.
pub const MENTIONS: &str = "mentions";
/// Mentions with sentiment and toxicity scores.
pub const MENTIONS_SCORED: &str = "mentions.scored";
/// Crisis alert state changes.
pub const ALERTS: &str = "alerts";
/// Records that could not be processed, with the reason in headers.
pub const MENTIONS_DLQ: &str = "mentions.dlq";
/// All topics the pipeline expects to exist.
pub const ALL: [&str; 4] = [MENTIONS, MENTIONS_SCORED, ALERTS, MENTIONS_DLQ];
