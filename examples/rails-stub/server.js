'use strict';
// Stand-in for the Rails monolith in examples/docker-compose.yml (service
// "rails-app"). No dependencies: it runs on the plain node:20-alpine image.
//
// It implements the verify contract of examples/rails/README.md:
//   POST|GET /internal/auth/verify   Authorization: <credential>
//     200 {"user_id": <string|integer>, "roles": [...]}   known credential
//     401 {"error": "unauthorized"}                        anything else
// plus GET /health for the compose health check, and GET / so that Kong's
// /rails route has something to show.
//
// Two demo credentials, matched exactly:
//   "Bearer demo-alice" -> user 42 (an integer id), roles admin, editor
//   "Bearer demo-bob"   -> user "u-1001" (a string id), no roles

const http = require('node:http');

const USERS = new Map([
  ['Bearer demo-alice', { user_id: 42, roles: ['admin', 'editor'] }],
  ['Bearer demo-bob', { user_id: 'u-1001', roles: [] }],
]);

const VERIFY_PATH = '/internal/auth/verify';

function send(res, status, body, headers = {}) {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(payload),
    'Cache-Control': 'no-store',
    ...headers,
  });
  res.end(payload);
}

function handle(req, res) {
  // The gateway sends no body; drain whatever a client sends so the
  // connection can be reused.
  req.resume();

  const path = new URL(req.url, 'http://rails-app').pathname;

  if (path === VERIFY_PATH) {
    if (req.method !== 'GET' && req.method !== 'POST') {
      return send(res, 405, { error: 'method not allowed' }, { Allow: 'GET, POST' });
    }
    const user = USERS.get(req.headers.authorization || '');
    if (!user) {
      return send(res, 401, { error: 'unauthorized' });
    }
    return send(res, 200, user);
  }

  if (path === '/health' && (req.method === 'GET' || req.method === 'HEAD')) {
    return send(res, 200, { status: 'ok' });
  }

  if (path === '/' && req.method === 'GET') {
    return send(res, 200, { app: 'rails-stub', note: 'stand-in for the Rails monolith' });
  }

  return send(res, 404, { error: 'not found' });
}

function createServer() {
  return http.createServer(handle);
}

module.exports = { createServer, USERS, VERIFY_PATH };

if (require.main === module) {
  const port = Number(process.env.PORT || 3000);
  const server = createServer();
  server.listen(port, '0.0.0.0', () => {
    console.log(`rails-stub listening on :${port}`);
  });
  // As PID 1 in a container node has no default signal handlers: stop on
  // SIGTERM/SIGINT instead of waiting for docker's kill timeout.
  for (const signal of ['SIGTERM', 'SIGINT']) {
    process.on(signal, () => {
      server.close(() => process.exit(0));
      server.closeAllConnections();
    });
  }
}
