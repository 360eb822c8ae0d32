'use strict';
// gateway-identity: a Fastify plugin that turns the identity headers Kong's
// legacy-auth plugin injects into request.user.
//
//   X-User-ID:    the user id exactly as Rails returned it. Kept as a string:
//                 ids may be non-numeric ("u-1001") or larger than
//                 Number.MAX_SAFE_INTEGER, where parseInt would corrupt them.
//   X-User-Roles: the roles, comma-joined ("admin,editor"). Kong removes the
//                 header when the user has no roles; a missing or empty
//                 header both mean "no roles".
//
// Kong removes any client-sent copy of both headers before setting them, so
// they can be trusted ONLY when every request reaches this service through
// Kong (the service is not reachable from outside Kong's network).
//
// Usage: register it in the encapsulated context whose routes need a user;
// routes outside that context (e.g. /health) are not affected.
//
//   app.register(async (api) => {
//     await api.register(gatewayIdentity)
//     api.get('/me', async (request) => request.user)
//     api.get('/admin', { preHandler: requireRole('admin') }, handler)
//   })

const fp = require('fastify-plugin');

const DEFAULTS = {
  // Header names, as configured in legacy-auth (user_id_header,
  // user_roles_header). Node lower-cases incoming header names.
  userIdHeader: 'x-user-id',
  userRolesHeader: 'x-user-roles',
};

/**
 * parseIdentity reads the identity from a Node/Fastify headers object.
 * It returns null when there is no usable user id.
 * @param {Record<string, string | string[] | undefined>} headers
 * @param {{ userIdHeader?: string, userRolesHeader?: string }} [names]
 * @returns {{ id: string, roles: readonly string[] } | null}
 */
function parseIdentity(headers, names = {}) {
  const userIdHeader = (names.userIdHeader || DEFAULTS.userIdHeader).toLowerCase();
  const userRolesHeader = (names.userRolesHeader || DEFAULTS.userRolesHeader).toLowerCase();

  const id = single(headers[userIdHeader]);
  if (id === null) return null;

  const rawRoles = single(headers[userRolesHeader]);
  const roles = rawRoles === null
    ? []
    : rawRoles.split(',').map((r) => r.trim()).filter((r) => r !== '');

  return Object.freeze({ id, roles: Object.freeze(roles) });
}

// single returns the trimmed header value, or null when it is absent, empty
// or repeated (Kong sends exactly one; anything else did not come from it).
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
 *   userIdHeader, userRolesHeader  header names (defaults above)
 *   required                       reject requests without a user id with 401
 *                                  (default true); when false, request.user
 *                                  is null for them.
 */
async function gatewayIdentity(fastify, opts) {
  const names = {
    userIdHeader: opts.userIdHeader || DEFAULTS.userIdHeader,
    userRolesHeader: opts.userRolesHeader || DEFAULTS.userRolesHeader,
  };
  const required = opts.required !== false;

  // null as the initial value: Fastify 5 refuses reference types here.
  if (!fastify.hasRequestDecorator('user')) {
    fastify.decorateRequest('user', null);
  }

  fastify.addHook('onRequest', async (request, reply) => {
    const user = parseIdentity(request.headers, names);
    if (user === null && required) {
      // Behind Kong this means the route is missing the legacy-auth plugin
      // or the request bypassed Kong: fail closed.
      return reply.code(401).send({ message: 'Missing user identity' });
    }
    request.user = user;
  });
}

/**
 * requireRole returns a preHandler that answers 403 unless request.user has
 * the role.
 * @param {string} role
 */
function requireRole(role) {
  return async function requireRoleHandler(request, reply) {
    if (!request.user || !request.user.roles.includes(role)) {
      return reply.code(403).send({ message: `Role ${role} required` });
    }
  };
}

module.exports = fp(gatewayIdentity, { fastify: '5.x', name: 'gateway-identity' });
module.exports.parseIdentity = parseIdentity;
module.exports.requireRole = requireRole;
