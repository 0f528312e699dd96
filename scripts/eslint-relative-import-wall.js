// @ts-check
/**
 * ESLint rule: a relative import never crosses a package boundary. Each packages/<name> is a
 * package; everything else (bench/, e2e/, deploy/, scripts/, the configs) belongs to the root
 * package. Packages reach each other by name, so every edge shows in package.json and goes
 * through the package's exports; a `../../..` path hides the edge from both. One exception: the
 * root package's benches and tests may borrow a package's test helpers (packages/<name>/test/),
 * which no package exports.
 */
import { dirname, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/**
 * The package an absolute path belongs to: `packages/<name>`, `.` (the root package), or null
 * (outside the repository). `test` is true inside that package's test/ folder.
 * @param {string} path
 */
function packageOf(path) {
  const parts = relative(root, path).split(sep);
  if (parts[0] === '..') return { name: null, test: false };
  if (parts[0] === 'packages' && parts.length > 2) {
    return { name: `packages/${parts[1]}`, test: parts.length > 3 && parts[2] === 'test' };
  }
  return { name: '.', test: false };
}

/** @type {import('eslint').Rule.RuleModule} */
export const relativeImportWall = {
  meta: {
    type: 'problem',
    docs: { description: 'relative imports stay inside their package' },
    schema: [],
    messages: {
      outside: '"{{ source }}" points outside the repository.',
      across:
        '"{{ source }}" leaves {{ from }} for {{ to }}: import the package by name (@edgestelle/…), or move the code where both can reach it.',
    },
  },
  create(context) {
    const from = packageOf(context.filename).name;
    /** @param {import('estree').Node | null | undefined} node */
    const check = (node) => {
      if (node?.type !== 'Literal' || typeof node.value !== 'string' || !node.value.startsWith('.')) return;
      const source = node.value;
      const to = packageOf(resolve(dirname(context.filename), source));
      if (to.name === null) {
        context.report({ node, messageId: 'outside', data: { source } });
      } else if (to.name !== from && !(from === '.' && to.test)) {
        context.report({ node, messageId: 'across', data: { source, from: from ?? '?', to: to.name } });
      }
    };
    return {
      ImportDeclaration: (node) => check(node.source),
      ExportAllDeclaration: (node) => check(node.source),
      ExportNamedDeclaration: (node) => check(node.source),
      ImportExpression: (node) => check(node.source),
    };
  },
};
