'use strict';
// gateway-token: a Fastify plugin that verifies the signed identity token
// Kong's legacy-auth plugin adds when `jwt_header` is configured, and turns
// it into request.user.
//
// Why: X-User-ID / X-User-Roles are plain headers. They can be trusted only
// if nobody can reach this service except through Kong. When that is not
// guaranteed (someone inside the network could call the service directly
// with forged headers), configure legacy-auth with `jwt_header` and
// `jwt_key_file`, give this plugin the matching PUBLIC key, and the identity
// is taken from a token only the gateway can sign.
//
// The token (internal/identity/token.go):
//   header  alg  EdDSA (Ed25519 key), ES256 (P-256) or RS256 (RSA >= 2048)
//           kid  first 16 hex chars of SHA-256 over the DER SubjectPublicKeyInfo
//                of the public key
//   claims  iss  jwt_issuer, default "kong-legacy-auth"
//           sub  the user id, exactly as Rails returned it (always a string)
//           aud  [jwt_audience], only when configured
//           iat, nbf (= iat - 5 s)
//           exp  iat + jwt_ttl (default 300 s), but never later than
//                auth_time + cache_ttl: no token outlives its identity
//           auth_time  when Rails vouched for the credential; a token for
//                an identity served stale during a Rails outage lives at
//                most 10 s and shows the identity's age here
//           roles  array of strings, omitted when the user has none
//           ext    { answerField: value } for the configured extra_headers,
//                  omitted when there are none
// Kong mints one token per cached identity and reuses it until a fifth of
// its lifetime is left, so the same token arrives on many requests.
//
// Usage (instead of gateway-identity, in the context whose routes need a
// user; requireRole from gateway-identity works on the result):
//
//   app.register(async (api) => {
//     await api.register(gatewayToken, {
//       publicKey: fs.readFileSync('/etc/bff/identity.pub.pem'),
//       audience: 'fastify-bff',            // when Kong sets jwt_audience
//     })
//     api.get('/me', async (request) => request.user)  // { id, roles, ext }
//   })
//
// Verification uses `jose` (https://github.com/panva/jose), which is ESM
// only: it is loaded with import() when the plugin is registered, which
// works from CommonJS on every Node.js >= 20.

const fp = require('fastify-plugin');
const { createHash, createPublicKey, KeyObject } = require('node:crypto');

const DEFAULTS = {
  header: 'x-identity-token', // legacy-auth jwt_header (any spelling)
  issuer: 'kong-legacy-auth', // legacy-auth jwt_issuer default
  userIdHeader: 'x-user-id', // legacy-auth user_id_header
  clockTolerance: 5, // seconds of clock skew allowed on exp / nbf / iat
  maxTokenAge: 300, // seconds: legacy-auth's default jwt_ttl
};

/**
 * keyId is the kid legacy-auth puts in the token header for a public key:
 * the first 16 hex chars of SHA-256 over its DER SubjectPublicKeyInfo.
 * @param {KeyObject} key
 */
function keyId(key) {
  const der = key.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('hex').slice(0, 16);
}

// algorithmFor is the one algorithm legacy-auth signs with for this key type.
function algorithmFor(key) {
  const details = key.asymmetricKeyDetails || {};
  switch (key.asymmetricKeyType) {
    case 'ed25519':
      return 'EdDSA';
    case 'ec':
      if (details.namedCurve === 'prime256v1') return 'ES256';
      throw new TypeError('gateway-token: EC keys must use P-256 (ES256)');
    case 'rsa':
      if (details.modulusLength >= 2048) return 'RS256';
      throw new TypeError('gateway-token: RSA keys must have at least 2048 bits');
    default:
      throw new TypeError(`gateway-token: unsupported key type ${key.asymmetricKeyType}`);
  }
}

// loadPublicKey accepts a PEM (string or Buffer, "PUBLIC KEY") or a public
// KeyObject. A private key is refused: it must stay on the gateway, and a
// service holding it could mint identities for every other service.
function loadPublicKey(input) {
  let key;
  if (input instanceof KeyObject) {
    key = input;
  } else if (typeof input === 'string' || Buffer.isBuffer(input)) {
    if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(input.toString())) {
      throw new TypeError('gateway-token: publicKey is a private key; give the public key (openssl pkey -in key.pem -pubout)');
    }
    key = createPublicKey(input);
  } else {
    throw new TypeError('gateway-token: publicKey must be a PEM string, a Buffer or a KeyObject');
  }
  if (key.type !== 'public') {
    throw new TypeError('gateway-token: publicKey must be a public key');
  }
  return key;
}

