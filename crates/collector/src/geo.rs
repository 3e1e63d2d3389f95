//! Turning the client's address into what may be stored: country, ASN and a keyed network hash.
//! The address itself lives only in memory, for the duration of one request.

use axum::http::HeaderMap;
use maxminddb::Reader;
use ring::hmac;
use std::net::IpAddr;
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
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
    let hops: Vec<&str> =
        headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).map(str::trim).collect();
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

/// Whether the TCP peer is one of our own proxies (`--trusted-proxy`): only then are the headers
/// a proxy adds (`X-Forwarded-For`, `X-Forwarded-Proto`, the country header) believed.
pub fn is_trusted_peer(peer: Option<IpAddr>, trusted: &[Cidr]) -> bool {
    peer.is_some_and(|p| trusted.iter().any(|c| c.contains(p)))
}

/// Country and ASN sources, opened once at start-up.
pub struct Geo {
    /// GeoLite2-Country reader, when `--geoip-country` was given.
    country: Option<Reader<Vec<u8>>>,
    /// GeoLite2-ASN reader, when `--geoip-asn` was given.
    asn: Option<Reader<Vec<u8>>>,
    /// CDN country header, believed before the country database, and only from a trusted proxy.
    country_header: Option<String>,
}

impl Geo {
    /// Opens the databases; a missing or corrupt file stops start-up.
    pub fn open(country: Option<&Path>, asn: Option<&Path>, country_header: Option<String>) -> Result<Geo, String> {
        Ok(Geo {
            country: country.map(|p| open_mmdb(p, Layout::Country)).transpose()?,
            asn: asn.map(|p| open_mmdb(p, Layout::Asn)).transpose()?,
            country_header,
        })
    }

    /// ISO country code (`ZZ` unknown) and AS number (0 unknown). The country header counts
    /// only when `from_trusted_proxy` (the TCP peer is a `--trusted-proxy`): anyone else could
    /// pick their country by sending it.
    pub fn locate(&self, ip: Option<IpAddr>, headers: &HeaderMap, from_trusted_proxy: bool) -> (String, u32) {
        let from_header = self
            .country_header
            .as_ref()
            .filter(|_| from_trusted_proxy)
            .and_then(|h| headers.get(h.as_str()))
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .and_then(|v| vantage_protocol::Country::from_any_case(v).ok())
            .map(|c| c.to_string())
            .filter(|c| c != "XX");
        let from_db = || {
            let reader = self.country.as_ref()?;
            let record = reader.lookup(ip?).ok()?.decode::<CountryOnly>().ok()??;
            record.country?.iso_code.and_then(|c| vantage_protocol::Country::from_any_case(c).ok()).map(|c| c.to_string())
        };
        let country = from_header.or_else(from_db).unwrap_or_else(|| "ZZ".into());
        let asn = (|| {
            let reader = self.asn.as_ref()?;
            reader.lookup(ip?).ok()?.decode::<AsnOnly>().ok()??.autonomous_system_number
        })()
        .unwrap_or(0);
        (country, asn)
    }
}

/// The part of a GeoLite2-Country (or -City) record the collector reads. Decoding only this
/// skips the rest of a real record (continent, registered country, names in eight languages)
/// without building it: that was most of a lookup's cost, paid on every report.
#[derive(serde::Deserialize)]
struct CountryOnly<'a> {
    /// Where the address is used (not where the block is registered).
    #[serde(borrow)]
    country: Option<IsoCode<'a>>,
}

/// A record's country object, reduced to its code.
#[derive(serde::Deserialize)]
struct IsoCode<'a> {
    /// ISO 3166-1 alpha-2.
    iso_code: Option<&'a str>,
}

/// The part of a GeoLite2-ASN record the collector reads (not the organization's name).
#[derive(serde::Deserialize)]
struct AsnOnly {
    /// The AS number.
    autonomous_system_number: Option<u32>,
}

/// What a `--geoip-*` file must hold.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// Country records (GeoLite2-Country or -City, DB-IP country or city lite).
    Country,
    /// Autonomous systems (GeoLite2-ASN, DB-IP ASN lite).
    Asn,
}

