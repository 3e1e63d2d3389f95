//! A model of the traffic a real deployment sees, shared by `vantage-bench` (ingest and store
//! benchmarks) and `vantage simulate --live`: readers in many countries, on many operators'
//! networks, arriving at random.
//!
//! - **Where reports come from.** [`Model`] holds `networks` client networks (IPv4 /24s and
//!   IPv6 /48s) spread over `countries` countries and `asns` autonomous systems. Country shares
//!   are skewed (the first countries carry most readers), ASN shares within a country are
//!   Zipf-like, and a network's share of reports is Zipf-like over the whole population
//!   ([`ModelSpec::zipf_s`]), so a few big networks (a mobile operator's CGNAT pool) carry much of
//!   the traffic and a long tail carries one report now and then. A report's address is a random
//!   host of its network (1..254 of a /24; a random /64 and interface id of a /48), as readers
//!   behind one /24 are many machines.
//! - **Addresses.** Each ASN gets one contiguous run of IPv4 /24s from `20.0.0.0` upwards and one
//!   IPv6 /24 (`2a00:NN00::/24`, NN its index); every /48 of an ASN sits in its own /40 (the
//!   collector's IPv6 network, `geo::IPV6_NETWORK_PREFIX`), so a model of N networks is N networks
//!   to the collector too. [`Model::blocks`] lists those runs as CIDR blocks with their country
//!   and ASN: the input of the test kit's MaxMind writer (`vantage_testkit::mmdb`), so the
//!   collector's real geo lookup places every address.
//! - **What they report.** [`report_json`]: every target of the list (the default list is 8
//!   platforms x 2 targets), outcomes and times drawn per report (mostly `ok` with log-normal
//!   times, a few `error`s and `timeout`s), browser and connection type drawn from a realistic mix.
//! - **When.** [`Arrivals`]: a Poisson process (exponential gaps) at a given mean rate: readers
//!   arrive independently, so requests bunch and leave gaps, unlike a metronome.
//!
//! ASNs are numbered from 64512 (the private-use range) and their organizations named
//! `Test ISP`, so no figure or database made from the model can be mistaken for a real network.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use vantage_detect::rng::Pcg32;

/// The shape of the modelled population.
#[derive(Debug, Clone)]
pub struct ModelSpec {
    /// Distinct client networks (/24s and /48s) reports come from.
    pub networks: usize,
    /// Countries they are in (at most the 40 of the model).
    pub countries: usize,
    /// Autonomous systems they belong to (at most 256: one IPv6 /24 each; at least `countries`).
    pub asns: usize,
    /// Share of networks that are IPv6 /48s.
    pub ipv6_share: f64,
    /// Zipf exponent of a network's share of reports by rank (0: uniform). 0.8 gives the biggest
    /// of 100,000 networks about 2 % of all reports.
    pub zipf_s: f64,
    /// Seed: the same spec builds the same model.
    pub seed: u64,
}

impl Default for ModelSpec {
    /// What the issue asks of a realistic run: 100,000 networks, 240 ASNs, 40 countries.
    fn default() -> Self {
        ModelSpec { networks: 100_000, countries: 40, asns: 240, ipv6_share: 0.25, zipf_s: 0.8, seed: 1 }
    }
}

impl ModelSpec {
    /// The default population cut to `networks` networks (at most as many ASNs and countries as
    /// networks, so one network is one country and one ASN).
    pub fn with_networks(networks: usize) -> ModelSpec {
        let d = ModelSpec::default();
        ModelSpec { networks: networks.max(1), countries: d.countries.min(networks.max(1)), asns: d.asns.min(networks.max(1)), ..d }
    }
}

