// The OpenAPI document (www/v1/openapi.json, served at /v1/openapi.json) against the real collector
// on a store seeded through `vantage import`: every JSON answer of the public API, successes and
// errors, validates against the schema the document gives for that path and status; every
// endpoint of docs/protocol.md §4 (and the additions) is described; and the schemas are strict
// enough to refuse a wrong answer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Ajv2020 from 'ajv/dist/2020.js';
import { postReport, makeReport, shared } from './harness.mjs';

let origin;
let doc;
let ajv;

shared({
  seeded: true,
  async setUp({ collector }) {
    origin = collector.origin;
    const res = await fetch(`${origin}/v1/openapi.json`);
    assert.equal(res.status, 200, 'the collector serves /v1/openapi.json');
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    doc = await res.json();
    // Formats are left to the patterns in the document (RFC 3339 times are spelled out there).
    ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
    ajv.addSchema(doc, 'openapi');
  },
});

/** The schema the document gives for `method path` answering `status` with JSON. */
function schemaFor(method, path, status) {
  const op = doc.paths[path]?.[method];
  assert.ok(op, `${method.toUpperCase()} ${path} is described`);
  const r = op.responses[String(status)];
  assert.ok(r, `${method.toUpperCase()} ${path} documents status ${status}`);
  const s = r.content?.['application/json']?.schema;
  assert.ok(s?.$ref, `${method.toUpperCase()} ${path} ${status} has a JSON schema`);
  return s.$ref;
}

function validate(ref, body, what) {
  const v = ajv.getSchema(`openapi${ref}`);
  assert.ok(v, `schema ${ref} resolves`);
  const ok = v(body);
  assert.ok(ok, `${what} does not match ${ref}: ${ajv.errorsText(v.errors)}\n${JSON.stringify(body).slice(0, 600)}`);
}

/** GETs `url` and validates the JSON answer against the document's schema for its path and status. */
async function check(url, expectStatus = 200) {
  const res = await fetch(origin + url);
  assert.equal(res.status, expectStatus, `${url}: HTTP ${res.status}`);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/, `${url} answers JSON`);
  const body = await res.json();
  validate(schemaFor('get', new URL(url, origin).pathname, res.status), body, `GET ${url}`);
  return body;
}

