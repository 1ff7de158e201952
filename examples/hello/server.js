// A tiny app to run under the entrypoint: answers HTTP on $PORT (which the entrypoint sets,
// 5000 by default) and prints one line per request, so its logs have something to show.
'use strict';
const http = require('node:http');

const port = Number(process.env.PORT || 5000);
let served = 0;

const server = http.createServer((req, res) => {
  served += 1;
  console.log(`${new Date().toISOString()} ${req.method} ${req.url} (#${served})`);
  res.setHeader('content-type', 'text/plain; charset=utf-8');
  res.end(`hello from ${process.env.WAYPOINT_DEPLOYMENT_ID || 'an unconnected app'} (request #${served})\n`);
});

server.listen(port, () => console.log(`hello: listening on http://127.0.0.1:${port}`));

// The entrypoint forwards SIGTERM/SIGINT to us: finish in-flight requests, then exit.
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    console.log(`hello: ${signal}, shutting down`);
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
