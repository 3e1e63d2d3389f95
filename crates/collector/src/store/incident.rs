//! Incidents as the store keeps them and the API shows them (PROTOCOL.md section 4).

use serde::{Deserialize, Serialize};
use vantage_detect::Incident;

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
