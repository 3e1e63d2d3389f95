//! MaxMind test databases: `country.mmdb` (GeoLite2-Country layout) and `asn.mmdb`
//! (GeoLite2-ASN layout) that place loopback in Pakistan and 10.0.0.0/8 in Iran, and give
//! Pakistan four more ASNs (172.16.0.0/16 to 172.19.0.0/16) so detection tests can spread
//! reports over several ISPs.
//!
//! [`write_databases`] writes any list of blocks the same way: `vantage-bench` uses it for the
//! realistic traffic model's 100,000 networks (`vantage_collector::traffic::Model::blocks`).
//!
//! Like the real GeoLite2 files, each is an IPv6 tree with IPv4 under `::/96`; the IPv4-mapped
//! range `::ffff:0:0/96` gets the same answers so either spelling of a v4 address resolves.

use maxminddb_writer::metadata::IpVersion;
use maxminddb_writer::paths::IpAddrWithMask;
use maxminddb_writer::Database;
use serde::Serialize;
use std::net::{IpAddr, Ipv6Addr};
use std::path::{Path, PathBuf};

/// Networks the test databases know, with the country and AS each maps to.
const NETWORKS: &[(&str, &str, u32, &str)] = &[
    ("127.0.0.0/8", "PK", 17557, "Pakistan Telecommunication Company Limited"),
    ("::1/128", "PK", 17557, "Pakistan Telecommunication Company Limited"),
    ("10.0.0.0/8", "IR", 58224, "Iran Telecommunication Company PJS"),
    ("172.16.0.0/16", "PK", 45595, "Pakistan Mobile Communication Limited"),
    ("172.17.0.0/16", "PK", 9541, "Cyber Internet Services Pvt Ltd."),
    ("172.18.0.0/16", "PK", 23674, "Nayatel (Pvt) Ltd"),
    ("172.19.0.0/16", "PK", 24499, "Telenor Pakistan (Pvt) Ltd."),
];

/// A GeoLite2-Country record about the size and shape of MaxMind's (continent, country,
/// registered country, names in the eight languages GeoLite2 carries), so a lookup walks as much
/// data here as on the real file.
#[derive(Serialize)]
struct CountryRecord<'a> {
    /// The continent (a fixed one: nothing reads it, it is there for the record's size).
    continent: Place<'a>,
    /// The country of the block.
    country: Place<'a>,
    /// Where the block is registered: the same country here.
    registered_country: Place<'a>,
}

/// GeoLite2's continent and country objects.
#[derive(Serialize)]
struct Place<'a> {
    /// GeoNames id (made up).
    geoname_id: u32,
    /// Two-letter code: ISO 3166-1 for countries.
    #[serde(rename = "iso_code")]
    code: &'a str,
    /// Localized names by language.
    names: std::collections::BTreeMap<&'static str, String>,
}

impl<'a> Place<'a> {
    fn new(code: &'a str) -> Place<'a> {
        let langs = ["de", "en", "es", "fr", "ja", "pt-BR", "ru", "zh-CN"];
        let geoname_id = code.bytes().fold(0u32, |h, b| h * 31 + u32::from(b));
        Place { geoname_id, code, names: langs.iter().map(|l| (*l, format!("Test country {code} ({l})"))).collect() }
    }
}

/// A GeoLite2-ASN record.
#[derive(Serialize)]
struct AsnRecord<'a> {
    /// The AS number.
    autonomous_system_number: u32,
    /// The AS's organization name.
    autonomous_system_organization: &'a str,
}

/// One address block of a test database and what it maps to.
#[derive(Debug, Clone)]
pub struct Block {
    /// The block, `a.b.c.d/len` or `v6::/len`.
    pub network: String,
    /// ISO country code the country database gives it.
    pub country: String,
    /// AS number the ASN database gives it.
    pub asn: u32,
    /// AS organization the ASN database gives it.
    pub org: String,
}

