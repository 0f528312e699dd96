import {
  auditPageSchema,
  jobDtoSchema,
  jobHistoryPageSchema,
  scheduleDetailSchema,
  scheduleListSchema,
  webhookCreatedSchema,
  type ScheduleCreate,
  type ScheduleDetail,
} from '@edgestelle/protocol';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { ScheduleFailure } from '../src/events.ts';
import { startMaster, waitFor, type InProcessMaster } from '@edgestelle/fleet-fixture';
import { startReceiver } from './support/webhook-receiver.ts';

const MINUTE = 60_000;

function schedule(name: string, extra: Partial<ScheduleCreate> = {}): ScheduleCreate {
  return {
    name,
    cron: '* * * * *',
    job: { target: { all: true }, spec: { command: `echo ${name}`, timeoutMs: 30_000 } },
    ...extra,
  };
}

async function create(stack: InProcessMaster, body: ScheduleCreate): Promise<ScheduleDetail> {
  return stack.admin.api('POST', '/api/v1/schedules', scheduleDetailSchema, body);
}

const detail = (stack: InProcessMaster, name: string) =>
  stack.admin.api('GET', `/api/v1/schedules/${name}`, scheduleDetailSchema);

/** Moves the master's clock to `ms` past the given time (never backwards). */
function moveTo(stack: InProcessMaster, at: number, pastMs = 1): void {
  stack.clock.offsetMs = Math.max(stack.clock.offsetMs, at + pastMs - Date.now());
}

