//! Incident events on their way out. Every open and close is written to the store first and
//! only then sent to the stream and the webhooks, so a subscriber never hears of an incident the
//! API does not show. A failed write keeps everything queued and retries with backoff: a store
//! hiccup delays events, it never loses them, and each (incident id, event) goes out once.

use crate::store::Incident;
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

/// Wait after the first failed write; doubled after each further failure.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// Longest wait between two write attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// (id, event) keys remembered to drop repeats; far more than the opens and closes of weeks.
const REMEMBERED: usize = 65_536;

/// Which transition an event announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Transition {
    /// The incident opened (`ended_at` is null).
    Opened,
    /// The incident ended.
    Closed,
}

impl Transition {
    /// The transition an incident snapshot announces.
    pub(super) fn of(i: &Incident) -> Transition {
        if i.is_open() {
            Transition::Opened
        } else {
            Transition::Closed
        }
    }
}

/// Incident writes and events not yet done.
#[derive(Debug)]
pub(super) struct Outbox {
    /// Newest known state of each incident the store does not hold yet (by id): one row per
    /// incident is written, the latest, whatever happened while the store was failing.
    unsaved: BTreeMap<String, Incident>,
    /// Events waiting for their write, oldest first: each is the incident as it was then.
    events: VecDeque<Incident>,
    /// Keys queued or sent, so a replay that finds an event again does not repeat it.
    seen: HashSet<(String, Transition)>,
    /// `seen` in insertion order, to forget the oldest beyond [`REMEMBERED`].
    seen_order: VecDeque<(String, Transition)>,
    /// No write before this instant (set after a failure).
    retry_at: Option<Instant>,
    /// The wait after the next failure.
    backoff: Duration,
    /// Failed attempts in a row (logged, so an operator sees a store that keeps failing).
    pub failures: u32,
}

impl Default for Outbox {
    fn default() -> Self {
        Outbox {
            unsaved: BTreeMap::new(),
            events: VecDeque::new(),
            seen: HashSet::new(),
            seen_order: VecDeque::new(),
            retry_at: None,
            backoff: FIRST_BACKOFF,
            failures: 0,
        }
    }
}

impl Outbox {
    /// Records states the store must hold (a step's open incidents, their peaks updated).
    pub(super) fn save(&mut self, incidents: impl IntoIterator<Item = Incident>) {
        for i in incidents {
            self.unsaved.insert(i.id.clone(), i);
        }
    }

    /// Queues an open or close unless the same (id, transition) was queued or sent before.
    /// Returns whether it was queued.
    pub(super) fn event(&mut self, i: Incident) -> bool {
        let key = (i.id.clone(), Transition::of(&i));
        if self.seen.contains(&key) {
            return false;
        }
        self.remember(key);
        // A close queued after an open of the same id is newer: it wins the write.
        self.unsaved.insert(i.id.clone(), i.clone());
        self.events.push_back(i);
        true
    }

    /// Marks a key as already announced (e.g. the store shows it at start-up).
    pub(super) fn remember(&mut self, key: (String, Transition)) {
        if self.seen.insert(key.clone()) {
            self.seen_order.push_back(key);
            while self.seen_order.len() > REMEMBERED {
                if let Some(old) = self.seen_order.pop_front() {
                    self.seen.remove(&old);
                }
            }
        }
    }

    /// Whether a write is waiting and its backoff (if any) has passed.
    pub(super) fn due(&self, now: Instant) -> bool {
        !self.unsaved.is_empty() && self.retry_at.is_none_or(|t| now >= t)
    }

    /// Events queued and not yet sent.
    pub(super) fn waiting(&self) -> usize {
        self.events.len()
    }

    /// The rows to write now.
    pub(super) fn batch(&self) -> Vec<Incident> {
        self.unsaved.values().cloned().collect()
    }

    /// The write of `batch` succeeded: those rows are done (unless a newer state arrived for
    /// the same id meanwhile), and every queued event can go out, oldest first.
    pub(super) fn stored(&mut self, batch: &[Incident]) -> Vec<Incident> {
        for i in batch {
            if self.unsaved.get(&i.id) == Some(i) {
                self.unsaved.remove(&i.id);
            }
        }
        self.retry_at = None;
        self.backoff = FIRST_BACKOFF;
        self.failures = 0;
        if self.unsaved.is_empty() {
            self.events.drain(..).collect()
        } else {
            // An event whose newest state is not written yet waits (with everything after it,
            // to keep the order).
            let ready = self.events.iter().take_while(|e| !self.unsaved.contains_key(&e.id)).count();
            self.events.drain(..ready).collect()
        }
    }

    /// The write failed at `now`: keep everything and wait before the next attempt.
    pub(super) fn failed(&mut self, now: Instant) -> Duration {
        let wait = self.backoff;
        self.retry_at = Some(now + wait);
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        self.failures += 1;
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incident(id: &str, open: bool) -> Incident {
        Incident {
            id: id.into(),
            platform: "x".parse().unwrap(),
            country: "PK".parse().unwrap(),
            asn: None,
            state: vantage_detect::State::Disrupted,
            started_at: "2026-12-01T10:00:00Z".into(),
            ended_at: (!open).then(|| "2026-12-01T10:30:00Z".into()),
            peak_failure_rate: 1.0,
            affected_asns: vec![],
            reports: 100,
            networks: 50,
            asns: 3,
            failing_networks: 40,
            baseline_failure_rate: 0.03,
            confidence: 0.9,
            cross_country: false,
            suspicious_asns: vec![],
            end_reason: None,
            start_minute: 0,
            end_minute: (!open).then_some(30),
        }
    }

    #[test]
    fn a_failed_write_keeps_events_until_a_write_succeeds_then_sends_them_in_order_once() {
        let mut o = Outbox::default();
        assert!(o.event(incident("a", true)));
        let t0 = Instant::now();
        assert!(o.due(t0));
        let wait = o.failed(t0);
        assert!(!o.due(t0), "backs off");
        assert!(o.due(t0 + wait));
        assert!(o.event(incident("a", false)));
        assert!(!o.event(incident("a", true)), "an open already queued is not queued again");
        let batch = o.batch();
        assert_eq!(batch.len(), 1);
        assert!(!batch[0].is_open(), "the newest state (closed) is written");
        let sent = o.stored(&batch);
        assert_eq!(sent.iter().map(Transition::of).collect::<Vec<_>>(), [Transition::Opened, Transition::Closed]);
        assert!(!o.due(t0 + wait) && o.waiting() == 0);
        assert!(!o.event(incident("a", false)), "a replay finding the close again sends nothing");
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let mut o = Outbox::default();
        o.save([incident("a", true)]);
        let now = Instant::now();
        let waits: Vec<Duration> = (0..10).map(|_| o.failed(now)).collect();
        assert_eq!(waits[0], FIRST_BACKOFF);
        assert_eq!(waits[1], FIRST_BACKOFF * 2);
        assert_eq!(*waits.last().unwrap(), MAX_BACKOFF);
    }
}
