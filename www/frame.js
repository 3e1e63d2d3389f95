// Vantage measurement frame (served from the collector's origin as /v1/frame.js).
// Flushes the offline queue, then (at most once per browser per 10 minutes) runs the wasm
// measurement and delivers one report. Queue: localStorage "vantage-q" = [{t, r}], t = ms epoch
// when the report was made, r = the report object; at most 20, none older than 24 h.

const Q = 'vantage-q', LAST = 'vantage-last', URL = '/v1/reports', DAY = 864e5;
const load = k => { try { return JSON.parse(localStorage.getItem(k)) } catch (e) {} };
const save = (k, v) => { try { localStorage.setItem(k, JSON.stringify(v)) } catch (e) {} };
// true: done with this report (2xx, or a 4xx other than 429: invalid, drop); false: keep it queued.
const post = b => fetch(URL, { method: 'POST', keepalive: true, body: b })
  .then(r => r.ok || (r.status > 399 && r.status < 500 && r.status != 429), () => false);
const send = e => (e.r.age_s = Math.max(0, Math.floor((Date.now() - e.t) / 1e3)), post(JSON.stringify(e.r)));
// Queue edits re-read storage, so another tab's entries are not lost.
const queue = (add, drop) => {
  const now = Date.now();
  save(Q, (load(Q) || []).filter(e => e && e.r && e.r.id != drop && now - e.t < DAY).concat(add || []).slice(-20));
};

(async () => {
  const site = new URLSearchParams(location.search).get('site');
  const now = Date.now();
  for (const e of load(Q) || []) if (now - e.t < DAY && await send(e)) queue(0, e.r.id);
  queue();
  if (!site || now - (load(LAST) || 0) < 6e5) return;
  save(LAST, now);
  // Imported only when measuring: a view that just flushes the queue loads no glue and no wasm.
  const { default: init, run, snapshot } = await import('./w/vantage_widget.js');
  await init();
  const list = await (await fetch('/v1/targets')).json();
  let done;
  const finish = s => { done = 1; const e = { t: Date.now(), r: JSON.parse(s) }; queue(e); return e };
  addEventListener('pagehide', () => {
    const s = !done && snapshot();
    if (s) finish(s), navigator.sendBeacon(URL, s);
  });
  const s = await run(list, site);
  if (s && !done) { const e = finish(s); if (await post(s)) queue(0, e.r.id) }
})().catch(() => {}).then(() => {
  // Reports still queued: ask the loader to lift its own 10-minute window so the next view
  // loads this frame again and retries them (the measurement rule above still holds).
  if ((load(Q) || []).length) parent.postMessage('vantage-retry', '*');
});
