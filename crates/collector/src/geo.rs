//! What the collector may keep of a client's address: a country, an AS number and a keyed
//! network hash. The address itself lives only in memory, for the duration of one request, and
//! each step has its own module: `client_addr` decides which address is the client's (the TCP
//! peer, or `X-Forwarded-For` behind a `--trusted-proxy`), `geoip` turns it into a country and
//! an ASN, `network_hash` into the rotating HMAC that stands in for it in the store and the
//! rate limit. This module only re-exports them; it holds no logic of its own.

mod client_addr;
mod geoip;
mod memo;
mod network_hash;

pub use client_addr::{client_ip, is_trusted_peer, Cidr, CidrError};
pub use geoip::{Geo, GeoipError, GeoipLayout};
pub use network_hash::{NetworkHasher, NetworkKey, NetworkKeyError, IPV6_CLIENT_PREFIX, IPV6_NETWORK_PREFIX};
