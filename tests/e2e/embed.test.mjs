// The editor- and reader-facing embed (www/v1/embed.js, added by the loader): the consent notice and
// the opt-in prompt in a host page on another origin with a strict CSP, the live badge through
// data-live and through a [data-vantage-live] element, and what is (not) downloaded when.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { makeWorkdir, startCollector, stop, exportRaw, waitFor, startPages, hostArticle, axeViolations, shared } from './harness.mjs';

const env = shared({ fixtures: true, chromium: true });

const GPC = () => Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', { get: () => true });
// Every CSP violation in the host page, recorded before any script of the page runs.
const WATCH_CSP = () => {
  window.__csp = [];
  document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
};
const isMeasuring = (u) => u.includes('/v1/frame.html') || u.includes('/v1/targets') || u.includes('/v1/w/') || u.includes('.test/');

/**
 * A collector, and a host site on localhost serving `pages` ({ path: { attrs, body, lang } }) under
 * the strict CSP README.md documents: our origin in script-src and frame-src, nothing else.
 */
async function setup(pages) {
  const dir = makeWorkdir();
  const collector = await startCollector(dir, '127.0.0.1');
  const o = collector.origin;
  const html = Object.fromEntries(Object.entries(pages).map(([p, v]) => [p, hostArticle(o, v.attrs, v.body, v.lang)]));
  const csp = `default-src 'self'; script-src ${o}; frame-src ${o}; style-src 'self'; img-src 'self'; object-src 'none'; base-uri 'none'`;
  const host = await startPages(html, { 'content-security-policy': csp });
  return {
    dir, collector, host,
    async close() { host.server.close(); await stop(collector.child); },
  };
}

/** A fresh browser context recording every request (url and time) and the CSP violations. */
async function openContext(options = {}, initScripts = []) {
  const context = await env.browser.newContext(options);
  const requests = [];
  context.on('request', (r) => requests.push(r.url()));
  await context.addInitScript(WATCH_CSP);
  for (const s of initScripts) await context.addInitScript(s);
  return { context, requests };
}

/**
 * Runs `check({ s, page, requests })` with a host site serving `pages` (see `setup`) and its page
 * `/a` open in a fresh context (see `openContext`: `options`, `initScripts`); closes all after.
 */
async function onHostPage(pages, check, { options = {}, initScripts = [] } = {}) {
  const s = await setup(pages);
  const { context, requests } = await openContext(options, initScripts);
  try {
    const page = await context.newPage();
    await page.goto(`${s.host.origin}/a`);
    await check({ s, page, requests });
  } finally {
    await context.close();
    await s.close();
  }
}

const cspViolations = (page) => page.evaluate(() => window.__csp);

test('notice: shown, readable, keyboard reachable with a visible focus, dismissed for good; measures meanwhile', async () => {
  await onHostPage({ '/a': { attrs: 'data-sample="1" data-consent="notice"' } }, async ({ s, page, requests }) => {
    const box = await page.waitForSelector('aside.vantage-consent[data-vantage-consent-mode="notice"]');
    assert.match(await box.textContent(), /This site measures whether social media is reachable from your browser, anonymously\./);
    assert.equal(await box.getAttribute('aria-label'), 'Measurement notice');
    const href = await page.$eval('.vantage-consent a', (a) => a.href);
    assert.equal(href, `${s.collector.origin}/privacy.html`);
    assert.ok(await page.isVisible('.vantage-consent-optout'));

    // Keyboard only: the line is first in the tab order; its link, then Opt out, then Dismiss.
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.closest('.vantage-consent') != null), true, 'first Tab lands in the notice');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.className), 'vantage-consent-optout');
    const ring = await page.evaluate(() => {
      const st = getComputedStyle(document.activeElement);
      return { visible: document.activeElement.matches(':focus-visible'), style: st.outlineStyle, width: parseFloat(st.outlineWidth) };
    });
    assert.ok(ring.visible && ring.style !== 'none' && ring.width > 0, `focus ring shown: ${JSON.stringify(ring)}`);

    // The notice does not hold the measurement back.
    await waitFor(() => exportRaw(s.dir).length >= 4, { what: 'the measurement', timeoutMs: 20000 });
    assert.deepEqual(await cspViolations(page), [], 'nothing of ours breaks a strict host CSP');

    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.getAttribute('aria-label')), 'Dismiss this notice');
    await page.keyboard.press('Enter');
    assert.equal(await page.$('.vantage-consent'), null, 'dismissed');
    assert.equal(await page.evaluate(() => localStorage.getItem('vantage-optout')), null, 'dismissing is not opting out');

    const before = requests.filter((u) => u.includes('/v1/embed.js')).length;
    await page.reload();
    await page.waitForTimeout(1500);
    assert.equal(await page.$('.vantage-consent'), null, 'a dismissed notice stays dismissed');
    assert.equal(requests.filter((u) => u.includes('/v1/embed.js')).length, before, 'and embed.js is not even loaded again');
  });
});

