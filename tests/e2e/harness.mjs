// Shared pieces of the end-to-end tests: real processes (collector, fixture server), real
// Chromium from Debian driven by playwright-core, and the stored rows read back through
// `vantage export --raw`.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readdirSync, readFileSync, mkdirSync } from 'node:fs';
import { request as httpRequest, createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { before, after } from 'node:test';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = join(ROOT, 'target', 'debug');
// VANTAGE_BIN: another build of the collector (e.g. one with a change not yet merged).
export const VANTAGE = process.env.VANTAGE_BIN || join(BIN, 'vantage');
const TESTKIT = join(BIN, 'vantage-testkit');

/** Starts a process and resolves once a stdout line matches `ready`, with the match. */
export function startProcess(cmd, args, ready, { timeoutMs = 20000 } = {}) {
  const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => { err += d; });
  const started = new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`${cmd} did not start in ${timeoutMs} ms:\n${out}\n${err}`)), timeoutMs);
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(ready);
      if (m) { clearTimeout(timer); res(m); }
    });
    child.on('exit', (code) => { clearTimeout(timer); rej(new Error(`${cmd} exited with ${code}:\n${out}\n${err}`)); });
  });
  return { child, started, logs: () => out + err };
}

/** Stops a process with SIGTERM and waits for it to exit; resolves with its exit code. */
export function stop(child) {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((res) => {
    child.once('exit', (code) => res(code));
    child.kill('SIGTERM');
  });
}

/** A fresh working folder with test GeoIP databases and a target list aimed at fixture hosts. */
export function makeWorkdir() {
  const dir = mkdtempSync(join(tmpdir(), 'vantage-e2e-'));
  execFileSync(TESTKIT, ['mmdb', '--dir', dir]);
  // Each platform host resolves (through Chromium's --host-resolver-rules) to the fixture server,
  // whose paths answer fast, reset the connection, answer late, or never answer.
  writeFileSync(join(dir, 'targets.toml'), `version = "e2e.1"

[control]
url = "/v1/ping"
timeout_ms = 5000

[[target]]
id = "x.main"
platform = "x"
url = "http://x.test/fast"
timeout_ms = 5000

[[target]]
id = "youtube.main"
platform = "youtube"
url = "http://youtube.test/reset"
timeout_ms = 5000

[[target]]
id = "facebook.main"
platform = "facebook"
url = "http://facebook.test/delay/1200"
timeout_ms = 5000

[[target]]
id = "tiktok.main"
platform = "tiktok"
url = "http://tiktok.test/hang"
timeout_ms = 2000
`);
  return dir;
}

export async function startFixtures() {
  const p = startProcess(TESTKIT, ['fixtures', '--port', '0'], /listening on 127\.0\.0\.1:(\d+)/);
  const m = await p.started;
  return { ...p, port: Number(m[1]) };
}

/** Starts `vantage serve` on port 0 of `host` with the test databases; resolves with its origin. */
export function startCollector(dir, host = '127.0.0.1') {
  return startCollectorWith(dir, [], host);
}

/** The stored observations, through the CLI a user would run. */
export function exportRaw(dir) {
  const out = execFileSync(VANTAGE, ['export', '--raw', '--store', `sqlite:${join(dir, 'data', 'vantage.db')}`], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
}

export async function waitFor(fn, { timeoutMs = 30000, everyMs = 250, what = 'condition' } = {}) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export async function launchChromium(fixturePort, extraArgs = []) {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-default-apps', '--disable-extensions',
      // navigator.webdriver would make the loader skip the visit, as it does for bots.
      '--disable-blink-features=AutomationControlled',
      `--host-resolver-rules=MAP *.test 127.0.0.1:${fixturePort}, EXCLUDE localhost`,
      ...extraArgs,
    ],
  });
}

/** Every file under `dir`, as bytes, for the privacy scan. */
export function allFiles(dir) {
  const found = [];
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) {
      const path = join(e.parentPath ?? e.path, e.name);
      found.push({ path, bytes: readFileSync(path) });
    }
  }
  return found;
}

/**
 * Serves one host article carrying the snippet from a real server on `localhost` (another origin
 * than the collector's 127.0.0.1, as on a real news site). A page served by playwright's router
 * would be a public origin framing loopback, which Chromium's Local Network Access checks block.
 */
export async function startHostSite(collectorOrigin, attrs = '') {
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(hostPage(collectorOrigin, attrs));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://localhost:${server.address().port}/article` };
}

