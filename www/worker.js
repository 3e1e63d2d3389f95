// Vantage measurement worker (served from the collector's origin as /v1/worker.js, started by
// frame.js once the loader's nonce'd start was accepted and no privacy signal is set). Everything
// that touches storage or the network runs here, off the frame's main thread, which shares a
// process and a thread with the host page wherever the browser does not isolate sites (most of
// Android Chrome): a first localStorage read there is a synchronous load of the origin's storage
// (6-47 ms measured on a throttled host thread); IndexedDB here is asynchronous and off that thread.
//
// Storage: IndexedDB "vantage", one object store "kv" (partitioned like localStorage in a
// third-party frame): "q" the offline queue, [{t, r}], t = ms epoch when the report was made,
// r = the report object, at most 20, none older than 24 h; "last" the ms epoch of the last
// measurement (at most one per browser per 10 minutes); "optout" = 1 after a stop. Storage that
// fails (a browser without IndexedDB here) reads as empty: the loader's own 10-minute rule and
// opt-out still hold.
//
// Messages in: {site} (start: flush the queue, then measure if site is set, the 10-minute rule
// allows and no opt-out is stored); {hold: 1} (the page began to leave: queue and send nothing
// more); {stop: 1} (the reader opted out: store the opt-out, drop the queue, send nothing more).
// Out: {m: 1} when a measurement starts; {p: report} after each target and once at the end (the
// frame beacons the latest on pagehide: it cannot wait for a worker); {q: n} when the run is over,
// n = reports still queued; {stopped: 1} once a stop is stored.
const REPORTS = '/v1/reports', DAY = 864e5;
// db: the open database (a promise), opened on first use; stopped: the reader opted out, so
// nothing more is queued or sent; held: the page began to leave, so the queue keeps the report as
// it stood then (the frame beacons that one) and nothing more is sent.
let db, stopped, held;
// Resolves with an IndexedDB request's result (or a transaction's end), rejects on its error.
const done = r => new Promise((res, rej) => { r.onsuccess = r.oncomplete = () => res(r.result); r.onerror = r.onabort = () => rej(r.error) });
// Runs `fn(store, keep)` in one read-write transaction; resolves, once it committed, with what `fn`
// passed to `keep` (undefined if storage failed).
const tx = fn => (db ||= (r => (r.onupgradeneeded = () => r.result.createObjectStore('kv'), done(r)))(indexedDB.open('vantage', 1)))
  .then(d => { const t = d.transaction('kv', 'readwrite'); let out; fn(t.objectStore('kv'), v => out = v); return done(t).then(() => out) })
  .catch(() => {});
const get = k => tx((s, keep) => done(s.get(k)).then(keep, () => {}));
// Queue edits read and write in one transaction, so another tab's edits are never lost: entries
// older than 24 h, the entry `drop` (an id) and an older copy of `add` go, `add` is appended, the
// last 20 stay. Resolves with the queue's length.
const edit = (add, drop) => tx((s, keep) => done(s.get('q')).then(q => {
  const now = Date.now(), left = (q || []).filter(e => now - e.t < DAY && e.r.id != drop && e.r.id != add?.r.id).concat(add || []).slice(-20);
  s.put(left, 'q');
  keep(left.length);
}));

// true: done with this report (2xx, or a 4xx other than 429: invalid, drop); false: keep it queued.
const post = b => fetch(REPORTS, { method: 'POST', keepalive: true, body: b })
  .then(r => r.ok || (r.status > 399 && r.status < 500 && r.status != 429), () => false);
const send = e => (e.r.age_s = Math.max(0, Math.floor((Date.now() - e.t) / 1e3)), post(JSON.stringify(e.r)));

const run = async site => {
  if ((await get('optout')) == 1) return;
  const now = Date.now();
  for (const e of (await get('q')) || []) if (!stopped && now - e.t < DAY && (await send(e))) await edit(0, e.r.id);
  if (!site || stopped || now - ((await get('last')) || 0) < 6e5) return;
  await tx(s => s.put(now, 'last'));
  postMessage({ m: 1 });
  // Imported only when measuring: a view that just flushes the queue loads no glue and no wasm.
  const { default: init, measure, deliver } = await import('./w/vantage_widget.js');
  let entry;
  // Each report as it grows is the frame's (for pagehide) and the queue's (same id: it replaces the
  // last one), so a run cut short is still sent on a later view. The collector stores an id once.
  const keep = p => (postMessage({ p }), !held && !stopped && edit((entry = { t: Date.now(), r: JSON.parse(p) })));
  await init();
  const r = await measure('/v1/targets', site, keep);
  // Queued first, then sent with gloo-net (deliver); dropped from the queue once done with it.
  if (r && (await keep(r), !held && !stopped) && (await deliver(REPORTS, r))) await edit(0, entry.r.id);
};

onmessage = ({ data: d }) => {
  if (d.hold) held = 1;
  if (d.stop) {
    stopped = 1;
    tx(s => (s.put(1, 'optout'), s.put([], 'q'))).then(() => postMessage({ stopped: 1 }));
  }
  if ('site' in d) run(d.site).catch(() => {}).then(async () => postMessage({ q: stopped ? 0 : ((await get('q')) || []).length }));
};
