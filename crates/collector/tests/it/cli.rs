//! The `vantage` command line through the real binary: every command's help has examples, and
//! each error path names the thing and the fix, with exit 2 for usage errors and 1 for failures.

use crate::common::*;
use std::process::Output;

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