export function hostPage(collectorOrigin, attrs = '') {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Host news page</title></head>
<body><h1>A host article</h1><p>Text.</p>
<script async src="${collectorOrigin}/v1/loader.js" data-site="hostnews" ${attrs}></script></body></html>`;
}

// ---- Added for the dashboard tests (dashboard.test.mjs) ----------------------------------------

/** `vantage serve` on port 0 with the test databases and extra flags (e.g. ['--rate-limit', '0']). */
export async function startCollectorWith(dir, extraArgs = [], host = '127.0.0.1') {
  const listen = host.includes(':') ? `[${host}]:0` : `${host}:0`;
  const p = startProcess(VANTAGE, [
    'serve', '--listen', listen,
    '--store', `sqlite:${join(dir, 'data', 'vantage.db')}`,
    '--geoip-country', join(dir, 'country.mmdb'),
    '--geoip-asn', join(dir, 'asn.mmdb'),
    '--targets', join(dir, 'targets.toml'),
    '--www', join(ROOT, 'www'),
    '--widget-dir', join(ROOT, 'dist', 'widget'),
    ...extraArgs,
  ], /listening on (http:\/\/\S+)/);
  const m = await p.started;
  return { ...p, origin: m[1].replace(/\/$/, '') };
}

/** Loads stored-format observations (docs/protocol.md §2) through `vantage import`. */
export function importObservations(dir, rows) {
  const file = join(dir, `import-${Date.now()}.ndjson`);
  writeFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  mkdirSync(join(dir, 'data'), { recursive: true });
  return execFileSync(VANTAGE, ['import', '--store', `sqlite:${join(dir, 'data', 'vantage.db')}`, file], { encoding: 'utf8' });
}

/**
 * POSTs one report to the collector from a chosen loopback source address (127.0.N.1 is a
 * different /24, so a different network for the collector; the test GeoIP places all of
 * 127.0.0.0/8 in PK, AS17557). Resolves with { status, body }.
 */
export function postReport(origin, report, localAddress = '127.0.0.1') {
  const url = new URL('/v1/reports', origin);
  const body = JSON.stringify(report);
  return new Promise((res, rej) => {
    const req = httpRequest({
      host: url.hostname, port: url.port, path: url.pathname, method: 'POST', localAddress,
      headers: { 'content-type': 'text/plain;charset=UTF-8', 'content-length': Buffer.byteLength(body) },
    }, (r) => {
      let data = '';
      r.on('data', (d) => { data += d; });
      r.on('end', () => res({ status: r.statusCode, body: data }));
    });
    req.on('error', rej);
    req.end(body);
  });
}

/** A valid report (docs/protocol.md §1) for the harness target list. */
export function makeReport(measurements, { site = 'e2e', targetsVersion = 'e2e.1' } = {}) {
  return {
    v: 1,
    id: randomBytes(16).toString('hex'),
    site,
    widget: '0.1.0',
    targets_version: targetsVersion,
    age_s: 0,
    browser: { family: 'chromium', major: 130 },
    control: { target: 'control.self', outcome: 'ok', ms: 20 },
    measurements,
  };
}

// ---- Added for the embed, accessibility and OpenAPI tests ---------------------------------------

/**
 * Serves `pages` ({ '/path': html }) from a real server on `localhost` (another origin than the
 * collector's 127.0.0.1), each with `headers` (e.g. a strict Content-Security-Policy).
 */
export async function startPages(pages, headers = {}) {
  const server = createServer((req, res) => {
    const html = pages[new URL(req.url, 'http://x').pathname];
    res.writeHead(html == null ? 404 : 200, { 'content-type': 'text/html; charset=utf-8', ...headers });
    res.end(html ?? 'not found');
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { server, origin: `http://localhost:${server.address().port}` };
}

/** A host article whose body is `body` and which ends with the loader snippet carrying `attrs`. */
export function hostArticle(collectorOrigin, attrs = '', body = '', lang = 'en') {
  return `<!doctype html><html lang="${lang}"><head><meta charset="utf-8"><title>Host news page</title></head>
<body><header><a href="/">Host News</a></header><main><h1>A host article</h1><p>Text with <a href="#one">a link</a>.</p>${body}</main>
<script async src="${collectorOrigin}/v1/loader.js" data-site="hostnews" ${attrs}></script></body></html>`;
}

/**
 * A few hours of stored-format observations in PK over four ASNs: normal at first, then the
 * last 40 minutes X failing, so the detector publishes states, per-ASN cells and an incident.
 */
