import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { jobDtoSchema, runDtoSchema } from '@edgestelle/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  cliEnv,
  collect,
  type InProcessMaster,
  runCli,
  spawnCli,
  startMaster,
  waitFor,
} from '@edgestelle/fleet-fixture';

/** Following running jobs: logs --follow ends with the job, Ctrl-C cancels, stored logs read back. */
let fleet: InProcessMaster;

beforeAll(async () => {
  fleet = await startMaster({ deps: { sweepIntervalMs: 250 } });
  for (const { nodeId, tags } of [
    { nodeId: 'node-1', tags: { role: 'web' } },
    { nodeId: 'node-2', tags: { role: 'web' } },
  ])
    await fleet.startAgent(nodeId, { tags });
});

afterAll(async () => {
  await fleet?.[Symbol.asyncDispose]();
});

const runsSchema = z.object({ items: z.array(runDtoSchema) });

async function startJob(command: string): Promise<string> {
  const job = await fleet.admin.api('POST', '/api/v1/jobs', jobDtoSchema, {
    target: { tags: { role: 'web' } },
    spec: { command, timeoutMs: 60_000 },
  });
  return job.jobId;
}

describe('following jobs', () => {
  it('logs --follow of a running job prints every line and ends when the job ends', async () => {
    const jobId = await startJob('for i in 1 2 3 4 5; do echo "line $i"; sleep 0.2; done');
    const { status, stdout } = await runCli(fleet, ['logs', jobId, '--follow']);
    expect(status).toBe(0);
    for (const node of ['node-1', 'node-2']) {
      expect(stdout.split('\n').filter((line) => line.startsWith(`${node} | line `))).toEqual(
        [1, 2, 3, 4, 5].map((i) => `${node} | line ${i}`),
      );
    }
    const runs = await fleet.admin.api('GET', `/api/v1/jobs/${jobId}/runs`, runsSchema);
    expect(runs.items.every((run) => run.state === 'succeeded')).toBe(true);
  });

  it('logs --follow of one running run prints it plainly until it ends', async () => {
    const jobId = await startJob('echo first; sleep 0.5; echo second');
    let runId = '';
    await waitFor('the runs to exist', async () => {
      const runs = await fleet.admin.api('GET', `/api/v1/jobs/${jobId}/runs`, runsSchema);
      runId = runs.items.find((run) => run.nodeId === 'node-1')?.runId ?? '';
      return runId !== '';
    });
    const { status, stdout } = await runCli(fleet, ['logs', runId, '--follow']);
    expect(status).toBe(0);
    expect(stdout).toBe('first\nsecond\n');
  });

  it('logs of a finished run prints its exact bytes, and of a job each node’s output prefixed', async () => {
    const jobId = await startJob('printf "x\\001y\\n"; printf "no newline"');
    await waitFor('the job to finish', async () => {
      const runs = await fleet.admin.api('GET', `/api/v1/jobs/${jobId}/runs`, runsSchema);
      return runs.items.length === 2 && runs.items.every((run) => run.complete);
    });
    const runs = await fleet.admin.api('GET', `/api/v1/jobs/${jobId}/runs`, runsSchema);
    const runId = runs.items.find((run) => run.nodeId === 'node-2')?.runId ?? '';
    const one = await runCli(fleet, ['logs', runId]);
    expect(one.status).toBe(0);
    expect(one.stdout).toBe('x\x01y\nno newline');
    const all = await runCli(fleet, ['logs', jobId]);
    expect(all.stdout).toBe('node-1 | x\x01y\nnode-1 | no newline\nnode-2 | x\x01y\nnode-2 | no newline\n');
    const missing = await runCli(fleet, ['logs', '0000000000zzzzzzzzzzzzzzzz']);
    expect(missing.status).toBe(66);
    expect(missing.stderr).toBe('edgestelle: there is no run or job 0000000000zzzzzzzzzzzzzzzz\n');
  });

  it('stops quietly when the reader closes the pipe early (logs | head)', async () => {
    const jobId = await startJob('seq 1 200000');
    await waitFor('the job to finish', async () => {
      const runs = await fleet.admin.api('GET', `/api/v1/jobs/${jobId}/runs`, runsSchema);
      return runs.items.length === 2 && runs.items.every((run) => run.complete);
    });
    const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
    const child = spawn(
      'sh',
      ['-c', `"${process.execPath}" --import tsx --conditions=source "${main}" logs ${jobId} | head -n 1`],
      {
        env: cliEnv(fleet),
      },
    );
    const { status, stdout, stderr } = await collect(child);
    expect(stdout).toBe('node-1 | 1\n');
    expect(stderr).toBe('');
    expect(status).toBe(0);
  });

  it('SIGINT without a terminal cancels the job and exits 130', async () => {
    const child = spawnCli(fleet, ['run', '--tag', 'role=web', '--', 'echo started; sleep 30; echo never']);
    let seen = '';
    child.stdout?.on('data', (data: Buffer) => (seen += data.toString('utf8')));
    const result = collect(child, { timeoutMs: 30_000 });
    await waitFor('both nodes to start', () => (seen.match(/\| started/g) ?? []).length === 2);
    child.kill('SIGINT');
    const { status, stdout, stderr } = await result;
    expect(status).toBe(130);
    expect(stdout).not.toContain('never');
    expect(stderr).toContain('Cancelling job');
    expect(stderr).toMatch(/node-1\s+cancelled/);
    expect(stderr).toMatch(/node-2\s+cancelled/);
    const jobId = /Cancelling job (\w{26})/.exec(stderr)?.[1] ?? '';
    const job = await fleet.admin.api('GET', `/api/v1/jobs/${jobId}`, jobDtoSchema);
    expect(job.state).toBe('cancelled');
  });
});

describe('a master restart while following', () => {
  it('loses and doubles nothing: the live hub is re-subscribed from the next seq', async () => {
    const child = spawnCli(fleet, [
      'run',
      '--tag',
      'role=web',
      '--',
      'for i in $(seq 1 40); do echo "n $i"; sleep 0.05; done',
    ]);
    let seen = '';
    child.stdout?.on('data', (data: Buffer) => (seen += data.toString('utf8')));
    const result = collect(child, { timeoutMs: 60_000 });
    await waitFor('some output', () => seen.includes('| n 5\n'));
    await fleet.restart();
    const { status, stdout, stderr } = await result;
    expect(stderr).toContain('reconnecting');
    expect(stderr).toContain('2 runs: 2 succeeded');
    expect(status).toBe(0);
    for (const node of ['node-1', 'node-2']) {
      const lines = stdout.split('\n').filter((line) => line.startsWith(`${node} | `));
      expect(lines).toEqual(Array.from({ length: 40 }, (_, i) => `${node} | n ${i + 1}`));
    }
  });
});
