//! Incidents as the store keeps them and the API shows them (docs/protocol.md §4).

use serde::{Deserialize, Serialize};
use vantage_detect::{EndReason, Incident};

/// A detected disruption: the `/v1/incidents` entry, also the SSE `incident` event and the
/// webhook body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredIncident {
    /// Deterministic id (platform, country, asn, start): upserts and feeds deduplicate on it.
    pub id: String,
    /// The platform affected.
    pub platform: String,
    /// ISO country code.
    pub country: String,
    /// The ASN of an ASN-level incident, `null` for the whole country.
    pub asn: Option<u32>,
    /// `disrupted` or `degraded`: the worst state while open.
    pub state: String,
    /// RFC 3339 start.
    pub started_at: String,
    /// RFC 3339 end, `null` while open.
    pub ended_at: Option<String>,
    /// Highest window failure rate while open.
    pub peak_failure_rate: f64,
    /// ASNs whose own failure rate rose (tells a national block from one ISP's).
    pub affected_asns: Vec<u32>,
    /// Counted reports during the incident: the weight of evidence.
    pub reports: u64,
    /// Distinct networks among them.
    pub networks: u64,
    /// Distinct ASNs among them (documents kept before issue 9 read 0).
    #[serde(default)]
    pub asns: u64,
    /// Distinct networks that failed (or were slow) while open: the breadth of the evidence.
    #[serde(default)]
    pub failing_networks: u64,
    /// The cell's expected failure rate when it opened.
    #[serde(default)]
    pub baseline_failure_rate: f64,
    /// 0..1 weight of the evidence's breadth (`vantage_detect::output::confidence`).
    #[serde(default)]
    pub confidence: f64,
    /// Judged also against the same platform in other countries, and failing far more here.
    #[serde(default)]
    pub cross_country: bool,
    /// ASNs whose `ok` reports surged while open: shown, not trusted.
    #[serde(default)]
    pub suspicious_asns: Vec<u32>,
    /// `recovered` or `no_data` once ended, `null` while open.
    #[serde(default)]
    pub end_reason: Option<EndReason>,
    /// Start in unix minutes, for ordering and filtering (not published).
    #[serde(skip)]
    pub start_minute: i64,
    /// End in unix minutes (not published).
    #[serde(skip)]
    pub end_minute: Option<i64>,
}

impl From<&Incident> for StoredIncident {
    fn from(i: &Incident) -> Self {
        let state = serde_json::to_value(i.state).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        StoredIncident {
            id: i.id.clone(),
            platform: i.platform.clone(),
            country: i.country.clone(),
            asn: i.asn,
            state,
            started_at: i.started_at.clone(),
            ended_at: i.ended_at.clone(),
            peak_failure_rate: i.peak_failure_rate,
            affected_asns: i.affected_asns.clone(),
            reports: i.reports,
            networks: i.networks,
            asns: i.asns,
            failing_networks: i.failing_networks,
            baseline_failure_rate: i.baseline_failure_rate,
            confidence: i.confidence,
            cross_country: i.cross_country,
            suspicious_asns: i.suspicious_asns.clone(),
            end_reason: i.end_reason,
            start_minute: i.start_minute,
            end_minute: i.end_minute,
        }
    }
}

impl StoredIncident {
    /// Still open (no end yet).
    pub fn is_open(&self) -> bool {
        self.ended_at.is_none()
    }
}

/// Which incidents a read wants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncidentFilter {
    /// Only this country.
    pub country: Option<String>,
    /// Only this platform.
    pub platform: Option<String>,
    /// Only incidents still open.
    pub open_only: bool,
    /// At most this many (newest first).
    pub limit: usize,
}
