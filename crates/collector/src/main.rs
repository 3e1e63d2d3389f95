//! `vantage serve | import | export | detect | simulate` (docs/protocol.md §5).

use clap::{CommandFactory, Parser};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::Write;
use std::process::ExitCode;
use vantage_collector::cli::{Cli, Command, DetectArgs, ExportArgs, ImportArgs, ServeArgs, SimulateArgs};
use vantage_collector::export::{self, ExportRequest};
use vantage_collector::store::{self, rfc3339};
use vantage_collector::{Collector, StoreUrl};

/// mimalloc, not glibc malloc: per-report allocations on every runtime thread and the writer
/// cost a fifth of ingest's CPU under glibc (BENCHMARKS.md, issue 10).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Usage errors (a flag clap or `Cli::check` refuses) exit 2 with the flag named; every
    // error after this point is a runtime failure and exits 1.
    let cli = Cli::parse();
    if let Err(e) = cli.check() {
        let name = match &cli.command {
            Command::Serve(_) => "serve",
            Command::Import(_) => "import",
            Command::Export(_) => "export",
            Command::Detect(_) => "detect",
            Command::Simulate(_) => "simulate",
        };
        let mut cmd = Cli::command();
        cmd.build();
        let sub = cmd.find_subcommand_mut(name).expect("every command is a subcommand");
        sub.error(clap::error::ErrorKind::ArgumentConflict, e).exit();
    }
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let result = match cli.command {
        Command::Serve(args) => serve(args),
        Command::Import(args) => import(args),
        Command::Export(args) => export(args),
        Command::Detect(args) => detect(args),
        Command::Simulate(args) => simulate(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vantage: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: ServeArgs) -> Result<(), String> {
    let listen = args.listen.clone();
    let config = args.into_config()?;
    let runtime = tokio::runtime::Runtime::new().map_err(|e| format!("tokio: {e}"))?;
    runtime.block_on(async move {
        let state = Collector::new(config)?;
        if state.hasher.is_shared() {
            tracing::info!("network hash: daily key derived from --network-key-file (the same on every node sharing it)");
        } else {
            tracing::info!("network hash: random daily key in this node's memory (networks are counted per node)");
        }
        let listener = tokio::net::TcpListener::bind(&listen).await.map_err(|e| listen_error(&listen, &e))?;
        let shutdown = shutdown_signal()?;
        reload_on_sighup(state.clone())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        if vantage_collector::auth::metrics_exposed(addr.ip(), state.config.admin_token.is_some()) {
            tracing::warn!("{}", vantage_collector::auth::METRICS_EXPOSED_WARNING);
        }
        println!("vantage listening on http://{addr}");
        let _ = std::io::stdout().flush();
        vantage_collector::serve(listener, state, shutdown).await?;
        tracing::info!("stopped cleanly");
        Ok(())
    })
}

/// Resolves on SIGTERM or ctrl-c; the handlers are registered before this returns.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()> + Send + 'static, String> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).map_err(|e| format!("SIGTERM handler: {e}"))?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| format!("SIGINT handler: {e}"))?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::info!("shutting down: finishing in-flight requests and flushing the store");
    })
}

/// SIGHUP re-reads `--targets`; the previous list's ids stay accepted.
fn reload_on_sighup(state: vantage_collector::AppState) -> Result<(), String> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = signal(SignalKind::hangup()).map_err(|e| format!("SIGHUP handler: {e}"))?;
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            match state.reload_targets() {
                Ok(()) => tracing::info!("target list reloaded"),
                Err(e) => tracing::error!(error = %e, "target list not reloaded"),
            }
        }
    });
    Ok(())
}

/// Why `--listen ADDR` failed, and what to do about it.
fn listen_error(listen: &str, e: &std::io::Error) -> String {
    use std::io::ErrorKind;
    let host = listen.rsplit_once(':').map_or("127.0.0.1", |(h, _)| h);
    let port: u16 = listen.rsplit_once(':').and_then(|(_, p)| p.parse().ok()).unwrap_or(8080);
    match e.kind() {
        ErrorKind::AddrInUse => format!(
            "cannot listen on {listen}: address in use — is another vantage running? pick another with --listen {host}:{}",
            port.checked_add(1).unwrap_or(8080)
        ),
        ErrorKind::PermissionDenied => format!(
            "cannot listen on {listen}: permission denied — ports below 1024 need root or CAP_NET_BIND_SERVICE; listen on e.g. --listen {host}:8080 behind a reverse proxy"
        ),
        ErrorKind::AddrNotAvailable => format!(
            "cannot listen on {listen}: {host} is not an address of this machine — use 127.0.0.1 (this machine only), 0.0.0.0 (every interface) or one of its addresses"
        ),
        _ => format!("cannot listen on {listen}: {e} — give --listen as HOST:PORT, e.g. 127.0.0.1:8080"),
    }
}

