// The reader-facing dashboard: one country (the visitor's own by default), a card per platform,
// per-network drill-down, detected disruptions and a world tile map, kept live by /v1/stream.
import {
  loadLanguage, el, stateIcon, connectStream, getJSON, countryParam, knownState, worse,
  byPlatformOrder, STATES, languageLinks, translateStatic as translatePage,
} from '/assets/vantage.js';
import { chart } from './chart.js';
import { renderMap, updateMap } from './map.js';

const SERIES_REFRESH_MS = 60_000;
const POLL_MS = 60_000;
const INCIDENTS_SHOWN = 4;

const $ = (id) => document.getElementById(id);
const S = {
  i18n: null,
  country: 'PK',
  asn: null,
  me: { country: null, asn: null },
  status: null,
  countries: new Map(),
  incidents: new Map(),
  series: new Map(),
  seriesAt: 0,
  cards: new Map(),
  open: new Set(),
  live: 'connecting',
  loadSeq: 0,
  targetPlatforms: [],
};

main().catch((e) => showError(e));

async function main() {
  const params = new URLSearchParams(location.search);
  S.i18n = await loadLanguage(params);
  translateStatic();
  renderLanguages(params);
  renderStatesKey();
  renderLegend();
  const asked = countryParam(params.get('country'));
  const askedAsn = Number(params.get('asn'));
  if (Number.isInteger(askedAsn) && askedAsn > 0) S.asn = askedAsn;
  try {
    const me = await getJSON('/v1/whereami');
    S.me = { country: countryParam(me.country), asn: Number.isInteger(me.asn) && me.asn > 0 ? me.asn : null };
  } catch { /* unknown: the fallback country */ }
  S.country = asked ?? (S.me.country && S.me.country !== 'ZZ' ? S.me.country : 'PK');

  $('country').addEventListener('change', (e) => selectCountry(e.target.value));
  $('asn').addEventListener('change', (e) => selectAsn(e.target.value ? Number(e.target.value) : null));
  $('incidents-all').addEventListener('change', renderIncidents);
  $('incidents-more').addEventListener('click', () => { S.incidentsExpanded = !S.incidentsExpanded; renderIncidents(); });
  $('pickers').addEventListener('submit', (e) => e.preventDefault());

  renderMap($('map'), { i18n: S.i18n, onSelect: selectCountry });
  renderCountryPicker();
  getJSON('/v1/targets').then((l) => {
    S.targetPlatforms = [...new Set((l.targets ?? []).map((t) => String(t.platform)))];
    if (S.status) renderStatus();
  }).catch(() => {});
  await Promise.all([loadStatus().then(loadSeries), loadCountries(), loadIncidents()]);
  // Without the stream, the country-wide status is polled (what the stream would carry).
  connectStream({ poll: () => `/v1/status?country=${S.country}`, onStatus, onIncident, onState: setLive });
  setInterval(() => { if (S.live !== 'live') loadStatus(); }, POLL_MS);
  setInterval(() => loadSeries(), 5 * 60_000);
}

// ---- data ---------------------------------------------------------------------------------

function statusUrl() {
  const q = new URLSearchParams({ country: S.country });
  if (S.asn) q.set('asn', String(S.asn));
  return `/v1/status?${q}`;
}

async function loadStatus() {
  const seq = ++S.loadSeq;
  try {
    const st = await getJSON(statusUrl());
    if (seq !== S.loadSeq) return;
    S.status = st;
    hideError();
    renderStatus();
    touch(st.generated_at);
  } catch (e) {
    showError(e);
  }
}

async function loadCountries() {
  try {
    const { countries } = await getJSON('/v1/countries');
    for (const c of countries ?? []) {
      const cc = countryParam(c.country);
      if (cc) S.countries.set(cc, { state: knownState(c.state), reports: c.reports, networks: c.networks });
    }
    renderCountryPicker();
    updateMap($('map'), S.countries, S.country, S.i18n);
  } catch { /* the map stays grey */ }
}

async function loadIncidents() {
  try {
    const { incidents } = await getJSON('/v1/incidents');
    S.incidents.clear();
    for (const i of incidents ?? []) S.incidents.set(String(i.id), i);
    renderIncidents();
  } catch { /* shown as none */ }
}

