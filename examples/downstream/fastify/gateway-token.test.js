'use strict';
// npm test  (node --test): the signed identity token (gateway-token.js).
// Tokens are signed here with jose in the layout of legacy-auth's
// internal/identity/token.go; fixtures/go-minted-tokens.json holds tokens minted by the
// plugin's Go code itself.
const { test, describe, before } = require('node:test');
const assert = require('node:assert/strict');
const { createHash, createPublicKey, generateKeyPairSync } = require('node:crypto');
const Fastify = require('fastify');
const { build } = require('./app');
const gatewayToken = require('./gateway-token');
const { requireRole } = require('./gateway-identity');
const fixtures = require('./fixtures/go-minted-tokens.json');

let jose;
let gateway; // { publicKey: PEM, privateKey, kid }
let intruder; // another Ed25519 key pair, not the gateway's

// kidOf computes the kid independently of gateway-token.js: SHA-256 over the
// DER SubjectPublicKeyInfo inside the PEM, first 16 hex chars.
function kidOf(pem) {
  const b64 = pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
  return createHash('sha256').update(Buffer.from(b64, 'base64')).digest('hex').slice(0, 16);
}

async function keyPair(alg = 'EdDSA', options = {}) {
  const { publicKey, privateKey } = await jose.generateKeyPair(alg, options);
  const pem = await jose.exportSPKI(publicKey);
  return { publicKey: pem, privateKey, kid: kidOf(pem), alg };
}

const now = () => Math.floor(Date.now() / 1000);

// mint signs a token the way internal/identity/token.go does: header { alg, kid, typ },
// claims roles / ext (omitted when empty), iss, sub, aud (an array, as
// golang-jwt encodes it), exp, nbf = iat - 5, iat. null omits a field.
async function mint({
  key = gateway, alg = key.alg, kid = key.kid, sub = '42', roles = ['admin', 'editor'],
  ext = { email: 'alice@example.com' }, iss = 'kong-legacy-auth', aud = 'fastify-bff',
  iat = now(), ttl = 300, claims = {},
} = {}) {
  const payload = {};
  if (roles.length) payload.roles = roles;
  if (Object.keys(ext).length) payload.ext = ext;
  Object.assign(payload, { iss, sub, aud: aud === null ? null : [aud] });
  Object.assign(payload, { exp: iat + ttl, nbf: iat - 5, iat }, claims);
  for (const [k, v] of Object.entries(payload)) if (v === null) delete payload[k];
  const header = { alg, typ: 'JWT' };
  if (kid !== null) header.kid = kid;
  return new jose.SignJWT(payload).setProtectedHeader(header).sign(key.privateKey);
}

// app builds a service with gateway-token in front of /me and /admin. The
// warnings it logs (why a token was refused) are collected in app.logs.
async function app(t, opts = {}) {
  const logs = [];
  const a = Fastify({ logger: { level: 'warn', stream: { write: (line) => logs.push(JSON.parse(line)) } } });
  a.logs = logs;
  t.after(() => a.close());
  await a.register(gatewayToken, { publicKey: gateway.publicKey, audience: 'fastify-bff', ...opts });
  a.get('/me', async (request) => ({ user: request.user }));
  a.get('/admin', { preHandler: requireRole('admin') }, async (request) => ({ id: request.user.id }));
  return a;
}

function headers(token, extra = {}) {
  return token === undefined ? extra : { 'x-identity-token': token, ...extra };
}

before(async () => {
  jose = await import('jose');
  gateway = await keyPair();
  intruder = await keyPair();
});

