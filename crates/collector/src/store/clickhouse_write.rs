//! The ClickHouse batch writer: one thread per collector gathers queued reports into few, large
//! inserts (at most one per `batch_ms`, sooner when `batch_rows` are waiting), decides
//! duplicates against the `reports` table, inserts, and only then acknowledges.

use super::clickhouse_http::{quote_list, Http};
use super::{Observation, StoreError, Stored};
use crate::rollup::{RollupDelta, KIND_CONTROL, KIND_TIMES};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use vantage_protocol::{ReportId, TargetId};

/// How far (seconds) from a report's measurement time an earlier copy of its id is looked for:
/// a retried report keeps its measurement time (`age_s` is recomputed), so a day is generous,
/// and the lookup touches only a few day partitions of `reports`.
const DEDUPE_WINDOW_S: i64 = 86_400;

/// What the writer thread receives.
pub(super) enum Job {
    /// One report's rows and where to send the outcome.
    Report { id: ReportId, rows: Vec<Observation>, reply: oneshot::Sender<Result<Stored, Arc<StoreError>>> },
    /// Insert what is queued before this, then stop.
    Shutdown,
}

/// Counters shared with `stats()`.
#[derive(Default)]
pub(super) struct Counters {
    /// Jobs queued and not yet taken by the writer.
    pub queued: AtomicUsize,
    /// Inserts that succeeded.
    pub batches: AtomicU64,
    /// Observation rows inserted.
    pub rows: AtomicU64,
    /// Of them, late reports' rows.
    pub late_rows: AtomicU64,
}

/// One raw row as inserted: the section 2 columns plus its share of the rollups.
#[derive(Debug, Serialize)]
struct RawRow<'a> {
    ts: i64,
    country: &'a str,
    asn: u32,
    network: u32,
    site: &'a str,
    platform: &'a str,
    target: &'a str,
    outcome: &'a str,
    ms: f64,
    control_outcome: &'a str,
    control_ms: f64,
    browser_family: Option<&'a str>,
    net_type: Option<&'a str>,
    report_id: &'a str,
    first_of_report: u8,
    ok: u8,
    error: u8,
    timeout: u8,
    blocked: u8,
    excluded_control: u8,
    log_ms: f64,
    time_bucket: i16,
    control_bucket: i16,
    /// 1: stored raw only (the views skip it, and its shares above are zero).
    late: u8,
    /// The readable status of an `http_error`; null otherwise.
    status: Option<u16>,
}

/// `rows` as JSONEachRow lines. `first_of_report` marks the first row of each (report, platform),
/// so a report counts once per platform, exactly as [`RollupDelta::add`] counts it; the other
/// counters come from `RollupDelta` itself, so both stores roll up identically.
/// `seen` carries the (report, platform) pairs already marked across the calls of one import.
pub(super) fn encode<'a>(rows: &[&'a Observation], seen: &mut HashSet<(&'a str, &'a str)>) -> String {
    let mut out = String::new();
    for o in rows {
        let mut d = RollupDelta::default();
        d.add([*o]);
        let n = d.nets.values().next().copied().unwrap_or_default();
        let bucket = |kind: u8| d.hist.keys().find(|(_, k, _)| *k == kind).map_or(-1, |(_, _, b)| i16::from(*b));
        let row = RawRow {
            ts: o.ts,
            country: o.country.as_str(),
            asn: o.asn,
            network: o.network,
            site: o.site.as_str(),
            platform: o.platform.as_str(),
            target: o.target.as_str(),
            outcome: o.outcome.as_str(),
            ms: o.ms,
            control_outcome: o.control_outcome.as_str(),
            control_ms: o.control_ms,
            browser_family: o.browser_family.as_deref(),
            net_type: o.net_type.as_deref(),
            report_id: o.report_id.as_str(),
            // A late row adds nothing to the rollups, even through a view without `WHERE late = 0`.
            first_of_report: u8::from(!o.late && seen.insert((o.report_id.as_str(), o.platform.as_str()))),
            ok: n.ok as u8,
            error: n.error as u8,
            timeout: n.timeout as u8,
            blocked: n.blocked as u8,
            excluded_control: n.excluded_control as u8,
            log_ms: n.log_ms_sum,
            time_bucket: bucket(KIND_TIMES),
            control_bucket: bucket(KIND_CONTROL),
            late: u8::from(o.late),
            status: o.status,
        };
        out.push_str(&serde_json::to_string(&row).expect("rows serialize"));
        out.push('\n');
    }
    out
}

