// The snippet builder: form → the one-line snippet, a pinned copy with Subresource Integrity
// computed here over the exact loader bytes this server sends, the CSP lines, and a live preview
// of the badge. Everything is built with textContent / attributes, never HTML parsing.
import { el, getJSON, PLATFORM_ORDER, byPlatformOrder } from '/assets/vantage.js';
import { TILES } from '/dashboard/tiles.js';

const $ = (id) => document.getElementById(id);
const ORIGIN = location.origin;
const SITE_RE = /^[a-z0-9_-]{1,64}$/;
const NAMES = { x: 'X', facebook: 'Facebook', instagram: 'Instagram', youtube: 'YouTube', whatsapp: 'WhatsApp', tiktok: 'TikTok', telegram: 'Telegram', wikipedia: 'Wikipedia' };
const DEFAULT_BADGE = ['x', 'youtube', 'whatsapp'];

let pinned = null; // { v, integrity } of the loader, once computed
let previewSrc = '';

/** Quotes an attribute value for the snippet (the inputs are validated; this is belt and braces). */
const q = (v) => String(v).replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

function read() {
  const site = $('site').value.trim();
  const sampleText = $('sample').value.trim();
  const sample = Number(sampleText);
  const platforms = [...document.querySelectorAll('#platforms input:checked')].map((i) => i.value);
  return {
    site,
    siteOk: SITE_RE.test(site),
    sample,
    sampleOk: sampleText !== '' && Number.isFinite(sample) && sample >= 0 && sample <= 1,
    consent: document.querySelector('input[name="consent"]:checked')?.value ?? 'none',
    live: $('live-on').checked,
    platforms,
    country: $('country').value,
    lang: $('lang').value,
  };
}

function showError(input, errorId, bad) {
  input.setAttribute('aria-invalid', bad ? 'true' : 'false');
  $(errorId).hidden = !bad;
}

/** The snippet's attributes, in a fixed order. */
function attributes(f) {
  const a = [['data-site', f.siteOk ? f.site : 'yoursite']];
  if (f.sampleOk && f.sample !== 0.1) a.push(['data-sample', String(f.sample)]);
  if (f.consent !== 'none') a.push(['data-consent', f.consent]);
  if (f.live && f.platforms.length) {
    a.push(['data-live', f.platforms.join(',')], ['data-country', f.country]);
    if (f.lang) a.push(['data-lang', f.lang]);
  }
  return a.map(([k, v]) => `${k}="${q(v)}"`).join(' ');
}

function render() {
  const f = read();
  showError($('site'), 'site-error', !f.siteOk);
  showError($('sample'), 'sample-error', !f.sampleOk);
  $('platforms-error').hidden = !(f.live && f.platforms.length === 0);
  for (const id of ['live-options', 'country', 'lang']) $(id).disabled = !f.live;
  const attrs = attributes(f);
  $('snippet').textContent = `<script async src="${ORIGIN}/v1/loader.js" ${attrs}></script>`;
  $('sri').textContent = pinned
    ? `<script async src="${ORIGIN}/v1/loader.js?v=${pinned.v}" integrity="${pinned.integrity}" crossorigin="anonymous" ${attrs}></script>`
    : 'Could not compute the integrity hash here (this needs https and a modern browser); use the line above.';
  $('csp').textContent = `script-src ${ORIGIN}\nframe-src ${ORIGIN}`;
  renderPreview(f);
}

function renderPreview(f) {
  const box = $('preview-box');
  if (!f.live || !f.platforms.length) {
    previewSrc = '';
    box.replaceChildren(el('p', { class: 'help', id: 'preview-off', text: 'Turn on the live badge and choose a platform to see it here.' }));
    return;
  }
  const p = new URLSearchParams({ country: f.country, platforms: f.platforms.join(',') });
  if (f.lang) p.set('lang', f.lang);
  const src = `/v1/badge?${p}`;
  if (src === previewSrc) return;
  previewSrc = src;
  const name = f.platforms.map((x) => NAMES[x] ?? x).join(', ');
  box.replaceChildren(el('iframe', {
    src, width: 320, height: 60, title: `Preview: live status of ${name} in ${countryName(f.country)}`,
    referrerpolicy: 'no-referrer', sandbox: 'allow-scripts allow-same-origin allow-popups', id: 'preview',
  }));
}

let regionNames = null;
try { regionNames = new Intl.DisplayNames(['en'], { type: 'region' }); } catch { /* old browser */ }
function countryName(cc) {
  try { return regionNames?.of(cc) ?? cc; } catch { return cc; }
}

function fillCountries() {
  const codes = Object.keys(TILES).filter((c) => /^[A-Z]{2}$/.test(c));
  const opts = codes.map((c) => ({ c, n: countryName(c) })).sort((a, b) => a.n.localeCompare(b.n));
  $('country').replaceChildren(...opts.map(({ c, n }) => el('option', { value: c, text: `${n} (${c})` })));
  $('country').value = codes.includes('PK') ? 'PK' : codes[0];
}

async function fillPlatforms() {
  let list = PLATFORM_ORDER;
  try {
    const t = await getJSON('/v1/targets');
    const fromServer = [...new Set((t.targets ?? []).map((x) => String(x.platform)))];
    if (fromServer.length) list = fromServer.sort(byPlatformOrder);
  } catch { /* the usual platforms */ }
  $('platforms').replaceChildren(...list.map((p) => el('div', { class: 'choice' },
    el('input', { type: 'checkbox', id: `p-${p}`, value: p, checked: DEFAULT_BADGE.includes(p) || null }),
    el('label', { for: `p-${p}`, text: NAMES[p] ?? p }))));
  render();
}

/** sha384 of the exact bytes /v1/loader.js sends, as SRI, and ?v= from its first 8 hex digits. */
async function pin() {
  try {
    const bytes = await (await fetch('/v1/loader.js', { cache: 'no-store' })).arrayBuffer();
    const hash = new Uint8Array(await crypto.subtle.digest('SHA-384', bytes));
    const b64 = btoa(String.fromCharCode(...hash));
    const hex = [...hash.slice(0, 4)].map((b) => b.toString(16).padStart(2, '0')).join('');
    pinned = { v: hex, integrity: `sha384-${b64}` };
  } catch {
    pinned = null;
  }
  render();
}

async function copy(id, button) {
  const text = $(id).textContent;
  let ok = false;
  try { await navigator.clipboard.writeText(text); ok = true; } catch {
    const r = document.createRange();
    r.selectNodeContents($(id));
    getSelection().removeAllRanges();
    getSelection().addRange(r);
    try { ok = document.execCommand('copy'); } catch { /* selected for the reader to copy */ }
  }
  $('copied').textContent = ok ? `Copied: ${button.textContent.replace(/^Copy /, '')}.` : 'Selected: press Ctrl+C (⌘C) to copy.';
}

fillCountries();
$('form').addEventListener('input', render);
$('form').addEventListener('change', render);
$('form').addEventListener('submit', (e) => e.preventDefault());
for (const b of document.querySelectorAll('button.copy')) b.addEventListener('click', () => copy(b.dataset.copy, b));
render();
fillPlatforms();
pin();
