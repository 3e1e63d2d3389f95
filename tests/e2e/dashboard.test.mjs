// The reader-facing pages against the real collector: a SQLite store seeded with `vantage import`
// (24 h of normal history, then X failing and YouTube slow in Pakistan for the last 45 minutes),
// Debian's Chromium opening the dashboard and the badge. Checks that they show the platforms and
// states the read API gives, that they follow new reports live (no reload), that Urdu is
// right-to-left, that nothing breaks the pages' CSP, and saves screenshots to artifacts/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import http from 'node:http';
import {
  ROOT, makeWorkdir, startPublishedCollector, waitFor, importObservations, shared,
  postReport, makeReport,
} from './harness.mjs';

const ARTIFACTS = join(ROOT, 'tests', 'e2e', 'artifacts');
const EN = JSON.parse(readFileSync(join(ROOT, 'www', 'i18n', 'en.json'), 'utf8'));
const UR = JSON.parse(readFileSync(join(ROOT, 'www', 'i18n', 'ur.json'), 'utf8'));

const PK_ASNS = [17557, 45669, 24499, 59257];

/** Stored-format observations: 24 h of history for PK and IR, the last 45 min disturbed in PK. */
function seedRows(nowMs) {
  const rows = [];
  let n = 0;
  const now = Math.floor(nowMs / 60000) * 60;
  const add = (ts, country, asn, network, platform, outcome, ms) => rows.push({
    ts: new Date(ts * 1000).toISOString().replace('.000Z', 'Z'),
    country, asn, network, site: 'seed', platform, target: `${platform}.main`, outcome, ms,
    control_outcome: 'ok', control_ms: 40, browser_family: 'chromium', net_type: null,
    report_id: (n++).toString(16).padStart(32, '0'),
  });
  const jitter = (i, base, spread) => base + ((i * 7919) % 97) / 97 * spread;
  for (let ts = now - 24 * 3600; ts <= now; ts += 60) {
    const recent = ts > now - 45 * 60;
    const minute = (ts / 60) | 0;
    const perMinute = recent ? 12 : 3; // denser lately, so each network has its own numbers
    for (let j = 0; j < perMinute; j++) {
      const i = minute * perMinute + j; // rotates through the four ASNs
      const asn = PK_ASNS[i % PK_ASNS.length];
      const net = asn * 100 + (i % 48); // 48 distinct networks: the history rule asks for 30
      add(ts, 'PK', asn, net, 'x', recent ? (j === 0 ? 'timeout' : 'error') : 'ok', recent ? (j === 0 ? 5000 : 30) : jitter(i, 180, 80));
      add(ts, 'PK', asn, net, 'youtube', 'ok', recent ? jitter(i, 2600, 900) : jitter(i, 220, 80));
      add(ts, 'PK', asn, net, 'facebook', 'ok', jitter(i, 200, 80));
      if (j < 3) {
        add(ts, 'IR', 58224, 900000 + (i % 12), 'x', 'ok', jitter(i, 250, 80));
        add(ts, 'IR', 58224, 900000 + (i % 12), 'facebook', 'ok', jitter(i, 250, 80));
      }
    }
    // TikTok: one report every ten minutes from a single network: never enough to publish.
    if (minute % 10 === 0) add(ts, 'PK', 17557, 1, 'tiktok', 'ok', 300);
  }
  return rows;
}

let dir;
let origin;
const env = shared({
  chromium: true,
  async setUp(s) {
    mkdirSync(ARTIFACTS, { recursive: true });
    dir = makeWorkdir();
    importObservations(dir, seedRows(Date.now()));
    s.collector = await startPublishedCollector(dir, ['--rate-limit', '0']);
    origin = s.collector.origin;
  },
});

async function api(path) {
  const res = await fetch(origin + path);
  assert.equal(res.status, 200, `${path}: HTTP ${res.status}`);
  return res.json();
}

/** A page that records console errors, CSP violations and uncaught exceptions. */
async function openPage(context, url, viewport) {
  const page = await context.newPage();
  if (viewport) await page.setViewportSize(viewport);
  const problems = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
  page.on('pageerror', (e) => problems.push(e.message));
  await page.goto(origin + url);
  return { page, problems };
}

