//! Counters for `GET /metrics` (Prometheus text format). No label ever carries a client detail.

use crate::store::StoreStats;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Statuses ingest refuses with, in the order of `Metrics::rejected`.
const REJECT_STATUSES: [u16; 6] = [400, 403, 413, 415, 429, 503];

/// Ingest counters.
#[derive(Default)]
pub struct Metrics {
    /// Reports stored (202).
    accepted: AtomicU64,
    /// Reports acknowledged again without storing (200 duplicate).
    duplicate: AtomicU64,
    /// Reports refused, one counter per status in `REJECT_STATUSES`.
    rejected: [AtomicU64; 6],
}

impl Metrics {
    /// Counts a stored report.
    pub fn accepted(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a duplicate report.
    pub fn duplicate(&self) {
        self.duplicate.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a refused report by its status.
    pub fn rejected(&self, status: u16) {
        if let Some(i) = REJECT_STATUSES.iter().position(|s| *s == status) {
            self.rejected[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self, store: StoreStats) -> String {
        let mut out = String::new();
        out.push_str("# HELP vantage_reports_total Reports answered, by result.\n# TYPE vantage_reports_total counter\n");
        let _ = writeln!(out, "vantage_reports_total{{result=\"accepted\"}} {}", self.accepted.load(Ordering::Relaxed));
        let _ = writeln!(out, "vantage_reports_total{{result=\"duplicate\"}} {}", self.duplicate.load(Ordering::Relaxed));
        out.push_str(
            "# HELP vantage_reports_rejected_total Reports refused, by HTTP status.\n# TYPE vantage_reports_rejected_total counter\n",
        );
        for (status, n) in REJECT_STATUSES.iter().zip(&self.rejected) {
            let _ = writeln!(out, "vantage_reports_rejected_total{{status=\"{status}\"}} {}", n.load(Ordering::Relaxed));
        }
        let _ = write!(
            out,
            "# HELP vantage_queue_depth Reports waiting for the store writer.\n# TYPE vantage_queue_depth gauge\nvantage_queue_depth {}\n\
             # HELP vantage_store_batches_total Store transactions committed.\n# TYPE vantage_store_batches_total counter\nvantage_store_batches_total {}\n\
             # HELP vantage_store_rows_total Observation rows written.\n# TYPE vantage_store_rows_total counter\nvantage_store_rows_total {}\n\
             # HELP vantage_store_late_rows_total Rows of late reports (measured over 5 minutes before arrival): stored raw, not in the published rollups.\n# TYPE vantage_store_late_rows_total counter\nvantage_store_late_rows_total {}\n",
            store.queue_depth, store.batches, store.rows, store.late_rows
        );
        out
    }
}