describe('schedules', () => {
  it('a schedule fires twice on real agents, each job saying which schedule made it', async () => {
    await using stack = await startMaster({ deps: { scheduleTickMs: 0 } });
    await stack.startAgent('cron-1');
    await stack.startAgent('cron-2');
    const created = await create(stack, schedule('every-minute', { timezone: 'Europe/Berlin' }));
    expect(created.nextFireTimes).toHaveLength(5);
    expect(created.nextFireTimes[1]! - created.nextFireTimes[0]!).toBe(MINUTE);
    expect(created.nextFireAt).toBe(created.nextFireTimes[0]);

    for (const round of [0, 1]) {
      moveTo(stack, created.nextFireTimes[round]!);
      expect(await stack.master.scheduleFiring.tick()).toBe(1);
      // The same cron time is fired once, however often the master looks.
      expect(await stack.master.scheduleFiring.tick()).toBe(0);
      const jobs = await stack.admin.api('GET', '/api/v1/jobs?schedule=every-minute', jobHistoryPageSchema);
      expect(jobs.items).toHaveLength(round + 1);
      const job = jobs.items[0]!;
      expect([job.schedule, job.createdBy]).toEqual(['every-minute', 'admin']);
      // Overlap is `skip` by default: the next fire needs this job to have ended.
      const done = await stack.admin.waitJob(job.jobId, (j) => j.finishedAt !== null);
      expect(done.counts.succeeded).toBe(2);
    }
    const shown = await detail(stack, 'every-minute');
    expect(shown.fires.map((f) => [f.trigger, f.outcome, f.scheduledAt])).toEqual([
      ['cron', 'started', created.nextFireTimes[1]],
      ['cron', 'started', created.nextFireTimes[0]],
    ]);
    expect(shown.fires.every((f) => f.jobState === 'finished')).toBe(true);
    expect(shown.nextFireAt).toBe(created.nextFireTimes[2]);
    const other = await stack.admin.api('GET', '/api/v1/jobs?schedule=nothing-here', jobHistoryPageSchema);
    expect(other.items).toHaveLength(0);
  });

  it('follows its overlap and missed-fire policies, pauses, fires by hand and records why', async () => {
    await using stack = await startMaster({ deps: { scheduleTickMs: 0 } });
    // A node that is away: its runs wait, so each job stays running and the next fire overlaps.
    const away = await stack.startAgent('away-1');
    await away.stop();
    const failures: ScheduleFailure[] = [];
    stack.master.events.on('scheduleFailed', (failure) => failures.push(failure));
    const skip = await create(stack, schedule('o-skip', { overlap: 'skip' }));
    await create(stack, schedule('o-queue', { overlap: 'queue' }));
    await create(stack, schedule('o-allow', { overlap: 'allow' }));
    await create(stack, schedule('m-skip', { missed: 'skip', overlap: 'allow' }));
    await create(
      stack,
      schedule('nowhere', { job: { target: { tags: { site: 'mars' } }, spec: { command: 'true', timeoutMs: 1000 } } }),
    );
    const [t1, t2, t3] = skip.nextFireTimes;

    moveTo(stack, t1!);
    expect(await stack.master.scheduleFiring.tick()).toBe(5);
    moveTo(stack, t2!);
    expect(await stack.master.scheduleFiring.tick()).toBe(5);
    moveTo(stack, t3!);
    expect(await stack.master.scheduleFiring.tick()).toBe(5);

    const outcomes = async (name: string) =>
      (await detail(stack, name)).fires.map((f) => `${f.trigger}:${f.outcome}`).reverse();
    expect(await outcomes('o-skip')).toEqual(['cron:started', 'cron:skipped', 'cron:skipped']);
    expect(await outcomes('o-queue')).toEqual(['cron:started', 'cron:queued', 'cron:skipped']);
    expect(await outcomes('o-allow')).toEqual(['cron:started', 'cron:started', 'cron:started']);
    expect((await detail(stack, 'o-skip')).fires[0]?.reason).toMatch(/still runs \(overlap: skip\)/);
    const nowhere = await detail(stack, 'nowhere');
    expect(nowhere.fires.map((f) => f.outcome)).toEqual(['failed', 'failed', 'failed']);
    expect(nowhere.fires[0]?.reason).toMatch(/matches no enrolled node/);
    expect(failures.map((f) => [f.name, f.scheduledAt])).toEqual([
      ['nowhere', t1],
      ['nowhere', t2],
      ['nowhere', t3],
    ]);

    // The queued fire starts once the running job ends.
    const queued = await detail(stack, 'o-queue');
    expect(queued.queuedFireAt).toBe(t2);
    await stack.admin.api('POST', `/api/v1/jobs/${queued.fires.at(-1)!.jobId!}/cancel`, jobDtoSchema);
    await stack.master.scheduleFiring.tick();
    expect(await outcomes('o-queue')).toEqual(['cron:started', 'cron:queued', 'cron:skipped', 'queued:started']);
    expect((await detail(stack, 'o-queue')).queuedFireAt).toBeNull();

    // Ten minutes with no master firing: run_once makes one job for all of them, skip none.
    stack.clock.offsetMs += 10 * MINUTE;
    await stack.master.scheduleFiring.tick();
    const missedOnce = (await detail(stack, 'o-allow')).fires[0]!;
    expect([missedOnce.trigger, missedOnce.outcome]).toEqual(['missed', 'started']);
    expect(missedOnce.reason).toMatch(/^1[01] cron times from .* fell while no master was firing \(missed: run_once\)/);
    const missedSkip = (await detail(stack, 'm-skip')).fires[0]!;
    expect([missedSkip.trigger, missedSkip.outcome, missedSkip.jobId]).toEqual(['missed', 'skipped', null]);
    const after = await detail(stack, 'o-allow');
    expect(after.nextFireAt).toBeGreaterThan(stack.clock.now());

    // Paused: no fire, however late; resumed: the next cron time from now, no catching up.
    const paused = await stack.admin.api('POST', '/api/v1/schedules/o-allow/pause', scheduleDetailSchema);
    expect([paused.paused, paused.nextFireAt]).toEqual([true, null]);
    stack.clock.offsetMs += 5 * MINUTE;
    const firesBefore = (await detail(stack, 'o-allow')).fires.length;
    await stack.master.scheduleFiring.tick();
    expect((await detail(stack, 'o-allow')).fires).toHaveLength(firesBefore);
    const resumed = await stack.admin.api('POST', '/api/v1/schedules/o-allow/resume', scheduleDetailSchema);
    expect(resumed.paused).toBe(false);
    expect(resumed.nextFireAt! - stack.clock.now()).toBeLessThanOrEqual(MINUTE);
    expect(resumed.nextFireAt!).toBeGreaterThan(stack.clock.now());

    // By hand: a job now, whatever runs, recorded with who asked.
    const manual = await stack.admin.api('POST', '/api/v1/schedules/o-skip/run', jobDtoSchema);
    expect(manual.schedule).toBe('o-skip');
    const manualFire = (await detail(stack, 'o-skip')).fires[0]!;
    expect([manualFire.trigger, manualFire.outcome, manualFire.jobId, manualFire.actor]).toEqual([
      'manual',
      'started',
      manual.jobId,
      'admin',
    ]);

    const audit = await stack.admin.api('GET', '/api/v1/audit?target=schedule:o-allow', auditPageSchema);
    expect(audit.items.map((e) => e.action).reverse()).toEqual([
      'schedule.create',
      'schedule.pause',
      'schedule.resume',
    ]);

    // Fire records are kept 90 days.
    expect(await stack.master.scheduleFiring.prune(90 * 24 * 3600_000)).toBe(0);
    stack.clock.offsetMs += 91 * 24 * 3600_000;
    expect(await stack.master.scheduleFiring.prune(90 * 24 * 3600_000)).toBeGreaterThan(10);
    expect((await detail(stack, 'o-skip')).fires).toEqual([]);

    const gone = await stack.admin.request('DELETE', '/api/v1/schedules/o-allow');
    expect(gone.status).toBe(204);
    expect((await stack.admin.request('GET', '/api/v1/schedules/o-allow')).status).toBe(404);
    // Its jobs stay, still naming it.
    const kept = await stack.admin.api('GET', '/api/v1/jobs?schedule=o-allow', jobHistoryPageSchema);
    expect(kept.items.length).toBeGreaterThanOrEqual(4);
  });

  it('fires a 02:30 job once on the nights the clocks change, in Berlin and in New York', async () => {
    await using stack = await startMaster({ deps: { scheduleTickMs: 0 } });
    const away = await stack.startAgent('dst-1');
    await away.stop();
    /** Walks the master's clock in 10-minute steps over [from, to), ticking at each; returns the fires' cron times. */
    const walk = async (name: string, cron: string, timezone: string, from: string, to: string) => {
      stack.clock.offsetMs = Date.parse(from) - Date.now();
      await create(stack, schedule(name, { cron, timezone, overlap: 'allow' }));
      for (let at = Date.parse(from); at < Date.parse(to); at += 10 * MINUTE) {
        stack.clock.offsetMs = at - Date.now();
        await stack.master.scheduleFiring.tick();
      }
      const fires = (await detail(stack, name)).fires.reverse();
      expect(fires.every((f) => f.trigger === 'cron' && f.outcome === 'started')).toBe(true);
      return fires.map((f) => new Date(f.scheduledAt).toISOString());
    };
    expect(
      await walk('berlin-spring', '30 2 * * *', 'Europe/Berlin', '2026-03-28T12:00:00Z', '2026-03-30T12:00:00Z'),
    ).toEqual([
      '2026-03-29T01:00:00.000Z', // 02:30 does not exist that night: 03:00 CEST
      '2026-03-30T00:30:00.000Z',
    ]);
    expect(
      await walk('berlin-fall', '30 2 * * *', 'Europe/Berlin', '2026-10-24T12:00:00Z', '2026-10-26T12:00:00Z'),
    ).toEqual([
      '2026-10-25T00:30:00.000Z', // 02:30 happens twice that night: once
      '2026-10-26T01:30:00.000Z',
    ]);
    expect(
      await walk('ny-spring', '30 2 * * *', 'America/New_York', '2026-03-07T12:00:00Z', '2026-03-09T12:00:00Z'),
    ).toEqual(['2026-03-08T07:00:00.000Z', '2026-03-09T06:30:00.000Z']);
    expect(
      await walk('ny-fall', '30 1 * * *', 'America/New_York', '2026-10-31T12:00:00Z', '2026-11-02T12:00:00Z'),
    ).toEqual(['2026-11-01T05:30:00.000Z', '2026-11-02T06:30:00.000Z']);
  });

  it('refuses bad input with the field named and stores nothing', async () => {
    await using stack = await startMaster({ deps: { scheduleTickMs: 0 } });
    await stack.startAgent('bad-1');
    const cases: Array<[unknown, number, string | undefined]> = [
      [{ ...schedule('c1'), cron: '* * * *' }, 400, 'cron'],
      [{ ...schedule('c2'), cron: '99 * * * *' }, 400, 'cron'],
      [{ ...schedule('c3'), timezone: 'Mars/Olympus' }, 400, 'timezone'],
      [{ ...schedule('c4'), overlap: 'sometimes' }, 400, 'overlap'],
      [schedule('Bad Name'), 400, 'name'],
      [{ ...schedule('c5'), job: { target: { all: true }, script: { name: 'no-such-script' } } }, 404, undefined],
      [
        {
          ...schedule('c6'),
          job: { target: { all: true }, spec: { command: 'x', timeoutMs: 1000 }, secretEnv: { A: 'b' } },
        },
        400,
        'job.secretEnv',
      ],
      [{ ...schedule('c7'), startAt: 2000, endAt: 1000 }, 400, 'endAt'],
    ];
    for (const [body, status, field] of cases) {
      const response = await stack.admin.request('POST', '/api/v1/schedules', body);
      const answer: unknown = await response.json();
      expect([response.status, answer], JSON.stringify(body)).toMatchObject([
        status,
        field === undefined ? {} : { field },
      ]);
    }
    await create(stack, schedule('taken'));
    const again = await stack.admin.request('POST', '/api/v1/schedules', schedule('taken'));
    expect(again.status).toBe(409);
    const list = await stack.admin.api('GET', '/api/v1/schedules', scheduleListSchema);
    expect(list.items.map((s) => s.name)).toEqual(['taken']);
  });
});

