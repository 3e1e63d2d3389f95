// Widget benchmark in real headless Chromium (Debian's, driven by playwright-core): what the
// widget costs a host page. Prints one JSON object on stdout; progress goes to stderr.
//
//   node tests/e2e/bench-widget.mjs --origin http://127.0.0.1:PORT --fixtures-port N --test-hosts x.test,y.test [--visits 10] [--warmup 0]
//
// Needs a running collector whose target list points at fixture hosts (`*.test`, mapped to the
// fixture server by --host-resolver-rules) with /delay/{ms} URLs; `vantage-bench widget` starts
// both in process and passes their addresses. Each visit is a fresh browser context (cold cache,
// empty localStorage: a first visit) on a host page, either at the
// collector's own origin (the frame shares the host's renderer main thread: the worst case) or
// on another site (a real server on localhost: the frame gets its own process, as on a real news site).
//
// Per visit it records: response body bytes as transferred (encoded), CDP Performance metrics
// (TaskDuration = main-thread time of the renderer), long tasks from a PerformanceObserver in
// every frame, every resource's absolute start time against the host's load event, and the
// report the frame posts (its measured ms, compared with the fixture's injected delay).
//
// The phone variants (issue 11) run in a second Chromium launched with
// --disable-site-isolation-trials (one process for host and frame, as on most Android Chrome)
// and CDP CPU throttling 4x (a mid-range phone): `phone_sampled` against `phone_none`, the same
// page without the snippet. They get twice the visits: a throttled host page's own main-thread
// time varies by tens of ms from visit to visit on this shared machine, and the figure is a
// difference of two medians (each reported with its noise: the 95 % notch of a median).
//
// The Firefox variant (timing only) drives Debian's firefox-esr through geckodriver (WebDriver:
// firefox.mjs; playwright-core cannot drive an unpatched Firefox), a fresh profile a visit. The
// host page is on another site, as on a news site. The timed hosts (--test-hosts) resolve to
// 127.0.0.1 through network.dns.localDomains and are fetched directly (the target URLs carry the
// fixture port); only the collector's own traffic goes through the recording proxy (proxy.mjs),
// which is where the posted report is read.
import { launchChromium, waitFor } from './harness.mjs';
import { startFirefox, proxyPrefs } from './firefox.mjs';
import { startRecordingProxy, reportPosts } from './proxy.mjs';
import http from 'node:http';
import { performance as perf } from 'node:perf_hooks';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1] && !all[i + 1].startsWith('--') ? all[i + 1] : 'true']);
  return acc;
}, []));
const ORIGIN = args.origin;
const FIXTURES = Number(args['fixtures-port']);
const VISITS = Number(args.visits || 10);
const WARMUP = args.warmup !== '0';
const TEST_HOSTS = (args['test-hosts'] || '').split(',').filter(Boolean);
if (!ORIGIN || !FIXTURES || !TEST_HOSTS.length) {
  console.error('usage: bench-widget.mjs --origin URL --fixtures-port N --test-hosts a.test,b.test [--visits N]');
  process.exit(2);
}
const log = (m) => process.stderr.write(`${m}\n`);

/** Runs in every frame before its scripts: long tasks and the load time, for later reading. */
const OBSERVE = () => {
  window.__vlt = [];
  try {
    new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__vlt.push({ start: e.startTime, ms: e.duration, name: e.name }); })
      .observe({ type: 'longtask', buffered: true });
  } catch (e) { /* no Long Tasks API */ }
};

