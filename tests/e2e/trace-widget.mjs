// What the measurement frame costs the host page's main thread, from CDP traces (issue 11,
// page-impact goal): phone-like Chromium (one process for host and frame, CPU throttled 4x), the
// same host page as the bench's `phone_sampled` (at the collector's origin), one fresh context a
// visit. Unlike CDP's TaskDuration (the whole renderer thread, host page included, whose own
// variation is tens of ms a visit), this sums only the tasks of the host's renderer main thread
// that did work for our frame (an event naming the frame, or a script of /v1/), so two builds can
// be compared without the host page's noise.
//
//   node tests/e2e/trace-widget.mjs [--visits 10] [--sample 0] NAME=WWW_DIR:WIDGET_DIR ...
//
// Each NAME is a build (a `--www` and a `--widget-dir` for `vantage serve`); visits alternate
// between builds, so a noisy neighbour hits them alike. Prints one JSON object: per build the
// medians of the frame's task time (wall, events, CPU: see `attribute`) and of the loader's, every
// visit's, and the frame's time by kind of work. TRACE_TASKS=1 logs each frame task's events.
import { makeWorkdir, startFixtures, startProcess, stop, launchChromium, VANTAGE } from './harness.mjs';
import { join } from 'node:path';

const argv = process.argv.slice(2);
const option = (name, dflt) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : dflt);
const VISITS = Number(option('--visits', 10));
// --sample 0: views the loader does not sample (most views): only the loader's own cost.
const SAMPLE = option('--sample', '1');
const builds = argv.filter((a, i) => a.includes('=') && !(argv[i - 1] || '').startsWith('--')).map((a) => {
  const [name, dirs] = a.split('=');
  const [www, widget] = dirs.split(':');
  return { name, www, widget };
});
if (!builds.length) {
  console.error('usage: trace-widget.mjs [--visits N] [--sample 0] NAME=WWW_DIR:WIDGET_DIR ...');
  process.exit(2);
}
const log = (m) => process.stderr.write(`${m}\n`);

