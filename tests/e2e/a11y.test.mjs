// Accessibility of the reader- and editor-facing pages against the real collector (seeded through
// `vantage import`): axe-core finds no serious or critical violation on the dashboard (English and
// Urdu), the badge, the snippet builder (English and Urdu), the privacy page (English and Urdu) and
// the demo articles with their consent line; the Urdu builder is right-to-left, translated, and
// still writes a working snippet; Urdu pages link to the Urdu privacy page; keyboard-only use of the builder and the dashboard works with a visible focus; and no
// state is told by colour alone. axe is injected as a script, so those contexts bypass our CSP.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { waitFor, axeViolations, shared, inContext } from './harness.mjs';

let origin;
const env = shared({ seeded: true, chromium: true, setUp: (s) => { origin = s.collector.origin; } });

/** Each page, and what shows that it has finished drawing. */
const PAGES = [
  ['/?country=PK&lang=en', '#cards .card[data-platform="x"] .pill'],
  ['/?country=PK&lang=ur', '#cards .card[data-platform="x"] .pill'],
  ['/v1/badge?country=PK&platforms=x,youtube,facebook&lang=en', '.chip[data-platform="facebook"][data-state]'],
  ['/v1/badge?country=PK&platforms=x,youtube&lang=ur', '.chip[data-platform="youtube"][data-state]'],
  ['/builder/', '#platforms input[value="x"]'],
  ['/builder/?lang=ur', '#platforms input[value="x"]'],
  ['/privacy.html', 'h1'],
  ['/privacy.ur.html', 'h1'],
  ['/demo/', 'iframe.vantage-badge'],
  ['/demo/consent.html', '.vantage-consent'],
];

for (const [path, ready] of PAGES) {
  test(`axe: no serious or critical violation on ${path}`, async () => {
    await inContext(env.browser, { bypassCSP: true, viewport: { width: 1280, height: 900 } }, async (page) => {
      await page.goto(origin + path);
      await page.waitForSelector(ready);
      if (path.startsWith('/builder/')) await page.waitForSelector('#sri:not([data-pinned="pending"])');
      assert.deepEqual(await axeViolations(page), [], `axe on ${path}`);
      // The badge inside the demo article, as readers meet it.
      if (path.startsWith('/demo/')) {
        const frame = await waitFor(() => page.frames().find((f) => f.url().includes('/v1/badge')), { what: 'badge frame' });
        await frame.waitForSelector('.chip[data-state]');
        assert.deepEqual(await axeViolations(frame), [], `axe on the badge in ${path}`);
      }
    });
  });
}

test('no state by colour alone: every chip, pill and tile says its state in words or a label', async () => {
  await inContext(env.browser, { viewport: { width: 1280, height: 900 } }, async (page, context) => {
    await page.goto(`${origin}/?country=PK&lang=en`);
    await page.waitForSelector('#cards .card[data-platform="x"] .pill');
    await page.waitForSelector('.tile[data-cc="PK"][data-state]');
    const bad = await page.evaluate(() => {
      const out = [];
      for (const p of document.querySelectorAll('.pill')) if (!p.querySelector('svg.icon') || !p.textContent.trim()) out.push(`pill ${p.outerHTML.slice(0, 80)}`);
      for (const t of document.querySelectorAll('.tile[data-state]')) if (!(t.getAttribute('aria-label') || t.title || t.textContent.trim())) out.push(`tile ${t.dataset.cc}`);
      return out;
    });
    assert.deepEqual(bad, []);
    const badge = await context.newPage();
    await badge.goto(`${origin}/v1/badge?country=PK&platforms=x,youtube,tiktok`);
    await badge.waitForSelector('.chip[data-platform="tiktok"][data-state]');
    const chips = await badge.$$eval('.chip', (cs) => cs.map((c) => ({ icon: !!c.querySelector('svg.icon'), word: c.querySelector('.word')?.textContent ?? '' })));
    assert.ok(chips.length === 3 && chips.every((c) => c.icon && c.word.trim()), JSON.stringify(chips));
  });
});

const UR = JSON.parse(readFileSync(new URL('../../www/i18n/ur.json', import.meta.url), 'utf8'));

