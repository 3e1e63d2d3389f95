// Shared by the dashboard and the badge: language, formatting, state icons, DOM building, the
// live stream. Everything that comes from the API goes into the page through textContent or
// attributes set one by one, never through HTML parsing.

export const STATES = ['disrupted', 'degraded', 'normal', 'insufficient_data'];
const SEVERITY = { disrupted: 3, degraded: 2, normal: 1, insufficient_data: 0 };
export const PLATFORM_ORDER = ['x', 'facebook', 'instagram', 'youtube', 'whatsapp', 'tiktok', 'telegram', 'wikipedia'];

/** The worse of two states (`null` for none). */
export function worse(a, b) {
  if (!a) return b ?? null;
  if (!b) return a;
  return (SEVERITY[b] ?? 0) > (SEVERITY[a] ?? 0) ? b : a;
}

export function knownState(s) {
  return Object.hasOwn(SEVERITY, s) ? s : 'insufficient_data';
}

export function byPlatformOrder(a, b) {
  const ia = PLATFORM_ORDER.indexOf(a);
  const ib = PLATFORM_ORDER.indexOf(b);
  return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b);
}

const LANG_RE = /^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$/;

async function fetchDict(code) {
  if (!LANG_RE.test(code)) return null;
  try {
    const res = await fetch(`/i18n/${code}.json`);
    if (!res.ok) return null;
    return await res.json();
  } catch {
    return null;
  }
}

/**
 * Picks the language (`?lang=`, else the browser's languages, else English), loads its
 * dictionary and sets `<html lang dir>`. A language is one file, `/i18n/CODE.json`.
 */
export async function loadLanguage(params = new URLSearchParams(location.search)) {
  const wanted = [];
  const asked = params.get('lang');
  if (asked) wanted.push(asked.toLowerCase());
  for (const l of navigator.languages ?? [navigator.language]) {
    const base = String(l).toLowerCase().split('-')[0];
    if (!wanted.includes(base)) wanted.push(base);
  }
  const en = await fetchDict('en');
  let lang = 'en';
  let dict = en;
  for (const code of wanted.slice(0, 3)) {
    if (code === 'en') break;
    const d = await fetchDict(code);
    if (d) { lang = code; dict = d; break; }
  }
  return makeI18n(lang, { ...en, ...dict });
}

/** The languages every page offers in its switch (each has `/i18n/CODE.json`). */
export const FEATURED_LANGS = ['en', 'ur'];

/**
 * The language switch: one link per featured language (and the current one), keeping the page's
 * other query parameters; the current language is marked with aria-current.
 */
export function languageLinks(i18n, params = new URLSearchParams(location.search)) {
  return [...new Set([...FEATURED_LANGS, i18n.lang])].map((code) => {
    let name = code;
    try { name = new Intl.DisplayNames([code], { type: 'language' }).of(code) ?? code; } catch { /* code */ }
    const q = new URLSearchParams(params);
    q.set('lang', code);
    const a = el('a', { href: `?${q}`, lang: code, hreflang: code, text: name });
    if (code === i18n.lang) a.setAttribute('aria-current', 'true');
    return a;
  });
}

/**
 * Static text of a page: `[data-i18n]` gets its text, `[data-i18n-label]` its aria-label; links to
 * the privacy page go to the page in this language (`privacy_page`), and links to our other pages
 * keep a language other than English.
 */
export function translateStatic(i18n, root = document) {
  const { t } = i18n;
  for (const e of root.querySelectorAll('[data-i18n]')) e.textContent = t(e.dataset.i18n);
  for (const e of root.querySelectorAll('[data-i18n-label]')) e.setAttribute('aria-label', t(e.dataset.i18nLabel));
  for (const a of root.querySelectorAll('a[href="/privacy.html"], a[href^="/privacy.html#"]')) {
    a.setAttribute('href', t('privacy_page') + (a.hash ?? ''));
    a.hreflang = i18n.lang;
  }
  if (i18n.lang !== 'en') {
    for (const a of root.querySelectorAll('a[href="/"], a[href="/builder/"]')) {
      a.setAttribute('href', `${a.getAttribute('href')}?lang=${encodeURIComponent(i18n.lang)}`);
    }
  }
}

