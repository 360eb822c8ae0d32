'use strict';
// The example BFF: a public /health and the routes behind Kong's /bff prefix
// (Kong strips it: /bff/me arrives here as /me).

const Fastify = require('fastify');
const gatewayIdentity = require('./gateway-identity');
const { requireRole } = gatewayIdentity;

function build(opts = {}) {
  const app = Fastify(opts);

  // Public: Kong's /health route has no legacy-auth, so no identity here.
  app.get('/health', async () => ({ status: 'ok' }));

  // Everything registered in this context requires the gateway identity.
  app.register(async (api) => {
    await api.register(gatewayIdentity);

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
