//! `--network-key-file`: nodes sharing the secret hash a network alike on one UTC day, the hash
//! still changes daily, nodes without it disagree, and the secret never reaches the logs.

use crate::binary::Binary;
use crate::common::*;
use std::net::IpAddr;
use vantage_collector::geo::NetworkKey;
use vantage_collector::Collector;

const SECRET: &str = "Kq3v9-shared-network-secret-for-the-log-scan-7Xp2";

fn collector(t: &TestDir, key: Option<&std::path::Path>) -> vantage_collector::AppState {
    let mut config = t.config();
    config.network_key = key.map(|k| NetworkKey::from_file(k).unwrap());
    Collector::new(config).unwrap()
}

#[test]
fn same_key_file_same_hash_each_day_and_a_new_one_the_next() {
    let (a, b, c) = (TestDir::new(), TestDir::new(), TestDir::new());
    let key = a.path().join("network.key");
    std::fs::write(&key, format!("{SECRET}\n")).unwrap();
    let (na, nb, nc) = (collector(&a, Some(&key)), collector(&b, Some(&key)), collector(&c, None));
    let ip: Option<IpAddr> = Some("198.51.100.7".parse().unwrap());
    let same_net: Option<IpAddr> = Some("198.51.100.250".parse().unwrap());
    let day = 1_795_824_000; // 2026-11-28T00:00:00Z
    let h = |s: &vantage_collector::AppState, ip, t| s.hasher.network_at(ip, t);
    assert_eq!(h(&na, ip, day + 60), h(&nb, ip, day + 80_000), "two nodes, one day");
    assert_eq!(h(&na, ip, day + 60), h(&nb, same_net, day + 60), "one /24");
    assert_ne!(h(&na, ip, day + 60), h(&na, ip, day + 86_400 + 60), "the next UTC day");
    assert_eq!(h(&na, ip, day + 86_400 + 60), h(&nb, ip, day + 86_400 + 9), "the next day, still alike");
    assert_ne!(h(&na, ip, day + 60), h(&nc, ip, day + 60), "without the file each node has its own key");
    let (d, e) = (TestDir::new(), TestDir::new());
    assert_ne!(h(&collector(&d, None), ip, day), h(&collector(&e, None), ip, day), "random keys differ");
}

#[test]
fn short_or_missing_key_files_are_refused_with_the_fix() {
    let t = TestDir::new();
    let short = t.path().join("short.key");
    std::fs::write(&short, "too short\n").unwrap();
    let e = NetworkKey::from_file(&short).unwrap_err().to_string();
    assert!(e.contains("--network-key-file") && e.contains("at least 32") && e.contains("openssl rand"), "{e}");
    assert!(!e.contains("too short"), "the content is never echoed: {e}");
    let e = NetworkKey::from_file(&t.path().join("absent.key")).unwrap_err().to_string();
    assert!(e.contains("no such file") && e.contains("openssl rand"), "{e}");
}

/// Two real binaries sharing the key file store the same network hash for one client, a third
/// without it another; at trace level none of them logs the secret.
#[tokio::test]
async fn binaries_sharing_the_key_agree_and_never_log_it() {
    let dirs = [TestDir::new(), TestDir::new(), TestDir::new()];
    let key = dirs[0].path().join("network.key");
    std::fs::write(&key, SECRET).unwrap();
    let key_arg = key.to_str().unwrap();
    let mut hashes = Vec::new();
    for (n, t) in dirs.iter().enumerate() {
        let mut args = vec!["--trusted-proxy", "127.0.0.0/8"];
        if n < 2 {
            args.extend(["--network-key-file", key_arg]);
        }
        let bin = Binary::start(t, &args, &[("RUST_LOG", "trace")]);
        let res = client()
            .post(bin.url("/v1/reports"))
            .header("content-type", "text/plain")
            .header("x-forwarded-for", "198.51.100.7")
            .body(report(&id(1)))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 202);
        let (stdout, stderr) = (bin.stdout.clone(), bin.stderr.clone());
        assert!(bin.term().success());
        for log in [stdout, stderr] {
            let text = std::fs::read_to_string(&log).unwrap();
            assert!(!text.contains(SECRET) && !text.contains(&SECRET[..16]), "secret in {}", log.display());
        }
        let conn = rusqlite::Connection::open(t.db()).unwrap();
        hashes.push(conn.query_row("SELECT DISTINCT network FROM observations", [], |r| r.get::<_, i64>(0)).unwrap());
    }
    assert_eq!(hashes[0], hashes[1], "shared key: one network, one hash");
    assert_ne!(hashes[0], hashes[2], "no key file: a per-node key");
}
