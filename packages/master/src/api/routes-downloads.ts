import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { MasterError, MasterErrorCode } from '../errors.ts';
import type { ApiDeps } from './api-deps.ts';

/** URL name → the file deploy/build-downloads.mjs writes (with `<file>.sha256` beside it). */
const DOWNLOADS = {
  edgestelle: { file: 'edgestelle.mjs', what: 'the edgestelle CLI (client verbs), one file for Node.js >= 20' },
  'edgestelle-agent': { file: 'edgestelle-agent.mjs', what: 'the agent, one file for Node.js >= 20' },
} as const;

/**
 * `/downloads/edgestelle` and `/downloads/edgestelle-agent`, public like the console's files:
 * a laptop gets its CLI and a node its agent from the master they will talk to, so the two
 * always match it. Each answer carries its SHA-256 (X-Checksum-Sha256), and `<name>.sha256` is
 * the same digest in sha256sum's format for `sha256sum -c`.
 */
export function registerDownloadRoutes(app: FastifyInstance, deps: Pick<ApiDeps, 'downloadsDir'>): void {
  for (const [name, { file, what }] of Object.entries(DOWNLOADS)) {
    const path = join(deps.downloadsDir, file);
    /** The hex digest build-downloads.mjs wrote beside the file. */
    const digestOf = async (): Promise<string> => {
      try {
        return (await readFile(`${path}.sha256`, 'utf8')).split(/\s/, 1)[0] ?? '';
      } catch (err) {
        throw new MasterError(
          MasterErrorCode.notFound,
          `this master has no ${name} to hand out: build it with npm run build (node deploy/build-downloads.mjs)`,
          { cause: err },
        );
      }
    };
    app.get(
      `/downloads/${name}`,
      {
        config: { access: 'public' },
        schema: { tags: ['downloads'], summary: `${what}; SHA-256 in X-Checksum-Sha256` },
      },
      async (_request, reply) => {
        const digest = await digestOf();
        return reply
          .type('text/javascript; charset=utf-8')
          .header('content-disposition', `attachment; filename="${name}"`)
          .header('x-checksum-sha256', digest)
          .header('cache-control', 'no-cache')
          .send(createReadStream(path));
      },
    );
    app.get(
      `/downloads/${name}.sha256`,
      {
        config: { access: 'public' },
        schema: { tags: ['downloads'], summary: `the SHA-256 of /downloads/${name} (sha256sum format)` },
      },
      async (_request, reply) => {
        // sha256sum -c checks the file by the name it was saved under: the URL's name.
        return reply
          .type('text/plain; charset=utf-8')
          .header('cache-control', 'no-cache')
          .send(`${await digestOf()}  ${name}\n`);
      },
    );
  }
}
