// End to end: the real collector on port 0 with a fresh SQLite file, Debian's Chromium opening
// the demo article (snippet at data-sample="1"), platform hostnames pointed at fixture servers
// that answer fine, reset, answer late and never answer. Checks the stored rows, geolocation from
// test MaxMind files, that no IP reaches any file, and that privacy signals stop everything.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  makeWorkdir, startFixtures, startCollector, stop, exportRaw, waitFor, launchChromium,
  allFiles, hostPage,
} from './harness.mjs';

let fixtures;
let browser;

before(async () => {
  fixtures = await startFixtures();
  browser = await launchChromium(fixtures.port);
});

after(async () => {
  await browser?.close();
  if (fixtures) await stop(fixtures.child);
});

const EXPECTED = {
  'x.main': 'ok',
  'youtube.main': 'error',
  'facebook.main': 'ok',
  'tiktok.main': 'timeout',
};

/** Opens `url` in a fresh context, waits for all four platform rows, returns them. */
async function measureThroughDemo(dir, url) {
  const context = await browser.newContext();
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

test('demo article over IPv4: every outcome classified, geolocated, stored, no IP anywhere', async () => {
  const dir = makeWorkdir();
  const collector = await startCollector(dir, '127.0.0.1');
  try {
    const rows = await measureThroughDemo(dir, `${collector.origin}/demo/`);
    checkRows(rows);
  } finally {
    assert.equal(await stop(collector.child), 0, `collector exits cleanly on SIGTERM:\n${collector.logs()}`);
  }
  assertNoAddress(dir, ['127.0.0.1'], [Buffer.from([127, 0, 0, 1])]);
  const logsWithoutListenLine = collector.logs().replace(/listening on \S+/g, '');
  assert.ok(!logsWithoutListenLine.includes('127.0.0.1'), `the collector logged the client address:\n${logsWithoutListenLine}`);
});

test('demo article over IPv6 is stored with its geolocation too', async () => {
  const dir = makeWorkdir();
  const collector = await startCollector(dir, '::1');
  try {
    const rows = await measureThroughDemo(dir, `${collector.origin}/demo/`);
    checkRows(rows);
  } finally {
    assert.equal(await stop(collector.child), 0);
  }
  const v6 = Buffer.alloc(16);
  v6[15] = 1;
  assertNoAddress(dir, [], [v6]);
});

/**
 * Opens a host page on another origin carrying the snippet, optionally with a privacy signal set
 * before any script runs; returns every request the browser made and the stored rows.
 */
async function visitHost(signalScript, attrs = '') {
  const dir = makeWorkdir();
  const collector = await startCollector(dir, '127.0.0.1');
  const context = await browser.newContext();
  const requests = [];
  context.on('request', (r) => requests.push(r.url()));
  if (signalScript) await context.addInitScript(signalScript);
  await context.route('http://news.example/**', (route) =>
    route.fulfill({ contentType: 'text/html', body: hostPage(collector.origin, attrs) }));
  const page = await context.newPage();
  try {
    await page.goto('http://news.example/article');
    // load + idle + a full measurement run (the slowest fixture takes 2 s) fit well inside this.
    await page.waitForTimeout(6000);
  } finally {
    await context.close();
    await stop(collector.child);
  }
  return { requests, rows: exportRaw(dir) };
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

test('data-sample="0": a visitor who is not sampled downloads nothing beyond the loader', async () => {
  const { requests, rows } = await visitHost(null, 'data-sample="0"');
  const ours = requests.filter((u) => !u.startsWith('http://news.example'));
  assert.equal(ours.length, 1, `only loader.js: ${ours.join(', ')}`);
  assert.deepEqual(rows, []);
});