describe('schedules on two masters sharing one PostgreSQL', () => {
  it('fires each cron time exactly once, whichever master looks and however often', async () => {
    await using a = await startMaster({
      db: 'postgres',
      broker: 'mosquitto',
      config: { mqttShared: 'true' },
      deps: { scheduleTickMs: 0 },
    });
    await using shared = await startMaster({
      sharedWith: a,
      config: { mqttShared: 'true' },
      deps: { scheduleTickMs: 0, clock: a.clock },
    });
    const b = shared.master;
    await using receiver = await startReceiver();
    await a.startAgent('pg-1');
    await a.admin.api('POST', '/api/v1/webhooks', webhookCreatedSchema, {
      url: receiver.url,
      events: ['job.finished'],
    });
    const names = ['pg-a', 'pg-b', 'pg-c'];
    const first = await create(a, schedule(names[0]!, { overlap: 'allow' }));
    for (const name of names.slice(1)) await create(a, schedule(name, { overlap: 'allow' }));
    for (const at of first.nextFireTimes.slice(0, 3)) {
      moveTo(a, at);
      // Both masters, several times each, at once.
      const acted = await Promise.all(
        [1, 2, 3].flatMap(() => [a.master.scheduleFiring.tick(), b.scheduleFiring.tick()]),
      );
      expect(acted.reduce((sum, n) => sum + n, 0)).toBe(names.length);
    }
    for (const name of names) {
      const fires = (await detail(a, name)).fires;
      expect(fires.map((f) => f.scheduledAt).reverse()).toEqual(first.nextFireTimes.slice(0, 3));
      expect(fires.every((f) => f.outcome === 'started')).toBe(true);
      const jobs = await a.admin.api('GET', `/api/v1/jobs?schedule=${name}`, jobHistoryPageSchema);
      expect(jobs.items).toHaveLength(3);
      for (const job of jobs.items)
        expect((await a.admin.waitJob(job.jobId, (j) => j.finishedAt !== null)).counts.succeeded).toBe(1);
    }
    // Each job's end is told once, whichever master ended it and whichever delivers (both run their timers).
    await waitFor('nine job.finished deliveries', () => receiver.received.length >= 9, { timeoutMs: 20_000 });
    await Promise.all([a.master.webhooks.deliver(), b.webhooks.deliver()]);
    const finishedSchema = z.object({ data: z.object({ job: z.object({ jobId: z.string() }) }) });
    const jobIds = receiver.received.map((r) => finishedSchema.parse(JSON.parse(r.body)).data.job.jobId);
    expect(jobIds).toHaveLength(9);
    expect(new Set(jobIds).size).toBe(9);
    // Nothing is missing, so the catch-up (on PostgreSQL here) finds nothing to queue.
    a.clock.offsetMs += 10_000;
    expect(await a.master.webhooks.catchUpFinishedJobs()).toBe(0);
    expect(await b.webhooks.catchUpFinishedJobs()).toBe(0);
  });
});
