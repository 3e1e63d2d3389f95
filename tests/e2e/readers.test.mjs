// Readers without the stream (issue 10): a collector whose stream slots are all taken
// (--max-streams 0 refuses every /v1/stream with 503) still keeps the badge and the dashboard
// live, by polling /v1/status once per publication tick with If-None-Match. (A status carries its
// tick, so a poll just after each tick gets the new body; the 304 within a tick is checked in
// crates/collector/tests/it/readers.rs.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor, postReport, makeReport, shared } from './harness.mjs';

const env = shared({ seeded: ['--rate-limit', '0', '--max-streams', '0', '--publish-interval', '1'], chromium: true });

/** A page that records what it asked of the collector and what came back. */
async function openPage(context, path) {
  const page = await context.newPage();
  const seen = [];
  page.on('response', (r) => {
    const u = new URL(r.url());
    seen.push({ path: u.pathname, status: r.status(), inm: r.request().headers()['if-none-match'] ?? null });
  });
  const problems = [];
  page.on('pageerror', (e) => problems.push(e.message));
  await page.goto(env.collector.origin + path);
  return { page, seen, problems };
}

const updates = (page) => page.evaluate(() => Number(document.body.dataset.updates ?? 0));

test('stream refused: the badge and the dashboard poll /v1/status with If-None-Match and follow new reports', async () => {
  const context = await env.browser.newContext({ viewport: { width: 1280, height: 900 } });
  try {
    const badge = await openPage(context, '/v1/badge?country=PK&platforms=x,youtube');
    const dash = await openPage(context, '/?country=PK&lang=en');
    await badge.page.waitForSelector('.chip[data-platform="x"][data-state]');
    await dash.page.waitForSelector('#cards .card[data-platform="x"]');
    for (const [name, p] of [['badge', badge], ['dashboard', dash]]) {
      await waitFor(() => p.seen.some((r) => r.path === '/v1/stream' && r.status === 503), { what: `${name}: its stream refused`, timeoutMs: 10000 });
      // Polled each tick, revalidating with the ETag of the last answer.
      await waitFor(() => p.seen.filter((r) => r.path === '/v1/status' && [200, 304].includes(r.status) && r.inm?.startsWith('"')).length >= 2,
        { what: `${name}: polls naming the last ETag`, timeoutMs: 15000 });
    }
    await waitFor(() => badge.page.$eval('#live', (e) => e.dataset.state === 'live'), { what: 'badge live by polling', timeoutMs: 15000 });
    await waitFor(() => dash.page.$eval('#live', (e) => e.dataset.state === 'live'), { what: 'dashboard live by polling', timeoutMs: 15000 });
    const [badgeBefore, dashBefore] = [await updates(badge.page), await updates(dash.page)];

    // New reports change PK's status at a later tick; both pages pick it up without the stream.
    for (let i = 0; i < 12; i++) {
      const r = await postReport(env.collector.origin, makeReport([{ target: 'x.main', outcome: 'error', ms: 25 }]), `127.0.${1 + (i % 6)}.1`);
      assert.equal(r.status, 202, r.body);
    }
    await waitFor(async () => (await updates(badge.page)) > badgeBefore, { what: 'the badge to follow the new reports', timeoutMs: 20000 });
    await waitFor(async () => (await updates(dash.page)) > dashBefore, { what: 'the dashboard to follow the new reports', timeoutMs: 20000 });
    const polls = badge.seen.filter((r) => r.path === '/v1/status');
    assert.ok(polls.length < 40, `the badge polls once per tick, not in a loop: ${polls.length} requests`);
    assert.deepEqual([...badge.problems, ...dash.problems], []);
  } finally {
    await context.close();
  }
});
