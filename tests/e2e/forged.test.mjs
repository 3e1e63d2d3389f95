// Reports forged through readers' browsers (issue 9, point 1), in Chromium and Firefox: a hostile
// page on another origin posts made-up reports to /v1/reports with fetch(no-cors), with
// navigator.sendBeacon, and from a sandboxed frame (Origin: null). The collector must answer 403
// and store none of them, while a report without Origin (a non-browser client) is still stored.
//
// NOTE FOR THE MERGE: this file needs the collector's Origin check (branch h/edge: 403
// {"error":"forbidden_origin"} for a foreign or null Origin on POST /v1/reports). On a collector
// without it the forged reports are stored and these tests FAIL; that is expected until h/edge
// is merged. The frame's own deliveries under that check are proven by frame.test.mjs and
// firefox.test.mjs (same-origin POSTs carrying the collector's Origin).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeWorkdir, shared, withCollector, exportRaw, waitFor, startPages, postReport, makeReport } from './harness.mjs';
import { openProxied, reportPosts } from './proxy.mjs';
import { startProxiedFirefox } from './firefox.mjs';

const env = shared({ fixtures: true, chromium: true });

const forged = (site) => makeReport([
  { target: 'x.main', outcome: 'error', ms: 25 },
  { target: 'youtube.main', outcome: 'timeout', ms: 5000 },
], { site });

/** The hostile page: three forged reports, each valid, sent three ways; `window.sent` counts them. */
function hostilePage(o) {
  const [a, b, c] = ['forged-fetch', 'forged-beacon', 'forged-null'].map((s) => JSON.stringify(forged(s)));
  const inner = `<script>fetch(${JSON.stringify(o + '/v1/reports')}, { method: 'POST', mode: 'no-cors', body: ${JSON.stringify(c)} })</script>`;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Hostile</title></head><body>
<iframe sandbox="allow-scripts" srcdoc="${inner.replace(/&/g, '&amp;').replace(/"/g, '&quot;')}"></iframe>
<script>
  window.sent = 0;
  fetch(${JSON.stringify(o + '/v1/reports')}, { method: 'POST', mode: 'no-cors', body: ${JSON.stringify(a)} }).then(() => window.sent++, () => window.sent++);
  if (navigator.sendBeacon(${JSON.stringify(o + '/v1/reports')}, ${JSON.stringify(b)})) window.sent++;
</script></body></html>`;
}

/** Waits until the proxy saw the three forged posts answered; checks the answers and the store. */
async function checkRefused(dir, proxy, o, browserName) {
  const posts = await waitFor(() => {
    const p = reportPosts(proxy.seen, o).filter((r) => r.status !== null);
    return p.length >= 3 ? p : null;
  }, { timeoutMs: 60000, what: 'the three forged posts and their answers' });
  const origins = posts.map((p) => p.headers.origin).sort();
  assert.ok(origins.includes('null'), `the sandboxed frame posted with Origin: null (${origins})`);
  assert.ok(origins.filter((x) => x !== 'null').every((x) => x.startsWith('http://localhost:')), `the hostile page's own origin: ${origins}`);
  for (const p of posts) assert.equal(p.status, 403, `${browserName}: a forged report from Origin ${p.headers.origin} must be refused`);
  // A report without Origin is still stored: the forged ones were valid, and the store works.
  const control = makeReport([{ target: 'x.main', outcome: 'ok', ms: 20 }], { site: 'no-origin' });
  assert.equal((await postReport(o, control)).status, 202);
  const rows = exportRaw(dir);
  assert.ok(rows.some((r) => r.site === 'no-origin'), 'the control report is stored');
  assert.deepEqual(rows.filter((r) => r.site.startsWith('forged')), [], `${browserName}: no forged report stored`);
}

/**
 * Starts a collector and has `visit(origin)` start a browser for the hostile page: it resolves with
 * { proxy, evaluate(fn) in the page, open() (the page, unless already open), close() }. Once the
 * page sent its posts, checks what the collector answered and stored.
 */
async function forgedThrough(browserName, visit) {
  const dir = makeWorkdir();
  await withCollector(dir, async ({ origin: o }) => {
    const b = await visit(o);
    try {
      await b.open?.();
      await waitFor(() => b.evaluate(() => window.sent >= 2), { what: 'both forged posts sent' });
      await checkRefused(dir, b.proxy, o, browserName);
    } finally {
      await b.close();
    }
  });
}

test('chromium: a hostile page cannot post reports through its readers\' browsers (fetch no-cors, sendBeacon, Origin null)', async () => {
  await forgedThrough('chromium', async (o) => {
    const t = await openProxied(env.browser, env.fixtures.port, hostilePage(o));
    return { proxy: t.proxy, evaluate: t.page.evaluate.bind(t.page), close: t.close };
  });
});

test('firefox: a hostile page cannot post reports through its readers\' browsers (fetch no-cors, sendBeacon, Origin null)', async () => {
  await forgedThrough('firefox', async (o) => {
    const host = await startPages({ '/evil': hostilePage(o) });
    const s = await startProxiedFirefox(env.fixtures.port).catch((e) => { host.server.close(); throw e; });
    return {
      proxy: s.proxy,
      evaluate: s.ff.exec,
      open: () => s.ff.goto(`${host.origin}/evil`),
      async close() { host.server.close(); await s.close(); },
    };
  });
});
