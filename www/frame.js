// Vantage measurement frame (served from the collector's origin as /v1/frame.js).
// Flushes the offline queue, then (at most once per browser per 10 minutes) runs the wasm
// measurement and delivers one report. Queue: localStorage "vantage-q" = [{t, r}], t = ms epoch
// when the report was made, r = the report object; at most 20, none older than 24 h.
//
// The frame guards itself (issue 9): any page can frame /v1/frame.html, so nothing here runs (no
// storage read, no request) until
//  1. the parent window posts {vantage: 'start', n, a} where n is the nonce our loader wrote in
//     this frame's URL fragment. The loader sends it only after its own checks (sampling, consent,
//     the host page's opt-out and 10-minute rule), so a page that frames us without running the
//     loader's protocol measures nobody. Why this channel: the frame cannot learn who framed it
//     (Firefox has no location.ancestorOrigins, and our no-referrer policy empties document.referrer),
//     and only the parent can both choose our URL and post from `window.parent`; the fragment
//     never reaches a server or a log. It is not a secret: a page that copies the loader speaks the
//     protocol and is then simply an embedder, held to every check below.
//  2. this browser sends no privacy signal, read here where the framing page cannot forge it:
//     Do-Not-Track ('1', or the legacy 'yes' / window.doNotTrack / msDoNotTrack), Global Privacy
//     Control, automation (navigator.webdriver, unless the snippet says data-allow-automation), and
//     the opt-out "vantage-optout" = "1" in this origin's storage (set by a stop, below).
// A later {vantage: 'stop'} from the parent (the reader pressed Opt out in embed.js) ends the run:
// the report in flight is neither sent nor queued, queued reports are dropped, the opt-out is kept
// in this frame's storage,
// and the frame answers 'vantage-stopped' so that the host page may remove it.

const Q = 'vantage-q', LAST = 'vantage-last', OPTOUT = 'vantage-optout', URL = '/v1/reports', DAY = 864e5;
const load = k => { try { return JSON.parse(localStorage.getItem(k)) } catch (e) {} };
const save = (k, v) => { try { localStorage.setItem(k, JSON.stringify(v)) } catch (e) {} };
// true: done with this report (2xx, or a 4xx other than 429: invalid, drop); false: keep it queued.
const post = b => fetch(URL, { method: 'POST', keepalive: true, body: b })
  .then(r => r.ok || (r.status > 399 && r.status < 500 && r.status != 429), () => false);
const send = e => (e.r.age_s = Math.max(0, Math.floor((Date.now() - e.t) / 1e3)), post(JSON.stringify(e.r)));
// Queue edits re-read storage, so another tab's entries are not lost.
const queue = (add, drop) => {
  const now = Date.now();
  save(Q, (load(Q) || []).filter(e => e && e.r && e.r.id != drop && now - e.t < DAY).concat(add || []).slice(-20));
};
const nav = navigator, nonce = location.hash.slice(1);
// Any privacy signal, or automation the snippet did not allow (`auto`).
const refused = auto => [nav.doNotTrack, self.doNotTrack, nav.msDoNotTrack].some(v => v == '1' || v == 'yes') ||
  nav.globalPrivacyControl || (nav.webdriver && !auto) || load(OPTOUT) == 1;
let state = 0; // 0 waiting for the loader, 1 running, 2 stopped by the reader

const main = async site => {
  const now = Date.now();
  for (const e of load(Q) || []) if (state < 2 && now - e.t < DAY && await send(e)) queue(0, e.r.id);
  queue();
  if (!site || now - (load(LAST) || 0) < 6e5) return;
  save(LAST, now);
  // The measurement runs in a worker (worker.js): the wasm is compiled, instantiated and timed
  // there, and fetches the target list itself. This thread only starts it, keeps the latest
  // partial report, and queues, delivers or beacons the result. Started only when measuring: a
  // view that just flushes the queue loads no worker, no glue and no wasm.
  const w = new Worker('worker.js', { type: 'module' });
  // A worker that fails to load or dies answers nothing: {} ends the run.
  const ask = m => new Promise(res => { w.onmessage = ({ data: d }) => 'p' in d ? part = d.p : res(d); w.onerror = () => res({}); w.postMessage(m) });
  let done, left, part;
  const finish = s => { done = 1; const e = { t: Date.now(), r: JSON.parse(s) }; queue(e); return e };
  // The report as it stood when the page began to leave. A navigation stops our requests before
  // pagehide (Firefox rejects them as network errors), so outcomes after this would be false
  // `error`s. Listened to only while measuring: in Firefox a beforeunload listener keeps the
  // host page out of the back/forward cache.
  const leave = () => { left ??= part || '' };
  addEventListener('beforeunload', leave);
  // The beacon goes first: Firefox tears an out-of-process frame down soon after its pagehide
  // starts, and a beacon sent after the queue write was sometimes lost (the queue still keeps it).
  addEventListener('pagehide', () => {
    const s = !done && state < 2 && (left ?? part);
    if (s) navigator.sendBeacon(URL, s), finish(s);
  });
  const s = (await ask(site)).r;
  removeEventListener('beforeunload', leave);
  // Queued first, then sent by the worker (gloo-net); dropped from the queue once it is done.
  if (s && !done && state < 2 && left == null) { const e = finish(s); if ((await ask({ send: s })).sent) queue(0, e.r.id) }
  w.terminate();
};

addEventListener('message', e => {
  const m = e.data;
  if (e.source != parent || parent == self || !m) return;
  if (m.vantage == 'stop') {
    state = 2;
    save(OPTOUT, 1);
    save(Q, []);
    e.source.postMessage('vantage-stopped', e.origin == 'null' ? '*' : e.origin);
  }
  if (m.vantage != 'start' || state || !nonce || m.n !== nonce || refused(m.a)) return;
  state = 1;
  main(new URLSearchParams(location.search).get('site')).catch(() => {}).then(() => {
    // Reports still queued: ask the loader to lift its own 10-minute window so the next view
    // loads this frame again and retries them (the measurement rule above still holds).
    if (state < 2 && (load(Q) || []).length) parent.postMessage('vantage-retry', '*');
  });
});
