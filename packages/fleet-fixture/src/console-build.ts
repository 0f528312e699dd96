import { fileURLToPath } from 'node:url';
import { build } from 'vite';

const webRoot = fileURLToPath(new URL('../../web/', import.meta.url));

/**
 * Builds the console from its current source into `outDir`, so browser tests never run
 * against a stale packages/master/public.
 */
export async function buildConsole(outDir: string): Promise<void> {
  await build({
    root: webRoot,
    configFile: `${webRoot}vite.config.ts`,
    logLevel: 'error',
    build: { outDir, emptyOutDir: true },
  });
}
