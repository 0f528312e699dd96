#!/usr/bin/env node
// Bundles the agent's command line into one ES module, dist/edgestelle-agent.mjs, that needs
// only Node.js >= 20 on a node (see esbuild-bundle.mjs). `npm run build` also builds it into
// the master's downloads (build-downloads.mjs).
//
// Usage: node deploy/build-agent-bundle.mjs [--outfile PATH]
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { bundleAgent, repo } from './esbuild-bundle.mjs';

const { values } = parseArgs({ options: { outfile: { type: 'string' } }, strict: true });
const outfile = resolve(values.outfile ?? resolve(repo, 'dist/edgestelle-agent.mjs'));
const bytes = await bundleAgent(outfile);
process.stdout.write(`${outfile}: ${(bytes / 1024).toFixed(0)} KiB\n`);
