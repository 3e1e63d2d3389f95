//! What the detector hands to the API: statuses and incidents with docs/protocol.md field names.

use serde::{Deserialize, Serialize};

use crate::classify::{Held, State};
use crate::{Country, Platform};

/// Formats unix minutes as RFC 3339 UTC (`2026-11-28T18:41:00Z`), by hand to avoid a date
/// crate for one format (days-to-civil after Howard Hinnant's `civil_from_days`).
pub fn rfc3339(minute: i64) -> String {
    let days = minute.div_euclid(1440);
    let mins = minute.rem_euclid(1440);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:00Z", mins / 60, mins % 60)
}

/// A deterministic incident id: FNV-1a 64 of platform, country, asn and start minute, so the
/// same history replayed (`vantage detect`) gives the same ids.
pub fn incident_id(platform: &Platform, country: Country, asn: Option<u32>, start_minute: i64) -> String {
    let key = format!("{platform}|{country}|{}|{start_minute}", asn.map_or(String::from("-"), |a| a.to_string()));
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Why an incident ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// `close_after` normal windows in a row: the platform works again.
    Recovered,
    /// `close_no_data_after` windows in a row with too few reports or networks: the cell fell
    /// silent (readers gone, or a total shutdown), so the claim can no longer be backed.
    NoData,
}

/// A detected disruption (docs/protocol.md §4.6 entry).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// Stable id (see [`incident_id`]), so clients and feeds can deduplicate.
    pub id: String,
    /// The platform affected.
    pub platform: Platform,
    /// ISO country code.
    pub country: Country,
    /// The ASN for an ASN-level incident, `null` for a country-level one.
    pub asn: Option<u32>,
    /// `disrupted` or `degraded`: the worst state seen while open.
    pub state: State,
    /// End of the first non-normal window (RFC 3339).
    pub started_at: String,
    /// Start of the normal run that closed it, `null` while open.
    pub ended_at: Option<String>,
    /// Highest window failure rate seen while open: how bad it got.
    pub peak_failure_rate: f64,
    /// ASNs whose own failure rate cleared the minimum effect meanwhile (for an ASN-level
    /// incident, just its ASN): tells a national block from one ISP's.
    pub affected_asns: Vec<u32>,
    /// Counted reports in the incident's minutes: the weight of evidence.
    pub reports: u64,
    /// Distinct networks among them.
    pub networks: u64,
    /// Distinct ASNs among them: a country claim resting on one ASN is weak.
    #[serde(default)]
    pub asns: u64,
    /// Distinct networks that failed (or, for `degraded`, were slow) while open: the breadth
    /// of the evidence, which the confidence grows with.
    #[serde(default)]
    pub failing_networks: u64,
    /// Expected failure rate (the cell's baseline) when it opened: what "usual" meant.
    #[serde(default)]
    pub baseline_failure_rate: f64,
    /// 0..1 weight of the evidence's breadth (not a probability; see [`confidence`]).
    #[serde(default)]
    pub confidence: f64,
    /// Some window of it was judged against the same platform in other countries and failed
    /// far more here (blocked whatever the local baseline says).
    #[serde(default)]
    pub cross_country: bool,
    /// ASNs whose `ok` reports surged while it was open: shown, and left out of the verdict
    /// (a censor flooding "it works" from its own networks must not close it).
    #[serde(default)]
    pub suspicious_asns: Vec<u32>,
    /// `recovered` or `no_data` once ended, `null` while open.
    #[serde(default)]
    pub end_reason: Option<EndReason>,
    /// `started_at` as unix minutes, for callers that compute with it.
    #[serde(skip)]
    pub start_minute: i64,
    /// `ended_at` as unix minutes.
    #[serde(skip)]
    pub end_minute: Option<i64>,
}

impl Incident {
    /// Still open (no end yet).
    pub fn is_open(&self) -> bool {
        self.ended_at.is_none()
    }
}

