// The operator's target check (docs/protocol.md §4.14): every target of /v1/targets requested from
// this browser the way the widget requests it, one visible row each, with the likely cause of a
// failure. Nothing is sent anywhere: the results stay on the page (and the clipboard, on request).
// Everything from the network goes into the page through textContent, never HTML parsing.

/** How long to wait for a Resource Timing entry once the request has settled: the entry appears
 *  when the body has finished loading, a little after the promise resolves. */
const ENTRY_WAIT_MS = 2000;
/** A failure within this, or within three times the control's time, ended at about the first
 *  answer: the browser refused it before sending (tracking protection, a content blocker) or on
 *  reading the response headers (CORP), or a reset came back at once. A slower one waited on the
 *  network. (Generous, so that a loaded device does not turn a refusal into "network".) */
const FAST_FAILURE_MS = 300;
/** How many control times a failure may take and still count as fast. */
const FAST_FAILURE_CONTROLS = 3;

const $ = (id) => document.getElementById(id);
const violations = [];
addEventListener('securitypolicyviolation', (e) => violations.push(e.blockedURI));

/** "Chromium 131", "Firefox 128", "Safari 18": the brand and major version, nothing finer. */
export function browserName(nav = navigator) {
  const brands = nav.userAgentData?.brands?.filter((b) => !/not.a.brand/i.test(b.brand)) ?? [];
  const brand = brands.find((b) => b.brand !== 'Chromium') ?? brands[0];
  if (brand) return `${brand.brand} ${brand.version}`;
  const ua = nav.userAgent;
  const m = ua.match(/Firefox\/(\d+)/) ?? ua.match(/Edg\/(\d+)/) ?? ua.match(/Chrom(?:e|ium)\/(\d+)/);
  if (m) return `${m[0].split('/')[0]} ${m[1]}`;
  const s = ua.match(/Version\/(\d+)[^ ]* (?:Mobile\/\S+ )?Safari/);
  return s ? `Safari ${s[1]}` : 'unknown browser';
}

/** The URL the widget requests: resolved against our origin, with `_vt=<random>` when the target asks. */
function requestUrl(target) {
  const u = new URL(target.url, location.href);
  if (target.cache_bust ?? true) u.searchParams.append('_vt', Math.random().toString(36).slice(2, 10));
  return u.href;
}

/** Collects the Resource Timing entry named `href`, from before the request starts. */
function watchEntry(href) {
  let found = null;
  let wake = () => {};
  const observer = new PerformanceObserver((list) => {
    const e = list.getEntries().find((x) => x.name === href);
    if (e) { found = e; wake(); }
  });
  observer.observe({ type: 'resource' });
  return async (waitMs) => {
    if (!found) await new Promise((r) => { wake = r; setTimeout(r, waitMs); });
    observer.disconnect();
    return found ?? performance.getEntriesByName(href).at(-1) ?? null;
  };
}

/** Whether this page's CSP refused `href` (browsers report the full URL or only its origin). */
function refusedByCsp(href) {
  const origin = new URL(href).origin;
  return violations.some((u) => u === href || u === origin);
}