test('builder in Urdu: right-to-left, every string in Urdu, code left-to-right, and a working snippet', async () => {
  await inContext(env.browser, { viewport: { width: 1280, height: 900 }, permissions: ['clipboard-read', 'clipboard-write'] }, async (page) => {
    await page.goto(`${origin}/builder/?lang=ur`);
    await page.waitForSelector('#platforms input[value="x"]');
    assert.equal(await page.getAttribute('html', 'dir'), 'rtl');
    assert.equal(await page.getAttribute('html', 'lang'), 'ur');
    assert.equal(await page.title(), UR.builder_title);
    assert.equal((await page.textContent('h1')).trim(), UR.builder_h1);
    assert.equal((await page.textContent('label[for="site"]')).trim(), UR.builder_site_label);
    assert.equal((await page.textContent('label[for="consent-opt-in"]')).trim(), UR.builder_consent_opt_in);
    assert.equal((await page.textContent('label[for="p-x"]')).trim(), UR.platform_x);
    // Every translated element shows its Urdu text (an untranslated key would show English).
    const untranslated = await page.$$eval('[data-i18n]', (es, ur) => es.filter((e) => e.textContent.trim() !== ur[e.dataset.i18n]).map((e) => e.dataset.i18n), UR);
    assert.deepEqual(untranslated, []);
    // Mirrored: the brand sits at the right, the form labels start at the right.
    const layout = await page.evaluate(() => ({
      brand: document.querySelector('.brand').getBoundingClientRect().left > innerWidth / 2,
      label: getComputedStyle(document.querySelector('label[for="site"]')).direction,
      code: getComputedStyle(document.getElementById('snippet')).direction,
      csp: getComputedStyle(document.getElementById('csp')).direction,
    }));
    assert.deepEqual(layout, { brand: true, label: 'rtl', code: 'ltr', csp: 'ltr' });
    assert.equal(await page.getAttribute('#snippet', 'dir'), 'ltr');
    // Links go to the Urdu privacy page and keep Urdu on our other pages.
    assert.deepEqual(await page.$$eval('a[href*="privacy"]', (as) => [...new Set(as.map((a) => a.getAttribute('href')))]), ['/privacy.ur.html']);
    assert.equal(await page.getAttribute('#langs a[aria-current]', 'hreflang'), 'ur');

    // A working snippet: site key, opt-in, badge in Urdu.
    await page.fill('#site', 'dawn_news');
    await page.check('#consent-opt-in');
    await page.selectOption('#lang', 'ur');
    const snippet = await page.textContent('#snippet');
    assert.equal(snippet, `<script async src="${origin}/v1/loader.js" data-site="dawn_news" data-consent="opt-in" data-lang="ur"></script>`);
    await page.waitForSelector('#sri[data-pinned="yes"]');
    assert.match(await page.textContent('#sri'), new RegExp(`^<script async src="${origin}/v1/loader\\.js\\?v=[0-9a-f]{8}" integrity="sha384-[A-Za-z0-9+/=]+" crossorigin="anonymous" data-site="dawn_news"`));
    await page.click('button[data-copy="snippet"]');
    await page.waitForFunction((m) => document.getElementById('copied').textContent === m, UR.builder_copied_snippet);
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    assert.ok(copied.includes(`${origin}/v1/loader.js`) && copied.includes('data-site="dawn_news"'), copied);
    // The snippet works: served, it is the loader.
    const res = await fetch(copied.match(/src="([^"]+)"/)[1]);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /javascript/);
  });
});

test('privacy page in Urdu: complete, right-to-left, linked both ways; Urdu pages and the Urdu consent line point to it', async () => {
  await inContext(env.browser, { viewport: { width: 1280, height: 900 }, locale: 'ur-PK' }, async (page) => {
    await page.goto(`${origin}/privacy.html`);
    const en = await page.evaluate(() => ({ h2: [...document.querySelectorAll('main > h2')].length, li: document.querySelectorAll('main li').length }));
    assert.equal(await page.getAttribute('a[hreflang="ur"][href="/privacy.ur.html"]', 'lang'), 'ur', 'English page links to the Urdu one');
    await page.goto(`${origin}/privacy.ur.html`);
    assert.equal(await page.getAttribute('html', 'dir'), 'rtl');
    assert.equal(await page.getAttribute('html', 'lang'), 'ur');
    const ur = await page.evaluate(() => ({ h2: [...document.querySelectorAll('main > h2')].length, li: document.querySelectorAll('main li').length }));
    // The same sections and points as the English page (its pointer here is a section, not a main > h2).
    assert.deepEqual(ur, en);
    const text = await page.textContent('main');
    for (const must of ['Encore', 'No Encore for Encore?', 'Do Not Track', 'Global Privacy Control', 'vantage-optout = 1', 'data-consent="opt-in"', 'شرکت نہ کریں', 'نہیں، شکریہ']) {
      assert.ok(text.includes(must), `the Urdu page says ${must}`);
    }
    assert.ok(await page.$('#optout'), 'the opt-out section keeps its anchor');
    assert.ok(await page.$('a[hreflang="en"][href="/privacy.html"]'), 'links back to English');
    assert.ok(await page.$('link[rel="alternate"][hreflang="en"][href="/privacy.html"]'));

    await page.goto(`${origin}/?country=PK&lang=ur`);
    await page.waitForSelector('#cards .card[data-platform="x"] .pill');
    assert.deepEqual(await page.$$eval('a[href*="privacy"]', (as) => [...new Set(as.map((a) => a.getAttribute('href')))]), ['/privacy.ur.html']);
    assert.equal(await page.getAttribute('a[data-i18n="embed_builder"]', 'href'), '/builder/?lang=ur');

    // The consent line, for a reader whose browser asks for Urdu.
    await page.goto(`${origin}/demo/consent.html`);
    const box = await page.waitForSelector('.vantage-consent');
    assert.equal(await box.getAttribute('lang'), 'ur');
    assert.equal(await page.$eval('.vantage-consent a', (a) => a.href), `${origin}/privacy.ur.html`);
  });
});

