/**
 * Issue 10: fast-check over every HTTP route the master registers (enumerated from the router,
 * as api.test.ts does), authenticated as admin with an API token so that bodies and query
 * strings reach validation and the handlers behind it. Field names come from the route's own
 * OpenAPI description, so the generated inputs are near misses as well as noise. Requests go
 * through fastify's inject (no socket). No request may crash the master or get a 5xx; every
 * refusal under /api is a `{ code, message }` body; the heap does not grow with the cases.
 *
 * Sizes: CI runs CI_CASES per route (all routes together well over 10,000), each route also
 * bounded in time; `EDGESTELLE_FAULT_SCALE=long` runs 10,000 per route.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { join } from 'node:path';
import { enroll } from '@edgestelle/agent';
import { apiErrorSchema, joinTokenCreatedSchema, newId } from '@edgestelle/protocol';
import { recordFault, sized } from '@edgestelle/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startMaster } from '@edgestelle/fleet-fixture';

const CASES_PER_ROUTE = sized(400, 10_000);
/** A route that hashes passwords (scrypt, ~50 ms) stops here, whatever it reached. */
const MS_PER_ROUTE = sized(2_500, 300_000);
const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

function heapUsedAfterGc(): number {
  setFlagsFromString('--expose-gc');
  const gc: unknown = runInNewContext('gc');
  if (typeof gc === 'function') Reflect.apply(gc, undefined, []);
  return process.memoryUsage().heapUsed;
}

function jsonOrText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    if (err instanceof SyntaxError) return text;
    throw err;
  }
}

const openApiSchema = z.object({
  paths: z.record(
    z.string(),
    z.record(
      z.string(),
      z.object({
        parameters: z.array(z.object({ in: z.string(), name: z.string() })).optional(),
        requestBody: z
          .object({
            content: z.record(
              z.string(),
              z.object({ schema: z.object({ properties: z.record(z.string(), z.unknown()).optional() }) }),
            ),
          })
          .optional(),
      }),
    ),
  ),
});

/** Values that break naive parsers: huge, negative, fractional, special strings, deep nesting. */
const nastyScalar = fc.oneof(
  fc.constantFrom(
    '',
    ' ',
    '-1',
    '0',
    '1e309',
    'NaN',
    'null',
    'true',
    '9007199254740993',
    '../../etc/passwd',
    '%00',
    '\u0000',
    "'; DROP TABLE runs; --",
    '%',
    '_',
    '*',
    '\\',
    '💥',
    'a'.repeat(5000),
  ),
  fc.string({ maxLength: 40 }),
  fc.integer().map(String),
);
const nastyJson = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }),
  nastyScalar,
  fc.constantFrom(-1, 0, 1.5, 2 ** 53 + 2, -(2 ** 31), 1e308, Number.MAX_SAFE_INTEGER, true, false, null, [], {}),
);

