//! The client IP is never written: scan every file the collector writes (store, WAL, SHM, logs)
//! for it, as text and as bytes.

use crate::binary::Binary;
use crate::common::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

#[tokio::test]
async fn no_client_address_reaches_the_disk() {
    let t = TestDir::new();
    let mut config = t.config();
    t.with_geoip(&mut config);
    config.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    let server = Server::start(config).await;
    let addrs = ["10.231.47.199", "10.98.176.213", "203.0.113.77", "2001:db8:4e2f:91a3::5c7d"];
    for (n, a) in addrs.iter().enumerate() {
        let res = send(&server, report(&id(100 + n as u32)), Some(a)).await;
        assert_eq!(res.status(), 202);
    }
    // Also check while the WAL still holds the data, then after the flush.
    scan(&t.data_dir(), &addrs);
    server.stop().await;
    assert_eq!(rows(&t.db(), ""), 8);
    assert_eq!(rows(&t.db(), "WHERE country = 'IR' AND asn = 58224"), 4);
    assert_eq!(rows(&t.db(), "WHERE network = 0"), 0, "every row has a network hash");
    scan(&t.data_dir(), &addrs);
}

/// The real binary at trace level behind a trusted proxy: 200 IPv4 and 50 IPv6 clients, each in
/// X-Forwarded-For. Neither the store's files nor the captured stdout/stderr hold any of them.
#[tokio::test]
async fn no_address_of_250_clients_in_the_store_or_the_logs() {
    let t = TestDir::new();
    let mut geo = t.config();
    t.with_geoip(&mut geo);
    let (country, asn) = (geo.geoip_country.unwrap(), geo.geoip_asn.unwrap());
    let bin = Binary::start(
        &t,
        &["--trusted-proxy", "127.0.0.0/8", "--geoip-country", country.to_str().unwrap(), "--geoip-asn", asn.to_str().unwrap()],
        &[("RUST_LOG", "trace")],
    );
    let addrs = clients(200, 50);
    let c = client();
    for (n, a) in addrs.iter().enumerate() {
        let res = c
            .post(bin.url("/v1/reports"))
            .header("content-type", "text/plain")
            .header("x-forwarded-for", format!("{a}, 127.0.0.1"))
            .body(report(&id(7000 + n as u32)))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 202, "{a}");
    }
    let texts: Vec<String> = addrs.iter().map(IpAddr::to_string).collect();
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    scan(&t.data_dir(), &texts);
    scan(&t.path().join("logs"), &texts);
    let logged = std::fs::metadata(&bin.stderr).unwrap().len();
    assert!(bin.term().success());
    scan(&t.data_dir(), &texts);
    scan(&t.path().join("logs"), &texts);
    assert!(logged > 1000, "trace logging was on ({logged} bytes)");
    assert_eq!(rows(&t.db(), ""), 2 * addrs.len() as i64);
    let conn = rusqlite::Connection::open(t.db()).unwrap();
    let networks: i64 = conn.query_row("SELECT count(DISTINCT network) FROM observations", [], |r| r.get(0)).unwrap();
    // The addresses were used: one network per distinct IPv4 /24 and IPv6 /40 among them.
    let prefixes: std::collections::HashSet<IpAddr> = addrs
        .iter()
        .map(|a| match a {
            IpAddr::V4(v4) => IpAddr::V4((u32::from(*v4) & 0xffff_ff00).into()),
            IpAddr::V6(v6) => {
                IpAddr::V6((u128::from(*v6) & (u128::MAX << (128 - u32::from(vantage_collector::geo::IPV6_NETWORK_PREFIX)))).into())
            }
        })
        .collect();
    assert!(prefixes.len() > 200, "{}", prefixes.len());
    assert_eq!(networks, prefixes.len() as i64, "the addresses were used: {networks} networks");
}

