//! `vantage-bench`: every performance figure of Vantage, each against a baseline measured in the
//! same run where one exists, on this (shared, noisy) machine.
//!
//! `cargo run --release -p vantage-bench -- all` for the full run (BENCHMARKS.md);
//! `cargo run -p vantage-bench -- all --smoke` for a few seconds a section (`./build.sh test`).
//! Results: a table on stdout, JSON in `bench-results/latest.json` (`latest-smoke.json` for smoke
//! runs; the previous file is compared with and kept as `latest.previous.json`), and the same table in
//! Markdown beside it (`latest.md`).

mod detect;
mod ingest;
mod query;
mod readers;
mod report;
mod store;
mod traffic;
mod util;
mod widget;

use clap::{Parser, ValueEnum};
use report::{Figure, Results, Skipped};
use std::process::ExitCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Section {
    Ingest,
    Store,
    Query,
    Widget,
    Detect,
    Readers,
    All,
}

/// Vantage benchmark harness.
#[derive(Debug, Parser)]
#[command(name = "vantage-bench")]
struct Cli {
    /// Which benchmark to run.
    #[arg(value_enum)]
    section: Section,
    /// A short run (seconds per section): proves the harness works; goals are not judged.
    #[arg(long)]
    smoke: bool,
    /// Where the JSON results go (the previous file there is compared with, then replaced).
    /// Default: bench-results/latest.json, or bench-results/latest-smoke.json with --smoke (so a
    /// smoke run never replaces the full run's figures).
    #[arg(long)]
    out: Option<std::path::PathBuf>,
    /// Observations the query part stores (default 10,000,000; 100,000 with --smoke).
    #[arg(long)]
    observations: Option<usize>,
}

/// The collector binary's allocator (crates/collector/src/main.rs): the collector runs in this
/// process, so its figures are only those of `vantage serve` with the same allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

type Runner = fn(bool, &mut Vec<Figure>) -> anyhow::Result<()>;

fn main() -> ExitCode {
    vantage_collector::allocator::tune();
    let cli = Cli::parse();
    let smoke = cli.smoke;
    if let Some(n) = cli.observations {
        let _ = query::OBSERVATIONS.set(n);
    }
    let sections: Vec<(&str, Runner)> = vec![
        ("ingest", ingest::run),
        ("store", store::run),
        ("query", query::run),
        ("widget", widget::run),
        ("detect", detect::run),
        ("readers", readers::run),
    ];
    let wanted: Vec<_> = sections
        .into_iter()
        .filter(|(name, _)| cli.section == Section::All || format!("{:?}", cli.section).to_lowercase() == *name)
        .collect();
    let out = cli
        .out
        .clone()
        .unwrap_or_else(|| std::path::PathBuf::from(if smoke { "bench-results/latest-smoke.json" } else { "bench-results/latest.json" }));
    let out = if out.is_relative() { util::root().join(&out) } else { out };
    let mut results = Results {
        started_at: vantage_collector::store::rfc3339::format(
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs() as i64,
        ),
        command: std::env::args().skip(1).collect::<Vec<_>>().join(" "),
        smoke,
        machine: serde_json::json!({
            "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            "loadavg_start": util::loadavg(),
            "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
        }),
        figures: Vec::new(),
        skipped: Vec::new(),
        errors: Vec::new(),
    };
    if cfg!(debug_assertions) && !smoke {
        eprintln!("vantage-bench: a debug build; figures are only meaningful with --release");
    }
    for (name, run) in wanted {
        eprintln!("== {name}{}", if smoke { " (smoke)" } else { "" });
        let started = std::time::Instant::now();
        let before = results.figures.len();
        match run(smoke, &mut results.figures) {
            Ok(()) => {}
            Err(e) if e.downcast_ref::<query::NotAvailable>().is_some() => {
                eprintln!("   {e}");
                results.skipped.push(Skipped { section: name.into(), reason: e.to_string() });
            }
            Err(e) => {
                // `{:#}`: each step's context, then the cause.
                eprintln!("   ERROR: {e:#}");
                results.errors.push(Skipped { section: name.into(), reason: format!("{e:#}") });
            }
        }
        for f in &mut results.figures[before..] {
            f.judge(smoke);
        }
        eprintln!("   {} figures in {:.1} s", results.figures.len() - before, started.elapsed().as_secs_f64());
    }
    results.machine["loadavg_end"] = util::loadavg().into();

    println!("\n{}", report::table(&results));
    if let Some(prev) = report::load(&out) {
        println!("{}", report::compare(&prev, &results));
        let _ = std::fs::copy(&out, out.with_extension("previous.json"));
    } else {
        println!("no previous {} to compare with", out.display());
    }
    let written = out
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(&out, serde_json::to_string_pretty(&results).expect("json")))
        .and_then(|()| std::fs::write(out.with_extension("md"), report::markdown(&results)));
    match written {
        Ok(()) => println!("results: {}", out.display()),
        Err(e) => {
            eprintln!("vantage-bench: cannot write {}: {e}", out.display());
            return ExitCode::FAILURE;
        }
    }
    let unmet = results.figures.iter().filter(|f| f.pass == Some(false)).count();
    if unmet > 0 {
        println!("{unmet} goal(s) not met (see BENCHMARKS.md for what limits each)");
    }
    // Failing goals are a finding, not a harness failure; a section that could not run is.
    if results.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
