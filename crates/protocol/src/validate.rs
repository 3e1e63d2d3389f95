//! The one place that decides whether a report body is valid (docs/protocol.md §1 rules).
//!
//! Every error names the offending field with a JSON path such as `measurements[2].ms`, so a
//! widget developer can fix the bug from the 400 alone.

use crate::{Measurement, Outcome, Report, ReportId, SiteKey, CONTROL_ID, MAX_AGE_S, MAX_MEASUREMENTS, MAX_MS, MAX_VERSION_LEN, VERSION};
use serde::Deserialize;
use std::fmt;

/// Why a report was refused: the field (a JSON path, empty for the body as a whole) and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// JSON path of the offending field, e.g. `measurements[2].ms`; empty when the body itself is bad.
    pub field: String,
    /// What is wrong, in words a developer can act on.
    pub message: String,
}

impl ValidationError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        ValidationError { field: field.into(), message: message.into() }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

impl std::error::Error for ValidationError {}

/// Parses and validates a report body. `is_known_target` says whether a target id belongs to the
/// current or the previous target list.
pub fn parse_report(body: &[u8], is_known_target: impl Fn(&str) -> bool) -> Result<Report, ValidationError> {
    let report = match decode(body) {
        Some(report) => report,
        None => decode_with_path(body)?,
    };
    validate(&report, &is_known_target)?;
    Ok(report)
}

/// The report in `body`, or `None` if it is not one. Plain serde_json: tracking the field path
/// costs allocations on every key of every report, and only a refusal needs it
/// ([`decode_with_path`] runs then, on the same bytes).
fn decode(body: &[u8]) -> Option<Report> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    let report = Report::deserialize(&mut *de).ok()?;
    de.end().ok()?;
    Some(report)
}

/// [`decode`] again, tracking the path of the field being read, so the refusal names it.
fn decode_with_path(body: &[u8]) -> Result<Report, ValidationError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    let report: Report = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if matches!(inner.classify(), serde_json::error::Category::Syntax | serde_json::error::Category::Eof) {
            return ValidationError::new("", format!("invalid JSON: {}", clean_serde_message(&inner)));
        }
        // serde echoes unknown keys and bad strings whole: a hostile 16 KiB key would come back twice.
        let field = if path == "." || path == "?" { String::new() } else { cut(&path, MAX_FIELD_ECHO) };
        ValidationError::new(field, cut(&clean_serde_message(&inner), MAX_MESSAGE_ECHO))
    })?;
    de.end().map_err(|_| ValidationError::new("", "invalid JSON: trailing characters after the report"))?;
    Ok(report)
}

/// Longest `field` path echoed back (found by fuzzing: serde puts an unknown key in the path).
const MAX_FIELD_ECHO: usize = 128;
/// Longest serde message echoed back.
const MAX_MESSAGE_ECHO: usize = 320;

/// `s` cut to at most `max` characters, marked with `...` where cut.
fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

/// serde_json appends " at line L column C"; the field path already says where.
fn clean_serde_message(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg,
    }
}

fn validate(r: &Report, is_known_target: &impl Fn(&str) -> bool) -> Result<(), ValidationError> {
    if r.v != VERSION {
        return Err(ValidationError::new("v", format!("must be {VERSION}")));
    }
    ReportId::try_from(r.id.as_str()).map_err(|e| ValidationError::new("id", e.to_string()))?;
    SiteKey::try_from(r.site.as_str()).map_err(|e| ValidationError::new("site", e.to_string()))?;
    check_version_string("widget", &r.widget)?;
    check_version_string("targets_version", &r.targets_version)?;
    if r.age_s > MAX_AGE_S {
        return Err(ValidationError::new("age_s", format!("must be between 0 and {MAX_AGE_S}")));
    }
    if let Some(b) = &r.browser {
        if b.major > 1000 {
            return Err(ValidationError::new("browser.major", "must be between 0 and 1000"));
        }
    }
    if let Some(n) = &r.net {
        check_short("net.type", n.kind.as_deref())?;
        check_short("net.effective", n.effective.as_deref())?;
        check_non_negative("net.rtt_ms", n.rtt_ms)?;
        check_non_negative("net.downlink_kbps", n.downlink_kbps)?;
    }
    if r.control.target != CONTROL_ID {
        return Err(ValidationError::new("control.target", format!("must be \"{CONTROL_ID}\"")));
    }
    check_measurement(&"control", &r.control)?;
    if r.measurements.is_empty() || r.measurements.len() > MAX_MEASUREMENTS {
        return Err(ValidationError::new("measurements", format!("must hold between 1 and {MAX_MEASUREMENTS} entries")));
    }
    for (i, m) in r.measurements.iter().enumerate() {
        let at = Measured(i);
        if !is_known_target(&m.target) {
            return Err(ValidationError::new(
                format!("{at}.target"),
                format!("unknown target \"{}\": not in the current or previous target list", truncate(&m.target)),
            ));
        }
        if r.measurements[..i].iter().any(|p| p.target == m.target) {
            return Err(ValidationError::new(format!("{at}.target"), "appears twice in one report"));
        }
        check_measurement(&at, m)?;
    }
    Ok(())
}

