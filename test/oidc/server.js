// A real OpenID provider (panva/node-oidc-provider) for legacy-auth's tests
// and the local demo: it issues JWT access tokens (RFC 9068) for one
// audience through the client_credentials grant, signed with keys it
// publishes at its jwks_uri. Each client stands for one user: the token's
// sub is the client id, its roles come from the client's metadata.
//
//   PORT=0 AUDIENCE=https://api.example node server.js
//
// prints "listening <port> <issuer>" once it accepts connections. Binds
// 127.0.0.1 only. With LISTEN_FD (and PORT, the socket's port) it serves
// on a listening socket its parent bound and handed over (the local demo:
// nothing else can hold the port the gateway fetches keys from).
import { createServer } from 'node:net';
import Provider from 'oidc-provider';

const host = '127.0.0.1';
const audience = process.env.AUDIENCE || 'https://api.example';
const algs = (process.env.ALGS || 'RS256').split(',');
const ttl = Number(process.env.TOKEN_TTL || 300);

// The demo's users, the ids Rails has for them (examples/demo/kong.yml).
const users = [
  { client_id: '42', client_secret: 'alice-secret', roles: ['admin', 'editor'], email: 'alice@example.com' },
  { client_id: '7', client_secret: 'bob-secret', roles: [] },
];

async function freePort(wanted) {
  if (wanted) return wanted;
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, host, () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

const listenFD = process.env.LISTEN_FD ? Number(process.env.LISTEN_FD) : undefined;
const port = listenFD !== undefined ? Number(process.env.PORT) : await freePort(Number(process.env.PORT || 0));
const issuer = `http://${host}:${port}`;

// Keys: generated at start (one per algorithm), published at /jwks.
const { generateKeyPair, exportJWK } = await import('node:crypto').then((c) => ({
  generateKeyPair: (alg) => new Promise((res, rej) => {
    const [type, opts] = alg.startsWith('ES') ? ['ec', { namedCurve: { ES256: 'P-256', ES384: 'P-384' }[alg] }]
      : alg === 'EdDSA' ? ['ed25519', {}] : ['rsa', { modulusLength: 2048 }];
    c.generateKeyPair(type, opts, (err, _pub, priv) => (err ? rej(err) : res(priv)));
  }),
  exportJWK: (k) => k.export({ format: 'jwk' }),
}));
const keys = [];
for (const [i, alg] of algs.entries()) {
  keys.push({ ...exportJWK(await generateKeyPair(alg)), alg, use: 'sig', kid: `k${i}-${alg}` });
}

const provider = new Provider(issuer, {
  jwks: { keys },
  clients: users.map((u) => ({
    client_id: u.client_id,
    client_secret: u.client_secret,
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    'urn:legacy-auth:roles': u.roles,
    'urn:legacy-auth:email': u.email,
  })),
  extraClientMetadata: { properties: ['urn:legacy-auth:roles', 'urn:legacy-auth:email'] },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => audience,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, resource) => {
        if (resource !== audience) throw new Error('unknown resource');
        return {
          scope: 'api', audience, accessTokenTTL: ttl, accessTokenFormat: 'jwt',
          jwt: { sign: { alg: algs[0] } },
        };
      },
    },
  },
  // Roles and email ride in the access token, as realm roles do in Keycloak.
  extraTokenClaims: (_ctx, token) => {
    const u = users.find((x) => x.client_id === token.clientId);
    if (!u) return undefined;
    return { roles: u.roles, ...(u.email ? { email: u.email } : {}) };
  },
});
provider.on('server_error', (_ctx, err) => console.error('server_error', err));

const ready = () => console.log(`listening ${port} ${issuer}`);
const server = listenFD !== undefined ? provider.listen({ fd: listenFD }, ready) : provider.listen(port, host, ready);
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
