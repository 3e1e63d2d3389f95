//! The `vantage` command line through the real binary: every command's help has examples, and
//! each error path names the thing and the fix, with exit 2 for usage errors and 1 for failures.

use crate::common::*;
use std::process::Output;
use vantage_collector::{Config, StoreUrl};

fn run(args: &[&str]) -> Output {
    vantage().args(args).env_remove("RUST_LOG").output().unwrap()
}

/// Asserts the exit code and that stderr holds every `needle`; returns stderr.
fn fails(out: &Output, code: i32, needles: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    for n in needles {
        assert!(stderr.contains(n), "{n:?} not in: {stderr}");
    }
    stderr
}

#[test]
fn every_help_has_examples() {
    for cmd in [&[][..], &["serve"], &["import"], &["export"], &["detect"], &["simulate"]] {
        let out = run(&[cmd, &["--help"][..]].concat());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && text.contains("Examples:\n  vantage "), "{cmd:?}: {text}");
    }
    let serve = String::from_utf8_lossy(&run(&["serve", "--help"]).stdout).to_string();
    for flag in [
        "--geoip-country GeoLite2-Country.mmdb",
        "--trusted-proxy 10.0.3.0/24",
        "--public-origin https://",
        "clickhouse:http://127.0.0.1:8123/vantage",
        "--network-key-file",
    ] {
        assert!(serve.contains(flag), "{flag}");
    }
}

#[test]
fn usage_errors_exit_2_and_name_the_flag() {
    fails(&run(&["export", "--store", "mysql://db/vantage"]), 2, &["--store", "sqlite:PATH", "clickhouse:http://"]);
    fails(&run(&["export", "--store", "clickhouse:http://127.0.0.1:8123/"]), 2, &["--store", "name the database"]);
    fails(&run(&["detect", "--from", "yesterday", "--to", "2026-11-28T00:00:00Z"]), 2, &["--from", "2026-11-28T00:00:00Z"]);
    fails(&run(&["detect", "--from", "2026-11-28T01:00:00Z", "--to", "2026-11-28T00:00:00Z"]), 2, &["--to", "must be after --from"]);
    fails(&run(&["serve", "--trusted-proxy", "10.0.0.0/33"]), 2, &["--trusted-proxy", "10.0.0.0/8"]);
    fails(
        &run(&["serve", "--public-origin", "https://vantage.example.org/v1"]),
        2,
        &["--public-origin", "no path", "https://vantage.example.org"],
    );
    fails(&run(&["serve", "--public-origin", "ftp://vantage.example.org"]), 2, &["--public-origin", "only http and https"]);
    fails(&run(&["serve", "--listen", "8080"]), 2, &["--listen", "HOST:PORT"]);
    fails(&run(&["simulate", "--days", "3"]), 2, &["--store"]);
    fails(&run(&["serve", "--no-such-flag"]), 2, &["--no-such-flag"]);
}

#[test]
fn a_value_of_the_wrong_type_is_a_usage_error_naming_the_fix() {
    let t = TestDir::new();
    let store = format!("sqlite:{}", t.db().display());
    let simulate = |extra: &[&str]| {
        let mut args = vec!["simulate", "--store", &store, "--days", "0.01"];
        args.extend_from_slice(extra);
        run(&args)
    };
    // Each stderr names the flag and the value, and says what to write instead.
    fails(&run(&["serve", "--trusted-proxy", "10.0.0/8"]), 2, &["'10.0.0/8'", "--trusted-proxy", "not an IP address", "10.0.0.0/8"]);
    fails(&run(&["serve", "--store", "sqlite:"]), 2, &["'sqlite:'", "--store", "needs a path", "sqlite:./data/vantage.db"]);
    fails(&run(&["import", "--store", "postgres://db/vantage", "x.ndjson"]), 2, &["--store", "sqlite:PATH", "clickhouse:http://"]);
    fails(&run(&["simulate", "--live", "--rate", "fast"]), 2, &["'fast'", "--rate", "600/min"]);
    fails(&run(&["simulate", "--live", "--rate", "0/min"]), 2, &["--rate", "a positive number"]);
    fails(&run(&["serve", "--header-timeout", "0"]), 2, &["--header-timeout", "more than 0 and at most 3600"]);
    fails(&run(&["serve", "--country-header", "CF IPCountry"]), 2, &["--country-header", "CF-IPCountry"]);
    fails(&run(&["serve", "--webhook", "ftp://hooks.example/x"]), 2, &["--webhook", "http:// or https://"]);
    fails(&run(&["export", "--from", "2026-11-28"]), 2, &["--from", "2026-11-28T00:00:00Z"]);
    // Checked by clap now, not after the store is opened (these exited 1).
    fails(&simulate(&["--asn-rate", "0"]), 2, &["--asn-rate", "more than 0"]);
    fails(&simulate(&["--asn-rate", "60", "--asns", "0"]), 2, &["--asns", "0"]);
    fails(&simulate(&["--country", "Pakistan"]), 2, &["--country", "two letters"]);
    fails(&simulate(&["--platforms", "x,You Tube"]), 2, &["--platforms", "x,youtube"]);
    assert!(!t.db().exists(), "a usage error opens no store");
}

