//! Issue 9's attacks on the detector itself, replayed minute by minute through rollups: thin
//! evidence in a fresh cell, a cell that falls silent, a censor's `ok` flood, slow baseline
//! poisoning, and the cross-country comparison. The same attacks run through the real
//! collector in `crates/collector/tests/it/adversary/detection.rs`.

use vantage_detect::scenario::{AsnSpec, Scenario};
use vantage_detect::{Country, DetectInput, Detector, DetectorConfig, EndReason, Incident, Outcome, Platform, Rollups, StepResult};

/// 2026-11-02T00:00Z in unix minutes.
const DAY0: i64 = 29_892_960;
/// Pakistan's ASNs in these tests (the collector's test MaxMind databases use the same).
const ASNS: [u32; 5] = [17557, 45595, 9541, 23674, 24499];

/// One report; `net` is the network hash (distinct per /24).
fn report(t: i64, country: &str, asn: u32, net: u32, outcome: Outcome) -> DetectInput {
    let fail = outcome != Outcome::Ok;
    DetectInput {
        minute: t,
        country: Country::try_from(country).unwrap(),
        asn,
        network: asn.wrapping_mul(7919) ^ net,
        platform: Platform::try_from("x").unwrap(),
        outcome,
        ms: if fail { 80.0 } else { 200.0 },
        control_ok: true,
        control_ms: 40.0,
    }
}

/// Rollups and a detector stepped as live, with everything they said.
struct Run {
    det: Detector,
    rollups: Rollups,
    opened: Vec<(i64, Incident)>,
    closed: Vec<Incident>,
    last: StepResult,
    serial: u64,
}

impl Run {
    fn new() -> Run {
        Run {
            det: Detector::new(DetectorConfig::default()),
            rollups: Rollups::new(),
            opened: Vec::new(),
            closed: Vec::new(),
            last: StepResult::default(),
            serial: 0,
        }
    }

    /// Ordinary traffic of minute `t` in `country`: `per_asn` reports a minute in each of the
    /// five ASNs, over 40 /24s each, 3% failing.
    fn normal(&mut self, t: i64, country: &str, per_asn: u32) {
        for asn in ASNS {
            for k in 0..per_asn {
                self.serial += 1;
                let fail = (self.serial * 37) % 100 < 3;
                let o = report(t, country, asn, (t as u32 * per_asn + k) % 40, if fail { Outcome::Error } else { Outcome::Ok });
                self.rollups.add_n(&o, 1);
            }
        }
    }

    fn add(&mut self, o: DetectInput, n: u32) {
        self.rollups.add_n(&o, n);
    }

    fn step(&mut self, t: i64) {
        let r = self.det.step(t, &self.rollups);
        self.opened.extend(r.opened.iter().map(|i| (t, i.clone())));
        self.closed.extend(r.closed.iter().cloned());
        self.last = r;
        self.rollups.evict_before(t - self.det.config().retention_minutes() + 1);
    }

    fn country_incident(&self) -> Option<Incident> {
        self.det.open_incidents().into_iter().find(|i| i.asn.is_none())
    }
}

/// Three hours of ordinary PK traffic ending before `to`.
fn with_history(to: i64) -> Run {
    let mut run = Run::new();
    for t in to - 180..to {
        run.normal(t, "PK", 6);
        run.step(t);
    }
    run
}

/// Failing reports of minute `t`: two from each of `nets` /24s, spread over the first `asns` ASNs.
fn block(run: &mut Run, t: i64, nets: u32, asns: usize) {
    for n in 0..nets {
        run.add(report(t, "PK", ASNS[n as usize % asns], 500 + n, Outcome::Error), 2);
    }
}

#[test]
fn ten_failing_reports_from_ten_networks_in_a_fresh_cell_open_nothing() {
    let mut run = Run::new();
    let t0 = DAY0 + 600;
    for t in t0..t0 + 10 {
        if t < t0 + 2 {
            for n in 0..10 {
                run.add(report(t, "PK", ASNS[0], n, Outcome::Error), 1);
            }
        }
        run.step(t);
    }
    assert!(run.opened.is_empty(), "{:?}", run.opened);
    // The same cell, once it has history, opens on a broad block (the rule is not a blindfold).
    let mut run = with_history(t0);
    for t in t0..t0 + 4 {
        block(&mut run, t, 30, 3);
        run.step(t);
    }
    let inc = run.country_incident().expect("a block from 30 networks in 3 ASNs opens");
    assert_eq!(inc.affected_asns.len(), 3);
    assert!(inc.asns >= 3 && inc.failing_networks >= 30, "{inc:?}");
    println!("30 networks in 3 ASNs: confidence {:.2}", inc.confidence);
    assert!(inc.confidence > 0.7 && inc.confidence < 0.8, "{inc:?}");
}