/// Countries of the model, biggest first (a newsroom's readers are mostly from a few).
pub(crate) const COUNTRIES: [&str; 40] = [
    "PK", "IN", "BD", "ID", "NG", "EG", "TR", "IR", "BR", "RU", "MX", "PH", "VN", "ET", "KE", "TZ", "MM", "UG", "SD", "IQ", "DZ", "MA",
    "SA", "AF", "UZ", "NP", "LK", "VE", "KZ", "BY", "AZ", "JO", "TH", "MY", "GH", "CM", "ZW", "CU", "LB", "TN",
];

/// First ASN number (RFC 6996 private use).
const FIRST_ASN: u32 = 64_512;
/// First IPv4 /24 handed out: 20.0.0.0.
const FIRST_V4: u32 = 20 << 24;
/// Top 16 bits of every IPv6 address of the model.
const V6_TOP: u128 = 0x2a00;

/// One client network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    /// First address (a /24 or a /48).
    pub prefix: IpAddr,
    /// Index into the model's autonomous systems.
    pub asn: u16,
}

/// One autonomous system of the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asn {
    /// AS number (64512 and up).
    pub number: u32,
    /// ISO country code it serves.
    pub country: &'static str,
    /// Organization name, as the GeoLite2-ASN database carries one.
    pub org: String,
    /// IPv4 /24s it holds: `first_v4` (a /24's first address as an integer) and how many follow.
    first_v4: u32,
    /// Count of its IPv4 /24s.
    v4_count: u32,
    /// Count of its IPv6 /48s.
    v6_count: u32,
}

/// An address block with the country and AS the geo databases give it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// First address.
    pub addr: IpAddr,
    /// Prefix length.
    pub len: u8,
    /// ISO country code.
    pub country: &'static str,
    /// AS number.
    pub asn: u32,
    /// AS organization.
    pub org: String,
}

/// The population: networks in rank order (index 0 is the biggest), their ASNs and countries.
pub struct Model {
    /// Networks, rank 0 first.
    networks: Vec<Network>,
    /// Autonomous systems; [`Network::asn`] indexes it.
    asns: Vec<Asn>,
    /// Cumulative Zipf weights of the networks (last = 1), for sampling by binary search.
    cumulative: Vec<f64>,
}

impl Model {
    /// Builds the population of `spec` (deterministic in its seed).
    pub fn new(spec: &ModelSpec) -> Model {
        let networks = spec.networks.max(1);
        let countries = spec.countries.clamp(1, COUNTRIES.len()).min(networks);
        let n_asns = spec.asns.clamp(countries, 256).min(networks.max(countries));
        let mut rng = Pcg32::new(spec.seed ^ 0x7261_6666_6963);
        // ASN i serves country i % countries, so every country has at least one.
        let mut asns: Vec<Asn> = (0..n_asns)
            .map(|i| {
                let country = COUNTRIES[i % countries];
                Asn {
                    number: FIRST_ASN + i as u32,
                    country,
                    org: format!("Test ISP {country} {}", i / countries + 1),
                    first_v4: 0,
                    v4_count: 0,
                    v6_count: 0,
                }
            })
            .collect();
        // Country weights fall as 1/(rank+1); within a country, its j-th ASN as 1/(j+1).
        let country_w: Vec<f64> = (0..countries).map(|c| 1.0 / (c as f64 + 1.0)).collect();
        let asn_w: Vec<f64> = (0..n_asns).map(|i| country_w[i % countries] / ((i / countries) as f64 + 1.0)).collect();
        let asn_cum = cumulative(&asn_w);
        // Each network picks an ASN (the first n_asns networks take one ASN each, so every ASN has
        // one) and a family; ranks are the order drawn, so rank is independent of the ASN.
        let picks: Vec<(usize, bool)> = (0..networks)
            .map(|n| {
                let a = if n < n_asns { (n * 7919) % n_asns } else { sample(&asn_cum, rng.unit()) };
                (a, rng.unit() < spec.ipv6_share)
            })
            .collect();
        for &(a, v6) in &picks {
            if v6 {
                asns[a].v6_count += 1;
            } else {
                asns[a].v4_count += 1;
            }
        }
        // Contiguous IPv4 runs, ASN after ASN.
        let mut next_v4 = FIRST_V4;
        for a in &mut asns {
            a.first_v4 = next_v4;
            next_v4 += a.v4_count << 8;
        }
        let (mut used_v4, mut used_v6) = (vec![0u32; n_asns], vec![0u32; n_asns]);
        let networks: Vec<Network> = picks
            .iter()
            .map(|&(a, v6)| {
                let prefix = if v6 {
                    used_v6[a] += 1;
                    IpAddr::V6(v6_network(a, used_v6[a] - 1))
                } else {
                    used_v4[a] += 1;
                    IpAddr::V4(Ipv4Addr::from(asns[a].first_v4 + ((used_v4[a] - 1) << 8)))
                };
                Network { prefix, asn: a as u16 }
            })
            .collect();
        let weights: Vec<f64> = (0..networks.len()).map(|r| 1.0 / (r as f64 + 1.0).powf(spec.zipf_s)).collect();
        Model { networks, asns, cumulative: cumulative(&weights) }
    }

