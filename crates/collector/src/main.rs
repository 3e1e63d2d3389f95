//! `vantage serve | import | export` (PROTOCOL.md section 5).

use clap::Parser;
use std::io::Write;
use std::process::ExitCode;
use vantage_collector::cli::{Cli, Command, ExportArgs, ImportArgs, ServeArgs};
use vantage_collector::export::{self, ExportRequest};
use vantage_collector::store::{self, rfc3339};
use vantage_collector::{Collector, StoreUrl};

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let result = match cli.command {
        Command::Serve(args) => serve(args),
        Command::Import(args) => import(args),
        Command::Export(args) => export(args),
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
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .map_err(|e| format!("--listen {listen}: {e}"))?;
        let shutdown = shutdown_signal()?;
        reload_on_sighup(state.clone())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
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

fn open_store(url: &str) -> Result<std::sync::Arc<dyn store::Store>, String> {
    store::open(&url.parse::<StoreUrl>()?, 16)
}

fn import(args: ImportArgs) -> Result<(), String> {
    let text = std::fs::read_to_string(&args.file).map_err(|e| format!("{}: {e}", args.file.display()))?;
    let store = open_store(&args.store)?;
    let result = export::import(store.as_ref(), &text).map_err(|e| format!("{}: {e}", args.file.display()));
    store.close()?;
    let (read, added) = result?;
    eprintln!("vantage: imported {added} new of {read} observations");
    Ok(())
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
    let result = export::export(store.as_ref(), &req, &mut std::io::stdout().lock());
    store.close()?;
    result
}