/** Translation and formatting for one language. */
export function makeI18n(lang, dict) {
  const dir = dict.dir === 'rtl' ? 'rtl' : 'ltr';
  document.documentElement.lang = lang;
  document.documentElement.dir = dir;
  const t = (key, vars = {}) => String(dict[key] ?? key).replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
  const pct = new Intl.NumberFormat(lang, { style: 'percent', maximumFractionDigits: 0 });
  const num = new Intl.NumberFormat(lang);
  const dec = new Intl.NumberFormat(lang, { maximumFractionDigits: 1 });
  const time = new Intl.DateTimeFormat(lang, { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  const timeSec = new Intl.DateTimeFormat(lang, { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
  const dateTime = new Intl.DateTimeFormat(lang, { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  let names = null;
  try { names = new Intl.DisplayNames([lang], { type: 'region' }); } catch { /* old browser */ }
  const rel = new Intl.RelativeTimeFormat(lang, { numeric: 'auto' });
  return {
    lang,
    dir,
    t,
    pct: (v) => (v == null ? '–' : pct.format(v)),
    num: (v) => (v == null ? '–' : num.format(v)),
    ms: (v) => {
      if (v == null) return '–';
      return v >= 1000 ? t('s', { n: dec.format(v / 1000) }) : t('ms', { n: num.format(Math.round(v)) });
    },
    time: (d) => time.format(new Date(d)),
    timeSec: (d) => timeSec.format(new Date(d)),
    dateTime: (d) => dateTime.format(new Date(d)),
    duration: (fromIso, toIso) => {
      const min = Math.max(0, Math.round((new Date(toIso ?? Date.now()) - new Date(fromIso)) / 60000));
      if (min < 60) return new Intl.NumberFormat(lang, { style: 'unit', unit: 'minute', unitDisplay: 'long' }).format(min);
      const h = Math.floor(min / 60);
      const m = min % 60;
      const hf = new Intl.NumberFormat(lang, { style: 'unit', unit: 'hour', unitDisplay: 'short' }).format(h);
      const mf = new Intl.NumberFormat(lang, { style: 'unit', unit: 'minute', unitDisplay: 'short' }).format(m);
      return m ? `${hf} ${mf}` : hf;
    },
    ago: (d) => {
      const s = Math.round((new Date(d) - Date.now()) / 1000);
      if (Math.abs(s) < 60) return rel.format(s, 'second');
      if (Math.abs(s) < 3600) return rel.format(Math.round(s / 60), 'minute');
      return rel.format(Math.round(s / 3600), 'hour');
    },
    country: (cc) => {
      if (!/^[A-Z]{2}$/.test(cc ?? '') || cc === 'ZZ') return String(cc ?? '?');
      try { return names?.of(cc) ?? cc; } catch { return cc; }
    },
    platform: (p) => (dict[`platform_${p}`] ? t(`platform_${p}`) : String(p)),
    state: (s) => t(`state_${s ?? 'none'}`),
  };
}

/** Builds an element: attributes set one by one, children appended as text or nodes. */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c == null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

const SVG = 'http://www.w3.org/2000/svg';
export function svg(tag, attrs = {}) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) if (v != null) e.setAttribute(k, String(v));
  return e;
}

// One shape per state, so the state reads without colour: a tick in a circle, an exclamation
// in a triangle, a cross in an octagon, a question mark in a dashed circle.
const ICONS = {
  normal: [['circle', { cx: 8, cy: 8, r: 7, class: 'ic-bg' }], ['path', { d: 'M4.5 8.3l2.3 2.3 4.7-4.9', class: 'ic-fg' }]],
  degraded: [['path', { d: 'M8 1.3L15 14.2H1z', class: 'ic-bg' }], ['path', { d: 'M8 5.6v4.2M8 11.7v.4', class: 'ic-fg' }]],
  disrupted: [['path', { d: 'M5.1 1h5.8L15 5.1v5.8L10.9 15H5.1L1 10.9V5.1z', class: 'ic-bg' }], ['path', { d: 'M5.4 5.4l5.2 5.2M10.6 5.4l-5.2 5.2', class: 'ic-fg' }]],
  insufficient_data: [['circle', { cx: 8, cy: 8, r: 6.5, class: 'ic-bg ic-dashed' }], ['path', { d: 'M6 6.2a2 2 0 1 1 2.6 1.9c-.5.2-.6.5-.6 1v.6M8 11.6v.4', class: 'ic-fg' }]],
};

/** The state's icon, decorative (the state word always stands next to it). */
export function stateIcon(state) {
  const s = svg('svg', { viewBox: '0 0 16 16', width: 16, height: 16, class: `icon icon-${knownState(state)}`, 'aria-hidden': 'true', focusable: 'false' });
  for (const [tag, attrs] of ICONS[knownState(state)]) s.append(svg(tag, attrs));
  return s;
}

/** The publication tick until an answer says otherwise (`--publish-interval`'s default). */
const DEFAULT_TICK_MS = 10_000;

/**
 * The live stream, reconnecting on its own (EventSource does). When there is no EventSource, or
 * the stream is refused (503 when the collector's stream slots are full) or fails for good, it
 * polls `poll()` (a /v1/status URL) once per publication tick with If-None-Match instead, calls
 * `onStatus` only when the status changed (like the stream), and tries the stream again after
 * 1-2 minutes. `onState` gets 'live', 'connecting' or 'reconnecting'. Returns `{ close }`.
 */
export function connectStream({ url = '/v1/stream', poll, onStatus, onIncident, onState }) {
  let es = null;
  let timer = null;
  let streamAgainAt = 0;
  let tickMs = DEFAULT_TICK_MS;
  const last = { etag: null, key: null };

  const pollOnce = async () => {
    const statusUrl = poll?.();
    if (!statusUrl) return;
    const headers = { accept: 'application/json' };
    if (last.etag) headers['if-none-match'] = last.etag;
    try {
      const res = await fetch(statusUrl, { headers, cache: 'no-store' });
      const swr = /stale-while-revalidate=(\d+)/.exec(res.headers.get('cache-control') ?? '');
      if (swr && Number(swr[1]) > 0) tickMs = Number(swr[1]) * 1000;
      if (res.status !== 304) {
        if (!res.ok) throw new Error(`${statusUrl}: HTTP ${res.status}`);
        const st = await res.json();
        last.etag = res.headers.get('etag');
        // A status carries its tick; like the stream, only a changed status is news.
        const key = JSON.stringify({ ...st, generated_at: null });
        if (key !== last.key) { last.key = key; onStatus?.(st); }
      }
      onState?.('live');
    } catch {
      onState?.('reconnecting');
    }
  };
  // Just after each tick, spread over a second so a crowd of readers does not ask at once.
  const schedule = () => {
    const wait = tickMs - (Date.now() % tickMs) + 250 + Math.random() * 1000;
    timer = setTimeout(async () => {
      if (typeof EventSource !== 'undefined' && Date.now() >= streamAgainAt) { timer = null; open(); return; }
      await pollOnce();
      schedule();
    }, wait);
  };
  const fallBack = () => {
    if (timer) return;
    streamAgainAt = Date.now() + 60_000 + Math.random() * 60_000;
    pollOnce();
    schedule();
  };
  const open = () => {
    onState?.('connecting');
    es = new EventSource(url);
    es.addEventListener('open', () => onState?.('live'));
    es.addEventListener('error', () => {
      if (es.readyState !== EventSource.CLOSED) { onState?.('connecting'); return; }
      onState?.('reconnecting');
      fallBack();
    });
    es.addEventListener('status', (e) => {
      try { onStatus?.(JSON.parse(e.data)); } catch { /* a malformed event is skipped */ }
    });
    es.addEventListener('incident', (e) => {
      try { onIncident?.(JSON.parse(e.data)); } catch { /* skipped */ }
    });
  };
  if (typeof EventSource === 'undefined') fallBack();
  else open();
  return { close() { es?.close(); clearTimeout(timer); } };
}

export async function getJSON(url) {
  const res = await fetch(url, { headers: { accept: 'application/json' } });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return res.json();
}

/** A two-letter country code from user input, or null. */
export function countryParam(v) {
  const c = String(v ?? '').trim().toUpperCase();
  return /^[A-Z]{2}$/.test(c) ? c : null;
}
