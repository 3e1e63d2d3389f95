// Reader surfaces that fit (issue 10, part 6): the dashboard with a day of `vantage simulate`
// history and the badge that the snippet frames, with 1, 3 and 8 platforms, at phone (360 px) and
// desktop (1280 px) widths, in English and Urdu, in Debian's Chromium. No element's box may
// overflow its parent's (scroll containers excepted) and nothing may be clipped; the badge must fit
// its frame. Then the 24 h charts: axes with labels in the page's locale and time zone, and the
// value under the pointer and under keyboard focus, checked against /v1/timeseries.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, VANTAGE, makeWorkdir, startPublishedCollector, waitFor, startPages, hostArticle, inContext, shared } from './harness.mjs';
import { readFileSync } from 'node:fs';
import { overflowReport } from './overflow.mjs';

const ARTIFACTS = join(ROOT, 'tests', 'e2e', 'artifacts');
const WIDTHS = [360, 1280];
const LANGS = ['en', 'ur'];
const DICT = Object.fromEntries(LANGS.map((l) => [l, JSON.parse(readFileSync(join(ROOT, 'www', 'i18n', `${l}.json`), 'utf8'))]));
const ZONE = 'Asia/Karachi'; // UTC+5 all year: the charts must use the page's zone, not UTC
const ALL_PLATFORMS = ['x', 'facebook', 'instagram', 'youtube', 'whatsapp', 'tiktok', 'telegram', 'wikipedia'];

let dir;
let origin;
let host;
const env = shared({
  chromium: true,
  async setUp(s) {
    mkdirSync(ARTIFACTS, { recursive: true });
    dir = makeWorkdir();
    mkdirSync(join(dir, 'data'), { recursive: true });
    // Every platform the dashboard knows gets a card: the ones in the target list without published
    // numbers read "Not enough data", the longest pill, next to the longest names (Instagram, Wikipedia).
    for (const p of ['instagram', 'whatsapp', 'telegram', 'wikipedia']) {
      appendFileSync(join(dir, 'targets.toml'), `\n[[target]]\nid = "${p}.main"\nplatform = "${p}"\nurl = "http://${p}.test/fast"\ntimeout_ms = 5000\n`);
    }
    // A day of synthetic PK traffic ending in a block of X; TikTok, in the target list, gets none,
    // so its card carries the long "Not enough data" pill and explanation.
    execFileSync(VANTAGE, ['simulate', '--store', `sqlite:${join(dir, 'data', 'vantage.db')}`, '--days', '1', '--scenario', 'block',
      '--platforms', 'x,youtube,facebook', '--per-minute', '8']);
    s.collector = await startPublishedCollector(dir, ['--rate-limit', '0'], { platforms: 3, timeoutMs: 90000 });
    origin = s.collector.origin;
    // Host articles on another origin carrying the snippet with a badge of 1, 3 and 8 platforms.
    const pages = {};
    for (const n of [1, 3, 8]) {
      for (const lang of LANGS) {
        pages[`/badge-${n}-${lang}`] = hostArticle(origin, `data-sample="0" data-live="${ALL_PLATFORMS.slice(0, n).join(',')}" data-country="PK" data-lang="${lang}"`,
          '<p>Before the badge.</p>', lang);
      }
    }
    host = await startPages(pages);
  },
  tearDown: () => host?.server.close(),
});

/** Fails with every overflowing element listed, so a screenshot is rarely needed. */
function assertFits(report, where) {
  assert.deepEqual(report, [], `${where}: elements overflow their boxes:\n${report.join('\n')}`);
}

