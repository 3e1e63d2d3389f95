//! The SQLite store's rollups not yet in its rollup tables: the writer's transaction appends raw
//! rows only, and adds what they change here; about once a minute (or sooner when large) they are
//! sealed and flushed in small transactions (`sqlite_flush`). Reads combine the rollup tables with
//! a copy of this, taken under the same lock as every flush commit, so nothing is counted twice.

use crate::rollup::{add_row, CellKey, CellRef, CellRollup, FastHash, NetRollup};
use crate::store::Observation;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};
use vantage_detect::hist::NUM_BUCKETS;

/// Unflushed network entries at which a generation is sealed at once, without waiting for
/// [`FLUSH_EVERY`]: with the sealed one still draining, at most twice this is held (ARCHITECTURE.md,
/// the memory bound).
pub(super) const MAX_ENTRIES: usize = 500_000;

/// How long new rollups wait in memory before they are sealed and flushed.
pub(super) const FLUSH_EVERY: Duration = Duration::from_secs(60);

/// One cell-minute's counters not yet flushed.
#[derive(Debug, Clone)]
pub(super) struct CellSums {
    /// Per-network counters, by network hash.
    pub nets: HashMap<u32, NetRollup, FastHash>,
    /// Counted reports' times (bucket counts): a fixed array, so a cell is one allocation less.
    pub times: [u32; NUM_BUCKETS],
    /// Answered controls' times.
    pub control_times: [u32; NUM_BUCKETS],
}

impl Default for CellSums {
    fn default() -> CellSums {
        CellSums { nets: HashMap::default(), times: [0; NUM_BUCKETS], control_times: [0; NUM_BUCKETS] }
    }
}

impl CellSums {
    /// Adds another cell's sums; returns how many network entries are new here.
    fn add(&mut self, o: &CellSums) -> usize {
        let before = self.nets.len();
        for (network, n) in &o.nets {
            self.nets.entry(*network).or_insert_with(|| NetRollup { network: *network, ..NetRollup::default() }).add(n);
        }
        add_counts(&mut self.times, &o.times);
        add_counts(&mut self.control_times, &o.control_times);
        self.nets.len() - before
    }

    /// Adds these sums into a cell read from the rollup tables (its networks stay sorted).
    pub(super) fn add_to(&self, c: &mut CellRollup) {
        for n in self.nets.values() {
            match c.nets.binary_search_by_key(&n.network, |x| x.network) {
                Ok(i) => c.nets[i].add(n),
                Err(i) => c.nets.insert(i, *n),
            }
        }
        add_counts(&mut c.times, &self.times);
        add_counts(&mut c.control_times, &self.control_times);
    }

    /// This cell-minute as the store hands it out.
    pub(super) fn to_rollup(&self, key: CellKey) -> CellRollup {
        let mut c = CellRollup::new(key);
        c.nets = self.nets.values().copied().collect();
        c.nets.sort_by_key(|n| n.network);
        (c.times, c.control_times) = (self.times.to_vec(), self.control_times.to_vec());
        c
    }
}

fn add_counts(into: &mut [u32], add: &[u32]) {
    for (a, b) in into.iter_mut().zip(add) {
        *a += b;
    }
}

/// Cell-minutes by key, in the order the store's reads hand them out.
pub(super) type CellMap = BTreeMap<CellKey, CellSums>;

/// A transaction's delta regrouped by cell: the rollups as `RollupDelta` counts them, which the
/// tests hold the one-pass [`Generation::add_report`] to.
#[cfg(test)]
pub(super) fn by_cell(d: crate::rollup::RollupDelta) -> CellMap {
    let mut out = CellMap::new();
    for ((key, network), n) in d.nets {
        out.entry(key).or_default().nets.insert(network, n);
    }
    for ((key, kind, bucket), n) in d.hist {
        let c = out.entry(key).or_default();
        let h = if kind == crate::rollup::KIND_TIMES { &mut c.times } else { &mut c.control_times };
        h[usize::from(bucket)] += n;
    }
    out
}

/// Whether two rows add to the same network entry of the same cell (and are both late or not).
fn same_cell_and_network(a: &Observation, b: &Observation) -> bool {
    a.platform == b.platform
        && a.ts.div_euclid(60) == b.ts.div_euclid(60)
        && (a.country, a.asn, a.network, a.late) == (b.country, b.asn, b.network, b.late)
}

/// Which cells a read wants.
pub(super) fn matches(key: &CellKey, f: &super::RollupFilter) -> bool {
    key.minute >= f.from
        && key.minute < f.to
        && f.platform.as_ref().is_none_or(|p| *p == key.platform)
        && f.country.as_ref().is_none_or(|c| *c == key.country)
        && f.asn.is_none_or(|a| a == key.asn)
}

