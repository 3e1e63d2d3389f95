//! Turning the client's address into what may be stored: country, ASN and a keyed network hash.
//! The address itself lives only in memory, for the duration of one request.

use axum::http::HeaderMap;
use maxminddb::{geoip2, Reader};
use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;
use std::path::Path;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// An address block such as `10.0.0.0/8` or `2001:db8::/32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// First address of the block (host bits cleared).
    addr: IpAddr,
    /// Prefix length in bits.
    len: u8,
}

impl FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| format!("{addr:?} is not an IP address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match len {
            Some(l) => l.parse::<u8>().ok().filter(|l| *l <= max).ok_or_else(|| format!("bad prefix length {l:?}"))?,
            None => max,
        };
        Ok(Cidr { addr: mask(addr, len), len })
    }
}

impl Cidr {
    /// Whether `ip` is inside the block (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_ipv4() == self.addr.is_ipv4() && mask(ip, self.len) == self.addr
    }
}

fn mask(ip: IpAddr, len: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let m = if len == 0 { 0 } else { u32::MAX << (32 - u32::from(len)) };
            IpAddr::V4((u32::from(v4) & m).into())
        }
        IpAddr::V6(v6) => {
            let m = if len == 0 { 0 } else { u128::MAX << (128 - u32::from(len)) };
            IpAddr::V6((u128::from(v6) & m).into())
        }
    }
}

/// The client's address: the TCP peer, or, when the peer is a trusted proxy, the right-most
/// `X-Forwarded-For` entry that is not itself a trusted proxy.
pub fn client_ip(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[Cidr]) -> Option<IpAddr> {
    let peer = peer?.to_canonical();
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return Some(peer);
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut chosen = peer;
    for hop in hops.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) => {
                chosen = ip.to_canonical();
                if !is_trusted(chosen) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    Some(chosen)
}

/// Country and ASN sources, opened once at start-up.
pub struct Geo {
    /// GeoLite2-Country reader, when `--geoip-country` was given.
    country: Option<Reader<Vec<u8>>>,
    /// GeoLite2-ASN reader, when `--geoip-asn` was given.
    asn: Option<Reader<Vec<u8>>>,
    /// CDN country header, believed before the country database.
    country_header: Option<String>,
}

impl Geo {
    /// Opens the databases; a missing or corrupt file stops start-up.
    pub fn open(country: Option<&Path>, asn: Option<&Path>, country_header: Option<String>) -> Result<Geo, String> {
        let open = |p: &Path, flag: &str| {
            Reader::open_readfile(p).map_err(|e| format!("{flag} {}: {e}", p.display()))
        };
        Ok(Geo {
            country: country.map(|p| open(p, "--geoip-country")).transpose()?,
            asn: asn.map(|p| open(p, "--geoip-asn")).transpose()?,
            country_header,
        })
    }

    /// ISO country code (`ZZ` unknown) and AS number (0 unknown).
    pub fn locate(&self, ip: Option<IpAddr>, headers: &HeaderMap) -> (String, u32) {
        let from_header = self
            .country_header
            .as_ref()
            .and_then(|h| headers.get(h.as_str()))
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| v.len() == 2 && v.bytes().all(|b| b.is_ascii_alphabetic()))
            .map(str::to_ascii_uppercase)
            .filter(|c| c != "XX");
        let from_db = || {
            let reader = self.country.as_ref()?;
            let record = reader.lookup(ip?).ok()?.decode::<geoip2::Country>().ok()??;
            record.country.iso_code.map(str::to_ascii_uppercase)
        };
        let country = from_header.or_else(from_db).unwrap_or_else(|| "ZZ".into());
        let asn = (|| {
            let reader = self.asn.as_ref()?;
            reader.lookup(ip?).ok()?.decode::<geoip2::Asn>().ok()??.autonomous_system_number
        })()
        .unwrap_or(0);
        (country, asn)
    }
}

/// How long one hashing key lives before it is replaced by a fresh random one.
const KEY_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// Keyed hashing of addresses under a random in-memory key that rotates every 24 h, so stored
/// network hashes cannot be reversed or linked across days.
pub struct NetworkHasher {
    /// The current key (a SipHash key from `RandomState`) and when it was made.
    key: Mutex<(std::collections::hash_map::RandomState, Instant)>,
}

impl Default for NetworkHasher {
    fn default() -> Self {
        NetworkHasher { key: Mutex::new((Default::default(), Instant::now())) }
    }
}

impl NetworkHasher {
    /// 32-bit hash of the client's /24 (IPv4) or /48 (IPv6); 0 when the address is unknown.
    pub fn network(&self, ip: Option<IpAddr>) -> u32 {
        let Some(ip) = ip.map(|ip| ip.to_canonical()) else { return 0 };
        let prefix = if ip.is_ipv4() { 24 } else { 48 };
        self.hash(mask(ip, prefix)) as u32
    }

    /// 64-bit hash of the whole address: a rate-limit key that is not the address.
    pub fn client(&self, ip: Option<IpAddr>) -> u64 {
        ip.map_or(0, |ip| self.hash(ip.to_canonical()))
    }

    fn hash(&self, ip: IpAddr) -> u64 {
        let mut key = self.key.lock().unwrap_or_else(|e| e.into_inner());
        if key.1.elapsed() >= KEY_LIFETIME {
            *key = (Default::default(), Instant::now());
        }
        let mut h = key.0.build_hasher();
        match ip {
            IpAddr::V4(v4) => h.write(&v4.octets()),
            IpAddr::V6(v6) => h.write(&v6.octets()),
        }
        h.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xff(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", v.parse().unwrap());
        h
    }

    #[test]
    fn cidr_contains() {
        let c: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(c.contains("10.1.200.3".parse().unwrap()));
        assert!(c.contains("::ffff:10.1.0.1".parse().unwrap()));
        assert!(!c.contains("10.2.0.1".parse().unwrap()));
        assert!("::1".parse::<Cidr>().unwrap().contains("::1".parse().unwrap()));
        assert!("1.2.3.4/33".parse::<Cidr>().is_err());
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_peers() {
        let trusted = vec!["127.0.0.0/8".parse().unwrap(), "192.168.0.0/16".parse().unwrap()];
        let h = xff("6.6.6.6, 10.0.0.9, 192.168.1.1");
        assert_eq!(client_ip(Some("127.0.0.1".parse().unwrap()), &h, &trusted), Some("10.0.0.9".parse().unwrap()));
        assert_eq!(client_ip(Some("8.8.8.8".parse().unwrap()), &h, &trusted), Some("8.8.8.8".parse().unwrap()));
        assert_eq!(client_ip(Some("127.0.0.1".parse().unwrap()), &HeaderMap::new(), &trusted), Some("127.0.0.1".parse().unwrap()));
    }

    #[test]
    fn network_hash_groups_a_slash_24() {
        let h = NetworkHasher::default();
        let a = h.network(Some("10.1.2.3".parse().unwrap()));
        assert_eq!(a, h.network(Some("10.1.2.200".parse().unwrap())));
        assert_ne!(a, h.network(Some("10.1.3.3".parse().unwrap())));
        assert_eq!(h.network(Some("2001:db8:1::1".parse().unwrap())), h.network(Some("2001:db8:1:ff::2".parse().unwrap())));
    }
}