/// Opens a MaxMind-format file and checks from its metadata that it has the `layout` asked for;
/// every error names the flag, the file and what to do.
fn open_mmdb(path: &Path, layout: Layout) -> Result<Reader<Vec<u8>>, String> {
    let (flag, other, wanted) = match layout {
        Layout::Country => ("--geoip-country", "--geoip-asn", "GeoLite2-Country.mmdb (or dbip-country-lite.mmdb)"),
        Layout::Asn => ("--geoip-asn", "--geoip-country", "GeoLite2-ASN.mmdb (or dbip-asn-lite.mmdb)"),
    };
    let shown = path.display();
    let bytes = std::fs::read(path).map_err(|e| {
        crate::config::file_error(
            flag,
            path,
            &e,
            &format!("download {wanted} from MaxMind (free account) or db-ip.com, or leave {flag} out"),
        )
    })?;
    let reader = Reader::from_source(bytes).map_err(|e| {
        format!(
            "{flag} {shown}: not a MaxMind database ({e}); give the .mmdb file itself, e.g. {wanted} (not the .tar.gz or .csv download)"
        )
    })?;
    let kind = reader.metadata().database_type.to_ascii_lowercase();
    let is_asn = kind.contains("asn") || kind.contains("isp");
    let is_country = kind.contains("country") || kind.contains("city");
    let fits = match layout {
        Layout::Country => is_country || !is_asn,
        Layout::Asn => is_asn || !is_country,
    };
    if !fits {
        return Err(format!(
            "{flag} {shown}: this is a {} database, not the layout {flag} needs; did you swap {flag} and {other}? {flag} takes {wanted}",
            reader.metadata().database_type
        ));
    }
    Ok(reader)
}

/// IPv6 prefix counted as one network (distinct-network rule, k-anonymity's m, the detector's
/// per-network caps). Not /48: RIRs give an LIR (an ISP) a /32 or /29, and the ISP hands out a
/// /48 per business site, a /56 per home and a /64 per mobile device, so one ISP (or a censor
/// running it) holds 65,536 /48s in one /32, and a tunnel broker or VPS host gives anyone a /48
/// for free: counting /48s made IPv6 space almost free diversity. A /40 is the usual size of
/// one access router's or PoP's customer pool inside an ISP's /32: a customer's /48, /56 or
/// /64s, and everything one hosting pool hands out, fall into one /40, while a /32 holds at
/// most 256 of them, as many as an IPv4 /16 holds /24s, so address space buys the same number
/// of networks in both families. Not /32: an ISP's IPv6 readers would all be one network, so a
/// mostly-IPv6 mobile operator's ASN cell could never reach `--min-networks` and would go
/// unmeasured. The censor, who runs whole ASNs, is bounded by the detector's per-ASN caps.
pub const IPV6_NETWORK_PREFIX: u8 = 40;

/// IPv6 prefix the rate limit counts as one client: a /64 is one subnet (one home LAN, one
/// mobile device), inside which SLAAC privacy addresses, or an attacker, pick any of 2^64
/// interface ids at will; keying on the whole address let one /64 walk past the burst.
pub const IPV6_CLIENT_PREFIX: u8 = 64;

/// How long one random hashing key lives before it is replaced by a fresh random one.
const KEY_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// Seconds in a UTC day: a shared key changes at every UTC midnight.
const DAY: i64 = 24 * 3600;

/// Domain separation of the daily derivation, so the secret keys nothing else by accident.
const DERIVATION_LABEL: &[u8] = b"vantage network hash v1\0";

/// The secret of `--network-key-file`, shared by every node of one deployment so they all hash
/// a network alike. Never printed: `Debug` shows only its length.
#[derive(Clone)]
pub struct NetworkKey(Arc<[u8]>);

impl std::fmt::Debug for NetworkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NetworkKey(<{} secret bytes>)", self.0.len())
    }
}

impl NetworkKey {
    /// Fewest bytes a secret may have.
    pub const MIN_BYTES: usize = 32;