/// Why the test databases could not be written.
#[derive(Debug, thiserror::Error)]
pub enum MmdbError {
    /// The directory could not be created.
    #[error("cannot create {}: {source}", dir.display())]
    CreateDir {
        /// The directory.
        dir: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
    /// The writer refused a record or the tree.
    #[error("{database_type}: {source}")]
    Encode {
        /// Which database (`GeoLite2-Country`, `GeoLite2-ASN`).
        database_type: String,
        /// What the writer said.
        source: maxminddb_writer::Error,
    },
    /// The database file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    WriteFile {
        /// The file.
        path: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
    /// A block is not `address/length`.
    #[error("bad network {0}")]
    BadNetwork(String),
}

/// Writes `dir/country.mmdb` and `dir/asn.mmdb` for the built-in networks, creating `dir` if needed.
pub fn write_test_databases(dir: &Path) -> Result<(), MmdbError> {
    let blocks: Vec<Block> =
        NETWORKS.iter().map(|&(net, cc, asn, org)| Block { network: net.into(), country: cc.into(), asn, org: org.into() }).collect();
    write_databases(dir, &blocks)
}

/// Writes `dir/country.mmdb` and `dir/asn.mmdb` mapping `blocks`, creating `dir` if needed.
pub fn write_databases(dir: &Path, blocks: &[Block]) -> Result<(), MmdbError> {
    std::fs::create_dir_all(dir).map_err(|source| MmdbError::CreateDir { dir: dir.to_path_buf(), source })?;
    write_db(&dir.join("country.mmdb"), "GeoLite2-Country", blocks, |b| CountryRecord {
        continent: Place::new("AS"),
        country: Place::new(&b.country),
        registered_country: Place::new(&b.country),
    })?;
    write_db(&dir.join("asn.mmdb"), "GeoLite2-ASN", blocks, |b| AsnRecord {
        autonomous_system_number: b.asn,
        autonomous_system_organization: &b.org,
    })
}

fn write_db<'a, T: Serialize>(
    path: &Path,
    database_type: &str,
    blocks: &'a [Block],
    record: impl Fn(&'a Block) -> T,
) -> Result<(), MmdbError> {
    let encode = |source| MmdbError::Encode { database_type: database_type.to_string(), source };
    let mut db = Database::default();
    db.metadata.ip_version = IpVersion::V6;
    db.metadata.database_type = database_type.to_string();
    db.metadata.binary_format_major_version = 2;
    db.metadata.binary_format_minor_version = 0;
    db.metadata.build_epoch = 1_767_225_600;
    db.metadata.languages = vec!["en".to_string()];
    db.metadata.description.insert("en".into(), "Vantage test database".into());
    for block in blocks {
        let value = db.insert_value(record(block)).map_err(encode)?;
        for path in v6_paths(&block.network)? {
            db.insert_node(path, value);
        }
    }
    let mut bytes = Vec::new();
    db.write_to(&mut bytes).map_err(encode)?;
    std::fs::write(path, bytes).map_err(|source| MmdbError::WriteFile { path: path.to_path_buf(), source })
}

/// The IPv6-tree paths for a network: itself for v6; `::a.b.c.d` and `::ffff:a.b.c.d` for v4.
fn v6_paths(net: &str) -> Result<Vec<IpAddrWithMask>, MmdbError> {
    let bad = || MmdbError::BadNetwork(net.to_string());
    let (addr, len) = net.split_once('/').ok_or_else(bad)?;
    let addr: IpAddr = addr.parse().map_err(|_| bad())?;
    let len: u8 = len.parse().map_err(|_| bad())?;
    Ok(match addr {
        IpAddr::V6(_) => vec![IpAddrWithMask::new(addr, len)],
        IpAddr::V4(v4) => {
            let compat = Ipv6Addr::from(u128::from(u32::from(v4)));
            vec![IpAddrWithMask::new(IpAddr::V6(compat), 96 + len), IpAddrWithMask::new(IpAddr::V6(v4.to_ipv6_mapped()), 96 + len)]
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use maxminddb::{geoip2, Reader};

    fn lookup(dir: &Path, ip: &str) -> (Option<String>, Option<u32>, Option<String>) {
        let country = Reader::open_readfile(dir.join("country.mmdb")).unwrap();
        let asn = Reader::open_readfile(dir.join("asn.mmdb")).unwrap();
        let ip: IpAddr = ip.parse().unwrap();
        let c = country.lookup(ip).unwrap().decode::<geoip2::Country<'_>>().unwrap();
        let a = asn.lookup(ip).unwrap().decode::<geoip2::Asn<'_>>().unwrap();
        (
            c.and_then(|c| c.country.iso_code.map(str::to_string)),
            a.as_ref().and_then(|a| a.autonomous_system_number),
            a.and_then(|a| a.autonomous_system_organization.map(str::to_string)),
        )
    }

    #[test]
    fn databases_read_back_with_maxminddb() {
        let dir = std::env::temp_dir().join(format!("vantage-mmdb-{}", std::process::id()));
        write_test_databases(&dir).unwrap();
        for ip in ["127.0.0.1", "127.200.3.4", "::1", "::ffff:127.0.0.1"] {
            let (cc, asn, org) = lookup(&dir, ip);
            assert_eq!(cc.as_deref(), Some("PK"), "{ip}");
            assert_eq!(asn, Some(17557), "{ip}");
            assert_eq!(org.as_deref(), Some("Pakistan Telecommunication Company Limited"));
        }
        let (cc, asn, _) = lookup(&dir, "10.1.2.3");
        assert_eq!((cc.as_deref(), asn), (Some("IR"), Some(58224)));
        assert_eq!(lookup(&dir, "8.8.8.8"), (None, None, None));
        let meta = Reader::open_readfile(dir.join("asn.mmdb")).unwrap().metadata().database_type.clone();
        assert_eq!(meta, "GeoLite2-ASN");
        std::fs::remove_dir_all(&dir).ok();
    }
}
