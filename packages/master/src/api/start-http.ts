import type { FastifyInstance } from 'fastify';
import type { MasterConfig } from '../config.ts';
import { connectHost } from '../host-address.ts';
import type { ShutdownSteps } from '../shutdown-steps.ts';
import type { ApiDeps } from './api-deps.ts';
import { buildApi } from './app.ts';

export interface StartedHttp {
  readonly app: FastifyInstance;
  /** The port listened on (the configured one, or the one picked for port 0). */
  readonly port: number;
  /** http://host:port the API listens on. */
  readonly url: string;
}

/** What the API takes from the config, not from the parts of the master. */
type FromConfig = 'allowedOrigins' | 'trustProxy' | 'secureCookies' | 'maxConnections';

/**
 * The HTTP API and the console, listening. At shutdown the live hub closes first (its clients
 * hear 4503 before the HTTP server goes), then the server.
 */
export async function startHttp(
  config: MasterConfig,
  deps: Omit<ApiDeps, FromConfig>,
  shutdown: Pick<ShutdownSteps, 'add'>,
): Promise<StartedHttp> {
  let port = config.httpPort;
  const app = await buildApi({
    ...deps,
    trustProxy: config.trustProxy,
    allowedOrigins: () => allowedOrigins(config, port),
    secureCookies: config.publicUrl?.startsWith('https:') ?? false,
    maxConnections: config.httpMaxConnections,
  });
  shutdown.add('http', () => app.close());
  shutdown.add('live hub', () => Promise.resolve(deps.hub.close()));
  await app.listen({ host: config.httpHost, port: config.httpPort });
  const address = app.server.address();
  port = typeof address === 'object' && address !== null ? address.port : config.httpPort;
  return { app, port, url: `http://${connectHost(config.httpHost)}:${port}` };
}

/** Origins that may open the live hub with a session cookie: the public URL, this server, and those configured. */
function allowedOrigins(config: MasterConfig, port: number): readonly string[] {
  const local = [
    `http://${connectHost(config.httpHost)}:${port}`,
    `http://localhost:${port}`,
    `http://127.0.0.1:${port}`,
  ];
  return [
    ...(config.publicUrl === undefined ? [] : [new URL(config.publicUrl).origin]),
    ...local,
    ...config.allowedOrigins,
  ];
}
