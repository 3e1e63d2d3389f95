//! One JSON object decoded into a row type whose fields check themselves (the domain types of
//! `vantage-protocol`): a value that fails names its field, as the wire's errors do. Both NDJSON
//! import and ClickHouse's `JSONEachRow` answers decode this way.

use serde::de::DeserializeOwned;

/// Why a JSON row did not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RowError {
    /// A field's value broke its rule.
    #[error("{field}: {message}")]
    Field {
        /// The JSON path of the field (`country`, `affected_asns[2]`).
        field: String,
        /// The rule it broke.
        message: String,
    },
    /// Not a JSON object of the row's shape (syntax, a missing or unknown field).
    #[error("{0}")]
    Shape(String),
}

/// Decodes `bytes` as one `T`.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, RowError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        // serde_json appends the position; within one line the field says where.
        let position = format!(" at line {} column {}", inner.line(), inner.column());
        let message = inner.to_string();
        let message = message.strip_suffix(&position).unwrap_or(&message).to_string();
        match field.as_str() {
            "." | "" => RowError::Shape(message),
            _ => RowError::Field { field, message },
        }
    })
}