const cardStates = (page) => page.$$eval('#cards .card', (cs) => Object.fromEntries(cs.map((c) => [c.dataset.platform, { state: c.dataset.state, reports: Number(c.dataset.reports), word: c.querySelector('.pill-word')?.textContent }])));
const chipStates = (frame) => frame.$$eval('.chip', (cs) => Object.fromEntries(cs.map((c) => [c.dataset.platform, { state: c.dataset.state, text: c.textContent }])));

test('dashboard: the visitor\'s country, every platform\'s state, drill-down, incidents, map, phone', async () => {
  const status = await api('/v1/status?country=PK');
  const byPlatform = Object.fromEntries(status.platforms.map((p) => [p.platform, p]));
  assert.equal(byPlatform.x?.state, 'disrupted', `seeded X failures read disrupted: ${JSON.stringify(byPlatform.x)}`);
  assert.equal(byPlatform.facebook?.state, 'normal', `seeded Facebook reads normal: ${JSON.stringify(byPlatform.facebook)}`);

  const context = await env.browser.newContext({ viewport: { width: 1280, height: 900 } });
  try {
    // No ?country=: the page asks /v1/whereami (loopback is PK in the test GeoIP files).
    const { page, problems } = await openPage(context, '/?lang=en');
    await page.waitForSelector('#cards .card[data-platform="x"]');
    await waitFor(() => page.$$eval('.chart-svg, .chart-empty', (e) => e.length >= 3), { what: 'charts', timeoutMs: 15000 });
    assert.equal(await page.inputValue('#country'), 'PK');
    assert.equal(await page.textContent('#question'), 'Is it reachable in Pakistan?');

    const cards = await cardStates(page);
    for (const p of status.platforms) {
      assert.ok(cards[p.platform], `a card for ${p.platform}`);
      assert.equal(cards[p.platform].state, p.state, `${p.platform} state`);
      assert.equal(cards[p.platform].word, EN[`state_${p.state}`], `${p.platform} state word`);
    }
    assert.match(await page.textContent('#summary'), /X \(Disrupted\)/);
    // Icons, not colour alone: each pill carries an icon shaped for its state.
    assert.equal(await page.$$eval('#cards .card[data-platform="x"] .pill .icon-disrupted', (e) => e.length), 1);

    // Drill-down to networks.
    const asns = byPlatform.x.asns ?? [];
    await page.click('#cards .card[data-platform="x"] .drill');
    assert.equal(await page.getAttribute('#cards .card[data-platform="x"] .drill', 'aria-expanded'), 'true');
    const rows = await page.$$eval('#cards .card[data-platform="x"] .asn-row', (rs) => rs.map((r) => ({ asn: Number(r.dataset.asn), state: r.dataset.state })));
    assert.equal(rows.length, asns.length, 'one row per network of the API');
    for (const a of asns) assert.ok(rows.some((r) => r.asn === a.asn && r.state === a.state), `AS${a.asn} ${a.state}`);

    // Incidents with their evidence, for PK.
    const { incidents } = await api('/v1/incidents?country=PK');
    if (incidents.length) {
      await waitFor(() => page.$$eval('#incidents .incident[data-id]', (e) => e.length > 0), { what: 'incidents listed' });
      const shown = await page.$$eval('#incidents .incident[data-id]', (e) => e.map((i) => i.dataset.platform));
      assert.ok(shown.includes(incidents[0].platform), `incident for ${incidents[0].platform} listed`);
      assert.match(await page.textContent('#incidents'), /Peak failure rate/);
    }

    // The map: PK is painted with the worst state there, and is the selected tile.
    const { countries } = await api('/v1/countries');
    const pk = countries.find((c) => c.country === 'PK');
    assert.equal(await page.getAttribute('.tile[data-cc="PK"]', 'data-state'), pk.state);
    assert.equal(await page.getAttribute('.tile[data-cc="PK"]', 'aria-pressed'), 'true');
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-desktop.png'), fullPage: true });

    // Another country through the map, without reloading.
    await page.evaluate(() => { window.__noReload = true; });
    await page.click('.tile[data-cc="IR"]');
    await waitFor(() => page.inputValue('#country').then((v) => v === 'IR'), { what: 'IR selected' });
    await page.waitForSelector('#cards .card[data-platform="facebook"]');
    assert.equal(await page.evaluate(() => window.__noReload), true);
    assert.match(page.url(), /country=IR/);

    // A phone, 360 px wide: no sideways scrolling of the page.
    await page.setViewportSize({ width: 360, height: 780 });
    await page.selectOption('#country', 'PK');
    await page.waitForSelector('#cards .card[data-platform="x"][data-state="disrupted"]');
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 360), 'no horizontal overflow at 360 px');
    await page.setViewportSize({ width: 390, height: 844 });
    await waitFor(() => page.$$eval('.chart-svg', (e) => e.length >= 3), { what: 'charts again', timeoutMs: 15000 });
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-phone.png') });

    assert.deepEqual(problems, [], 'no console errors, CSP violations or exceptions');
  } finally {
    await context.close();
  }
});

