'use strict';
// The example BFF: a public /health and the routes behind Kong's /bff prefix
// (Kong strips it: /bff/me arrives here as /me).

const Fastify = require('fastify');
const gatewayIdentity = require('./gateway-identity');
const gatewayToken = require('./gateway-token');
const { requireRole } = gatewayIdentity;

/**
 * @param {object} [opts]  Fastify options
 * @param {{ identityToken?: object }} [identity]
 *   identityToken: gateway-token options ({ publicKey, audience, ... }). Set,
 *   the identity comes from the signed token legacy-auth adds (jwt_header);
 *   unset, from the plain X-User-ID / X-User-Roles headers.
 */
function build(opts = {}, { identityToken } = {}) {
  const app = Fastify(opts);

  // Public: Kong's /health route has no legacy-auth, so no identity here.
  app.get('/health', async () => ({ status: 'ok' }));

  // Everything registered in this context requires the gateway identity.
  app.register(async (api) => {
    if (identityToken) {
      await api.register(gatewayToken, identityToken);
    } else {
      await api.register(gatewayIdentity);
    }

    api.get('/me', async (request) => ({
      id: request.user.id,
      roles: request.user.roles,
    }));

    api.get('/admin', { preHandler: requireRole('admin') }, async (request) => ({
      message: `Hello, admin ${request.user.id}`,
    }));
  });

  return app;
}

module.exports = { build };
