'use strict';
// npm test  (node --test): requests are injected, no port is opened.
const { test, describe } = require('node:test');
const assert = require('node:assert/strict');
const Fastify = require('fastify');
const { build } = require('./app');
const gatewayIdentity = require('./gateway-identity');
const { parseIdentity } = gatewayIdentity;

describe('parseIdentity', () => {
  const cases = [
    {
      name: 'integer id and two roles (Rails user_id 42)',
      headers: { 'x-user-id': '42', 'x-user-roles': 'admin,editor' },
      want: { id: '42', roles: ['admin', 'editor'] },
    },
    {
      name: 'string id, roles header removed by Kong',
      headers: { 'x-user-id': 'u-1001' },
      want: { id: 'u-1001', roles: [] },
    },
    {
      name: 'empty roles header means no roles',
      headers: { 'x-user-id': 'u-1001', 'x-user-roles': '' },
      want: { id: 'u-1001', roles: [] },
    },
    {
      name: 'id beyond 2^53 keeps every digit',
      headers: { 'x-user-id': '9007199254740993' },
      want: { id: '9007199254740993', roles: [] },
    },
    {
      name: 'id beyond i64 keeps every digit',
      headers: { 'x-user-id': '123456789012345678901234567890' },
      want: { id: '123456789012345678901234567890', roles: [] },
    },
    {
      name: 'blanks around roles and empty items are dropped',
      headers: { 'x-user-id': '7', 'x-user-roles': ' admin , ,editor,' },
      want: { id: '7', roles: ['admin', 'editor'] },
    },
    { name: 'no id header', headers: { 'x-user-roles': 'admin' }, want: null },
    { name: 'empty id', headers: { 'x-user-id': '  ' }, want: null },
    { name: 'repeated id (not from Kong)', headers: { 'x-user-id': ['1', '2'] }, want: null },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const got = parseIdentity(c.headers);
      if (c.want === null) {
        assert.equal(got, null);
      } else {
        assert.deepEqual({ id: got.id, roles: [...got.roles] }, c.want);
        assert.ok(Object.isFrozen(got) && Object.isFrozen(got.roles));
      }
    });
  }
});

describe('the example BFF (fastify.inject)', () => {
  const cases = [
    {
      name: 'alice: /me has her id and roles',
      url: '/me',
      headers: { 'X-User-ID': '42', 'X-User-Roles': 'admin,editor' },
      status: 200,
      body: { id: '42', roles: ['admin', 'editor'] },
    },
    {
      name: 'bob: /me with no roles',
      url: '/me',
      headers: { 'X-User-ID': 'u-1001' },
      status: 200,
      body: { id: 'u-1001', roles: [] },
    },
    {
      name: 'no identity: 401',
      url: '/me',
      headers: {},
      status: 401,
      body: { message: 'Missing user identity' },
    },
    {
      name: 'admin route, admin user',
      url: '/admin',
      headers: { 'X-User-ID': '42', 'X-User-Roles': 'admin,editor' },
      status: 200,
      body: { message: 'Hello, admin 42' },
    },
    {
      name: 'admin route, user without roles: 403',
      url: '/admin',
      headers: { 'X-User-ID': 'u-1001', 'X-User-Roles': '' },
      status: 403,
      body: { message: 'Role admin required' },
    },
    {
      name: 'admin route, no identity: 401 before the role check',
      url: '/admin',
      headers: {},
      status: 401,
      body: { message: 'Missing user identity' },
    },
    {
      name: 'health is public',
      url: '/health',
      headers: {},
      status: 200,
      body: { status: 'ok' },
    },
  ];
  for (const c of cases) {
    test(c.name, async (t) => {
      const app = build();
      t.after(() => app.close());
      const res = await app.inject({ method: 'GET', url: c.url, headers: c.headers });
      assert.equal(res.statusCode, c.status);
      assert.deepEqual(res.json(), c.body);
    });
  }
});

describe('plugin options', () => {
  test('custom header names (user_id_header / user_roles_header)', async (t) => {
    const app = Fastify();
    t.after(() => app.close());
    await app.register(gatewayIdentity, { userIdHeader: 'X-Account', userRolesHeader: 'X-Account-Roles' });
    app.get('/', async (request) => request.user);
    const res = await app.inject({ url: '/', headers: { 'x-account': 'a-1', 'x-account-roles': 'viewer', 'x-user-id': '42' } });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { id: 'a-1', roles: ['viewer'] });
  });

  test('required: false leaves request.user null', async (t) => {
    const app = Fastify();
    t.after(() => app.close());
    await app.register(gatewayIdentity, { required: false });
    app.get('/', async (request) => ({ user: request.user }));
    const res = await app.inject({ url: '/' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { user: null });
  });
});
