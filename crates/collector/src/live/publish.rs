//! What the public sees of the live statuses: a snapshot taken on a fixed tick (so outcomes
//! cannot be followed report by report) with every number that describes fewer than k reports
//! or m networks withheld (so no single report can be read back).

use axum::body::Bytes;
use std::collections::BTreeMap;
use vantage_detect::{CellStatus, State};
use vantage_protocol::{Country, Platform};

/// One published cell: a detector status as the API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Shown {
    /// The platform.
    pub platform: Platform,
    /// The ASN, `None` for the country as a whole.
    pub asn: Option<u32>,
    /// The state; `insufficient_data` whenever the cell is under k reports or m networks.
    pub state: State,
    /// Counted reports; `None` when withheld.
    pub reports: Option<u64>,
    /// Distinct networks; `None` when withheld.
    pub networks: Option<u64>,
    /// Success rate; `None` when withheld (or the detector had none).
    pub success_rate: Option<f64>,
    /// Median ms; `None` like `success_rate`.
    pub median_ms: Option<f64>,
    /// 90th percentile ms; `None` like `success_rate`.
    pub p90_ms: Option<f64>,
    /// Usual success rate; `None` when withheld.
    pub baseline_success_rate: Option<f64>,
    /// Usual median ms; `None` when withheld or without history.
    pub baseline_median_ms: Option<f64>,
    /// When the shown state began; `None` when the state shown is not the detector's.
    pub since: Option<String>,
    /// Why a window that looked bad was not called a disruption (no history yet, one ASN only,
    /// failing in other countries too), so a reader seeing `normal` beside a low success rate
    /// knows why; `None` when withheld (it would say something about a cell under k).
    pub held: Option<vantage_detect::Held>,
}

impl Shown {
    /// Every number of `s`, as the detector has it.
    fn all(s: &CellStatus) -> Shown {
        Shown {
            platform: s.platform.clone(),
            asn: s.asn,
            state: s.state,
            reports: Some(s.reports),
            networks: Some(s.networks),
            success_rate: s.success_rate,
            median_ms: s.median_ms,
            p90_ms: s.p90_ms,
            baseline_success_rate: Some(s.baseline_success_rate),
            baseline_median_ms: s.baseline_median_ms,
            since: Some(s.since.clone()),
            held: s.held,
        }
    }

    /// Drops every number (the state stays).
    fn withhold(&mut self) {
        self.reports = None;
        self.networks = None;
        self.success_rate = None;
        self.median_ms = None;
        self.p90_ms = None;
        self.baseline_success_rate = None;
        self.baseline_median_ms = None;
        self.held = None;
    }

    /// Whether its numbers are published.
    pub fn has_numbers(&self) -> bool {
        self.reports.is_some()
    }
}

/// Published cells: country -> (platform, asn) -> cell.
pub(crate) type Snapshot = BTreeMap<Country, BTreeMap<(Platform, Option<u32>), Shown>>;

/// The public view of `cells` for k = `min_reports`, m = `min_networks`:
/// - a cell under k reports or m networks shows no numbers and reads `insufficient_data`;
/// - when some of a platform's ASN cells are withheld, the country cell minus the published
///   ASN cells would give their sum, so more ASN cells are withheld (smallest first) until the
///   withheld ones together hold at least k reports and m networks.
pub(crate) fn snapshot<'a>(cells: impl IntoIterator<Item = &'a CellStatus>, min_reports: u64, min_networks: u64) -> Snapshot {
    let enough = |s: &CellStatus| s.reports >= min_reports && s.networks >= min_networks;
    let mut by: BTreeMap<(Country, Platform), Vec<&CellStatus>> = BTreeMap::new();
    for s in cells {
        by.entry((s.country, s.platform.clone())).or_default().push(s);
    }
    let mut out = Snapshot::new();
    for ((country, _), group) in by {
        let mut shown: Vec<(Shown, &CellStatus)> = Vec::with_capacity(group.len());
        for s in group {
            let mut v = Shown::all(s);
            if !enough(s) {
                v.withhold();
                if v.state != State::InsufficientData {
                    v.since = None;
                }
                v.state = State::InsufficientData;
            }
            shown.push((v, s));
        }
        let country_published = shown.iter().any(|(v, s)| s.asn.is_none() && v.has_numbers());
        let asn_withheld = shown.iter().any(|(v, s)| s.asn.is_some() && !v.has_numbers());
        if country_published && asn_withheld {
            let sum = |shown: &[(Shown, &CellStatus)]| {
                shown
                    .iter()
                    .filter(|(v, s)| s.asn.is_some() && !v.has_numbers())
                    .fold((0, 0), |(r, n), (_, s)| (r + s.reports, n + s.networks))
            };
            loop {
                let (r, n) = sum(&shown);
                if r >= min_reports && n >= min_networks {
                    break;
                }
                let smallest = shown
                    .iter_mut()
                    .filter(|(v, s)| s.asn.is_some() && v.has_numbers())
                    .min_by_key(|(_, s)| (s.reports, s.networks, s.asn));
                match smallest {
                    Some((v, _)) => v.withhold(),
                    None => break,
                }
            }
        }
        let m = out.entry(country).or_default();
        for (v, _) in shown {
            m.insert((v.platform.clone(), v.asn), v);
        }
    }
    out
}