/** Tabs until `predicate` holds for the focused element (at most `max` presses); returns its description. */
async function tabTo(page, predicate, max = 40) {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    const hit = await page.evaluate(predicate);
    if (hit) return hit;
  }
  return null;
}

const focusRing = (page) => page.evaluate(() => {
  const st = getComputedStyle(document.activeElement);
  return document.activeElement.matches(':focus-visible') && st.outlineStyle !== 'none' && parseFloat(st.outlineWidth) >= 2;
});

test('builder by keyboard only: site key checked as typed, consent chosen, badge on, snippet copied', async () => {
  await inContext(env.browser, { viewport: { width: 1280, height: 900 }, permissions: ['clipboard-read', 'clipboard-write'] }, async (page) => {
    await page.goto(`${origin}/builder/`);
    await page.waitForSelector('#platforms input[value="x"]');
    assert.ok(await tabTo(page, () => document.activeElement.id === 'site'), 'site key reachable');
    assert.ok(await focusRing(page), 'focus visible on the site key');
    await page.keyboard.press('Control+A');
    await page.keyboard.type('Bad Key!');
    assert.equal(await page.getAttribute('#site', 'aria-invalid'), 'true');
    assert.equal(await page.isVisible('#site-error'), true, 'the error is said in words');
    await page.keyboard.press('Control+A');
    await page.keyboard.type('dawn_news');
    assert.equal(await page.getAttribute('#site', 'aria-invalid'), 'false');
    assert.equal(await page.isVisible('#site-error'), false);

    // Consent: arrow keys move within the radio group.
    assert.ok(await tabTo(page, () => document.activeElement.name === 'consent'), 'consent group reachable');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowDown');
    assert.equal(await page.evaluate(() => document.activeElement.value), 'opt-in');
    assert.ok(await tabTo(page, () => document.activeElement.id === 'live-on'), 'badge switch reachable');
    await page.keyboard.press('Space');
    assert.ok(await focusRing(page), 'focus visible on a checkbox');
    await page.waitForSelector('#preview');
    const snippet = await page.textContent('#snippet');
    assert.equal(snippet, `<script async src="${origin}/v1/loader.js" data-site="dawn_news" data-consent="opt-in" data-live="x,youtube" data-country="PK"></script>`, 'the default badge platforms the target list has');
    assert.ok(await tabTo(page, () => document.activeElement.dataset?.copy === 'snippet'), 'copy button reachable');
    assert.ok(await focusRing(page), 'focus visible on the copy button');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.getElementById('copied').textContent.startsWith('Copied'));
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), snippet);
  });
});

test('dashboard by keyboard: country picker and a platform drill-down, focus always visible', async () => {
  await inContext(env.browser, { viewport: { width: 1280, height: 900 } }, async (page) => {
    await page.goto(`${origin}/?country=PK&lang=en`);
    await page.waitForSelector('#cards .card[data-platform="x"] .drill');
    assert.ok(await tabTo(page, () => document.activeElement.id === 'country'), 'country picker reachable');
    assert.ok(await focusRing(page));
    const drill = await tabTo(page, () => document.activeElement.matches('.card[data-platform="x"] .drill'), 60);
    assert.ok(drill, 'the X drill-down reachable');
    assert.ok(await focusRing(page), 'focus visible on the drill-down');
    await page.keyboard.press('Enter');
    assert.equal(await page.getAttribute('#cards .card[data-platform="x"] .drill', 'aria-expanded'), 'true');
  });
});