test('badge: chips for the requested platforms, framed at 320x60, links to the dashboard', async () => {
  const status = await api('/v1/status?country=PK');
  const byPlatform = Object.fromEntries(status.platforms.map((p) => [p.platform, p]));
  const context = await env.browser.newContext({ viewport: { width: 400, height: 200 } });
  try {
    const { page, problems } = await openPage(context, '/v1/badge?country=PK&platforms=x,youtube&lang=en');
    await page.waitForSelector('.chip[data-platform="x"][data-state]');
    await page.waitForSelector('.chip[data-platform="youtube"][data-state]');
    const chips = await chipStates(page);
    assert.deepEqual(Object.keys(chips), ['x', 'youtube'], 'only the requested platforms, in order');
    for (const k of ['x', 'youtube']) {
      assert.equal(chips[k].state, byPlatform[k].state, `${k} chip state`);
      assert.ok(chips[k].text.includes(EN[`state_${byPlatform[k].state}`]), `${k} chip says its state`);
    }
    assert.equal(await page.getAttribute('#chips', 'role'), 'status');
    assert.equal(await page.getAttribute('#chips', 'aria-live'), 'polite');
    const link = await page.$eval('#more', (a) => ({ href: a.getAttribute('href'), target: a.target, rel: a.rel }));
    assert.deepEqual(link, { href: '/?country=PK&lang=en', target: '_blank', rel: 'noopener' });
    assert.deepEqual(problems, []);

    // Framed by an article on another origin (a real loopback server: Chromium's local-network
    // checks refuse a frame to loopback from a page that only playwright's router served).
    const article = http.createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(`<!doctype html><body style="margin:8px"><p>Article</p>
        <iframe id="b" src="${origin}/v1/badge?country=PK&platforms=x,youtube" width="320" height="60" style="border:1px solid #ccc"></iframe>
        <iframe id="u" src="${origin}/v1/badge?country=PK&platforms=x,youtube,facebook&lang=ur" width="320" height="60" style="border:1px solid #ccc"></iframe></body>`);
    });
    await new Promise((r) => article.listen(0, 'localhost', r));
    const host = await context.newPage();
    await host.goto(`http://localhost:${article.address().port}/article`);
    const frame = await waitFor(() => host.frames().find((f) => f.url().includes('platforms=x,youtube') && !f.url().includes('lang=ur')), { what: 'badge frame' });
    await frame.waitForSelector('.chip[data-platform="youtube"][data-state]');
    const fits = await frame.evaluate(() => {
      const b = document.querySelector('.badge');
      return b.scrollHeight <= b.clientHeight + 1 && b.scrollWidth <= b.clientWidth + 1;
    });
    assert.ok(fits, 'the badge content fits 320x60');
    const ur = host.frames().find((f) => f.url().includes('lang=ur'));
    await ur.waitForSelector('.chip[data-platform="facebook"][data-state]');
    assert.equal(await ur.evaluate(() => document.documentElement.dir), 'rtl');
    await host.waitForTimeout(300);
    await host.screenshot({ path: join(ARTIFACTS, 'badge-framed.png'), clip: { x: 0, y: 0, width: 360, height: 170 } });
    article.close();
  } finally {
    await context.close();
  }
});

