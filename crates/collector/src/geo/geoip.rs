//! Country and AS number of an address, from the operator's MaxMind-format databases
//! (`--geoip-country`, `--geoip-asn`) or, behind our own CDN, its country header. It answers
//! only what is stored (an ISO code, an AS number); it does not choose the address (see
//! `client_addr`) and never sees a network hash (see `network_hash`).

use super::memo::Memo;
use axum::http::HeaderMap;
use maxminddb::Reader;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use vantage_protocol::Country;

/// Why a `--geoip-*` file cannot be used; every message names the flag, the file and the fix.
#[derive(Debug, thiserror::Error)]
pub enum GeoipError {
    /// The file cannot be read (absent, a directory, not readable by us).
    #[error("{}", crate::config::file_error(.layout.flag(), .path, .source, &format!("download {} from MaxMind (free account) or db-ip.com, or leave {} out", .layout.wanted(), .layout.flag())))]
    Unreadable {
        /// Which flag named it.
        layout: GeoipLayout,
        /// The file as given.
        path: PathBuf,
        /// What reading it said.
        source: std::io::Error,
    },
    /// The bytes are not a MaxMind database (often the `.tar.gz` or `.csv` download instead).
    #[error(
        "{flag} {shown}: not a MaxMind database ({source}); give the .mmdb file itself, e.g. {wanted} (not the .tar.gz or .csv download)",
        flag = .layout.flag(), shown = .path.display(), wanted = .layout.wanted()
    )]
    NotMaxMind {
        /// Which flag named it.
        layout: GeoipLayout,
        /// The file as given.
        path: PathBuf,
        /// What the MaxMind reader said.
        source: maxminddb::MaxMindDbError,
    },
    /// A database of the other kind (an ASN file given to `--geoip-country`, or the reverse).
    #[error(
        "{flag} {shown}: this is a {found} database, not the layout {flag} needs; did you swap {flag} and {other}? {flag} takes {wanted}",
        flag = .layout.flag(), shown = .path.display(), other = .layout.other_flag(), wanted = .layout.wanted()
    )]
    WrongLayout {
        /// Which flag named it.
        layout: GeoipLayout,
        /// The file as given.
        path: PathBuf,
        /// The `database_type` its metadata declares.
        found: String,
    },
}

/// What a `--geoip-*` file must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeoipLayout {
    /// Country records (GeoLite2-Country or -City, DB-IP country or city lite).
    Country,
    /// Autonomous systems (GeoLite2-ASN, DB-IP ASN lite).
    Asn,
}

impl GeoipLayout {
    /// The flag that takes a file of this layout.
    fn flag(self) -> &'static str {
        match self {
            GeoipLayout::Country => "--geoip-country",
            GeoipLayout::Asn => "--geoip-asn",
        }
    }

    /// The flag of the other layout (the usual mistake is to swap them).
    fn other_flag(self) -> &'static str {
        match self {
            GeoipLayout::Country => GeoipLayout::Asn.flag(),
            GeoipLayout::Asn => GeoipLayout::Country.flag(),
        }
    }

    /// The files an operator can download for it.
    fn wanted(self) -> &'static str {
        match self {
            GeoipLayout::Country => "GeoLite2-Country.mmdb (or dbip-country-lite.mmdb)",
            GeoipLayout::Asn => "GeoLite2-ASN.mmdb (or dbip-asn-lite.mmdb)",
        }
    }

    /// Whether a database whose metadata says `database_type` holds this layout. A type naming
    /// neither kind (a custom or test database) is given the benefit of the doubt.
    fn fits(self, database_type: &str) -> bool {
        let kind = database_type.to_ascii_lowercase();
        let is_asn = kind.contains("asn") || kind.contains("isp");
        let is_country = kind.contains("country") || kind.contains("city");
        match self {
            GeoipLayout::Country => is_country || !is_asn,
            GeoipLayout::Asn => is_asn || !is_country,
        }
    }
}

/// Country and ASN sources, opened once at start-up.
pub struct Geo {
    /// GeoLite2-Country reader, when `--geoip-country` was given.
    country: Option<Reader<Vec<u8>>>,
    /// GeoLite2-ASN reader, when `--geoip-asn` was given.
    asn: Option<Reader<Vec<u8>>>,
    /// CDN country header, believed before the country database, and only from a trusted proxy.
    country_header: Option<String>,
    /// Country records decoded so far, by offset (packed by [`pack_country`]).
    countries: Memo,
    /// AS numbers decoded so far, by record offset (0: none).
    asns: Memo,
}