/// One published answer (a status or the country list), rendered once per tick for every reader.
#[derive(Debug)]
pub struct Body {
    /// The JSON bytes every reader of this tick gets.
    pub bytes: Bytes,
    /// Strong validator of `bytes` (a quoted hash): readers and CDNs revalidate with it and get
    /// 304 until the next tick changes the bytes. The same on every node for the same bytes.
    pub etag: String,
    /// Unix seconds of the tick that published it (`Last-Modified`, and when it goes stale).
    pub generated_at: i64,
}

impl Body {
    /// `doc`'s bytes and their ETag.
    pub fn new(doc: &serde_json::Value, generated_at: i64) -> Body {
        let bytes = Bytes::from(doc.to_string());
        let digest = ring::digest::digest(&ring::digest::SHA256, &bytes);
        let hex: String = digest.as_ref()[..12].iter().map(|b| format!("{b:02x}")).collect();
        Body { bytes, etag: format!("\"{hex}\""), generated_at }
    }
}

/// Unix milliseconds of the first multiple of `interval_ms` after `now_ms`.
pub(crate) fn next_tick(now_ms: i64, interval_ms: i64) -> i64 {
    (now_ms.div_euclid(interval_ms) + 1) * interval_ms
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x() -> Platform {
        Platform::try_from("x").unwrap()
    }

    fn pk() -> Country {
        Country::try_from("PK").unwrap()
    }

    fn cell(asn: Option<u32>, reports: u64, networks: u64, state: State) -> CellStatus {
        CellStatus {
            platform: x(),
            country: pk(),
            asn,
            state,
            window_state: state,
            reports,
            networks,
            success_rate: Some(0.5),
            median_ms: Some(100.0),
            p90_ms: Some(200.0),
            baseline_success_rate: 0.97,
            baseline_median_ms: Some(90.0),
            p_value: None,
            since: "2026-12-01T10:00:00Z".into(),
            global: false,
            held: None,
        }
    }

    #[test]
    fn cells_under_k_or_m_show_no_numbers_and_read_insufficient_data() {
        let cells = [cell(None, 40, 12, State::Disrupted), cell(Some(1), 9, 9, State::Disrupted), cell(Some(2), 31, 3, State::Disrupted)];
        let s = snapshot(&cells, 10, 3);
        let pk = &s[&pk()];
        let small = &pk[&(x(), Some(1))];
        assert_eq!(
            (small.state, small.reports, small.networks, small.success_rate, small.since.as_deref()),
            (State::InsufficientData, None, None, None, None)
        );
        let country = &pk[&(x(), None)];
        assert_eq!((country.reports, country.state), (Some(40), State::Disrupted));
        // 40 - 31 would give the small ASN's 9: the next smallest is withheld too (state kept).
        let big = &pk[&(x(), Some(2))];
        assert_eq!((big.reports, big.success_rate, big.state), (None, None, State::Disrupted));
    }

    #[test]
    fn withheld_asn_cells_that_already_hold_k_together_leave_the_others_published() {
        let cells = [
            cell(None, 100, 30, State::Normal),
            cell(Some(1), 6, 2, State::Normal),
            cell(Some(2), 5, 2, State::Normal),
            cell(Some(3), 89, 26, State::Normal),
        ];
        let s = snapshot(&cells, 10, 3);
        assert_eq!(s[&pk()][&(x(), Some(3))].reports, Some(89));
        assert_eq!(s[&pk()][&(x(), Some(1))].reports, None);
    }

    #[test]
    fn etags_follow_the_bytes() {
        let (a, b) = (serde_json::json!({"x": 1}), serde_json::json!({"x": 2}));
        assert_eq!(Body::new(&a, 10).etag, Body::new(&a, 20).etag);
        assert_ne!(Body::new(&a, 10).etag, Body::new(&b, 10).etag);
        assert!(Body::new(&a, 10).etag.starts_with('"') && Body::new(&a, 10).etag.len() == 26);
    }

    #[test]
    fn ticks_are_wall_clock_multiples() {
        assert_eq!(next_tick(1_000, 10_000), 10_000);
        assert_eq!(next_tick(10_000, 10_000), 20_000);
        assert_eq!(next_tick(19_999, 1_000), 20_000);
    }
}