async function loadSeries() {
  const to = new Date();
  const from = new Date(to - 24 * 3600_000);
  S.seriesAt = Date.now();
  const platforms = (S.status?.platforms ?? []).map((p) => p.platform);
  const country = S.country;
  const asn = S.asn;
  await Promise.all(platforms.map(async (platform) => {
    const q = new URLSearchParams({ platform, country, from: from.toISOString(), to: to.toISOString(), step: '900' });
    if (asn) q.set('asn', String(asn));
    try {
      const { points } = await getJSON(`/v1/timeseries?${q}`);
      if (country !== S.country || asn !== S.asn) return;
      S.series.set(platform, { points: points ?? [], from: +from, to: +to });
      S.cards.get(platform)?.setSeries(S.series.get(platform));
    } catch { /* keeps the previous chart */ }
  }));
}

// ---- live ---------------------------------------------------------------------------------

let asnRefetch = null;
function onStatus(st) {
  const cc = countryParam(st?.country);
  if (!cc) return;
  let worst = null;
  for (const p of st.platforms ?? []) worst = worse(worst, knownState(p.state));
  const prev = S.countries.get(cc) ?? {};
  S.countries.set(cc, {
    ...prev,
    state: worst ?? 'insufficient_data',
    reports: (st.platforms ?? []).reduce((n, p) => n + (p.reports ?? 0), 0),
  });
  updateMap($('map'), S.countries, S.country, S.i18n);
  touch(st.generated_at);
  if (cc !== S.country) return;
  document.body.dataset.updates = String(Number(document.body.dataset.updates ?? 0) + 1);
  if (S.asn) {
    // The stream carries the country-wide view; the network view is asked for again.
    clearTimeout(asnRefetch);
    asnRefetch = setTimeout(loadStatus, 1000);
  } else {
    S.loadSeq++;
    S.status = st;
    renderStatus();
  }
  if (Date.now() - S.seriesAt > SERIES_REFRESH_MS) loadSeries();
}

function onIncident(inc) {
  if (!inc || inc.id == null) return;
  S.incidents.set(String(inc.id), inc);
  renderIncidents();
  touch();
}

function setLive(state) {
  S.live = state;
  const box = $('live');
  box.dataset.state = state;
  $('live-word').textContent = S.i18n.t(state === 'live' ? 'live' : state);
}

function touch(when) {
  const now = new Date();
  const t = when && Math.abs(new Date(when) - now) < 3600_000 ? new Date(when) : now;
  $('live-time').textContent = S.i18n.t('updated', { time: S.i18n.timeSec(t) });
  $('live-time').dateTime = t.toISOString?.() ?? '';
}

// ---- selection ------------------------------------------------------------------------------

function selectCountry(cc) {
  const c = countryParam(cc);
  if (!c || c === S.country) return;
  S.country = c;
  S.asn = null;
  S.status = null;
  S.series.clear();
  S.open.clear();
  for (const card of S.cards.values()) card.root.remove();
  S.cards.clear();
  syncUrl();
  renderCountryPicker();
  updateMap($('map'), S.countries, S.country, S.i18n);
  renderIncidents();
  loadStatus().then(loadSeries);
  $('question').scrollIntoView?.({ block: 'nearest' });
}

function selectAsn(asn) {
  S.asn = asn;
  S.series.clear();
  syncUrl();
  loadStatus().then(loadSeries);
}

function syncUrl() {
  const q = new URLSearchParams(location.search);
  q.set('country', S.country);
  if (S.asn) q.set('asn', String(S.asn)); else q.delete('asn');
  history.replaceState(null, '', `?${q}`);
}

// ---- rendering ----------------------------------------------------------------------------

function translateStatic() {
  document.title = S.i18n.t('title');
  translatePage(S.i18n);
  setLive(S.live);
}

function renderLanguages(params) {
  $('langs').replaceChildren(...languageLinks(S.i18n, params));
}

function renderCountryPicker() {
  const sel = $('country');
  const codes = new Set([...S.countries.keys(), S.country]);
  if (S.me.country && S.me.country !== 'ZZ') codes.add(S.me.country);
  const { country } = S.i18n;
  const sorted = [...codes].sort((a, b) => country(a).localeCompare(country(b), S.i18n.lang));
  sel.replaceChildren(...sorted.map((cc) => el('option', { value: cc, selected: cc === S.country }, country(cc))));
  sel.value = S.country;
}

