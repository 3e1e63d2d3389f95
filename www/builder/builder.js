// The snippet builder: form → the one-line snippet, a pinned copy with Subresource Integrity
// computed here over the exact loader bytes this server sends, the CSP lines, and a live preview
// of the badge. Everything is built with textContent / attributes, never HTML parsing. Every
// visible string comes from /i18n/CODE.json; the generated code stays left-to-right English.
import { el, getJSON, PLATFORM_ORDER, byPlatformOrder, loadLanguage, languageLinks, translateStatic } from '/assets/vantage.js';
import { TILES } from '/dashboard/tiles.js';

const $ = (id) => document.getElementById(id);
const ORIGIN = location.origin;
const SITE_RE = /^[a-z0-9_-]{1,64}$/;
const DEFAULT_BADGE = ['x', 'youtube', 'whatsapp'];

let i18n = null; // the page's language (loadLanguage)
let pinned; // { v, integrity } of the loader once computed, null if it cannot be, undefined meanwhile
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
  if (f.live && f.platforms.length) a.push(['data-live', f.platforms.join(',')], ['data-country', f.country]);
  // The language of the notice and the badge: only when the snippet shows either.
  if (f.lang && (f.consent !== 'none' || (f.live && f.platforms.length))) a.push(['data-lang', f.lang]);
  return a.map(([k, v]) => `${k}="${q(v)}"`).join(' ');
}

function render() {
  const f = read();
  showError($('site'), 'site-error', !f.siteOk);
  showError($('sample'), 'sample-error', !f.sampleOk);
  $('platforms-error').hidden = !(f.live && f.platforms.length === 0);
  for (const id of ['live-options', 'country']) $(id).disabled = !f.live;
  $('lang').disabled = !f.live && f.consent === 'none';
  const attrs = attributes(f);
  $('snippet').textContent = `<script async src="${ORIGIN}/v1/loader.js" ${attrs}></script>`;
  const sri = $('sri');
  sri.dataset.pinned = pinned ? 'yes' : pinned === null ? 'no' : 'pending';
  if (pinned) {
    sri.textContent = `<script async src="${ORIGIN}/v1/loader.js?v=${pinned.v}" integrity="${pinned.integrity}" crossorigin="anonymous" ${attrs}></script>`;
    sri.lang = 'en';
    sri.dir = 'ltr';
  } else { // a sentence, not code: in the page's language and direction
    sri.textContent = t(pinned === null ? 'builder_sri_failed' : 'builder_computing');
    sri.lang = i18n?.lang ?? 'en';
    sri.dir = i18n?.dir ?? 'ltr';
  }
  $('csp').textContent = `script-src ${ORIGIN}\nframe-src ${ORIGIN}`;
  renderPreview(f);
}

function renderPreview(f) {
  const box = $('preview-box');
  if (!f.live || !f.platforms.length) {
    previewSrc = '';
    box.replaceChildren(el('p', { class: 'help', id: 'preview-off', text: t('builder_preview_off') }));
    return;
  }
  const p = new URLSearchParams({ country: f.country, platforms: f.platforms.join(',') });
  if (f.lang) p.set('lang', f.lang);
  const src = `/v1/badge?${p}`;
  if (src === previewSrc) return;
  previewSrc = src;
  const platforms = f.platforms.map((x) => platformName(x)).join(t('list_sep'));
  box.replaceChildren(el('iframe', {
    src, width: 320, height: 60, title: t('builder_preview_title', { platforms, country: countryName(f.country) }),
    referrerpolicy: 'no-referrer', sandbox: 'allow-scripts allow-same-origin allow-popups', id: 'preview',
  }));
}

/** Before the dictionary has loaded, the text is the key's English fallback in the page. */
const t = (key, vars) => (i18n ? i18n.t(key, vars) : key);
const countryName = (cc) => (i18n ? i18n.country(cc) : cc);
const platformName = (p) => (i18n ? i18n.platform(p) : p);

function fillCountries() {
  const codes = Object.keys(TILES).filter((c) => /^[A-Z]{2}$/.test(c));
  const opts = codes.map((c) => ({ c, n: countryName(c) })).sort((a, b) => a.n.localeCompare(b.n, i18n?.lang));
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
    el('label', { for: `p-${p}`, text: platformName(p) }))));
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

async function copy(id) {
  const text = $(id).textContent;
  let ok = false;
  try { await navigator.clipboard.writeText(text); ok = true; } catch {
    const r = document.createRange();
    r.selectNodeContents($(id));
    getSelection().removeAllRanges();
    getSelection().addRange(r);
    try { ok = document.execCommand('copy'); } catch { /* selected for the reader to copy */ }
  }
  $('copied').textContent = t(ok ? `builder_copied_${id}` : 'builder_selected');
}

const params = new URLSearchParams(location.search);
i18n = await loadLanguage(params);
document.title = t('builder_title');
translateStatic(i18n);
$('langs').replaceChildren(...languageLinks(i18n, params));
fillCountries();
$('form').addEventListener('input', render);
$('form').addEventListener('change', render);
$('form').addEventListener('submit', (e) => e.preventDefault());
for (const b of document.querySelectorAll('button.copy')) b.addEventListener('click', () => copy(b.dataset.copy));
render();
fillPlatforms();
pin();
