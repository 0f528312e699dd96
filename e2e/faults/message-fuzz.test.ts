/**
 * Issue 10: fast-check over every MQTT message schema, through the whole receive path
 * (`openMessage`: topic, envelope, body codec, schema, freshness) with the right key — what a
 * holder of a node key could send. Every case must either open as a message that survives a
 * second seal/open unchanged, or be refused with a ProtocolError; nothing else may escape,
 * and the heap must not grow with the number of cases.
 *
 * CI: 10,000 cases per message kind. `EDGESTELLE_FAULT_SCALE=long`: 100,000 per kind.
 */
import { randomBytes } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { isProtocolError, newId, Topics, type Message } from '@edgestelle/protocol';
import { encodeBody, openMessage, sealEnvelope, sealMessage, type SealingKey } from '@edgestelle/protocol/envelope';
import { recordFault, sized } from '@edgestelle/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

const topics = new Topics();
const nodeId = 'fuzz-node';
const key: SealingKey = { keyId: 1, key: randomBytes(32) };
const CASES = sized(10_000, 100_000);
const runId = newId();

const facts = {
  hostname: 'h',
  os: 'linux',
  osRelease: '12',
  arch: 'x64',
  kernel: '6.1',
  agentVersion: '0.1.0',
  tags: { site: 'lab' },
  cpuCount: 2,
  loadAvg: [0.1, 0.2, 0.3],
  memTotalBytes: 1,
  memAvailableBytes: 1,
  diskTotalBytes: 1,
  diskFreeBytes: 1,
  uptimeSec: 1,
  runningRuns: 0,
  maxConcurrentRuns: 4,
  capabilities: { pty: false, runAs: false },
};

/** One valid message of every kind, each on its channel: the seeds the mutations start from. */
const seeds: Array<{ channel: 'cmd' | 'evt' | 'state'; message: Message }> = [
  {
    channel: 'cmd',
    message: {
      kind: 'run',
      runId,
      jobId: newId(),
      deadlineAt: Date.now() + 60_000,
      spec: { command: 'echo hi', args: [], env: { A: '1' }, timeoutMs: 1000, killGraceMs: 100, pty: false },
    },
  },
  { channel: 'cmd', message: { kind: 'cancel', runId } },
  { channel: 'cmd', message: { kind: 'ack', runs: [{ runId, seq: 3 }] } },
  { channel: 'cmd', message: { kind: 'ping', pingId: newId() } },
  { channel: 'evt', message: { kind: 'accepted', runId } },
  { channel: 'evt', message: { kind: 'started', runId, startedAt: 1, pid: 42 } },
  { channel: 'evt', message: { kind: 'output', runId, seq: 0, stream: 'stdout', data: Buffer.from('line\n') } },
  {
    channel: 'evt',
    message: {
      kind: 'exited',
      runId,
      seq: 1,
      outcome: 'succeeded',
      exitCode: 0,
      signal: null,
      startedAt: 1,
      endedAt: 2,
      peakRssBytes: null,
      outputBytes: 5,
      outputTruncated: false,
    },
  },
  { channel: 'evt', message: { kind: 'rejected', runId, code: 'expired', reason: 'late' } },
  { channel: 'evt', message: { kind: 'pong', pingId: newId() } },
  { channel: 'state', message: { kind: 'state', online: true, connectionSeq: 1, beat: 0, facts } },
];

/** Values a hostile sender would try in any field. */
const nasty = fc.oneof(
  fc.jsonValue(),
  fc.constantFrom(
    '',
    '\u0000',
    '__proto__',
    'constructor',
    '../../etc/passwd',
    '💥'.repeat(1000),
    'x'.repeat(200_000),
    -1,
    -0,
    2 ** 53,
    1e308,
    Number.MAX_SAFE_INTEGER,
    null,
    true,
    [],
    {},
  ),
);

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

/** The seed with one field (top level or one level down) replaced, deleted or added. */
function mutate(seed: object, path: readonly string[], value: unknown, op: 'set' | 'delete'): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...seed };
  const [head, next] = path;
  if (head === undefined) return copy;
  const inner: unknown = copy[head];
  if (next !== undefined && isRecord(inner)) {
    copy[head] = mutate(inner, [next], value, op);
  } else if (op === 'delete') {
    delete copy[head];
  } else {
    copy[head] = value;
  }
  return copy;
}