function renderAsnPicker() {
  const sel = $('asn');
  const asns = new Set();
  for (const p of S.status?.platforms ?? []) for (const a of p.asns ?? []) if (Number.isInteger(a.asn) && a.asn > 0) asns.add(a.asn);
  if (S.me.asn && S.me.country === S.country) asns.add(S.me.asn);
  if (S.asn) asns.add(S.asn);
  const { t } = S.i18n;
  const opts = [el('option', { value: '' }, t('all_networks'))];
  for (const a of [...asns].sort((x, y) => x - y)) {
    const mine = a === S.me.asn && S.me.country === S.country;
    opts.push(el('option', { value: a }, t('asn_name', { asn: a }) + (mine ? ` (${t('your_network')})` : '')));
  }
  sel.replaceChildren(...opts);
  sel.value = S.asn ? String(S.asn) : '';
}

function renderStatus() {
  const st = S.status;
  const { t, country, platform, state } = S.i18n;
  const name = country(S.country);
  $('question').textContent = S.asn ? t('question_network', { country: name, asn: S.asn }) : t('question', { country: name });
  renderAsnPicker();
  // Platforms of the target list without published numbers still get a card: "not enough data".
  const listed = new Set((st?.platforms ?? []).map((p) => String(p.platform)));
  const missing = (S.targetPlatforms ?? []).filter((p) => !listed.has(p))
    .map((platform) => ({ platform, state: 'insufficient_data', reports: 0, networks: 0, asns: [] }));
  const platforms = [...(st?.platforms ?? []), ...missing].sort((a, b) => byPlatformOrder(a.platform, b.platform));
  // Summary: the sentence a reader needs first.
  const problems = platforms.filter((p) => p.state === 'disrupted' || p.state === 'degraded');
  const measured = platforms.filter((p) => p.state !== 'insufficient_data');
  let worst = null;
  for (const p of platforms) worst = worse(worst, knownState(p.state));
  const summary = $('summary');
  summary.dataset.state = worst ?? 'insufficient_data';
  let text;
  if (!measured.length) text = t('summary_nodata');
  else if (!problems.length) text = t('summary_ok');
  else {
    text = t('summary_problems', {
      n: S.i18n.num(problems.length),
      total: S.i18n.num(platforms.length),
      names: problems.map((p) => `${platform(p.platform)} (${state(p.state)})`).join(S.i18n.lang === 'ur' ? '، ' : ', '),
    });
  }
  summary.replaceChildren(stateIcon(worst && measured.length ? worst : 'insufficient_data'), el('span', { text }));

  const list = $('cards');
  const seen = new Set();
  for (const p of platforms) {
    const key = String(p.platform);
    seen.add(key);
    let card = S.cards.get(key);
    if (!card) {
      card = makeCard(key);
      S.cards.set(key, card);
    }
    list.append(card.root); // keeps the order; moving a node keeps its focus state
    card.update(p, st);
    const series = S.series.get(key);
    if (series && !card.hasSeries) card.setSeries(series);
  }
  for (const [key, card] of S.cards) {
    if (!seen.has(key)) { card.root.remove(); S.cards.delete(key); }
  }
}

