import type { BenchApi } from '../lib/api.ts';
import { BenchError, BenchErrorCode } from '../lib/errors.ts';
import { percentile, sleep } from '../lib/stats.ts';

/**
 * What each node runs: a real process (node) printing 64-byte lines stamped with the wall
 * clock at `rate` lines/s for `seconds`, written every 5 ms. argv: rate, seconds.
 */
const PRINTER = `
const [rate, seconds] = process.argv.slice(1).map(Number);
const perTick = Math.max(1, Math.round(rate / 200));
const end = Date.now() + seconds * 1000;
const timer = setInterval(() => {
  const t = (performance.timeOrigin + performance.now()).toFixed(3);
  process.stdout.write(('t=' + t + ' ' + '.'.repeat(64)).slice(0, 63).concat('\\n').repeat(perTick));
  if (Date.now() >= end) clearInterval(timer);
}, 5);
`;

export interface LatencyResult {
  p50Ms: number;
  p99Ms: number;
  /** Lines the WebSocket client received per second over the measured window. */
  linesPerSec: number;
  samples: number;
}

/**
 * Script write → WebSocket client: every node of `tag` runs PRINTER at `totalLinesPerSec / nodes`;
 * one live-hub client subscribed to every run reads each line's stamp on arrival. The first
 * second (process start-up) is left out. Same machine, same clock.
 */
export async function measureLatency(
  api: BenchApi,
  tag: Record<string, string>,
  nodes: number,
  totalLinesPerSec: number,
  seconds: number,
): Promise<LatencyResult> {
  const latencies: number[] = [];
  let firstStamp: number | undefined;
  let lastAt = 0;
  let rest = new Map<string, string>();
  let ended = 0;
  const runIds = new Set<string>();
  const live = await api.live((message, receivedAt) => {
    if (message.type === 'run' && runIds.has(message.run.runId) && message.run.endedAt !== null) ended += 1;
    if (message.type !== 'chunk') return;
    const text = (rest.get(message.chunk.runId) ?? '') + Buffer.from(message.chunk.data, 'base64').toString('utf8');
    const lines = text.split('\n');
    rest.set(message.chunk.runId, lines.pop() ?? '');
    for (const line of lines) {
      const stamp = Number(/^t=([\d.]+) /.exec(line)?.[1]);
      if (!Number.isFinite(stamp)) continue;
      firstStamp ??= stamp;
      if (stamp < firstStamp + 1000) continue;
      latencies.push(receivedAt - stamp);
      lastAt = receivedAt;
    }
  });
  try {
    const job = await api.createJob({
      target: { tags: tag },
      spec: {
        command: `exec '${process.execPath}' -e "$1" "$2" "$3"`,
        args: [PRINTER, String(totalLinesPerSec / nodes), String(seconds)],
        timeoutMs: (seconds + 60) * 1000,
      },
      offlineDeadlineMs: 60_000,
    });
    for (const run of await api.runs(job.jobId)) {
      runIds.add(run.runId);
      live.send({ type: 'subscribe', topic: 'run', runId: run.runId, fromSeq: 0 });
    }
    const deadline = Date.now() + (seconds + 60) * 1000;
    while (ended < runIds.size) {
      if (Date.now() > deadline) throw new BenchError(BenchErrorCode.timeout, 'the latency runs did not end in time');
      await sleep(100);
    }
    // The last chunks follow the run's end by a flush.
    await sleep(500);
  } finally {
    await live.close();
  }
  const windowMs = lastAt - ((firstStamp ?? 0) + 1000);
  rest = new Map();
  return {
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    linesPerSec: windowMs > 0 ? (latencies.length / windowMs) * 1000 : 0,
    samples: latencies.length,
  };
}
