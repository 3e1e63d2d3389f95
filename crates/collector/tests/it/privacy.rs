//! The client IP is never written: scan every file of the store for it, as text and as bytes.

use crate::common::*;
use std::net::IpAddr;

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

fn scan(dir: &std::path::Path, addrs: &[&str]) {
    let mut files = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        files += 1;
        for a in addrs {
            let ip: IpAddr = a.parse().unwrap();
            let binary = match ip {
                IpAddr::V4(v4) => v4.octets().to_vec(),
                IpAddr::V6(v6) => v6.octets().to_vec(),
            };
            for needle in [a.as_bytes(), &binary] {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle),
                    "{} contains {a}",
                    path.display()
                );
            }
        }
    }
    assert!(files >= 1);
}
