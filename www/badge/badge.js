// The live badge framed in articles: one chip per requested platform with its state in the chosen
// country, kept current by /v1/stream. Chips change only when a state does, so screen readers
// hear changes, not every update.
import { loadLanguage, el, stateIcon, connectStream, getJSON, countryParam, knownState } from '/assets/vantage.js';

const params = new URLSearchParams(location.search);
const country = countryParam(params.get('country')) ?? 'PK';
const wanted = (params.get('platforms') ?? '').split(',').map((p) => p.trim().toLowerCase())
  .filter((p) => /^[a-z0-9._-]{1,32}$/.test(p)).slice(0, 8);
const chips = new Map();
let i18n;

function paint(status) {
  const byName = new Map((status?.platforms ?? []).map((p) => [String(p.platform), p]));
  const list = wanted.length ? wanted : [...byName.keys()].slice(0, 4);
  const box = document.getElementById('chips');
  for (const name of list) {
    const state = knownState(byName.get(name)?.state);
    let chip = chips.get(name);
    if (!chip) {
      chip = el('span', { class: 'chip', 'data-platform': name });
      chips.set(name, chip);
      box.append(chip);
    }
    if (chip.dataset.state === state) continue;
    chip.dataset.state = state;
    chip.className = `chip state-${state}`;
    chip.replaceChildren(stateIcon(state), el('span', { class: 'name', text: i18n.platform(name) }),
      el('span', { class: 'word', text: i18n.state(state) }));
  }
  fit();
}

/** The height the badge's content needs, whatever the frame's: its rows plus the padding. */
function contentHeight(badge) {
  const rows = [...badge.children].map((c) => c.getBoundingClientRect());
  const pad = getComputedStyle(badge);
  const top = Math.min(...rows.map((r) => r.top));
  const bottom = Math.max(...rows.map((r) => r.bottom));
  return Math.ceil(bottom - top + parseFloat(pad.paddingTop) + parseFloat(pad.paddingBottom));
}

/**
 * Tells the frame's parent how tall the badge is (embed.js sizes the snippet's frame to it, within
 * bounds); past a frame that stays shorter, chips get smaller and the link keeps only its arrow.
 * The height is no secret and the host's origin is unknown here, hence the '*' target.
 */
function fit() {
  const root = document.documentElement;
  const badge = document.querySelector('.badge');
  root.classList.remove('compact');
  const need = contentHeight(badge);
  if (window.parent !== window) window.parent.postMessage({ vantage: 'badge-size', height: need }, '*');
  if (need > innerHeight) root.classList.add('compact');
}
addEventListener('resize', () => fit());

async function main() {
  i18n = await loadLanguage(params);
  const name = i18n.country(country);
  document.title = i18n.t('badge_label', { country: name });
  document.getElementById('chips').setAttribute('aria-label', i18n.t('badge_label', { country: name }));
  const more = document.getElementById('more');
  document.getElementById('more-text').textContent = i18n.t('badge_more', { country: name });
  more.href = `/?${new URLSearchParams({ country, lang: i18n.lang })}`;
  paint(null);
  // Fonts (the Urdu stack is large) can finish loading after the first paint and change the height.
  document.fonts?.ready.then(() => fit());
  try { paint(await getJSON(`/v1/status?country=${country}`)); } catch { /* chips stay "not enough data" */ }
  const live = document.getElementById('live');
  connectStream({
    url: `/v1/stream?country=${country}`,
    poll: () => `/v1/status?country=${country}`,
    onStatus: (st) => {
      if (st?.country !== country) return;
      document.body.dataset.updates = String(Number(document.body.dataset.updates ?? 0) + 1);
      paint(st);
    },
    onState: (s) => { live.dataset.state = s; live.title = i18n.t(s); },
  });
}

main();