impl Geo {
    /// Opens the databases; a missing or corrupt file stops start-up.
    pub fn open(country: Option<&Path>, asn: Option<&Path>, country_header: Option<String>) -> Result<Geo, GeoipError> {
        Ok(Geo {
            country: country.map(|p| open_mmdb(p, GeoipLayout::Country)).transpose()?,
            asn: asn.map(|p| open_mmdb(p, GeoipLayout::Asn)).transpose()?,
            country_header,
            countries: Memo::new(),
            asns: Memo::new(),
        })
    }

    /// ISO country code (`ZZ` unknown) and AS number (0 unknown). The country header counts
    /// only when `from_trusted_proxy` (the TCP peer is a `--trusted-proxy`): anyone else could
    /// pick their country by sending it.
    pub fn locate(&self, ip: Option<IpAddr>, headers: &HeaderMap, from_trusted_proxy: bool) -> (String, u32) {
        let (country, asn) = self.locate_country(ip, headers, from_trusted_proxy);
        (country.to_string(), asn)
    }

    /// [`Self::locate`] with the country as its type ([`Country::UNKNOWN`] unknown), allocating
    /// nothing: what ingest calls for every report.
    pub fn locate_country(&self, ip: Option<IpAddr>, headers: &HeaderMap, from_trusted_proxy: bool) -> (Country, u32) {
        let from_header = self
            .country_header
            .as_ref()
            .filter(|_| from_trusted_proxy)
            .and_then(|h| headers.get(h.as_str()))
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .and_then(|v| Country::from_any_case(v).ok())
            // `XX` is what CDNs send for "no country" (Cloudflare: unknown or Tor).
            .filter(|c| c.as_str() != "XX");
        let from_db = || {
            let found = self.country.as_ref()?.lookup(ip?).ok()?;
            let decode = || {
                let record = found.decode::<CountryOnly<'_>>().ok().flatten();
                pack_country(record.and_then(|r| r.country?.iso_code.and_then(|c| Country::from_any_case(c).ok())))
            };
            unpack_country(self.countries.get(found.offset()?, decode))
        };
        let country = from_header.or_else(from_db).unwrap_or(Country::UNKNOWN);
        let asn = (|| {
            let found = self.asn.as_ref()?.lookup(ip?).ok()?;
            let decode = || found.decode::<AsnOnly>().ok().flatten().and_then(|r| r.autonomous_system_number).unwrap_or(0);
            Some(self.asns.get(found.offset()?, decode))
        })()
        .unwrap_or(0);
        (country, asn)
    }
}

/// A record's country as the 32 bits [`Memo`] keeps: 0 for none, else a marker bit and the
/// code's two letters.
fn pack_country(country: Option<Country>) -> u32 {
    country.map_or(0, |c| match c.as_str().as_bytes() {
        &[a, b] => 1 << 16 | u32::from(a) << 8 | u32::from(b),
        _ => 0,
    })
}

/// The country [`pack_country`] packed.
fn unpack_country(packed: u32) -> Option<Country> {
    let code = [(packed >> 8) as u8, packed as u8];
    (packed != 0).then(|| Country::try_from(std::str::from_utf8(&code).ok()?).ok()).flatten()
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

/// Opens a MaxMind-format file and checks from its metadata that it has the `layout` asked for.
fn open_mmdb(path: &Path, layout: GeoipLayout) -> Result<Reader<Vec<u8>>, GeoipError> {
    let bytes = std::fs::read(path).map_err(|source| GeoipError::Unreadable { layout, path: path.into(), source })?;
    let reader = Reader::from_source(bytes).map_err(|source| GeoipError::NotMaxMind { layout, path: path.into(), source })?;
    let found = &reader.metadata().database_type;
    if !layout.fits(found) {
        return Err(GeoipError::WrongLayout { layout, path: path.into(), found: found.clone() });
    }
    Ok(reader)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packed_country_unpacks_to_itself() {
        for c in [None, Some(Country::UNKNOWN), Some(Country::try_from("PK").unwrap()), Some(Country::try_from("AA").unwrap())] {
            assert_eq!(unpack_country(pack_country(c)), c);
        }
    }
}