test('live: new reports reach the open dashboard and badge through /v1/stream, no reload', async () => {
  const context = await env.browser.newContext({ viewport: { width: 1280, height: 900 } });
  try {
    const { page: dash, problems } = await openPage(context, '/?country=PK&lang=en');
    const { page: badge } = await openPage(context, '/v1/badge?country=PK&platforms=x,youtube,facebook,tiktok');
    await dash.waitForSelector('#cards .card[data-platform="x"]');
    await badge.waitForSelector('.chip[data-platform="tiktok"][data-state]');
    await waitFor(() => dash.$eval('#live', (e) => e.dataset.state === 'live'), { what: 'dashboard live', timeoutMs: 15000 });
    await dash.evaluate(() => { window.__noReload = true; });
    await badge.evaluate(() => { window.__noReload = true; });
    const before = (await cardStates(dash)).x.reports;
    const dashUpdates = Number(await dash.evaluate(() => document.body.dataset.updates ?? 0));
    const badgeUpdates = Number(await badge.evaluate(() => document.body.dataset.updates ?? 0));

    // 24 reports from six /24 networks: X still failing, the others answering.
    for (let i = 0; i < 24; i++) {
      const r = await postReport(origin, makeReport([
        { target: 'x.main', outcome: 'error', ms: 25 },
        { target: 'youtube.main', outcome: 'ok', ms: 2900 },
        { target: 'facebook.main', outcome: 'ok', ms: 190 },
        { target: 'tiktok.main', outcome: 'ok', ms: 260 },
      ]), `127.0.${1 + (i % 6)}.1`);
      assert.equal(r.status, 202, r.body);
    }

    const after = await waitFor(async () => {
      const st = await api('/v1/status?country=PK');
      const x = st.platforms.find((p) => p.platform === 'x');
      const cards = await cardStates(dash);
      return cards.x.reports > before && cards.x.reports === x.reports ? { st, cards } : null;
    }, { what: 'the X card to count the new reports', timeoutMs: 60000 });
    for (const p of after.st.platforms) {
      assert.equal(after.cards[p.platform]?.state, p.state, `${p.platform} card follows the stream`);
    }
    await waitFor(() => badge.evaluate((n) => Number(document.body.dataset.updates ?? 0) > n, badgeUpdates), { what: 'badge status event', timeoutMs: 30000 });
    const want = Object.fromEntries(after.st.platforms.map((p) => [p.platform, p.state]));
    await waitFor(async () => {
      const chips = await chipStates(badge);
      return ['x', 'youtube', 'facebook', 'tiktok'].every((k) => chips[k].state === (want[k] ?? 'insufficient_data'));
    }, { what: 'badge chips to match the API', timeoutMs: 30000 });
    assert.ok(Number(await dash.evaluate(() => document.body.dataset.updates ?? 0)) > dashUpdates);
    assert.equal(await dash.evaluate(() => window.__noReload), true, 'dashboard not reloaded');
    assert.equal(await badge.evaluate(() => window.__noReload), true, 'badge not reloaded');
    assert.match(await dash.textContent('#live-time'), /Updated \d\d:\d\d:\d\d/);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('Urdu: right to left, translated states, mirrored layout', async () => {
  const status = await api('/v1/status?country=PK');
  const context = await env.browser.newContext({ viewport: { width: 1280, height: 900 } });
  try {
    const { page, problems } = await openPage(context, '/?country=PK&lang=ur');
    await page.waitForSelector('#cards .card[data-platform="x"]');
    assert.equal(await page.evaluate(() => document.documentElement.dir), 'rtl');
    assert.equal(await page.evaluate(() => document.documentElement.lang), 'ur');
    const cards = await cardStates(page);
    for (const p of status.platforms) assert.equal(cards[p.platform].word, UR[`state_${p.state}`], `${p.platform} in Urdu`);
    assert.equal(await page.textContent('#cards .card[data-platform="x"] .card-title'), UR.platform_x);
    // Mirrored: a card's title sits at its right-hand side.
    const mirrored = await page.$eval('#cards .card[data-platform="x"]', (c) => {
      const cr = c.getBoundingClientRect();
      const tr = c.querySelector('.card-title').getBoundingClientRect();
      return cr.right - tr.right < 30 && tr.left - cr.left > 60;
    });
    assert.ok(mirrored, 'card title on the right in rtl');
    await page.waitForTimeout(500);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-ur.png'), fullPage: false });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-ur-phone.png') });
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});
