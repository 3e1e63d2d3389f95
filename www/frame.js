// Vantage measurement frame (served from the collector's origin as /v1/frame.js, loaded by
// frame.html as a module script; a classic one traced no cheaper: ARCHITECTURE.md "Where it runs").
// This thread shares a process and a thread with the host page wherever the browser does not
// isolate sites, so it does as little as it can: it checks the start and the privacy signals,
// starts the worker (worker.js), keeps the latest report the worker posts, and beacons it on
// pagehide. Storage (the offline queue, the 10-minute rule, the opt-out) and every request but the
// beacon are the worker's, in IndexedDB: no synchronous storage on this thread.
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
//     Control, automation (navigator.webdriver, unless the snippet says data-allow-automation);
//     the worker then checks the opt-out stored in this origin's IndexedDB (set by a stop, below)
//     before any request.
// A later {vantage: 'stop'} from the parent (the reader pressed Opt out in embed.js) ends the run:
// the report in flight is neither sent nor queued, queued reports are dropped, the opt-out is kept
// in this frame's storage (by the worker, started for it if need be), and once it is stored the
// frame answers 'vantage-stopped' so that the host page may remove it.

const nav = navigator, nonce = location.hash.slice(1);
// Any privacy signal, or automation the snippet did not allow (`auto`).
const refused = auto => [nav.doNotTrack, self.doNotTrack, nav.msDoNotTrack].some(v => v == '1' || v == 'yes') ||
  nav.globalPrivacyControl || (nav.webdriver && !auto);
let state = 0; // 0 waiting for the loader, 1 running, 2 stopped by the reader
// worker: the running worker (0 once its run is over); part: the latest report it posted; left:
// the report as it stood at beforeunload ('' for none yet); stopTo: the origin to answer a stop.
let worker, part, left, stopTo;

// The report as it stood when the page began to leave. A navigation stops our requests before
// pagehide (Firefox rejects them as network errors), so outcomes after this would be false
// `error`s; the worker is told to queue and send nothing more. Listened to only while measuring:
// in Firefox a beforeunload listener keeps the host page out of the back/forward cache.
const leave = () => { left ??= part || ''; worker.postMessage({ hold: 1 }) };

// The run is over (or stopped): a later stop starts a worker of its own.
const end = () => { worker.terminate(); worker = 0; removeEventListener('beforeunload', leave) };
const answer = ({ data: d }) => {
  if (d.m) addEventListener('beforeunload', leave);
  if (d.p) part = d.p;
  // Reports still queued: ask the loader to lift its own 10-minute window so the next view loads
  // this frame again and retries them (the worker's 10-minute rule still holds). After a stop the
  // worker is kept until it says the opt-out is stored.
  if (d.q != null && state < 2) end(), d.q && parent.postMessage('vantage-retry', '*');
  if (d.stopped) end(), parent.postMessage('vantage-stopped', stopTo);
};
// The measurement worker, started on the first call (a view the loader does not start loads none).
// One that fails to load or dies answers nothing: the run is over (a stop is answered anyway).
const start = () => worker ||= Object.assign(new Worker('worker.js', { type: 'module' }), {
  onmessage: answer,
  onerror: () => answer({ data: { q: 0, stopped: state > 1 } }),
});

// The beacon holds the latest report the worker posted (the worker keeps the same one queued; the
// collector stores an id once). Firefox tears an out-of-process frame down soon after its pagehide
// starts, so nothing else is done here.
addEventListener('pagehide', () => {
  const s = worker && state < 2 && (left ?? part);
  if (s) nav.sendBeacon('/v1/reports', s);
});

addEventListener('message', e => {
  const m = e.data;
  if (e.source != parent || parent == self || !m) return;
  if (m.vantage == 'stop') {
    state = 2;
    stopTo = e.origin == 'null' ? '*' : e.origin;
    start().postMessage({ stop: 1 });
  }
  if (m.vantage != 'start' || state || !nonce || m.n !== nonce || refused(m.a)) return;
  state = 1;
  start().postMessage({ site: new URLSearchParams(location.search).get('site') });
});
