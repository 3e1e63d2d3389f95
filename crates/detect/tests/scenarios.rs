//! Replays synthetic traffic minute by minute through rollups and the detector, as live data
//! would flow, and checks the targets. `--nocapture` prints the time to detect.

use vantage_detect::scenario::{AsnSpec, Event, Scenario};
use vantage_detect::{Country, Detector, DetectorConfig, Incident, Platform, Rollups, State, StepResult};

/// 2026-11-02T00:00Z in unix minutes: scenarios start at midnight UTC.
const DAY0: i64 = 29_892_960;
/// Onset of injected events: 10:00 on day 0, after ten hours of normal traffic to learn from.
const ONSET: i64 = DAY0 + 600;
const ASNS: [u32; 4] = [17557, 45595, 9541, 23674];

/// Four ASNs at 60 reports a minute each, 300 /24s apiece.
fn country(seed: u64, events: Vec<Event>) -> Scenario {
    let asns = ASNS.iter().map(|&asn| AsnSpec { asn, per_minute: 60.0, networks: 300 }).collect();
    let mut s = Scenario::new(seed, Platform::try_from("x").unwrap(), Country::try_from("PK").unwrap(), asns);
    s.events = events;
    s
}

/// Everything the detector said during a replay.
#[derive(Default)]
struct Log {
    /// (step minute, incident) for every incident opened.
    opened: Vec<(i64, Incident)>,
    /// Every incident closed.
    closed: Vec<Incident>,
}

/// Feeds minutes `from..to` of `s` into rollups and steps the detector after each.
fn replay(s: &mut Scenario, from: i64, to: i64, mut each: impl FnMut(i64, &StepResult)) -> Log {
    let mut det = Detector::new(DetectorConfig::default());
    let keep = det.config().retention_minutes();
    let (mut rollups, mut buf, mut log) = (Rollups::new(), Vec::new(), Log::default());
    for t in from..to {
        s.feed(t, &mut rollups, &mut buf);
        let r = det.step(t, &rollups);
        log.opened.extend(r.opened.iter().map(|i| (t, i.clone())));
        log.closed.extend(r.closed.iter().cloned());
        each(t, &r);
        rollups.evict_before(t - keep + 1);
    }
    log
}

/// Minutes of data after onset when the detector acted at step `t`.
fn ttd(t: i64) -> i64 {
    t - ONSET + 1
}

fn opened_for(log: &Log, asn: Option<u32>) -> Option<&(i64, Incident)> {
    log.opened.iter().find(|(_, i)| i.asn == asn)
}

#[test]
fn full_block_opens_a_country_incident_within_3_minutes() {
    let block = Event::Block { asn: None, start: ONSET, end: ONSET + 60, fail: 1.0 };
    let log = replay(&mut country(1, vec![block]), DAY0, ONSET + 90, |_, _| {});
    let (t, inc) = opened_for(&log, None).expect("country incident");
    println!("full block: country incident after {} min: {}", ttd(*t), serde_json::to_string(inc).unwrap());
    for asn in ASNS {
        let (t, _) = opened_for(&log, Some(asn)).expect("asn incident");
        println!("full block: AS{asn} incident after {} min", ttd(*t));
    }
    assert!(ttd(*t) <= 3);
    assert_eq!(inc.state, State::Disrupted);
    assert_eq!(inc.affected_asns, ASNS.iter().copied().collect::<std::collections::BTreeSet<_>>().into_iter().collect::<Vec<_>>());
    assert!(log.opened.iter().all(|(t, _)| *t >= ONSET), "false incident before onset");
    assert_eq!(log.opened.len(), 5, "one country + four ASN incidents");
    let closed = log.closed.iter().find(|i| i.asn.is_none()).expect("closed after the block");
    println!("full block: closed {} -> {:?}, peak {:.2}", closed.started_at, closed.ended_at, closed.peak_failure_rate);
    assert!(closed.peak_failure_rate > 0.9);
}