describe('gateway-token: accepted', () => {
  test('valid token: request.user from its claims (sub, roles, ext)', async (t) => {
    const a = await app(t);
    const res = await a.inject({ url: '/me', headers: headers(await mint(), { 'x-user-id': '42', 'x-user-roles': 'admin,editor' }) });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { user: { id: '42', roles: ['admin', 'editor'], ext: { email: 'alice@example.com' } } });
  });

  test('request.user is frozen', async (t) => {
    const a = Fastify();
    t.after(() => a.close());
    await a.register(gatewayToken, { publicKey: gateway.publicKey, audience: 'fastify-bff' });
    a.get('/', async (request) => ({
      frozen: Object.isFrozen(request.user) && Object.isFrozen(request.user.roles) && Object.isFrozen(request.user.ext),
    }));
    const res = await a.inject({ url: '/', headers: headers(await mint()) });
    assert.deepEqual(res.json(), { frozen: true });
  });

  test('no X-User-ID header: the token alone is enough', async (t) => {
    const a = await app(t);
    const res = await a.inject({ url: '/me', headers: headers(await mint()) });
    assert.equal(res.statusCode, 200);
    assert.equal(res.json().user.id, '42');
  });

  test('no roles, no ext (claims omitted): [] and {}', async (t) => {
    const a = await app(t);
    const res = await a.inject({ url: '/me', headers: headers(await mint({ sub: 'u-1001', roles: [], ext: {} }), { 'x-user-id': 'u-1001' }) });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { user: { id: 'u-1001', roles: [], ext: {} } });
  });

  test('id beyond 2^53 stays a string with every digit', async (t) => {
    const a = await app(t);
    const res = await a.inject({ url: '/me', headers: headers(await mint({ sub: '9007199254740993' }), { 'x-user-id': '9007199254740993' }) });
    assert.equal(res.statusCode, 200);
    assert.equal(res.json().user.id, '9007199254740993');
  });

  test('roles come from the token: a forged X-User-Roles is ignored', async (t) => {
    const a = await app(t);
    const token = await mint({ sub: 'u-1001', roles: [] });
    const res = await a.inject({ url: '/admin', headers: headers(token, { 'x-user-id': 'u-1001', 'x-user-roles': 'admin' }) });
    assert.equal(res.statusCode, 403);
  });

  test('requireRole works on the token identity', async (t) => {
    const a = await app(t);
    const res = await a.inject({ url: '/admin', headers: headers(await mint(), { 'x-user-id': '42' }) });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { id: '42' });
  });

  test('header name in any spelling (jwt_header X-Identity-Token)', async (t) => {
    const a = await app(t, { header: 'X-Identity-Token' });
    const res = await a.inject({ url: '/me', headers: { 'X-IDENTITY-TOKEN': await mint() } });
    assert.equal(res.statusCode, 200);
  });

  test('anyAudience: aud is not checked, and registration says so', async (t) => {
    const a = await app(t, { audience: undefined, anyAudience: true });
    const res = await a.inject({ url: '/me', headers: headers(await mint({ aud: 'another-service' })) });
    assert.equal(res.statusCode, 200);
    assert.ok(a.logs.some((l) => /no audience configured/.test(l.msg)), 'a warning at registration');
  });

  test('iat up to maxTokenAge old is accepted', async (t) => {
    const a = await app(t, { maxTokenAge: 3600 });
    const res = await a.inject({ url: '/me', headers: headers(await mint({ iat: now() - 3000, ttl: 3600 })) });
    assert.equal(res.statusCode, 200);
  });

  test('clock skew within the tolerance (5 s) is accepted', async (t) => {
    const a = await app(t);
    const res = await a.inject({ url: '/me', headers: headers(await mint({ iat: now() - 302, ttl: 300 })) });
    assert.equal(res.statusCode, 200);
  });

  test('key rotation: with both public keys, tokens of either verify (kid picks the key)', async (t) => {
    const next = await keyPair();
    const a = await app(t, { publicKey: [gateway.publicKey, next.publicKey] });
    for (const key of [gateway, next]) {
      const res = await a.inject({ url: '/me', headers: headers(await mint({ key })) });
      assert.equal(res.statusCode, 200, key.kid);
    }
  });

  for (const [alg, options] of [['ES256', {}], ['RS256', { modulusLength: 2048 }]]) {
    test(`${alg} key (legacy-auth picks the algorithm by key type)`, async (t) => {
      const key = await keyPair(alg, options);
      const a = await app(t, { publicKey: key.publicKey });
      const res = await a.inject({ url: '/me', headers: headers(await mint({ key })) });
      assert.equal(res.statusCode, 200);
      assert.equal(res.json().user.id, '42');
    });
  }

  test('KeyObject as publicKey', async (t) => {
    const a = await app(t, { publicKey: createPublicKey(gateway.publicKey) });
    const res = await a.inject({ url: '/me', headers: headers(await mint()) });
    assert.equal(res.statusCode, 200);
  });
});

