//! Cell-minutes assembled from rollup rows, shared by both stores' reads: histogram rows first,
//! then network rows in (minute, platform, country, asn, network) order.

use crate::rollup::{CellKey, CellRollup, NetRollup, KIND_TIMES};
use std::collections::HashMap;

/// Collects one chunk's rows and hands each finished cell to `each`.
#[derive(Default)]
pub(super) struct Cells {
    /// Histograms by cell: (counted reports' times, answered controls' times).
    hists: HashMap<CellKey, (Vec<u32>, Vec<u32>)>,
    /// The cell whose network rows are being read.
    cell: Option<CellRollup>,
}

impl Cells {
    /// Adds `n` to bucket `bucket` of histogram `kind` of cell `key`.
    pub(super) fn hist(&mut self, key: CellKey, kind: u8, bucket: usize, n: u32) {
        let empty = CellRollup::new(key.clone());
        let h = self.hists.entry(key).or_insert((empty.times, empty.control_times));
        let v = if kind == KIND_TIMES { &mut h.0 } else { &mut h.1 };
        if let Some(slot) = v.get_mut(bucket) {
            *slot += n;
        }
    }

    /// Adds one network row; a row of a new cell finishes the previous one.
    pub(super) fn net(&mut self, key: CellKey, net: NetRollup, each: &mut dyn FnMut(CellRollup)) {
        if self.cell.as_ref().is_some_and(|c| c.key != key) {
            let done = self.cell.take().expect("checked");
            self.emit(done, each);
        }
        self.cell.get_or_insert_with(|| CellRollup::new(key)).nets.push(net);
    }

    /// Finishes the last cell.
    pub(super) fn finish(mut self, each: &mut dyn FnMut(CellRollup)) {
        if let Some(c) = self.cell.take() {
            self.emit(c, each);
        }
    }

    fn emit(&mut self, mut c: CellRollup, each: &mut dyn FnMut(CellRollup)) {
        if let Some((t, ct)) = self.hists.remove(&c.key) {
            (c.times, c.control_times) = (t, ct);
        }
        each(c);
    }
}
