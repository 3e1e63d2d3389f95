//! `vantage import` and `vantage export`: observations as NDJSON (PROTOCOL.md section 2), and
//! k-anonymous aggregates per (minute, country, asn, platform).

use crate::store::{Observation, Store};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use vantage_protocol::{is_valid_target_id, Outcome};

/// Parses and checks every line first, then stores all rows in one transaction, so a bad file
/// stores nothing. Returns (rows read, rows new).
pub fn import(store: &dyn Store, text: &str) -> Result<(usize, usize), String> {
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let o: Observation = serde_json::from_str(line).map_err(|e| format!("line {}: {e}", i + 1))?;
        check(&o).map_err(|e| format!("line {}: {e}", i + 1))?;
        rows.push(o);
    }
    let added = store.import(&rows)?;
    Ok((rows.len(), added))
}

fn check(o: &Observation) -> Result<(), String> {
    let country_ok = o.country.len() == 2 && o.country.bytes().all(|b| b.is_ascii_uppercase());
    let id_ok = o.report_id.len() == 32 && o.report_id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let ms_ok = |ms: f64| ms.is_finite() && (0.0..=vantage_protocol::MAX_MS).contains(&ms);
    match () {
        _ if o.ts % 60 != 0 => Err("ts: must be a whole minute".into()),
        _ if !country_ok => Err("country: must be two upper-case letters (ZZ unknown)".into()),
        _ if !is_valid_target_id(&o.target) => Err("target: must be 1 to 64 of [a-z0-9._-]".into()),
        _ if !is_valid_target_id(&o.platform) => Err("platform: must be 1 to 64 of [a-z0-9._-]".into()),
        _ if o.site.is_empty() || o.site.len() > 64 => Err("site: must be 1 to 64 characters".into()),
        _ if Outcome::from_wire(&o.outcome).is_none() => Err("outcome: not a known outcome".into()),
        _ if Outcome::from_wire(&o.control_outcome).is_none() => Err("control_outcome: not a known outcome".into()),
        _ if !ms_ok(o.ms) => Err("ms: must be between 0 and 120000".into()),
        _ if !ms_ok(o.control_ms) => Err("control_ms: must be between 0 and 120000".into()),
        _ if !id_ok => Err("report_id: must be 32 lowercase hex characters".into()),
        _ => Ok(()),
    }
}

/// One published cell: a (minute, country, asn, platform) with enough reports and networks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Aggregate {
    /// The minute (RFC 3339).
    pub ts: String,
    /// Country code.
    pub country: String,
    /// AS number.
    pub asn: u32,
    /// Platform.
    pub platform: String,
    /// Distinct reports in the cell (>= k).
    pub reports: usize,
    /// Distinct networks in the cell (>= m).
    pub networks: usize,
    /// Observations per outcome.
    pub ok: usize,
    /// Network errors.
    pub error: usize,
    /// Deadlines hit.
    pub timeout: usize,
    /// Refused by the browser itself; not part of `success_rate`.
    pub blocked_by_client: usize,
    /// ok / (ok + error + timeout); absent when all were blocked by the client.
    pub success_rate: Option<f64>,
    /// Median ms of the `ok` observations.
    pub median_ms: Option<f64>,
}

#[derive(Default)]
struct Cell {
    reports: HashSet<String>,
    networks: HashSet<u32>,
    counts: [usize; 4],
    ok_ms: Vec<f64>,
}

/// Aggregates observations, keeping only cells with >= `k` reports from >= `m` networks.
pub fn aggregate(rows: &[Observation], k: usize, m: usize) -> Vec<Aggregate> {
    let mut cells: BTreeMap<(i64, &str, u32, &str), Cell> = BTreeMap::new();
    for o in rows {
        let cell = cells.entry((o.ts, &o.country, o.asn, &o.platform)).or_default();
        cell.reports.insert(o.report_id.clone());
        cell.networks.insert(o.network);
        let outcome = Outcome::from_wire(&o.outcome);
        if let Some(i) = Outcome::ALL.iter().position(|x| Some(*x) == outcome) {
            cell.counts[i] += 1;
        }
        if outcome == Some(Outcome::Ok) {
            cell.ok_ms.push(o.ms);
        }
    }
    cells
        .into_iter()
        .filter(|(_, c)| c.reports.len() >= k && c.networks.len() >= m)
        .map(|((ts, country, asn, platform), mut c)| {
            let [ok, error, timeout, blocked_by_client] = c.counts;
            let tried = ok + error + timeout;
            c.ok_ms.sort_by(f64::total_cmp);
            Aggregate {
                ts: crate::store::rfc3339::format(ts),
                country: country.into(),
                asn,
                platform: platform.into(),
                reports: c.reports.len(),
                networks: c.networks.len(),
                ok,
                error,
                timeout,
                blocked_by_client,
                success_rate: (tried > 0).then(|| ok as f64 / tried as f64),
                median_ms: median(&c.ok_ms),
            }
        })
        .collect()
}

fn median(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// What `vantage export` writes.
pub struct ExportRequest {
    /// Inclusive lower bound (Unix seconds).
    pub from: Option<i64>,
    /// Exclusive upper bound (Unix seconds).
    pub to: Option<i64>,
    /// Raw observations instead of aggregates.
    pub raw: bool,
    /// k: fewest reports per published cell.
    pub min_reports: usize,
    /// m: fewest networks per published cell.
    pub min_networks: usize,
}

/// Writes NDJSON to `out`.
pub fn export(store: &dyn Store, req: &ExportRequest, out: &mut impl Write) -> Result<(), String> {
    let rows = store.observations(req.from, req.to)?;
    let io = |e: std::io::Error| format!("writing output: {e}");
    if req.raw {
        for o in &rows {
            serde_json::to_writer(&mut *out, o).map_err(|e| e.to_string())?;
            out.write_all(b"\n").map_err(io)?;
        }
    } else {
        for a in aggregate(&rows, req.min_reports, req.min_networks) {
            serde_json::to_writer(&mut *out, &a).map_err(|e| e.to_string())?;
            out.write_all(b"\n").map_err(io)?;
        }
    }
    out.flush().map_err(io)
}
