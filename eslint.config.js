// @ts-check
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

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
    files: ['packages/web/**/*.ts', 'packages/web/**/*.vue'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: ['@edgestelle/protocol/envelope', '@edgestelle/master', '@edgestelle/agent', 'node:*'] },
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
  { files: ['**/*.js', '**/*.cjs', '**/*.mjs'], ...tseslint.configs.disableTypeChecked },
  prettier,
);