/// A progress bar on stderr; indicatif draws nothing when stderr is not a terminal.
fn bar(len: Option<u64>, template: &str) -> ProgressBar {
    let bar = len.map_or_else(ProgressBar::new_spinner, ProgressBar::new);
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

fn open_store(url: &str) -> Result<std::sync::Arc<dyn store::Store>, String> {
    store::open(&url.parse::<StoreUrl>()?, 16)
}

fn import(args: ImportArgs) -> Result<(), String> {
    let fix = "give the path of an NDJSON file of observations, e.g. one written by `vantage export --raw > FILE`";
    let open = || -> Result<(std::fs::File, u64), String> {
        if args.file.as_os_str() == "-" {
            return Err(not_a_file(&args.file));
        }
        let file = std::fs::File::open(&args.file).map_err(|e| vantage_collector::config::file_error("import", &args.file, &e, fix))?;
        let meta = file.metadata().map_err(|e| vantage_collector::config::file_error("import", &args.file, &e, fix))?;
        if meta.is_dir() {
            return Err(format!("import {}: is a directory, not a file; {fix}", args.file.display()));
        }
        if !meta.is_file() {
            return Err(not_a_file(&args.file));
        }
        Ok((file, meta.len()))
    };
    let (file, len) = open()?;
    let store = open_store(&args.store)?;
    let style = |pass: &str| format!("{{spinner}} {pass} {{bytes}}/{{total_bytes}} [{{wide_bar}}] {{bytes_per_sec}} {{msg}} {{eta}}");
    let on_rows = |bar: &ProgressBar| {
        let bar = bar.clone();
        move |rows: u64| bar.set_message(format!("{rows} rows"))
    };
    let result = (|| {
        let checking = bar(Some(len), &style("checking"));
        let rows = export::import::check(std::io::BufReader::new(checking.wrap_read(file)), &mut on_rows(&checking));
        checking.finish_and_clear();
        rows?;
        let (file, len) = open()?;
        let storing = bar(Some(len), &style("storing"));
        let stored = export::import::store(store.as_ref(), std::io::BufReader::new(storing.wrap_read(file)), &mut on_rows(&storing));
        storing.finish_and_clear();
        stored
    })()
    .map_err(|e| format!("import {}: {e}", args.file.display()));
    store.close()?;
    let (read, added) = result?;
    eprintln!("vantage: imported {added} new of {read} observations");
    Ok(())
}

/// Why `import` refuses stdin and pipes: it reads the file twice (check every line, then store).
fn not_a_file(path: &std::path::Path) -> String {
    format!(
        "import {}: not a regular file; import reads its file twice (once to check every line, then to store it), which a pipe or stdin cannot be; save it to a file first, e.g. `vantage export --raw > all.ndjson`",
        path.display()
    )
}

fn export(args: ExportArgs) -> Result<(), String> {
    let time = |flag: &str, v: &Option<String>| v.as_deref().map(rfc3339::parse).transpose().map_err(|e| format!("{flag}: {e}"));
    let req = ExportRequest {
        from: time("--from", &args.from)?,
        to: time("--to", &args.to)?,
        raw: args.raw,
        min_reports: args.min_reports,
        min_networks: args.min_networks,
    };
    let store = open_store(&args.store)?;
    let progress = bar(None, "{spinner} {pos} rows written {per_sec} ({elapsed})");
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, std::io::stdout().lock());
    let result = export::export(store.as_ref(), &req, &mut out, &mut |rows| progress.set_position(rows));
    progress.finish_and_clear();
    store.close()?;
    result.map(drop)
}

fn detect(args: DetectArgs) -> Result<(), String> {
    let from = rfc3339::parse(&args.from).map_err(|e| format!("--from: {e}"))?.div_euclid(60);
    let to = rfc3339::parse(&args.to).map_err(|e| format!("--to: {e}"))?.div_euclid(60);
    if to <= from {
        return Err("--to must be after --from".into());
    }
    let cfg = vantage_detect::DetectorConfig {
        min_reports: args.min_reports.max(1),
        min_networks: args.min_networks.max(1),
        ..vantage_detect::DetectorConfig::default()
    };
    let store = open_store(&args.store)?;
    let result = vantage_collector::engine::detect_opened(store.as_ref(), cfg, from, to);
    store.close()?;
    // Each incident as /v1/incidents shows it, plus `opened_at`: when a live collector would
    // have opened it (`started_at` is the newest minute of its first bad window, earlier).
    let incidents: Vec<serde_json::Value> = result?
        .into_iter()
        .map(|(i, opened)| {
            let mut v = serde_json::to_value(&i).unwrap_or_default();
            v["opened_at"] = rfc3339::format(opened * 60).into();
            v
        })
        .collect();
    println!("{}", serde_json::json!({ "incidents": incidents }));
    Ok(())
}

