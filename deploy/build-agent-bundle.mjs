#!/usr/bin/env node
// Bundles the agent's command line (packages/agent: main(argv)) and everything it imports into
// one ES module, dist/edgestelle-agent.mjs, that needs only Node.js >= 20 on a node: no
// node_modules, no compiler, no native module. The PTY module stays external and optional:
// the agent loads it only when a run asks for a terminal.
//
// Usage: node deploy/build-agent-bundle.mjs [--outfile PATH]
import { build } from 'esbuild';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { outfile: { type: 'string' } }, strict: true });
const outfile = resolve(values.outfile ?? resolve(repo, 'dist/edgestelle-agent.mjs'));
const agentMain = resolve(repo, 'packages/agent/src/main.ts');
const { version } = JSON.parse(await readFile(resolve(repo, 'packages/agent/package.json'), 'utf8'));

/**
 * Sources read their own package.json at run time (`readFileSync(new URL('../package.json',
 * import.meta.url))`, which works from src/ and dist/). A bundle has no package.json beside it,
 * so each such read is replaced by the file's text at build time.
 */
const PACKAGE_JSON_READ =
  /readFileSync\(\s*new URL\(\s*'\.\.\/package\.json'\s*,\s*import\.meta\.url\s*\)\s*,\s*'utf8'\s*\)/g;
const inlinePackageJson = {
  name: 'inline-package-json',
  setup(pluginBuild) {
    pluginBuild.onLoad({ filter: /[\\/]packages[\\/][^\\/]+[\\/]src[\\/].*\.ts$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      if (!PACKAGE_JSON_READ.test(source)) return undefined;
      const packageJson = await readFile(resolve(dirname(args.path), '../package.json'), 'utf8');
      return { contents: source.replace(PACKAGE_JSON_READ, JSON.stringify(packageJson)), loader: 'ts' };
    });
  },
};

/**
 * mqtt.js loads its WebSocket transport (the `ws` package, and through it node:http, https and
 * zlib) on the first connect, and `worker-timers` (for browsers) at import. The agent takes only
 * mqtt:// and mqtts:// URLs (config.ts) and uses Node's timers, so neither can run; each is
 * replaced by a stub that throws if it ever is: ~0.9 MiB less idle RSS.
 */
const UNUSED_IN_AGENT = /^(ws|worker-timers)$/;
const stubUnused = {
  name: 'stub-unused',
  setup(pluginBuild) {
    pluginBuild.onResolve({ filter: UNUSED_IN_AGENT }, (args) => ({ path: args.path, namespace: 'stub-unused' }));
    pluginBuild.onLoad({ filter: /.*/, namespace: 'stub-unused' }, (args) => ({
      contents: [
        'function unavailable() {',
        `  throw new Error(${JSON.stringify(`${args.path} is left out of the agent's bundle (deploy/build-agent-bundle.mjs)`)});`,
        '}',
        // The names mqtt.js calls: ws's constructor and createWebSocketStream, worker-timers' pair.
        'module.exports = Object.assign(unavailable, {',
        '  createWebSocketStream: unavailable,',
        '  setInterval: unavailable,',
        '  clearInterval: unavailable,',
        '});',
      ].join('\n'),
      loader: 'js',
    }));
  },
};

await mkdir(dirname(outfile), { recursive: true });
const result = await build({
  stdin: {
    contents: [
      `import { main } from ${JSON.stringify(agentMain)};`,
      'process.exitCode = await main(process.argv.slice(2));',
    ].join('\n'),
    resolveDir: repo,
    sourcefile: 'edgestelle-agent-entry.mjs',
    loader: 'js',
  },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // Read the workspace packages' TypeScript sources, as tsx and vitest do.
  conditions: ['source'],
  external: ['@lydell/node-pty', 'node-pty'],
  outfile,
  // Node keeps the bundle's text for as long as it runs, as a two-byte string if a single
  // character is beyond Latin-1 (comments held "—" and "§"): 3.7 MB of heap. Without comments
  // and indentation it is 1.3 MB of one-byte text (3.7 MiB less RSS); esbuild escapes the rest.
  // Names stay, so stack traces still read.
  minifyWhitespace: true,
  legalComments: 'eof',
  metafile: true,
  plugins: [inlinePackageJson, stubUnused],
  logLevel: 'warning',
  banner: {
    // CommonJS dependencies (pino, mqtt's helpers) call require() for Node's built-ins.
    js: [
      '#!/usr/bin/env node',
      `// EdgeStelle agent ${version}, one file: node edgestelle-agent.mjs --help`,
      "import { createRequire as __edgestelleCreateRequire } from 'node:module';",
      'const require = __edgestelleCreateRequire(import.meta.url);',
    ].join('\n'),
  },
});

const bytes = result.metafile.outputs[Object.keys(result.metafile.outputs)[0]]?.bytes ?? 0;
process.stdout.write(`${outfile}: ${(bytes / 1024).toFixed(0)} KiB\n`);
