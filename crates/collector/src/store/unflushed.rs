//! The SQLite store's rollups not yet in its rollup tables: the writer's transaction appends raw
//! rows only, and adds what they change here; about once a minute (or sooner when large) they are
//! sealed and flushed in small transactions (`sqlite_flush`). Reads combine the rollup tables with
//! a copy of this, taken under the same lock as every flush commit, so nothing is counted twice.

use crate::rollup::{CellKey, CellRollup, FastHash, NetRollup, RollupDelta, KIND_TIMES};
use std::collections::{BTreeMap, HashMap};
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
    /// Counted reports' times (`NUM_BUCKETS` bucket counts).
    pub times: Vec<u32>,
    /// Answered controls' times.
    pub control_times: Vec<u32>,
}

impl Default for CellSums {
    fn default() -> CellSums {
        CellSums { nets: HashMap::default(), times: vec![0; NUM_BUCKETS], control_times: vec![0; NUM_BUCKETS] }
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
        (c.times, c.control_times) = (self.times.clone(), self.control_times.clone());
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

/// A transaction's delta regrouped by cell.
pub(super) fn by_cell(d: RollupDelta) -> CellMap {
    let mut out = CellMap::new();
    for ((key, network), n) in d.nets {
        out.entry(key).or_default().nets.insert(network, n);
    }
    for ((key, kind, bucket), n) in d.hist {
        let c = out.entry(key).or_default();
        let h = if kind == KIND_TIMES { &mut c.times } else { &mut c.control_times };
        if let Some(slot) = h.get_mut(usize::from(bucket)) {
            *slot += n;
        }
    }
    out
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
    /// The cells.
    pub cells: CellMap,
    /// Network entries over all cells: what the memory bound counts.
    pub entries: usize,
    /// Highest raw rowid added (reports up to it are in this or an older generation).
    pub through: i64,
}

impl Generation {
    /// Adds cells (of rows up to rowid `through`).
    pub(super) fn add(&mut self, cells: CellMap, through: i64) {
        for (key, sums) in cells {
            match self.cells.get_mut(&key) {
                Some(c) => self.entries += c.add(&sums),
                None => {
                    self.entries += sums.nets.len();
                    self.cells.insert(key, sums);
                }
            }
        }
        self.through = self.through.max(through);
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
    /// Adds committed rows' rollups (rows up to rowid `through`) to the growing generation.
    pub(super) fn add(&mut self, delta: RollupDelta, through: i64) {
        let cells = by_cell(delta);
        if self.growing_since.is_none() && !cells.is_empty() {
            self.growing_since = Some(Instant::now());
        }
        self.growing.add(cells, through);
    }

    /// Whether the growing generation should be sealed now (the sealed one must be empty).
    pub(super) fn due(&self, now: Instant) -> bool {
        self.sealed.cells.is_empty()
            && !self.growing.cells.is_empty()
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
            for (key, sums) in g.cells.range(CellKey::first_of(f.from)..) {
                if key.minute >= f.to {
                    break;
                }
                if matches(key, f) {
                    out.entry(key.clone()).or_default().add(sums);
                }
            }
        }
        out
    }

    /// First and last minute held.
    pub(super) fn bounds(&self) -> Option<(i64, i64)> {
        let keys = [&self.sealed, &self.growing].into_iter().flat_map(|g| [g.cells.first_key_value(), g.cells.last_key_value()]);
        keys.flatten().map(|(k, _)| k.minute).fold(None, |acc, m| Some(acc.map_or((m, m), |(lo, hi): (i64, i64)| (lo.min(m), hi.max(m)))))
    }
}

/// The shared, locked [`State`].
#[derive(Debug, Default)]
pub(super) struct Unflushed {
    /// Held by the writer while it adds a batch or commits a flush chunk, and by a read while it
    /// starts its database snapshot and copies the cells it wants.
    state: Mutex<State>,
}

impl Unflushed {
    /// The state, locked.
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds committed rows' rollups (rows up to rowid `through`).
    pub(super) fn add(&self, delta: RollupDelta, through: i64) {
        self.lock().add(delta, through);
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