for (const lang of LANGS) {
  for (const width of WIDTHS) {
    test(`dashboard fits at ${width} px in ${lang}: cards, pills, charts, networks, incidents`, async () => {
      await inContext(env.browser, { viewport: { width, height: 900 }, timezoneId: 'Asia/Karachi' }, async (page) => {
        await page.goto(`${origin}/?country=PK&lang=${lang}`);
        await page.waitForSelector('#cards .card[data-platform="wikipedia"][data-state="insufficient_data"]');
        await waitFor(() => page.$$eval('#cards .chart-plot', (e) => e.length >= 3), { what: 'three charts', timeoutMs: 20000 });
        // Open every card's networks, as a curious reader would.
        for (const b of await page.$$('#cards .drill[aria-expanded="false"]')) await b.click();
        await page.waitForTimeout(200);
        assertFits(await page.evaluate(overflowReport, 'body'), `dashboard ${lang} ${width}px`);
        assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= innerWidth), 'no sideways scrolling of the page');
        await page.screenshot({ path: join(ARTIFACTS, `layout-dashboard-${lang}-${width}.png`), fullPage: true });
        await (await page.$('#cards .card[data-platform="instagram"]')).screenshot({ path: join(ARTIFACTS, `layout-card-nodata-${lang}-${width}.png`) });
        await (await page.$('#cards .card[data-platform="x"]')).screenshot({ path: join(ARTIFACTS, `layout-card-x-${lang}-${width}.png`) });
      });
    });

    for (const n of [1, 3, 8]) {
      test(`badge with ${n} platform(s) fits its frame at ${width} px in ${lang}`, async () => {
        await inContext(env.browser, { viewport: { width, height: 700 } }, async (page) => {
          await page.goto(`${host.origin}/badge-${n}-${lang}`);
          const iframe = await page.waitForSelector('iframe.vantage-badge');
          const frame = await waitFor(() => page.frames().find((f) => f.url().includes('/v1/badge')), { what: 'badge frame' });
          await waitFor(() => frame.$$eval('.chip[data-state]', (c, want) => c.length === want, n), { what: `${n} chips` });
          await frame.waitForFunction(() => document.fonts.status === 'loaded');
          // The frame is sized to its content by a message from the badge: wait until it fits (on a
          // loaded machine the message may take a while), and say by how much it did not.
          const measure = () => frame.evaluate(() => ({
            content: Math.ceil(document.querySelector('.badge').scrollHeight),
            doc: document.documentElement.scrollHeight,
            docW: document.documentElement.scrollWidth,
            w: innerWidth,
            h: innerHeight,
            compact: document.documentElement.classList.contains('compact'),
          }));
          // Fitting in full: the compact look (small chips, no link text) is only for hand-made frames.
          let fit;
          await waitFor(async () => { fit = await measure(); return !fit.compact && fit.content <= fit.h && fit.doc <= fit.h; },
            { what: 'the badge to fit its frame' }).catch((e) => assert.fail(`${e.message}: ${JSON.stringify(fit)}`));
          assert.ok(fit.docW <= fit.w, `no sideways overflow: ${fit.docW} > ${fit.w}`);
          assertFits(await frame.evaluate(overflowReport, 'body'), `badge ${n} ${lang} ${width}px`);
          const frameBox = await iframe.evaluate((f) => { const r = f.getBoundingClientRect(); return { left: r.left, right: r.right }; });
          assert.ok(frameBox.left >= 0 && frameBox.right <= width, `the frame stays inside a ${width}px page: ${JSON.stringify(frameBox)}`);
          assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= innerWidth), 'host page not widened');
          await page.screenshot({ path: join(ARTIFACTS, `badge-${n}-${lang}-${width}.png`), clip: { x: 0, y: 0, width: Math.min(width, 400), height: 400 } });

          // Only our badge frame may size it: a message from the host page, or a bad height, changes nothing.
          const before = await iframe.evaluate((f) => f.height);
          await page.evaluate(() => postMessage({ vantage: 'badge-size', height: 900 }, '*'));
          await frame.evaluate(() => parent.postMessage({ vantage: 'badge-size', height: 'tall' }, '*'));
          await page.waitForTimeout(200);
          assert.equal(await iframe.evaluate((f) => f.height), before, 'forged or malformed size messages are ignored');
        });
      });
    }
  }
}

