// The same frame guarantees in Debian's firefox-esr (headless, through geckodriver's WebDriver HTTP
// API: firefox.mjs): our loader's reports land by fetch(keepalive) and by sendBeacon as
// same-origin POSTs (recorded by a forward proxy, proxy.mjs), a page that frames /v1/frame.html
// directly measures nothing, and Do-Not-Track and Global Privacy Control, set as browser
// preferences, stop the frame even for a page that speaks the loader's protocol.
// Firefox under WebDriver always says navigator.webdriver = true, so the snippets here carry
// data-allow-automation (the loader passes it in its start message); a page that does not speak
// the protocol cannot pass it. Negative checks wait for a positive control started after them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeWorkdir, shared, withCollector, exportRaw, startPages } from './harness.mjs';
import { startProxiedFirefox } from './firefox.mjs';
import {
  makeSlowWorkdir, loaderPage, directPage, copiedPage, measuring, untilPartDone, rowsOf, waitRows, framesLoaded, postOf,
  assertSameOriginPost, assertPartial,
} from './frame-pages.mjs';

let main; // a Firefox session for the positive paths and the controls
const env = shared({
  fixtures: true,
  setUp: async () => { main = await session(); },
  tearDown: async () => { await main?.close(); },
});

/** A Firefox session (with extra `prefs`) whose traffic goes through its own recording proxy. */
const session = (prefs) => startProxiedFirefox(env.fixtures.port, prefs);

const trace = (seen) => seen.map((r) => `${r.method} ${r.url} ${r.status} origin=${r.headers.origin} mode=${r.headers['sec-fetch-mode']}`).join('\n');

/** Starts a collector on `dir` and a localhost server of `pages(origin)`, runs `check(host, origin)`, stops both. */
async function withPages(dir, pages, check) {
  await withCollector(dir, async ({ origin: o }) => {
    const host = await startPages(pages(o));
    try {
      await check(host, o);
    } finally {
      host.server.close();
    }
  });
}

/** The snippet on a host page, passing data-allow-automation (see the top of this file). */
const loaderSite = (o) => ({ '/p': loaderPage(o, 'data-allow-automation') });

test('firefox: our loader on another origin: the report lands by fetch(keepalive), a same-origin POST', async () => {
  const dir = makeWorkdir();
  await withPages(dir, loaderSite, async (host, o) => {
    try {
      await main.ff.newTab(`${host.origin}/p`);
      const rows = await waitRows(dir, 'hostnews', 4);
      assert.equal(rows.length, 4);
      assertSameOriginPost(await postOf(main.proxy, o, rows), o, 'cors');
    } finally {
      await main.ff.goto('about:blank');
    }
  });
});

test('firefox: a run cut short by pagehide lands by sendBeacon, a same-origin POST', async () => {
  const dir = makeSlowWorkdir();
  await withPages(dir, loaderSite, async (host, o) => {
    const before = main.proxy.seen.length;
    const seen = () => main.proxy.seen.slice(before);
    await main.ff.newTab(`${host.origin}/p`);
    await untilPartDone(seen);
    // The frame's document goes (pagehide) while its browsing context stays: the host page sends
    // the frame to another page of our origin. Firefox loses an out-of-process frame's last
    // requests, beacon and keepalive fetch alike, in a fraction of top-level navigations and frame
    // removals (measured 2 to 4 in 8 under load), so those cannot prove delivery reliably.
    // This navigation also makes Firefox reject the hanging request as a network error before
    // pagehide: the report must still leave it out (frame.js snapshots at beforeunload), not
    // call it `error`.
    await main.ff.exec((to) => { document.querySelector('iframe').src = to; return true; }, `${o}/v1/ping`);
    const rows = await waitRows(dir, 'hostnews', 1).catch((e) => { throw new Error(`${e.message}; the proxy saw:\n${trace(seen())}`); });
    assertPartial(rows);
    assertSameOriginPost(await postOf(main.proxy, o, rows), o, 'no-cors');
  });
});

/**
 * Opens `pagePath` of `host` in a fresh session (extra `prefs`), waits until its frame(s) loaded,
 * then runs the protocol-speaking control in the main session and waits for its report; resolves
 * with what the fresh session's proxy saw.
 */
async function againstControl({ dir, host, pagePath, frames, prefs }) {
  const s = await session(prefs);
  try {
    await s.ff.goto(`${host.origin}${pagePath}`);
    await framesLoaded(s.ff.exec, frames);
    await main.ff.newTab(`${host.origin}/control`);
    await waitRows(dir, 'control', 4);
    return s.proxy.seen;
  } finally {
    await main.ff.goto('about:blank');
    await s.close();
  }
}

/** `page` (a page of the collector's origin) at `/{name}` next to the control page at /control. */
const withControl = (name, page) => (o) => ({ [`/${name}`]: page(o), '/control': copiedPage(o, 'control', { automation: true }) });

test('firefox: a page that frames /v1/frame.html directly measures nothing and stores nothing', async () => {
  const dir = makeWorkdir();
  await withPages(dir, withControl('direct', directPage), async (host, o) => {
    const seen = await againstControl({ dir, host, pagePath: '/direct', frames: 3 });
    assert.deepEqual(measuring(seen, o), [], 'no request to the targets, /v1/targets, the wasm or /v1/reports');
    assert.deepEqual(exportRaw(dir).filter((r) => r.site.startsWith('direct')), []);
  });
});

const PREFS = {
  'Do Not Track': { 'privacy.donottrackheader.enabled': true },
  'Global Privacy Control': { 'privacy.globalprivacycontrol.enabled': true },
};

for (const [name, prefs] of Object.entries(PREFS)) {
  test(`firefox: ${name} set in the browser: the frame measures nothing, even for a page that speaks the loader's protocol`, async () => {
    const dir = makeWorkdir();
    const signalled = (o) => copiedPage(o, 'signalled', { automation: true });
    await withPages(dir, withControl('signalled', signalled), async (host, o) => {
      const seen = await againstControl({ dir, host, pagePath: '/signalled', frames: 1, prefs });
      assert.ok(seen.some((r) => r.url.startsWith(`${o}/v1/frame.js`)), 'the frame itself loaded');
      assert.deepEqual(measuring(seen, o), [], `requests made despite ${name}`);
      assert.deepEqual(rowsOf(dir, 'signalled'), []);
    });
  });
}
