/**
 * Issue 17, item 5: an agent whose spool is damaged while it is down (a torn or garbage
 * segment, or something that is not a plain file where a segment should be) still reports the
 * run's end with its real exit code, at once, plus a `system` line naming the output it lost.
 *
 * A real master (SQLite, embedded broker) and a real agent (in this process, its MQTT through a
 * TCP proxy): the run waits for a gate file, the proxy is blackholed, the gate opens, so the
 * run's whole output and exit stay in the agent's spool. The agent stops, the test damages the
 * spool as each case says, heals the proxy and starts the agent again.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { outputPageSchema, type ChunkDto } from '@edgestelle/protocol';
import { startTcpProxy } from '@edgestelle/testkit';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startMaster, waitFor } from '@edgestelle/fleet-fixture';

const LINES = 20;
const EXIT_CODE = 7;
const SCRIPT = `while [ ! -e "$GATE" ]; do sleep 0.02; done; for i in $(seq 1 ${LINES}); do echo "line $i"; sleep 0.03; done; exit ${EXIT_CODE}`;

interface Damage {
  name: string;
  /** Damages the run's one segment; returns a check to make once the run has ended. */
  apply(spoolDir: string, runId: string, outside: string): () => void;
}

const segmentName = (runId: string): string => `${runId}.0000000000.seg`;

const damages: Damage[] = [
  {
    name: 'a truncated segment',
    apply(spoolDir, runId) {
      const segment = join(spoolDir, segmentName(runId));
      truncateSync(segment, Math.floor(readFileSync(segment).byteLength / 2));
      return () => undefined;
    },
  },
  {
    name: 'a garbage segment',
    apply(spoolDir, runId) {
      const segment = join(spoolDir, segmentName(runId));
      const bytes = readFileSync(segment);
      randomBytes(64).copy(bytes, Math.floor(bytes.byteLength / 3));
      writeFileSync(segment, bytes);
      return () => undefined;
    },
  },
  {
    name: 'a directory named like a segment',
    apply(spoolDir, runId, outside) {
      renameSync(join(spoolDir, segmentName(runId)), join(outside, 'moved.seg'));
      mkdirSync(join(spoolDir, segmentName(runId)));
      return () => undefined;
    },
  },
  {
    name: 'a directory named like a segment in a run folder of an earlier agent',
    apply(spoolDir, runId, outside) {
      renameSync(join(spoolDir, segmentName(runId)), join(outside, 'moved.seg'));
      mkdirSync(join(spoolDir, runId, '0000000000.seg'), { recursive: true });
      return () => undefined;
    },
  },
  {
    name: 'a symlink named like a segment, pointing outside',
    apply(spoolDir, runId, outside) {
      const target = join(outside, 'target.seg');
      renameSync(join(spoolDir, segmentName(runId)), target);
      const before = readFileSync(target);
      symlinkSync(target, join(spoolDir, segmentName(runId)));
      return () => expect(readFileSync(target).equals(before)).toBe(true);
    },
  },
];

describe('a damaged agent spool', () => {
  for (const damage of damages) {
    it(`reports the run's real exit and the lost output at once: ${damage.name}`, async () => {
      await using stack = await startMaster();
      await using proxy = await startTcpProxy(Number(new URL(stack.master.brokerUrl).port));
      const agent = await stack.startAgent('spool-1', { settings: { mqttUrl: `mqtt://${proxy.address}` } });
      const gate = join(stack.dir, 'gate');
      const job = await stack.admin.createJob({
        target: { nodeIds: ['spool-1'] },
        spec: { command: SCRIPT, env: { GATE: gate }, timeoutMs: 60_000 },
      });
      const [first] = await stack.admin.runs(job.jobId);
      const runId = first?.runId ?? '';
      await stack.admin.waitRun(runId, (r) => r.state === 'running');

      // Nothing the run prints from here reaches the master before the damage.
      proxy.blackhole();
      await writeFile(gate, '');
      // The agent's ledger line for the exit: how many chunks the run printed.
      const exitedLine = (): string | undefined =>
        readFileSync(join(agent.stateDir, 'ledger.jsonl'), 'utf8')
          .split('\n')
          .find((line) => line.includes(`"runId":"${runId}"`) && line.includes('"state":"exited"'));
      await waitFor('the run to exit on the agent', () => exitedLine() !== undefined, { timeoutMs: 20_000 });
      const chunkCount = z.object({ exited: z.object({ seq: z.number() }) }).parse(JSON.parse(exitedLine() ?? ''))
        .exited.seq;
      await agent.stop();
      const outside = join(stack.dir, 'outside');
      mkdirSync(outside);
      const check = damage.apply(join(agent.stateDir, 'spool'), runId, outside);
      // What the stopped agent left held in the proxy must never arrive.
      proxy.cut();
      proxy.heal();
      await agent.start();

      const run = await stack.admin.waitRun(runId, (r) => r.complete, 20_000);
      expect(run).toMatchObject({ state: 'failed', exitCode: EXIT_CODE });
      const page = await stack.admin.api('GET', `/api/v1/runs/${runId}/output?limit=1000`, outputPageSchema);
      const text = (c: ChunkDto): string => Buffer.from(c.data, 'base64').toString();
      const note = page.chunks.at(-1);
      expect(note?.stream).toBe('system');
      expect(note === undefined ? '' : text(note)).toMatch(
        new RegExp(`output lost here: .*seq ${note?.seq ?? -1}–${chunkCount - 1}\\b`),
      );
      // What came before the note is the run's output, in order, from its first line.
      const before = page.chunks.slice(0, -1).map(text).join('');
      expect(
        Array.from({ length: LINES }, (_, i) => `line ${i + 1}\n`)
          .join('')
          .startsWith(before),
      ).toBe(true);
      check();

      // The agent carries on: the next run goes through.
      const next = await stack.admin.createJob({
        target: { nodeIds: ['spool-1'] },
        spec: { command: 'echo after', timeoutMs: 10_000 },
      });
      const [nextRun] = await stack.admin.runs(next.jobId);
      await stack.admin.waitRun(nextRun?.runId ?? '', (r) => r.state === 'succeeded' && r.complete);
    }, 60_000);
  }
});
