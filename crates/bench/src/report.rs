//! Figures, goals, the printed table, `bench-results/latest.json` and the change against the
//! previous run.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::Path;

/// What a goal compares: the figure itself, or its ratio to the same-run baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum On {
    Measured,
    Ratio,
}

/// A goal from the issue: `measured <= value` or `measured >= value` (or the same on the ratio).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Goal {
    pub on: On,
    /// `<=` or `>=`.
    pub op: String,
    pub value: f64,
}

impl Goal {
    pub(crate) fn at_most(value: f64) -> Goal {
        Goal { on: On::Measured, op: "<=".into(), value }
    }
    pub(crate) fn at_least(value: f64) -> Goal {
        Goal { on: On::Measured, op: ">=".into(), value }
    }
    pub(crate) fn ratio_at_least(value: f64) -> Goal {
        Goal { on: On::Ratio, op: ">=".into(), value }
    }
    fn holds(&self, x: f64) -> bool {
        if self.op == "<=" {
            x <= self.value
        } else {
            x >= self.value
        }
    }
    fn text(&self, unit: &str) -> String {
        match self.on {
            On::Measured => format!("{} {} {unit}", self.op, fmt_num(self.value)),
            On::Ratio => format!("ratio {} {}", self.op, fmt_num(self.value)),
        }
    }
}

/// One measured number.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Figure {
    /// `ingest`, `store`, `query`, `widget`, `detect`.
    pub section: String,
    /// Stable key, e.g. `ingest.throughput`: how runs are compared.
    pub key: String,
    /// What it is, for people.
    pub name: String,
    pub unit: String,
    pub measured: f64,
    /// The same quantity for the baseline measured in this run, where there is one.
    pub baseline: Option<f64>,
    /// measured / baseline.
    pub ratio: Option<f64>,
    pub goal: Option<Goal>,
    /// Whether the goal is met (None: no goal, or a smoke run that does not judge).
    pub pass: Option<bool>,
    /// What the baseline is, or how the figure was obtained.
    pub note: String,
}

impl Figure {
    pub(crate) fn new(section: &str, key: &str, name: &str, unit: &str, measured: f64) -> Figure {
        Figure {
            section: section.into(),
            key: key.into(),
            name: name.into(),
            unit: unit.into(),
            measured,
            baseline: None,
            ratio: None,
            goal: None,
            pass: None,
            note: String::new(),
        }
    }
    pub(crate) fn baseline(mut self, b: f64) -> Figure {
        self.baseline = Some(b);
        self.ratio = (b != 0.0 && b.is_finite()).then(|| self.measured / b);
        self
    }
    pub(crate) fn goal(mut self, g: Goal) -> Figure {
        self.goal = Some(g);
        self
    }
    pub(crate) fn note(mut self, n: impl Into<String>) -> Figure {
        self.note = n.into();
        self
    }
    /// Judges the goal (not in smoke runs: they only prove the harness runs).
    pub(crate) fn judge(&mut self, smoke: bool) {
        self.pass = match (&self.goal, smoke) {
            (Some(g), false) => Some(match g.on {
                On::Measured => self.measured.is_finite() && g.holds(self.measured),
                On::Ratio => self.ratio.is_some_and(|r| g.holds(r)),
            }),
            _ => None,
        };
    }
}

/// A section that could not run (e.g. the read API is not there yet).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Skipped {
    pub section: String,
    pub reason: String,
}

/// Everything one invocation produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Results {
    pub started_at: String,
    pub command: String,
    pub smoke: bool,
    pub machine: Value,
    pub figures: Vec<Figure>,
    pub skipped: Vec<Skipped>,
    /// Sections that failed to run, with the error.
    pub errors: Vec<Skipped>,
}

pub(crate) fn fmt_num(x: f64) -> String {
    if x.is_nan() {
        return "n/a".into();
    }
    if x.is_infinite() {
        return "inf".into();
    }
    let a = x.abs();
    if a >= 100_000.0 {
        format!("{:.0}", x)
    } else if a >= 100.0 {
        format!("{:.1}", x)
    } else if a >= 1.0 {
        format!("{:.2}", x)
    } else if a == 0.0 {
        "0".into()
    } else {
        format!("{:.3}", x)
    }
}

