/**
 * The agent's own costs, measured on the compiled agent in its own process against a private
 * Mosquitto, with a test-side master in this process that stores and acknowledges:
 *   1. idle: RSS (VmRSS, sampled every second) and CPU (utime+stime from /proc) over --seconds;
 *   2. throughput: MB/s of output acknowledged end to end for a script printing --mb megabytes
 *      as fast as it can (`yes | head -c`), from the run command to the last ack.
 * Run: npm run bench -w packages/agent   (-- --seconds 10 --mb 50 for a quick smoke)
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startMosquitto, tempDir } from '@edgestelle/testkit';
import { agentFlags } from '../test/agent-env.ts';
import { newNodeKey, TestMaster, until } from '../test/test-master.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    mb: { type: 'string', default: '200' },
    /** V8/Node flags for the agent process, to compare memory settings. */
    'node-flags': { type: 'string', default: '' },
  },
});
const idleSeconds = Number(values.seconds);
const outputMb = Number(values.mb);
const CLOCK_TICKS_PER_SEC = 100;
const packageDir = fileURLToPath(new URL('..', import.meta.url));

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

await using dir = await tempDir('edgestelle-agent-bench-');
await using broker = await startMosquitto();
const key = newNodeKey();
const nodeId = 'bench-node';
const master = await TestMaster.start(broker.url, nodeId, key);
// The compiled agent (`npm run bench` builds it first), as `edgestelle agent` runs it.
const child = spawn(
  process.execPath,
  [
    ...values['node-flags'].split(' ').filter((flag) => flag !== ''),
    '--input-type=module',
    '-e',
    "import { main } from '@edgestelle/agent'; process.exitCode = await main(process.argv.slice(1));",
    '--',
    ...agentFlags(broker.url, join(dir.path, 'state'), key, nodeId),
    '--spool-max-bytes',
    String(4 * 1024 * 1024 * 1024),
  ],
  { cwd: packageDir, stdio: ['ignore', 'ignore', 'inherit'] },
);
const pid = child.pid;
if (pid === undefined) throw new Error('could not start the agent');
try {
  await until(() => master.states.some((s) => s.online), 'the agent to come online');
  await sleep(1000);

  const rss: number[] = [];
  const ticksBefore = cpuTicks(pid);
  const idleStart = performance.now();
  for (let i = 0; i < idleSeconds; i += 1) {
    await sleep(1000);
    rss.push(procStatus(pid, 'VmRSS'));
  }
  const idleCpuPct = (((cpuTicks(pid) - ticksBefore) / CLOCK_TICKS_PER_SEC) * 100000) / (performance.now() - idleStart);

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

  const mib = (n: number): string => (n / 1024 / 1024).toFixed(1);
  console.log(
    `agent benchmark (node ${process.version}${values['node-flags'] === '' ? '' : ` ${values['node-flags']}`}, Mosquitto, compiled agent in its own process)`,
  );
  console.log(
    `idle over ${idleSeconds} s: RSS median ${mib(rss.sort((a, b) => a - b)[Math.floor(rss.length / 2)] ?? 0)} MiB, max ${mib(Math.max(...rss))} MiB, CPU ${idleCpuPct.toFixed(2)} %`,
  );
  console.log(
    `throughput: ${(bytes / 1e6).toFixed(0)} MB in ${(runMs / 1000).toFixed(2)} s = ${(bytes / 1e6 / (runMs / 1000)).toFixed(1)} MB/s acked, ${run.chunks.size} chunks, ${run.duplicates} re-sent, agent CPU ${((((cpuTicks(pid) - ticksRun) / CLOCK_TICKS_PER_SEC) * 100000) / runMs).toFixed(0)} %, agent peak RSS (VmHWM) ${mib(procStatus(pid, 'VmHWM'))} MiB; test master CPU ${masterCpuPct.toFixed(0)} %, Mosquitto CPU ${brokerCpuPct.toFixed(0)} %`,
  );
} finally {
  const gone = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await gone;
  await master.close();
}