function pathsOf(seed: object): string[][] {
  const out: string[][] = [['extra'], ['__proto__']];
  for (const [k, v] of Object.entries(seed) as Array<[string, unknown]>) {
    out.push([k]);
    if (isRecord(v)) {
      for (const inner of Object.keys(v)) out.push([k, inner]);
      out.push([k, 'extra']);
    }
  }
  return out;
}

/** JSON body bytes as the codec frames them, for bodies encodeBody would not produce. */
function frame(json: string, tail: Uint8Array = new Uint8Array(0)): Uint8Array {
  const bytes = Buffer.from(json, 'utf8');
  const body = Buffer.alloc(4 + bytes.byteLength + tail.byteLength);
  body.writeUInt32BE(bytes.byteLength, 0);
  bytes.copy(body, 4);
  body.set(tail, 4 + bytes.byteLength);
  return body;
}

function heapUsedAfterGc(): number {
  setFlagsFromString('--expose-gc');
  const gc: unknown = runInNewContext('gc');
  if (typeof gc === 'function') Reflect.apply(gc, undefined, []);
  return process.memoryUsage().heapUsed;
}

const keyFor = (n: string, k: number) => (n === nodeId && k === key.keyId ? key.key : undefined);

/** Opens what was sealed; returns 'opened' or the refusal code, and throws anything else. */
function receive(topic: string, payload: Buffer): string {
  try {
    const opened = openMessage(topics, topic, payload, { keyFor });
    // What opened must survive a second trip unchanged: no field the schema let through is lost.
    const again = openMessage(topics, topic, sealMessage(topic, opened.message, key), { keyFor });
    expect(again.message).toEqual(opened.message);
    return 'opened';
  } catch (err) {
    if (isProtocolError(err)) return err.code;
    throw err;
  }
}

describe('message schemas under fast-check', () => {
  it.each(seeds.map((s) => [s.message.kind, s] as const))(
    '%s: mutated, random and malformed bodies open cleanly or are refused with a reason',
    (kind, seed) => {
      const topic = topics.node(nodeId, seed.channel);
      const verdicts = new Map<string, number>();
      const count = (v: string) => verdicts.set(v, (verdicts.get(v) ?? 0) + 1);
      const heapBefore = heapUsedAfterGc();
      const body = fc.oneof(
        // One field of a valid message changed, removed or added.
        fc
          .record({
            path: fc.constantFrom(...pathsOf(seed.message)),
            value: nasty,
            op: fc.constantFrom<'set' | 'delete'>('set', 'delete'),
          })
          .map(({ path, value, op }) => encodeBody(mutate(seed.message, path, value, op))),
        // Any JSON at all, or any object, under the right kind.
        fc.jsonValue().map((value) => frame(JSON.stringify(value) ?? 'null')),
        fc.dictionary(fc.string(), fc.jsonValue() as fc.Arbitrary<Json>).map((value) => encodeBody({ ...value, kind })),
        // Framing attacks: bad lengths, raw bytes, data both in JSON and as a tail.
        fc.uint8Array({ maxLength: 512 }),
        fc
          .tuple(fc.jsonValue(), fc.uint8Array({ minLength: 1, maxLength: 64 }))
          .map(([value, tail]) => frame(JSON.stringify({ kind, data: value }), tail)),
      );
      fc.assert(
        fc.property(body, (plaintext) => {
          count(receive(topic, sealEnvelope(topic, plaintext, key)));
        }),
        { numRuns: CASES },
      );
      const heapGrowth = heapUsedAfterGc() - heapBefore;
      const refused = CASES - (verdicts.get('opened') ?? 0);
      recordFault({
        scenario: `fast-check: ${seed.channel} ${kind} message`,
        load: `${CASES} cases`,
        faults: 'mutated fields, random JSON, raw bytes, framing',
        badInputs: refused,
        lost: 0,
        doubled: 0,
        observed: { ...Object.fromEntries(verdicts), heapGrowthMiB: Math.round(heapGrowth / 2 ** 20) },
      });
      // Only the protocol's own refusals: the schema's, or the codec's.
      expect(
        [...verdicts.keys()].every((v) =>
          ['opened', 'body_invalid', 'body_malformed', 'command_stale', 'command_from_future'].includes(v),
        ),
      ).toBe(true);
      expect(verdicts.get('body_invalid') ?? 0).toBeGreaterThan(0);
      expect(heapGrowth).toBeLessThan(64 * 2 ** 20);
    },
    120_000,
  );
});
