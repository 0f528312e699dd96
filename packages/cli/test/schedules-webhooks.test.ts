import { createServer } from 'node:http';
import { jobDtoSchema, scheduleDetailSchema, webhookDeliveryListSchema, webhookListSchema } from '@edgestelle/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startMaster, waitFor, type InProcessMaster } from '@edgestelle/fleet-fixture';

/**
 * `edgestelle schedules …`, `jobs --schedule` and `webhooks …` against a real master with one agent, the
 * CLI as a child process. The cron times are far off: only `schedules run` fires here (the
 * master's tests drive its clock through cron fires).
 */
let fleet: InProcessMaster;

beforeAll(async () => {
  fleet = await startMaster();
  await fleet.startAgent('sched-1', { tags: { role: 'db' } });
});

afterAll(async () => {
  await fleet?.[Symbol.asyncDispose]();
});

describe('schedules', () => {
  it('creates, lists, shows, fires by hand, pauses, resumes and deletes a schedule', async () => {
    const created = await runCli(fleet, [
      'schedules',
      'create',
      'nightly',
      '--cron',
      '30 2 * * *',
      '--tz',
      'Europe/Berlin',
      '--tag',
      'role=db',
      '--overlap',
      'queue',
      '--jitter',
      '1m',
      '--',
      'echo',
      'backup-done',
    ]);
    expect(created.stderr).toBe('');
    expect(created.status).toBe(0);
    expect(created.stdout).toContain('Schedule nightly created.');
    expect(created.stdout).toMatch(/cron\s+30 2 \* \* \* \(Europe\/Berlin\)/);
    // Five next fires, each shown in the zone as well (CET or CEST).
    expect(created.stdout.match(/02:30 GMT\+[12]/g)).toHaveLength(5);

    const list = await runCli(fleet, ['schedules', 'list']);
    expect(list.stdout).toMatch(/nightly\s+30 2 \* \* \*\s+Europe\/Berlin\s+active/);

    const fired = await runCli(fleet, ['schedules', 'run', 'nightly', '--json']);
    expect(fired.status).toBe(0);
    const job = jobDtoSchema.parse(JSON.parse(fired.stdout));
    expect(job.schedule).toBe('nightly');
    await waitFor(
      'the fired job to end',
      async () => (await fleet.admin.api('GET', `/api/v1/jobs/${job.jobId}`, jobDtoSchema)).finishedAt !== null,
    );

    const jobs = await runCli(fleet, ['jobs', '--schedule', 'nightly']);
    expect(jobs.stdout).toContain(job.jobId);
    const none = await runCli(fleet, ['jobs', '--schedule', 'weekly']);
    expect(none.stdout).toBe('No jobs.\n');

    const shown = await runCli(fleet, ['schedules', 'show', 'nightly']);
    expect(shown.stdout).toMatch(new RegExp(`manual\\s+started\\s+${job.jobId}\\s+finished`));

    const paused = await runCli(fleet, ['schedules', 'pause', 'nightly']);
    expect(paused.stdout).toBe('Schedule nightly paused.\n');
    expect((await fleet.admin.api('GET', '/api/v1/schedules/nightly', scheduleDetailSchema)).paused).toBe(true);
    const resumed = await runCli(fleet, ['schedules', 'resume', 'nightly']);
    expect(resumed.stdout).toMatch(/^Schedule nightly resumed; next fire \d{4}-\d\d-\d\dT\d\d:30:00Z\.\n$/);

    const deleted = await runCli(fleet, ['schedules', 'delete', 'nightly']);
    expect(deleted.status).toBe(0);
    const gone = await runCli(fleet, ['schedules', 'show', 'nightly']);
    expect(gone.status).toBe(66);
    expect(gone.stderr).toContain('schedule nightly does not exist');
  }, 90_000);

  it('refuses bad flags before asking the master, and says what the master refused', async () => {
    const noCron = await runCli(fleet, ['schedules', 'create', 'x', '--all', '--', 'true']);
    expect(noCron.status).toBe(64);
    expect(noCron.stderr).toContain("required option '--cron <expr>' not specified");
    const overlap = await runCli(fleet, [
      'schedules',
      'create',
      'x',
      '--cron',
      '* * * * *',
      '--all',
      '--overlap',
      'never',
      '--',
      'true',
    ]);
    expect([overlap.status, overlap.stderr]).toEqual([
      64,
      expect.stringContaining("--overlap: 'never' is not skip, queue, allow"),
    ]);
    const badCron = await runCli(fleet, ['schedules', 'create', 'x', '--cron', '61 * * * *', '--all', '--', 'true']);
    expect(badCron.status).toBe(64);
    expect(badCron.stderr).toContain("the cron expression '61 * * * *' is not valid");
  }, 90_000);
});

describe('webhooks', () => {
  it('creates a webhook (the secret alone on a pipe), lists it, shows its deliveries and deletes it', async () => {
    const received: string[] = [];
    const server = createServer((request, response) => {
      request.resume();
      request.on('end', () => {
        received.push(String(request.headers['x-edgestelle-event']));
        response.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = address !== null && typeof address === 'object' ? address.port : 0;
    try {
      const bad = await runCli(fleet, ['webhooks', 'create', `http://127.0.0.1:${port}/`, '--event', 'job.started']);
      expect([bad.status, bad.stderr]).toEqual([64, expect.stringContaining("--event: 'job.started' is not one of")]);
      const created = await runCli(fleet, [
        'webhooks',
        'create',
        `http://127.0.0.1:${port}/`,
        '--event',
        'job.finished',
      ]);
      expect(created.status).toBe(0);
      expect(created.stdout).toMatch(/^[0-9a-f]{64}\n$/);
      const [hook] = (await fleet.admin.api('GET', '/api/v1/webhooks', webhookListSchema)).items;
      const list = await runCli(fleet, ['webhooks', 'list']);
      expect(list.stdout).toContain(`${hook!.webhookId}  http://127.0.0.1:${port}/  job.finished`);

      const job = await fleet.admin.api('POST', '/api/v1/jobs', jobDtoSchema, {
        target: { all: true },
        spec: { command: 'true', timeoutMs: 10_000 },
      });
      await waitFor('the job.finished delivery', () => received.length === 1);
      expect(received).toEqual(['job.finished']);
      const deliveries = await runCli(fleet, ['webhooks', 'deliveries', hook!.webhookId]);
      expect(deliveries.stdout).toMatch(/job\.finished\s+\S+\s+delivered\s+\S+ 200 \(\d+ ms\)/);
      const json = await runCli(fleet, ['webhooks', 'deliveries', hook!.webhookId, '--json']);
      const [delivery] = webhookDeliveryListSchema.parse(JSON.parse(json.stdout)).items;
      expect([delivery?.state, delivery?.body.includes(job.jobId)]).toEqual(['delivered', true]);

      expect((await runCli(fleet, ['webhooks', 'delete', hook!.webhookId])).stdout).toBe(
        `Webhook ${hook!.webhookId} deleted.\n`,
      );
      expect((await runCli(fleet, ['webhooks', 'list'])).stdout).toBe('No webhooks.\n');
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }, 90_000);
});