    /// The networks, biggest first.
    #[cfg(test)]
    pub(crate) fn networks(&self) -> &[Network] {
        &self.networks
    }

    /// Countries with at least one network.
    #[cfg(test)]
    pub(crate) fn countries(&self) -> usize {
        let mut c: Vec<&str> = self.asns.iter().filter(|a| a.v4_count + a.v6_count > 0).map(|a| a.country).collect();
        c.sort_unstable();
        c.dedup();
        c.len()
    }

    /// Share of all reports that network `rank` sends.
    #[cfg(test)]
    pub(crate) fn share(&self, rank: usize) -> f64 {
        self.cumulative[rank] - if rank == 0 { 0.0 } else { self.cumulative[rank - 1] }
    }

    /// A network drawn by its share of reports (Zipf over rank).
    pub(crate) fn pick(&self, rng: &mut Pcg32) -> &Network {
        &self.networks[sample(&self.cumulative, rng.unit())]
    }

    /// A client address: a random host of a network drawn by share.
    pub fn client(&self, rng: &mut Pcg32) -> (IpAddr, &Network) {
        let net = self.pick(rng);
        let ip = match net.prefix {
            IpAddr::V4(p) => IpAddr::V4(Ipv4Addr::from(u32::from(p) | (1 + rng.next_u32() % 254))),
            // A random /64 of the /48 and a random interface id (SLAAC privacy addresses).
            IpAddr::V6(p) => {
                let host = (u128::from(rng.next_u32() & 0xffff) << 64) | (u128::from(rng.next_u32()) << 32) | u128::from(rng.next_u32());
                IpAddr::V6(Ipv6Addr::from(u128::from(p) | host))
            }
        };
        (ip, net)
    }

    /// The ASN record of a network.
    pub fn asn_of(&self, net: &Network) -> &Asn {
        &self.asns[usize::from(net.asn)]
    }

    /// Every address run of the model as CIDR blocks with country and ASN (for geo databases):
    /// per ASN, its IPv4 run split into aligned blocks and its IPv6 /24.
    pub fn blocks(&self) -> Vec<Block> {
        let mut out = Vec::new();
        for (i, a) in self.asns.iter().enumerate() {
            let block = |addr: IpAddr, len: u8| Block { addr, len, country: a.country, asn: a.number, org: a.org.clone() };
            for (start, len) in cidrs(a.first_v4, a.first_v4 + (a.v4_count << 8)) {
                out.push(block(IpAddr::V4(Ipv4Addr::from(start)), len));
            }
            if a.v6_count > 0 {
                out.push(block(IpAddr::V6(Ipv6Addr::from((V6_TOP << 112) | ((i as u128) << 104))), 24));
            }
        }
        out
    }
}