/// The path of measurement `i` (`measurements[i]`), written out only into an error: a valid
/// report's 16 measurements then format nothing.
struct Measured(usize);

impl fmt::Display for Measured {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "measurements[{}]", self.0)
    }
}

fn check_measurement(at: &dyn fmt::Display, m: &Measurement) -> Result<(), ValidationError> {
    if !m.ms.is_finite() || !(0.0..=MAX_MS).contains(&m.ms) {
        return Err(ValidationError::new(format!("{at}.ms"), format!("must be between 0 and {MAX_MS}")));
    }
    if let Some(p) = &m.phases {
        for (name, v) in [("dns", p.dns), ("connect", p.connect), ("tls", p.tls), ("ttfb", p.ttfb), ("transfer", p.transfer)] {
            if let Some(v) = v {
                if !v.is_finite() || !(0.0..=MAX_MS).contains(&v) {
                    return Err(ValidationError::new(format!("{at}.phases.{name}"), format!("must be between 0 and {MAX_MS}")));
                }
            }
        }
    }
    if let Some(b) = m.bytes {
        if b > 100_000_000 {
            return Err(ValidationError::new(format!("{at}.bytes"), "must be at most 100000000"));
        }
    }
    check_status(at, m)
}

/// `status` belongs to `http_error` alone: without it a block page's code is lost, and on any other
/// outcome it would be a status the browser never showed.
fn check_status(at: &dyn fmt::Display, m: &Measurement) -> Result<(), ValidationError> {
    match (m.outcome, m.status) {
        (Outcome::HttpError, None) => Err(ValidationError::new(format!("{at}.status"), "is required when outcome is \"http_error\"")),
        (Outcome::HttpError, Some(s)) if !(100..=599).contains(&s) => {
            Err(ValidationError::new(format!("{at}.status"), "must be between 100 and 599"))
        }
        (Outcome::HttpError, Some(_)) | (_, None) => Ok(()),
        (_, Some(_)) => Err(ValidationError::new(format!("{at}.status"), "is allowed only when outcome is \"http_error\"")),
    }
}

fn check_version_string(field: &str, s: &str) -> Result<(), ValidationError> {
    if s.is_empty() || s.len() > MAX_VERSION_LEN || s.chars().any(|c| c.is_control()) {
        return Err(ValidationError::new(field, format!("must be 1 to {MAX_VERSION_LEN} printable characters")));
    }
    Ok(())
}

fn check_short(field: &str, s: Option<&str>) -> Result<(), ValidationError> {
    match s {
        Some(s) if s.len() > 16 || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') => {
            Err(ValidationError::new(field, "must be at most 16 characters of [A-Za-z0-9-]"))
        }
        _ => Ok(()),
    }
}

fn check_non_negative(field: &str, v: Option<f64>) -> Result<(), ValidationError> {
    match v {
        Some(v) if !v.is_finite() || !(0.0..=1e9).contains(&v) => {
            Err(ValidationError::new(field, "must be a number between 0 and 1000000000"))
        }
        _ => Ok(()),
    }
}

/// Echoing a hostile 10 KiB string back is pointless; 64 chars identify it.
fn truncate(s: &str) -> &str {
    match s.char_indices().nth(64) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests;
