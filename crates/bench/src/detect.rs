//! Detection quality on `vantage-detect`'s synthetic populations (its scenario generator):
//! time to detect injected blocks and slowdowns, false incidents per simulated quiet week,
//! precision and recall over every replay.

use crate::report::{Figure, Goal};
use crate::util;
use std::time::Instant;
use vantage_detect::scenario::{AsnSpec, Event, Scenario};
use vantage_detect::{Country, DetectInput, Detector, DetectorConfig, Incident, Outcome, Platform, Rollups};

/// 2026-11-02T00:00Z in unix minutes: replays start at midnight UTC.
const DAY0: i64 = 29_892_960;
/// Events start at 10:00, after ten hours of normal traffic to learn from.
const ONSET: i64 = DAY0 + 600;
const LENGTH: i64 = 60;
const ASNS: [u32; 4] = [17557, 45595, 9541, 23674];

/// The platform every replay measures.
fn x() -> Platform {
    Platform::try_from("x").expect("a valid platform name")
}

/// The country every replay is in.
fn pk() -> Country {
    Country::try_from("PK").expect("a valid country code")
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    FullBlock,
    HalfOneAsn,
    Slowdown,
    /// A negative case: one /24 floods failures; nothing should open.
    Flood,
}

impl Kind {
    fn event(self) -> Event {
        match self {
            Kind::FullBlock => Event::Block { asn: None, start: ONSET, end: ONSET + LENGTH, fail: 1.0 },
            Kind::HalfOneAsn => Event::Block { asn: Some(ASNS[1]), start: ONSET, end: ONSET + LENGTH, fail: 0.5 },
            Kind::Slowdown => Event::Slowdown { asn: None, start: ONSET, end: ONSET + LENGTH, factor: 5.0 },
            Kind::Flood => Event::Flood { asn: ASNS[0], network: 0xdead_beef, start: ONSET, end: ONSET + LENGTH, per_minute: 2000 },
        }
    }
    /// Whether an incident describes this event (right cell, during it).
    fn explains(self, inc: &Incident) -> bool {
        let during = inc.start_minute >= ONSET && inc.start_minute < ONSET + LENGTH;
        during
            && match self {
                Kind::FullBlock | Kind::Slowdown => true,
                Kind::HalfOneAsn => inc.asn == Some(ASNS[1]) || (inc.asn.is_none() && inc.affected_asns == vec![ASNS[1]]),
                Kind::Flood => false,
            }
    }
    /// The incident that counts as detection: the country cell, or the victim ASN.
    fn detects(self, inc: &Incident) -> bool {
        self.explains(inc)
            && match self {
                Kind::HalfOneAsn => inc.asn == Some(ASNS[1]),
                _ => inc.asn.is_none(),
            }
    }
}

/// Replays minutes `from..to` through rollups and a fresh detector; every incident opened, with
/// the step minute it opened at.
fn replay(s: &mut Scenario, from: i64, to: i64) -> (Vec<(i64, Incident)>, u64) {
    let mut det = Detector::new(DetectorConfig::default());
    let keep = det.config().retention_minutes();
    let (mut rollups, mut buf, mut opened, mut reports) = (Rollups::new(), Vec::new(), Vec::new(), 0);
    for t in from..to {
        reports += s.feed(t, &mut rollups, &mut buf);
        let r = det.step(t, &rollups);
        opened.extend(r.opened.into_iter().map(|i| (t, i)));
        rollups.evict_before(t - keep + 1);
    }
    (opened, reports)
}

fn country(seed: u64, kind: Kind) -> Scenario {
    let asns = ASNS.iter().map(|&asn| AsnSpec { asn, per_minute: 60.0, networks: 300 }).collect();
    let mut s = Scenario::new(seed, x(), pk(), asns);
    s.events = vec![kind.event()];
    s
}

/// A quiet population with a daily swing and single-visitor outages (the detector tests' fortnight).
fn quiet(seed: u64) -> Scenario {
    let asns = vec![
        AsnSpec { asn: 17557, per_minute: 60.0, networks: 400 },
        AsnSpec { asn: 45595, per_minute: 25.0, networks: 200 },
        AsnSpec { asn: 9541, per_minute: 8.0, networks: 80 },
    ];
    let mut s = Scenario::new(seed, x(), pk(), asns);
    s.diurnal = true;
    s.visitor_outages_per_day = 24.0;
    s
}

/// The issue 9 threat-model figure: in the full-block scenario's country (4 ASNs x 60 reports a
/// minute, ten hours of history), an attacker whose /24s each post two failing reports a minute,
/// spread over two ASNs, from 10:00. Returns the minutes until a false country incident opens
/// with `nets` such /24s, if one does within half an hour.
fn false_country_incident(seed: u64, nets: u32) -> Option<i64> {
    let mut s = country(seed, Kind::FullBlock);
    s.events.clear();
    let mut det = Detector::new(DetectorConfig::default());
    let keep = det.config().retention_minutes();
    let (mut rollups, mut buf) = (Rollups::new(), Vec::new());
    let (platform, country) = (x(), pk());
    for t in DAY0..ONSET + 30 {
        s.feed(t, &mut rollups, &mut buf);
        if t >= ONSET {
            for n in 0..nets {
                let asn = ASNS[n as usize % 2];
                let o = DetectInput {
                    minute: t,
                    country,
                    asn,
                    network: 0x5eed_0000 + n,
                    platform: platform.clone(),
                    outcome: Outcome::Error,
                    ms: 80.0,
                    control_ok: true,
                    control_ms: 40.0,
                };
                rollups.add_n(&o, 2);
            }
        }
        let r = det.step(t, &rollups);
        if r.opened.iter().any(|i| i.asn.is_none()) {
            return Some(t - ONSET + 1);
        }
        rollups.evict_before(t - keep + 1);
    }
    None
}

