// The measuring frame guards itself (issue 9, point 7), in Chromium: a page that frames
// /v1/frame.html directly measures nobody; DNT, GPC and automation stop the frame even for a
// page that speaks the loader's protocol; our loader on another origin still measures, and its
// reports land both by fetch(keepalive) and by sendBeacon as same-origin POSTs (the Origin header
// the browser sent is recorded by a forward proxy between Chromium and everything else).
// Every negative check runs next to a positive control in a parallel context, and waits for the
// control's report: the frame under test had at least as long to misbehave.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeWorkdir, startFixtures, startCollector, stop, exportRaw, waitFor, launchChromium, startPages } from './harness.mjs';
import { startRecordingProxy, reportPosts } from './proxy.mjs';
import { makeSlowWorkdir, loaderPage, directPage, copiedPage, measuring, partDone } from './frame-pages.mjs';

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

/** Opens `html` from a localhost page server in a fresh context whose traffic goes through its own recording proxy. */
async function open(html, initScripts = []) {
  const proxy = await startRecordingProxy(fixtures.port);
  const host = await startPages({ '/p': html });
  const context = await browser.newContext({ proxy: { server: `http://127.0.0.1:${proxy.port}`, bypass: '<-loopback>' } });
  for (const s of initScripts) await context.addInitScript(s);
  const page = await context.newPage();
  await page.goto(`${host.origin}/p`);
  return { proxy, page, async close() { await context.close(); host.server.close(); proxy.close(); } };
}

const rowsOf = (dir, site) => exportRaw(dir).filter((r) => r.site === site);
const waitRows = (dir, site, n) => waitFor(() => { const r = rowsOf(dir, site); return r.length >= n ? r : null; },
  { timeoutMs: 60000, what: `${n} stored rows of site ${site}` });
const framesLoaded = (page, n) => waitFor(() => page.evaluate((k) => window.loaded >= k, n), { timeoutMs: 30000, what: `${n} frame(s) loaded` });

/** The stored report `rows` came in, as the proxy saw it posted; waits for the collector's answer. */
async function postOf(proxy, origin, rows) {
  const ids = new Set(rows.map((r) => r.report_id));
  assert.equal(ids.size, 1, 'one report');
  const [id] = ids;
  return waitFor(() => reportPosts(proxy.seen, origin).find((p) => p.id === id && p.status !== null),
    { what: `the post of report ${id} and its answer` });
}

test('our loader on another origin: the report lands by fetch(keepalive), a same-origin POST', async () => {
  const dir = makeWorkdir();
  const collector = await startCollector(dir);
  const o = collector.origin;
  const t = await open(loaderPage(o));
  try {
    const rows = await waitRows(dir, 'hostnews', 4);
    assert.equal(rows.length, 4);
    const post = await postOf(t.proxy, o, rows);
    assert.equal(post.headers.origin, o, 'the browser sent the collector\'s own origin');
    assert.equal(post.headers['sec-fetch-site'], 'same-origin');
    assert.equal(post.headers['sec-fetch-mode'], 'cors', 'fetch(), not a beacon');
    assert.ok(post.status >= 200 && post.status < 300, `answered ${post.status}`);
    assert.equal(reportPosts(t.proxy.seen, o).length, 1, 'one post');
  } finally {
    await t.close();
    await stop(collector.child);
  }
});

test('our loader on another origin: a run cut short by pagehide lands by sendBeacon, a same-origin POST', async () => {
  const dir = makeSlowWorkdir();
  const collector = await startCollector(dir);
  const o = collector.origin;
  const t = await open(loaderPage(o));
  try {
    // The fourth target starts once one of the first three is done, and then hangs for 60 s.
    await waitFor(() => t.proxy.seen.some((r) => r.url.startsWith('http://tiktok.test/hang')) && partDone(t.proxy.seen), { what: 'the hanging target, after the fast and the slow target answered', timeoutMs: 60000 });
    await t.page.goto('about:blank');
    const rows = await waitRows(dir, 'hostnews', 1);
    assert.ok(rows.length < 4 && !rows.some((r) => r.target === 'tiktok.main'), `a partial report: ${JSON.stringify(rows)}`);
    const post = await postOf(t.proxy, o, rows);
    assert.equal(post.headers['sec-fetch-mode'], 'no-cors', 'sent by navigator.sendBeacon');
    assert.equal(post.headers.origin, o, 'the browser sent the collector\'s own origin');
    assert.equal(post.headers['sec-fetch-site'], 'same-origin');
    assert.ok(post.status >= 200 && post.status < 300, `answered ${post.status}`);
  } finally {
    await t.close();
    await stop(collector.child);
  }
});