test('notice: Opt out says so, keeps the focus, and no later view measures', async () => {
  await onHostPage({ '/a': { attrs: 'data-sample="1" data-consent="notice"' } }, async ({ s, page, requests }) => {
    await page.waitForSelector('.vantage-consent-optout');
    await page.focus('.vantage-consent-optout');
    await page.keyboard.press('Space');
    await page.waitForSelector('.vantage-consent [role="status"]');
    assert.match(await page.textContent('.vantage-consent'), /You opted out/);
    assert.equal(await page.evaluate(() => document.activeElement.className), 'vantage-consent-close', 'focus moved to Close');
    assert.equal(await page.evaluate(() => localStorage.getItem('vantage-optout')), '1');
    // The frame is told to stop and removed once it says so (at most 2 s later).
    await waitFor(async () => (await page.$('iframe[src*="/v1/frame.html"]')) == null, { what: 'the running frame to be removed', timeoutMs: 15000 });
    await page.keyboard.press('Enter');
    assert.equal(await page.$('.vantage-consent'), null);
    // Wait for anything the first view may have sent, then lift the 10-minute rule: only the
    // opt-out can now keep the next views from measuring.
    await page.waitForTimeout(3000);
    const stored = exportRaw(s.dir).length;
    for (let i = 0; i < 2; i++) {
      requests.length = 0;
      await page.evaluate(() => localStorage.removeItem('vantage-l'));
      await page.reload();
      await page.waitForTimeout(3000);
      assert.deepEqual(requests.filter(isMeasuring), [], `view ${i + 2} measures nothing`);
      assert.equal(await page.$('.vantage-consent'), null, 'no notice for a reader who opted out');
    }
    assert.equal(exportRaw(s.dir).length, stored);
  });
});

test('opt-in: nothing is measured until the reader agrees; then it is, and the answer is kept', async () => {
  await onHostPage({ '/a': { attrs: 'data-sample="1" data-consent="opt-in"' } }, async ({ s, page, requests }) => {
    await page.waitForSelector('aside.vantage-consent[data-vantage-consent-mode="opt-in"]');
    assert.match(await page.textContent('.vantage-consent'), /May this site measure/);
    await page.waitForTimeout(4000);
    assert.deepEqual(requests.filter(isMeasuring), [], 'no measurement before Agree');
    assert.deepEqual(exportRaw(s.dir), []);

    // Keyboard: Tab into the prompt, on to Agree, Enter.
    let onAgree = false;
    for (let i = 0; i < 4 && !onAgree; i++) {
      await page.keyboard.press('Tab');
      onAgree = await page.evaluate(() => document.activeElement.className === 'vantage-consent-agree');
    }
    assert.ok(onAgree, 'Agree reachable by Tab');
    await page.keyboard.press('Enter');
    assert.equal(await page.$('.vantage-consent'), null, 'the prompt goes away');
    const rows = await waitFor(() => { const r = exportRaw(s.dir); return r.length >= 4 ? r : null; },
      { what: 'the measurement after Agree', timeoutMs: 20000 });
    assert.ok(rows.every((r) => r.site === 'hostnews'));
    assert.equal(await page.evaluate(() => localStorage.getItem('vantage-consent')), 'yes');
    assert.deepEqual(await cspViolations(page), []);

    requests.length = 0;
    await page.evaluate(() => localStorage.removeItem('vantage-l'));
    await page.reload();
    await waitFor(() => requests.some((u) => u.includes('/v1/frame.html')), { what: 'the next view to measure without asking', timeoutMs: 10000 });
    assert.equal(await page.$('.vantage-consent'), null, 'no second prompt');
    assert.ok(!requests.some((u) => u.includes('/v1/embed.js')), 'nothing left to show: no embed.js');
  });
});