/** The chart readout the page must show for point `p`, formatted here with Intl in `lang` and ZONE. */
function expectedReadout(p, lang) {
  const d = DICT[lang];
  const fill = (key, vars) => d[key].replace(/\{(\w+)\}/g, (m, k) => vars[k]);
  const num = new Intl.NumberFormat(lang);
  const ms = p.median_ms == null ? '–' : p.median_ms >= 1000
    ? fill('s', { n: new Intl.NumberFormat(lang, { maximumFractionDigits: 1 }).format(p.median_ms / 1000) })
    : fill('ms', { n: num.format(Math.round(p.median_ms)) });
  return fill('chart_readout', {
    time: new Intl.DateTimeFormat(lang, { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone: ZONE }).format(new Date(p.t)),
    rate: p.success_rate == null ? '–' : new Intl.NumberFormat(lang, { style: 'percent', maximumFractionDigits: 0 }).format(p.success_rate),
    ms,
  });
}

/** The published 15-minute points of a platform's last 25 hours in PK, from the read API. */
async function publishedPoints(platform) {
  const to = Date.now();
  const q = new URLSearchParams({ platform, country: 'PK', from: new Date(to - 25 * 3600_000).toISOString(), to: new Date(to).toISOString(), step: '900' });
  const { points } = await (await fetch(`${origin}/v1/timeseries?${q}`)).json();
  return points.filter((p) => p.success_rate != null || p.median_ms != null);
}

for (const lang of LANGS) {
  test(`charts in ${lang}: value and time axes in the page's locale and zone, value under the pointer and the keyboard`, async () => {
    const context = await env.browser.newContext({ viewport: { width: 1280, height: 900 }, timezoneId: ZONE });
    try {
      // The page reads its series between these two reads of the API: a bucket that settles in
      // between may be in the second and not on the page, so its latest point is one of the two.
      const before = await publishedPoints('youtube');
      const page = await context.newPage();
      await page.goto(`${origin}/?country=PK&lang=${lang}`);
      const card = '#cards .card[data-platform="youtube"]';
      await page.waitForSelector(`${card} .chart-plot`, { timeout: 20000 });
      const to = Date.now();
      const shown = await publishedPoints('youtube');
      const byT = new Map(shown.map((p) => [p.t, p]));
      assert.ok(shown.length > 50, `a day of published points: ${shown.length}`);

      // Value axis: 100, 50 and 0 % and the load-time scale; time axis: local hours, every 6 h.
      const yLabels = await page.$$eval(`${card} .chart-y`, (e) => e.map((x) => x.textContent));
      const pct = new Intl.NumberFormat(lang, { style: 'percent', maximumFractionDigits: 0 });
      for (const v of [1, 0.5, 0]) assert.ok(yLabels.includes(pct.format(v)), `value axis has ${pct.format(v)}: ${yLabels}`);
      assert.equal(yLabels.length, 4, `three success labels and one load-time label: ${yLabels}`);
      const xLabels = await page.$$eval(`${card} .chart-x`, (e) => e.map((x) => x.textContent));
      assert.ok(xLabels.length >= 2, `time labels: ${xLabels}`);
      for (const l of xLabels) assert.match(l, /^(00|06|12|18):00$/, `a local hour on the 6 h grid: ${l}`);
      assert.match(await page.textContent(`${card} .chart-span`), /UTC\+5/, 'the time zone is named');

      // The pointer in the middle of the drawing reads the point nearest to that time.
      const plot = await page.$(`${card} .chart-plot`);
      const box = await plot.boundingBox();
      await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
      const hovered = await page.$eval(`${card} .chart-readout`, (e) => ({ t: e.dataset.t, text: e.textContent, live: e.getAttribute('aria-live') }));
      assert.equal(hovered.live, 'polite');
      assert.ok(byT.has(hovered.t), `the readout names a point of /v1/timeseries: ${hovered.t}`);
      assert.equal(hovered.text, expectedReadout(byT.get(hovered.t), lang));
      assert.ok(Math.abs(new Date(hovered.t) - (to - 12 * 3600_000)) < 45 * 60_000, `the middle of the day: ${hovered.t}`);
      // Rtl: time runs right to left, so a pointer further right reads an earlier time.
      await page.mouse.move(box.x + box.width * 0.75, box.y + box.height / 2);
      const right = await page.$eval(`${card} .chart-readout`, (e) => e.dataset.t);
      assert.ok(lang === 'ur' ? right < hovered.t : right > hovered.t, `${lang}: right of the middle is ${lang === 'ur' ? 'earlier' : 'later'}`);

      await (await page.$(card)).screenshot({ path: join(ARTIFACTS, `chart-${lang}.png`) });

      // Keyboard: focus, End = the latest point, one step back with the arrow pointing back in time.
      await page.focus(`${card} .chart-plot`);
      await page.keyboard.press('End');
      const lastT = await page.$eval(`${card} .chart-readout`, (e) => e.dataset.t);
      assert.ok([before.at(-1).t, shown.at(-1).t].includes(lastT), `End reads the latest point: ${lastT}`);
      const at = shown.findIndex((p) => p.t === lastT);
      assert.equal(await page.textContent(`${card} .chart-readout`), expectedReadout(shown[at], lang));
      await page.keyboard.press(lang === 'ur' ? 'ArrowRight' : 'ArrowLeft');
      const prev = shown[at - 1];
      assert.equal(await page.textContent(`${card} .chart-readout`), expectedReadout(prev, lang));
      assert.equal(await page.$eval(`${card} .chart-readout`, (e) => e.dataset.t), prev.t);

      // Urdu text asks for Nastaliq, then Naskh; English does not.
      const fonts = await page.evaluate(() => [document.body, document.querySelector('.pill'), document.querySelector('.chart-readout')]
        .map((e) => getComputedStyle(e).fontFamily));
      for (const f of fonts) {
        if (lang === 'ur') assert.match(f, /^"Noto Nastaliq Urdu",.*"Noto Naskh Arabic"/, `Urdu font stack: ${f}`);
        else assert.doesNotMatch(f, /^"Noto Nastaliq Urdu"/, `English font stack: ${f}`);
      }
    } finally {
      await context.close();
    }
  });
}

