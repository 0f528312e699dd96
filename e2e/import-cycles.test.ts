/**
 * No package's src has an import circle. Type-only imports count: a type shared by two modules
 * that import each other belongs in a third both import. Only relative imports are followed;
 * edges between packages are walls in eslint.config.js and project references in tsc -b, which
 * refuse circles themselves.
 *
 * Why a test and not import-x/no-cycle: that rule skips `import type`, so it would have missed
 * the master's circles through ApiDeps and Store, and it added ~20 s of CPU to `npm run lint`.
 */
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { tempDir } from '@edgestelle/testkit';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');
const SOURCE = /\.(ts|vue)$/;

type Graph = ReadonlyMap<string, readonly string[]>;

function sourceFiles(): string[] {
  const packages = join(ROOT, 'packages');
  return readdirSync(packages)
    .map((name) => join(packages, name, 'src'))
    .filter((src) => existsSync(src))
    .flatMap((src) => readdirSync(src, { recursive: true, encoding: 'utf8' }).map((file) => join(src, file)))
    .filter((file) => SOURCE.test(file));
}

/** A .vue file's imports are in its <script> blocks. */
function scriptText(file: string): string {
  const text = readFileSync(file, 'utf8');
  if (!file.endsWith('.vue')) return text;
  return [...text.matchAll(/<script\b[^>]*>([\s\S]*?)<\/script>/g)].map((m) => m[1] ?? '').join('\n');
}

/** Every file's relative imports (static, type-only, re-exports, dynamic) that land on another source file. */
function importGraph(files: readonly string[]): Graph {
  const known = new Set(files);
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const imports = ts.preProcessFile(scriptText(file), true, true).importedFiles.map((i) => i.fileName);
    const targets = imports
      .filter((spec) => spec.startsWith('.'))
      .map((spec) => resolve(dirname(file), spec))
      .map((path) =>
        [path, path.replace(/\.js$/, '.ts'), `${path}.ts`, join(path, 'index.ts')].find((p) => known.has(p)),
      )
      .filter((path): path is string => path !== undefined);
    graph.set(file, [...new Set(targets)]);
  }
  return graph;
}

/** One circle per strongly connected set of files (Tarjan), each as a path that ends where it starts. */
function importCycles(graph: Graph): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (file: string): void => {
    index.set(file, next);
    low.set(file, next);
    next += 1;
    stack.push(file);
    onStack.add(file);
    for (const target of graph.get(file) ?? []) {
      if (!index.has(target)) {
        visit(target);
        low.set(file, Math.min(low.get(file) ?? 0, low.get(target) ?? 0));
      } else if (onStack.has(target)) {
        low.set(file, Math.min(low.get(file) ?? 0, index.get(target) ?? 0));
      }
    }
    if (low.get(file) !== index.get(file)) return;
    const members = new Set<string>();
    let member: string | undefined;
    do {
      member = stack.pop();
      if (member === undefined) break;
      onStack.delete(member);
      members.add(member);
    } while (member !== file);
    if (members.size > 1 || (graph.get(file) ?? []).includes(file)) cycles.push(circleThrough(file, members, graph));
  };
  for (const file of graph.keys()) if (!index.has(file)) visit(file);
  return cycles;
}

/** The shortest way from `start` back to itself inside its strongly connected set. */
function circleThrough(start: string, members: ReadonlySet<string>, graph: Graph): string[] {
  const cameFrom = new Map<string, string>();
  const queue = [start];
  for (let i = 0; i < queue.length; i += 1) {
    const file = queue[i] ?? start;
    for (const target of graph.get(file) ?? []) {
      if (target === start) {
        const path = [start];
        for (let at: string | undefined = file; at !== undefined && at !== start; at = cameFrom.get(at)) {
          path.splice(1, 0, at);
        }
        return [...path, start];
      }
      if (members.has(target) && !cameFrom.has(target)) {
        cameFrom.set(target, file);
        queue.push(target);
      }
    }
  }
  return [start, start];
}

describe('import circles', () => {
  it('are found through type-only imports, re-exports and .vue scripts, named file by file', async () => {
    await using dir = await tempDir('edgestelle-cycles-');
    const file = (name: string, text: string): string => {
      writeFileSync(join(dir.path, name), text);
      return join(dir.path, name);
    };
    const files = [
      file('app.ts', "import type { Deps } from './deps.ts';\nexport const app = (deps: Deps) => deps;\n"),
      file('deps.ts', "export { routes } from './routes.ts';\nexport interface Deps { a: number }\n"),
      file('routes.ts', "import { app } from './app.ts';\nexport const routes = [app];\n"),
      file('leaf.ts', "import { app } from './app.ts';\nexport const leaf = app;\n"),
      file(
        'Page.vue',
        '<template><p/></template>\n<script setup lang="ts">\nimport Other from \'./Other.vue\';\n</script>\n',
      ),
      file('Other.vue', '<script setup lang="ts">\nimport Page from \'./Page.vue\';\n</script>\n'),
    ];
    const circles = importCycles(importGraph(files)).map((circle) => circle.map((f) => relative(dir.path, f)));
    expect(circles).toHaveLength(2);
    expect(circles).toContainEqual(['app.ts', 'deps.ts', 'routes.ts', 'app.ts']);
    expect(circles.find((circle) => circle[0]?.endsWith('.vue'))).toHaveLength(3);
  });

  it('has none in any package src', () => {
    const graph = importGraph(sourceFiles());
    // The graph is real: the master's factory alone imports dozens of its own modules.
    expect([...graph.values()].reduce((edges, targets) => edges + targets.length, 0)).toBeGreaterThan(300);
    const circles = importCycles(graph).map((circle) => circle.map((file) => relative(ROOT, file)).join(' → '));
    expect(circles, 'move what both sides need into a module both import').toEqual([]);
  });
});