const CATEGORIES = ['devtools.timeline', 'disabled-by-default-devtools.timeline', 'toplevel', 'v8.execute', 'blink', 'loading'].join(',');
const HOST = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Host article</title></head>
<body><h1>A host article</h1><p>${'Some article text. '.repeat(200)}</p>SNIPPET</body></html>`;

/** Starts `vantage serve` on `dir` serving `build`'s files; resolves with its process and origin. */
async function serve(dir, build) {
  const p = startProcess(VANTAGE, [
    'serve', '--listen', '127.0.0.1:0', '--store', `sqlite:${join(dir, 'data', 'vantage.db')}`,
    '--geoip-country', join(dir, 'country.mmdb'), '--geoip-asn', join(dir, 'asn.mmdb'),
    '--targets', join(dir, 'targets.toml'), '--www', build.www, '--widget-dir', build.widget, '--rate-limit', '0',
  ], /listening on (http:\/\/\S+)/);
  const m = await p.started;
  return { ...p, origin: m[1].replace(/\/$/, '') };
}

/** The trace events of one phone-like visit of the host page at `origin` (until its report is posted). */
async function tracedVisit(browser, origin, n) {
  const context = await browser.newContext();
  const url = `${origin}/bench/trace-${n}.html`;
  const snippet = `<script async src="${origin}/v1/loader.js" data-site="bench" data-sample="${SAMPLE}"></script>`;
  await context.route(url, (route) => route.fulfill({ contentType: 'text/html; charset=utf-8', body: HOST.replace('SNIPPET', snippet) }));
  let posted;
  const reported = new Promise((r) => { posted = r; });
  context.on('request', (req) => { if (req.method() === 'POST' && req.url().endsWith('/v1/reports')) posted(); });
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('Emulation.setCPUThrottlingRate', { rate: 4 });
  const events = [];
  cdp.on('Tracing.dataCollected', ({ value }) => events.push(...value));
  const complete = new Promise((r) => cdp.once('Tracing.tracingComplete', r));
  await cdp.send('Tracing.start', { categories: CATEGORIES, transferMode: 'ReportEvents' });
  await page.goto(url, { waitUntil: 'load' });
  // A view that is not sampled: load + idle, the time a loader that wrongly went on would take.
  const ok = await Promise.race([reported.then(() => true), new Promise((r) => setTimeout(() => r(false), SAMPLE === '0' ? 2500 : 20000))]);
  await page.waitForTimeout(300); // the frame's last task after the POST answer
  await cdp.send('Tracing.end');
  await complete;
  await context.close();
  return { ok, events };
}

/** Whether a trace event's arguments name our frame (`frames`: its ids) or a script of ours. */
function ours(e, frames, origin) {
  const d = e.args?.data || e.args?.beginData || {};
  if (d.frame && frames.has(d.frame)) return 'frame';
  const u = d.url || d.scriptName || d.stackTrace?.[0]?.url || '';
  if (u.startsWith(`${origin}/v1/loader.js`)) return 'loader';
  if (u.startsWith(`${origin}/v1/`)) return 'frame';
  return null;
}

/** One task and its events over 0.3 ms, for TRACE_TASKS=1 (what each task of ours was doing). */
const describe = (t, events, origin) => events.filter((e) => e.ts >= t.ts && e.ts < t.ts + t.dur && e !== t && e.dur > 300)
  .map((e) => `${e.name}(${(e.dur / 1000).toFixed(1)} ${[e.args?.data?.functionName, e.args?.data?.url?.replace(origin, ''), e.args?.data?.type].filter(Boolean).join(' ')})`)
  .join(' ');

/**
 * The host renderer main thread's work for our frame and for the loader, in ms: `frame` sums the
 * whole tasks that did any work for the frame (an upper bound: a host lifecycle update that also
 * updates the frame counts whole), `frameEvents` only their outermost events that name the frame
 * (a lower bound: a document commit's own events do not name it), `frameCpu` and `loaderCpu` the
 * tasks' thread CPU time (`tdur`: without the time the thread waited for a core or was held by the
 * throttling);
 * `byKind`, the frame's task time by what each task was doing (KINDS).
 */
function attribute(events, origin) {
  // Our frame's ids: from the events that commit a frame's document (a request's events name the
  // frame that asked, the host's, with the frame's URL).
  const commits = events.filter((e) => ['CommitLoad', 'FrameCommittedInBrowser'].includes(e.name) && (e.args?.data?.url || '').includes('/v1/frame.html'));
  const frames = new Set(commits.map((e) => e.args.data.frame));
  const mains = new Set(events.filter((e) => e.ph === 'M' && e.name === 'thread_name' && e.args?.name === 'CrRendererMain').map((e) => `${e.pid}:${e.tid}`));
  // The host's renderer: the main thread that committed the host page.
  const host = events.find((e) => e.name === 'CommitLoad' && (e.args?.data?.url || '').includes('/bench/trace-') && mains.has(`${e.pid}:${e.tid}`));
  if (!host) return null;
  const onMain = events.filter((e) => e.pid === host.pid && e.tid === host.tid && e.ph === 'X').sort((a, b) => a.ts - b.ts);
  // Top-level tasks only (a RunTask wraps a ThreadControllerImpl::RunTask of the same task).
  let until = 0;
  const tasks = onMain.filter((e) => {
    if ((e.name !== 'RunTask' && e.name !== 'ThreadControllerImpl::RunTask') || e.ts < until) return false;
    until = e.ts + e.dur;
    return true;
  });
  const out = { frame: 0, loader: 0, frameCpu: 0, loaderCpu: 0, frameEvents: 0, byKind: {} };
  let i = 0;
  for (const t of tasks) {
    const end = t.ts + t.dur;
    while (i < onMain.length && onMain[i].ts < t.ts) i++;
    let who = null;
    let inner = 0;
    let innerUntil = 0;
    const names = new Set();
    for (let j = i; j < onMain.length && onMain[j].ts < end; j++) {
      const e = onMain[j];
      const w = ours(e, frames, origin);
      if (w === 'frame' || (w === 'loader' && !who)) who = w;
      if (w === 'frame' && e.ts >= innerUntil) { inner += e.dur / 1000; innerUntil = e.ts + e.dur; }
      names.add(e.name);
    }
    if (!who) continue;
    const ms = t.dur / 1000;
    out[who] += ms;
    if (who !== 'frame') {
      out.loaderCpu += (t.tdur ?? t.dur) / 1000;
      continue;
    }
    out.frameEvents += inner;
    out.frameCpu += (t.tdur ?? t.dur) / 1000;
    const kind = KINDS.find(([, n]) => names.has(n))?.[0] || 'other';
    out.byKind[kind] = (out.byKind[kind] || 0) + ms;
    if (process.env.TRACE_TASKS && ms > 1) log(`  frame task ${ms.toFixed(1)} ms: ${describe(t, onMain, origin)}`);
  }
  return out;
}

/** What a frame task was doing, by the first of these events it holds. */
const KINDS = [
  ['insert (loader idle callback)', 'FireIdleCallback'],
  ['document commit', 'DocumentLoader::CommitNavigation'],
  ['start and worker messages', 'HandlePostMessage'],
  ['end of parsing, script', 'HTMLDocumentParser::NotifyScriptLoaded'],
  ['parsing, script', 'ParseHTML'],
  ['style, layout, paint', 'WebFrameWidgetImpl::UpdateLifecycle'],
];

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.ceil(0.5 * s.length) - 1] : null; };
const round = (x) => Math.round(x * 10) / 10;

const fixtures = await startFixtures();
const servers = [];
const browser = await launchChromium(fixtures.port, ['--disable-site-isolation-trials']);
const results = Object.fromEntries(builds.map((b) => [b.name, []]));
try {
  for (const b of builds) servers.push({ build: b, ...(await serve(makeWorkdir(), b)) });
  for (const s of servers) await tracedVisit(browser, s.origin, 'warm'); // Chromium's own first-use costs
  for (let n = 0; n < VISITS; n++) {
    for (const s of servers) {
      const v = await tracedVisit(browser, s.origin, n);
      const a = attribute(v.events, s.origin);
      log(`visit ${n + 1}/${VISITS} ${s.build.name}: ${v.ok ? 'reported' : 'NO REPORT'} ${JSON.stringify(a && { frame: round(a.frame), cpu: round(a.frameCpu), events: round(a.frameEvents), loader: round(a.loader), loaderCpu: round(a.loaderCpu) })}`);
      if (a) results[s.build.name].push({ ...a, ok: v.ok });
    }
  }
} finally {
  await browser.close();
  for (const s of servers) await stop(s.child);
  await stop(fixtures.child);
}

const summary = Object.fromEntries(Object.entries(results).map(([name, vs]) => {
  const kinds = [...new Set(vs.flatMap((v) => Object.keys(v.byKind)))];
  return [name, {
    visits: vs.length,
    reported: vs.filter((v) => v.ok).length,
    frame_ms_median: round(median(vs.map((v) => v.frame))),
    loader_ms_median: round(median(vs.map((v) => v.loader))),
    loader_cpu_ms_median: round(median(vs.map((v) => v.loaderCpu))),
    loader_ms: vs.map((v) => round(v.loader)),
    frame_cpu_ms_median: round(median(vs.map((v) => v.frameCpu))),
    frame_events_ms_median: round(median(vs.map((v) => v.frameEvents))),
    frame_ms: vs.map((v) => round(v.frame)),
    frame_cpu_ms: vs.map((v) => round(v.frameCpu)),
    frame_by_kind_median: Object.fromEntries(kinds.map((k) => [k, round(median(vs.map((v) => v.byKind[k] || 0)))]).sort((a, b) => b[1] - a[1])),
  }];
}));
process.stdout.write(`${JSON.stringify(summary, null, 1)}\n`);
