/**
 * End-to-end output throughput of `edgestelle run`: a real master and three real agents in
 * this process, the CLI as a child process writing to a pipe, `seq 1 N` on every node. The
 * clock runs from spawning the CLI to its exit (so it includes CLI start-up, ~0.3–0.5 s),
 * and every round checks that each node's lines all arrived. Prints medians of 3 rounds.
 * Run: npm run bench -w packages/cli   (add -- --lines 20000 for a quick smoke)
 */
import { parseArgs } from 'node:util';
import { collect, spawnCli, startMaster } from '@edgestelle/fleet-fixture';

const { values } = parseArgs({ options: { lines: { type: 'string', default: '100000,300000' } } });
const sizes = values.lines.split(',').map(Number);
const ROUNDS = 3;
const NODES = ['bench-1', 'bench-2', 'bench-3'];

const fleet = await startMaster({ deps: { sweepIntervalMs: 250 } });
for (const nodeId of NODES) await fleet.startAgent(nodeId, { tags: { bench: 'yes' } });
try {
  console.log('| lines per node | nodes | lines/s (median) | MB/s (median) | wall ms (median) |');
  console.log('|---|---|---|---|---|');
  for (const lines of sizes) {
    const rounds: { ms: number; bytes: number }[] = [];
    for (let round = 0; round < ROUNDS; round += 1) {
      const started = performance.now();
      const child = spawnCli(fleet, ['run', '--tag', 'bench=yes', '--', `seq 1 ${lines}`]);
      const perNode = new Map<string, number>();
      let bytes = 0;
      let rest = '';
      child.stdout?.setEncoding('utf8').on('data', (text: string) => {
        bytes += Buffer.byteLength(text);
        const parts = (rest + text).split('\n');
        rest = parts.pop() ?? '';
        for (const line of parts) {
          const nodeId = line.slice(0, line.indexOf(' '));
          perNode.set(nodeId, (perNode.get(nodeId) ?? 0) + 1);
        }
      });
      const result = await collect(child, { timeoutMs: 600_000 });
      const ms = performance.now() - started;
      if (result.status !== 0 || NODES.some((nodeId) => perNode.get(nodeId) !== lines)) {
        throw new Error(`round failed: exit ${result.status}, lines ${JSON.stringify([...perNode])}: ${result.stderr}`);
      }
      rounds.push({ ms, bytes });
    }
    const median = rounds.sort((a, b) => a.ms - b.ms)[Math.floor(ROUNDS / 2)] ?? { ms: 1, bytes: 0 };
    const total = lines * NODES.length;
    console.log(
      `| ${lines} | ${NODES.length} | ${Math.round(total / (median.ms / 1000))} | ${(median.bytes / 1e6 / (median.ms / 1000)).toFixed(1)} | ${Math.round(median.ms)} |`,
    );
  }
} finally {
  await fleet[Symbol.asyncDispose]();
}
