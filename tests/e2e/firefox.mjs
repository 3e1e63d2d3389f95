// A tiny W3C WebDriver client over fetch: Debian's firefox-esr, headless, driven through
// geckodriver's HTTP API (no driver library; playwright's Firefox is a patched build, not the
// one readers run). One geckodriver per session, on a free port.
import { startProcess, stop } from './harness.mjs';
import { createServer } from 'node:net';
import { startRecordingProxy } from './proxy.mjs';

const BASE_PREFS = {
  // Quiet: no update, telemetry, safe-browsing or captive-portal traffic to wait on.
  'network.trr.mode': 5,
  'network.captive-portal-service.enabled': false,
  'network.connectivity-service.enabled': false,
  'network.dns.disablePrefetch': true,
  'browser.safebrowsing.malware.enabled': false,
  'browser.safebrowsing.phishing.enabled': false,
  'dom.security.https_first': false,
  'dom.security.https_only_mode': false,
  'app.update.auto': false,
  'datareporting.policy.dataSubmissionEnabled': false,
  'browser.shell.checkDefaultBrowser': false,
};

function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => res(port)); });
  });
}

/** Firefox prefs that send every request (loopback included) through the proxy on `port`. */
export function proxyPrefs(port) {
  return {
    'network.proxy.type': 1,
    'network.proxy.http': '127.0.0.1',
    'network.proxy.http_port': port,
    'network.proxy.no_proxies_on': '',
    'network.proxy.allow_hijacking_localhost': true,
  };
}

/**
 * Starts geckodriver and a headless firefox-esr session with `prefs`; resolves with a session
 * object: goto(url), exec(fn, ...args) (a function run in the current page, its return value
 * back), close().
 */
export async function startFirefox(prefs = {}) {
  const port = await freePort();
  const driver = startProcess('geckodriver', ['--host', '127.0.0.1', '--port', String(port)], /Listening on/, { timeoutMs: 30000 });
  await driver.started;
  const base = `http://127.0.0.1:${port}`;
  const call = async (method, path, body) => {
    const r = await fetch(base + path, {
      method, headers: { 'content-type': 'application/json' }, body: body && JSON.stringify(body),
    });
    const j = await r.json();
    if (!r.ok) throw new Error(`webdriver ${method} ${path}: ${r.status} ${JSON.stringify(j.value)}`);
    return j.value;
  };
  let id;
  try {
    const s = await call('POST', '/session', {
      capabilities: {
        alwaysMatch: {
          browserName: 'firefox',
          'moz:firefoxOptions': { binary: '/usr/bin/firefox-esr', args: ['-headless'], prefs: { ...BASE_PREFS, ...prefs } },
          timeouts: { pageLoad: 60000, script: 60000 },
        },
      },
    });
    id = s.sessionId;
  } catch (e) {
    await stop(driver.child);
    throw new Error(`${e.message}\n${driver.logs()}`);
  }
  const at = `/session/${id}`;
  return {
    goto: (url) => call('POST', `${at}/url`, { url }),
    exec: (fn, ...args) => call('POST', `${at}/execute/sync`, { script: `return (${fn}).apply(null, arguments)`, args }),
    /** Like exec, for a function returning a promise. */
    execAsync: (fn, ...args) => call('POST', `${at}/execute/async`, {
      script: `const done = arguments[arguments.length - 1]; Promise.resolve((${fn}).apply(null, Array.prototype.slice.call(arguments, 0, -1))).then(done, (e) => done('error: ' + e))`,
      args,
    }),
    /** Opens `url` in a new tab and makes it the current one. */
    async newTab(url) {
      const { handle } = await call('POST', `${at}/window/new`, { type: 'tab' });
      await call('POST', `${at}/window`, { handle });
      await call('POST', `${at}/url`, { url });
    },
    async close() {
      try { await call('DELETE', at); } finally { await stop(driver.child); }
    },
  };
}

/**
 * A Firefox session (with extra `prefs`) whose traffic goes through its own recording proxy;
 * resolves with { ff, proxy, close() }.
 */
export async function startProxiedFirefox(fixturePort, prefs = {}) {
  const proxy = await startRecordingProxy(fixturePort);
  try {
    const ff = await startFirefox({ ...proxyPrefs(proxy.port), ...prefs });
    return { ff, proxy, async close() { try { await ff.close(); } finally { proxy.close(); } } };
  } catch (e) {
    proxy.close();
    throw e;
  }
}
