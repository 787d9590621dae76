// Reads the example gateway's optional config file (`npm start -- --config gateway.json`), so the
// same gateway can run against real upstreams. Each route's options go to loadBalance() as they
// are, which validates them and names any bad option.

import { readFileSync } from 'node:fs';
import type { Options } from 'loadbalance-middleware';

export interface RouteConfig {
  /** The mount path, e.g. "/api/users". */
  readonly prefix: string;
  readonly options: Options;
}

export interface GatewayConfig {
  readonly port: number;
  readonly routes: readonly RouteConfig[];
}

function fail(file: string, message: string): never {
  throw new Error(`${file}: ${message}`);
}

export function readGatewayConfig(file: string, defaultPort: number): GatewayConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    fail(file, `cannot read it as JSON (${(error as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null) fail(file, 'must hold a JSON object');
  const { port = defaultPort, routes } = raw as { port?: unknown; routes?: unknown };
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
    fail(file, `"port" must be a port number, got ${JSON.stringify(port)}`);
  }
  if (!Array.isArray(routes) || routes.length === 0) {
    fail(
      file,
      '"routes" must be a non-empty list of { "prefix": "/api/x", "upstreams": [...], ... }',
    );
  }
  return {
    port,
    routes: routes.map((route: unknown, i) => {
      if (typeof route !== 'object' || route === null) fail(file, `routes[${i}] must be an object`);
      const { prefix, ...options } = route as { prefix?: unknown } & Record<string, unknown>;
      if (typeof prefix !== 'string' || !prefix.startsWith('/')) {
        fail(
          file,
          `routes[${i}].prefix must be a path starting with "/", got ${JSON.stringify(prefix)}`,
        );
      }
      return { prefix, options: options as unknown as Options };
    }),
  };
}