    /// Reads the secret (trailing whitespace, such as the newline of `openssl rand -base64 48`,
    /// is not part of it). Errors name the file and the fix, never the content.
    pub fn from_file(path: &Path) -> Result<NetworkKey, String> {
        let flag = format!("--network-key-file {}", path.display());
        let bytes = std::fs::read(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => format!(
                "{flag}: no such file; create one on every node with `openssl rand -base64 48 > {0}; chmod 600 {0}` (the same file on all of them)",
                path.display()
            ),
            std::io::ErrorKind::PermissionDenied => {
                format!("{flag}: permission denied; make it readable by the user vantage runs as (and by nobody else: chmod 600)")
            }
            _ => format!("{flag}: cannot read it: {e}"),
        })?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0) {
                tracing::warn!(file = %path.display(), "the network key file is readable by other users: chmod 600 it");
            }
        }
        NetworkKey::new(&bytes).map_err(|e| format!("{flag}: {e}"))
    }

    /// A secret of at least [`Self::MIN_BYTES`] bytes (trailing whitespace trimmed).
    pub fn new(bytes: &[u8]) -> Result<NetworkKey, String> {
        let trimmed = bytes.trim_ascii_end();
        if trimmed.len() < Self::MIN_BYTES {
            return Err(format!(
                "the secret has {} bytes, at least {} are needed; make one with `openssl rand -base64 48`",
                trimmed.len(),
                Self::MIN_BYTES
            ));
        }
        Ok(NetworkKey(trimmed.into()))
    }

    /// The key of UTC day `day` (days since 1970-01-01): HMAC-SHA256(secret, label || day).
    fn day_key(&self, day: i64) -> hmac::Key {
        let secret = hmac::Key::new(hmac::HMAC_SHA256, &self.0);
        let mut msg = DERIVATION_LABEL.to_vec();
        msg.extend_from_slice(&day.to_be_bytes());
        hmac::Key::new(hmac::HMAC_SHA256, hmac::sign(&secret, &msg).as_ref())
    }
}

/// Where the daily key comes from.
enum KeySource {
    /// 32 random bytes made in memory and replaced every 24 h (the default): nothing on disk
    /// can re-derive a stored hash, but every node has its own.
    Random,
    /// Derived from the shared secret and the UTC day: every node computes the same key.
    Shared(NetworkKey),
}

/// The key in use.
struct DayKey {
    /// HMAC-SHA256 key the addresses are hashed under.
    key: hmac::Key,
    /// UTC day it belongs to (shared keys).
    day: i64,
    /// When it was made (random keys).
    made: Instant,
}

/// Keyed hashing (HMAC-SHA256, truncated) of addresses under a daily key, so stored network
/// hashes cannot be reversed or linked across days. The key is random and in memory by default,
/// or derived from `--network-key-file`'s secret and the UTC day (see [`NetworkKey`]).
pub struct NetworkHasher {
    /// Random or shared.
    source: KeySource,
    /// The current key.
    current: Mutex<DayKey>,
}

impl Default for NetworkHasher {
    fn default() -> Self {
        NetworkHasher { source: KeySource::Random, current: Mutex::new(random_key()) }
    }
}

fn random_key() -> DayKey {
    let rng = ring::rand::SystemRandom::new();
    let key = hmac::Key::generate(hmac::HMAC_SHA256, &rng).expect("the operating system's random source failed");
    DayKey { key, day: 0, made: Instant::now() }
}

fn utc_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

impl NetworkHasher {
    /// A hasher whose daily key is derived from `secret`: the same on every node on one UTC day.
    pub fn shared(secret: NetworkKey) -> NetworkHasher {
        let day = utc_now().div_euclid(DAY);
        let key = secret.day_key(day);
        NetworkHasher { source: KeySource::Shared(secret), current: Mutex::new(DayKey { key, day, made: Instant::now() }) }
    }

    /// Whether the key comes from a shared secret.
    pub fn is_shared(&self) -> bool {
        matches!(self.source, KeySource::Shared(_))
    }

