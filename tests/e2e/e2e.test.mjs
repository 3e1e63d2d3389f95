// End to end: the real collector on port 0 with a fresh SQLite file, Debian's Chromium opening
// the demo article (snippet at data-sample="1"), platform hostnames pointed at fixture servers
// that answer fine, reset, answer late and never answer. Checks the stored rows, geolocation from
// test MaxMind files, that no IP reaches any file, and that privacy signals stop everything.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeWorkdir, startCollector, stop, exportRaw, waitFor, allFiles, startHostSite, shared } from './harness.mjs';

const env = shared({ fixtures: true, chromium: true });

const EXPECTED = {
  'x.main': 'ok',
  'youtube.main': 'error',
  'facebook.main': 'ok',
  'tiktok.main': 'timeout',
};

/** Opens `url` in a fresh context, waits for all four platform rows, returns them. */
async function measureThroughDemo(dir, url) {
  const context = await env.browser.newContext();
  const page = await context.newPage();
  try {
    await page.goto(url);
    return await waitFor(() => {
      const rows = exportRaw(dir);
      return rows.length >= Object.keys(EXPECTED).length ? rows : null;
    }, { timeoutMs: 40000, what: 'four stored observations' });
  } finally {
    await context.close();
  }
}

function checkRows(rows) {
  assert.equal(rows.length, 4, `one row per target: ${JSON.stringify(rows)}`);
  for (const row of rows) {
    assert.equal(row.outcome, EXPECTED[row.target], `outcome of ${row.target}: ${JSON.stringify(row)}`);
    assert.equal(row.country, 'PK', 'country from the test GeoIP file');
    assert.equal(row.asn, 17557, 'ASN from the test GeoIP file');
    assert.equal(row.control_outcome, 'ok');
    assert.equal(row.site, 'drm');
    assert.ok(Number.isInteger(row.network), 'a network hash, not an address');
  }
  const byTarget = Object.fromEntries(rows.map((r) => [r.target, r]));
  assert.ok(byTarget['facebook.main'].ms >= 1200, `slow fixture timed at ${byTarget['facebook.main'].ms} ms`);
  assert.ok(byTarget['x.main'].ms < 1000, `fast fixture timed at ${byTarget['x.main'].ms} ms`);
  assert.ok(byTarget['tiktok.main'].ms >= 2000, 'timeout after its 2000 ms deadline');
  assert.equal(byTarget['x.main'].platform, 'x');
  assert.equal(new Set(rows.map((r) => r.report_id)).size, 1, 'one report per page view');
}

/** No stored or logged byte may hold the client address, in text or binary form. */
function assertNoAddress(dir, textForms, binaryForms) {
  for (const { path, bytes } of allFiles(dir)) {
    if (path.endsWith('.mmdb') || path.endsWith('.toml')) continue; // inputs the test wrote
    for (const t of textForms) {
      assert.equal(bytes.indexOf(Buffer.from(t)), -1, `${path} contains "${t}"`);
    }
    for (const b of binaryForms) {
      assert.equal(bytes.indexOf(b), -1, `${path} contains the address in binary`);
    }
  }
}

/**
 * Measures through the demo article of a fresh collector listening on `host`, checks the stored
 * rows and that the collector exits cleanly; resolves with its work folder and its logs.
 */
async function demoOver(host) {
  const dir = makeWorkdir();
  const collector = await startCollector(dir, host);
  try {
    checkRows(await measureThroughDemo(dir, `${collector.origin}/demo/`));
  } finally {
    assert.equal(await stop(collector.child), 0, `collector exits cleanly on SIGTERM:\n${collector.logs()}`);
  }
  return { dir, logs: collector.logs() };
}

test('demo article over IPv4: every outcome classified, geolocated, stored, no IP anywhere', async () => {
  const { dir, logs } = await demoOver('127.0.0.1');
  assertNoAddress(dir, ['127.0.0.1'], [Buffer.from([127, 0, 0, 1])]);
  const logsWithoutListenLine = logs.replace(/listening on \S+/g, '');
  assert.ok(!logsWithoutListenLine.includes('127.0.0.1'), `the collector logged the client address:\n${logsWithoutListenLine}`);
});

test('demo article over IPv6 is stored with its geolocation too', async () => {
  const { dir } = await demoOver('::1');
  const v6 = Buffer.alloc(16);
  v6[15] = 1;
  assertNoAddress(dir, [], [v6]);
});

/**
 * Opens a host page on another origin carrying the snippet, optionally with a privacy signal (or
 * a probe) set before any script runs; returns every request the browser made, the stored rows and
 * the host page's `window.__probe` at the end.
 */