#[test]
fn half_failure_on_one_asn_opens_that_asn_within_6_minutes() {
    let victim = ASNS[1];
    let block = Event::Block { asn: Some(victim), start: ONSET, end: ONSET + 60, fail: 0.5 };
    let log = replay(&mut country(2, vec![block]), DAY0, ONSET + 90, |_, _| {});
    let (t, inc) = opened_for(&log, Some(victim)).expect("incident for the ASN");
    println!("50% on AS{victim}: incident after {} min, peak {:.2}", ttd(*t), inc.peak_failure_rate);
    if let Some((t, c)) = opened_for(&log, None) {
        println!("50% on AS{victim}: country-level incident after {} min, affected {:?}", ttd(*t), c.affected_asns);
        assert_eq!(c.affected_asns, vec![victim]);
    }
    assert!(ttd(*t) <= 6);
    let others: Vec<_> = log.opened.iter().filter(|(_, i)| i.asn.is_some_and(|a| a != victim)).collect();
    assert!(others.is_empty(), "other ASNs flagged: {others:?}");
}

#[test]
fn fivefold_slowdown_reads_degraded_within_6_minutes() {
    let slow = Event::Slowdown { asn: None, start: ONSET, end: ONSET + 60, factor: 5.0 };
    let mut degraded_at = None;
    let log = replay(&mut country(3, vec![slow]), DAY0, ONSET + 90, |t, r| {
        let country = r.statuses.iter().find(|s| s.asn.is_none()).unwrap();
        if degraded_at.is_none() && country.state == State::Degraded {
            degraded_at = Some(t);
        }
    });
    let t = degraded_at.expect("country read degraded");
    println!("5x slowdown: country status degraded after {} min", ttd(t));
    assert!(ttd(t) <= 6);
    let (_, inc) = opened_for(&log, None).expect("degraded incident");
    assert_eq!(inc.state, State::Degraded);
    assert!(log.opened.iter().all(|(_, i)| i.state == State::Degraded));
}

#[test]
fn single_network_flood_opens_nothing() {
    let flood = Event::Flood { asn: ASNS[0], network: 0xdead_beef, start: ONSET, end: ONSET + 60, per_minute: 2000 };
    let log = replay(&mut country(4, vec![flood]), DAY0, ONSET + 90, |_, _| {});
    println!("single /24 flood (120000 failure reports): {} incidents", log.opened.len());
    assert!(log.opened.is_empty(), "{:?}", log.opened);
}

#[test]
fn fourteen_quiet_days_open_no_incident() {
    let asns = vec![
        AsnSpec { asn: 17557, per_minute: 60.0, networks: 400 },
        AsnSpec { asn: 45595, per_minute: 25.0, networks: 200 },
        AsnSpec { asn: 9541, per_minute: 8.0, networks: 80 },
    ];
    // VANTAGE_SEED=n replays another fortnight, to probe the false-alarm margin.
    let seed = std::env::var("VANTAGE_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(5);
    let mut s = Scenario::new(seed, Platform::try_from("x").unwrap(), Country::try_from("PK").unwrap(), asns);
    s.diurnal = true;
    s.visitor_outages_per_day = 24.0;
    let started = std::time::Instant::now();
    let (mut reports, mut bad_windows, mut min_p) = (0u64, 0u64, 1.0f64);
    let log = replay(&mut s, DAY0, DAY0 + 14 * 1440, |_, r| {
        reports += r.statuses.iter().filter(|s| s.asn.is_none()).map(|s| s.reports).sum::<u64>();
        bad_windows += r.statuses.iter().filter(|s| s.window_state.is_bad()).count() as u64;
        min_p = r.statuses.iter().filter_map(|s| s.p_value).fold(min_p, f64::min);
    });
    println!(
        "14 days diurnal (seed {seed}): {} incidents, {bad_windows} bad windows, smallest p {min_p:.1e}, ~{} reports, {:.1} s",
        log.opened.len(),
        reports / 5,
        started.elapsed().as_secs_f64()
    );
    assert!(log.opened.is_empty(), "false incidents: {:?}", log.opened);
}
