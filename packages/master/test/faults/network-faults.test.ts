/**
 * Issue 10: the real master (in this process) and a real agent under infrastructure faults —
 * the broker SIGKILLed and restarted during a job, the agent cut off from the broker by a
 * blackholing TCP proxy, and PostgreSQL restarted during ingest. Output lines are numbered:
 * the stored output is counted for loss and duplication and compared by hash.
 *
 * CI size by default; `EDGESTELLE_FAULT_SCALE=long` for more lines, more kills, and a cut
 * that also outlasts the agent's keepalive.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  countNumberedLines,
  metricSum,
  numberedLinesScript,
  recordFault,
  sized,
  startMosquitto,
  startPostgresCluster,
  startTcpProxy,
} from '@edgestelle/testkit';
import { describe, expect, it } from 'vitest';
import { type InProcessMaster, startMaster, waitFor } from '@edgestelle/fleet-fixture';

const MiB = 1024 * 1024;

/** Bytes under a folder, for a spool the agent's stats are not reachable from here. */
function folderBytes(path: string): number {
  let total = 0;
  let entries: string[];
  try {
    entries = readdirSync(path);
  } catch (err) {
    if (err instanceof Error && 'code' in err && err.code === 'ENOENT') return 0;
    throw err;
  }
  for (const name of entries) {
    const full = join(path, name);
    const info = statSync(full, { throwIfNoEntry: false });
    if (info === undefined) continue;
    total += info.isDirectory() ? folderBytes(full) : info.size;
  }
  return total;
}

/**
 * What the master's /metrics says once a run is complete: its ingest refusals (none expected:
 * nothing forged was sent), and the commits it made, after every pending ack has gone out.
 */
async function ingestCounters(stack: InProcessMaster): Promise<{ rejected: number; chunksCommitted: number }> {
  const scrape = async () => (await stack.admin.request('GET', '/metrics')).text();
  await waitFor('acks to drain', async () => metricSum(await scrape(), 'edgestelle_ingest_acks_pending') === 0, {
    timeoutMs: 20_000,
  });
  const text = await scrape();
  return {
    rejected: metricSum(text, 'edgestelle_envelopes_rejected_total'),
    chunksCommitted: metricSum(text, 'edgestelle_ingest_chunks_total'),
  };
}