/** One request as the widget makes it; resolves with what happened. */
export async function probe(target) {
  const href = requestUrl(target);
  const mode = target.mode ?? 'no-cors';
  const entry = watchEntry(href);
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), target.timeout_ms);
  const t0 = performance.now();
  const r = { id: target.id, platform: target.platform, url: target.url, mode, outcome: 'error', status: null, ms: 0 };
  try {
    const res = await fetch(href, { mode, cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer', signal: ctrl.signal });
    r.ms = performance.now() - t0;
    // A readable body is read to its end: browsers write the timing entry only then.
    if (res.type !== 'opaque') await res.arrayBuffer().catch(() => null);
    const readable = res.type !== 'opaque';
    if (readable && (res.status < 200 || res.status >= 400)) [r.outcome, r.status] = ['http_error', res.status];
    else r.outcome = 'ok';
  } catch {
    r.ms = performance.now() - t0;
    if (ctrl.signal.aborted) r.outcome = 'timeout';
    else {
      // The violation event may arrive a task after the rejection.
      await new Promise((res) => setTimeout(res, 0));
      r.outcome = refusedByCsp(href) ? 'blocked_by_client' : 'error';
    }
  }
  clearTimeout(timer);
  const e = await entry(r.outcome === 'ok' || r.outcome === 'http_error' ? ENTRY_WAIT_MS : 300);
  r.resource_timing = e ? (e.requestStart > 0 ? 'phases' : 'entry') : 'none';
  // An aborted request's entry (Firefox writes one) ends where the abort cut it, not at the deadline.
  const timed = e && r.outcome !== 'timeout' && e.responseEnd >= e.startTime && e.responseEnd > 0;
  if (timed) [r.ms, r.clock] = [e.responseEnd - e.startTime, 'resource_timing'];
  else r.clock = 'performance_now';
  r.ms = Math.round(r.ms * 10) / 10;
  return r;
}

/** The most likely reason for `r`'s outcome, given the control's result. */
export function likelyCause(r, control) {
  if (r.outcome === 'ok') return '';
  if (control.outcome !== 'ok') return 'your own connection: the control request to this collector failed too';
  switch (r.outcome) {
    case 'http_error':
      if (r.status === 451 || r.status === 403) return `a block page (HTTP ${r.status}), or the host refuses this request`;
      if (r.status === 404 || r.status === 410) return `wrong URL (HTTP ${r.status}): it would read as a failure for every reader`;
      return `the host answered HTTP ${r.status}`;
    case 'timeout':
      return 'network: no answer before the deadline (black-holing or a very slow link)';
    case 'blocked_by_client':
      return "blocked by the client: this page's Content-Security-Policy refused it (a redirect to another host?)";
    default:
      if (r.mode === 'cors') return 'CORS: the host sent no Access-Control-Allow-Origin (use no-cors), or the network failed';
      if (r.ms <= Math.max(FAST_FAILURE_MS, FAST_FAILURE_CONTROLS * control.ms)) {
        return 'browser-side, likely: Cross-Origin-Resource-Policy, tracking protection or a content blocker (or a reset injected on the network)';
      }
      return 'network: connection reset, DNS or TLS failure';
  }
}

const RT_TEXT = { phases: 'yes, with phases', entry: 'yes, no phases (no Timing-Allow-Origin)', none: 'no entry' };

function cell(row, text, cls) {
  const td = row.insertCell();
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

/** Fills (or refills) the row of `r`. */
function show(row, r, control) {
  row.replaceChildren();
  row.dataset.id = r.id;
  row.dataset.outcome = r.outcome;
  cell(row, r.id);
  cell(row, r.platform);
  cell(row, r.url, 'url');
  cell(row, r.mode);
  cell(row, r.outcome === 'http_error' ? `http_error ${r.status}` : r.outcome, 'outcome');
  cell(row, r.outcome === 'running' ? '' : `${r.ms} ms`, 'ms');
  cell(row, r.outcome === 'running' ? '' : RT_TEXT[r.resource_timing], 'rt');
  cell(row, r.outcome === 'running' ? '' : likelyCause(r, control), 'cause');
}

let last = null;

async function run() {
  $('run').disabled = true;
  $('copy').disabled = true;
  const table = $('results');
  table.dataset.state = 'running';
  const body = table.tBodies[0];
  body.replaceChildren();
  let list;
  try {
    list = await (await fetch('/v1/targets', { cache: 'no-store' })).json();
  } catch (e) {
    $('progress').textContent = `Could not load the target list from this collector: ${e.message}`;
    $('run').disabled = false;
    return;
  }
  $('version').textContent = list.version;
  const control = await probe({ ...list.control, platform: '', mode: 'no-cors', cache_bust: true });
  $('control').textContent = `${control.outcome}, ${control.ms} ms`;
  const results = [];
  for (const [i, target] of list.targets.entries()) {
    $('progress').textContent = `Checking ${i + 1} of ${list.targets.length}: ${target.id}`;
    const row = body.insertRow();
    show(row, { ...target, mode: target.mode ?? 'no-cors', outcome: 'running' }, control);
    const r = await probe(target);
    r.likely_cause = likelyCause(r, control);
    show(row, r, control);
    results.push(r);
  }
  last = { checked_at: new Date().toISOString(), browser: browserName(), targets_version: list.version, control, results };
  $('progress').textContent = `Done: ${results.length} targets checked.`;
  table.dataset.state = 'done';
  $('run').disabled = false;
  $('copy').disabled = false;
}

async function copy() {
  const text = JSON.stringify(last, null, 2);
  try {
    await navigator.clipboard.writeText(text);
    $('progress').textContent = 'Results copied as JSON.';
  } catch {
    $('progress').textContent = 'The browser refused the clipboard: the JSON is in the console.';
    console.log(text);
  }
}

$('browser').textContent = browserName();
$('run').addEventListener('click', run);
$('copy').addEventListener('click', copy);
window.vantageCheck = { results: () => last };
run();