/// A generation of rollups: the cells, the network entries they hold, and the highest
/// raw rowid (`reports` on SQLite) whose rows they include.
#[derive(Debug, Default)]
pub(super) struct Generation {
    /// The cells by key: a report's rows find theirs with one hash lookup a platform, and add
    /// into it in place (issue 10: the writer built, regrouped and merged a delta a batch before).
    cells: hashbrown::HashMap<CellKey, CellSums, FastHash>,
    /// The same keys in (minute, platform, country, asn) order: how reads and the flush walk them.
    /// Touched only when a cell is new or leaves, not per row.
    order: BTreeSet<CellKey>,
    /// Network entries over all cells: what the memory bound counts.
    pub entries: usize,
    /// Highest raw rowid added (reports up to it are in this or an older generation).
    pub through: i64,
}

impl Generation {
    /// Whether it holds no cell.
    pub(super) fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// Cells held.
    pub(super) fn len(&self) -> usize {
        self.cells.len()
    }

    /// Adds one stored report's rows (rows of one report share minute, country, ASN and network;
    /// late rows add nothing): one cell lookup and one network entry for each run of rows of one
    /// platform, counters added in place, nothing allocated unless a cell or network is new here.
    pub(super) fn add_report(&mut self, rows: &[Observation]) {
        let mut start = 0;
        for run in rows.chunk_by(same_cell_and_network) {
            let (head, earlier) = (&run[0], &rows[..start]);
            start += run.len();
            // A late report is stored raw only: it must not change a minute already published or judged.
            if head.late {
                continue;
            }
            let key = CellRef::of_row(head);
            let cell = match self.cells.entry_ref(&key) {
                hashbrown::hash_map::EntryRef::Occupied(o) => o.into_mut(),
                hashbrown::hash_map::EntryRef::Vacant(v) => {
                    self.order.insert(CellKey::from(&key));
                    v.insert_with_key(CellKey::from(&key), CellSums::default())
                }
            };
            let nets_before = cell.nets.len();
            let n = cell.nets.entry(head.network).or_insert_with(|| NetRollup { network: head.network, ..NetRollup::default() });
            // Once per (report, platform), however its rows are ordered.
            let first = !earlier.iter().any(|o| o.platform == head.platform && o.report_id == head.report_id);
            n.reports += u32::from(first);
            for o in run {
                let buckets = add_row(o, n);
                if let Some(b) = buckets.control {
                    cell.control_times[b] += 1;
                }
                if let Some(b) = buckets.times {
                    cell.times[b] += 1;
                }
            }
            self.entries += cell.nets.len() - nets_before;
        }
    }

    /// Keeps only the cells after `done` (key order): a flush that crashed had written the rest.
    pub(super) fn retain_after(&mut self, done: &CellKey) {
        let kept = self.order.split_off(done);
        for key in std::mem::replace(&mut self.order, kept) {
            if let Some(c) = self.cells.remove(&key) {
                self.entries -= c.nets.len();
            }
        }
        if let Some(c) = self.order.take(done).and_then(|key| self.cells.remove(&key)) {
            self.entries -= c.nets.len();
        }
    }

    /// The cells in key order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&CellKey, &CellSums)> {
        self.order.iter().map(|k| (k, &self.cells[k]))
    }

    /// Drops a cell (written to the tables).
    pub(super) fn remove(&mut self, key: &CellKey) {
        self.order.remove(key);
        if let Some(c) = self.cells.remove(key) {
            self.entries -= c.nets.len();
        }
    }

    /// Hands the cells matching `f` to `each`, in key order. With a platform and a country (the
    /// live detector's reads, one a touched pair), only that pair's keys of each minute are
    /// visited, so a read costs its own cells, not every cell of the generation.
    fn each_matching(&self, f: &super::RollupFilter, mut each: impl FnMut(&CellKey, &CellSums)) {
        let (Some(lo), Some(hi)) = (self.order.first(), self.order.last()) else { return };
        let (from, to) = (f.from.max(lo.minute), f.to.min(hi.minute.saturating_add(1)));
        let mut visit = |keys: &mut dyn Iterator<Item = &CellKey>, same: &dyn Fn(&CellKey) -> bool| {
            for key in keys.take_while(|k| same(k)).filter(|k| matches(k, f)) {
                each(key, &self.cells[key]);
            }
        };
        match (&f.platform, f.country) {
            (Some(platform), Some(country)) => {
                for minute in from..to {
                    let first = CellKey { minute, platform: platform.clone(), country, asn: 0 };
                    let pair = |k: &CellKey| k.minute == minute && k.platform == *platform && k.country == country;
                    visit(&mut self.order.range(first..), &pair);
                }
            }
            _ => visit(&mut self.order.range(CellKey::first_of(from)..), &|k: &CellKey| k.minute < to),
        }
    }
}

