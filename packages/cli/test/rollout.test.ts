import { jobDtoSchema } from '@edgestelle/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, spawnCli, startMaster, type InProcessMaster } from '@edgestelle/fleet-fixture';

/** `run --waves`, its gate flags, and `jobs pause | resume`, as a child process against a real master. */
let fleet: InProcessMaster;

beforeAll(async () => {
  fleet = await startMaster();
  for (const nodeId of ['r-a', 'r-b', 'r-c']) await fleet.startAgent(nodeId, { tags: { role: 'r' } });
});

afterAll(async () => {
  await fleet?.[Symbol.asyncDispose]();
});

/** Resolves with the text once stderr contains the pattern; bounded by the CLI's own timeout. */
function stderrUntil(child: ReturnType<typeof spawnCli>, pattern: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (data: Buffer): void => {
      text += data.toString('utf8');
      if (pattern.test(text)) {
        child.stderr?.off('data', onData);
        resolve(text);
      }
    };
    child.stderr?.on('data', onData);
    child.once('exit', () => reject(new Error(`the CLI exited before printing ${String(pattern)}: ${text}`)));
  });
}

describe('run --waves', () => {
  it('stops at an approval gate, says how to go on, and ends once resumed', async () => {
    const child = spawnCli(fleet, ['run', '--tag', 'role=r', '--waves', '1,100%', '--approve', '--', 'echo hi'], {
      timeoutMs: 30_000,
    });
    try {
      let stdout = '';
      child.stdout?.on('data', (data: Buffer) => (stdout += data.toString('utf8')));
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      const notice = await stderrUntil(child, /go on: edgestelle jobs resume (\w+)/);
      const jobId = /go on: edgestelle jobs resume (\w+)/.exec(notice)?.[1] ?? '';
      expect(notice).toContain(
        `Job ${jobId} is paused: wave 1 of 2 ended (0 of 1 run failed): waiting for approval to start wave 2\n` +
          `  go on: edgestelle jobs resume ${jobId}   stop: edgestelle jobs cancel ${jobId}\n`,
      );

      const detail = await runCli(fleet, ['jobs', jobId]);
      expect(detail.stdout).toMatch(/state +paused: wave 1 of 2 ended/);
      expect(detail.stdout).toMatch(/waves +1 · 100%, gate: at most 0% failed, then approval/);
      expect(detail.stdout).toMatch(/wave 1 +gate: 1 node, 1 ended, 0 failed/);
      expect(detail.stdout).toMatch(/wave 2 +pending: 2 nodes, 0 ended, 0 failed/);

      const resumed = await runCli(fleet, ['jobs', 'resume', jobId]);
      expect(resumed.stdout).toMatch(new RegExp(`^Job ${jobId} is running, wave 2/2\n`));
      expect(resumed.status).toBe(0);
      expect(await exited).toBe(0);
      expect(stdout.match(/hi/g)).toHaveLength(3);
    } finally {
      // Stopped by its PID if an assertion failed while it waited at the gate.
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 60_000);

  it('refuses rollout flags that do not make a rollout, before asking the master', async () => {
    const cases: Array<[string[], string]> = [
      [['--waves', '1,50%'], '--waves: the last wave must cover every target: end with 100% (not 50%)'],
      [['--waves', '2,1,100%'], '--waves: wave 2 (1) must be larger than wave 1 (2): sizes are cumulative'],
      [['--waves', '1,x,100%'], "--waves: 'x' is not a wave size"],
      [['--approve'], '--approve goes with --waves'],
      [['--waves', '1,100%', '--approve', '--wave-pause', '1m'], '--wave-pause and --approve'],
      [['--waves', '1,100%', '--max-failure-rate', '120%'], "--max-failure-rate: '120%' is not a percentage"],
    ];
    for (const [flags, message] of cases) {
      const result = await runCli(fleet, ['run', '--tag', 'role=r', ...flags, '--', 'true']);
      expect(result.stderr, flags.join(' ')).toContain(message);
      expect(result.status).toBe(64);
    }
  });
});

describe('jobs pause | resume', () => {
  it('pauses a running job and resumes it; a finished job cannot be paused', async () => {
    const job = await fleet.admin.api('POST', '/api/v1/jobs', jobDtoSchema, {
      target: { tags: { role: 'r' } },
      spec: { command: 'sleep 5', timeoutMs: 30_000 },
      concurrency: { count: 1 },
    });
    const paused = await runCli(fleet, ['jobs', 'pause', job.jobId]);
    expect(paused.stdout).toMatch(new RegExp(`^Job ${job.jobId} is paused: paused by admin\n`));
    const resumed = jobDtoSchema.parse(
      JSON.parse((await runCli(fleet, ['jobs', 'resume', job.jobId, '--json'])).stdout),
    );
    expect(resumed).toMatchObject({ state: 'running', pausedReason: null });
    const finished = await runCli(fleet, ['run', '--node', 'r-a', '--json', '--', 'true']);
    const done = jobDtoSchema.parse((JSON.parse(finished.stdout) as { job: unknown }).job);
    const refused = await runCli(fleet, ['jobs', 'pause', done.jobId]);
    expect(refused.stderr).toContain(`job ${done.jobId} is finished: only a running job can be paused`);
    expect(refused.status).not.toBe(0);
  }, 60_000);
});