async function visitHost(signalScript, attrs = '') {
  const dir = makeWorkdir();
  const collector = await startCollector(dir, '127.0.0.1');
  const host = await startHostSite(collector.origin, attrs);
  const context = await env.browser.newContext();
  const requests = [];
  context.on('request', (r) => requests.push(r.url()));
  if (signalScript) await context.addInitScript(signalScript);
  const page = await context.newPage();
  let probe;
  try {
    await page.goto(host.url);
    // load + idle + a full measurement run (the slowest fixture takes 2 s) fit well inside this.
    await page.waitForTimeout(6000);
    probe = await page.evaluate(() => window.__probe ?? null);
  } finally {
    await context.close();
    host.server.close();
    await stop(collector.child);
  }
  return { requests, rows: exportRaw(dir), probe };
}

test('control: a cross-origin host page with no privacy signal does measure', async () => {
  const { requests, rows } = await visitHost(null, 'data-sample="1"');
  assert.ok(requests.some((u) => u.includes('/v1/frame.html')), 'frame loaded');
  assert.ok(requests.some((u) => u.includes('.test/')), 'platforms measured');
  assert.equal(rows.length, 4);
  assert.ok(rows.every((r) => r.site === 'hostnews'));
});

const SIGNALS = {
  'Global Privacy Control': () => Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', { get: () => true }),
  'Do Not Track': () => Object.defineProperty(Navigator.prototype, 'doNotTrack', { get: () => '1' }),
  'a localStorage opt-out': () => { try { localStorage.setItem('vantage-optout', '1'); } catch (e) { /* opaque origin */ } },
};

for (const [name, script] of Object.entries(SIGNALS)) {
  test(`${name} means no measurement request and nothing stored`, async () => {
    const { requests, rows } = await visitHost(script, 'data-sample="1"');
    const measuring = requests.filter((u) => u.includes('/v1/frame') || u.includes('/v1/targets') || u.includes('.test/') || u.includes('/v1/w/'));
    assert.deepEqual(measuring, [], `requests made despite ${name}`);
    assert.ok(requests.some((u) => u.includes('/v1/loader.js')), 'the loader itself did load');
    assert.deepEqual(rows, []);
  });
}

/** Counts the host page's localStorage accesses in `window.__probe` (the host page makes none). */
const COUNT_STORAGE = () => {
  const own = Object.getOwnPropertyDescriptor(window, 'localStorage');
  const d = own || Object.getOwnPropertyDescriptor(Window.prototype, 'localStorage');
  window.__probe = 0;
  Object.defineProperty(window, 'localStorage', { configurable: true, get() { window.__probe += 1; return d.get.call(window); } });
};

test('data-sample="0": a visitor who is not sampled downloads nothing beyond the loader and touches no storage', async () => {
  const { requests, rows, probe } = await visitHost(COUNT_STORAGE, 'data-sample="0"');
  const ours = requests.filter((u) => !u.startsWith('http://localhost:'));
  assert.equal(ours.length, 1, `only loader.js: ${ours.join(', ')}`);
  assert.deepEqual(rows, []);
  // The first localStorage access is a synchronous load of the origin's storage on the host's thread.
  assert.equal(probe, 0, 'no localStorage access');
});

test('control for the storage probe: a sampled visitor\'s loader does read localStorage (opt-out, consent, 10-minute rule)', async () => {
  const { probe } = await visitHost(COUNT_STORAGE, 'data-sample="1"');
  assert.ok(probe > 0, `the probe counts the loader's reads: ${probe}`);
});

/**
 * The frame's storage, read in a page of the collector's origin (same storage as the frame there):
 * its IndexedDB (the worker's queue `q`, the 10-minute rule's `last`, the opt-out) and whether the
 * frame's old localStorage keys are present. `db: false` when the worker never opened its database.
 */
const frameStorage = (page) => page.evaluate(async () => {
  const ls = ['vantage-q', 'vantage-last'].filter((k) => localStorage.getItem(k) != null);
  if (!(await indexedDB.databases()).some((d) => d.name === 'vantage')) return { db: false, ls };
  const db = await new Promise((res, rej) => { const r = indexedDB.open('vantage'); r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error); });
  try {
    const store = db.transaction('kv').objectStore('kv');
    const get = (k) => new Promise((res, rej) => { const r = store.get(k); r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error); });
    const [q, last, optout] = await Promise.all([get('q'), get('last'), get('optout')]);
    return { db: true, ls, q, last, optout };
  } finally {
    db.close();
  }
});

/**
 * Opens the demo article (on the collector's own origin, so the frame has first-party storage) of
 * a fresh collector in a fresh context whose report posts the collector answers 503, waits until
 * the report is refused and queued in the worker's IndexedDB, lets posts through again and runs
 * `body({ dir, origin, page, queued, requests })`, `requests` being every URL requested from then on.
 */
async function withRefusedReport(body) {
  const dir = makeWorkdir();
  const collector = await startCollector(dir, '127.0.0.1');
  const context = await env.browser.newContext();
  try {
    await body({ dir, origin: collector.origin, ...(await refusedAndQueued(context, collector, dir)) });
  } finally {
    await context.close();
    await stop(collector.child);
  }
}

