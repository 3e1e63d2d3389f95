//! `vantage-testkit fixtures --port P` | `vantage-testkit mmdb --dir D`
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    match args.first().map(String::as_str) {
        Some("fixtures") => {
            let port: u16 = flag("--port").and_then(|p| p.parse().ok()).unwrap_or(0);
            let listener = match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("vantage-testkit: cannot listen on 127.0.0.1:{port}: {e}");
                    return ExitCode::FAILURE;
                }
            };
            println!("fixtures listening on {}", listener.local_addr().expect("bound listener has an address"));
            vantage_testkit::fixtures::run(listener).await;
            ExitCode::SUCCESS
        }
        Some("mmdb") => {
            let dir = flag("--dir").unwrap_or_else(|| ".".into());
            match vantage_testkit::mmdb::write_test_databases(std::path::Path::new(&dir)) {
                Ok(()) => {
                    println!("wrote {dir}/country.mmdb and {dir}/asn.mmdb");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("vantage-testkit: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        _ => {
            eprintln!("usage: vantage-testkit fixtures [--port P] | mmdb [--dir D]");
            ExitCode::from(2)
        }
    }
}
