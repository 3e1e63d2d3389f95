//! `vantage serve | import | export | detect | simulate` (docs/protocol.md §5).

use anyhow::{anyhow, bail, Context};
use clap::{CommandFactory, Parser};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::Write;
use std::process::ExitCode;
use vantage_collector::cli::values::ListenAddr;
use vantage_collector::cli::{Cli, Command, DetectArgs, ExportArgs, ImportArgs, ServeArgs, SimulateArgs};
use vantage_collector::export::{self, ExportRequest};
use vantage_collector::store::{self, rfc3339};
use vantage_collector::{Collector, StoreUrl};

/// The one error type past the command line: every error is a runtime failure (exit 1), shown
/// as `vantage: MESSAGE` with its context.
type Result<T, E = anyhow::Error> = std::result::Result<T, E>;

/// mimalloc, not glibc malloc: per-report allocations on every runtime thread and the writer
/// cost a fifth of ingest's CPU under glibc (BENCHMARKS.md, issue 10).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    vantage_collector::allocator::tune();
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
            eprintln!("vantage: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: ServeArgs) -> Result<()> {
    let listen = args.listen.clone();
    let config = args.into_config()?;
    let runtime = tokio::runtime::Runtime::new().context("tokio")?;
    runtime.block_on(async move {
        let state = Collector::new(config)?;
        if state.hasher.is_shared() {
            tracing::info!("network hash: daily key derived from --network-key-file (the same on every node sharing it)");
        } else {
            tracing::info!("network hash: random daily key in this node's memory (networks are counted per node)");
        }
        let listener = tokio::net::TcpListener::bind(listen.to_string()).await.map_err(|e| listen_error(&listen, &e))?;
        let shutdown = shutdown_signal()?;
        reload_on_sighup(state.clone())?;
        let addr = listener.local_addr()?;
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
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::info!("shutting down: finishing in-flight requests and flushing the store");
    })
}

/// SIGHUP re-reads `--targets`; the previous list's ids stay accepted.
fn reload_on_sighup(state: vantage_collector::AppState) -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = signal(SignalKind::hangup()).context("SIGHUP handler")?;
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
fn listen_error(listen: &ListenAddr, e: &std::io::Error) -> anyhow::Error {
    use std::io::ErrorKind;
    let ListenAddr { host, port } = listen;
    anyhow!(match e.kind() {
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
    })
}

