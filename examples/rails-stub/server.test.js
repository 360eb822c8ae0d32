'use strict';
// node --test examples/rails-stub/server.test.js
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { createServer } = require('./server.js');

let server;
let base;

before(async () => {
  server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${server.address().port}`;
});

after(() => {
  server.closeAllConnections();
  server.close();
});

async function verify(method, authorization) {
  const headers = { 'Content-Type': 'application/json' };
  if (authorization !== undefined) headers.Authorization = authorization;
  const res = await fetch(`${base}/internal/auth/verify`, { method, headers });
  return { status: res.status, body: await res.json() };
}

const cases = [
  {
    name: 'alice by POST: integer id and two roles',
    method: 'POST',
    auth: 'Bearer demo-alice',
    status: 200,
    body: { user_id: 42, roles: ['admin', 'editor'] },
  },
  {
    name: 'alice by GET: same answer',
    method: 'GET',
    auth: 'Bearer demo-alice',
    status: 200,
    body: { user_id: 42, roles: ['admin', 'editor'] },
  },
  {
    name: 'bob: string id and no roles',
    method: 'POST',
    auth: 'Bearer demo-bob',
    status: 200,
    body: { user_id: 'u-1001', roles: [] },
  },
  { name: 'unknown token', method: 'POST', auth: 'Bearer nope', status: 401, body: { error: 'unauthorized' } },
  { name: 'no Authorization header', method: 'POST', auth: undefined, status: 401, body: { error: 'unauthorized' } },
  { name: 'scheme case matters', method: 'POST', auth: 'bearer demo-alice', status: 401, body: { error: 'unauthorized' } },
];

for (const c of cases) {
  test(`verify: ${c.name}`, async () => {
    const got = await verify(c.method, c.auth);
    assert.equal(got.status, c.status);
    assert.deepEqual(got.body, c.body);
  });
}

test('verify: other methods are 405', async () => {
  const res = await fetch(`${base}/internal/auth/verify`, { method: 'DELETE' });
  assert.equal(res.status, 405);
  assert.equal(res.headers.get('allow'), 'GET, POST');
  await res.arrayBuffer();
});

test('health answers 200', async () => {
  const res = await fetch(`${base}/health`);
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { status: 'ok' });
});

test('unknown path is 404', async () => {
  const res = await fetch(`${base}/nope`);
  assert.equal(res.status, 404);
  await res.arrayBuffer();
});