function hostHtml(variant) {
  // Firefox under WebDriver always says navigator.webdriver: its snippet allows automation.
  const snippet = variant === 'none' ? ''
    : `<script async src="${ORIGIN}/v1/loader.js" data-site="bench" data-sample="${variant.startsWith('sampled') || variant === 'firefox' ? 1 : 0}"${variant === 'firefox' ? ' data-allow-automation' : ''}></script>`;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Host article</title></head>
<body><h1>A host article</h1><p>${'Some article text. '.repeat(200)}</p>${snippet}</body></html>`;
}

const PHONE_CPU_SLOWDOWN = 4;

async function visit(browser, variant, n) {
  const phone = variant.startsWith('phone_');
  const hostVariant = phone ? variant.slice('phone_'.length) : variant;
  const context = await browser.newContext();
  await context.addInitScript(OBSERVE);
  // sampled_xsite: the host on another site, as on a real news site; the frame then runs in its
  // own renderer process (site isolation) and CDP's TaskDuration is the host's renderer alone.
  // The other site is a real server on `localhost` (another site than 127.0.0.1): a page served
  // by playwright's router would be a public origin framing loopback, which Chromium's Local
  // Network Access checks block, so no report would ever be posted.
  const url = `${variant === 'sampled_xsite' ? XSITE : ORIGIN}/bench/${variant}-${n}.html`;
  if (variant !== 'sampled_xsite') {
    await context.route(url, (route) => route.fulfill({ contentType: 'text/html; charset=utf-8', body: hostHtml(hostVariant) }));
  }
  const responses = [];
  let report = null;
  let reportDone;
  const reported = new Promise((res) => { reportDone = res; });
  // The report, from the request itself: the measurement worker posts it, and Playwright reports
  // a worker's requests as started but not as finished.
  context.on('request', (req) => {
    if (req.method() === 'POST' && req.url().endsWith('/v1/reports')) {
      report = JSON.parse(req.postData());
      reportDone();
    }
  });
  context.on('requestfinished', async (req) => {
    try {
      const res = await req.response();
      const sizes = await req.sizes();
      responses.push({
        url: req.url(), method: req.method(), status: res?.status(),
        body: sizes.responseBodySize, headers: sizes.responseHeadersSize,
        encoding: (await res?.allHeaders())?.['content-encoding'] || null,
      });
    } catch (e) { /* a request of a closed page */ }
  });
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('Performance.enable');
  if (phone) await cdp.send('Emulation.setCPUThrottlingRate', { rate: PHONE_CPU_SLOWDOWN });
  await page.goto(url, { waitUntil: 'load' });
  if (hostVariant.startsWith('sampled')) {
    await Promise.race([reported, new Promise((r) => setTimeout(r, 20000))]);
    await page.waitForTimeout(300); // the frame's last task after the POST answer
  } else {
    await page.waitForTimeout(2500); // load + idle: time for a loader that wrongly went on
  }
  const metrics = Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value]));
  const top = await page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    return { loadAbs: performance.timeOrigin + nav.loadEventStart };
  });
  const frames = [];
  for (const f of page.frames()) {
    try {
      frames.push(await f.evaluate(() => ({
        url: location.href,
        timeOrigin: performance.timeOrigin,
        longTasks: window.__vlt || [],
        resources: performance.getEntriesByType('resource').map((e) => ({ name: e.name, abs: performance.timeOrigin + e.startTime })),
      })));
    } catch (e) { /* detached */ }
  }
  await context.close();
  // Requests the widget made before the host's load event: every resource except the host
  // page's own (the loader script itself is the host's), plus the frame's own navigation.
  const starts = frames.flatMap((f, i) => [
    ...(i > 0 ? [{ name: f.url, abs: f.timeOrigin }] : []),
    ...f.resources.filter((r) => !r.name.endsWith('/v1/loader.js')),
  ]);
  const beforeLoad = starts.filter((s) => s.abs < top.loadAbs).map((s) => s.name);
  return {
    variant,
    responses,
    report,
    taskMs: metrics.TaskDuration * 1000,
    scriptMs: metrics.ScriptDuration * 1000,
    longTasks: frames.flatMap((f) => f.longTasks.map((t) => ({ ...t, frame: f.url }))),
    beforeLoad,
  };
}

/** Node's own timing of the same fixture delays: the floor any client on this machine sees. */
function nodeTime(delay) {
  return new Promise((res, rej) => {
    const t = perf.now();
    http.get({ host: '127.0.0.1', port: FIXTURES, path: `/delay/${delay}?r=${Math.random()}`, agent: false }, (r) => {
      r.resume();
      r.on('end', () => res(perf.now() - t));
    }).on('error', rej);
  });
}

/** One Firefox visit of a host page on another site, in a fresh profile (a first visit, as in
 *  Chromium's fresh contexts); resolves with the report the frame posted through `proxy`. */
async function firefoxVisit(proxy, n) {
  const hosts = TEST_HOSTS.join(',');
  const ff = await startFirefox({ ...proxyPrefs(proxy.port), 'network.proxy.no_proxies_on': hosts, 'network.dns.localDomains': hosts });
  try {
    const seen = proxy.seen.length;
    await ff.goto(`${XSITE}/bench/firefox-${n}.html`);
    const post = await waitFor(() => reportPosts(proxy.seen.slice(seen), ORIGIN).find((p) => p.id && p.status !== null),
      { timeoutMs: 30000, what: 'the Firefox visit\'s report' });
    return JSON.parse(post.body);
  } finally {
    await ff.close();
  }
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.ceil(0.5 * s.length) - 1] : null; };
const pct = (xs, q) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.max(1, Math.ceil(q / 100 * s.length)) - 1] : null; };
const sum = (xs) => xs.reduce((a, b) => a + b, 0);

/** Widget bytes of one visit: what the collector sent for the widget (not the host page, not
 *  the measured platforms, not the control ping), body bytes as transferred. */
function widgetBytes(v) {
  const ours = v.responses.filter((r) => r.url.startsWith(`${ORIGIN}/v1/`) && r.method === 'GET' && !r.url.includes('/v1/ping'));
  return {
    body: sum(ours.map((r) => r.body)),
    withHeaders: sum(ours.map((r) => r.body + r.headers)),
    files: ours.map((r) => ({ path: r.url.slice(ORIGIN.length).split('?')[0], body: r.body, encoding: r.encoding })),
  };
}

const hostSite = http.createServer((req, res) => {
  const m = req.url.match(/^\/bench\/([a-z_]+)-/);
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  res.end(hostHtml(m ? m[1] : 'none'));
});
await new Promise((r) => hostSite.listen(0, '127.0.0.1', r));
const XSITE = `http://localhost:${hostSite.address().port}`;
const desktop = await launchChromium(FIXTURES);
const phoneBrowser = await launchChromium(FIXTURES, ['--disable-site-isolation-trials']);
const visits = { none: [], not_sampled: [], sampled: [], sampled_xsite: [], phone_none: [], phone_sampled: [] };
const firefoxReports = [];
const proxy = await startRecordingProxy(FIXTURES);
try {
  // Interleaved, so a noisy neighbour's burst hits every variant alike. One warm-up visit of
  // each first (Chromium's own first-use costs), not counted.
  const browserOf = (variant) => (variant.startsWith('phone_') ? phoneBrowser : desktop);
  if (WARMUP) for (const variant of Object.keys(visits)) await visit(browserOf(variant), variant, 'warm');
  for (let i = 0; i < 2 * VISITS; i++) {
    for (const variant of Object.keys(visits)) {
      if (i >= VISITS && !variant.startsWith('phone_')) continue;
      log(`visit ${i + 1}/${variant.startsWith('phone_') ? 2 * VISITS : VISITS} ${variant}`);
      visits[variant].push(await visit(browserOf(variant), variant, i));
    }
    // Firefox in the same rounds, so that the load of the moment hits both browsers alike.
    if (i < VISITS) {
      log(`visit ${i + 1}/${VISITS} firefox`);
      firefoxReports.push(await firefoxVisit(proxy, i));
    }
  }
} finally {
  await desktop.close();
  await phoneBrowser.close();
  proxy.close();
  hostSite.close();
}

const sampledReports = visits.sampled.filter((v) => v.report).length;
const phoneReports = visits.phone_sampled.filter((v) => v.report).length;
const xsiteReports = visits.sampled_xsite.filter((v) => v.report).length;
const nodeRef = [];
for (let i = 0; i < Math.max(3, VISITS); i++) {
  for (const d of [50, 200, 1000]) nodeRef.push({ delay: d, ms: await nodeTime(d) });
}

const taskMedian = (k) => median(visits[k].map((v) => v.taskMs));
/** The 95 % notch of a median (1.58 IQR / sqrt(n), as box plots draw it): its noise. */
const taskNoise = (k) => { const xs = visits[k].map((v) => v.taskMs); return 1.58 * (pct(xs, 75) - pct(xs, 25)) / Math.sqrt(xs.length); };
const out = {
  visits: VISITS,
  sampled_reports: sampledReports,
  sampled_xsite_reports: xsiteReports,
  phone_reports: phoneReports,
  phone_cpu_slowdown: PHONE_CPU_SLOWDOWN,
  phone_visits: visits.phone_sampled.length,
  bytes: {
    sampled: median(visits.sampled.map((v) => widgetBytes(v).body)),
    sampled_with_headers: median(visits.sampled.map((v) => widgetBytes(v).withHeaders)),
    sampled_files: visits.sampled[0] ? widgetBytes(visits.sampled[0]).files : [],
    not_sampled: median(visits.not_sampled.map((v) => widgetBytes(v).body)),
    not_sampled_files: visits.not_sampled[0] ? widgetBytes(visits.not_sampled[0]).files : [],
  },
  main_thread_ms: {
    sampled: taskMedian('sampled'),
    sampled_xsite: taskMedian('sampled_xsite'),
    not_sampled: taskMedian('not_sampled'),
    none: taskMedian('none'),
    phone_sampled: taskMedian('phone_sampled'),
    phone_none: taskMedian('phone_none'),
    noise: Object.fromEntries(Object.keys(visits).map((k) => [k, taskNoise(k)])),
    script_sampled: median(visits.sampled.map((v) => v.scriptMs)),
    script_none: median(visits.none.map((v) => v.scriptMs)),
  },
  long_tasks: {
    sampled: sum(visits.sampled.map((v) => v.longTasks.length)),
    sampled_xsite: sum(visits.sampled_xsite.map((v) => v.longTasks.length)),
    not_sampled: sum(visits.not_sampled.map((v) => v.longTasks.length)),
    none: sum(visits.none.map((v) => v.longTasks.length)),
    phone_sampled: sum(visits.phone_sampled.map((v) => v.longTasks.length)),
    phone_none: sum(visits.phone_none.map((v) => v.longTasks.length)),
    list: visits.sampled.flatMap((v) => v.longTasks).slice(0, 10),
    phone_list: visits.phone_sampled.flatMap((v) => v.longTasks).slice(0, 10),
  },
  requests_before_load: sum([...visits.sampled, ...visits.sampled_xsite, ...visits.not_sampled].map((v) => v.beforeLoad.length)),
  requests_before_load_list: [...visits.sampled, ...visits.sampled_xsite, ...visits.not_sampled].flatMap((v) => v.beforeLoad).slice(0, 10),
  measurements: [...visits.sampled, ...visits.sampled_xsite].flatMap((v) => (v.report?.measurements || []).map((m) => ({ target: m.target, outcome: m.outcome, ms: m.ms, timing: m.timing, phases: m.phases }))),
  firefox_reports: firefoxReports.length,
  firefox_measurements: firefoxReports.flatMap((r) => (r.measurements || []).map((m) => ({ target: m.target, outcome: m.outcome, ms: m.ms, timing: m.timing, phases: m.phases }))),
  phone_measurements: visits.phone_sampled.flatMap((v) => (v.report?.measurements || []).map((m) => ({ target: m.target, outcome: m.outcome, ms: m.ms, timing: m.timing, phases: m.phases }))),
  node_reference: nodeRef,
};
process.stdout.write(`${JSON.stringify(out)}\n`);