/**
 * createVerifier compiles the options into an async verify(token, now) that
 * resolves to the frozen user { id, roles, ext } or rejects.
 * @param {{ publicKey: any, algorithms?: string[], issuer?: string,
 *           audience?: string, anyAudience?: boolean, maxTokenAge?: number,
 *           clockTolerance?: number }} opts
 */
async function createVerifier(opts) {
  const { jwtVerify } = await import('jose');

  const inputs = Array.isArray(opts.publicKey) ? opts.publicKey : [opts.publicKey];
  if (inputs.length === 0 || inputs.some((k) => k === undefined || k === null)) {
    throw new TypeError('gateway-token: publicKey is required');
  }
  // One entry per kid: during a key rotation give both public keys.
  const keys = new Map();
  for (const input of inputs) {
    const key = loadPublicKey(input);
    keys.set(keyId(key), { key, alg: algorithmFor(key) });
  }
  const allowed = [...new Set([...keys.values()].map((k) => k.alg))];
  if (opts.algorithms !== undefined) {
    for (const alg of allowed) {
      if (!opts.algorithms.includes(alg)) {
        throw new TypeError(`gateway-token: a ${alg} key is configured but algorithms is ${JSON.stringify(opts.algorithms)}`);
      }
    }
  }

  // Without an audience a token minted for another service's route would
  // be accepted here (replayed until its exp): one is required unless the
  // caller says, in so many words, that every service shares one audience.
  if (!opts.audience && opts.anyAudience !== true) {
    throw new TypeError('gateway-token: audience is required (legacy-auth jwt_audience for this service); '
      + 'pass anyAudience: true only if every service behind the gateway may accept every token');
  }
  const maxTokenAge = opts.maxTokenAge ?? DEFAULTS.maxTokenAge;
  if (!(Number.isFinite(maxTokenAge) && maxTokenAge > 0)) {
    throw new TypeError('gateway-token: maxTokenAge must be a positive number of seconds');
  }
  const options = {
    algorithms: allowed,
    issuer: opts.issuer || DEFAULTS.issuer,
    audience: opts.audience || undefined, // unset only with anyAudience
    clockTolerance: opts.clockTolerance ?? DEFAULTS.clockTolerance,
    // iat neither in the future nor older than maxTokenAge (jose checks both).
    maxTokenAge,
    requiredClaims: ['sub', 'iat', 'exp'],
  };

  // The key comes from the kid, and must fit the alg the token names: no
  // token is checked against a key of another type.
  function keyFor(header) {
    const entry = typeof header.kid === 'string' ? keys.get(header.kid) : undefined;
    if (entry === undefined) throw new Error(`unknown kid ${JSON.stringify(header.kid)}`);
    if (entry.alg !== header.alg) throw new Error(`alg ${header.alg} does not fit key ${header.kid}`);
    return entry.key;
  }

  return async function verify(token, now = new Date()) {
    const { payload } = await jwtVerify(token, keyFor, { ...options, currentDate: now });
    // legacy-auth never mints a token living longer than jwt_ttl: a longer
    // one was not minted by it under this configuration.
    if (payload.exp - payload.iat > maxTokenAge) {
      throw new Error(`token lifetime ${payload.exp - payload.iat} s exceeds maxTokenAge ${maxTokenAge} s`);
    }
    return userFromClaims(payload);
  };
}

// userFromClaims checks the claims legacy-auth sets and builds request.user.
function userFromClaims(claims) {
  const { sub, roles = [], ext = {} } = claims;
  if (typeof sub !== 'string' || sub === '') throw new Error('sub is not a non-empty string');
  if (!Array.isArray(roles) || !roles.every((r) => typeof r === 'string')) {
    throw new Error('roles is not an array of strings');
  }
  if (ext === null || typeof ext !== 'object' || Array.isArray(ext)
      || !Object.values(ext).every((v) => typeof v === 'string')) {
    throw new Error('ext is not an object of strings');
  }
  return Object.freeze({
    id: sub,
    roles: Object.freeze([...roles]),
    ext: Object.freeze({ ...ext }),
  });
}