/// The table people read: goal / measured / baseline / ratio / pass-fail.
pub(crate) fn table(results: &Results) -> String {
    let mut rows = vec![["figure".to_string(), "measured".into(), "baseline".into(), "ratio".into(), "goal".into(), "result".into()]];
    for f in &results.figures {
        rows.push([
            format!("{} {}", f.key, if f.unit.is_empty() { String::new() } else { format!("({})", f.unit) }),
            fmt_num(f.measured),
            f.baseline.map(fmt_num).unwrap_or_else(|| "-".into()),
            f.ratio.map(fmt_num).unwrap_or_else(|| "-".into()),
            f.goal.as_ref().map(|g| g.text(&f.unit)).unwrap_or_else(|| "-".into()),
            match f.pass {
                Some(true) => "PASS".into(),
                Some(false) => "FAIL".into(),
                None if f.goal.is_some() => "(smoke)".into(),
                None => "-".into(),
            },
        ]);
    }
    let widths: Vec<usize> = (0..6).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for (i, r) in rows.iter().enumerate() {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(c, s)| if c == 0 { format!("{s:<w$}", w = widths[c]) } else { format!("{s:>w$}", w = widths[c]) })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
        if i == 0 {
            out.push_str(&widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("  "));
            out.push('\n');
        }
    }
    for s in &results.skipped {
        out.push_str(&format!("{}: not measured: {}\n", s.section, s.reason));
    }
    for s in &results.errors {
        out.push_str(&format!("{}: ERROR: {}\n", s.section, s.reason));
    }
    out
}

/// The same table in Markdown, for BENCHMARKS.md.
pub(crate) fn markdown(results: &Results) -> String {
    let mut out =
        String::from("| figure | unit | measured | baseline | ratio | goal | result | how |\n|---|---|---:|---:|---:|---|---|---|\n");
    for f in &results.figures {
        out.push_str(&format!(
            "| `{}` {} | {} | {} | {} | {} | {} | {} | {} |\n",
            f.key,
            f.name,
            f.unit,
            fmt_num(f.measured),
            f.baseline.map(fmt_num).unwrap_or_else(|| "-".into()),
            f.ratio.map(fmt_num).unwrap_or_else(|| "-".into()),
            f.goal.as_ref().map(|g| g.text(&f.unit)).unwrap_or_else(|| "-".into()),
            match f.pass {
                Some(true) => "pass",
                Some(false) => "**FAIL**",
                None => "-",
            },
            f.note.replace('|', "\\|"),
        ));
    }
    out
}

/// Lines saying how each figure moved since the previous results file (same key, both runs of
/// the same kind: a smoke run is compared only with a smoke run).
pub(crate) fn compare(prev: &Results, now: &Results) -> String {
    if prev.smoke != now.smoke {
        return format!(
            "previous results ({}) were a {} run; not compared with this {} run\n",
            prev.started_at,
            if prev.smoke { "smoke" } else { "full" },
            if now.smoke { "smoke" } else { "full" }
        );
    }
    let mut out = format!("change since the previous run ({}):\n", prev.started_at);
    let mut any = false;
    for f in &now.figures {
        let Some(p) = prev.figures.iter().find(|p| p.key == f.key) else { continue };
        any = true;
        let change = if p.measured != 0.0 && p.measured.is_finite() && f.measured.is_finite() {
            format!("{:+.1}%", (f.measured / p.measured - 1.0) * 100.0)
        } else {
            "n/a".into()
        };
        let ratio = match (p.ratio, f.ratio) {
            (Some(a), Some(b)) => format!("  ratio {} -> {}", fmt_num(a), fmt_num(b)),
            _ => String::new(),
        };
        out.push_str(&format!(
            "  {:<40} {:>12} -> {:>12} {} {:>8}{}\n",
            f.key,
            fmt_num(p.measured),
            fmt_num(f.measured),
            f.unit,
            change,
            ratio
        ));
    }
    if !any {
        out.push_str("  (no figure in common)\n");
    }
    out
}

pub(crate) fn load(path: &Path) -> Option<Results> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}