test('the document is OpenAPI 3.1, and describes every public endpoint', () => {
  assert.equal(doc.openapi, '3.1.0');
  const want = ['/v1/reports', '/v1/targets', '/v1/status', '/v1/timeseries', '/v1/incidents', '/v1/stream',
    '/v1/export.csv', '/v1/export.ndjson', '/v1/incidents.atom', '/v1/badge', '/v1/chart.svg', '/v1/ping',
    '/metrics', '/healthz', '/v1/countries', '/v1/whereami', '/v1/loader.js', '/v1/embed.js'];
  assert.deepEqual(want.filter((p) => !doc.paths[p]), [], 'missing paths');
  // Every $ref anywhere in the document resolves.
  const refs = new Set(JSON.stringify(doc).match(/"\$ref":"[^"]+"/g).map((m) => m.slice(8, -1)));
  for (const ref of refs) assert.ok(ajv.getSchema(`openapi${ref}`), `${ref} resolves`);
});

test('status, per network and per country: real answers match, with asns and numbers present', async () => {
  const st = await check('/v1/status?country=PK');
  const x = st.platforms.find((p) => p.platform === 'x');
  assert.equal(x?.state, 'disrupted', 'the seeded failure is published (the check is not vacuous)');
  assert.ok(x.asns.length >= 4, 'per-network cells are there');
  assert.ok(x.asns.some((a) => a.success_rate !== null), 'and some publish their own numbers');
  const one = await check('/v1/status?country=PK&asn=17557');
  assert.equal(one.asn, 17557);
  const empty = await check('/v1/status?country=FR');
  assert.deepEqual(empty.platforms, []);
  await check('/v1/status?country=Pakistan', 400);
  await check('/v1/status', 400);
  await check('/v1/status?country=PK&asn=-1', 400);
});

test('targets, countries, whereami', async () => {
  const t = await check('/v1/targets');
  assert.ok(t.targets.length >= 4);
  const c = await check('/v1/countries');
  assert.ok(c.countries.some((x) => x.country === 'PK' && x.state === 'disrupted'));
  const w = await check('/v1/whereami');
  assert.deepEqual(w, { country: 'PK', asn: 17557 }, 'test GeoIP: loopback is PK, AS17557');
});

test('timeseries and incidents', async () => {
  const from = new Date(Date.now() - 3 * 3600e3).toISOString();
  const ts = await check(`/v1/timeseries?platform=x&country=PK&from=${encodeURIComponent(from)}&step=900`);
  assert.ok(ts.points.length >= 10 && ts.points.some((p) => p.success_rate === 0) && ts.points.some((p) => p.success_rate === 1));
  await check('/v1/timeseries?platform=x&country=PK&asn=17557');
  await check('/v1/timeseries?platform=x', 400);
  await check(`/v1/timeseries?platform=x&country=PK&from=${encodeURIComponent(from)}&to=2000-01-01T00:00:00Z`, 400);
  const inc = await check('/v1/incidents?country=PK');
  assert.ok(inc.incidents.some((i) => i.platform === 'x' && i.ended_at === null), 'the seeded disruption is an open incident');
  await check('/v1/incidents?open=true&platform=x');
  await check('/v1/incidents?open=maybe', 400);
});

test('export.ndjson lines match the Aggregate schema; non-JSON endpoints answer their documented type', async () => {
  const res = await fetch(`${origin}/v1/export.ndjson`);
  assert.equal(res.status, 200);
  const lines = (await res.text()).split('\n').filter(Boolean).map((l) => JSON.parse(l));
  assert.ok(lines.length > 0, 'aggregates exported');
  const lineRef = doc.paths['/v1/export.ndjson'].get.responses['200'].content['application/x-ndjson']['x-line-schema'].$ref;
  for (const l of lines.slice(0, 200)) validate(lineRef, l, 'an export.ndjson line');
  for (const [path, type] of [['/v1/export.csv', 'text/csv'], ['/v1/incidents.atom', 'application/atom+xml'],
    ['/v1/chart.svg?platform=x&country=PK', 'image/svg+xml'], ['/v1/badge?country=PK&platforms=x', 'text/html'],
    ['/v1/loader.js', 'text/javascript'], ['/v1/embed.js', 'text/javascript'], ['/v1/ping', 'text/plain'], ['/healthz', 'text/plain']]) {
    const r = await fetch(origin + path);
    assert.equal(r.status, 200, path);
    assert.ok(r.headers.get('content-type').startsWith(type), `${path}: ${r.headers.get('content-type')}`);
    const documented = Object.keys(doc.paths[new URL(path, origin).pathname].get.responses['200'].content);
    assert.ok(documented.includes(type), `${path} documents ${type}: ${documented}`);
    await r.arrayBuffer();
  }
});

test('POST /v1/reports: accepted, duplicate and refused answers match; a valid report matches the Report schema', async () => {
  const report = makeReport([{ target: 'x.main', outcome: 'ok', ms: 20 }, { target: 'youtube.main', outcome: 'error', ms: 3 }]);
  validate(doc.paths['/v1/reports'].post.requestBody.content['text/plain'].schema.$ref, report, 'a valid report');
  const first = await postReport(origin, report, '127.0.9.1');
  assert.equal(first.status, 202, first.body);
  validate(schemaFor('post', '/v1/reports', 202), JSON.parse(first.body), '202');
  const again = await postReport(origin, report, '127.0.9.1');
  assert.equal(again.status, 200);
  validate(schemaFor('post', '/v1/reports', 200), JSON.parse(again.body), '200 duplicate');
  const bad = await postReport(origin, { ...report, id: 'not-hex' }, '127.0.9.1');
  assert.equal(bad.status, 400);
  validate(schemaFor('post', '/v1/reports', 400), JSON.parse(bad.body), '400');
  const v = ajv.getSchema(`openapi${doc.paths['/v1/reports'].post.requestBody.content['text/plain'].schema.$ref}`);
  assert.equal(v({ ...report, id: 'not-hex' }), false, 'the Report schema refuses what the collector refuses');
  const typed = await fetch(`${origin}/v1/reports`, { method: 'POST', headers: { 'content-type': 'application/xml' }, body: '<r/>' });
  assert.equal(typed.status, 415);
  validate(schemaFor('post', '/v1/reports', 415), await typed.json(), '415');
});

test('the schemas refuse wrong answers (so passing means something)', async () => {
  const st = await (await fetch(`${origin}/v1/status?country=PK`)).json();
  const status = ajv.getSchema('openapi#/components/schemas/Status');
  assert.equal(status(st), true);
  assert.equal(status({ ...st, platforms: [{ ...st.platforms[0], state: 'fine' }] }), false, 'unknown state');
  assert.equal(status({ ...st, country: 'Pakistan' }), false, 'bad country');
  const { reports, ...noReports } = st.platforms[0];
  assert.ok(reports >= 0);
  assert.equal(status({ ...st, platforms: [noReports] }), false, 'missing field');
  const point = ajv.getSchema('openapi#/components/schemas/Point');
  assert.equal(point({ t: '2026-11-28T18:00:00Z', reports: 1, networks: 1, success_rate: 1.5, median_ms: null, p90_ms: null }), false, 'rate over 1');
});

test('http_error and status: the Report schema and the collector agree', async () => {
  const v = ajv.getSchema(`openapi${doc.paths['/v1/reports'].post.requestBody.content['text/plain'].schema.$ref}`);
  const cases = [
    [{ target: 'x.main', outcome: 'http_error', ms: 20, status: 451 }, 202],
    [{ target: 'x.main', outcome: 'http_error', ms: 20 }, 400],
    [{ target: 'x.main', outcome: 'ok', ms: 20, status: 200 }, 400],
    [{ target: 'x.main', outcome: 'http_error', ms: 20, status: 600 }, 400],
  ];
  for (const [m, want] of cases) {
    const report = makeReport([m]);
    const answer = await postReport(origin, report, '127.0.9.2');
    assert.equal(answer.status, want, `${JSON.stringify(m)}: ${answer.body}`);
    assert.equal(v(report), want === 202, `the schema on ${JSON.stringify(m)}: ${ajv.errorsText(v.errors)}`);
  }
});
