//! The one error type handlers return; it renders as the JSON bodies of docs/protocol.md §1.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use vantage_protocol::ValidationError;

/// Why a request was refused.
#[derive(Debug)]
pub enum AppError {
    /// 400: the body is not a valid report.
    InvalidReport(ValidationError),
    /// 413: the body is over 16 KiB.
    TooLarge,
    /// 408: the body did not arrive within `--body-timeout`.
    BodyTimeout,
    /// 415: neither text/plain nor application/json.
    UnsupportedMediaType,
    /// 403: the report comes from a page that is not our own frame (its `Origin` is another
    /// site's, or `null`); the message names the origin reports are accepted from.
    ForbiddenOrigin(String),
    /// 429: this client is over its rate; retry after this many seconds.
    RateLimited(u64),
    /// 503: the queue is full or the store failed; retry after this many seconds.
    Overloaded(u64, &'static str),
    /// 400: a query parameter of the read API is missing or out of its rule.
    InvalidParameter {
        /// The parameter's name, so a client knows which one to fix.
        parameter: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// 404: a page that is not there (e.g. the badge page not built).
    NotFound(&'static str),
    /// 500: a store read failed; the detail goes to the log, not to the client.
    Internal(String),
}

impl AppError {
    /// A 400 naming `parameter`.
    pub fn param(parameter: &'static str, message: impl Into<String>) -> AppError {
        AppError::InvalidParameter { parameter, message: message.into() }
    }
}

/// A failed store read answers 500; the detail is logged, not shown to the client.
impl From<crate::store::StoreError> for AppError {
    fn from(e: crate::store::StoreError) -> AppError {
        AppError::Internal(e.to_string())
    }
}

impl AppError {
    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::InvalidReport(_) => StatusCode::BAD_REQUEST,
            AppError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            AppError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::ForbiddenOrigin(_) => StatusCode::FORBIDDEN,
            AppError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            AppError::Overloaded(..) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::InvalidParameter { .. } => StatusCode::BAD_REQUEST,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        let (body, retry_after) = match &self {
            AppError::InvalidReport(e) => (json!({"error": "invalid_report", "message": e.to_string(), "field": e.field}), None),
            AppError::TooLarge => {
                (json!({"error": "too_large", "message": format!("body over {} bytes", vantage_protocol::MAX_BODY_BYTES)}), None)
            }
            AppError::BodyTimeout => (json!({"error": "timeout", "message": "the body did not arrive in time"}), None),
            AppError::UnsupportedMediaType => {
                (json!({"error": "unsupported_media_type", "message": "send text/plain or application/json"}), None)
            }
            AppError::ForbiddenOrigin(why) => (json!({"error": "forbidden_origin", "message": why}), None),
            AppError::RateLimited(s) => (json!({"error": "rate_limited", "message": "too many reports from this client"}), Some(*s)),
            AppError::Overloaded(s, why) => (json!({"error": "overloaded", "message": why}), Some(*s)),
            AppError::InvalidParameter { parameter, message } => {
                (json!({"error": "invalid_parameter", "parameter": parameter, "message": message}), None)
            }
            AppError::NotFound(what) => (json!({"error": "not_found", "message": what}), None),
            AppError::Internal(detail) => {
                tracing::error!(error = %detail, "read failed");
                (json!({"error": "internal", "message": "the store could not answer"}), Some(5))
            }
        };
        let mut response = (status, Json(body)).into_response();
        if let Some(s) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(s.max(1)));
        }
        response
    }
}
