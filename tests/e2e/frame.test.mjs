// The measuring frame guards itself (issue 9, point 7), in Chromium: a page that frames
// /v1/frame.html directly measures nobody; DNT, GPC and automation stop the frame even for a
// page that speaks the loader's protocol; our loader on another origin still measures, and its
// reports land both by fetch(keepalive) and by sendBeacon as same-origin POSTs (the Origin header
// the browser sent is recorded by a forward proxy between Chromium and everything else).
// Every negative check runs next to a positive control in a parallel context, and waits for the
// control's report: the frame under test had at least as long to misbehave.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeWorkdir, shared, withCollector, exportRaw } from './harness.mjs';
import { openProxied, reportPosts } from './proxy.mjs';
import {
  makeSlowWorkdir, loaderPage, directPage, copiedPage, measuring, untilPartDone, rowsOf, waitRows, framesLoaded, postOf,
  assertSameOriginPost, assertPartial,
} from './frame-pages.mjs';

const env = shared({ fixtures: true, chromium: true });

/** Opens `html` from a localhost page server in a fresh context whose traffic goes through its own recording proxy. */
const open = (html, initScripts) => openProxied(env.browser, env.fixtures.port, html, initScripts);
/** framesLoaded in a Chromium page. */
const loaded = (page, n) => framesLoaded(page.evaluate.bind(page), n);

/**
 * Starts a collector on `dir`, opens `html(origin)` (with `initScripts`), runs `check(t, origin)`
 * and closes both, however `check` ends.
 */
async function withPage(dir, html, check, initScripts = []) {
  await withCollector(dir, async ({ origin: o }) => {
    const t = await open(html(o), initScripts);
    try {
      await check(t, o);
    } finally {
      await t.close();
    }
  });
}

/**
 * Waits until `t`'s page loaded `frames` frame(s), then runs the protocol-speaking control in a
 * context of its own and waits for its report: the page under test had at least as long to misbehave.
 */
async function afterControl(dir, o, t, frames) {
  await loaded(t.page, frames);
  const control = await open(copiedPage(o, 'control'));
  try {
    await waitRows(dir, 'control', 4);
  } finally {
    await control.close();
  }
}

test('our loader on another origin: the report lands by fetch(keepalive), a same-origin POST', async () => {
  const dir = makeWorkdir();
  await withPage(dir, loaderPage, async (t, o) => {
    const rows = await waitRows(dir, 'hostnews', 4);
    assert.equal(rows.length, 4);
    assertSameOriginPost(await postOf(t.proxy, o, rows), o, 'cors');
    assert.equal(reportPosts(t.proxy.seen, o).length, 1, 'one post');
  });
});

/** Two ways a frame's document goes mid-run; each time the partial report is beaconed. */
const CUT_SHORT = {
  'a run cut short by pagehide lands by sendBeacon, a same-origin POST': (t) => t.page.goto('about:blank'),
  // The navigation stops the hanging request: it must be left out, not reported as `error`.
  'a frame sent elsewhere mid-run beacons its partial report, without false errors':
    (t, o) => t.page.evaluate((to) => { document.querySelector('iframe').src = to; }, `${o}/v1/ping`),
};

for (const [name, leave] of Object.entries(CUT_SHORT)) {
  test(`our loader on another origin: ${name}`, async () => {
    const dir = makeSlowWorkdir();
    await withPage(dir, loaderPage, async (t, o) => {
      // The fourth target starts once one of the first three is done, and then hangs for 60 s.
      await untilPartDone(() => t.proxy.seen);
      await leave(t, o);
      const rows = await waitRows(dir, 'hostnews', 1);
      assertPartial(rows);
      assertSameOriginPost(await postOf(t.proxy, o, rows), o, 'no-cors');
    });
  });
}

test('a page that frames /v1/frame.html directly measures nothing and stores nothing', async () => {
  const dir = makeWorkdir();
  await withPage(dir, directPage, async (direct, o) => {
    await afterControl(dir, o, direct, 3);
    assert.deepEqual(measuring(direct.proxy.seen, o), [], 'no request to the targets, /v1/targets, the wasm or /v1/reports');
    assert.deepEqual(exportRaw(dir).filter((r) => r.site.startsWith('direct')), []);
  });
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
    // The signal is set in every frame of the context, ours included (as a browser setting is).
    await withPage(dir, (o) => copiedPage(o, 'signalled'), async (signalled, o) => {
      await afterControl(dir, o, signalled, 1);
      assert.deepEqual(measuring(signalled.proxy.seen, o), [], `requests made despite ${name}`);
      assert.deepEqual(rowsOf(dir, 'signalled'), []);
    }, [script]);
  });
}

test('a stop message (the reader opted out) ends a run: nothing is beaconed when the frame goes', async () => {
  const dir = makeSlowWorkdir();
  await withCollector(dir, async ({ origin: o }) => {
    const stopped = await open(copiedPage(o, 'stopped'));
    const control = await open(copiedPage(o, 'beaconed'));
    try {
      await untilPartDone(() => stopped.proxy.seen);
      await untilPartDone(() => control.proxy.seen);
      assert.equal(await stopped.page.evaluate(() => window.stopFrame()), true, 'the frame acknowledged the stop');
      await stopped.page.evaluate(() => window.removeFrame());
      await control.page.evaluate(() => window.removeFrame());
      await waitRows(dir, 'beaconed', 1);
      assert.deepEqual(reportPosts(stopped.proxy.seen, o), [], 'no report posted after the stop');
      assert.deepEqual(rowsOf(dir, 'stopped'), []);
    } finally {
      await control.close();
      await stopped.close();
    }
  });
});