describe('gateway-token: rejected with 401', () => {
  const invalid = { message: 'Invalid identity token' };
  // [name, token, why: what the service logs]
  const cases = [
    ['signed with another key (same kid)', () => mint({ key: intruder, kid: gateway.kid }), /signature verification failed/],
    ['signed with another key (its own kid)', () => mint({ key: intruder }), /unknown kid/],
    ['right key, unknown kid', () => mint({ kid: '0000000000000000' }), /unknown kid/],
    ['right key, no kid', () => mint({ kid: null }), /unknown kid/],
    ['expired', () => mint({ iat: now() - 400, ttl: 300 }), /"exp" claim timestamp check failed/],
    ['expired beyond the tolerance (6 s)', () => mint({ iat: now() - 306, ttl: 300 }), /"exp" claim timestamp check failed/],
    ['not yet valid (nbf in the future)', () => mint({ iat: now() + 60 }), /"nbf" claim timestamp check failed/],
    ['iat a year ahead (nbf omitted)', () => mint({ iat: now() + 365 * 86400, claims: { nbf: null } }), /"iat" claim timestamp check failed \(it should be in the past\)/],
    ['iat older than maxTokenAge (exp still ahead)', () => mint({ iat: now() - 400, ttl: 500 }), /"iat" claim timestamp check failed \(too far in the past\)/],
    ['lifetime longer than maxTokenAge', () => mint({ ttl: 86400 }), /lifetime 86400 s exceeds maxTokenAge 300 s/],
    ['no iat', () => mint({ claims: { iat: null } }), /"iat" claim/],
    ['wrong issuer', () => mint({ iss: 'someone-else' }), /"iss" claim/],
    ['no issuer', () => mint({ iss: null }), /"iss" claim/],
    ['wrong audience', () => mint({ aud: 'another-service' }), /"aud" claim/],
    ['no audience while one is expected', () => mint({ aud: null }), /"aud" claim/],
    ['no sub', () => mint({ sub: null }), /"sub" claim/],
    ['empty sub', () => mint({ sub: '' }), /sub is not a non-empty string/],
    ['no exp', () => mint({ claims: { exp: null } }), /"exp" claim/],
    ['roles not an array of strings', () => mint({ claims: { roles: 'admin' } }), /roles is not an array of strings/],
    ['ext not an object of strings', () => mint({ claims: { ext: { level: 3 } } }), /ext is not an object of strings/],
    ['alg none', async () => {
      const unsecured = new jose.UnsecuredJWT({ iss: 'kong-legacy-auth', sub: '42', aud: ['fastify-bff'], iat: now(), exp: now() + 300 });
      return unsecured.encode();
    }, /"alg" \(Algorithm\) Header Parameter value not allowed/],
    ['HS256 with the public key as HMAC secret (algorithm confusion)', async () => {
      const secret = { privateKey: new TextEncoder().encode(gateway.publicKey), kid: gateway.kid, alg: 'HS256' };
      return mint({ key: secret });
    }, /"alg" \(Algorithm\) Header Parameter value not allowed/],
    ['garbage', async () => 'not-a-jwt', /Invalid Compact JWS/],
    ['signature tampered', async () => {
      const tok = await mint();
      const [h, p, sig] = tok.split('.');
      const bytes = Buffer.from(sig, 'base64url');
      bytes[0] ^= 1;
      return `${h}.${p}.${bytes.toString('base64url')}`;
    }, /signature verification failed/],
    ['claims tampered (sub changed, signature kept)', async () => {
      const tok = await mint({ sub: '7' });
      const [h, p, sig] = tok.split('.');
      const claims = JSON.parse(Buffer.from(p, 'base64url'));
      claims.sub = '42';
      return `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${sig}`;
    }, /signature verification failed/],
  ];
  for (const [name, token, why] of cases) {
    test(name, async (t) => {
      const a = await app(t);
      const res = await a.inject({ url: '/me', headers: headers(await token(), { 'x-user-id': '42' }) });
      assert.equal(res.statusCode, 401);
      assert.deepEqual(res.json(), invalid);
      const warning = a.logs.find((l) => l.msg === 'identity token rejected');
      assert.ok(warning, 'a warning is logged');
      assert.match(warning.reason, why);
    });
  }

  test('a kid of one key type with a token of another (ES256 token, Ed25519 kid)', async (t) => {
    const ec = await keyPair('ES256');
    const a = await app(t, { publicKey: [gateway.publicKey, ec.publicKey] });
    const ok = await a.inject({ url: '/me', headers: headers(await mint({ key: ec })) });
    assert.equal(ok.statusCode, 200);
    const res = await a.inject({ url: '/me', headers: headers(await mint({ key: ec, kid: gateway.kid })) });
    assert.equal(res.statusCode, 401);
    assert.match(a.logs[0].reason, /alg ES256 does not fit key/);
  });

  test('X-User-ID header and token disagree', async (t) => {
    const a = await app(t);
    const res = await a.inject({ url: '/me', headers: headers(await mint({ sub: 'u-1001', roles: [] }), { 'x-user-id': '42', 'x-user-roles': 'admin' }) });
    assert.equal(res.statusCode, 401);
    assert.deepEqual(res.json(), { message: 'Identity headers and token disagree' });
  });

  test('empty X-User-ID header next to a token', async (t) => {
    const a = await app(t);
    const res = await a.inject({ url: '/me', headers: headers(await mint(), { 'x-user-id': '' }) });
    assert.equal(res.statusCode, 401);
    assert.deepEqual(res.json(), { message: 'Identity headers and token disagree' });
  });

  test('custom userIdHeader is the one compared', async (t) => {
    const a = await app(t, { userIdHeader: 'X-Account' });
    const ok = await a.inject({ url: '/me', headers: headers(await mint(), { 'x-account': '42', 'x-user-id': 'ignored' }) });
    assert.equal(ok.statusCode, 200);
    const bad = await a.inject({ url: '/me', headers: headers(await mint(), { 'x-account': '43' }) });
    assert.equal(bad.statusCode, 401);
  });

  test('token absent (required): 401 even with plain identity headers', async (t) => {
    const a = await app(t);
    const res = await a.inject({ url: '/me', headers: { 'x-user-id': '42', 'x-user-roles': 'admin' } });
    assert.equal(res.statusCode, 401);
    assert.deepEqual(res.json(), { message: 'Missing identity token' });
  });

  test('empty token header counts as absent', async (t) => {
    const a = await app(t);
    const res = await a.inject({ url: '/me', headers: headers('') });
    assert.equal(res.statusCode, 401);
    assert.deepEqual(res.json(), { message: 'Missing identity token' });
  });

  test('token absent, required: false: request.user null, plain headers not trusted', async (t) => {
    const a = await app(t, { required: false });
    const res = await a.inject({ url: '/me', headers: { 'x-user-id': '42' } });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { user: null });
  });

  test('required: false still rejects an invalid token', async (t) => {
    const a = await app(t, { required: false });
    const res = await a.inject({ url: '/me', headers: headers(await mint({ key: intruder })) });
    assert.equal(res.statusCode, 401);
  });
});

