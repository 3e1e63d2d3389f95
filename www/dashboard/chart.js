// The 24-hour chart of one platform: success rate (filled band, top, 0-100 %) and median load time
// (line, bottom, log scale), drawn as SVG from /v1/timeseries points, gaps where too few reports
// were published. Axes and labels are HTML around the drawing (the SVG stretches to any width; text
// in it would stretch too): a value axis, a time axis in the reader's locale and time zone (named),
// gridlines, and the value under the pointer or the keyboard cursor in an aria-live line.
// Right to left (Urdu): the axis sits on the right and time runs from right to left.
import { el, svg } from '/assets/vantage.js';

const W = 300;
const H_RATE = 56;
const GAP = 14;
const H_MS = 34;
const H = H_RATE + GAP + H_MS;
const TICK_HOURS = 6;
/** Time labels closer than this (share of the width) to an edge would poke out of the chart. */
const EDGE = 0.1;

/** Splits points into runs of non-null values: [[ [x,y], ... ], ...]. */
function runs(points, value, x, y) {
  const out = [];
  let cur = null;
  for (const p of points) {
    const v = value(p);
    if (v == null || !Number.isFinite(v)) { cur = null; continue; }
    if (!cur) { cur = []; out.push(cur); }
    cur.push([x(p), y(v)]);
  }
  return out;
}

const fmt = (n) => n.toFixed(1);
const path = (run) => run.map(([a, b]) => `${fmt(a)},${fmt(b)}`).join(' L');

/** The page's UTC offset at `date`, e.g. "UTC", "UTC+5", "UTC+5:30", "UTC−3". */
export function utcOffset(date) {
  const min = -date.getTimezoneOffset();
  if (!min) return 'UTC';
  const abs = Math.abs(min);
  const mm = abs % 60 ? `:${String(abs % 60).padStart(2, '0')}` : '';
  return `UTC${min > 0 ? '+' : '−'}${Math.floor(abs / 60)}${mm}`;
}

/** Local times on the hour, every TICK_HOURS hours, inside [from, to] and away from the edges. */
function timeTicks(from, to) {
  const out = [];
  const d = new Date(from);
  d.setMinutes(0, 0, 0);
  for (d.setHours(d.getHours() + 1); +d < to; d.setHours(d.getHours() + 1)) {
    const share = (d - from) / (to - from);
    if (d.getHours() % TICK_HOURS === 0 && share > EDGE && share < 1 - EDGE) out.push({ t: +d, share });
  }
  return out;
}

/** An axis label placed by CSS variables (CSSOM, which the pages' CSP allows). */
function label(cls, text, vars) {
  const e = el('span', { class: `chart-label ${cls}`, text });
  for (const [k, v] of Object.entries(vars)) e.style.setProperty(k, String(v));
  return e;
}

/**
 * @param points  [{t, success_rate, median_ms, ...}]
 * @param from,to Date range in ms
 * @param i18n    from makeI18n
 * @param platform,country names, for the accessible description
 */
