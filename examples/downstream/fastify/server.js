'use strict';
// node server.js  (PORT, default 3000: the port kong/kong.yml points at)
const { build } = require('./app');

const app = build({ logger: true });
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