function makeCard(platform) {
  const i18n = S.i18n;
  const { t } = i18n;
  const id = `p-${platform.replace(/[^a-z0-9_-]/gi, '_')}`;
  const title = el('h3', { class: 'card-title', id: `${id}-h`, text: i18n.platform(platform) });
  const pill = el('span', { class: 'pill' });
  const rate = el('p', { class: 'metric' });
  const median = el('p', { class: 'metric metric-ms' });
  const since = el('p', { class: 'since' });
  const counts = el('p', { class: 'counts' });
  const chartBox = el('div', { class: 'chart-box' });
  const toggle = el('button', { type: 'button', class: 'drill', 'aria-expanded': 'false', 'aria-controls': `${id}-asns` });
  const asnBox = el('div', { class: 'asns', id: `${id}-asns`, hidden: true });
  const root = el('li', { class: 'card', 'data-platform': platform, 'aria-labelledby': `${id}-h` },
    el('div', { class: 'card-head' }, title, pill), rate, median, since, chartBox, counts, toggle, asnBox);
  let last = null;

  toggle.addEventListener('click', () => {
    const open = toggle.getAttribute('aria-expanded') !== 'true';
    if (open) S.open.add(platform); else S.open.delete(platform);
    paintAsns();
  });

  function paintAsns() {
    const open = S.open.has(platform);
    const asns = [...(last?.asns ?? [])].sort((a, b) => (b.reports ?? 0) - (a.reports ?? 0));
    toggle.setAttribute('aria-expanded', String(open));
    toggle.replaceChildren(el('span', { class: 'chev', 'aria-hidden': 'true' }),
      `${open ? t('hide_networks') : t('show_networks')} (${i18n.num(asns.length)})`);
    asnBox.hidden = !open;
    if (!open) return;
    const caption = el('caption', { class: 'visually-hidden', text: t('networks_heading', { platform: i18n.platform(platform), country: i18n.country(S.country) }) });
    if (!asns.length) {
      asnBox.replaceChildren(el('p', { class: 'note', text: t('no_networks') }));
      return;
    }
    const head = el('tr', {}, ...['col_network', 'col_state', 'col_success'].map((k) => el('th', { scope: 'col', text: t(k) })));
    const rows = asns.map((a) => {
      const s = knownState(a.state);
      const mine = a.asn === S.me.asn && S.me.country === S.country;
      const pick = el('button', { type: 'button', class: 'asn-link', title: t('network_label'), onclick: () => selectAsn(a.asn) },
        t('asn_name', { asn: a.asn }));
      return el('tr', { class: `asn-row state-${s}`, 'data-asn': a.asn, 'data-state': s },
        el('th', { scope: 'row' }, pick, mine ? el('span', { class: 'mine', text: t('your_network') }) : ''),
        el('td', {}, el('span', { class: `mini state-${s}` }, stateIcon(s), el('span', { text: i18n.state(s) }))),
        el('td', { class: 'num' }, i18n.pct(a.success_rate), el('span', { class: 'sub', text: i18n.ms(a.median_ms) })));
    });
    asnBox.replaceChildren(el('table', { class: 'asn-table' }, caption, el('thead', {}, head), el('tbody', {}, rows)));
  }

  return {
    root,
    hasSeries: false,
    update(p, st) {
      last = p;
      const s = knownState(p.state);
      root.className = `card state-${s}`;
      root.dataset.state = s;
      root.dataset.reports = String(p.reports ?? 0);
      pill.className = `pill state-${s}`;
      pill.replaceChildren(stateIcon(s), el('span', { class: 'pill-word', text: i18n.state(s) }));
      rate.replaceChildren(...[
        el('strong', { class: 'big', text: i18n.pct(p.success_rate) }),
        el('span', { class: 'metric-label', text: t('success', { rate: '' }).trim() }),
        p.baseline_success_rate != null ? el('span', { class: 'usual', text: t('usually', { value: i18n.pct(p.baseline_success_rate) }) }) : null,
      ].filter(Boolean));
      median.replaceChildren(...[
        el('strong', { class: 'mid', text: i18n.ms(p.median_ms) }),
        el('span', { class: 'metric-label', text: t('median', { ms: '' }).trim() }),
        p.baseline_median_ms != null ? el('span', { class: 'usual', text: t('usually', { value: i18n.ms(p.baseline_median_ms) }) }) : null,
      ].filter(Boolean));
      median.hidden = p.median_ms == null && p.baseline_median_ms == null;
      if (p.since && (s === 'disrupted' || s === 'degraded')) {
        since.hidden = false;
        since.textContent = `${i18n.state(s)} ${t('since', { time: i18n.time(p.since) })} · ${i18n.ago(p.since)}`;
      } else if (p.held) {
        // The window looked bad but the detector held back (no history, one ASN, global).
        since.hidden = false;
        since.textContent = t(`held_${p.held}`);
      } else {
        since.hidden = s !== 'insufficient_data';
        since.textContent = s === 'insufficient_data' ? t('explain_insufficient_data') : '';
      }
      counts.textContent = t('counts', {
        reports: i18n.num(p.reports ?? 0),
        networks: i18n.num(p.networks ?? 0),
        minutes: i18n.num(Math.round((st?.window_s ?? 300) / 60)),
      });
      paintAsns();
    },
    setSeries(series) {
      this.hasSeries = true;
      chartBox.replaceChildren(chart(series.points, {
        from: series.from, to: series.to, i18n, platform: i18n.platform(platform), country: i18n.country(S.country),
      }));
    },
  };
}