test('an empty or unknown data-consent means opt-in (README): a prompt, and nothing measured before Agree', async () => {
  const s = await setup({
    '/empty': { attrs: 'data-sample="1" data-consent=""' },
    '/odd': { attrs: 'data-sample="1" data-consent="Notice"' },
    '/control': { attrs: 'data-sample="1"' },
  });
  const opened = [];
  try {
    for (const [i, path] of ['/empty', '/odd'].entries()) {
      const asked = await openContext();
      const control = await openContext();
      opened.push(asked.context, control.context);
      const page = await asked.context.newPage();
      await page.goto(`${s.host.origin}${path}`);
      await page.waitForSelector('aside.vantage-consent[data-vantage-consent-mode="opt-in"]', { timeout: 30000 });
      // Bound the wait by a page without consent UI, opened after: once its frame is added, the
      // loader of the asking page had as long to add one.
      await (await control.context.newPage()).goto(`${s.host.origin}/control`);
      await waitFor(() => control.requests.some((u) => u.includes('/v1/frame.html')), { what: 'the control to add its frame', timeoutMs: 20000 });
      assert.deepEqual(asked.requests.filter(isMeasuring), [], `${path}: no measurement before Agree`);
      await page.click('.vantage-consent-agree');
      // Each round stores two reports: the control's and, after Agree, the asking page's.
      await waitFor(() => new Set(exportRaw(s.dir).map((r) => r.report_id)).size >= 2 * (i + 1),
        { what: `${path}: the measurement after Agree (and the control's)`, timeoutMs: 30000 });
      assert.ok(asked.requests.some((u) => u.includes('/v1/frame.html')), `${path} measures after Agree`);
    }
  } finally {
    for (const c of opened) await c.close();
    await s.close();
  }
});

test('opt-in in Urdu: right to left; No thanks measures nothing and is remembered', async () => {
  await onHostPage({ '/a': { attrs: 'data-sample="1" data-consent="opt-in"' } }, async ({ s, page, requests }) => {
    const box = await page.waitForSelector('.vantage-consent');
    assert.equal(await box.getAttribute('dir'), 'rtl');
    assert.equal(await box.getAttribute('lang'), 'ur');
    assert.equal(await page.textContent('.vantage-consent-agree'), 'متفق ہوں');
    await page.click('.vantage-consent-decline');
    assert.equal(await page.evaluate(() => localStorage.getItem('vantage-optout')), '1');
    await page.reload();
    await page.waitForTimeout(3000);
    assert.equal(await page.$('.vantage-consent'), null);
    assert.deepEqual(requests.filter(isMeasuring), []);
    assert.deepEqual(exportRaw(s.dir), []);
  }, { options: { locale: 'ur-PK' } });
});

test('the consent line passes axe-core (no serious or critical violation), English and Urdu', async () => {
  const s = await setup({
    '/n': { attrs: 'data-sample="1" data-consent="notice"' },
    '/o': { attrs: 'data-sample="1" data-consent="opt-in" data-lang="ur"' },
  });
  // axe is injected as a script, which the host's CSP would refuse: this context ignores CSP.
  const { context } = await openContext({ bypassCSP: true });
  try {
    const page = await context.newPage();
    for (const path of ['/n', '/o']) {
      await page.goto(`${s.host.origin}${path}`);
      await page.waitForSelector('.vantage-consent');
      assert.deepEqual(await axeViolations(page, '.vantage-consent'), [], `axe on ${path}`);
      // Urdu asks for Nastaliq, then Naskh (issue 10); English keeps the system face.
      const font = await page.$eval('.vantage-consent', (e) => getComputedStyle(e).fontFamily);
      if (path === '/o') assert.match(font, /^"Noto Nastaliq Urdu",.*"Noto Naskh Arabic"/, font);
      else assert.match(font, /^system-ui/, font);
    }
    // After opting out, the confirmation too.
    await page.goto(`${s.host.origin}/n`);
    await page.click('.vantage-consent-optout');
    assert.deepEqual(await axeViolations(page, '.vantage-consent'), [], 'axe on the opt-out confirmation');
  } finally {
    await context.close();
    await s.close();
  }
});

