// The 24-hour chart of one platform: success rate (filled band, top) and median load time (line,
// bottom), drawn as SVG from /v1/timeseries points. Gaps where too few reports were published.
import { el, svg } from '/assets/vantage.js';

const W = 300;
const H_RATE = 46;
const GAP = 8;
const H_MS = 26;
const H = H_RATE + GAP + H_MS;

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

/**
 * @param points  [{t, success_rate, median_ms, ...}]
 * @param from,to Date range in ms
 * @param i18n    from makeI18n
 * @param label   the platform's name, for the accessible description
 */
export function chart(points, { from, to, i18n, platform, country }) {
  const span = Math.max(1, to - from);
  const x = (p) => ((new Date(p.t) - from) / span) * W;
  const rates = points.map((p) => p.success_rate).filter((v) => v != null);
  const msVals = points.map((p) => p.median_ms).filter((v) => v != null);
  const fig = el('figure', { class: 'chart' });
  if (!rates.length && !msVals.length) {
    fig.append(el('p', { class: 'chart-empty', text: i18n.t('chart_empty') }));
    return fig;
  }
  const desc = rates.length
    ? i18n.t('chart_label', { platform, country, min: i18n.pct(Math.min(...rates)), max: i18n.pct(Math.max(...rates)) })
    : i18n.t('chart_empty');
  const s = svg('svg', { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', role: 'img', 'aria-label': desc, class: 'chart-svg', dir: 'ltr' });
  // Guides: 0 % and 100 % of the success band, the floor of the time band.
  s.append(svg('rect', { x: 0, y: 0, width: W, height: H_RATE, class: 'chart-bg' }));
  s.append(svg('line', { x1: 0, x2: W, y1: H_RATE / 2, y2: H_RATE / 2, class: 'chart-guide' }));
  const yRate = (v) => H_RATE - v * H_RATE;
  for (const run of runs(points, (p) => p.success_rate, x, yRate)) {
    const line = run.map(([a, b]) => `${fmt(a)},${fmt(b)}`).join(' L');
    const [x0] = run[0];
    const [x1] = run[run.length - 1];
    if (run.length === 1) {
      s.append(svg('rect', { x: fmt(x0 - 1), y: fmt(run[0][1]), width: 2, height: fmt(H_RATE - run[0][1]), class: 'chart-area' }));
      continue;
    }
    s.append(svg('path', { d: `M${fmt(x0)},${H_RATE} L${line} L${fmt(x1)},${H_RATE}Z`, class: 'chart-area' }));
    s.append(svg('path', { d: `M${line}`, class: 'chart-rate' }));
  }
  if (msVals.length) {
    const top = Math.max(...msVals) * 1.1 || 1;
    const y0 = H_RATE + GAP;
    s.append(svg('line', { x1: 0, x2: W, y1: H, y2: H, class: 'chart-axis' }));
    const yMs = (v) => y0 + H_MS - (Math.log1p(v) / Math.log1p(top)) * H_MS;
    for (const run of runs(points, (p) => p.median_ms, x, yMs)) {
      if (run.length === 1) {
        s.append(svg('circle', { cx: fmt(run[0][0]), cy: fmt(run[0][1]), r: 1.2, class: 'chart-dot' }));
        continue;
      }
      s.append(svg('path', { d: `M${run.map(([a, b]) => `${fmt(a)},${fmt(b)}`).join(' L')}`, class: 'chart-ms' }));
    }
  }
  fig.append(s);
  const cap = el('figcaption', { class: 'chart-cap' },
    el('span', { class: 'key key-rate', text: i18n.t('chart_success') }),
    el('span', { class: 'key key-ms', text: i18n.t('chart_median') }),
    el('span', { class: 'chart-span', text: i18n.t('chart_title') }));
  fig.append(cap);
  return fig;
}
