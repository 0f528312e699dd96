import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';

const packagesRoot = fileURLToPath(new URL('../../', import.meta.url));
const webRoot = join(packagesRoot, 'web');
/** What the console's bundle is made from: its own source and the protocol it imports. */
const sourceRoots = [webRoot, join(packagesRoot, 'protocol', 'src'), join(packagesRoot, '..', 'package-lock.json')];
const skipped = new Set(['node_modules', 'dist', '.vite']);

/**
 * The console built from its current source, so browser tests never run against a stale
 * packages/master/public. A build takes seconds of both cores, so it is made once per source
 * state and shared by every browser test: the directory is named by a hash of the sources and
 * only ever appears whole (built beside it, then renamed). The master only reads it. It lives in
 * the checkout's node_modules/.cache, not in a test's temp folder, so that it outlives one test.
 */
export async function consoleBuild(): Promise<string> {
  const dir = join(packagesRoot, '..', 'node_modules', '.cache', 'edgestelle-console', await sourceHash());
  if (existsSync(dir)) return dir;
  const partial = `${dir}.${process.pid}.partial`;
  await build({
    root: webRoot,
    configFile: join(webRoot, 'vite.config.ts'),
    logLevel: 'error',
    build: { outDir: partial, emptyOutDir: true },
  });
  await mkdir(join(dir, '..'), { recursive: true });
  try {
    await rename(partial, dir);
  } catch (error) {
    // Another test process finished the same build first: its copy is as good as ours.
    if (!existsSync(dir)) throw error;
    await rm(partial, { recursive: true, force: true });
  }
  return dir;
}

async function sourceHash(): Promise<string> {
  const hash = createHash('sha256');
  for (const root of sourceRoots)
    for (const file of await filesBelow(root)) hash.update(file).update(await readFile(file));
  return hash.digest('hex').slice(0, 16);
}

async function filesBelow(path: string): Promise<string[]> {
  const entries = await readdir(path, { withFileTypes: true }).catch((error: unknown) => {
    if (error instanceof Error && 'code' in error && error.code === 'ENOTDIR') return undefined;
    throw error;
  });
  if (entries === undefined) return [path];
  const files: string[] = [];
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (skipped.has(entry.name)) continue;
    const full = join(path, entry.name);
    if (entry.isDirectory()) files.push(...(await filesBelow(full)));
    else if (entry.isFile()) files.push(full);
  }
  return files;
}