test('live badge through data-live: shown to every reader (GPC too), framed from our origin, live chips', async () => {
  await onHostPage({ '/a': { attrs: 'data-live="x,youtube" data-country="pk" data-lang="en"', body: '<p>Before the badge.</p>' } }, async ({ s, page, requests }) => {
    const f = await page.waitForSelector('iframe.vantage-badge');
    const a = await f.evaluate((e) => ({
      src: e.src, title: e.title, sandbox: e.getAttribute('sandbox'), rp: e.referrerPolicy, loading: e.loading,
      w: e.getBoundingClientRect().width, h: e.getBoundingClientRect().height, next: e.nextElementSibling?.tagName,
    }));
    assert.equal(a.src, `${s.collector.origin}/v1/badge?country=PK&platforms=x%2Cyoutube&lang=en`);
    assert.equal(a.title, 'Live status of X, YouTube in Pakistan (Vantage)');
    assert.equal(a.sandbox, 'allow-scripts allow-same-origin allow-popups');
    assert.equal(a.rp, 'no-referrer');
    assert.equal(a.loading, 'lazy');
    assert.equal(a.w, 320);
    assert.ok(a.h >= 32 && a.h <= 240, `a badge frame between 32 and 240 px tall: ${a.h}`);
    assert.equal(a.next, 'SCRIPT', 'placed where the snippet stands');
    const frame = await waitFor(() => page.frames().find((fr) => fr.url().includes('/v1/badge')), { what: 'badge frame' });
    await frame.waitForSelector('.chip[data-platform="x"][data-state]');
    await frame.waitForSelector('.chip[data-platform="youtube"][data-state]');
    await waitFor(() => frame.$eval('#live', (e) => e.dataset.state === 'live'), { what: 'the badge stream', timeoutMs: 15000 });
    // Sized to its content (issue 10): no scrolling, and no empty band left under the link.
    await waitFor(() => frame.evaluate(() => {
      const bottom = Math.max(...[...document.querySelector('.badge').children].map((c) => c.getBoundingClientRect().bottom));
      return document.documentElement.scrollHeight <= innerHeight && innerHeight - bottom <= 6;
    }), { what: 'the badge frame to take its content height' });
    assert.deepEqual(requests.filter(isMeasuring), [], 'GPC: the badge measures nothing and adds no frame');
    assert.equal(await page.$('.vantage-consent'), null, 'no consent UI asked for');
    assert.deepEqual(await cspViolations(page), []);
  }, { initScripts: [GPC] });
});

test('live badge through [data-vantage-live] elements, Urdu, with no request of ours before load', async () => {
  const body = `<div data-vantage-live data-platforms="x,youtube,whatsapp" data-country="PK"></div>
    <div data-vantage-live data-platforms="facebook" data-country="IR" data-lang="ur"></div>
    <div data-vantage-live data-platforms="x" data-country="Pakistan"></div>`;
  await onHostPage({ '/a': { attrs: 'data-sample="1" data-consent="notice"', body } }, async ({ s, page }) => {
    await waitFor(() => page.$$eval('iframe.vantage-badge', (e) => e.length === 2), { what: 'two badges' });
    const srcs = await page.$$eval('iframe.vantage-badge', (e) => e.map((f) => f.src));
    assert.deepEqual(srcs, [
      `${s.collector.origin}/v1/badge?country=PK&platforms=x%2Cyoutube%2Cwhatsapp`,
      `${s.collector.origin}/v1/badge?country=IR&platforms=facebook&lang=ur`,
    ], 'a bad country code gets no badge');
    const ur = await waitFor(() => page.frames().find((fr) => fr.url().includes('lang=ur')), { what: 'Urdu badge' });
    await ur.waitForSelector('.chip[data-platform="facebook"][data-state]');
    assert.equal(await ur.evaluate(() => document.documentElement.dir), 'rtl');
    await page.waitForSelector('.vantage-consent');
    await waitFor(() => exportRaw(s.dir).length >= 4, { what: 'the measurement', timeoutMs: 20000 });

    // Resource Timing of the host page: what came from our origin, and when, against `load`.
    const timing = await page.evaluate((o) => {
      const nav = performance.getEntriesByType('navigation')[0];
      return {
        load: nav.loadEventStart,
        ours: performance.getEntriesByType('resource').filter((r) => r.name.startsWith(o))
          .map((r) => ({ name: r.name.slice(o.length), start: r.startTime })),
      };
    }, s.collector.origin);
    const names = timing.ours.map((r) => r.name);
    assert.ok(names.some((n) => n.startsWith('/v1/embed.js')), `embed.js loaded: ${names}`);
    assert.ok(names.some((n) => n.startsWith('/v1/badge')), `badge loaded: ${names}`);
    assert.ok(names.some((n) => n.startsWith('/v1/frame.html')), `frame loaded: ${names}`);
    const early = timing.ours.filter((r) => !r.name.startsWith('/v1/loader.js') && r.start < timing.load);
    assert.deepEqual(early, [], `requests of ours before load (${timing.load} ms)`);
    assert.deepEqual(await cspViolations(page), []);
  });
});