pub(crate) fn run(smoke: bool, figures: &mut Vec<Figure>) -> anyhow::Result<()> {
    let seeds: Vec<u64> = if smoke { vec![1] } else { (1..=5).collect() };
    let quiet_days: i64 = if smoke { 1 } else { 7 };
    let quiet_seeds: Vec<u64> = if smoke { vec![100] } else { vec![100, 101] };
    let kinds = [Kind::FullBlock, Kind::HalfOneAsn, Kind::Slowdown, Kind::Flood];
    let pb = util::bar((seeds.len() * kinds.len() + quiet_seeds.len()) as u64, "detect");
    let started = Instant::now();
    let mut minutes = 0i64;
    let (mut true_incidents, mut all_incidents, mut injected, mut detected) = (0u64, 0u64, 0u64, 0u64);
    let mut ttd: [Vec<f64>; 3] = Default::default();
    for &seed in &seeds {
        for (k, &kind) in kinds.iter().enumerate() {
            pb.set_message(format!("{kind:?} seed {seed}"));
            let (opened, _) = replay(&mut country(seed, kind), DAY0, ONSET + LENGTH + 30);
            minutes += ONSET + LENGTH + 30 - DAY0;
            all_incidents += opened.len() as u64;
            true_incidents += opened.iter().filter(|(_, i)| kind.explains(i)).count() as u64;
            if !matches!(kind, Kind::Flood) {
                injected += 1;
                if let Some((t, _)) = opened.iter().find(|(_, i)| kind.detects(i)) {
                    detected += 1;
                    ttd[k].push((t - ONSET + 1) as f64);
                }
            }
            pb.inc(1);
        }
    }
    let mut quiet_incidents = 0u64;
    let mut quiet_reports = 0u64;
    for &seed in &quiet_seeds {
        pb.set_message(format!("quiet {quiet_days} d seed {seed}"));
        let (opened, reports) = replay(&mut quiet(seed), DAY0, DAY0 + quiet_days * 1440);
        minutes += quiet_days * 1440;
        quiet_incidents += opened.len() as u64;
        quiet_reports += reports;
        pb.inc(1);
    }
    all_incidents += quiet_incidents;
    pb.finish_and_clear();
    let weeks = (quiet_days * quiet_seeds.len() as i64) as f64 / 7.0;
    let elapsed = started.elapsed().as_secs_f64();

    let n = seeds.len();
    let missed = |k: usize| if ttd[k].len() < n { format!("; missed in {} of {n} seeds", n - ttd[k].len()) } else { String::new() };
    let ttd_fig = |key: &str, name: &str, k: usize, goal: f64, what: &str| {
        let v = if ttd[k].len() == n { util::median(&ttd[k]) } else { f64::INFINITY };
        Figure::new("detect", key, name, "min", v).goal(Goal::at_most(goal)).note(format!(
            "{what}; median over {n} seeds (all: {:?}){}; goal from crates/detect/tests/scenarios.rs",
            ttd[k],
            missed(k)
        ))
    };
    figures.push(ttd_fig(
        "detect.ttd_full_block",
        "time to detect: country-wide full block",
        0,
        3.0,
        "4 ASNs x 60 reports/min, block from 10:00, country incident",
    ));
    figures.push(ttd_fig("detect.ttd_half_one_asn", "time to detect: 50% failures on one ASN", 1, 6.0, "ASN incident"));
    figures.push(ttd_fig("detect.ttd_slowdown", "time to detect: 5x slowdown (degraded)", 2, 6.0, "country incident, state degraded"));
    figures.push(
        Figure::new("detect", "detect.false_per_week", "false incidents per simulated quiet week", "incidents/week", quiet_incidents as f64 / weeks)
            .goal(Goal::at_most(0.0))
            .note(format!(
                "{} quiet days over {} seeds ({quiet_reports} reports): diurnal traffic, 24 single-visitor outages a day, 2% background failures, blockers, bad links",
                quiet_days * quiet_seeds.len() as i64,
                quiet_seeds.len()
            )),
    );
    figures.push(
        Figure::new("detect", "detect.precision", "precision: incidents that match an injected event", "ratio", if all_incidents == 0 { 1.0 } else { true_incidents as f64 / all_incidents as f64 })
            .note(format!("{true_incidents} of {all_incidents} incidents over every replay (events, floods, quiet days); ASN incidents of a country-wide event count as true")),
    );
    figures.push(
        Figure::new("detect", "detect.recall", "recall: injected events detected", "ratio", detected as f64 / injected.max(1) as f64)
            .note(format!("{detected} of {injected} events (full block, 50% on one ASN, 5x slowdown; {n} seeds each)")),
    );
    let mut cost = None;
    for nets in (10..=300).step_by(10) {
        if let Some(minutes) = false_country_incident(1, nets) {
            cost = Some((nets, minutes));
            break;
        }
    }
    let (nets, after) = cost.unwrap_or((u32::MAX, 0));
    figures.push(
        Figure::new("detect", "detect.false_country_cost", "fewest attacker /24s (in 2 ASNs) that open a false country incident", "networks", nets as f64).note(format!(
            "each /24 posting 2 failing reports a minute into the full-block scenario's country (4 ASNs x 60 reports/min, 10 h of history); opened after {after} min; one ASN alone never opens a country incident"
        )),
    );
    figures.push(
        Figure::new(
            "detect",
            "detect.replay_speed",
            "replay speed (generator + rollups + detector)",
            "sim min/s",
            minutes as f64 / elapsed,
        )
        .note(format!("{minutes} simulated minutes in {elapsed:.1} s")),
    );
    Ok(())
}