describe('gateway-token: configuration errors at registration', () => {
  const cases = [
    ['no publicKey', {}, /publicKey/],
    ['a private key', { publicKey: 'PRIVATE' }, /private key/],
    ['EdDSA key, algorithms RS256 only', { algorithms: ['RS256'] }, /algorithms/],
    ['no audience', { audience: undefined }, /audience is required/],
    ['maxTokenAge 0', { maxTokenAge: 0 }, /maxTokenAge/],
  ];
  for (const [name, opts, want] of cases) {
    test(name, async (t) => {
      const a = Fastify();
      t.after(() => a.close());
      const o = { publicKey: gateway.publicKey, audience: 'fastify-bff', ...opts };
      if (o.publicKey === 'PRIVATE') {
        const { privateKey } = await jose.generateKeyPair('EdDSA', { extractable: true });
        o.publicKey = await jose.exportPKCS8(privateKey);
      }
      if (name === 'no publicKey') delete o.publicKey;
      a.register(gatewayToken, o);
      await assert.rejects(a.ready(), want);
    });
  }

  test('RSA key under 2048 bits', async (t) => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const a = Fastify();
    t.after(() => a.close());
    a.register(gatewayToken, { publicKey, audience: 'fastify-bff' });
    await assert.rejects(a.ready(), /2048/);
  });
});

