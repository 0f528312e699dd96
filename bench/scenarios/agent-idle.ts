import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { enroll } from '@edgestelle/agent';
import { rssBytes } from '@edgestelle/testkit';
import type { BenchApi } from '../lib/api.ts';
import { BenchError, BenchErrorCode } from '../lib/errors.ts';
import { cpuSeconds } from '../lib/proc.ts';
import { median, sleep, until } from '../lib/stats.ts';

const repoDir = fileURLToPath(new URL('../..', import.meta.url));
const AGENT_UNIT = join(repoDir, 'deploy/edgestelle-agent.service');
const BUILD_SCRIPT = join(repoDir, 'deploy/build-agent-bundle.mjs');

/** How deploy/edgestelle-agent.service starts the agent, less the paths install_agent.sh fills in. */
export interface AgentLaunch {
  /** Node/V8 flags between `node` and the bundle on the unit's ExecStart line. */
  nodeFlags: string[];
  /** The unit's `Environment=` settings (EnvironmentFile= holds only EDGESTELLE_* settings). */
  env: Record<string, string>;
}

/**
 * Reads the launch from the unit file itself, so the benchmarks cannot drift from what ships.
 * Only the forms the unit uses are understood; anything else is an error rather than a guess.
 */
export function shippedAgentLaunch(unitText = readFileSync(AGENT_UNIT, 'utf8')): AgentLaunch {
  const exec = /^ExecStart=\/usr\/bin\/env node((?: -[^\s"']+)*) \/opt\/edgestelle\/edgestelle-agent\.mjs$/m.exec(
    unitText,
  );
  if (exec === null) {
    throw new BenchError(
      BenchErrorCode.usage,
      `${AGENT_UNIT}: no "ExecStart=/usr/bin/env node [--flag …] /opt/edgestelle/edgestelle-agent.mjs" line; update shippedAgentLaunch with the unit`,
    );
  }
  const env: Record<string, string> = {};
  for (const line of unitText.split('\n').filter((l) => l.startsWith('Environment='))) {
    const pair = /^Environment=([A-Z_][A-Z0-9_]*)=([^\s"'\\]*)$/.exec(line);
    if (pair?.[1] === undefined || pair[2] === undefined) {
      throw new BenchError(
        BenchErrorCode.usage,
        `${AGENT_UNIT}: "${line}" is not one unquoted NAME=value; update shippedAgentLaunch with the unit`,
      );
    }
    env[pair[1]] = pair[2];
  }
  return { nodeFlags: (exec[1] ?? '').split(' ').filter((flag) => flag !== ''), env };
}

/** The one-file bundle the installer ships, built from this tree by deploy/build-agent-bundle.mjs. */
export async function buildAgentBundle(outfile: string): Promise<void> {
  const build = spawn(process.execPath, [BUILD_SCRIPT, '--outfile', outfile], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  build.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const code = await new Promise<number | null>((resolve) => build.once('close', resolve));
  if (code !== 0) {
    throw new BenchError(BenchErrorCode.childFailed, `${BUILD_SCRIPT} --outfile ${outfile} exited ${code}: ${stderr}`);
  }
}

/**
 * Starts `bundle` as systemd would: the unit's node flags (or `nodeFlags` to compare others)
 * and a clean environment holding PATH and the unit's `Environment=` settings, in `cwd` (the
 * unit's WorkingDirectory is the state dir).
 */
export function spawnShippedAgent(
  bundle: string,
  args: readonly string[],
  options: { cwd: string; stdio: StdioOptions; nodeFlags?: readonly string[] },
): ChildProcess {
  const launch = shippedAgentLaunch();
  return spawn(process.execPath, [...(options.nodeFlags ?? launch.nodeFlags), bundle, ...args], {
    cwd: options.cwd,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...launch.env },
    stdio: options.stdio,
  });
}

/** RssAnon (what the agent owns) and RssFile (mostly the node binary's pages, shared and reclaimable), in bytes. */
function rssSplit(pid: number): { anon: number; file: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1] ?? NaN);
  return { anon: kib('RssAnon') * 1024, file: kib('RssFile') * 1024 };
}

export interface AgentIdleResult {
  /** Median VmRSS, one reading a second. */
  idleRssBytes: number;
  /** RssAnon and RssFile of the median reading. */
  idleRssAnonBytes: number;
  idleRssFileBytes: number;
  /** CPU time over wall time, in percent of one core. */
  idleCpuPercent: number;
}

/**
 * One agent as it ships — the one-file bundle, run with the systemd unit's node flags and
 * environment — enrolled with this master and left idle for `seconds`.
 */
export async function measureAgentIdle(
  api: BenchApi,
  dir: string,
  nodeId: string,
  seconds: number,
): Promise<AgentIdleResult> {
  const stateDir = join(dir, nodeId);
  const bundle = join(dir, 'edgestelle-agent.mjs');
  const tag = { bench: nodeId };
  await buildAgentBundle(bundle);
  await enroll({ masterUrl: api.url, token: await api.joinToken(1, tag), stateDir, nodeId, name: nodeId });
  // No --log-level: the unit runs at the default (info); stdout, the journal there, is dropped here.
  const child = spawnShippedAgent(bundle, ['--state-dir', stateDir], {
    cwd: stateDir,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const pid = child.pid;
  if (pid === undefined) throw new BenchError(BenchErrorCode.childFailed, 'cannot start the agent process');
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await until(async () => (await api.onlineCount(`bench=${nodeId}`)) === 1, 'the agent to come online', 60_000, 200);
    await sleep(1000);
    const readings: { rss: number; anon: number; file: number }[] = [];
    const cpuBefore = cpuSeconds(pid);
    const startedAt = performance.now();
    for (let i = 0; i < Math.max(1, seconds); i += 1) {
      await sleep(1000);
      readings.push({ rss: rssBytes(pid), ...rssSplit(pid) });
    }
    const cpuPercent = ((cpuSeconds(pid) - cpuBefore) / ((performance.now() - startedAt) / 1000)) * 100;
    const idleRssBytes = median(readings.map((r) => r.rss));
    const atMedian = readings.find((r) => r.rss === idleRssBytes);
    return {
      idleRssBytes,
      idleRssAnonBytes: atMedian?.anon ?? NaN,
      idleRssFileBytes: atMedian?.file ?? NaN,
      idleCpuPercent: cpuPercent,
    };
  } finally {
    child.kill('SIGTERM');
    const timer = setTimeout(() => process.kill(pid, 'SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}
