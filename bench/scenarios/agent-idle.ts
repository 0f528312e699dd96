import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { enroll } from '@edgestelle/agent';
import type { BenchApi } from '../lib/api.ts';
import { BenchError, BenchErrorCode } from '../lib/errors.ts';
import { cpuSeconds, rssBytes } from '../lib/proc.ts';
import { median, sleep, until } from '../lib/stats.ts';

export interface AgentIdleResult {
  /** Median VmRSS, one reading a second. */
  idleRssBytes: number;
  /** CPU time over wall time, in percent of one core. */
  idleCpuPercent: number;
}

/**
 * One agent as `edgestelle agent` runs it — the compiled package (dist; the bench builds it)
 * in its own Node process — enrolled with this master and left idle for `seconds`.
 */
export async function measureAgentIdle(
  api: BenchApi,
  dir: string,
  nodeId: string,
  seconds: number,
): Promise<AgentIdleResult> {
  const stateDir = join(dir, nodeId);
  const tag = { bench: nodeId };
  await enroll({ masterUrl: api.url, token: await api.joinToken(1, tag), stateDir, nodeId, name: nodeId });
  const child = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      "import { main } from '@edgestelle/agent'; process.exitCode = await main(process.argv.slice(1));",
      '--',
      '--state-dir',
      stateDir,
      '--log-level',
      'warn',
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const pid = child.pid;
  if (pid === undefined) throw new BenchError(BenchErrorCode.childFailed, 'cannot start the agent process');
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await until(async () => (await api.onlineCount(`bench=${nodeId}`)) === 1, 'the agent to come online', 60_000, 200);
    await sleep(1000);
    const readings: number[] = [];
    const cpuBefore = cpuSeconds(pid);
    const startedAt = performance.now();
    for (let i = 0; i < Math.max(1, seconds); i += 1) {
      await sleep(1000);
      readings.push(rssBytes(pid));
    }
    const cpuPercent = ((cpuSeconds(pid) - cpuBefore) / ((performance.now() - startedAt) / 1000)) * 100;
    return { idleRssBytes: median(readings), idleCpuPercent: cpuPercent };
  } finally {
    child.kill('SIGTERM');
    const timer = setTimeout(() => process.kill(pid, 'SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}