/// An incident's confidence: `(1 - 2^(-n/10)) x asn x history`, with `n` its failing networks;
/// `asn` = `1 - 2^(-a)` for a country incident with `a` failing ASNs (0.5 when the deployment
/// has no ASN data), 1 for an ASN incident (its scope is one ASN); `history` = 1 when the cell
/// had the history the history rule asks for, 0.5 when it opened on cross-country evidence
/// alone; rounded to four decimals. So 10 failing networks in one ASN read 0.5, 30 networks
/// over 3 ASNs 0.77, a national block seen from 300 networks in 4 ASNs 0.94. It grades
/// breadth, which is what an attacker pays for; significance is already required to open.
pub fn confidence(failing_networks: u64, failing_asns: Option<u64>, established: bool) -> f64 {
    let net = 1.0 - 0.5f64.powf(failing_networks as f64 / 10.0);
    let asn = match failing_asns {
        Some(a) => 1.0 - 0.5f64.powi(a.min(64) as i32),
        None => 1.0,
    };
    let history = if established { 1.0 } else { 0.5 };
    // Four decimals: more would be false precision, and a stored copy then survives stores
    // that re-print floats (ClickHouse) bit for bit.
    (net * asn * history * 1e4).round() / 1e4
}

/// One cell's current state (docs/protocol.md §4.2 platform entry, plus its cell key).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CellStatus {
    /// The platform.
    pub platform: Platform,
    /// ISO country code.
    pub country: Country,
    /// The ASN, `null` for the country as a whole.
    pub asn: Option<u32>,
    /// Published state: an open incident's state, else `normal` or `insufficient_data`;
    /// a single bad window alone does not change it (incidents need two).
    pub state: State,
    /// This window's own verdict, before the open/close hysteresis.
    pub window_state: State,
    /// Counted reports in the window.
    pub reports: u64,
    /// Distinct networks in the window.
    pub networks: u64,
    /// Success rate; `null` under k reports or m networks (never published then).
    pub success_rate: Option<f64>,
    /// Median time in ms, from the merged histogram; `null` like `success_rate`.
    pub median_ms: Option<f64>,
    /// 90th percentile time in ms; `null` like `success_rate`.
    pub p90_ms: Option<f64>,
    /// Expected success rate (baseline posterior mean, the prior when history is short).
    pub baseline_success_rate: f64,
    /// Usual median time, `null` until there is history.
    pub baseline_median_ms: Option<f64>,
    /// p-value of the disruption test when it was run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p_value: Option<f64>,
    /// When `state` began (RFC 3339).
    pub since: String,
    /// The platform fails in most other countries too: broken, not blocked here.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub global: bool,
    /// Why a window that looked bad did not count (history, breadth, global), if it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held: Option<Held>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:00Z");
        assert_eq!(rfc3339(11_016 * 1440), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_891_260 / 60), "2026-11-28T18:41:00Z");
        assert_eq!(rfc3339(29_892_960 + 59 * 1440 + 1439), "2026-12-31T23:59:00Z");
    }

    fn x_pk() -> (Platform, Country) {
        (Platform::try_from("x").unwrap(), Country::try_from("PK").unwrap())
    }

    #[test]
    fn ids_are_deterministic_and_distinct() {
        let (x, pk) = x_pk();
        let a = incident_id(&x, pk, Some(17557), 100);
        // FNV-1a of "x|PK|17557|100": ids already published must not change with the key types.
        assert_eq!(a, "de2f78bd4fd7200c");
        assert_ne!(a, incident_id(&x, pk, None, 100));
    }

    /// The stored and served document: platform and country are plain strings, as before they
    /// were typed, and reading one back checks them.
    #[test]
    fn incident_json_writes_names_as_strings_and_checks_them_on_reading() {
        let (platform, country) = x_pk();
        let inc = Incident {
            id: "de2f78bd4fd7200c".into(),
            platform,
            country,
            asn: Some(17557),
            state: State::Disrupted,
            started_at: rfc3339(100),
            ended_at: None,
            peak_failure_rate: 0.5,
            affected_asns: vec![17557],
            reports: 40,
            networks: 12,
            asns: 1,
            failing_networks: 10,
            baseline_failure_rate: 0.02,
            confidence: 0.5,
            cross_country: false,
            suspicious_asns: Vec::new(),
            end_reason: None,
            start_minute: 0,
            end_minute: None,
        };
        let json = serde_json::to_string(&inc).unwrap();
        assert!(json.starts_with(r#"{"id":"de2f78bd4fd7200c","platform":"x","country":"PK","asn":17557,"#), "{json}");
        let back: Incident = serde_json::from_str(&json).unwrap();
        assert_eq!(back, inc);
        let err = serde_json::from_str::<Incident>(&json.replace(r#""PK""#, r#""pk""#)).unwrap_err().to_string();
        assert!(err.contains("two upper-case letters"), "{err}");
    }
}
