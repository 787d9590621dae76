// The `users` service of the Compose example: one replica answers JSON naming its container
// (the hostname Docker gives it), so you can watch the gateway spread requests over replicas.
// /health answers 200 for the gateway's probes. SIGTERM (docker compose down / scale down)
// stops accepting connections and lets requests in flight finish.

import http from 'node:http';
import os from 'node:os';

const port = Number(process.env.PORT ?? 3000);
let served = 0;

const server = http.createServer((req, res) => {
  if (req.url === '/health') {
    res.end('ok');
    return;
  }
  served++;
  res.setHeader('content-type', 'application/json');
  res.end(
    JSON.stringify({ service: 'users', instance: os.hostname(), path: req.url, served }) + '\n',
  );
});

server.listen(port, () => console.log(`users instance ${os.hostname()} on :${port}`));

process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeIdleConnections();
});
