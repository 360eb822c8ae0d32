'use strict';
// node server.js  (PORT, default 3000: the port kong/kong.yml points at)
//
// Signed identity (opt-in, when legacy-auth has jwt_header / jwt_key_file):
//   IDENTITY_PUBLIC_KEY_FILE  the gateway's public key, PEM
//                             (openssl pkey -in identity.pem -pubout)
//   IDENTITY_PUBLIC_KEY       or the PEM itself
//   IDENTITY_TOKEN_HEADER     legacy-auth jwt_header (default X-Identity-Token)
//   IDENTITY_AUDIENCE         legacy-auth jwt_audience of this service's routes
//                             (required, unless IDENTITY_ANY_AUDIENCE=1)
//   IDENTITY_MAX_TOKEN_AGE    legacy-auth jwt_ttl in seconds (default 300)
//   IDENTITY_ISSUER           legacy-auth jwt_issuer (default kong-legacy-auth)
const fs = require('node:fs');
const { build } = require('./app');

function identityToken(env) {
  const publicKey = env.IDENTITY_PUBLIC_KEY_FILE
    ? fs.readFileSync(env.IDENTITY_PUBLIC_KEY_FILE)
    : env.IDENTITY_PUBLIC_KEY;
  if (!publicKey) return undefined;
  return {
    publicKey,
    header: env.IDENTITY_TOKEN_HEADER,
    audience: env.IDENTITY_AUDIENCE,
    anyAudience: env.IDENTITY_ANY_AUDIENCE === '1',
    maxTokenAge: env.IDENTITY_MAX_TOKEN_AGE ? Number(env.IDENTITY_MAX_TOKEN_AGE) : undefined,
    issuer: env.IDENTITY_ISSUER,
  };
}

const app = build({ logger: true }, { identityToken: identityToken(process.env) });
const port = Number(process.env.PORT || 3000);

app.listen({ port, host: '0.0.0.0' }).catch((err) => {
  app.log.error(err);
  process.exit(1);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    app.close().then(() => process.exit(0), () => process.exit(1));
  });
}
