// @ts-check
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import pluginVue from 'eslint-plugin-vue';
import globals from 'globals';
import tseslint from 'typescript-eslint';
import vueParser from 'vue-eslint-parser';
import { relativeImportWall } from './scripts/eslint-relative-import-wall.js';

/**
 * The import walls of docs/ARCHITECTURE.md ("Packages", "Arrows"), one reason each. For a file,
 * ESLint uses the options of the last config object that sets a rule, so every object below
 * lists all the walls for the files it matches, broad objects first.
 */
const wall = {
  protocolImportsNothing: {
    group: ['@edgestelle/*'],
    message:
      'protocol is where every arrow ends: all packages import it, so it imports none of them (that would be a cycle, and would pull a daemon into the console).',
  },
  protocolMainIsBrowserSafe: {
    group: ['node:*'],
    message:
      "protocol's main entry is bundled into the browser console: only ./envelope (node:crypto) may use Node's modules.",
  },
  agentNotMaster: {
    group: ['@edgestelle/master'],
    message:
      'The agent never imports the master: it ships alone, one small file on every node, and its package does not list the master.',
  },
  noCli: {
    group: ['@edgestelle/cli'],
    message: 'Only the command line uses the CLI: it depends on the daemons, never the other way round.',
  },
  noWeb: {
    group: ['@edgestelle/web'],
    message: 'The console is reached over HTTP only: the master serves its built files and nobody imports its code.',
  },
  masterNotAgent: {
    group: ['@edgestelle/agent'],
    message:
      "The master's code never imports the agent: the two meet over MQTT; the agent is a devDependency for tests.",
  },
  testkitNotShipped: {
    group: ['@edgestelle/testkit'],
    message: 'testkit holds test fixtures: a devDependency, never imported by code that ships.',
  },
  fleetFixtureNotShipped: {
    group: ['@edgestelle/fleet-fixture'],
    message:
      'fleet-fixture starts masters and agents for tests: it sits above the daemons, so only tests, benches and e2e import it.',
  },
  fleetFixtureNoCli: {
    group: ['@edgestelle/cli', '@edgestelle/web'],
    message:
      'fleet-fixture builds on master, agent, protocol and testkit; it runs the CLI and serves the console as processes and files, never by import.',
  },
  testkitImportsNothing: {
    group: ['@edgestelle/*'],
    message:
      "testkit sits under every package's tests (agent, cli and master list it): importing one of them makes a cycle.",
  },
  browserNoDaemons: {
    group: [
      '@edgestelle/protocol/envelope',
      '@edgestelle/protocol/private-files',
      '@edgestelle/master',
      '@edgestelle/agent',
      '@edgestelle/cli',
      '@edgestelle/testkit',
      '@edgestelle/fleet-fixture',
    ],
    message:
      "The console imports only protocol's browser-safe entry: the envelope and private-files need node:crypto and node:fs, the daemons and testkit are Node programs, and it talks to the master over HTTP.",
  },
  browserNoNode: {
    group: ['node:*'],
    message: "The console runs in a browser: Node's modules do not exist there.",
  },
  clientVerbsNoDaemons: {
    group: ['@edgestelle/master', '@edgestelle/agent'],
    message:
      "The CLI's client verbs talk to the master's HTTP API and live hub and start without loading a daemon: only src/daemons.ts imports the master and the agent, on demand.",
  },
  cliNoEnvelope: {
    group: ['@edgestelle/protocol/envelope'],
    message: "The CLI never opens envelopes (it never speaks MQTT): protocol's browser-safe entry has all it needs.",
  },
};
/** Tests and other files that do not ship. */
const tests = ['**/*.test.ts', '**/test/**'];
const walls = (...groups) => ({ 'no-restricted-imports': ['error', { patterns: groups }] });