/// Distinct client addresses whose bytes are all >= 128 (so the 4-byte form can never match ASCII
/// text by chance) and whose octets are all three digits.
fn clients(v4: usize, v6: usize) -> Vec<IpAddr> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut out = std::collections::BTreeSet::new();
    while out.len() < v4 {
        let r = next().to_le_bytes();
        out.insert(IpAddr::V4(Ipv4Addr::new(128 | (r[0] % 127), 128 | (r[1] % 127), 128 | (r[2] % 127), 128 | (r[3] % 127))));
    }
    while out.len() < v4 + v6 {
        let (a, b) = (next(), next());
        let g = |v: u64, i: u32| 0x8000 | ((v >> (16 * i)) as u16 & 0x7fff);
        out.insert(IpAddr::V6(Ipv6Addr::new(0x2001, 0x0db8, g(a, 0), g(a, 1), g(a, 2), 0, 0, g(b, 0))));
    }
    out.into_iter().collect()
}

/// No file below `dir` (recursively) holds any of `addrs`: as text (IPv4 dotted; IPv6 compressed
/// and fully expanded, any case) or as its 4 or 16 bytes.
fn scan(dir: &Path, addrs: &[&str]) {
    use std::collections::{HashMap, HashSet};
    let mut v4 = HashSet::new();
    let mut v6 = HashSet::new();
    let mut texts: HashMap<usize, HashSet<Vec<u8>>> = HashMap::new();
    for a in addrs {
        let mut text = |t: String| {
            texts.entry(t.len()).or_default().insert(t.into_bytes());
        };
        match a.parse::<IpAddr>().unwrap() {
            IpAddr::V4(ip) => {
                v4.insert(u32::from_be_bytes(ip.octets()));
                text(ip.to_string());
            }
            IpAddr::V6(ip) => {
                v6.insert(u128::from_be_bytes(ip.octets()));
                text(ip.to_string());
                text(ip.segments().iter().map(|s| format!("{s:04x}")).collect::<Vec<_>>().join(":"));
            }
        }
    }
    let mut files = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            files += 1;
            let at = |i: usize| format!("{} contains a client address at byte {i}", path.display());
            for (i, w) in bytes.windows(4).enumerate() {
                assert!(!v4.contains(&u32::from_be_bytes(w.try_into().unwrap())), "{} (4 bytes)", at(i));
            }
            for (i, w) in bytes.windows(16).enumerate() {
                assert!(!v6.contains(&u128::from_be_bytes(w.try_into().unwrap())), "{} (16 bytes)", at(i));
            }
            // Text: only runs of address characters can hold one; compare them lowercased.
            let is_addr_char = |b: &u8| b.is_ascii_hexdigit() || *b == b'.' || *b == b':';
            let mut i = 0;
            while i < bytes.len() {
                let len = bytes[i..].iter().take_while(|b| is_addr_char(b)).count();
                if len == 0 {
                    i += 1;
                    continue;
                }
                let run = bytes[i..i + len].to_ascii_lowercase();
                for (n, set) in &texts {
                    for (j, w) in run.windows(*n).enumerate() {
                        assert!(!set.contains(w), "{} ({})", at(i + j), String::from_utf8_lossy(w));
                    }
                }
                i += len;
            }
        }
    }
    assert!(files >= 1, "nothing to scan in {}", dir.display());
}

#[test]
fn scan_finds_each_form() {
    let v6: Ipv6Addr = "2001:db8:8a2e:f00d::9c1".parse().unwrap();
    let forms: Vec<Vec<u8>> = vec![
        b"peer=203.150.177.129 ok".to_vec(),
        vec![0, 203, 150, 177, 129, 0],
        b"x 2001:DB8:8A2E:F00D::9C1]".to_vec(),
        b"2001:0db8:8a2e:f00d:0000:0000:0000:09c1".to_vec(),
        v6.octets().to_vec(),
    ];
    for form in forms {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/file"), &form).unwrap();
        let found = std::panic::catch_unwind(|| scan(dir.path(), &["203.150.177.129", "2001:db8:8a2e:f00d::9c1"])).is_err();
        assert!(found, "missed {form:?}");
    }
}
