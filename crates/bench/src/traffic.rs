//! The realistic traffic of the benchmarks: the model itself is `vantage_collector::traffic`
//! (shared with `vantage simulate --live`); this module turns it into what the harness feeds a
//! server: geo databases that place every modelled address, and a sample of requests (client
//! address and report body) in arrival order.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
pub(crate) use vantage_collector::traffic::{report_json, Arrivals, Model, ModelSpec};
use vantage_detect::rng::Pcg32;

/// Where [`write_geo`] put the two databases.
pub(crate) struct GeoFiles {
    /// GeoLite2-Country layout.
    pub country: PathBuf,
    /// GeoLite2-ASN layout.
    pub asn: PathBuf,
}

/// Writes `dir/country.mmdb` and `dir/asn.mmdb` mapping every block of `model` (the test kit's
/// MaxMind writer), so the collector's own lookup gives each client its country and ASN.
pub(crate) fn write_geo(model: &Model, dir: &Path) -> anyhow::Result<GeoFiles> {
    let blocks: Vec<vantage_testkit::mmdb::Block> = model
        .blocks()
        .into_iter()
        .map(|b| vantage_testkit::mmdb::Block {
            network: format!("{}/{}", b.addr, b.len),
            country: b.country.into(),
            asn: b.asn,
            org: b.org,
        })
        .collect();
    vantage_testkit::mmdb::write_databases(dir, &blocks)?;
    Ok(GeoFiles { country: dir.join("country.mmdb"), asn: dir.join("asn.mmdb") })
}

/// Requests drawn from the model in arrival order: a client address each, and report bodies
/// with `@ID@` where the request's unique id goes.
pub(crate) struct Sample {
    /// Client addresses, one a request (the `X-Forwarded-For` a proxy would add).
    pub clients: Vec<IpAddr>,
    /// Distinct bodies, used round-robin (drawing a body per request would cost the generator
    /// more than the server; a few hundred already vary every field).
    pub bodies: Vec<String>,
    /// Distinct networks among `clients`.
    pub networks: usize,
}

/// `requests` requests from `model`, bodies measuring `targets` (deterministic in `seed`).
pub(crate) fn sample(model: &Model, requests: usize, targets: &[String], targets_version: &str, seed: u64) -> Sample {
    let mut rng = Pcg32::new(seed);
    let mut seen = std::collections::HashSet::new();
    let clients: Vec<IpAddr> = (0..requests)
        .map(|_| {
            let (ip, net) = model.client(&mut rng);
            seen.insert(net.prefix);
            ip
        })
        .collect();
    let bodies = (0..256).map(|_| report_json(&mut rng, "@ID@", targets, targets_version)).collect();
    Sample { clients, bodies, networks: seen.len() }
}

/// One address, as today's single-client runs post: every request from `ip`.
pub(crate) fn single_client(ip: IpAddr, requests: usize, targets: &[String], targets_version: &str) -> Sample {
    let mut s = sample(&Model::new(&ModelSpec::with_networks(1)), 0, targets, targets_version, 7);
    s.clients = vec![ip; requests.max(1)];
    s.networks = 1;
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use vantage_collector::geo::Geo;

    /// The collector's own lookup, on databases written from the model, places every sampled
    /// client in its network's country and ASN.
    #[test]
    fn the_collectors_geo_lookup_places_every_modelled_client() {
        let model = Model::new(&ModelSpec::default());
        let dir = tempfile::tempdir().unwrap();
        let files = write_geo(&model, dir.path()).unwrap();
        let geo = Geo::open(Some(&files.country), Some(&files.asn), None).unwrap();
        let mut rng = Pcg32::new(11);
        let headers = axum::http::HeaderMap::new();
        for _ in 0..5_000 {
            let (ip, net) = model.client(&mut rng);
            let asn = model.asn_of(net);
            assert_eq!(geo.locate(Some(ip), &headers, false), (asn.country.to_string(), asn.number), "{ip}");
        }
        assert_eq!(geo.locate(Some("127.0.0.1".parse().unwrap()), &headers, false), ("ZZ".to_string(), 0));
    }

    #[test]
    fn a_sample_spreads_over_many_networks() {
        let model = Model::new(&ModelSpec::default());
        let s = sample(&model, 200_000, &["x.main".to_string()], "v", 1);
        assert!(s.networks > 50_000, "{} networks in 200,000 requests", s.networks);
        assert!(s.bodies.iter().all(|b| b.contains("\"id\":\"@ID@\"")));
    }
}