export function chart(points, { from, to, i18n, platform, country }) {
  const span = Math.max(1, to - from);
  const x = (p) => ((new Date(p.t) - from) / span) * W;
  const shown = points.filter((p) => p.success_rate != null || p.median_ms != null);
  const rates = shown.map((p) => p.success_rate).filter((v) => v != null);
  const msVals = shown.map((p) => p.median_ms).filter((v) => v != null);
  const fig = el('figure', { class: 'chart' });
  if (!shown.length) {
    fig.append(el('p', { class: 'chart-empty', text: i18n.t('chart_empty') }));
    return fig;
  }
  const { t } = i18n;
  const desc = rates.length
    ? t('chart_label', { platform, country, min: i18n.pct(Math.min(...rates)), max: i18n.pct(Math.max(...rates)) })
    : t('chart_empty');
  const s = svg('svg', { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', class: 'chart-svg', 'aria-hidden': 'true', focusable: 'false' });
  const frame = el('div', { class: 'chart-frame' });
  const ticks = timeTicks(from, to);

  // Bands, gridlines (0, 50 and 100 % of success; the ticks' times) and their labels.
  const yRate = (v) => H_RATE - v * H_RATE;
  s.append(svg('rect', { x: 0, y: 0, width: W, height: H_RATE, class: 'chart-bg' }));
  for (const v of [1, 0.5, 0]) {
    s.append(svg('line', { x1: 0, x2: W, y1: yRate(v), y2: yRate(v), class: 'chart-grid' }));
    frame.append(label('chart-y', i18n.pct(v), { '--y': yRate(v) / H }));
  }
  for (const tick of ticks) {
    s.append(svg('line', { x1: fmt(tick.share * W), x2: fmt(tick.share * W), y1: 0, y2: H, class: 'chart-grid' }));
    frame.append(label('chart-x', i18n.time(tick.t), { '--x': `${(tick.share * 100).toFixed(2)}%` }));
  }
  for (const run of runs(points, (p) => p.success_rate, x, yRate)) {
    const [x0, y0] = run[0];
    if (run.length === 1) {
      s.append(svg('rect', { x: fmt(x0 - 1), y: fmt(y0), width: 2, height: fmt(H_RATE - y0), class: 'chart-area' }));
      continue;
    }
    s.append(svg('path', { d: `M${fmt(x0)},${H_RATE} L${path(run)} L${fmt(run[run.length - 1][0])},${H_RATE}Z`, class: 'chart-area' }));
    s.append(svg('path', { d: `M${path(run)}`, class: 'chart-rate' }));
  }
  if (msVals.length) {
    const top = Math.max(...msVals) * 1.1 || 1;
    const msTop = H_RATE + GAP;
    const yMs = (v) => msTop + H_MS - (Math.log1p(v) / Math.log1p(top)) * H_MS;
    s.append(svg('line', { x1: 0, x2: W, y1: msTop, y2: msTop, class: 'chart-grid' }));
    s.append(svg('line', { x1: 0, x2: W, y1: H, y2: H, class: 'chart-axis' }));
    frame.append(label('chart-y', i18n.ms(top), { '--y': msTop / H }));
    for (const run of runs(points, (p) => p.median_ms, x, yMs)) {
      if (run.length === 1) s.append(svg('circle', { cx: fmt(run[0][0]), cy: fmt(run[0][1]), r: 1.2, class: 'chart-dot' }));
      else s.append(svg('path', { d: `M${path(run)}`, class: 'chart-ms' }));
    }
  }

  // The cursor: a line at the chosen point, moved by the pointer or the arrow keys, read out below.
  const cursor = svg('line', { x1: 0, x2: 0, y1: 0, y2: H, class: 'chart-cursor', visibility: 'hidden' });
  s.append(cursor);
  const readout = el('p', { class: 'chart-readout', 'aria-live': 'polite', text: t('chart_hint') });
  const plot = el('div', { class: 'chart-plot', tabindex: '0', role: 'group', 'aria-label': desc, 'aria-roledescription': t('chart_role') }, s);
  frame.append(plot);
  let at = -1;
  const choose = (i) => {
    at = Math.max(0, Math.min(shown.length - 1, i));
    const p = shown[at];
    cursor.setAttribute('x1', fmt(x(p)));
    cursor.setAttribute('x2', fmt(x(p)));
    cursor.setAttribute('visibility', 'visible');
    readout.dataset.t = p.t;
    readout.textContent = t('chart_readout', { time: i18n.dateTime(p.t), rate: i18n.pct(p.success_rate), ms: i18n.ms(p.median_ms) });
  };
  const nearest = (share) => {
    const when = from + share * span;
    let best = 0;
    shown.forEach((p, i) => { if (Math.abs(new Date(p.t) - when) < Math.abs(new Date(shown[best].t) - when)) best = i; });
    return best;
  };
  plot.addEventListener('pointermove', (e) => {
    const r = plot.getBoundingClientRect();
    const share = (document.documentElement.dir === 'rtl' ? r.right - e.clientX : e.clientX - r.left) / r.width;
    choose(nearest(Math.max(0, Math.min(1, share))));
  });
  plot.addEventListener('focus', () => { if (at < 0) choose(shown.length - 1); });
  plot.addEventListener('keydown', (e) => {
    // Arrows move the way the time axis runs: to the right in English, to the left in Urdu.
    const later = document.documentElement.dir === 'rtl' ? 'ArrowLeft' : 'ArrowRight';
    const earlier = later === 'ArrowLeft' ? 'ArrowRight' : 'ArrowLeft';
    const moves = { [later]: at + 1, [earlier]: at - 1, Home: 0, End: shown.length - 1, PageUp: at - 4, PageDown: at + 4 };
    if (!(e.key in moves)) return;
    e.preventDefault();
    choose(moves[e.key]);
  });

  fig.append(frame, readout, el('figcaption', { class: 'chart-cap' },
    el('span', { class: 'key key-rate', text: t('chart_success') }),
    el('span', { class: 'key key-ms', text: t('chart_median') }),
    el('span', { class: 'chart-span', text: t('chart_zone', { span: t('chart_title'), zone: utcOffset(new Date(to)) }) })));
  return fig;
}