#[test]
fn one_asn_failing_alone_is_an_asn_incident_not_a_country_one() {
    let t0 = DAY0 + 600;
    let mut run = with_history(t0);
    for t in t0..t0 + 6 {
        run.normal(t, "PK", 6);
        block(&mut run, t, 30, 1);
        run.step(t);
    }
    let asns: Vec<Option<u32>> = run.det.open_incidents().iter().map(|i| i.asn).collect();
    assert_eq!(asns, vec![Some(ASNS[0])], "{:?}", run.det.open_incidents());
}

#[test]
fn an_incident_whose_cell_falls_silent_ends_with_no_data() {
    let t0 = DAY0 + 600;
    let mut run = with_history(t0);
    for t in t0..t0 + 5 {
        block(&mut run, t, 30, 3);
        run.step(t);
    }
    assert!(run.country_incident().is_some());
    for t in t0 + 5..t0 + 40 {
        run.step(t);
    }
    assert!(run.det.open_incidents().is_empty(), "{:?}", run.det.open_incidents());
    let closed = run.closed.iter().find(|i| i.asn.is_none()).expect("closed");
    assert_eq!(closed.end_reason, Some(EndReason::NoData));
    // The last report was at t0 + 4; windows read insufficient from t0 + 9 (4 reports left).
    let silent = closed.end_minute.unwrap();
    assert!((t0 + 5..=t0 + 10).contains(&silent), "ended at {} (t0 {t0})", silent);
    // A block that lifts while readers keep reading ends as recovered.
    let mut run = with_history(t0);
    for t in t0..t0 + 20 {
        run.normal(t, "PK", 6);
        if t < t0 + 5 {
            block(&mut run, t, 30, 3);
        }
        run.step(t);
    }
    let closed = run.closed.iter().find(|i| i.asn.is_none()).expect("closed");
    assert_eq!(closed.end_reason, Some(EndReason::Recovered));
}

#[test]
fn an_ok_flood_from_one_asn_is_flagged_and_does_not_close_the_incident() {
    let t0 = DAY0 + 600;
    let mut run = with_history(t0);
    for t in t0..t0 + 20 {
        block(&mut run, t, 30, 3);
        if t >= t0 + 4 {
            // The censor: 200 ok reports a minute from 200 /24s of its own ASN.
            for n in 0..200 {
                run.add(report(t, "PK", ASNS[3], 2000 + n, Outcome::Ok), 1);
            }
        }
        run.step(t);
    }
    let inc = run.country_incident().expect("still open");
    assert_eq!(inc.suspicious_asns, vec![ASNS[3]]);
    assert!(!run.closed.iter().any(|i| i.asn.is_none()), "the country incident was closed: {:?}", run.closed);
}

/// The slow poisoner: during 12:00-12:55 each day it adds failing and ok reports from 400 /24s
/// in each of three ASNs, failing at `rate` of the day (each day just under what the old
/// detector, whose baseline had followed, would flag), doubling its volume daily up to 8x.
fn poison(run: &mut Run, t: i64, schedule: &[f64]) {
    let day = (t - DAY0) / 1440;
    let minute = (t - DAY0) % 1440;
    if day < 1 || day as usize > schedule.len() || !(720..775).contains(&minute) {
        return;
    }
    let rate = schedule[day as usize - 1];
    let n = 15u32 << (day - 1).min(3);
    let failing = (rate * n as f64).round() as u32;
    for asn in &ASNS[..3] {
        for k in 0..n {
            let net = 1000 + ((t as u32).wrapping_mul(n) + k) % 400;
            run.add(report(t, "PK", *asn, net, if k < failing { Outcome::Error } else { Outcome::Ok }), 1);
        }
    }
}

/// The schedule of [`poison`]: under the detector before issue 9 it lifted the 12:00 baseline
/// from 3% to 40% in seven days without a country incident, so a later block failing half of
/// all requests read normal.
pub const POISON_SCHEDULE: [f64; 7] = [0.12, 0.2, 0.28, 0.36, 0.44, 0.5, 0.54];