describe('every HTTP route under fast-check', () => {
  it(
    'random and near-miss bodies and query strings: 0 crashes, 0 5xx, a JSON error for every refusal, heap stable',
    async () => {
      const routes: Array<{ method: string; url: string }> = [];
      await using stack = await startMaster({
        deps: {
          onRoute: (route) => {
            for (const method of [route.method].flat()) if (method !== 'HEAD') routes.push({ method, url: route.url });
          },
        },
      });
      const app = stack.master.app;
      // What the path parameters can name: something that exists (so handlers run past their
      // lookups) and something that does not. Nothing here is the admin or the admin's token.
      const viewer = await stack.master.auth.createUser('fuzz-viewer', 'fuzz-viewer-password', 'viewer');
      const spareToken = await stack.master.auth.createApiToken(viewer.userId, 'spare', null);
      const joinToken = await stack.admin.api('POST', '/api/v1/join-tokens', joinTokenCreatedSchema, { maxUses: 5 });
      const { credentials } = await enroll({
        masterUrl: stack.master.url,
        token: joinToken.token,
        stateDir: join(stack.dir, 'enrolled'),
        nodeId: 'fuzz-node',
        name: 'fuzz-node',
      });
      // The node never comes online: a job the fuzzer manages to create stays queued, nothing runs.
      const job = await stack.admin.createJob({
        target: { nodeIds: [credentials.nodeId] },
        spec: { command: 'true', timeoutMs: 60_000 },
      });
      const [run] = await stack.admin.runs(job.jobId);
      if (run === undefined) throw new Error('no run');
      const params: Record<string, string[]> = {
        nodeId: [credentials.nodeId, 'no-such-node'],
        jobId: [job.jobId, newId()],
        runId: [run.runId, newId()],
        name: ['no-such-script'],
        userId: [viewer.userId, newId()],
        sessionId: [newId()],
        '*': ['index.html', 'x/../../etc/passwd'],
      };
      const tokenIds = (url: string) => (url.includes('join-tokens') ? [joinToken.tokenId] : [spareToken.tokenId]);

      const openapi = openApiSchema.parse(
        (
          await app.inject({
            method: 'GET',
            url: '/api/docs/json',
            headers: { authorization: `Bearer ${stack.admin.token}` },
          })
        ).json(),
      );
      const describedFields = (method: string, url: string) => {
        const path = url.replace(/:(\w+)/g, '{$1}');
        const operation = openapi.paths[path]?.[method.toLowerCase()];
        const query = (operation?.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name);
        const body = Object.keys(operation?.requestBody?.content['application/json']?.schema.properties ?? {});
        return { query, body };
      };

      const heapBefore = heapUsedAfterGc();
      const rows: Array<{ route: string; cases: number; statuses: Record<string, number> }> = [];
      const failures: string[] = [];
      let total = 0;
      for (const { method, url } of routes) {
        const route = `${method} ${url}`;
        const fields = describedFields(method, url);
        const pathArb = fc
          .tuple(
            ...[...url.matchAll(/:(\w+)|\*/g)].map((m) => {
              const name = m[1] ?? '*';
              const known = name === 'tokenId' ? tokenIds(url) : (params[name] ?? ['x']);
              return fc.oneof(fc.constantFrom(...known), fc.string({ maxLength: 30 }), nastyScalar);
            }),
          )
          .map((values) => {
            let i = 0;
            return url.replace(/:(\w+)|\*/g, () => encodeURIComponent(values[i++] ?? ''));
          });
        const queryArb = fc
          .array(fc.tuple(fc.constantFrom(...fields.query, 'x', 'limit', 'cursor'), nastyScalar), { maxLength: 5 })
          .map((pairs) => new URLSearchParams(pairs).toString());
        const bodyArb = fc.oneof(
          // Near misses: the route's own fields with hostile values.
          fc
            .dictionary(fc.constantFrom(...fields.body, 'extra'), nastyJson, { maxKeys: 6 })
            .map((o) => ({ type: 'json' as const, payload: JSON.stringify(o) })),
          fc.jsonValue({ maxDepth: 5 }).map((v) => ({ type: 'json' as const, payload: JSON.stringify(v) ?? 'null' })),
          // Not JSON at all, though it says so.
          fc.string({ maxLength: 200 }).map((s) => ({ type: 'json' as const, payload: s })),
          fc.uint8Array({ maxLength: 200 }).map((b) => ({ type: 'other' as const, payload: Buffer.from(b) })),
        );
        const statuses: Record<string, number> = {};
        let cases = 0;
        await fc.assert(
          fc.asyncProperty(pathArb, queryArb, bodyArb, async (path, query, body) => {
            cases += 1;
            const withBody = WRITE_METHODS.has(method);
            const response = await app.inject({
              method,
              url: query === '' ? path : `${path}?${query}`,
              headers: {
                authorization: `Bearer ${stack.admin.token}`,
                ...(withBody
                  ? { 'content-type': body.type === 'json' ? 'application/json' : 'application/octet-stream' }
                  : {}),
              },
              ...(withBody ? { payload: body.payload } : {}),
            });
            const bucket = `${Math.floor(response.statusCode / 100)}xx`;
            statuses[bucket] = (statuses[bucket] ?? 0) + 1;
            if (response.statusCode >= 500) {
              failures.push(
                `${route}: ${response.statusCode} for ${method} ${path}?${query} ${String(body.payload).slice(0, 200)}`,
              );
            } else if (response.statusCode >= 400 && path.startsWith('/api/')) {
              const parsed = apiErrorSchema.safeParse(jsonOrText(response.body));
              if (!parsed.success)
                failures.push(`${route}: ${response.statusCode} without an error body: ${response.body.slice(0, 200)}`);
            }
          }),
          {
            numRuns: CASES_PER_ROUTE,
            interruptAfterTimeLimit: MS_PER_ROUTE,
            markInterruptAsFailure: false,
            endOnFailure: true,
          },
        );
        total += cases;
        rows.push({ route, cases, statuses });
      }
      const heapGrowth = heapUsedAfterGc() - heapBefore;
      // The master still answers and still counts.
      const metrics = await app.inject({
        method: 'GET',
        url: '/metrics',
        headers: { authorization: `Bearer ${stack.admin.token}` },
      });
      const fewest = rows.reduce((min, r) => Math.min(min, r.cases), Number.POSITIVE_INFINITY);
      recordFault({
        scenario: 'fast-check: every HTTP route, body + query + path (admin token)',
        load: `${routes.length} routes, ${total} cases (${fewest}–${CASES_PER_ROUTE} per route)`,
        faults: 'near-miss fields, random JSON, non-JSON, raw bytes, hostile path and query values',
        badInputs: total - rows.reduce((n, r) => n + (r.statuses['2xx'] ?? 0) + (r.statuses['3xx'] ?? 0), 0),
        lost: 0,
        doubled: 0,
        observed: {
          fiveXx: failures.length,
          heapGrowthMiB: Math.round(heapGrowth / 2 ** 20),
          slowRoutes: rows
            .filter((r) => r.cases < CASES_PER_ROUTE)
            .map((r) => `${r.route}=${r.cases}`)
            .join(', '),
        },
      });
      expect(routes.length).toBeGreaterThan(45);
      expect(failures.slice(0, 20)).toEqual([]);
      expect(metrics.statusCode).toBe(200);
      expect(heapGrowth).toBeLessThan(64 * 2 ** 20);
      expect(total).toBeGreaterThanOrEqual(sized(10_000, 10_000 * routes.length) * 0.5);
    },
    sized(240_000, 3_600_000),
  );
});