fn simulate(args: SimulateArgs) -> Result<(), String> {
    use vantage_collector::simulate;
    let country = vantage_protocol::Country::from_any_case(&args.country)
        .map_err(|_| format!("--country {:?}: two letters", args.country))?
        .to_string();
    let platforms: Vec<String> = args.platforms.split(',').map(str::to_string).collect();
    if platforms.iter().any(|p| vantage_protocol::Platform::try_from(p.as_str()).is_err()) {
        return Err(format!("--platforms {:?}: comma-separated names of [a-z0-9_-]", args.platforms));
    }
    if args.live {
        let per_minute: f64 = args
            .rate
            .trim_end_matches("/min")
            .parse()
            .ok()
            .filter(|r: &f64| *r > 0.0)
            .ok_or_else(|| format!("--rate {:?}: e.g. 600/min", args.rate))?;
        let spec = simulate::LiveSpec {
            url: args.url.trim_end_matches('/').to_string(),
            per_minute,
            kind: args.scenario,
            platform: platforms[0].clone(),
            country,
            duration: args.seconds.map(std::time::Duration::from_secs),
            networks: args.networks,
            countries: args.countries,
        };
        let runtime = tokio::runtime::Runtime::new().map_err(|e| format!("tokio: {e}"))?;
        let expected = args.seconds.map(|s| (s as f64 * per_minute / 60.0).ceil() as u64);
        let progress = match expected {
            Some(_) => bar(expected, "{spinner} {pos}/{len} reports posted [{wide_bar}] {per_sec} {msg}"),
            None => bar(None, "{spinner} {pos} reports posted {per_sec} {msg} ({elapsed}, ctrl-c stops)"),
        };
        let tally = runtime.block_on(simulate::live(&spec, |t| {
            progress.set_position(t.sent);
            progress.set_message(format!("accepted {} rejected {}", t.accepted, t.rejected));
        }))?;
        progress.finish_and_clear();
        eprintln!("simulate: sent {} accepted {} rejected {}", tally.sent, tally.accepted, tally.rejected);
        return if tally.accepted == 0 && tally.sent > 0 {
            Err(format!("no report was accepted by {}; is `vantage serve` running there with --trusted-proxy 127.0.0.1/32 --country-header CF-IPCountry (and --rate-limit 0 for high rates)?", spec.url))
        } else {
            Ok(())
        };
    }
    let store_url = args.store.as_deref().ok_or("--store URL (or --live) is required")?;
    let end = match &args.end {
        Some(t) => rfc3339::parse(t).map_err(|e| format!("--end: {e}"))?,
        None => time::OffsetDateTime::now_utc().unix_timestamp(),
    }
    .div_euclid(60);
    if !(args.days > 0.0 && args.days <= 400.0) {
        return Err("--days must be more than 0 and at most 400".into());
    }
    if let Some(r) = args.asn_rate.filter(|r| !(r.is_finite() && *r > 0.0)) {
        return Err(format!("--asn-rate {r}: must be more than 0"));
    }
    let spec = simulate::HistorySpec {
        platforms,
        country,
        per_minute: args.asn_rate.unwrap_or(args.per_minute),
        from: end - (args.days * 1440.0) as i64,
        to: end,
        kind: args.scenario,
        event_minutes: args.event_minutes,
        seed: args.seed,
    };
    let store = open_store(store_url)?;
    let started = std::time::Instant::now();
    let mix = match args.asn_rate {
        Some(_) if args.asns == 0 => return Err("--asns must be at least 1".into()),
        Some(_) => simulate::Mix::Cells(args.asns),
        None => simulate::Mix::Shares,
    };
    let progress =
        bar(Some((spec.to - spec.from).max(0) as u64), "{spinner} {pos}/{len} minutes generated [{wide_bar}] {per_sec} {msg} {eta}");
    let result = simulate::history_mix(store.as_ref(), &spec, mix, |t, n| {
        progress.set_position((t + 1 - spec.from).max(0) as u64);
        progress.set_message(format!("{n} observations, through {}", rfc3339::format(t * 60)));
    });
    progress.finish_and_clear();
    store.close()?;
    let n = result?;
    let onset = spec.onset().map(|m| rfc3339::format(m * 60));
    eprintln!("simulate: wrote {n} observations in {:.1} s", started.elapsed().as_secs_f64());
    if let Some(o) = &onset {
        eprintln!("simulate: {:?} on {} from {o}", args.scenario, spec.platforms[0]);
    }
    if args.json {
        let asns: Vec<serde_json::Value> =
            spec.asns(mix).iter().map(|a| serde_json::json!({"asn": a.asn, "per_minute": a.per_minute})).collect();
        let victim = (spec.kind == simulate::Kind::AsnHalf).then_some(simulate::VICTIM_ASN);
        println!(
            "{}",
            serde_json::json!({"observations": n, "from": rfc3339::format(spec.from * 60), "to": rfc3339::format(spec.to * 60),
                "onset": onset, "platform": spec.platforms[0], "country": spec.country, "asns": asns, "victim_asn": victim, "seed": spec.seed})
        );
    }
    Ok(())
}