/// `vantage serve --help` shows, for every flag with a default, the value `Config::new` starts
/// from: the table in config/defaults.rs is what both read.
#[test]
fn serve_help_shows_the_defaults_the_config_uses() {
    use vantage_collector::config::defaults;
    let help = String::from_utf8(run(&["serve", "--help"]).stdout).unwrap();
    let shown: std::collections::HashMap<String, String> = help
        .lines()
        .filter_map(|line| {
            let flag = line.split_whitespace().next()?.to_string();
            let default = line.split("[default: ").nth(1)?.strip_suffix(']')?.to_string();
            Some((flag, default))
        })
        .collect();
    let c = Config::new(defaults::STORE.parse().unwrap());
    let secs = |d: std::time::Duration| d.as_secs_f64().to_string();
    let expected = [
        ("--listen", defaults::LISTEN.to_string()),
        ("--store", defaults::STORE.to_string()),
        ("--rate-limit", c.rate_limit_per_min.to_string()),
        ("--rate-burst", c.rate_burst.to_string()),
        ("--queue-capacity", c.queue_capacity.to_string()),
        ("--publish-interval", c.publish_interval_s.to_string()),
        ("--history-days", c.history_days.to_string()),
        ("--retention-days", c.retention_days.to_string()),
        ("--min-reports", c.detect.min_reports.to_string()),
        ("--min-networks", c.detect.min_networks.to_string()),
        ("--max-connections", c.max_connections.to_string()),
        ("--header-timeout", secs(c.header_timeout)),
        ("--body-timeout", secs(c.body_timeout)),
        ("--max-exports", c.max_exports.to_string()),
        ("--max-streams", c.max_streams.to_string()),
        ("--stream-lifetime", secs(c.stream_lifetime)),
    ];
    for (flag, value) in &expected {
        assert_eq!(shown.get(*flag), Some(value), "{flag}: --help shows {:?}, Config::new has {value:?}", shown.get(*flag));
    }
    assert_eq!(c.store, StoreUrl::Sqlite("./data/vantage.db".into()));
    // A flag given a default later must be compared here too.
    let unchecked: Vec<&String> = shown.keys().filter(|f| !expected.iter().any(|(e, _)| e == f)).collect();
    assert!(unchecked.is_empty(), "defaults shown but not compared with Config::new: {unchecked:?}");
}

#[test]
fn runtime_failures_exit_1_with_the_fix() {
    let t = TestDir::new();
    let store = format!("sqlite:{}", t.db().display());
    let missing = t.path().join("backfill.ndjson");
    fails(&run(&["import", "--store", &store, missing.to_str().unwrap()]), 1, &["backfill.ndjson", "no such file", "vantage export --raw"]);

    // Store in a directory that cannot be created.
    fails(&run(&["export", "--store", "sqlite:/proc/vantage-test/x.db"]), 1, &["cannot create the data directory", "--store sqlite:PATH"]);

    // ClickHouse that is not there.
    fails(
        &run(&["export", "--store", "clickhouse:http://127.0.0.1:1/vantage"]),
        1,
        &["cannot reach ClickHouse at http://127.0.0.1:1/", "port"],
    );

    // mmdb: missing, not a database, the wrong layout.
    let serve = |extra: &[&str]| {
        let mut args = vec!["serve", "--listen", "127.0.0.1:0", "--store", &store];
        args.extend_from_slice(extra);
        run(&args)
    };
    let mut geo = t.config();
    t.with_geoip(&mut geo);
    let (country, asn) = (geo.geoip_country.unwrap(), geo.geoip_asn.unwrap());
    fails(&serve(&["--geoip-country", "GeoLite2-Country.mmdb"]), 1, &["--geoip-country GeoLite2-Country.mmdb", "no such file", "download"]);
    let junk = t.path().join("junk.mmdb");
    std::fs::write(&junk, "not a database").unwrap();
    fails(&serve(&["--geoip-asn", junk.to_str().unwrap()]), 1, &["--geoip-asn", "not a MaxMind database"]);
    fails(&serve(&["--geoip-country", asn.to_str().unwrap()]), 1, &["--geoip-country", "GeoLite2-ASN", "swap"]);
    fails(&serve(&["--geoip-asn", country.to_str().unwrap()]), 1, &["--geoip-asn", "GeoLite2-Country", "swap"]);

    // A bad targets file.
    let targets = t.path().join("targets.toml");
    std::fs::write(&targets, "version = \"1\"\n[[target]]\nid = \"BAD ID\"\n").unwrap();
    fails(&serve(&["--targets", targets.to_str().unwrap()]), 1, &["--targets", "targets.toml", "docs/protocol.md §6"]);

    // The port is taken.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let port = taken.local_addr().unwrap().port();
    fails(
        &run(&["serve", "--store", &store, "--listen", &addr]),
        1,
        &[&format!("cannot listen on {addr}: address in use"), &format!("--listen 127.0.0.1:{}", port + 1)],
    );
}