/// A progress bar on stderr; indicatif draws nothing when stderr is not a terminal.
fn bar(len: Option<u64>, template: &str) -> ProgressBar {
    let bar = len.map_or_else(ProgressBar::new_spinner, ProgressBar::new);
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

fn open_store(url: &StoreUrl) -> Result<std::sync::Arc<dyn store::Store>> {
    Ok(store::open(url, 16)?)
}

/// Closes `store`, then returns `result`: the store's error if closing fails, else the command's.
fn close_store<T>(store: &dyn store::Store, result: Result<T>) -> Result<T> {
    store.close().map_err(anyhow::Error::msg)?;
    result
}

fn import(args: ImportArgs) -> Result<()> {
    let fix = "give the path of an NDJSON file of observations, e.g. one written by `vantage export --raw > FILE`";
    let file_error = |e| vantage_collector::config::FileError::new("import", &args.file, e, fix);
    let open = || -> Result<(std::fs::File, u64)> {
        if args.file.as_os_str() == "-" {
            bail!(not_a_file(&args.file));
        }
        let file = std::fs::File::open(&args.file).map_err(file_error)?;
        let meta = file.metadata().map_err(file_error)?;
        if meta.is_dir() {
            bail!("import {}: is a directory, not a file; {fix}", args.file.display());
        }
        if !meta.is_file() {
            bail!(not_a_file(&args.file));
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
        rows.map_err(anyhow::Error::msg)?;
        let (file, len) = open()?;
        let storing = bar(Some(len), &style("storing"));
        let stored = export::import::store(store.as_ref(), std::io::BufReader::new(storing.wrap_read(file)), &mut on_rows(&storing));
        storing.finish_and_clear();
        stored.map_err(anyhow::Error::msg)
    })()
    .with_context(|| format!("import {}", args.file.display()));
    let (read, added) = close_store(store.as_ref(), result)?;
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

fn export(args: ExportArgs) -> Result<()> {
    let req = ExportRequest { from: args.from, to: args.to, raw: args.raw, min_reports: args.min_reports, min_networks: args.min_networks };
    let store = open_store(&args.store)?;
    let progress = bar(None, "{spinner} {pos} rows written {per_sec} ({elapsed})");
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, std::io::stdout().lock());
    let result = export::export(store.as_ref(), &req, &mut out, &mut |rows| progress.set_position(rows));
    progress.finish_and_clear();
    close_store(store.as_ref(), result.map_err(anyhow::Error::msg)).map(drop)
}

fn detect(args: DetectArgs) -> Result<()> {
    let (from, to) = (args.from.div_euclid(60), args.to.div_euclid(60));
    if to <= from {
        bail!("--to must be after --from");
    }
    let cfg = vantage_detect::DetectorConfig {
        min_reports: args.min_reports,
        min_networks: args.min_networks,
        ..vantage_detect::DetectorConfig::default()
    };
    let store = open_store(&args.store)?;
    let result = vantage_collector::engine::detect_opened(store.as_ref(), cfg, from, to);
    // Each incident as /v1/incidents shows it, plus `opened_at`: when a live collector would
    // have opened it (`started_at` is the newest minute of its first bad window, earlier).
    let incidents: Vec<serde_json::Value> = close_store(store.as_ref(), result.map_err(anyhow::Error::msg))?
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

fn simulate(args: SimulateArgs) -> Result<()> {
    use vantage_collector::simulate;
    let country = args.country;
    let platforms = args.platforms.0;
    let kind = args.scenario.0;
    if args.live {
        let per_minute = args.rate;
        let spec = simulate::LiveSpec {
            url: args.url.as_str().trim_end_matches('/').to_string(),
            per_minute,
            kind,
            platform: platforms[0].clone(),
            country,
            duration: args.seconds.map(std::time::Duration::from_secs),
            networks: args.networks,
            countries: args.countries,
        };
        let runtime = tokio::runtime::Runtime::new().context("tokio")?;
        let expected = args.seconds.map(|s| (s as f64 * per_minute / 60.0).ceil() as u64);
        let progress = match expected {
            Some(_) => bar(expected, "{spinner} {pos}/{len} reports posted [{wide_bar}] {per_sec} {msg}"),
            None => bar(None, "{spinner} {pos} reports posted {per_sec} {msg} ({elapsed}, ctrl-c stops)"),
        };
        let tally = runtime
            .block_on(simulate::live(&spec, |t| {
                progress.set_position(t.sent);
                progress.set_message(format!("accepted {} rejected {}", t.accepted, t.rejected));
            }))
            .map_err(anyhow::Error::msg)?;
        progress.finish_and_clear();
        eprintln!("simulate: sent {} accepted {} rejected {}", tally.sent, tally.accepted, tally.rejected);
        if tally.accepted == 0 && tally.sent > 0 {
            bail!("no report was accepted by {}; is `vantage serve` running there with --trusted-proxy 127.0.0.1/32 --country-header CF-IPCountry (and --rate-limit 0 for high rates)?", spec.url);
        }
        return Ok(());
    }
    let store_url = args.store.as_ref().context("--store URL (or --live) is required")?;
    let end = args.end.unwrap_or_else(|| time::OffsetDateTime::now_utc().unix_timestamp()).div_euclid(60);
    let spec = simulate::HistorySpec {
        platforms,
        country,
        per_minute: args.asn_rate.unwrap_or(args.per_minute),
        from: end - (args.days * 1440.0) as i64,
        to: end,
        kind,
        event_minutes: args.event_minutes,
        seed: args.seed,
    };
    let store = open_store(store_url)?;
    let started = std::time::Instant::now();
    let mix = match args.asn_rate {
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
    let n = close_store(store.as_ref(), result.map_err(anyhow::Error::msg))?;
    let onset = spec.onset().map(|m| rfc3339::format(m * 60));
    eprintln!("simulate: wrote {n} observations in {:.1} s", started.elapsed().as_secs_f64());
    if let Some(o) = &onset {
        eprintln!("simulate: {kind:?} on {} from {o}", spec.platforms[0]);
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