function renderIncidents() {
  const i18n = S.i18n;
  const { t } = i18n;
  const all = $('incidents-all').checked;
  const list = [...S.incidents.values()]
    .filter((i) => all || i.country === S.country)
    // Open first, then country-wide before single networks, then the latest.
    .sort((a, b) => (a.ended_at ? 1 : 0) - (b.ended_at ? 1 : 0) || (a.asn ? 1 : 0) - (b.asn ? 1 : 0)
      || String(b.started_at).localeCompare(String(a.started_at)));
  const box = $('incidents');
  const more = $('incidents-more');
  const total = list.length;
  if (!S.incidentsExpanded) list.splice(INCIDENTS_SHOWN);
  more.hidden = total <= INCIDENTS_SHOWN;
  more.textContent = S.incidentsExpanded ? t('incidents_fewer') : t('incidents_more', { n: i18n.num(total) });
  more.setAttribute('aria-expanded', String(Boolean(S.incidentsExpanded)));
  if (!list.length) {
    box.replaceChildren(el('li', { class: 'incident empty', text: t('incidents_none') }));
    return;
  }
  box.replaceChildren(...list.map((inc) => {
    const s = knownState(inc.state);
    const listed = inc.affected_asns;
    const asns = Array.isArray(listed) && listed.length ? listed : (inc.asn ? [inc.asn] : []);
    const where = inc.asn ? t('incident_on', { asn: inc.asn }) : t('incident_all_networks');
    const fact = (k, v, cls) => el('div', { class: cls }, el('dt', { text: t(k) }), el('dd', { text: v }));
    return el('li', { class: `incident state-${s}${inc.ended_at ? ' ended' : ' open'}`, 'data-id': inc.id, 'data-platform': inc.platform },
      el('div', { class: 'incident-head' },
        el('span', { class: `pill state-${s}` }, stateIcon(s), el('span', { text: inc.ended_at ? t('incident_ended') : t('incident_ongoing') })),
        el('h3', { class: 'incident-title', text: `${t('incident_title', { platform: i18n.platform(inc.platform), state: i18n.state(s), country: i18n.country(inc.country) })} ${where}` })),
      el('dl', { class: 'facts' },
        fact('incident_started', i18n.dateTime(inc.started_at)),
        fact(inc.ended_at ? 'incident_ended' : 'incident_duration', inc.ended_at ? i18n.dateTime(inc.ended_at) : i18n.duration(inc.started_at)),
        inc.ended_at ? fact('incident_duration', i18n.duration(inc.started_at, inc.ended_at)) : null,
        fact('incident_peak', i18n.pct(inc.peak_failure_rate), 'num'),
        fact('incident_asns', asns.length ? asns.map((a) => t('asn_name', { asn: a })).join(', ') : t('all_networks'), 'wide'),
        fact('incident_reports', i18n.num(inc.reports), 'num'),
        fact('incident_networks', i18n.num(inc.networks), 'num'),
        // Issue 9: how broad the evidence is, why it ended, and any flood that was not trusted.
        typeof inc.confidence === 'number' ? fact('incident_confidence', i18n.pct(inc.confidence), 'num') : null,
        inc.end_reason ? fact('incident_end_reason', t(`end_reason_${inc.end_reason === 'no_data' ? 'no_data' : 'recovered'}`)) : null,
        inc.suspicious_asns?.length ? fact('incident_suspicious', inc.suspicious_asns.map((a) => t('asn_name', { asn: a })).join(', '), 'wide') : null));
  }));
}

function renderStatesKey() {
  const dl = $('states');
  dl.replaceChildren(...STATES.flatMap((s) => [
    el('dt', {}, el('span', { class: `pill state-${s}` }, stateIcon(s), el('span', { text: S.i18n.state(s) }))),
    el('dd', { text: S.i18n.t(`explain_${s}`) }),
  ]));
}

function renderLegend() {
  const box = $('legend');
  box.replaceChildren(el('span', { class: 'legend-title', text: S.i18n.t('legend') }),
    ...[...STATES, 'none'].map((s) => el('span', { class: 'legend-item' },
      el('span', { class: `swatch tile state-${s}`, 'aria-hidden': 'true' }), el('span', { text: S.i18n.state(s === 'none' ? null : s) }))));
}

function showError() {
  const e = $('error');
  e.textContent = S.i18n?.t('error_load') ?? 'Could not load the latest numbers.';
  e.hidden = false;
}
function hideError() { $('error').hidden = true; }
