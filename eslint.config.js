// @ts-check
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import pluginVue from 'eslint-plugin-vue';
import globals from 'globals';
import tseslint from 'typescript-eslint';
import vueParser from 'vue-eslint-parser';

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'packages/master/public/**', 'coverage/**', 'test-artifacts/**'] },
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
    // Import boundaries (DESIGN.md): the agent never imports the master, the browser never
    // touches node:crypto envelopes, and the CLI's client verbs talk HTTP only.
    files: ['packages/agent/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: ['@edgestelle/master', '@edgestelle/master/*'] }] },
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
  {
    files: ['packages/web/**/*.ts', 'packages/web/**/*.vue'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            '@edgestelle/protocol/envelope',
            '@edgestelle/protocol/private-files',
            '@edgestelle/master',
            '@edgestelle/agent',
            'node:*',
          ],
        },
      ],
    },
  },
  {
    // Tests and the build config of the console run in Node.
    files: ['packages/web/**/*.test.ts', 'packages/web/vite.config.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: ['@edgestelle/protocol/envelope', '@edgestelle/master', '@edgestelle/agent'] },
      ],
    },
  },
  {
    files: ['packages/cli/src/**/*.ts'],
    ignores: ['packages/cli/src/daemons.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: ['@edgestelle/master', '@edgestelle/agent', '@edgestelle/protocol/envelope'] },
      ],
    },
  },
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
