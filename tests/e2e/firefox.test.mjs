// The same frame guarantees in Debian's firefox-esr (headless, through geckodriver's WebDriver HTTP
// API: firefox.mjs): our loader's reports land by fetch(keepalive) and by sendBeacon as
// same-origin POSTs (recorded by a forward proxy, proxy.mjs), a page that frames /v1/frame.html
// directly measures nothing, and Do-Not-Track and Global Privacy Control, set as browser
// preferences, stop the frame even for a page that speaks the loader's protocol.
// Firefox under WebDriver always says navigator.webdriver = true, so the snippets here carry
// data-allow-automation (the loader passes it in its start message); a page that does not speak
// the protocol cannot pass it. Negative checks wait for a positive control started after them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeWorkdir, startFixtures, startCollector, stop, exportRaw, waitFor, startPages } from './harness.mjs';
import { startRecordingProxy, reportPosts } from './proxy.mjs';
import { startFirefox, proxyPrefs } from './firefox.mjs';
import { makeSlowWorkdir, loaderPage, directPage, copiedPage, measuring, partDone } from './frame-pages.mjs';

let fixtures;
let main; // a Firefox session for the positive paths and the controls

/** A Firefox session (with extra `prefs`) whose traffic goes through its own recording proxy. */
async function session(prefs = {}) {
  const proxy = await startRecordingProxy(fixtures.port);
  try {
    const ff = await startFirefox({ ...proxyPrefs(proxy.port), ...prefs });
    return { ff, proxy, async close() { try { await ff.close(); } finally { proxy.close(); } } };
  } catch (e) {
    proxy.close();
    throw e;
  }
}

before(async () => {
  fixtures = await startFixtures();
  main = await session();
});

after(async () => {
  await main?.close();
  if (fixtures) await stop(fixtures.child);
});

const rowsOf = (dir, site) => exportRaw(dir).filter((r) => r.site === site);
const waitRows = (dir, site, n) => waitFor(() => { const r = rowsOf(dir, site); return r.length >= n ? r : null; },
  { timeoutMs: 60000, what: `${n} stored rows of site ${site}` });
const framesLoaded = (ff, n) => waitFor(() => ff.exec((k) => window.loaded >= k, n), { timeoutMs: 30000, what: `${n} frame(s) loaded` });

async function postOf(proxy, origin, rows) {
  const ids = new Set(rows.map((r) => r.report_id));
  assert.equal(ids.size, 1, 'one report');
  const [id] = ids;
  return waitFor(() => reportPosts(proxy.seen, origin).find((p) => p.id === id && p.status !== null),
    { what: `the post of report ${id} and its answer` });
}

const trace = (seen) => seen.map((r) => `${r.method} ${r.url} ${r.status} origin=${r.headers.origin} mode=${r.headers['sec-fetch-mode']}`).join('\n');

/** Serves `pages` from a localhost page server; resolves with it (close with .server.close()). */
const pagesFor = (pages) => startPages(pages);

test('firefox: our loader on another origin: the report lands by fetch(keepalive), a same-origin POST', async () => {
  const dir = makeWorkdir();
  const collector = await startCollector(dir);
  const o = collector.origin;
  const host = await pagesFor({ '/p': loaderPage(o, 'data-allow-automation') });
  try {
    await main.ff.newTab(`${host.origin}/p`);
    const rows = await waitRows(dir, 'hostnews', 4);
    assert.equal(rows.length, 4);
    const post = await postOf(main.proxy, o, rows);
    assert.equal(post.headers.origin, o, 'the browser sent the collector\'s own origin');
    assert.equal(post.headers['sec-fetch-site'], 'same-origin');
    assert.equal(post.headers['sec-fetch-mode'], 'cors', 'fetch(), not a beacon');
    assert.ok(post.status >= 200 && post.status < 300, `answered ${post.status}`);
  } finally {
    await main.ff.goto('about:blank');
    host.server.close();
    await stop(collector.child);
  }
});

