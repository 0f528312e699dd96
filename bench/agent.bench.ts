/**
 * The agent's own costs, measured on the shipped agent — the one-file bundle, run with the
 * systemd unit's node flags and environment — in its own process against a private Mosquitto,
 * with a test-side master in this process that stores and acknowledges:
 *   1. idle: RSS (VmRSS, sampled every second, with its RssAnon/RssFile split) and CPU
 *      (utime+stime from /proc) over --seconds;
 *   2. throughput: MB/s of output acknowledged end to end for a script printing --mb megabytes
 *      as fast as it can (`yes | head -c`), from the run command to the last ack;
 *   3. idle again for --seconds after that run, once V8 has optimised the output path.
 * Run: npm run bench -w @edgestelle/agent   (-- --seconds 10 --mb 50 for a quick smoke)
 *   --node-flags "…"  instead of the unit's flags ("" for none), to compare V8 settings
 *   --bundle FILE     a bundle built elsewhere (another commit) instead of this tree's
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { startMosquitto, tempDir } from '@edgestelle/testkit';
import { agentFlags } from '../packages/agent/test/agent-env.ts';
import { newNodeKey, TestMaster, until } from '../packages/agent/test/test-master.ts';
import { buildAgentBundle, shippedAgentLaunch, spawnShippedAgent } from './scenarios/agent-idle.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    mb: { type: 'string', default: '200' },
    'node-flags': { type: 'string' },
    bundle: { type: 'string' },
  },
});
const idleSeconds = Number(values.seconds);
const outputMb = Number(values.mb);
const CLOCK_TICKS_PER_SEC = 100;

function procStatus(pid: number, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match?.[1] ?? NaN) * 1024;
}

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const mib = (n: number): string => (n / 1024 / 1024).toFixed(1);

/** One reading a second for `seconds`: VmRSS median (with that reading's RssAnon/RssFile) and max, CPU %. */
async function idle(pid: number, seconds: number): Promise<string> {
  const readings: { rss: number; anon: number; file: number }[] = [];
  const ticksBefore = cpuTicks(pid);
  const startedAt = performance.now();
  for (let i = 0; i < seconds; i += 1) {
    await sleep(1000);
    readings.push({
      rss: procStatus(pid, 'VmRSS'),
      anon: procStatus(pid, 'RssAnon'),
      file: procStatus(pid, 'RssFile'),
    });
  }
  const cpuPct = (((cpuTicks(pid) - ticksBefore) / CLOCK_TICKS_PER_SEC) * 100000) / (performance.now() - startedAt);
  const sorted = readings.sort((a, b) => a.rss - b.rss);
  const median = sorted[Math.floor(sorted.length / 2)];
  const max = sorted.at(-1);
  if (median === undefined || max === undefined) return 'no readings';
  return `RSS median ${mib(median.rss)} MiB (anon ${mib(median.anon)}, file ${mib(median.file)}), max ${mib(max.rss)} MiB, CPU ${cpuPct.toFixed(2)} %`;
}

await using dir = await tempDir('edgestelle-agent-bench-');
await using broker = await startMosquitto();
const key = newNodeKey();
const nodeId = 'bench-node';
const master = await TestMaster.start(broker.url, nodeId, key);
const bundle = values.bundle === undefined ? join(dir.path, 'edgestelle-agent.mjs') : resolve(values.bundle);
if (values.bundle === undefined) await buildAgentBundle(bundle);
const nodeFlags = values['node-flags']?.split(' ').filter((flag) => flag !== '') ?? shippedAgentLaunch().nodeFlags;
const stateDir = join(dir.path, 'state');
const child = spawnShippedAgent(
  bundle,
  [...agentFlags(broker.url, stateDir, key, nodeId), '--spool-max-bytes', String(4 * 1024 * 1024 * 1024)],
  { cwd: dir.path, stdio: ['ignore', 'ignore', 'inherit'], nodeFlags },
);
const pid = child.pid;
if (pid === undefined) throw new Error('could not start the agent');
try {
  await until(() => master.states.some((s) => s.online), 'the agent to come online');
  await sleep(1000);

  const idleBefore = await idle(pid, idleSeconds);

  const bytes = outputMb * 1_000_000;
  const command = master.runCommand({
    command: `yes 'edgestelle benchmark line of output, 64 bytes long.......................' | head -c ${bytes}`,
    timeoutMs: 600_000,
  });
  const ticksRun = cpuTicks(pid);
  const brokerPid = broker.pid();
  const brokerTicksRun = brokerPid === undefined ? 0 : cpuTicks(brokerPid);
  const masterCpuRun = process.cpuUsage();
  const runStart = performance.now();
  await master.send(command);
  await until(() => master.complete(command.runId), 'the run to be acknowledged', 600_000);
  const runMs = performance.now() - runStart;
  const masterCpu = process.cpuUsage(masterCpuRun);
  const masterCpuPct = ((masterCpu.user + masterCpu.system) / 1000 / runMs) * 100;
  const brokerCpuPct =
    brokerPid === undefined ? NaN : (((cpuTicks(brokerPid) - brokerTicksRun) / CLOCK_TICKS_PER_SEC) * 100000) / runMs;
  const run = master.run(command.runId);
  const acked = master.output(command.runId).bytes.byteLength;
  if (acked !== bytes) throw new Error(`acknowledged ${acked} bytes of ${bytes}`);

  const runFigures = `${(bytes / 1e6).toFixed(0)} MB in ${(runMs / 1000).toFixed(2)} s = ${(bytes / 1e6 / (runMs / 1000)).toFixed(1)} MB/s acked, ${run.chunks.size} chunks, ${run.duplicates} re-sent, agent CPU ${((((cpuTicks(pid) - ticksRun) / CLOCK_TICKS_PER_SEC) * 100000) / runMs).toFixed(0)} %, agent peak RSS (VmHWM) ${mib(procStatus(pid, 'VmHWM'))} MiB; test master CPU ${masterCpuPct.toFixed(0)} %, Mosquitto CPU ${brokerCpuPct.toFixed(0)} %`;
  const idleAfter = await idle(pid, idleSeconds);

  console.log(
    `agent benchmark (node ${process.version} ${nodeFlags.join(' ')} ${values.bundle ?? 'bundle of this tree'}, Mosquitto, load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')})`,
  );
  console.log(`idle over ${idleSeconds} s: ${idleBefore}`);
  console.log(`throughput: ${runFigures}`);
  console.log(`idle over ${idleSeconds} s after the run: ${idleAfter}`);
} finally {
  const gone = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await gone;
  await master.close();
}
