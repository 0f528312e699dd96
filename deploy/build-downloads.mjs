#!/usr/bin/env node
// `npm run build`'s last step: the CLI and the agent, each in one file with its .sha256, into
// the folder every master serves as /downloads/edgestelle and /downloads/edgestelle-agent
// (packages/master/downloads, beside the console's public/; docs/API.md).
//
// Usage: node deploy/build-downloads.mjs [--outdir DIR]
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { bundleAgent, bundleCli, repo } from './esbuild-bundle.mjs';

const { values } = parseArgs({ options: { outdir: { type: 'string' } }, strict: true });
const outdir = resolve(values.outdir ?? join(repo, 'packages/master/downloads'));
for (const [name, bundle] of [
  ['edgestelle.mjs', bundleCli],
  ['edgestelle-agent.mjs', bundleAgent],
]) {
  const outfile = join(outdir, name);
  const bytes = await bundle(outfile);
  process.stdout.write(`${outfile}: ${(bytes / 1024).toFixed(0)} KiB\n`);
}
