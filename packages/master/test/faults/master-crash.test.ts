/**
 * Issue 10: the master killed with SIGKILL at four points of a run's life, and started again
 * on the same data. Each run must reach the right terminal state with its exit code and its
 * complete output (numbered lines, compared by hash), and be spawned exactly once.
 *
 * The master runs as a child process (`edgestelle master`, SQLite, external Mosquitto). Its
 * MQTT connection goes through a TCP proxy the test can hold in the master→broker direction:
 * that is how the test stops the master after it committed something and before what it
 * publishes next (a run command, an ack) reaches anyone — no hooks in the master.
 * Agents run in this process and talk to the broker directly.
 *
 * CI size by default; `EDGESTELLE_FAULT_SCALE=long` prints more lines per run.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  countNumberedLines,
  numberedLines,
  numberedLinesScript,
  recordFault,
  sized,
  startMosquitto,
  startTcpProxy,
} from '@edgestelle/testkit';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startMaster, waitFor, type ChildMaster, type InProcessAgent } from '@edgestelle/fleet-fixture';

const LINES = sized(2000, 20_000);

const cleanups: AsyncDisposable[] = [];
let master: ChildMaster;
let proxy: Awaited<ReturnType<typeof startTcpProxy>>;
let dir: string;
let dbFile: string;
const agents: InProcessAgent[] = [];

beforeAll(async () => {
  const broker = await startMosquitto();
  proxy = await startTcpProxy(broker.port);
  cleanups.push(broker, proxy);
  master = await startMaster({
    mode: 'child',
    config: { mqttUrl: `mqtt://${proxy.address}`, agentMqttUrl: broker.url },
  });
  cleanups.push(master);
  dir = master.dir;
  dbFile = join(dir, 'master', 'edgestelle.db');
  for (const nodeId of ['crash-1', 'crash-2']) agents.push(await master.startAgent(nodeId));
}, 120_000);

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup[Symbol.asyncDispose]();
});

/** A run's row as the master committed it, read from its SQLite file by a second process. */
function committedRuns(jobId: string): Array<{ run_id: string; node_id: string; state: string }> {
  const db = new Database(dbFile, { readonly: true, fileMustExist: true });
  try {
    return z
      .array(z.object({ run_id: z.string(), node_id: z.string(), state: z.string() }))
      .parse(db.prepare('SELECT run_id, node_id, state FROM runs WHERE job_id = ? ORDER BY node_id').all(jobId));
  } finally {
    db.close();
  }
}

function spawnsIn(path: string): number {
  return existsSync(path) ? readFileSync(path, 'utf8').split('\n').length - 1 : 0;
}

/** SIGKILL, drop whatever the proxy still holds, and start the master again on the same data. */
async function crashAndRestart(beforeRestart: () => void = () => undefined): Promise<void> {
  await master.kill();
  proxy.cut();
  proxy.heal();
  beforeRestart();
  await master.start();
}

async function expectComplete(runId: string, label: string, exitCode: number, spawnLog: string) {
  const run = await master.admin.waitRun(runId, (r) => r.complete, 90_000);
  const stored = await master.admin.rawOutput(runId);
  const count = countNumberedLines(stored, LINES, label);
  return { run, count, spawns: spawnsIn(spawnLog), exitCodeOk: run.exitCode === exitCode };
}