test('our loader on another origin: a frame sent elsewhere mid-run beacons its partial report, without false errors', async () => {
  const dir = makeSlowWorkdir();
  const collector = await startCollector(dir);
  const o = collector.origin;
  const t = await open(loaderPage(o));
  try {
    await waitFor(() => t.proxy.seen.some((r) => r.url.startsWith('http://tiktok.test/hang')) && partDone(t.proxy.seen), { what: 'the hanging target, after the fast and the slow target answered', timeoutMs: 60000 });
    // The navigation stops the hanging request: it must be left out, not reported as `error`.
    await t.page.evaluate((to) => { document.querySelector('iframe').src = to; }, `${o}/v1/ping`);
    const rows = await waitRows(dir, 'hostnews', 1);
    assert.ok(rows.length < 4 && !rows.some((r) => r.target === 'tiktok.main'), `a partial report: ${JSON.stringify(rows)}`);
    const post = await postOf(t.proxy, o, rows);
    assert.equal(post.headers['sec-fetch-mode'], 'no-cors', 'sent by navigator.sendBeacon');
    assert.equal(post.headers.origin, o);
    assert.ok(post.status >= 200 && post.status < 300, `answered ${post.status}`);
  } finally {
    await t.close();
    await stop(collector.child);
  }
});

test('a page that frames /v1/frame.html directly measures nothing and stores nothing', async () => {
  const dir = makeWorkdir();
  const collector = await startCollector(dir);
  const o = collector.origin;
  const direct = await open(directPage(o));
  let control;
  try {
    await framesLoaded(direct.page, 3);
    // Control, started after the direct frames loaded: the same frame, started the loader's way.
    control = await open(copiedPage(o, 'copied'));
    await waitRows(dir, 'copied', 4);
    assert.deepEqual(measuring(direct.proxy.seen, o), [], 'no request to the targets, /v1/targets, the wasm or /v1/reports');
    assert.deepEqual(exportRaw(dir).filter((r) => r.site.startsWith('direct')), []);
  } finally {
    await control?.close();
    await direct.close();
    await stop(collector.child);
  }
});

const SIGNALS = {
  'Do Not Track': () => Object.defineProperty(Navigator.prototype, 'doNotTrack', { get: () => '1' }),
  'Do Not Track (legacy window.doNotTrack)': () => Object.defineProperty(window, 'doNotTrack', { get: () => '1' }),
  'Global Privacy Control': () => Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', { get: () => true }),
  'navigator.webdriver': () => Object.defineProperty(Navigator.prototype, 'webdriver', { get: () => true }),
};

for (const [name, script] of Object.entries(SIGNALS)) {
  test(`${name}: the frame measures nothing, even for a page that speaks the loader's protocol`, async () => {
    const dir = makeWorkdir();
    const collector = await startCollector(dir);
    const o = collector.origin;
    // The signal is set in every frame of the context, ours included (as a browser setting is).
    const signalled = await open(copiedPage(o, 'signalled'), [script]);
    let control;
    try {
      await framesLoaded(signalled.page, 1);
      control = await open(copiedPage(o, 'control'));
      await waitRows(dir, 'control', 4);
      assert.deepEqual(measuring(signalled.proxy.seen, o), [], `requests made despite ${name}`);
      assert.deepEqual(rowsOf(dir, 'signalled'), []);
    } finally {
      await control?.close();
      await signalled.close();
      await stop(collector.child);
    }
  });
}

test('a stop message (the reader opted out) ends a run: nothing is beaconed when the frame goes', async () => {
  const dir = makeSlowWorkdir();
  const collector = await startCollector(dir);
  const o = collector.origin;
  const stopped = await open(copiedPage(o, 'stopped'));
  const control = await open(copiedPage(o, 'beaconed'));
  try {
    const hanging = (t) => waitFor(() => t.proxy.seen.some((r) => r.url.startsWith('http://tiktok.test/hang')) && partDone(t.proxy.seen), { what: 'the hanging target, after the fast and the slow target answered', timeoutMs: 60000 });
    await hanging(stopped);
    await hanging(control);
    assert.equal(await stopped.page.evaluate(() => window.stopFrame()), true, 'the frame acknowledged the stop');
    await stopped.page.evaluate(() => window.removeFrame());
    await control.page.evaluate(() => window.removeFrame());
    await waitRows(dir, 'beaconed', 1);
    assert.deepEqual(reportPosts(stopped.proxy.seen, o), [], 'no report posted after the stop');
    assert.deepEqual(rowsOf(dir, 'stopped'), []);
  } finally {
    await control.close();
    await stopped.close();
    await stop(collector.child);
  }
});