const importWalls = [
  {
    // Every relative import stays inside its package (scripts/eslint-relative-import-wall.js says why).
    files: ['**/*.ts', '**/*.js', '**/*.mjs', '**/*.vue'],
    plugins: { edgestelle: { rules: { 'relative-import-wall': relativeImportWall } } },
    rules: { 'edgestelle/relative-import-wall': 'error' },
  },
  { files: ['packages/protocol/**/*.ts'], rules: walls(wall.protocolImportsNothing) },
  {
    files: ['packages/protocol/src/**/*.ts'],
    // The Node-only entries: ./envelope (node:crypto; with enroll-proof.ts, which only it
    // re-exports) and ./private-files (node:fs).
    ignores: [
      'packages/protocol/src/envelope.ts',
      'packages/protocol/src/enroll-proof.ts',
      'packages/protocol/src/private-files.ts',
      ...tests,
    ],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [wall.protocolImportsNothing, wall.protocolMainIsBrowserSafe],
          paths: [{ name: './envelope.ts', message: wall.protocolMainIsBrowserSafe.message }],
        },
      ],
    },
  },
  { files: ['packages/agent/**/*.ts'], rules: walls(wall.agentNotMaster, wall.noCli, wall.noWeb) },
  {
    files: ['packages/agent/src/**/*.ts'],
    ignores: tests,
    rules: walls(wall.agentNotMaster, wall.noCli, wall.noWeb, wall.testkitNotShipped, wall.fleetFixtureNotShipped),
  },
  { files: ['packages/master/**/*.ts'], rules: walls(wall.noCli, wall.noWeb) },
  {
    files: ['packages/master/src/**/*.ts'],
    ignores: tests,
    rules: walls(wall.noCli, wall.noWeb, wall.masterNotAgent, wall.testkitNotShipped, wall.fleetFixtureNotShipped),
  },
  { files: ['packages/cli/**/*.ts'], rules: walls(wall.noWeb) },
  {
    files: ['packages/cli/src/**/*.ts'],
    ignores: ['packages/cli/src/daemons.ts'],
    rules: walls(wall.noWeb, wall.cliNoEnvelope, wall.clientVerbsNoDaemons),
  },
  {
    files: ['packages/cli/src/**/*.ts'],
    ignores: ['packages/cli/src/daemons.ts', ...tests],
    rules: walls(
      wall.noWeb,
      wall.cliNoEnvelope,
      wall.clientVerbsNoDaemons,
      wall.testkitNotShipped,
      wall.fleetFixtureNotShipped,
    ),
  },
  {
    files: ['packages/cli/src/daemons.ts'],
    rules: walls(wall.noWeb, wall.cliNoEnvelope, wall.testkitNotShipped, wall.fleetFixtureNotShipped),
  },
  { files: ['packages/testkit/**/*.ts'], rules: walls(wall.testkitImportsNothing) },
  { files: ['packages/fleet-fixture/**/*.ts'], rules: walls(wall.fleetFixtureNoCli) },
  { files: ['packages/web/**/*.ts', 'packages/web/**/*.vue'], rules: walls(wall.browserNoDaemons, wall.browserNoNode) },
  {
    // The console's tests and its build config run in Node.
    files: ['packages/web/**/*.test.ts', 'packages/web/vite.config.ts'],
    rules: walls(wall.browserNoDaemons),
  },
];

export default tseslint.config(
  {
    ignores: [
      '**/dist/**',
      '**/node_modules/**',
      'packages/master/public/**',
      'packages/master/downloads/**',
      'coverage/**',
      'test-artifacts/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      globals: { ...globals.node },
      parserOptions: {
        project: ['./tsconfig.tests.json'],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // Empty catch blocks hide failures: handle, log or rethrow.
      'no-empty': ['error', { allowEmptyCatch: false }],
      'no-console': 'error',
    },
  },
  {
    // Entry points, scripts, benchmarks and tests talk to a person on the terminal.
    files: ['**/*.test.ts', '**/test/**', '**/bench/**', '**/scripts/**', 'packages/cli/src/**', 'e2e/**'],
    rules: {
      'no-console': 'off',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/unbound-method': 'off',
    },
  },
  {
    // What the agent's one-file bundle holds: zod's named `z` is a namespace of all of zod
    // (locales, JSON Schema), which esbuild cannot shake; `import * as z` lets it (docs/AGENT.md, "Cost").
    files: ['packages/agent/src/**/*.ts', 'packages/protocol/src/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: "ImportDeclaration[source.value='zod'][importKind!='type'] > ImportSpecifier[imported.name='z']",
          message: "import * as z from 'zod': the named z keeps all of zod in the agent's bundle.",
        },
      ],
    },
  },
  ...importWalls,
  {
    // The console runs in a browser and has its own tsconfig (DOM, Bundler resolution, .vue).
    files: ['packages/web/**/*.ts'],
    languageOptions: {
      globals: { ...globals.browser },
      parserOptions: { project: ['./packages/web/tsconfig.json'], tsconfigRootDir: import.meta.dirname },
    },
  },
  ...pluginVue.configs['flat/recommended'].map((config) => ({ ...config, files: ['packages/web/**/*.vue'] })),
  {
    // typescript-eslint cannot build a type-checked program of .vue files; vue-tsc type-checks them.
    files: ['packages/web/**/*.vue'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    files: ['packages/web/**/*.vue'],
    languageOptions: {
      parser: vueParser,
      globals: { ...globals.browser },
      parserOptions: { parser: tseslint.parser, extraFileExtensions: ['.vue'], sourceType: 'module' },
    },
    rules: { '@typescript-eslint/consistent-type-imports': 'off' },
  },
  { files: ['**/*.js', '**/*.cjs', '**/*.mjs'], ...tseslint.configs.disableTypeChecked },
  prettier,
);
