// One command of ours and everything it imports, bundled by esbuild into one ES module that needs
// only Node.js >= 20: no node_modules, no compiler, no native module. Used by
// build-agent-bundle.mjs (the agent) and build-downloads.mjs (the agent and the CLI, which every
// master serves under /downloads/).
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');

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

/** Modules a command imports but can never run, each replaced by a stub that throws if it ever is. */
function stubModules(pattern, owner) {
  return {
    name: 'stub-unused',
    setup(pluginBuild) {
      pluginBuild.onResolve({ filter: pattern }, (args) => ({ path: args.path, namespace: 'stub-unused' }));
      pluginBuild.onLoad({ filter: /.*/, namespace: 'stub-unused' }, (args) => ({
        contents: [
          'function unavailable() {',
          `  throw new Error(${JSON.stringify(`${args.path} is left out of ${owner} (deploy/esbuild-bundle.mjs)`)});`,
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
}

/**
 * Bundles `entry` (the JavaScript of the bundle's main module, importing our sources by path)
 * into `outfile`, writes `outfile.sha256` beside it (sha256sum's format), and returns the size.
 * `stub` names modules left out (a regular expression), `external` those loaded from the node.
 */
export async function bundleCommand({ entry, outfile, title, stub, external = [] }) {
  await mkdir(dirname(outfile), { recursive: true });
  const result = await build({
    stdin: { contents: entry, resolveDir: repo, sourcefile: `${basename(outfile)}-entry.mjs`, loader: 'js' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // Read the workspace packages' TypeScript sources, as tsx and vitest do.
    conditions: ['source'],
    external,
    outfile,
    // Node keeps the bundle's text for as long as it runs, as a two-byte string if a single
    // character is beyond Latin-1 (comments held "—" and "§"): 3.7 MB of heap. Without comments
    // and indentation it is 1.3 MB of one-byte text (3.7 MiB less RSS); esbuild escapes the rest.
    // Names stay, so stack traces still read.
    minifyWhitespace: true,
    legalComments: 'eof',
    metafile: true,
    plugins: [inlinePackageJson, ...(stub === undefined ? [] : [stubModules(stub, title)])],
    logLevel: 'warning',
    banner: {
      // CommonJS dependencies (pino, mqtt's helpers, ws) call require() for Node's built-ins.
      js: [
        '#!/usr/bin/env node',
        `// ${title}, one file for Node.js >= 20`,
        "import { createRequire as __edgestelleCreateRequire } from 'node:module';",
        'const require = __edgestelleCreateRequire(import.meta.url);',
      ].join('\n'),
    },
  });
  const digest = createHash('sha256')
    .update(await readFile(outfile))
    .digest('hex');
  await writeFile(`${outfile}.sha256`, `${digest}  ${basename(outfile)}\n`);
  return result.metafile.outputs[Object.keys(result.metafile.outputs)[0]]?.bytes ?? 0;
}

const version = async (pkg) =>
  JSON.parse(await readFile(resolve(repo, 'packages', pkg, 'package.json'), 'utf8')).version;

/**
 * The agent's command line (packages/agent: main(argv)). The PTY module stays external and
 * optional: the agent loads it only when a run asks for a terminal. mqtt.js loads its WebSocket
 * transport (the `ws` package, and through it node:http, https and zlib) on the first connect,
 * and `worker-timers` (for browsers) at import; the agent takes only mqtt:// and mqtts:// URLs
 * (config.ts) and uses Node's timers, so neither can run: stubbed, ~0.9 MiB less idle RSS.
 */
export async function bundleAgent(outfile) {
  const agentMain = resolve(repo, 'packages/agent/src/main.ts');
  return bundleCommand({
    entry: [
      `import { main } from ${JSON.stringify(agentMain)};`,
      'process.exitCode = await main(process.argv.slice(2));',
    ].join('\n'),
    outfile,
    title: `EdgeStelle agent ${await version('agent')} (node edgestelle-agent.mjs --help)`,
    stub: /^(ws|worker-timers)$/,
    external: ['@lydell/node-pty', 'node-pty'],
  });
}

/**
 * The `edgestelle` CLI's client verbs. The daemons (`edgestelle master`, `edgestelle agent`) stay
 * out: the master needs native modules (better-sqlite3), and daemons.ts says where to get them.
 * ws's optional native speed-ups are left to a require() that ws already guards.
 */
export async function bundleCli(outfile) {
  const cliMain = resolve(repo, 'packages/cli/src/main.ts');
  return bundleCommand({
    entry: `import ${JSON.stringify(cliMain)};`,
    outfile,
    title: `EdgeStelle CLI ${await version('cli')} (edgestelle --help)`,
    external: ['@edgestelle/master', '@edgestelle/agent', 'bufferutil', 'utf-8-validate'],
  });
}