describe('infrastructure faults under a running job', () => {
  it(
    'broker SIGKILLed and restarted during a job: every line stored once, one spawn',
    async () => {
      await using broker = await startMosquitto();
      await using stack = await startMaster({ config: { mqttUrl: broker.url, mqttPort: undefined } });
      const agent = await stack.startAgent('bk-1');
      const lines = sized(10_000, 100_000);
      const kills = sized(5, 20);
      const job = await stack.admin.createJob({
        target: { nodeIds: [agent.nodeId] },
        // ~40 s of printing (CI), ~150 s (long, 20 kills): long enough for every kill to land while the script runs.
        spec: {
          command: numberedLinesScript(lines, 'b', Math.ceil(lines / 100), sized(0.4, 1.5)),
          timeoutMs: 600_000,
        },
      });
      const [run] = await stack.admin.runs(job.jobId);
      if (run === undefined) throw new Error('no run');
      let killedWhileRunning = 0;
      let stored = 0;
      for (let k = 1; k <= kills; k += 1) {
        // Each kill waits for new chunks to be stored: both the master and the agent are back.
        const current = await stack.admin.waitRun(run.runId, (r) => r.chunkCount >= stored + 2 || r.complete, 60_000);
        stored = current.chunkCount;
        if (!current.complete) killedWhileRunning += 1;
        await broker.kill();
        await broker.start();
      }
      const done = await stack.admin.waitRun(run.runId, (r) => r.complete, 120_000);
      const count = countNumberedLines(
        Buffer.from(await (await stack.admin.request('GET', `/api/v1/runs/${run.runId}/output/raw`)).arrayBuffer()),
        lines,
        'b',
      );
      const counters = await ingestCounters(stack);
      recordFault({
        scenario: 'broker SIGKILL + restart during a job',
        load: `${lines} lines`,
        faults: `${kills} broker kills (${killedWhileRunning} while running)`,
        badInputs: 0,
        lost: count.lost,
        doubled: count.doubled,
        observed: { state: done.state, chunks: done.chunkCount, hashMatches: count.hashMatches, ...counters },
      });
      expect(done.state).toBe('succeeded');
      expect(count).toEqual({ lost: 0, doubled: 0, foreign: 0, hashMatches: true });
      // Re-sent chunks may be committed again (idempotently); every stored one was committed.
      expect(counters.chunksCommitted).toBeGreaterThanOrEqual(done.chunkCount);
      expect(counters.rejected).toBe(0);
      expect(killedWhileRunning).toBe(kills);
    },
    sized(300_000, 900_000),
  );

  it('agent cut off from the broker by a blackhole while printing: all delivered after the cut, spool within its cap', async () => {
    await using broker = await startMosquitto();
    await using proxy = await startTcpProxy(broker.port);
    await using stack = await startMaster({
      config: { mqttUrl: broker.url, mqttPort: undefined, agentMqttUrl: `mqtt://${proxy.address}` },
    });
    const spoolMaxBytes = 64 * MiB;
    const agent = await stack.startAgent('cut-1', { settings: { spoolMaxBytes: String(spoolMaxBytes) } });
    const lines = sized(50_000, 500_000);
    const printed = join(stack.dir, 'cut-1-printed');
    const job = await stack.admin.createJob({
      target: { nodeIds: [agent.nodeId] },
      // Pauses spread the lines over ~8 s (CI); the file says the last one is out.
      spec: {
        command: `${numberedLinesScript(lines, 'p', Math.ceil(lines / 40), 0.2)}; : > '${printed}'`,
        timeoutMs: 3_600_000,
      },
    });
    const [run] = await stack.admin.runs(job.jobId);
    if (run === undefined) throw new Error('no run');
    await stack.admin.waitRun(run.runId, (r) => r.chunkCount >= 2, 30_000);
    proxy.blackhole();
    const cutAt = Date.now();
    const connectionsAtCut = proxy.stats.connections;
    // Long: the cut also lasts until the agent has given up on its connection (keepalive) and
    // dialled again, into the blackhole.
    const untilRedial = sized(false, true);
    let spoolPeak = 0;
    const before = await stack.admin.waitRun(run.runId, () => true);
    // The cut lasts until the script has printed its last line, so that all it printed since
    // the cut waits in the spool; the spool is sampled meanwhile.
    await waitFor(
      'the script to print its last line during the cut',
      () => {
        spoolPeak = Math.max(spoolPeak, folderBytes(join(agent.stateDir, 'spool')));
        return existsSync(printed) && (!untilRedial || proxy.stats.connections > connectionsAtCut);
      },
      { timeoutMs: sized(120_000, 600_000) },
    );
    const cutMs = Date.now() - cutAt;
    const storedDuringCut = (await stack.admin.waitRun(run.runId, () => true)).chunkCount - before.chunkCount;
    proxy.heal();
    const done = await stack.admin.waitRun(run.runId, (r) => r.complete, sized(120_000, 600_000));
    const count = countNumberedLines(
      Buffer.from(await (await stack.admin.request('GET', `/api/v1/runs/${run.runId}/output/raw`)).arrayBuffer()),
      lines,
      'p',
    );
    const counters = await ingestCounters(stack);
    recordFault({
      scenario: 'agent blackholed from the broker (TCP proxy)',
      load: `${lines} lines`,
      faults: `1 partition of ${(cutMs / 1000).toFixed(1)} s`,
      badInputs: 0,
      lost: count.lost,
      doubled: count.doubled,
      observed: {
        spoolPeakKiB: Math.round(spoolPeak / 1024),
        spoolCapKiB: spoolMaxBytes / 1024,
        chunksStoredDuringCut: storedDuringCut,
        proxyConnections: proxy.stats.connections,
        ...counters,
      },
    });
    expect(done.state).toBe('succeeded');
    expect(count).toEqual({ lost: 0, doubled: 0, foreign: 0, hashMatches: true });
    // Re-sent chunks may be committed again (idempotently); every stored one was committed.
    expect(counters.chunksCommitted).toBeGreaterThanOrEqual(done.chunkCount);
    expect(counters.rejected).toBe(0);
    // Nothing got through the blackhole (at most what was in flight when it began).
    expect(storedDuringCut).toBeLessThanOrEqual(2);
    expect(spoolPeak).toBeGreaterThan(0);
    expect(spoolPeak).toBeLessThanOrEqual(spoolMaxBytes);
  }, 900_000);

  it('PostgreSQL restarted during ingest: the master stays up, /readyz goes false then true, nothing lost or doubled', async () => {
    await using cluster = await startPostgresCluster();
    await using broker = await startMosquitto();
    await using stack = await startMaster({
      config: { mqttUrl: broker.url, mqttPort: undefined, databaseUrl: cluster.url },
    });
    expect(stack.master.store.dialect).toBe('postgres');
    const agent = await stack.startAgent('pg-1');
    const lines = sized(20_000, 200_000);
    const restarts = sized(1, 5);
    const printed = join(stack.dir, 'pg-1-printed');
    const job = await stack.admin.createJob({
      target: { nodeIds: [agent.nodeId] },
      spec: {
        command: `${numberedLinesScript(lines, 'g', Math.ceil(lines / 60), 0.1)}; : > '${printed}'`,
        timeoutMs: 600_000,
      },
    });
    const [run] = await stack.admin.runs(job.jobId);
    if (run === undefined) throw new Error('no run');
    const readyz = async (): Promise<number> => (await fetch(`${stack.master.url}/readyz`)).status;
    const seen: number[] = [];
    let restartedWhileRunning = 0;
    for (let r = 1; r <= restarts; r += 1) {
      const current = await stack.admin.waitRun(run.runId, (x) => x.chunkCount >= r * 3 || x.complete, 60_000);
      if (!current.complete) restartedWhileRunning += 1;
      await cluster.stop('fast');
      await waitFor('/readyz to report the database down', async () => (await readyz()) === 503, { timeoutMs: 20_000 });
      seen.push(503);
      // The agent keeps printing into its spool while nothing can be committed: the database
      // comes back once the spool holds more than when /readyz said so, or once the script has
      // nothing more to print.
      const spool = join(agent.stateDir, 'spool');
      const spooledAtStop = folderBytes(spool);
      await waitFor(
        'output spooled while the database is down',
        () => folderBytes(spool) > spooledAtStop || existsSync(printed),
        { timeoutMs: 30_000 },
      );
      await cluster.start();
      await waitFor('/readyz to recover', async () => (await readyz()) === 200, { timeoutMs: 30_000 });
      seen.push(200);
    }
    const done = await stack.admin.waitRun(run.runId, (x) => x.complete, 120_000);
    const count = countNumberedLines(
      Buffer.from(await (await stack.admin.request('GET', `/api/v1/runs/${run.runId}/output/raw`)).arrayBuffer()),
      lines,
      'g',
    );
    const counters = await ingestCounters(stack);
    recordFault({
      scenario: 'PostgreSQL restarted during ingest',
      load: `${lines} lines`,
      faults: `${restarts} database restarts (${restartedWhileRunning} while running)`,
      badInputs: 0,
      lost: count.lost,
      doubled: count.doubled,
      observed: { state: done.state, readyz: seen.join('→'), ...counters },
    });
    expect(done.state).toBe('succeeded');
    expect(count).toEqual({ lost: 0, doubled: 0, foreign: 0, hashMatches: true });
    // Re-sent chunks may be committed again (idempotently); every stored one was committed.
    expect(counters.chunksCommitted).toBeGreaterThanOrEqual(done.chunkCount);
    expect(counters.rejected).toBe(0);
    expect(restartedWhileRunning).toBe(restarts);
  }, 600_000);
});