test('a snippet without badge or consent attributes never loads embed.js (sampled or not)', async () => {
  const s = await setup({
    '/plain': { attrs: 'data-sample="1"' },
    '/unsampled-notice': { attrs: 'data-sample="0" data-consent="notice"' },
    '/none': { attrs: 'data-sample="1" data-consent="none"' },
  });
  try {
    for (const path of ['/plain', '/unsampled-notice', '/none']) {
      const { context, requests } = await openContext();
      const page = await context.newPage();
      await page.goto(`${s.host.origin}${path}`);
      await page.waitForTimeout(2500);
      assert.deepEqual(requests.filter((u) => u.includes('/v1/embed.js')), [], `${path}: no embed.js`);
      assert.equal(await page.$('.vantage-consent'), null);
      if (path !== '/unsampled-notice') assert.ok(requests.some((u) => u.includes('/v1/frame.html')), `${path} measures`);
      await context.close();
    }
  } finally {
    await s.close();
  }
});

test('builder: the pinned snippet carries the sha384 of the exact loader bytes, and only those run', async () => {
  const s = await setup({});
  const { context, requests } = await openContext();
  try {
    const page = await context.newPage();
    const problems = [];
    page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
    await page.goto(`${s.collector.origin}/builder/`);
    await page.fill('#site', 'pinned');
    await page.fill('#sample', '1');
    await page.waitForFunction(() => document.getElementById('sri').textContent.includes('integrity='));
    const pinned = await page.textContent('#sri');
    const bytes = Buffer.from(await (await fetch(`${s.collector.origin}/v1/loader.js`)).arrayBuffer());
    const digest = createHash('sha384').update(bytes).digest();
    assert.ok(pinned.includes(`integrity="sha384-${digest.toString('base64')}"`), pinned);
    assert.ok(pinned.includes(`/v1/loader.js?v=${digest.subarray(0, 4).toString('hex')}"`), pinned);
    assert.ok(pinned.includes('crossorigin="anonymous"') && pinned.includes('data-site="pinned" data-sample="1"'), pinned);
    assert.equal(await page.textContent('#csp'), `script-src ${s.collector.origin}\nframe-src ${s.collector.origin}`);
    assert.deepEqual(problems, [], 'the builder runs under our own strict CSP');

    // A ?v= URL may be cached for good.
    const v = await fetch(`${s.collector.origin}/v1/loader.js?v=${digest.subarray(0, 4).toString('hex')}`);
    assert.match(v.headers.get('cache-control') ?? '', /immutable/);
    assert.equal(v.headers.get('access-control-allow-origin'), '*', 'CORS, which crossorigin="anonymous" needs');

    // The snippet as a host page pastes it: it loads and measures; with a wrong hash nothing runs.
    const good = pinned;
    const bad = pinned.replace(/sha384-[A-Za-z0-9+/=]+/, `sha384-${createHash('sha384').update('other').digest('base64')}`);
    const host = await startPages({ '/good': `<!doctype html><title>g</title><p>x</p>${good}`, '/bad': `<!doctype html><title>b</title><p>x</p>${bad}` });
    try {
      const p2 = await context.newPage();
      await p2.goto(`${host.origin}/bad`);
      await p2.waitForTimeout(2000);
      assert.ok(!requests.some((u) => u.includes('/v1/frame.html')), 'a loader that fails its integrity check never runs');
      await p2.goto(`${host.origin}/good`);
      await waitFor(() => requests.some((u) => u.includes('/v1/frame.html')), { what: 'the pinned loader to run', timeoutMs: 10000 });
    } finally {
      host.server.close();
    }
  } finally {
    await context.close();
    await s.close();
  }
});