    /// 32-bit hash of the client's /24 (IPv4) or /40 (IPv6, see [`IPV6_NETWORK_PREFIX`]) now;
    /// 0 when the address is unknown.
    pub fn network(&self, ip: Option<IpAddr>) -> u32 {
        self.network_at(ip, utc_now())
    }

    /// [`Self::network`] at Unix time `now` (which picks a shared key's day; a random key
    /// rotates on its own 24 h schedule whatever `now` says).
    pub fn network_at(&self, ip: Option<IpAddr>, now: i64) -> u32 {
        let Some(ip) = ip.map(|ip| ip.to_canonical()) else { return 0 };
        let prefix = if ip.is_ipv4() { 24 } else { IPV6_NETWORK_PREFIX };
        self.hash(mask(ip, prefix), now) as u32
    }

    /// 64-bit hash of one client for the rate limit (not the address itself): a whole IPv4
    /// address, or an IPv6 /64 (see [`IPV6_CLIENT_PREFIX`]).
    pub fn client(&self, ip: Option<IpAddr>) -> u64 {
        ip.map_or(0, |ip| {
            let ip = ip.to_canonical();
            let prefix = if ip.is_ipv4() { 32 } else { IPV6_CLIENT_PREFIX };
            self.hash(mask(ip, prefix), utc_now())
        })
    }

    fn hash(&self, ip: IpAddr, now: i64) -> u64 {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        match &self.source {
            KeySource::Random if current.made.elapsed() >= KEY_LIFETIME => *current = random_key(),
            KeySource::Shared(secret) if current.day != now.div_euclid(DAY) => {
                let day = now.div_euclid(DAY);
                *current = DayKey { key: secret.day_key(day), day, made: Instant::now() };
            }
            _ => {}
        }
        let tag = match ip {
            IpAddr::V4(v4) => hmac::sign(&current.key, &v4.octets()),
            IpAddr::V6(v6) => hmac::sign(&current.key, &v6.octets()),
        };
        let mut first = [0u8; 8];
        first.copy_from_slice(&tag.as_ref()[..8]);
        u64::from_le_bytes(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

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

    #[test]
    fn ipv6_networks_are_counted_per_slash_40() {
        let h = NetworkHasher::default();
        let v6 = |s: String| Some(s.parse::<IpAddr>().unwrap());
        // 200 /48s as one provider pool hands them out to one holder: one network (was 200).
        let pool: HashSet<u32> = (0..200u32).map(|i| h.network(v6(format!("2001:db8:{i:x}::1")))).collect();
        assert_eq!(pool.len(), 1);
        // However the /48s are spread over the /32, it yields at most 256 networks (an IPv4 /16's
        // worth of /24s), where /48s gave one per /48.
        let spread: HashSet<u32> = (0..2000u32).map(|i| h.network(v6(format!("2001:db8:{:x}::1", (i * 7919) % 65536)))).collect();
        assert!(spread.len() <= 256, "{}", spread.len());
        assert_ne!(h.network(v6("2001:db8::1".into())), h.network(v6("2001:db8:100::1".into())), "two /40s are two networks");
    }

    #[test]
    fn the_rate_limit_key_is_an_ipv4_address_or_an_ipv6_slash_64() {
        let h = NetworkHasher::default();
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert_eq!(h.client(ip("2001:db8:1:2::1")), h.client(ip("2001:db8:1:2:dead:beef:1:2")));
        assert_ne!(h.client(ip("2001:db8:1:2::1")), h.client(ip("2001:db8:1:3::1")));
        assert_ne!(h.client(ip("10.1.2.3")), h.client(ip("10.1.2.4")));
        assert_eq!(h.client(ip("::ffff:10.1.2.3")), h.client(ip("10.1.2.3")));
    }

    #[test]
    fn a_short_secret_is_refused_and_debug_hides_it() {
        assert!(NetworkKey::new(&[7u8; 31]).unwrap_err().contains("at least 32"));
        assert!(NetworkKey::new(b"0123456789abcdef0123456789abcdef  \n").is_ok());
        let k = NetworkKey::new(b"sesame-sesame-sesame-sesame-sesame").unwrap();
        assert!(!format!("{k:?}").contains("sesame"));
    }
}