/// The j-th /48 of ASN `a`: `2a00:AA..::/24` with j in the 16 bits below, so each /48 is its own /40.
fn v6_network(a: usize, j: u32) -> Ipv6Addr {
    assert!(j < 1 << 16, "more than 65,536 IPv6 networks in one ASN");
    Ipv6Addr::from((V6_TOP << 112) | ((a as u128) << 104) | (u128::from(j) << 88))
}

/// Aligned CIDR blocks covering [start, end) of the IPv4 space.
fn cidrs(mut start: u32, end: u32) -> Vec<(u32, u8)> {
    let mut out = Vec::new();
    while start < end {
        let align = if start == 0 { 32 } else { start.trailing_zeros() };
        let fit = 31 - (end - start).leading_zeros();
        let bits = align.min(fit);
        out.push((start, (32 - bits) as u8));
        start += 1 << bits;
    }
    out
}

fn cumulative(weights: &[f64]) -> Vec<f64> {
    let total: f64 = weights.iter().sum();
    let mut acc = 0.0;
    let mut out: Vec<f64> = weights
        .iter()
        .map(|w| {
            acc += w / total;
            acc
        })
        .collect();
    if let Some(last) = out.last_mut() {
        *last = 1.0;
    }
    out
}

/// Index of the first cumulative weight above `u` (u in [0, 1)).
fn sample(cumulative: &[f64], u: f64) -> usize {
    cumulative.partition_point(|c| *c <= u).min(cumulative.len() - 1)
}

/// Arrival times of a Poisson process at `rate` a second: readers arrive independently.
pub struct Arrivals {
    /// Mean arrivals a second.
    rate: f64,
    /// Seconds from the start of the last arrival.
    at: f64,
    /// Draws the gaps.
    rng: Pcg32,
}

impl Arrivals {
    /// A process at `rate` a second starting at 0.
    pub fn new(rate: f64, seed: u64) -> Arrivals {
        Arrivals { rate: rate.max(f64::MIN_POSITIVE), at: 0.0, rng: Pcg32::new(seed ^ 0x6172_7269_7665) }
    }
}

impl Iterator for Arrivals {
    type Item = f64;
    /// Seconds from the start of the next arrival.
    fn next(&mut self) -> Option<f64> {
        self.at += -(1.0 - self.rng.unit()).ln() / self.rate;
        Some(self.at)
    }
}