describe('master killed with SIGKILL', () => {
  it('after its runs are claimed as sent and before their commands reach the broker: both runs start once and complete', async () => {
    const spawnLog = join(dir, 'spawns-queued');
    proxy.hold('toServer');
    // The job's creation answers only once its commands are published, which the hold prevents.
    const creation = master.admin
      .createJob({
        target: { nodeIds: ['crash-1', 'crash-2'] },
        spec: {
          command: `echo spawn >> '${spawnLog}'; ${numberedLinesScript(LINES, 'q', 200)}`,
          timeoutMs: 120_000,
        },
      })
      .catch((err: unknown) => err);
    let rows: ReturnType<typeof committedRuns> = [];
    await waitFor(
      'a run claimed as sent',
      () => {
        const db = new Database(dbFile, { readonly: true });
        const job = z
          .object({ job_id: z.string() })
          .optional()
          .parse(db.prepare('SELECT job_id FROM jobs ORDER BY created_at DESC LIMIT 1').get());
        db.close();
        rows = job === undefined ? [] : committedRuns(job.job_id);
        return rows.some((r) => r.state === 'sent');
      },
      { timeoutMs: 20_000 },
    );
    // Both runs are claimed (`sent`) by one update, and both publishes are held.
    expect(rows.map((r) => r.state)).toEqual(['sent', 'sent']);
    expect(spawnsIn(spawnLog)).toBe(0);
    await crashAndRestart();
    expect(await creation).toBeInstanceOf(Error);

    const results = await Promise.all(rows.map((r) => expectComplete(r.run_id, 'q', 0, spawnLog)));
    const lost = results.reduce((sum, r) => sum + r.count.lost, 0);
    const doubled = results.reduce((sum, r) => sum + r.count.doubled, 0);
    recordFault({
      scenario: 'master SIGKILL after sent, before publish',
      load: `2 runs x ${LINES} lines`,
      faults: '1 master kill',
      badInputs: 0,
      lost,
      doubled,
      observed: { spawns: spawnsIn(spawnLog), states: results.map((r) => r.run.state).join(',') },
    });
    for (const { run, count, exitCodeOk } of results) {
      expect(run.state).toBe('succeeded');
      expect(exitCodeOk).toBe(true);
      expect(count).toEqual({ lost: 0, doubled: 0, foreign: 0, hashMatches: true });
    }
    expect(spawnsIn(spawnLog)).toBe(2);
  }, 180_000);

  it('after the agent accepted a run and before any output: it runs once and completes', async () => {
    const spawnLog = join(dir, 'spawns-accepted');
    const go = join(dir, 'go-accepted');
    const job = await master.admin.createJob({
      target: { nodeIds: ['crash-1'] },
      spec: {
        command: `echo spawn >> '${spawnLog}'; while [ ! -e '${go}' ]; do sleep 0.02; done; ${numberedLinesScript(LINES, 'a', 200)}`,
        timeoutMs: 120_000,
      },
    });
    const [queued] = await master.admin.runs(job.jobId);
    if (queued === undefined) throw new Error('no run');
    await master.admin.waitRun(queued.runId, (r) => r.state === 'accepted' || r.state === 'running', 20_000);
    const redeliveries = agents[0]?.agent.stats().redeliveries ?? 0;
    // The script prints while no master is there: the agent spools it.
    await crashAndRestart(() => writeFileSync(go, ''));
    const { run, count, spawns, exitCodeOk } = await expectComplete(queued.runId, 'a', 0, spawnLog);
    recordFault({
      scenario: 'master SIGKILL after accepted',
      load: `1 run x ${LINES} lines`,
      faults: '1 master kill',
      badInputs: 0,
      lost: count.lost,
      doubled: count.doubled,
      observed: {
        spawns,
        state: run.state,
        agentRedeliveries: (agents[0]?.agent.stats().redeliveries ?? 0) - redeliveries,
      },
    });
    expect(run.state).toBe('succeeded');
    expect(exitCodeOk).toBe(true);
    expect(count).toEqual({ lost: 0, doubled: 0, foreign: 0, hashMatches: true });
    expect(spawns).toBe(1);
  }, 180_000);

  it('mid-output: the output is complete, in order, once', async () => {
    const spawnLog = join(dir, 'spawns-mid');
    const job = await master.admin.createJob({
      target: { nodeIds: ['crash-2'] },
      spec: {
        command: `echo spawn >> '${spawnLog}'; ${numberedLinesScript(LINES, 'm', 50, 0.05)}`,
        timeoutMs: 120_000,
      },
    });
    const [first] = await master.admin.runs(job.jobId);
    if (first === undefined) throw new Error('no run');
    const before = await master.admin.waitRun(first.runId, (r) => r.chunkCount >= 3, 30_000);
    await crashAndRestart();
    const { run, count, spawns, exitCodeOk } = await expectComplete(first.runId, 'm', 0, spawnLog);
    recordFault({
      scenario: 'master SIGKILL mid-output',
      load: `1 run x ${LINES} lines`,
      faults: '1 master kill',
      badInputs: 0,
      lost: count.lost,
      doubled: count.doubled,
      observed: { spawns, chunksBeforeKill: before.chunkCount, chunks: run.chunkCount },
    });
    expect(before.state).toBe('running');
    expect(run.state).toBe('succeeded');
    expect(exitCodeOk).toBe(true);
    expect(count).toEqual({ lost: 0, doubled: 0, foreign: 0, hashMatches: true });
    expect(spawns).toBe(1);
  }, 180_000);

  it('after it committed `exited` and before its ack reaches the agent: the agent re-sends, the run keeps exit code 3', async () => {
    const spawnLog = join(dir, 'spawns-exited');
    const go = join(dir, 'go-exited');
    const job = await master.admin.createJob({
      target: { nodeIds: ['crash-1'] },
      spec: {
        command: `echo spawn >> '${spawnLog}'; ${numberedLinesScript(LINES, 'e', 200)}; while [ ! -e '${go}' ]; do sleep 0.02; done; exit 3`,
        timeoutMs: 120_000,
      },
    });
    const [first] = await master.admin.runs(job.jobId);
    if (first === undefined) throw new Error('no run');
    const agent = agents[0];
    if (agent === undefined) throw new Error('no agent');
    await master.admin.waitRun(first.runId, (r) => r.outputBytes === numberedLines(LINES, 'e').length, 60_000);
    // From here nothing the master publishes gets out; it still hears the agent.
    proxy.hold('toServer');
    writeFileSync(go, '');
    const committed = await master.admin.waitRun(first.runId, (r) => r.state === 'failed', 30_000);
    expect(committed.exitCode).toBe(3);
    // The ack for `exited` is held in the proxy, so the agent still keeps it.
    expect(agent.agent.stats().spoolBytes).toBeGreaterThan(0);
    await crashAndRestart();
    await waitFor('the re-sent exited to be acknowledged', () => agent.agent.stats().spoolBytes === 0, {
      timeoutMs: 30_000,
    });
    const { run, count, spawns, exitCodeOk } = await expectComplete(first.runId, 'e', 3, spawnLog);
    recordFault({
      scenario: 'master SIGKILL after exited, before its ack',
      load: `1 run x ${LINES} lines`,
      faults: '1 master kill',
      badInputs: 0,
      lost: count.lost,
      doubled: count.doubled,
      observed: { spawns, state: run.state, exitCode: run.exitCode ?? 'null' },
    });
    expect(run.state).toBe('failed');
    expect(exitCodeOk).toBe(true);
    expect(count).toEqual({ lost: 0, doubled: 0, foreign: 0, hashMatches: true });
    expect(spawns).toBe(1);
  }, 180_000);
});
