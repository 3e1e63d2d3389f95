// Host pages and checks shared by the frame tests in Chromium (frame.test.mjs) and Firefox
// (firefox.test.mjs): our loader on another origin, a page that frames /v1/frame.html directly,
// and a page that copies the loader's start protocol (and skips every check the loader makes).
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeWorkdir, exportRaw, waitFor } from './harness.mjs';
import { reportPosts } from './proxy.mjs';

/** A work folder whose tiktok target hangs for up to 60 s, so a run can be caught mid-way. */
export function makeSlowWorkdir() {
  const dir = makeWorkdir();
  const file = join(dir, 'targets.toml');
  writeFileSync(file, readFileSync(file, 'utf8').replace('timeout_ms = 2000', 'timeout_ms = 60000'));
  return dir;
}

/** Our loader on a host article, sampled at 1 (plus `attrs`). */
export const loaderPage = (o, attrs = '') => `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Host</title></head>
<body><h1>A host article</h1><script async src="${o}/v1/loader.js" data-site="hostnews" data-sample="1" ${attrs}></script></body></html>`;

/**
 * A hostile page that frames /v1/frame.html itself, three ways: no fragment and a start message
 * without a nonce; a guessed fragment and a start with a wrong nonce; a nonce in the fragment
 * and no start at all. It never speaks the loader's protocol right.
 */
export const directPage = (o) => `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Direct</title></head><body>
<iframe id="a" src="${o}/v1/frame.html?site=direct-a"></iframe>
<iframe id="b" src="${o}/v1/frame.html?site=direct-b#guess"></iframe>
<iframe id="c" src="${o}/v1/frame.html?site=direct-c#n0nce"></iframe>
<script>
  window.loaded = 0;
  const start = (f, m) => { f.contentWindow.postMessage(m, ${JSON.stringify(o)}); f.contentWindow.postMessage(m, '*'); };
  a.onload = () => { window.loaded++; start(a, { vantage: 'start', a: true }); start(a, 'start'); };
  b.onload = () => { window.loaded++; start(b, { vantage: 'start', n: 'wrong', a: true }); };
  c.onload = () => { window.loaded++; };
</script></body></html>`;

/**
 * A page that copies the loader's protocol (frame URL with a nonce, start message on load) and
 * none of its checks: what a hostile embedder can still do. `stopFrame()` sends the stop message and
 * resolves true when the frame acknowledges (false after 30 s); `removeFrame()` takes the frame away (its pagehide fires).
 */
export const copiedPage = (o, site, { automation = false } = {}) => `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Copied</title></head><body>
<script>
  const O = ${JSON.stringify(o)}, nonce = Math.random().toString(36).slice(2);
  const f = document.createElement('iframe');
  f.src = O + '/v1/frame.html?site=${site}#' + nonce;
  window.loaded = 0;
  f.onload = () => { window.loaded++; f.contentWindow.postMessage({ vantage: 'start', n: nonce, a: ${automation} }, O); };
  document.body.appendChild(f);
  window.stopFrame = () => new Promise((r) => {
    addEventListener('message', (e) => { if (e.origin === O && e.data === 'vantage-stopped') r(true); });
    setTimeout(() => r(false), 30000);
    f.contentWindow.postMessage({ vantage: 'stop' }, O);
  });
  window.removeFrame = () => { f.remove(); return true; };
</script></body></html>`;

/** The requests in a proxy log that only a measuring frame makes. */
export const measuring = (seen, collectorOrigin) => seen.filter((r) => r.url.includes('.test/') ||
  r.url.startsWith(`${collectorOrigin}/v1/targets`) || r.url.startsWith(`${collectorOrigin}/v1/w/`) ||
  r.url.startsWith(`${collectorOrigin}/v1/reports`)).map((r) => `${r.method} ${r.url}`);

/** How many times the frame script itself was fetched (each frame that loaded fetched it). */
export const frameScripts = (seen, collectorOrigin) => seen.filter((r) => r.url.startsWith(`${collectorOrigin}/v1/frame.js`)).length;

/**
 * Whether the fast and the slow (1.2 s) target have been answered: the run then holds at least
 * the fast one's outcome (recorded more than a second before), so a pagehide now has a partial
 * report to beacon. Waiting for the hanging target alone raced with the recording of the first.
 */
export const partDone = (seen) => ['http://x.test/fast', 'http://facebook.test/delay/1200']
  .every((u) => seen.some((r) => r.url.startsWith(u) && r.status === 200));

/** Waits until the proxy log `seen()` returns shows the fast and the slow target answered and the hanging one asked. */
export const untilPartDone = (seen) => waitFor(() => seen().some((r) => r.url.startsWith('http://tiktok.test/hang')) && partDone(seen()),
  { what: 'the hanging target, after the fast and the slow target answered', timeoutMs: 60000 });

/** The stored rows of `site`. */
export const rowsOf = (dir, site) => exportRaw(dir).filter((r) => r.site === site);

/** Waits for at least `n` stored rows of `site`; resolves with them. */
export const waitRows = (dir, site, n) => waitFor(() => { const r = rowsOf(dir, site); return r.length >= n ? r : null; },
  { timeoutMs: 60000, what: `${n} stored rows of site ${site}` });

/**
 * Waits until the page counted `n` loaded frames; `evaluate(fn, arg)` runs `fn` in the page
 * (Chromium's page.evaluate, bound, or a Firefox session's exec).
 */
export const framesLoaded = (evaluate, n) => waitFor(() => evaluate((k) => window.loaded >= k, n), { timeoutMs: 30000, what: `${n} frame(s) loaded` });

/** The post of the one report `rows` came from, as the proxy saw it; waits for the collector's answer. */
export async function postOf(proxy, origin, rows) {
  const ids = new Set(rows.map((r) => r.report_id));
  assert.equal(ids.size, 1, 'one report');
  const [id] = ids;
  return waitFor(() => reportPosts(proxy.seen, origin).find((p) => p.id === id && p.status !== null),
    { what: `the post of report ${id} and its answer` });
}

/** A report post the browser sent as a same-origin request of the collector's origin `o`, by `mode` ('cors': fetch; 'no-cors': a beacon), and stored. */
export function assertSameOriginPost(post, o, mode) {
  assert.equal(post.headers.origin, o, 'the browser sent the collector\'s own origin');
  assert.equal(post.headers['sec-fetch-site'], 'same-origin');
  assert.equal(post.headers['sec-fetch-mode'], mode, mode === 'cors' ? 'fetch(), not a beacon' : 'sent by navigator.sendBeacon');
  assert.ok(post.status >= 200 && post.status < 300, `answered ${post.status}`);
}

/** Rows of a partial report: fewer than the four targets, and the hanging one left out (not an `error`). */
export function assertPartial(rows) {
  assert.ok(rows.length < 4 && !rows.some((r) => r.target === 'tiktok.main'), `a partial report: ${JSON.stringify(rows)}`);
}