#[test]
fn slow_baseline_poisoning_does_not_hide_a_later_block() {
    let mut run = Run::new();
    let onset = DAY0 + 8 * 1440 + 730;
    for t in DAY0..onset + 10 {
        for asn in ASNS {
            for k in 0..2u32 {
                run.serial += 1;
                let fail_pct = if t >= onset { 50 } else { 3 };
                let fail = (run.serial * 37) % 100 < fail_pct;
                run.add(report(t, "PK", asn, (t as u32 * 2 + k) % 40, if fail { Outcome::Error } else { Outcome::Ok }), 1);
            }
        }
        poison(&mut run, t, &POISON_SCHEDULE);
        run.step(t);
    }
    let base = run.last.statuses.iter().find(|s| s.asn.is_none()).unwrap().baseline_success_rate;
    println!("after a week of poisoning the 12:00 baseline reads {:.3} success", base);
    assert!(base > 0.9, "the baseline was walked up: {base}");
    let (t, inc) = run.opened.iter().find(|(t, i)| i.asn.is_none() && *t >= onset).expect("the block opens a country incident");
    println!("50% block after poisoning: country incident after {} min", t - onset + 1);
    assert!(t - onset < 6, "opened {} min after onset: {inc:?}", t - onset + 1);
}

#[test]
fn failing_only_here_is_blocked_failing_everywhere_is_broken() {
    let t0 = DAY0 + 600;
    let others: [&str; 3] = ["IN", "BD", "NP"];
    // Other countries have history; PK has none, so only the cross-country rule can open.
    let mut run = Run::new();
    for t in t0 - 180..t0 + 5 {
        for c in others {
            run.normal(t, c, 6);
        }
        if t >= t0 {
            block(&mut run, t, 30, 3);
        }
        run.step(t);
    }
    let inc = run.country_incident().unwrap_or_else(|| {
        panic!("failing only in PK: blocked: {:?}", run.last.statuses.iter().filter(|s| s.country.as_str() == "PK").collect::<Vec<_>>())
    });
    assert!(inc.cross_country && inc.confidence < 0.5, "{inc:?}");
    // Everywhere failing: broken, not an incident anywhere.
    let mut run = Run::new();
    let everywhere: [&str; 4] = ["PK", "IN", "BD", "NP"];
    for t in t0 - 180..t0 + 10 {
        for c in everywhere {
            run.normal(t, c, 6);
            if t >= t0 {
                for n in 0..30u32 {
                    run.add(report(t, c, ASNS[n as usize % 3], 500 + n, Outcome::Error), 2);
                }
            }
        }
        run.step(t);
    }
    let countries: Vec<_> = run.opened.iter().filter(|(_, i)| i.asn.is_none()).map(|(_, i)| i.country).collect();
    assert!(countries.is_empty(), "a global outage is not a block: {countries:?}");
    let pk = run.last.statuses.iter().find(|s| s.asn.is_none() && s.country.as_str() == "PK").unwrap();
    assert!(pk.global && pk.held == Some(vantage_detect::Held::Global), "{pk:?}");
}

/// The threat-model figure: against the scenario tests' country (four ASNs, 60 reports a minute
/// each, ten hours of history), the fewest attacker /24s, posting two failing reports each a
/// minute over two ASNs, that open a false country incident, and how long it takes.
#[test]
fn what_a_false_country_incident_costs() {
    let onset = DAY0 + 600;
    let opens = |nets: u32, asns: usize| -> Option<i64> {
        let specs = ASNS[..4].iter().map(|&asn| AsnSpec { asn, per_minute: 60.0, networks: 300 }).collect();
        let mut s = Scenario::new(11, Platform::try_from("x").unwrap(), Country::try_from("PK").unwrap(), specs);
        let mut run = Run::new();
        let mut buf = Vec::new();
        for t in DAY0..onset + 30 {
            s.feed(t, &mut run.rollups, &mut buf);
            if t >= onset {
                for n in 0..nets {
                    run.add(report(t, "PK", ASNS[n as usize % asns], 9000 + n, Outcome::Error), 2);
                }
            }
            run.step(t);
            if let Some((t, _)) = run.opened.iter().find(|(_, i)| i.asn.is_none()) {
                return Some(t - onset + 1);
            }
        }
        None
    };
    let mut least = None;
    for nets in [10u32, 20, 30, 40, 50, 60, 70, 80, 90, 100, 120, 150, 200, 300] {
        if let Some(w) = opens(nets, 2) {
            least = Some((nets, w));
            break;
        }
    }
    let (nets, minutes) = least.expect("some attack opens");
    println!("false country incident: at least {nets} /24s in 2 ASNs posting 2 failures a minute each, for {minutes} min");
    assert!(opens(nets, 1).is_none(), "one ASN alone never opens a country incident");
    assert!(nets >= 10, "{nets}");
}