test('firefox: a run cut short by pagehide lands by sendBeacon, a same-origin POST', async () => {
  const dir = makeSlowWorkdir();
  const collector = await startCollector(dir);
  const o = collector.origin;
  const host = await pagesFor({ '/p': loaderPage(o, 'data-allow-automation') });
  try {
    const before = main.proxy.seen.length;
    await main.ff.newTab(`${host.origin}/p`);
    await waitFor(() => main.proxy.seen.slice(before).some((r) => r.url.startsWith('http://tiktok.test/hang')) && partDone(main.proxy.seen.slice(before)), { what: 'the hanging target, after the fast and the slow target answered', timeoutMs: 60000 });
    // The frame's document goes (pagehide) while its browsing context stays: the host page sends
    // the frame to another page of our origin. Firefox loses an out-of-process frame's last
    // requests, beacon and keepalive fetch alike, in a fraction of top-level navigations and frame
    // removals (measured 2 to 4 in 8 under load), so those cannot prove delivery reliably.
    // This navigation also makes Firefox reject the hanging request as a network error before
    // pagehide: the report must still leave it out (frame.js snapshots at beforeunload), not
    // call it `error`.
    await main.ff.exec((to) => { document.querySelector('iframe').src = to; return true; }, `${o}/v1/ping`);
    const rows = await waitRows(dir, 'hostnews', 1).catch((e) => { throw new Error(`${e.message}; the proxy saw:\n${trace(main.proxy.seen.slice(before))}`); });
    assert.ok(rows.length < 4 && !rows.some((r) => r.target === 'tiktok.main'), `a partial report: ${JSON.stringify(rows)}`);
    const post = await postOf(main.proxy, o, rows);
    assert.equal(post.headers['sec-fetch-mode'], 'no-cors', 'sent by navigator.sendBeacon');
    assert.equal(post.headers.origin, o, 'the browser sent the collector\'s own origin');
    assert.equal(post.headers['sec-fetch-site'], 'same-origin');
    assert.ok(post.status >= 200 && post.status < 300, `answered ${post.status}`);
  } finally {
    host.server.close();
    await stop(collector.child);
  }
});

/**
 * Opens `pagePath` of `host` in a fresh session (extra `prefs`), waits until its frame(s) loaded,
 * then runs the protocol-speaking control in the main session and waits for its report; resolves
 * with what the fresh session's proxy saw.
 */
async function againstControl({ dir, o, host, pagePath, frames, prefs }) {
  const s = await session(prefs);
  try {
    await s.ff.goto(`${host.origin}${pagePath}`);
    await framesLoaded(s.ff, frames);
    await main.ff.newTab(`${host.origin}/control`);
    await waitRows(dir, 'control', 4);
    return s.proxy.seen;
  } finally {
    await main.ff.goto('about:blank');
    await s.close();
  }
}

test('firefox: a page that frames /v1/frame.html directly measures nothing and stores nothing', async () => {
  const dir = makeWorkdir();
  const collector = await startCollector(dir);
  const o = collector.origin;
  const host = await pagesFor({ '/direct': directPage(o), '/control': copiedPage(o, 'control', { automation: true }) });
  try {
    const seen = await againstControl({ dir, o, host, pagePath: '/direct', frames: 3 });
    assert.deepEqual(measuring(seen, o), [], 'no request to the targets, /v1/targets, the wasm or /v1/reports');
    assert.deepEqual(exportRaw(dir).filter((r) => r.site.startsWith('direct')), []);
  } finally {
    host.server.close();
    await stop(collector.child);
  }
});

const PREFS = {
  'Do Not Track': { 'privacy.donottrackheader.enabled': true },
  'Global Privacy Control': { 'privacy.globalprivacycontrol.enabled': true },
};

for (const [name, prefs] of Object.entries(PREFS)) {
  test(`firefox: ${name} set in the browser: the frame measures nothing, even for a page that speaks the loader's protocol`, async () => {
    const dir = makeWorkdir();
    const collector = await startCollector(dir);
    const o = collector.origin;
    const host = await pagesFor({
      '/signalled': copiedPage(o, 'signalled', { automation: true }),
      '/control': copiedPage(o, 'control', { automation: true }),
    });
    try {
      const seen = await againstControl({ dir, o, host, pagePath: '/signalled', frames: 1, prefs });
      assert.ok(seen.some((r) => r.url.startsWith(`${o}/v1/frame.js`)), 'the frame itself loaded');
      assert.deepEqual(measuring(seen, o), [], `requests made despite ${name}`);
      assert.deepEqual(rowsOf(dir, 'signalled'), []);
    } finally {
      host.server.close();
      await stop(collector.child);
    }
  });
}
