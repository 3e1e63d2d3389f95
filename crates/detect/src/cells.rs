//! Cells: which windows exist at a minute, per ASN and, merged, per country.

use std::collections::BTreeMap;

use crate::rollup::Rollups;
use crate::window::WindowStats;
use crate::{Country, Platform};

/// A cell: a platform in a country, or in one ASN of it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cell {
    /// Platform name.
    pub platform: Platform,
    /// ISO country code.
    pub country: Country,
    /// `None` for the whole country (ordered first).
    pub asn: Option<u32>,
}

/// Windows over minutes `from..=to` for every ASN cell and, merged, every country cell.
pub fn collect(rollups: &Rollups, from: i64, to: i64) -> BTreeMap<Cell, WindowStats> {
    let mut out: BTreeMap<Cell, WindowStats> = BTreeMap::new();
    for (k, s) in rollups.series() {
        let mut w = WindowStats::default();
        let mut any = false;
        for (t, m) in s.range(from, to) {
            w.add_minute(m, t == to);
            any = true;
        }
        if !any {
            continue;
        }
        let platform = rollups.platform_name(k.platform).clone();
        let country = Cell { platform: platform.clone(), country: k.country, asn: None };
        out.entry(country).or_default().merge(&w);
        out.insert(Cell { platform, country: k.country, asn: Some(k.asn) }, w);
    }
    out
}
