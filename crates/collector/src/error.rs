//! The one error type handlers return; it renders as the JSON bodies of PROTOCOL.md section 1.

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
    /// 415: neither text/plain nor application/json.
    UnsupportedMediaType,
    /// 429: this client is over its rate; retry after this many seconds.
    RateLimited(u64),
    /// 503: the queue is full or the store failed; retry after this many seconds.
    Overloaded(u64, &'static str),
}

impl AppError {
    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::InvalidReport(_) => StatusCode::BAD_REQUEST,
            AppError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            AppError::Overloaded(..) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        let (body, retry_after) = match &self {
            AppError::InvalidReport(e) => (
                json!({"error": "invalid_report", "message": e.to_string(), "field": e.field}),
                None,
            ),
            AppError::TooLarge => (
                json!({"error": "too_large", "message": format!("body over {} bytes", vantage_protocol::MAX_BODY_BYTES)}),
                None,
            ),
            AppError::UnsupportedMediaType => (
                json!({"error": "unsupported_media_type", "message": "send text/plain or application/json"}),
                None,
            ),
            AppError::RateLimited(s) => {
                (json!({"error": "rate_limited", "message": "too many reports from this client"}), Some(*s))
            }
            AppError::Overloaded(s, why) => (json!({"error": "overloaded", "message": why}), Some(*s)),
        };
        let mut response = (status, Json(body)).into_response();
        if let Some(s) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(s.max(1)));
        }
        response
    }
}
