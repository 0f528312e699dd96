import { createServer } from 'node:http';
import { jobDtoSchema, scheduleDetailSchema, webhookDeliveryListSchema, webhookListSchema } from '@edgestelle/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFleet, waitFor, type Fleet } from './fleet.ts';

/**
 * `edgestelle schedules …`, `jobs --schedule` and `webhooks …` against a real master with one agent, the
 * CLI as a child process. The cron times are far off: only `schedules run` fires here (the
 * master's tests drive its clock through cron fires).
 */
let fleet: Fleet;

beforeAll(async () => {
  fleet = await startFleet([{ nodeId: 'sched-1', tags: { role: 'db' } }]);
});

afterAll(async () => {
  await fleet?.[Symbol.asyncDispose]();
});

describe('schedules', () => {
  it('creates, lists, shows, fires by hand, pauses, resumes and deletes a schedule', async () => {
    const created = await fleet.cli([
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

    const list = await fleet.cli(['schedules', 'list']);
    expect(list.stdout).toMatch(/nightly\s+30 2 \* \* \*\s+Europe\/Berlin\s+active/);

    const fired = await fleet.cli(['schedules', 'run', 'nightly', '--json']);
    expect(fired.status).toBe(0);
    const job = jobDtoSchema.parse(JSON.parse(fired.stdout));
    expect(job.schedule).toBe('nightly');
    await waitFor(
      async () => (await fleet.api('GET', `/api/v1/jobs/${job.jobId}`, jobDtoSchema)).finishedAt !== null,
      'the fired job to end',
    );

    const jobs = await fleet.cli(['jobs', '--schedule', 'nightly']);
    expect(jobs.stdout).toContain(job.jobId);
    const none = await fleet.cli(['jobs', '--schedule', 'weekly']);
    expect(none.stdout).toBe('No jobs.\n');

    const shown = await fleet.cli(['schedules', 'show', 'nightly']);
    expect(shown.stdout).toMatch(new RegExp(`manual\\s+started\\s+${job.jobId}\\s+finished`));

    const paused = await fleet.cli(['schedules', 'pause', 'nightly']);
    expect(paused.stdout).toBe('Schedule nightly paused.\n');
    expect((await fleet.api('GET', '/api/v1/schedules/nightly', scheduleDetailSchema)).paused).toBe(true);
    const resumed = await fleet.cli(['schedules', 'resume', 'nightly']);
    expect(resumed.stdout).toMatch(/^Schedule nightly resumed; next fire \d{4}-\d\d-\d\dT\d\d:30:00Z\.\n$/);

    const deleted = await fleet.cli(['schedules', 'delete', 'nightly']);
    expect(deleted.status).toBe(0);
    const gone = await fleet.cli(['schedules', 'show', 'nightly']);
    expect(gone.status).toBe(66);
    expect(gone.stderr).toContain('schedule nightly does not exist');
  });

  it('refuses bad flags before asking the master, and the master’s refusals name the field', async () => {
    const noCron = await fleet.cli(['schedules', 'create', 'x', '--all', '--', 'true']);
    expect(noCron.status).toBe(64);
    expect(noCron.stderr).toContain("required option '--cron <expr>' not specified");
    const overlap = await fleet.cli([
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
    const badCron = await fleet.cli(['schedules', 'create', 'x', '--cron', '61 * * * *', '--all', '--', 'true']);
    expect(badCron.status).toBe(64);
    expect(badCron.stderr).toContain("the cron expression '61 * * * *' is not valid");
    const badZone = await fleet.cli([
      'schedules',
      'create',
      'x',
      '--cron',
      '0 3 * * *',
      '--tz',
      'Moon/Base',
      '--all',
      '--',
      'true',
    ]);
    expect(badZone.status).toBe(64);
    expect(badZone.stderr).toContain('timezone');
    expect((await fleet.cli(['schedules', 'list'])).stdout).toBe('No schedules.\n');
  });
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
      const bad = await fleet.cli(['webhooks', 'create', `http://127.0.0.1:${port}/`, '--event', 'job.started']);
      expect([bad.status, bad.stderr]).toEqual([64, expect.stringContaining("--event: 'job.started' is not one of")]);
      const created = await fleet.cli(['webhooks', 'create', `http://127.0.0.1:${port}/`, '--event', 'job.finished']);
      expect(created.status).toBe(0);
      expect(created.stdout).toMatch(/^[0-9a-f]{64}\n$/);
      const [hook] = (await fleet.api('GET', '/api/v1/webhooks', webhookListSchema)).items;
      const list = await fleet.cli(['webhooks', 'list']);
      expect(list.stdout).toContain(`${hook!.webhookId}  http://127.0.0.1:${port}/  job.finished`);

      const job = await fleet.api('POST', '/api/v1/jobs', jobDtoSchema, {
        target: { all: true },
        spec: { command: 'true', timeoutMs: 10_000 },
      });
      await waitFor(() => received.length === 1, 'the job.finished delivery');
      expect(received).toEqual(['job.finished']);
      const deliveries = await fleet.cli(['webhooks', 'deliveries', hook!.webhookId]);
      expect(deliveries.stdout).toMatch(/job\.finished\s+\S+\s+delivered\s+\S+ 200 \(\d+ ms\)/);
      const json = await fleet.cli(['webhooks', 'deliveries', hook!.webhookId, '--json']);
      const [delivery] = webhookDeliveryListSchema.parse(JSON.parse(json.stdout)).items;
      expect([delivery?.state, delivery?.body.includes(job.jobId)]).toEqual(['delivered', true]);

      expect((await fleet.cli(['webhooks', 'delete', hook!.webhookId])).stdout).toBe(
        `Webhook ${hook!.webhookId} deleted.\n`,
      );
      expect((await fleet.cli(['webhooks', 'list'])).stdout).toBe('No webhooks.\n');
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