/// What is unflushed: the generation being flushed and the one growing.
#[derive(Debug, Default)]
pub(super) struct State {
    /// Sealed: being written to the rollup tables a chunk at a time, smallest key first.
    pub sealed: Generation,
    /// Growing: every newly committed report adds here.
    pub growing: Generation,
    /// When the growing generation got its first cell.
    pub growing_since: Option<Instant>,
}

impl State {
    /// Adds stored reports (their rows, each report's together; rows up to rowid `through`) to
    /// the growing generation.
    pub(super) fn add_reports<'a>(&mut self, reports: impl IntoIterator<Item = &'a [Observation]>, through: i64) {
        for rows in reports {
            self.growing.add_report(rows);
        }
        if self.growing_since.is_none() && !self.growing.is_empty() {
            self.growing_since = Some(Instant::now());
        }
        self.growing.through = self.growing.through.max(through);
    }

    /// Whether the growing generation should be sealed now (the sealed one must be empty).
    pub(super) fn due(&self, now: Instant) -> bool {
        self.sealed.is_empty()
            && !self.growing.is_empty()
            && (self.growing.entries >= MAX_ENTRIES || self.growing_since.is_some_and(|s| now.duration_since(s) >= FLUSH_EVERY))
    }

    /// Seals the growing generation (the sealed one must be empty).
    pub(super) fn seal(&mut self) {
        let through = self.growing.through;
        self.sealed = std::mem::take(&mut self.growing);
        self.growing.through = through;
        self.growing_since = None;
    }

    /// The cells matching `f` in both generations, summed.
    pub(super) fn copy(&self, f: &super::RollupFilter) -> CellMap {
        let mut out = CellMap::new();
        for g in [&self.sealed, &self.growing] {
            g.each_matching(f, |key, sums| {
                out.entry(key.clone()).or_default().add(sums);
            });
        }
        out
    }

    /// First and last minute held.
    pub(super) fn bounds(&self) -> Option<(i64, i64)> {
        let keys = [&self.sealed, &self.growing].into_iter().flat_map(|g| [g.order.first(), g.order.last()]);
        keys.flatten().map(|k| k.minute).fold(None, |acc, m| Some(acc.map_or((m, m), |(lo, hi): (i64, i64)| (lo.min(m), hi.max(m)))))
    }
}

/// The shared, locked [`State`].
#[derive(Debug, Default)]
pub(super) struct Unflushed {
    /// Held by the writer while it adds a batch or commits a flush chunk, and by a read while it
    /// starts its database snapshot and copies the cells it wants.
    state: Mutex<State>,
    /// Tests only: set, the writer leaves a sealed generation to the test, which writes its
    /// chunks from a connection of its own and must see them half written (the writer's idle
    /// tick would otherwise drain them at any moment).
    #[cfg(test)]
    pub(super) hold_flush: std::sync::atomic::AtomicBool,
}

impl Unflushed {
    /// The state, locked.
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the writer may write flush chunks now: always, except while a test holds them.
    pub(super) fn flush_allowed(&self) -> bool {
        #[cfg(test)]
        return !self.hold_flush.load(std::sync::atomic::Ordering::SeqCst);
        #[cfg(not(test))]
        true
    }
}

/// Streams the cells of a read of the rollup tables with `memory` added in: both are in key order.
pub(super) struct Merge<'a> {
    /// The unflushed cells of the read, smallest key first.
    memory: std::iter::Peekable<std::collections::btree_map::IntoIter<CellKey, CellSums>>,
    /// Where merged cells go.
    each: &'a mut dyn FnMut(CellRollup),
}

impl<'a> Merge<'a> {
    /// A merge handing cells to `each`.
    pub(super) fn new(memory: CellMap, each: &'a mut dyn FnMut(CellRollup)) -> Merge<'a> {
        Merge { memory: memory.into_iter().peekable(), each }
    }

    /// One cell from the rollup tables: unflushed cells before it go first, its own are added.
    pub(super) fn cell(&mut self, mut c: CellRollup) {
        while let Some((key, sums)) = self.memory.next_if(|(k, _)| *k < c.key) {
            (self.each)(sums.to_rollup(key));
        }
        if let Some((_, sums)) = self.memory.next_if(|(k, _)| *k == c.key) {
            sums.add_to(&mut c);
        }
        (self.each)(c);
    }

    /// The unflushed cells after the last one read.
    pub(super) fn finish(mut self) {
        for (key, sums) in self.memory.by_ref() {
            (self.each)(sums.to_rollup(key));
        }
    }
}

#[cfg(test)]
#[path = "unflushed_tests.rs"]
mod tests;
