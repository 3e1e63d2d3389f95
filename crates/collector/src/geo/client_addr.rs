//! Which address a request came from: address blocks (`--trusted-proxy` CIDRs) and the client's
//! address behind our own proxies (`X-Forwarded-For`). It decides what address the rest of the
//! collector sees; it does not look the address up (see `geoip`) or hash it (see `network_hash`),
//! and it keeps nothing: the address lives only in memory, for the duration of one request.

use axum::http::HeaderMap;
use std::net::IpAddr;
use std::str::FromStr;

/// Why a `--trusted-proxy` value is not an address block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    /// The part before the `/` does not parse as an IPv4 or IPv6 address.
    #[error("{0:?} is not an IP address")]
    NotAnAddress(String),
    /// The part after the `/` is not a number of bits the address family has.
    #[error("bad prefix length {0:?}")]
    BadPrefixLength(String),
}

/// An address block such as `10.0.0.0/8` or `2001:db8::/32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// First address of the block (host bits cleared).
    addr: IpAddr,
    /// Prefix length in bits.
    len: u8,
}

impl FromStr for Cidr {
    type Err = CidrError;
    fn from_str(s: &str) -> Result<Self, CidrError> {
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| CidrError::NotAnAddress(addr.to_string()))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match len {
            Some(l) => l.parse::<u8>().ok().filter(|l| *l <= max).ok_or_else(|| CidrError::BadPrefixLength(l.to_string()))?,
            None => max,
        };
        Ok(Cidr { addr: network_address(addr, len), len })
    }
}

impl Cidr {
    /// Whether `ip` is inside the block (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_ipv4() == self.addr.is_ipv4() && network_address(ip, self.len) == self.addr
    }
}

/// The first address of the `/len` block holding `ip`: `ip` with its host bits cleared.
pub(super) fn network_address(ip: IpAddr, len: u8) -> IpAddr {
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
    // Right to left, header lines and the entries in each (no list of them is built).
    let hops = headers.get_all("x-forwarded-for").iter().rev().filter_map(|v| v.to_str().ok()).flat_map(|v| v.rsplit(',')).map(str::trim);
    let mut chosen = peer;
    for hop in hops {
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

/// Whether the TCP peer is one of our own proxies (`--trusted-proxy`): only then are the headers
/// a proxy adds (`X-Forwarded-For`, `X-Forwarded-Proto`, the country header) believed.
pub fn is_trusted_peer(peer: Option<IpAddr>, trusted: &[Cidr]) -> bool {
    peer.is_some_and(|p| trusted.iter().any(|c| c.contains(p)))
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
    }

    #[test]
    fn a_bad_block_says_which_part_is_wrong() {
        assert_eq!("1.2.3.4/33".parse::<Cidr>(), Err(CidrError::BadPrefixLength("33".into())));
        assert_eq!("::/129".parse::<Cidr>(), Err(CidrError::BadPrefixLength("129".into())));
        assert_eq!("10.0.0/8".parse::<Cidr>(), Err(CidrError::NotAnAddress("10.0.0".into())));
        assert!("10.0.0.0/8".parse::<Cidr>().is_ok());
        assert_eq!("localhost".parse::<Cidr>().unwrap_err().to_string(), "\"localhost\" is not an IP address");
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_peers() {
        let trusted = vec!["127.0.0.0/8".parse().unwrap(), "192.168.0.0/16".parse().unwrap()];
        let h = xff("6.6.6.6, 10.0.0.9, 192.168.1.1");
        assert_eq!(client_ip(Some("127.0.0.1".parse().unwrap()), &h, &trusted), Some("10.0.0.9".parse().unwrap()));
        assert_eq!(client_ip(Some("8.8.8.8".parse().unwrap()), &h, &trusted), Some("8.8.8.8".parse().unwrap()));
        assert_eq!(client_ip(Some("127.0.0.1".parse().unwrap()), &HeaderMap::new(), &trusted), Some("127.0.0.1".parse().unwrap()));
    }

    /// Proxies may append a header line of their own instead of extending the one list: the lines
    /// read as one list, in order, right to left.
    #[test]
    fn forwarded_for_lines_read_as_one_list() {
        let trusted = vec!["127.0.0.0/8".parse().unwrap(), "192.168.0.0/16".parse().unwrap()];
        let peer = Some("127.0.0.1".parse().unwrap());
        let mut h = xff("6.6.6.6, 10.0.0.9");
        h.append("x-forwarded-for", "192.168.1.1, 192.168.1.2".parse().unwrap());
        assert_eq!(client_ip(peer, &h, &trusted), Some("10.0.0.9".parse().unwrap()));
        h.append("x-forwarded-for", "7.7.7.7".parse().unwrap());
        assert_eq!(client_ip(peer, &h, &trusted), Some("7.7.7.7".parse().unwrap()));
        // An entry that is not an address stops the walk at the last trusted hop before it.
        let h = xff("6.6.6.6, junk, 192.168.1.1");
        assert_eq!(client_ip(peer, &h, &trusted), Some("192.168.1.1".parse().unwrap()));
    }
}
