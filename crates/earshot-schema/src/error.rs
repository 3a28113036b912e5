use thiserror::Error;

/// Why a message failed to decode, naming the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SchemaError {
    #[error("message is not valid UTF-8 (first invalid byte at {valid_up_to})")]
    InvalidUtf8 { valid_up_to: usize },
    #[error("message of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("invalid JSON: {message}")]
    InvalidJson { message: String },
    #[error("message is not a JSON object")]
    NotAnObject,
    #[error("missing required field `{field}`")]
    MissingField { field: &'static str },
    #[error("field `{field}` must be {expected}, found {found}")]
    WrongType {
        field: &'static str,
        expected: &'static str,
        found: &'static str,
    },
    #[error("field `{field}` must not be empty")]
    Empty { field: &'static str },
    #[error("field `{field}` is {length} characters long, the limit is {limit}")]
    TooLong {
        field: &'static str,
        length: usize,
        limit: usize,
    },
    #[error("field `{field}` is not an RFC 3339 timestamp: {value:?}")]
    InvalidTimestamp { field: &'static str, value: String },
    #[error("field `{field}` is out of range: {reason}")]
    OutOfRange { field: &'static str, reason: String },
}

/// A bounded, static label for metrics and dead-letter headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaErrorKind {
    InvalidUtf8,
    TooLarge,
    InvalidJson,
    NotAnObject,
    MissingField,
    WrongType,
    Empty,
    TooLong,
    InvalidTimestamp,
    OutOfRange,
}

impl SchemaErrorKind {
    /// Returns the label used in metrics and headers.
    pub fn as_str(self) -> &'static str {
        match self {
            SchemaErrorKind::InvalidUtf8 => "invalid_utf8",
            SchemaErrorKind::TooLarge => "too_large",
            SchemaErrorKind::InvalidJson => "invalid_json",
            SchemaErrorKind::NotAnObject => "not_an_object",
            SchemaErrorKind::MissingField => "missing_field",
            SchemaErrorKind::WrongType => "wrong_type",
            SchemaErrorKind::Empty => "empty",
            SchemaErrorKind::TooLong => "too_long",
            SchemaErrorKind::InvalidTimestamp => "invalid_timestamp",
            SchemaErrorKind::OutOfRange => "out_of_range",
        }
    }
}

impl SchemaError {
    /// Returns the bounded kind of this error.
    pub fn kind(&self) -> SchemaErrorKind {
        match self {
            SchemaError::InvalidUtf8 { .. } => SchemaErrorKind::InvalidUtf8,
            SchemaError::TooLarge { .. } => SchemaErrorKind::TooLarge,
            SchemaError::InvalidJson { .. } => SchemaErrorKind::InvalidJson,
            SchemaError::NotAnObject => SchemaErrorKind::NotAnObject,
            SchemaError::MissingField { .. } => SchemaErrorKind::MissingField,
            SchemaError::WrongType { .. } => SchemaErrorKind::WrongType,
            SchemaError::Empty { .. } => SchemaErrorKind::Empty,
            SchemaError::TooLong { .. } => SchemaErrorKind::TooLong,
            SchemaError::InvalidTimestamp { .. } => SchemaErrorKind::InvalidTimestamp,
            SchemaError::OutOfRange { .. } => SchemaErrorKind::OutOfRange,
        }
    }

    /// Returns the field at fault, when the error is about one field.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            SchemaError::MissingField { field }
            | SchemaError::WrongType { field, .. }
            | SchemaError::Empty { field }
            | SchemaError::TooLong { field, .. }
            | SchemaError::InvalidTimestamp { field, .. }
            | SchemaError::OutOfRange { field, .. } => Some(field),
            _ => None,
        }
    }
}

/// Names a JSON value's type for error messages.
pub(crate) fn json_type_name(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}