describe('gateway-token: tokens minted by legacy-auth itself (fixtures/go-minted-tokens.json)', () => {
  for (const f of fixtures.tokens) {
    test(`${f.alg}: Rails answer ${f.railsAnswer}`, async (t) => {
      const token = f.headers['X-Identity-Token'];
      const { iat } = jose.decodeJwt(token);
      assert.equal(jose.decodeProtectedHeader(token).kid, kidOf(f.publicKey), 'kid = SHA-256(SPKI DER)[:16 hex]');
      assert.equal(gatewayToken.keyId(createPublicKey(f.publicKey)), f.kid);

      const a = await app(t, { publicKey: f.publicKey, clock: () => new Date((iat + 1) * 1000) });
      // Exactly the headers Kong forwarded.
      const res = await a.inject({ url: '/me', headers: f.headers });
      assert.equal(res.statusCode, 200, res.body);

      const answer = JSON.parse(f.railsAnswer.replace(/"user_id":(\d+)/, '"user_id":"$1"'));
      const ext = answer.email ? { email: answer.email } : {};
      assert.deepEqual(res.json(), { user: { id: String(answer.user_id), roles: answer.roles, ext } });

      // The same token after its exp (+ tolerance) is refused.
      const late = await app(t, { publicKey: f.publicKey, clock: () => new Date((iat + 306) * 1000) });
      assert.equal((await late.inject({ url: '/me', headers: f.headers })).statusCode, 401);
    });
  }
});

describe('the example BFF with identityToken (build)', () => {
  test('/me and /admin from the token; plain headers alone are refused', async (t) => {
    const a = build({}, { identityToken: { publicKey: gateway.publicKey, audience: 'fastify-bff' } });
    t.after(() => a.close());
    const token = await mint();
    const me = await a.inject({ url: '/me', headers: headers(token, { 'x-user-id': '42' }) });
    assert.deepEqual([me.statusCode, me.json()], [200, { id: '42', roles: ['admin', 'editor'] }]);
    const admin = await a.inject({ url: '/admin', headers: headers(token) });
    assert.deepEqual([admin.statusCode, admin.json()], [200, { message: 'Hello, admin 42' }]);
    const plain = await a.inject({ url: '/me', headers: { 'x-user-id': '42', 'x-user-roles': 'admin' } });
    assert.equal(plain.statusCode, 401);
    const health = await a.inject({ url: '/health' });
    assert.equal(health.statusCode, 200);
  });
});
