// A recording HTTP forward proxy for the browser tests: the browser sends every request through
// it (Chromium --proxy-server, Firefox network.proxy.*), so a test sees each request a page or a
// frame made, with the headers the browser really put on the wire (Origin, Sec-Fetch-*), the
// body of report posts and the status the collector answered. Hosts under .test go to the
// fixture server (as --host-resolver-rules does without a proxy); loopback hosts go where they
// name; anything else (browser background traffic) is refused without leaving the machine.
import { createServer, request as httpRequest } from 'node:http';
import { startPages } from './harness.mjs';

const HOP = ['proxy-connection', 'proxy-authorization', 'connection', 'keep-alive'];

/**
 * Starts the proxy; resolves with { port, seen, close() }. `seen` holds one entry per request:
 * { method, url (absolute), headers (lower-case names), body (text, for POSTs), status (the
 * upstream's answer; null while pending, 'reset' if the upstream cut the connection) }.
 */
export async function startRecordingProxy(fixturePort) {
  const seen = [];
  const server = createServer((req, res) => {
    let url;
    try { url = new URL(req.url); } catch { res.writeHead(400).end(); return; }
    const rec = { method: req.method, url: url.href, headers: req.headers, body: '', status: null };
    seen.push(rec);
    req.setEncoding('utf8');
    req.on('data', (d) => { if (rec.body.length < 65536) rec.body += d; });
    let host = '127.0.0.1';
    let port;
    if (url.hostname.endsWith('.test')) port = fixturePort;
    else if (url.hostname === '127.0.0.1' || url.hostname === 'localhost') port = Number(url.port || 80);
    else if (url.hostname === '[::1]') { host = '::1'; port = Number(url.port || 80); }
    else { rec.status = 403; res.writeHead(403).end(); return; }
    const headers = { ...req.headers };
    for (const h of HOP) delete headers[h];
    // A fresh upstream connection per request: a reused one may be closed by its server as we
    // write to it, and a POST is not retried.
    const up = httpRequest({ host, port, method: req.method, path: url.pathname + url.search, headers, agent: false }, (r) => {
      rec.status = r.statusCode;
      const back = { ...r.headers };
      for (const h of HOP) delete back[h];
      res.writeHead(r.statusCode, back);
      r.pipe(res);
    });
    // A reset upstream (the fixtures' /reset) must reach the browser as a reset, not as a 502
    // answer, or the widget would classify it `ok`.
    up.on('error', () => { rec.status ??= 'reset'; res.destroy(); });
    res.on('close', () => up.destroy());
    req.pipe(up);
  });
  // HTTPS through the proxy (browser background traffic): refused.
  server.on('connect', (req, socket) => {
    seen.push({ method: 'CONNECT', url: `https://${req.url}/`, headers: req.headers, body: '', status: 403 });
    socket.end('HTTP/1.1 403 Forbidden\r\n\r\n');
  });
  // Never close an idle browser connection: a browser that reuses one just as we close it loses
  // a POST (Firefox does not retry a beacon), which looked like a beacon the browser never sent.
  server.keepAliveTimeout = 0;
  server.headersTimeout = 0;
  server.requestTimeout = 0;
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: server.address().port,
    seen,
    close: () => { server.closeAllConnections(); server.close(); },
  };
}

/** The report posts the proxy saw to `collectorOrigin`, with the id of the report each carried. */
export function reportPosts(seen, collectorOrigin) {
  return seen.filter((r) => r.method === 'POST' && r.url === `${collectorOrigin}/v1/reports`).map((r) => {
    let id = null;
    try { id = JSON.parse(r.body).id; } catch { /* not a report */ }
    return { ...r, id };
  });
}

/**
 * Opens `html` from a localhost page server in a fresh Chromium context of `browser` whose traffic
 * goes through its own recording proxy (`initScripts` run first in every frame); resolves with
 * { proxy, page, close() }.
 */
export async function openProxied(browser, fixturePort, html, initScripts = []) {
  const proxy = await startRecordingProxy(fixturePort);
  const host = await startPages({ '/p': html });
  const context = await browser.newContext({ proxy: { server: `http://127.0.0.1:${proxy.port}`, bypass: '<-loopback>' } });
  for (const s of initScripts) await context.addInitScript(s);
  const page = await context.newPage();
  await page.goto(`${host.origin}/p`);
  return { proxy, page, async close() { await context.close(); host.server.close(); proxy.close(); } };
}