/// A synthetic report (docs/protocol.md §1) with id `id` measuring every one of `targets`:
/// outcomes and times drawn per target, browser and connection drawn from a realistic mix.
/// `id` is put in verbatim, so a placeholder can be swapped later (the bench's wrk script).
pub fn report_json(rng: &mut Pcg32, id: &str, targets: &[String], targets_version: &str) -> String {
    let ms = |rng: &mut Pcg32, median: f64| ((median * (0.5 * rng.normal()).exp()).clamp(1.0, 14_999.0) * 10.0).round() / 10.0;
    let measurements: Vec<String> = targets
        .iter()
        .map(|t| {
            let u = rng.unit();
            let (outcome, ms) = match u {
                u if u < 0.01 => ("timeout", 15_000.0),
                u if u < 0.03 => ("error", ms(rng, 60.0)),
                _ => ("ok", ms(rng, 180.0)),
            };
            format!("{{\"target\":\"{t}\",\"outcome\":\"{outcome}\",\"ms\":{ms}}}")
        })
        .collect();
    let (family, major) = match rng.unit() {
        u if u < 0.70 => ("chromium", 120 + rng.next_u32() % 12),
        u if u < 0.85 => ("safari", 16 + rng.next_u32() % 3),
        u if u < 0.95 => ("firefox", 120 + rng.next_u32() % 12),
        _ => ("other", 1),
    };
    let net = match rng.unit() {
        u if u < 0.55 => "\"type\":\"cellular\",\"effective\":\"4g\"",
        u if u < 0.90 => "\"type\":\"wifi\",\"effective\":\"4g\"",
        _ => "\"effective\":\"3g\"",
    };
    let control = ms(rng, 45.0);
    format!(
        "{{\"v\":1,\"id\":\"{id}\",\"site\":\"sim\",\"widget\":\"0.1.0\",\"targets_version\":\"{targets_version}\",\"age_s\":{age},\
\"browser\":{{\"family\":\"{family}\",\"major\":{major}}},\"net\":{{{net},\"rtt_ms\":{rtt}}},\
\"control\":{{\"target\":\"control.self\",\"outcome\":\"ok\",\"ms\":{control}}},\"measurements\":[{}]}}",
        measurements.join(","),
        age = rng.next_u32() % 3,
        rtt = 25 * (1 + rng.next_u32() % 12),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn the_default_population_is_as_wide_as_the_issue_asks() {
        let m = Model::new(&ModelSpec::default());
        assert_eq!(m.networks().len(), 100_000);
        let asns: HashSet<u16> = m.networks().iter().map(|n| n.asn).collect();
        assert!(asns.len() >= 200, "{} ASNs", asns.len());
        assert!(m.countries() >= 30, "{} countries", m.countries());
        let v6 = m.networks().iter().filter(|n| n.prefix.is_ipv6()).count();
        assert!((20_000..30_000).contains(&v6), "{v6} IPv6 networks");
        let distinct: HashSet<IpAddr> = m.networks().iter().map(|n| n.prefix).collect();
        assert_eq!(distinct.len(), 100_000, "every network has its own prefix");
        // Zipf-like: the head is big but a long way from all of it.
        assert!((0.01..0.05).contains(&m.share(0)), "{}", m.share(0));
        assert!(m.share(0) > 100.0 * m.share(99_999));
    }

    #[test]
    fn every_address_lies_in_a_block_of_its_own_asn() {
        let m = Model::new(&ModelSpec { networks: 5_000, ..ModelSpec::default() });
        let blocks = m.blocks();
        let inside = |ip: IpAddr, b: &Block| match (ip, b.addr) {
            (IpAddr::V4(i), IpAddr::V4(p)) => u32::from(i) >> (32 - b.len) == u32::from(p) >> (32 - b.len),
            (IpAddr::V6(i), IpAddr::V6(p)) => u128::from(i) >> (128 - b.len) == u128::from(p) >> (128 - b.len),
            _ => false,
        };
        let mut rng = Pcg32::new(3);
        for _ in 0..2_000 {
            let (ip, net) = m.client(&mut rng);
            let owners: Vec<&Block> = blocks.iter().filter(|b| inside(ip, b)).collect();
            assert_eq!(owners.len(), 1, "{ip}");
            assert_eq!(owners[0].asn, m.asn_of(net).number, "{ip}");
        }
    }

    #[test]
    fn cidrs_cover_a_run_exactly() {
        let blocks = cidrs(FIRST_V4 + (3 << 8), FIRST_V4 + (300 << 8));
        let covered: u64 = blocks.iter().map(|(_, len)| 1u64 << (32 - len)).sum();
        assert_eq!(covered, 297 << 8);
        assert!(blocks.iter().all(|(s, len)| s.trailing_zeros() >= 32 - u32::from(*len)));
    }

    #[test]
    fn reports_parse_and_arrivals_keep_their_rate() {
        let targets: Vec<String> = ["x.main", "x.cdn", "youtube.main"].iter().map(|s| s.to_string()).collect();
        let mut rng = Pcg32::new(9);
        for i in 0..200 {
            let body = report_json(&mut rng, &format!("{i:032x}"), &targets, "v1");
            let r = vantage_protocol::parse_report(body.as_bytes(), |_| true).unwrap_or_else(|e| panic!("{e:?}: {body}"));
            assert_eq!(r.measurements.len(), 3);
        }
        let last = Arrivals::new(1_000.0, 1).take(100_000).last().unwrap();
        assert!((95.0..105.0).contains(&last), "100,000 arrivals at 1,000/s took {last} s");
    }
}