/// Settings of the writer loop.
pub(super) struct Batching {
    /// Least time between the starts of two inserts.
    pub interval: Duration,
    /// Insert at once when this many rows wait.
    pub max_rows: usize,
    /// Longest one insert may take.
    pub timeout: Duration,
}

/// The writer thread's loop: runs until a `Shutdown` job or until every sender is gone.
pub(super) fn write_loop(http: &Http, rx: &Receiver<Job>, b: &Batching, counters: &Arc<Counters>) {
    let mut last_start: Option<Instant> = None;
    let mut stop = false;
    while !stop {
        let Ok(first) = rx.recv() else { break };
        let mut batch = Vec::new();
        let mut rows = 0;
        let take = |job: Job, batch: &mut Vec<_>, rows: &mut usize, stop: &mut bool| {
            counters.queued.fetch_sub(1, Ordering::Relaxed);
            match job {
                Job::Report { id, rows: r, reply } => {
                    *rows += r.len();
                    batch.push((id, r, reply));
                }
                Job::Shutdown => *stop = true,
            }
        };
        take(first, &mut batch, &mut rows, &mut stop);
        // Gather until the interval since the last insert has passed (or enough rows wait).
        let due = last_start.map_or_else(Instant::now, |t| t + b.interval);
        while !stop && rows < b.max_rows {
            let wait = due.saturating_duration_since(Instant::now());
            let next = if wait.is_zero() { rx.try_recv().map_err(|_| RecvTimeoutError::Timeout) } else { rx.recv_timeout(wait) };
            match next {
                Ok(job) => take(job, &mut batch, &mut rows, &mut stop),
                Err(RecvTimeoutError::Timeout) if wait.is_zero() => break,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => stop = true,
            }
        }
        if batch.is_empty() {
            continue;
        }
        last_start = Some(Instant::now());
        let reports: Vec<(ReportId, Vec<Observation>)> = batch.iter_mut().map(|(id, r, _)| (*id, std::mem::take(r))).collect();
        match commit(http, &reports, b.timeout) {
            Ok((outcomes, n)) => {
                counters.batches.fetch_add(1, Ordering::Relaxed);
                counters.rows.fetch_add(n, Ordering::Relaxed);
                counters.late_rows.fetch_add(super::late_rows(&reports, &outcomes), Ordering::Relaxed);
                for ((_, _, reply), outcome) in batch.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(e) => {
                let e = Arc::new(e);
                tracing::error!(error = %e, reports = reports.len(), "clickhouse insert failed; answering 503");
                for (_, _, reply) in batch {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}

/// Decides duplicates (earlier in this batch, or already in `reports`), inserts the rest as one
/// insert, and returns each report's outcome and the rows written.
pub(super) fn commit(http: &Http, reports: &[(ReportId, Vec<Observation>)], timeout: Duration) -> Result<(Vec<Stored>, u64), StoreError> {
    let stored = existing_reports(http, reports, timeout)?;
    let mut in_batch: HashSet<&ReportId> = HashSet::new();
    let mut outcomes = Vec::with_capacity(reports.len());
    let mut rows: Vec<&Observation> = Vec::new();
    for (id, obs) in reports {
        if stored.contains(id.as_str()) || !in_batch.insert(id) {
            outcomes.push(Stored::Duplicate);
        } else {
            rows.extend(obs.iter());
            outcomes.push(Stored::New);
        }
    }
    if !rows.is_empty() {
        http.insert(&format!("{}.observations", http.db), encode(&rows, &mut HashSet::new()), timeout)?;
    }
    Ok((outcomes, rows.len() as u64))
}

/// Which of these reports' ids are already stored.
fn existing_reports(http: &Http, reports: &[(ReportId, Vec<Observation>)], timeout: Duration) -> Result<HashSet<String>, StoreError> {
    #[derive(Deserialize)]
    struct Id {
        id: String,
    }
    let ts = reports.iter().flat_map(|(_, r)| r.first()).map(|o| o.ts);
    let (Some(lo), Some(hi)) = (ts.clone().min(), ts.max()) else { return Ok(HashSet::new()) };
    let ids: HashSet<&str> = reports.iter().map(|(id, _)| id.as_str()).collect();
    let found: Vec<Id> = http.select(
        &format!(
            "SELECT DISTINCT id FROM {}.reports WHERE ts >= toDateTime({}) AND ts <= toDateTime({}) AND id IN ({})",
            http.db,
            (lo - DEDUPE_WINDOW_S).max(0),
            hi + DEDUPE_WINDOW_S,
            quote_list(ids.iter().copied())
        ),
        timeout,
    )?;
    Ok(found.into_iter().map(|i| i.id).collect())
}

/// (report_id, target) pairs of `rows` already stored (for `import`).
pub(super) fn existing_pairs(http: &Http, rows: &[Observation], timeout: Duration) -> Result<HashSet<(ReportId, TargetId)>, StoreError> {
    #[derive(Deserialize)]
    struct Pair {
        report_id: ReportId,
        target: TargetId,
    }
    let ids: HashSet<&str> = rows.iter().map(|o| o.report_id.as_str()).collect();
    let ids: Vec<&str> = ids.into_iter().collect();
    let mut out = HashSet::new();
    for chunk in ids.chunks(2000) {
        let found: Vec<Pair> = http.select(
            &format!(
                "SELECT DISTINCT report_id, target FROM {}.observations WHERE report_id IN ({})",
                http.db,
                quote_list(chunk.iter().copied())
            ),
            timeout,
        )?;
        out.extend(found.into_iter().map(|p| (p.report_id, p.target)));
    }
    Ok(out)
}

/// Rows of `rows` that are new: not stored and not repeated earlier in `rows`.
pub(super) fn new_rows<'a>(rows: &'a [Observation], stored: &HashSet<(ReportId, TargetId)>) -> Vec<&'a Observation> {
    let mut seen: HashMap<(&ReportId, &TargetId), ()> = HashMap::new();
    rows.iter()
        .filter(|o| !stored.contains(&(o.report_id, o.target.clone())))
        .filter(|o| seen.insert((&o.report_id, &o.target), ()).is_none())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(report: &str, platform: &str, target: &str, outcome: &str, control_ms: f64) -> Observation {
        Observation {
            ts: 6000,
            country: "PK".parse().unwrap(),
            asn: 1,
            network: 7,
            site: "drm".parse().unwrap(),
            platform: platform.parse().unwrap(),
            target: target.parse().unwrap(),
            outcome: vantage_protocol::Outcome::from_wire(outcome).unwrap(),
            ms: 100.0,
            control_outcome: vantage_protocol::Outcome::Ok,
            control_ms,
            browser_family: None,
            net_type: None,
            report_id: report.repeat(32).parse().unwrap(),
            late: false,
            status: None,
        }
    }

    #[test]
    fn rows_carry_the_same_rollup_shares_as_the_sqlite_delta() {
        let rows = [
            obs("a", "x", "x.1", "ok", 40.0),
            obs("a", "x", "x.2", "timeout", 40.0),
            obs("a", "yt", "yt.1", "blocked_by_client", 40.0),
            obs("b", "x", "x.1", "error", 20_000.0),
        ];
        let refs: Vec<&Observation> = rows.iter().collect();
        let lines: Vec<serde_json::Value> = encode(&refs, &mut HashSet::new()).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let col = |k: &str| lines.iter().map(|l| l[k].as_i64().unwrap()).collect::<Vec<_>>();
        assert_eq!(col("first_of_report"), [1, 0, 1, 1]);
        assert_eq!(col("ok"), [1, 0, 0, 0]);
        assert_eq!(col("timeout"), [0, 1, 0, 0]);
        assert_eq!(col("blocked"), [0, 0, 1, 0]);
        assert_eq!(col("excluded_control"), [0, 0, 0, 1]);
        assert_eq!(col("time_bucket")[2], -1, "blocked: no time counted");
        assert_eq!(col("control_bucket")[3], vantage_detect::hist::bucket_of(20_000.0) as i64, "an answered control is timed");
    }

    #[test]
    fn new_rows_skip_stored_and_repeated_pairs() {
        let rows = [obs("a", "x", "x.1", "ok", 1.0), obs("a", "x", "x.1", "ok", 1.0), obs("b", "x", "x.1", "ok", 1.0)];
        let stored: HashSet<(ReportId, TargetId)> = [("b".repeat(32).parse().unwrap(), "x.1".parse().unwrap())].into();
        assert_eq!(new_rows(&rows, &stored).len(), 1);
    }
}