// single returns the trimmed header value, or null when it is absent, empty
// or repeated (Kong sends exactly one).
function single(value) {
  if (Array.isArray(value)) {
    if (value.length !== 1) return null;
    value = value[0];
  }
  if (typeof value !== 'string') return null;
  const trimmed = value.trim();
  return trimmed === '' ? null : trimmed;
}

/**
 * The plugin. Options:
 *   publicKey       the gateway's public key: PEM ("-----BEGIN PUBLIC KEY-----",
 *                   string or Buffer) or a KeyObject; an array of them during
 *                   a key rotation (the token's kid picks one). Required.
 *   header          the token header, legacy-auth jwt_header
 *                   (default 'x-identity-token')
 *   algorithms      accepted algorithms (default: the one each key signs
 *                   with: EdDSA for Ed25519, ES256 for P-256, RS256 for RSA);
 *                   registration fails if a key's algorithm is not listed
 *   issuer          expected iss, legacy-auth jwt_issuer
 *                   (default 'kong-legacy-auth')
 *   audience        expected aud, legacy-auth jwt_audience. Required: give
 *                   each service's routes their own jwt_audience, so a token
 *                   sent to one service cannot be replayed to another.
 *   anyAudience     true to accept any aud (or none) when audience is unset;
 *                   registration logs a warning. Only when every service
 *                   behind the gateway may accept every token.
 *   maxTokenAge     seconds (default 300, legacy-auth's default jwt_ttl):
 *                   tokens with an iat older than this, or in the future
 *                   beyond clockTolerance, or living longer than this, are
 *                   refused. Set it to legacy-auth's jwt_ttl.
 *   required        reject requests without a token with 401 (default true);
 *                   when false, request.user is null for them (and plain
 *                   identity headers without a token are NOT trusted).
 *   userIdHeader    legacy-auth user_id_header (default 'x-user-id'); when
 *                   present it must equal the token's sub.
 *   clockTolerance  seconds of clock skew allowed on exp / nbf / iat (default 5)
 *   clock           () => Date, the current time (for tests)
 *
 * request.user is { id, roles, ext }, frozen: id is the token's sub (a
 * string), roles its roles ([] when none), ext its extra fields ({} when
 * none). Roles and extra fields come from the token only; X-User-Roles and
 * the extra headers are ignored, so handlers must use request.user rather
 * than read identity headers themselves.
 */
async function gatewayToken(fastify, opts) {
  const verify = await createVerifier(opts);
  if (!opts.audience) {
    fastify.log.warn('gateway-token: no audience configured (anyAudience): tokens minted for other services are accepted');
  }
  const header = (opts.header || DEFAULTS.header).toLowerCase();
  const userIdHeader = (opts.userIdHeader || DEFAULTS.userIdHeader).toLowerCase();
  const required = opts.required !== false;
  const clock = opts.clock || (() => new Date());

  if (!fastify.hasRequestDecorator('user')) {
    fastify.decorateRequest('user', null);
  }

  fastify.addHook('onRequest', async (request, reply) => {
    const token = single(request.headers[header]);
    if (token === null) {
      if (required) {
        // Behind Kong: the route lacks legacy-auth (or its jwt_header), or the
        // request bypassed Kong. Fail closed.
        return reply.code(401).send({ message: 'Missing identity token' });
      }
      request.user = null;
      return;
    }

    let user;
    try {
      user = await verify(token, clock());
    } catch (err) {
      // The reason is for the log only; the client learns nothing from it.
      request.log.warn({ code: err.code, reason: err.message }, 'identity token rejected');
      return reply.code(401).send({ message: 'Invalid identity token' });
    }

    // Kong sets X-User-ID and the token from the same identity; if they
    // differ, one of them did not come from Kong.
    const plainId = request.headers[userIdHeader];
    if (plainId !== undefined && single(plainId) !== user.id) {
      request.log.warn('identity headers and token disagree');
      return reply.code(401).send({ message: 'Identity headers and token disagree' });
    }

    request.user = user;
  });
}

module.exports = fp(gatewayToken, { fastify: '5.x', name: 'gateway-token' });
module.exports.createVerifier = createVerifier;
module.exports.keyId = keyId;