export function historyRows(nowMs, { hours = 6 } = {}) {
  const rows = [];
  const end = Math.floor(nowMs / 60000) * 60;
  let id = 0;
  for (let ts = end - hours * 3600; ts <= end; ts += 60) {
    const bad = ts > end - 40 * 60;
    // The last hour is busy enough that each network's own minute cells publish (export, asns).
    const perMinute = ts > end - 60 * 60 ? 48 : 8;
    for (let j = 0; j < perMinute; j++) {
      const asn = [17557, 45669, 24499, 59257][j % 4];
      // The quiet hours rotate over 48 networks (the detector's history rule asks for 30 before a
      // cell may open an incident); the busy last hour has 48 of its own each minute.
      const network = ts > end - 60 * 60 ? j : (j + (ts / 60) * 8) % 48;
      for (const platform of ['x', 'youtube', 'facebook']) {
        const failing = bad && platform === 'x';
        rows.push({
          ts: new Date(ts * 1000).toISOString().replace('.000Z', 'Z'), country: 'PK', asn, network: asn * 100 + network,
          site: 'history', platform, target: `${platform}.main`, outcome: failing ? 'error' : 'ok',
          ms: failing ? 25 : 150 + ((ts / 60 + j * 13) % 90), control_outcome: 'ok', control_ms: 35,
          browser_family: 'chromium', net_type: null, report_id: `f${(id++).toString(16).padStart(31, '0')}`,
        });
      }
    }
  }
  return rows;
}

/**
 * `vantage serve` on `dir`'s store (see startCollectorWith), once the detector, replaying the
 * stored history at start-up, has published at least `platforms` platforms for PK.
 */
export async function startPublishedCollector(dir, extraArgs, { platforms = 1, timeoutMs = 60000 } = {}) {
  const collector = await startCollectorWith(dir, extraArgs);
  await waitFor(async () => (await (await fetch(`${collector.origin}/v1/status?country=PK`)).json()).platforms?.length >= platforms,
    { what: `the detector to publish ${platforms} platform(s) in PK`, timeoutMs });
  return collector;
}

/** A collector on a store seeded with `historyRows`, once the detector has published PK. */
export async function startSeededCollector(extraArgs = ['--rate-limit', '0']) {
  const dir = makeWorkdir();
  importObservations(dir, historyRows(Date.now()));
  return { ...(await startPublishedCollector(dir, extraArgs)), dir };
}

/** Runs axe-core in `frameOrPage` (its context needs bypassCSP) and returns the serious and critical violations. */
export async function axeViolations(frameOrPage, include = null) {
  const axePath = join(ROOT, 'tests', 'e2e', 'node_modules', 'axe-core', 'axe.min.js');
  if (!(await frameOrPage.evaluate(() => typeof window.axe !== 'undefined'))) await frameOrPage.addScriptTag({ path: axePath });
  const result = await frameOrPage.evaluate((inc) => window.axe.run(inc ? { include: [inc] } : document,
    { resultTypes: ['violations'] }), include);
  return result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 5).map((x) => x.target.join(' ')).join('; ')}${v.nodes.length > 5 ? ` and ${v.nodes.length - 5} more` : ''}`);
}

// ---- Set-up written once for the test files ------------------------------------------------------

/**
 * What a test file's cases share, started before its first case and stopped after its last (this
 * registers the node:test hooks): the fixture server (`fixtures`), a collector on a store seeded
 * with `historyRows` (`collector`; `seeded` is its extra flags, or true for the default ones) and
 * Chromium (`browser`, its *.test hosts mapped to the fixtures; to the discard port 9 without
 * them). `setUp(s)` runs after those start and `tearDown(s)` before they stop: node 20 runs a
 * file's top-level `before` hooks all at once, not in order, so what needs the shared parts
 * starts there, not in a hook of its own. Returns the object the hooks fill in: read its fields
 * inside the cases, not at import.
 */
export function shared({ fixtures = false, seeded = null, chromium: wantChromium = false, setUp = null, tearDown = null } = {}) {
  const s = {};
  before(async () => {
    if (fixtures) s.fixtures = await startFixtures();
    if (seeded) s.collector = await startSeededCollector(...(seeded === true ? [] : [seeded]));
    if (wantChromium) s.browser = await launchChromium(s.fixtures?.port ?? 9);
    await setUp?.(s);
  });
  after(async () => {
    try {
      await tearDown?.(s);
    } finally {
      await s.browser?.close();
      if (s.collector) await stop(s.collector.child);
      if (s.fixtures) await stop(s.fixtures.child);
    }
  });
  return s;
}

/**
 * Runs `body(collector)` against a fresh `vantage serve` on `dir` (flags `args`, listening on
 * `host`) and stops the collector after, however `body` ends; resolves with what `body` returned.
 */
export async function withCollector(dir, body, { args = [], host = '127.0.0.1' } = {}) {
  const collector = await startCollectorWith(dir, args, host);
  try {
    return await body(collector);
  } finally {
    await stop(collector.child);
  }
}

/**
 * Runs `body(page, context)` with a new page in a fresh context of `browser` (`options`: viewport,
 * locale, permissions...) and closes the context after, however `body` ends.
 */
export async function inContext(browser, options, body) {
  const context = await browser.newContext(options);
  try {
    return await body(await context.newPage(), context);
  } finally {
    await context.close();
  }
}
