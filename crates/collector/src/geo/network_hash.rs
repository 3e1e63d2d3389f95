//! The keyed, rotating hash that stands in for an address wherever one would be kept: the
//! network hash (an IPv4 /24 or IPv6 /40) stored with each report, and the per-client key of the
//! rate limit. HMAC-SHA256 under a daily key, random and in memory by default or derived from
//! `--network-key-file`'s secret, so stored hashes cannot be reversed or linked across days. It
//! hashes the address it is given; choosing it is `client_addr`'s job, locating it `geoip`'s.

use super::client_addr::network_address;
use ring::hmac;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// Why a network key secret cannot be used. No message ever shows the secret's content.
#[derive(Debug, thiserror::Error)]
pub enum NetworkKeyError {
    /// The secret is shorter than [`NetworkKey::MIN_BYTES`].
    #[error("the secret has {bytes} bytes, at least {min} are needed; make one with `openssl rand -base64 48`", min = NetworkKey::MIN_BYTES)]
    TooShort {
        /// Its length once trailing whitespace is trimmed.
        bytes: usize,
    },
    /// `--network-key-file` does not exist.
    #[error(
        "--network-key-file {p}: no such file; create one on every node with `openssl rand -base64 48 > {p}; chmod 600 {p}` (the same file on all of them)",
        p = .path.display()
    )]
    Missing {
        /// The file as given.
        path: PathBuf,
    },
    /// `--network-key-file` exists but we may not read it.
    #[error(
        "--network-key-file {}: permission denied; make it readable by the user vantage runs as (and by nobody else: chmod 600)",
        .path.display()
    )]
    PermissionDenied {
        /// The file as given.
        path: PathBuf,
    },
    /// `--network-key-file` could not be read for another reason (a directory, an I/O error).
    #[error("--network-key-file {}: cannot read it: {source}", .path.display())]
    Unreadable {
        /// The file as given.
        path: PathBuf,
        /// What reading it said.
        source: std::io::Error,
    },
    /// `--network-key-file` was read, but its secret is too short.
    #[error("--network-key-file {}: {secret}", .path.display())]
    BadSecret {
        /// The file as given.
        path: PathBuf,
        /// What is wrong with its content (a [`NetworkKeyError::TooShort`]).
        #[source]
        secret: Box<NetworkKeyError>,
    },
}

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
    pub fn from_file(path: &Path) -> Result<NetworkKey, NetworkKeyError> {
        let bytes = std::fs::read(path).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => NetworkKeyError::Missing { path: path.into() },
            std::io::ErrorKind::PermissionDenied => NetworkKeyError::PermissionDenied { path: path.into() },
            _ => NetworkKeyError::Unreadable { path: path.into(), source },
        })?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0) {
                tracing::warn!(file = %path.display(), "the network key file is readable by other users: chmod 600 it");
            }
        }
        NetworkKey::new(&bytes).map_err(|secret| NetworkKeyError::BadSecret { path: path.into(), secret: Box::new(secret) })
    }

    /// A secret of at least [`Self::MIN_BYTES`] bytes (trailing whitespace trimmed).
    pub fn new(bytes: &[u8]) -> Result<NetworkKey, NetworkKeyError> {
        let trimmed = bytes.trim_ascii_end();
        if trimmed.len() < Self::MIN_BYTES {
            return Err(NetworkKeyError::TooShort { bytes: trimmed.len() });
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

/// A fresh random key, made now.
fn random_key() -> DayKey {
    let rng = ring::rand::SystemRandom::new();
    let key = hmac::Key::generate(hmac::HMAC_SHA256, &rng).expect("the operating system's random source failed");
    DayKey { key, day: 0, made: Instant::now() }
}

/// Unix time now, in seconds.
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
        self.hash(network_address(ip, prefix), now) as u32
    }

    /// 64-bit hash of one client for the rate limit (not the address itself): a whole IPv4
    /// address, or an IPv6 /64 (see [`IPV6_CLIENT_PREFIX`]).
    pub fn client(&self, ip: Option<IpAddr>) -> u64 {
        ip.map_or(0, |ip| {
            let ip = ip.to_canonical();
            let prefix = if ip.is_ipv4() { 32 } else { IPV6_CLIENT_PREFIX };
            self.hash(network_address(ip, prefix), utc_now())
        })
    }

    /// The first 64 bits of `ip`'s HMAC under the key of `now` (rotated first if it is due).
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
        assert!(matches!(NetworkKey::new(&[7u8; 31]), Err(NetworkKeyError::TooShort { bytes: 31 })));
        assert!(NetworkKey::new(&[7u8; 31]).unwrap_err().to_string().contains("at least 32"));
        assert!(NetworkKey::new(b"0123456789abcdef0123456789abcdef  \n").is_ok());
        let k = NetworkKey::new(b"sesame-sesame-sesame-sesame-sesame").unwrap();
        assert!(!format!("{k:?}").contains("sesame"));
    }
}