/// The subcommands a documented command line can name.
const SUBCOMMANDS: [&str; 5] = ["serve", "import", "export", "detect", "simulate"];

/// The documents whose `vantage` command lines and flag tables must match the binary.
const DOCUMENTS: [&str; 5] = ["README.md", "crates/collector/README.md", "docs/protocol.md", "docs/clickhouse.md", "docs/collector.md"];

/// A `--flag` a document names, where, and for which subcommand (`None`: a flag table's row,
/// which may belong to any subcommand).
struct NamedFlag {
    /// The flag as written, e.g. `--trusted-proxy`.
    flag: String,
    /// The subcommand whose command line names it.
    subcommand: Option<&'static str>,
    /// `FILE:LINE`, so a failure points at the text to fix.
    place: String,
}

/// The `--flag` tokens at the start of `text` and after spaces, brackets and the like.
fn flag_tokens(text: &str) -> Vec<String> {
    let mut flags = Vec::new();
    for (at, _) in text.match_indices("--") {
        let before = text[..at].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-') {
            continue; // e.g. the middle of "x--y" or "---".
        }
        let name: String = text[at + 2..].chars().take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-').collect();
        if name.starts_with(|c: char| c.is_ascii_lowercase()) {
            flags.push(format!("--{name}"));
        }
    }
    flags
}

/// Every flag `document` (named `file`) names on a `vantage SUBCOMMAND ...` (or `./build.sh serve ...`) command
/// line, on the indented continuation lines of a synopsis, and in the first cell of a flag table.
fn documented_flags(file: &str, document: &str) -> Vec<NamedFlag> {
    let mut named = Vec::new();
    let mut in_code = false;
    let mut continued: Option<&'static str> = None;
    for (number, line) in document.lines().enumerate() {
        let place = format!("{file}:{}", number + 1);
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continued = None;
            continue;
        }
        let mut found_command = false;
        for sub in SUBCOMMANDS {
            for prefix in ["vantage ", "./build.sh "] {
                let command = format!("{prefix}{sub}");
                for (at, _) in line.match_indices(&command) {
                    let rest = &line[at + command.len()..];
                    if rest.starts_with(|c: char| c.is_ascii_alphanumeric()) {
                        continue;
                    }
                    // The command line ends at the inline code's closing backtick.
                    let rest = rest.split('`').next().unwrap_or("");
                    for flag in flag_tokens(rest) {
                        named.push(NamedFlag { flag, subcommand: Some(sub), place: place.clone() });
                    }
                    found_command = true;
                    continued = Some(sub);
                }
            }
        }
        if found_command {
            continue;
        }
        if in_code && line.starts_with(' ') {
            if let Some(sub) = continued {
                for flag in flag_tokens(line) {
                    named.push(NamedFlag { flag, subcommand: Some(sub), place: place.clone() });
                }
            }
            continue;
        }
        continued = None;
        if let Some(first_cell) = line.strip_prefix("| `--") {
            let cell = first_cell.split('|').next().unwrap_or("");
            for flag in flag_tokens(&format!("--{cell}")) {
                named.push(NamedFlag { flag, subcommand: None, place: place.clone() });
            }
        }
    }
    named
}

/// Whether `help` lists `flag` (whole, not as the prefix of a longer flag).
fn help_lists(help: &str, flag: &str) -> bool {
    help.match_indices(flag).any(|(at, _)| !help[at + flag.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '-'))
}

#[test]
fn every_flag_the_docs_name_is_in_help() {
    let helps: Vec<(&str, String)> = SUBCOMMANDS
        .iter()
        .map(|sub| {
            let out = run(&[sub, "--help"]);
            assert!(out.status.success(), "vantage {sub} --help failed");
            (*sub, String::from_utf8_lossy(&out.stdout).to_string())
        })
        .collect();
    let mut named = Vec::new();
    for file in DOCUMENTS {
        let document = std::fs::read_to_string(format!("{}/../../{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let found = documented_flags(file, &document);
        // README.md's synopsis alone names more than 20; fewer means the parser lost track of it.
        assert!(file != "README.md" || found.len() >= 20, "only {} flags found in {file}", found.len());
        named.extend(found);
    }
    let mut missing = Vec::new();
    for NamedFlag { flag, subcommand, place } in &named {
        let listed =
            helps.iter().filter(|(sub, _)| subcommand.is_none() || *subcommand == Some(*sub)).any(|(_, help)| help_lists(help, flag));
        if !listed {
            missing.push(match subcommand {
                Some(sub) => format!("{place}: {flag} is not in `vantage {sub} --help`"),
                None => format!("{place}: {flag} is in no subcommand's --help ({})", SUBCOMMANDS.join(", ")),
            });
        }
    }
    assert!(missing.is_empty(), "the docs name flags the binary does not have:\n{}", missing.join("\n"));
}
