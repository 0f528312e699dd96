import { jobDtoSchema, nodeDtoSchema, runDtoSchema } from '@edgestelle/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { runCli, startMaster, waitFor, type InProcessAgent, type InProcessMaster } from '@edgestelle/fleet-fixture';

/** run --detach / --online-only / the offline notice, jobs cancel, runs cancel and job outcomes against a real master. */
let fleet: InProcessMaster;
let beta: InProcessAgent;

beforeAll(async () => {
  fleet = await startMaster({ deps: { sweepIntervalMs: 250 } });
  await fleet.startAgent('alpha', { tags: { site: 'berlin' } });
  beta = await fleet.startAgent('beta', { tags: { site: 'berlin' } });
});

afterAll(async () => {
  await fleet?.[Symbol.asyncDispose]();
});

const jobIdLine = /^[0-9a-z]{26}\n$/;
const job = (jobId: string) => fleet.admin.api('GET', `/api/v1/jobs/${jobId}`, jobDtoSchema);
const runsOf = async (jobId: string) =>
  (await fleet.admin.api('GET', `/api/v1/jobs/${jobId}/runs`, z.object({ items: z.array(runDtoSchema) }))).items;

describe('job control', () => {
  it('run --detach prints the job id and returns; jobs cancel stops it and the job ends cancelled', async () => {
    const started = await runCli(fleet, ['run', '--tag', 'site=berlin', '--detach', '--', 'sleep 30']);
    expect(started.status).toBe(0);
    expect(started.stdout).toMatch(jobIdLine);
    const jobId = started.stdout.trim();
    expect(started.stderr).toBe(`Job ${jobId} on 2 nodes.\n`);
    await waitFor('both runs running', async () => (await job(jobId)).counts.running === 2);

    const cancel = await runCli(fleet, ['jobs', 'cancel', jobId]);
    expect([cancel.status, cancel.stderr]).toEqual([
      0,
      `Cancelling job ${jobId}: 2 runs being stopped on the nodes.\n`,
    ]);
    await waitFor('the job ended', async () => (await job(jobId)).finishedAt !== null);
    const shown = await runCli(fleet, ['jobs', jobId]);
    expect(shown.stdout).toMatch(/\noutcome\s+cancelled\n/);
    const again = await runCli(fleet, ['jobs', 'cancel', jobId]);
    expect(again.stderr).toBe(`Job ${jobId} had already ended (cancelled, cancelled): nothing to cancel.\n`);
    expect((await runCli(fleet, ['jobs', 'cancel', '01aaaaaaaaaaaaaaaaaaaaaaaa'])).status).toBe(66);
  });

  it('runs cancel stops one node’s run and the job goes on', async () => {
    const started = await runCli(fleet, ['run', '--tag', 'site=berlin', '--detach', '--', 'sleep 30']);
    const jobId = started.stdout.trim();
    await waitFor('both runs running', async () => (await job(jobId)).counts.running === 2);
    const [first, second] = await runsOf(jobId);
    const cancel = await runCli(fleet, ['runs', 'cancel', first?.runId ?? '']);
    expect([cancel.status, cancel.stderr]).toEqual([
      0,
      `Cancelling run ${first?.runId ?? ''} on ${first?.nodeId ?? ''} (running); the node stops it.\n`,
    ]);
    await waitFor('one run cancelled', async () => (await job(jobId)).counts.cancelled === 1);
    expect((await job(jobId)).counts.running).toBe(1);
    await runCli(fleet, ['runs', 'cancel', second?.runId ?? '']);
    const done = await runCli(fleet, ['runs', 'cancel', first?.runId ?? '']);
    expect(done.stderr).toMatch(/had already ended \(cancelled\)/);
  });

  it('jobs show the outcome; --outcome filters on it and --state failed points there', async () => {
    const failed = await runCli(fleet, ['run', '--node', 'alpha', '--', 'exit 3']);
    expect(failed.status).toBe(2);
    const jobId = /^Job (\w+) on 1 node\.$/m.exec(failed.stderr)?.[1] ?? '';
    const table = await runCli(fleet, ['jobs', '--limit', '5']);
    expect(table.stdout).toMatch(/^JOB\s+CREATED\s+BY\s+STATE\s+OUTCOME\s+TARGET/);
    expect(table.stdout).toMatch(new RegExp(`\\n${jobId}\\s+\\S+ ago\\s+admin\\s+finished\\s+failed\\s`));
    const onlyFailed = await runCli(fleet, ['jobs', '--outcome', 'failed', '-q']);
    expect(onlyFailed.stdout).toBe(`${jobId}\n`);
    const wrongFlag = await runCli(fleet, ['jobs', '--state', 'failed']);
    expect([wrongFlag.status, wrongFlag.stderr]).toEqual([
      64,
      "edgestelle: --state: 'failed' is how a job ended, not its state: use --outcome failed\n",
    ]);
  });

  it('says which targets are offline and how long it waits; --online-only and --deadline 0 leave them out', async () => {
    await beta.stop();
    await waitFor(
      'beta offline',
      async () => !(await fleet.admin.api('GET', '/api/v1/nodes/beta', nodeDtoSchema)).online,
    );
    const waiting = await runCli(fleet, ['run', '--tag', 'site=berlin', '--detach', '--', 'true']);
    const waitingId = waiting.stdout.trim();
    expect(waiting.stderr).toBe(
      `Job ${waitingId} on 2 nodes.\n1 node (beta) offline: waiting up to 10m00s for it (--online-only leaves offline nodes out).\n`,
    );
    await runCli(fleet, ['jobs', 'cancel', waitingId]);

    for (const flag of [['--online-only'], ['--deadline', '0s']]) {
      const online = await runCli(fleet, ['run', '--tag', 'site=berlin', ...flag, '--', 'echo hi']);
      expect([online.status, online.stdout]).toEqual([0, 'alpha | hi\n']);
      expect(online.stderr).toMatch(
        /^Job \w+ on 1 node\.\nLeft out 1 node \(beta\): offline, and the job is online-only\.\n/,
      );
    }
    const none = await runCli(fleet, ['run', '--node', 'beta', '--online-only', '--', 'true']);
    expect([none.status, none.stderr]).toEqual([
      66,
      'edgestelle: no node matching beta is online; without --online-only the job waits for them\n',
    ]);
  });
});