/** withRefusedReport's first view, up to the queued report. */
async function refusedAndQueued(context, collector, dir) {
  let refused = 0;
  await context.route('**/v1/reports', (route) => {
    refused += 1;
    return route.fulfill({ status: 503, contentType: 'application/json', body: '{"error":"overloaded"}', headers: { 'retry-after': '1' } });
  });
  const page = await context.newPage();
  await page.goto(`${collector.origin}/demo/`);
  // Queued before it is sent, and kept after the 503; the final report has all four targets.
  const stored = await waitFor(async () => {
    const st = await frameStorage(page);
    return refused > 0 && st.q?.length === 1 && st.q[0].r.measurements.length === 4 ? st : null;
  }, { timeoutMs: 30000, what: 'the refused report, queued in IndexedDB' });
  assert.deepEqual(exportRaw(dir), [], 'nothing stored while the collector refuses');
  assert.deepEqual(stored.ls, [], 'no queue and no 10-minute mark in the frame\'s localStorage (synchronous on the host\'s thread)');
  assert.ok(Date.now() - stored.last < 120000, `the 10-minute rule's mark is in IndexedDB: ${stored.last}`);
  await context.unroute('**/v1/reports');
  const requests = [];
  context.on('request', (r) => requests.push(r.url()));
  return { page, queued: stored.q[0], requests };
}

test('offline queue: a report the collector refused is re-sent with the same id on the next view', async () => {
  await withRefusedReport(async ({ dir, page, queued, requests }) => {
    // Next view, a moment later: no new measurement (the worker's 10-minute rule, in IndexedDB:
    // the loader lifted its own one because the frame said reports remain); the queued report goes out.
    await page.waitForTimeout(1100);
    await page.reload();
    const rows = await waitFor(() => { const r = exportRaw(dir); return r.length >= 4 ? r : null; },
      { timeoutMs: 20000, what: 'the queued report' });
    assert.equal(rows.length, 4);
    assert.equal(new Set(rows.map((r) => r.report_id)).size, 1, 'one report, stored once');
    assert.equal(rows[0].report_id, queued.r.id, 'the queued one');
    await waitFor(async () => (await frameStorage(page)).q?.length === 0, { timeoutMs: 10000, what: 'the queue to empty once sent' });
    // The frame came back (the queue asked for it; its page may come from the HTTP cache, so
    // its request is not asserted) but measures nothing and loads no wasm.
    const again = requests.filter((u) => u.includes('/v1/targets') || u.includes('/v1/w/') || u.includes('.test/'));
    assert.deepEqual(again, [], 'no second measurement within 10 minutes');
  });
});

test('a stop drops the offline queue and keeps the opt-out: no later view sends or measures', async () => {
  await withRefusedReport(async ({ dir, origin, page, requests }) => {
    // The stop embed.js sends when the reader opts out, straight to the frame (embed.js also
    // stores the host page's own opt-out, which would keep the loader from adding the frame at all).
    const stopped = await page.evaluate((o) => new Promise((res) => {
      addEventListener('message', (e) => { if (e.origin === o && e.data === 'vantage-stopped') res(true); });
      setTimeout(() => res(false), 20000);
      document.querySelector('iframe[src*="/v1/frame.html"]').contentWindow.postMessage({ vantage: 'stop' }, o);
    }), origin);
    assert.equal(stopped, true, 'the frame acknowledged the stop');
    const st = await frameStorage(page);
    assert.deepEqual([st.q, st.optout], [[], 1], 'queue dropped, opt-out kept, once acknowledged');

    // A later view whose loader lets the frame start again (its own 10-minute mark lifted): the
    // dropped queue leaves nothing to send, and the stored opt-out keeps the worker from any request.
    requests.length = 0;
    await page.evaluate(() => localStorage.removeItem('vantage-l'));
    await page.reload();
    await waitFor(() => requests.some((u) => u.includes('/v1/worker.js')), { timeoutMs: 20000, what: 'the frame to start its worker' });
    await page.waitForTimeout(3000);
    const sent = requests.filter((u) => u.includes('/v1/reports') || u.includes('/v1/targets') || u.includes('/v1/w/') || u.includes('.test/'));
    assert.deepEqual(sent, [], 'nothing sent or measured after the stop');
    assert.deepEqual(exportRaw(dir), []);
  });
});

test('10-minute rule holds on a cross-origin host even where the frame gets no storage', async () => {
  const dir = makeWorkdir();
  const collector = await startCollector(dir, '127.0.0.1');
  const host = await startHostSite(collector.origin, 'data-sample="1"');
  const context = await env.browser.newContext();
  const frames = [];
  context.on('request', (r) => { if (r.url().includes('/v1/frame.html')) frames.push(r.url()); });
  try {
    const page = await context.newPage();
    await page.goto(host.url);
    await waitFor(() => exportRaw(dir).length >= 4, { timeoutMs: 20000, what: 'the first report' });
    await page.reload();
    await page.waitForTimeout(3000);
    assert.equal(frames.length, 1, 'the second view within 10 minutes adds no frame');
    assert.equal(exportRaw(dir).length, 4);
  } finally {
    await context.close();
    host.server.close();
    await stop(collector.child);
  }
});
