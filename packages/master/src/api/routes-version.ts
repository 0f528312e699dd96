import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { PROTOCOL_VERSION, versionInfoSchema } from '@edgestelle/protocol';
import { z } from 'zod';

/** The master's release, from the package.json beside src/ and dist/ alike. */
const MASTER_VERSION = z
  .object({ version: z.string().min(1) })
  .parse(JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'))).version;

/**
 * `GET /api/v1/version`, public: the one-file CLI and the agent bundle already say the release in
 * their first lines under /downloads/, and `edgestelle version` must answer before a login.
 */
export function registerVersionRoute(base: FastifyInstance): void {
  base.withTypeProvider<ZodTypeProvider>().get(
    '/api/v1/version',
    {
      config: { access: 'public' },
      schema: {
        tags: ['health'],
        summary: "The master's release and protocol generation",
        response: { 200: versionInfoSchema },
      },
    },
    () => ({ version: MASTER_VERSION, protocol: PROTOCOL_VERSION }),
  );
}