test('Urdu text everywhere asks for Nastaliq, then Naskh: dashboard, badge, privacy page, snippet builder', async () => {
  await inContext(env.browser, { viewport: { width: 1280, height: 900 } }, async (page) => {
    for (const [path, ready] of [['/?country=PK&lang=ur', '#cards .chart-plot'], ['/v1/badge?country=PK&platforms=x,youtube&lang=ur', '.chip[data-state]'],
      ['/privacy.ur.html', 'main'], ['/builder/?lang=ur', 'main']]) {
      await page.goto(origin + path);
      await page.waitForSelector(ready, { timeout: 20000 });
      // Every element holding Urdu text of its own (the language links and code keep their faces).
      const urdu = await page.evaluate(() => [...document.querySelectorAll('body *')]
        .filter((e) => e.closest('[lang]')?.lang === 'ur' && !e.closest('code, pre, .visually-hidden')
          && [...e.childNodes].some((n) => n.nodeType === 3 && /[\u0600-\u06ff]/.test(n.textContent)))
        .map((e) => [e.tagName.toLowerCase() + (e.className && typeof e.className === 'string' ? `.${e.className.split(' ')[0]}` : ''), getComputedStyle(e).fontFamily]));
      assert.ok(urdu.length >= 3, `${path}: Urdu text found (${urdu.length} elements)`);
      const wrong = urdu.filter(([, f]) => !/^"Noto Nastaliq Urdu",.*"Noto Naskh Arabic"/.test(f));
      assert.deepEqual([...new Set(wrong.map((w) => w.join(': ')))], [], `${path}: Urdu text without the Urdu font stack`);
    }
  });
});
