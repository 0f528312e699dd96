import { createHmac } from 'node:crypto';
import {
  jobDtoSchema,
  scheduleDetailSchema,
  webhookCreatedSchema,
  webhookDeliveryListSchema,
  webhookListSchema,
  type WebhookCreate,
  type WebhookDeliveryDto,
} from '@edgestelle/protocol';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startMaster, waitFor, type InProcessMaster } from '@edgestelle/fleet-fixture';
import { startReceiver, type Received } from './support/webhook-receiver.ts';

const bodySchema = z.object({
  id: z.string(),
  event: z.string(),
  occurredAt: z.number(),
  data: z.record(z.string(), z.unknown()),
});

function verified(secret: string, message: Received) {
  const expected = `sha256=${createHmac('sha256', secret).update(message.body).digest('hex')}`;
  expect(message.headers['x-edgestelle-signature']).toBe(expected);
  const body = bodySchema.parse(JSON.parse(message.body));
  expect(message.headers['x-edgestelle-delivery']).toBe(body.id);
  expect(message.headers['x-edgestelle-event']).toBe(body.event);
  return body;
}

async function addWebhook(stack: InProcessMaster, body: WebhookCreate) {
  return stack.admin.api('POST', '/api/v1/webhooks', webhookCreatedSchema, body);
}

async function deliveries(stack: InProcessMaster, webhookId: string): Promise<WebhookDeliveryDto[]> {
  return (await stack.admin.api('GET', `/api/v1/webhooks/${webhookId}/deliveries`, webhookDeliveryListSchema)).items;
}

const quiet = { scheduleTickMs: 0, webhooks: { passMs: 0, offlineScanMs: 0, attemptTimeoutMs: 2000 } };

describe('webhooks', () => {
  it('tells a receiver of finished jobs, paused jobs, failed fires and offline nodes, signed, each once', async () => {
    await using receiver = await startReceiver();
    await using stack = await startMaster({
      deps: { ...quiet, webhooks: { ...quiet.webhooks, offlineDebounceMs: 30_000 } },
    });
    const agent = await stack.startAgent('hook-1');
    const hook = await addWebhook(stack, {
      url: receiver.url,
      events: ['job.finished', 'job.paused', 'schedule.failed', 'node.offline'],
    });
    expect(hook.secret).toMatch(/^[0-9a-f]{64}$/);
    const listed = await stack.admin.api('GET', '/api/v1/webhooks', webhookListSchema);
    expect(listed.items.map((w) => [w.webhookId, w.url])).toEqual([[hook.webhookId, receiver.url]]);
    expect(JSON.stringify(listed)).not.toContain(hook.secret);

    await stack.startAgent('hook-2');
    // A rollout in waves whose first wave fails its gate: the job pauses (the rollout's code emits it), then is cancelled.
    const job = await stack.admin.createJob({
      target: { all: true },
      spec: { command: 'exit 3', timeoutMs: 10_000 },
      rollout: { waves: [{ count: 1 }, { percent: 100 }] },
    });
    await stack.admin.waitJob(job.jobId, (j) => j.state === 'paused');
    await waitFor('the job.paused delivery', async () => (await stack.master.webhooks.deliver()) > 0, {
      timeoutMs: 10_000,
    });
    await stack.admin.api('POST', `/api/v1/jobs/${job.jobId}/cancel`, jobDtoSchema);
    await stack.admin.waitJob(job.jobId, (j) => j.finishedAt !== null);
    await waitFor('the job.finished delivery', async () => (await stack.master.webhooks.deliver()) > 0, {
      timeoutMs: 10_000,
    });
    await stack.admin
      .api('POST', '/api/v1/schedules', scheduleDetailSchema, {
        name: 'to-mars',
        cron: '* * * * *',
        job: { target: { tags: { site: 'mars' } }, spec: { command: 'true', timeoutMs: 1000 } },
      })
      .then((s) => (stack.clock.offsetMs = s.nextFireAt! + 1 - Date.now()));
    await stack.master.scheduleFiring.tick();
    await agent.stop();
    await waitFor('hook-1 offline', async () => !(await stack.master.nodes.get('hook-1')).online, {
      timeoutMs: 10_000,
    });
    // Within the debounce: no news yet.
    expect(await stack.master.webhooks.scanOfflineNodes()).toBe(0);
    stack.clock.offsetMs += 31_000;
    expect(await stack.master.webhooks.scanOfflineNodes()).toBe(1);
    expect(await stack.master.webhooks.scanOfflineNodes()).toBe(0);
    await waitFor(
      'four deliveries',
      async () => {
        await stack.master.webhooks.deliver();
        return receiver.received.length >= 4;
      },
      { timeoutMs: 10_000 },
    );

    const bodies = receiver.received.map((message) => verified(hook.secret, message));
    expect(bodies.map((b) => b.event)).toEqual(['job.paused', 'job.finished', 'schedule.failed', 'node.offline']);
    expect(bodies[0]!.data).toMatchObject({ job: { jobId: job.jobId, state: 'paused', counts: { failed: 1 } } });
    expect(String(bodies[0]!.data.reason)).toMatch(/wave 1/);
    expect(bodies[1]!.data).toMatchObject({ job: { jobId: job.jobId, state: 'cancelled', counts: { failed: 1 } } });
    expect(bodies[2]!.data).toMatchObject({
      schedule: 'to-mars',
    });
    expect(String(bodies[2]!.data.reason)).toMatch(/matches no enrolled node/);
    expect(bodies[3]!.data).toMatchObject({ nodeId: 'hook-1', name: 'hook-1' });
    const shown = await deliveries(stack, hook.webhookId);
    expect(shown.map((d) => [d.event, d.state, d.attempts.map((a) => a.status)])).toEqual([
      ['node.offline', 'delivered', [200]],
      ['schedule.failed', 'delivered', [200]],
      ['job.finished', 'delivered', [200]],
      ['job.paused', 'delivered', [200]],
    ]);
    const listedAfter = await stack.admin.api('GET', '/api/v1/webhooks', webhookListSchema);
    expect(listedAfter.items[0]!.recent).toEqual({ delivered: 4, pending: 0, failed: 0 });
  });

  it('retries a receiver that answers 500 with backoff, every attempt visible, until it takes it', async () => {
    await using receiver = await startReceiver();
    await using stack = await startMaster({ deps: quiet });
    await stack.startAgent('retry-1');
    const hook = await addWebhook(stack, { url: receiver.url, events: ['job.finished'] });
    receiver.state.status = 500;
    const job = await stack.admin.createJob({ target: { all: true }, spec: { command: 'true', timeoutMs: 10_000 } });
    await stack.admin.waitJob(job.jobId, (j) => j.finishedAt !== null);
    await waitFor('the first attempt', async () => (await stack.master.webhooks.deliver()) > 0, { timeoutMs: 10_000 });
    let [delivery] = await deliveries(stack, hook.webhookId);
    expect([delivery!.state, delivery!.attempts.map((a) => [a.status, a.error])]).toEqual([
      'pending',
      [[500, 'HTTP 500']],
    ]);
    // Not due again before its backoff (30 s), then due.
    expect(await stack.master.webhooks.deliver()).toBe(0);
    stack.clock.offsetMs = delivery!.nextAttemptAt! - Date.now() + 1;
    expect(await stack.master.webhooks.deliver()).toBe(1);
    [delivery] = await deliveries(stack, hook.webhookId);
    expect(delivery!.attempts.map((a) => a.status)).toEqual([500, 500]);
    expect(delivery!.nextAttemptAt! - delivery!.attempts[1]!.at).toBeGreaterThanOrEqual(60_000);

    receiver.state.status = 204;
    stack.clock.offsetMs = delivery!.nextAttemptAt! - Date.now() + 1;
    expect(await stack.master.webhooks.deliver()).toBe(1);
    [delivery] = await deliveries(stack, hook.webhookId);
    expect([delivery!.state, delivery!.nextAttemptAt, delivery!.attempts.map((a) => a.status)]).toEqual([
      'delivered',
      null,
      [500, 500, 204],
    ]);
    // Every attempt carried the same body and delivery id, so the same signature.
    expect(new Set(receiver.received.map((r) => r.headers['x-edgestelle-signature'])).size).toBe(1);
    expect(new Set(receiver.received.map((r) => r.headers['x-edgestelle-delivery']))).toEqual(
      new Set([delivery!.deliveryId]),
    );

    // A day of failures and it gives up.
    receiver.state.status = 503;
    const second = await stack.admin.createJob({ target: { all: true }, spec: { command: 'true', timeoutMs: 10_000 } });
    await stack.admin.waitJob(second.jobId, (j) => j.finishedAt !== null);
    stack.clock.offsetMs += 24 * 3600_000;
    await waitFor('an attempt a day later', async () => (await stack.master.webhooks.deliver()) > 0, {
      timeoutMs: 10_000,
    });
    const [last] = await deliveries(stack, hook.webhookId);
    expect([last!.state, last!.nextAttemptAt]).toEqual(['failed', null]);
    // Finished deliveries are kept a week, with their attempts.
    expect(await stack.master.webhooks.prune()).toBe(0);
    stack.clock.offsetMs += 7 * 24 * 3600_000;
    expect(await stack.master.webhooks.prune()).toBe(2);
    expect(await deliveries(stack, hook.webhookId)).toEqual([]);
    const attempts = await stack.master.store.db.selectFrom('webhook_attempts').select('attempt').execute();
    expect(attempts).toEqual([]);
  });

  it('a receiver that hangs holds nothing up: jobs start and end while its attempt waits', async () => {
    await using receiver = await startReceiver();
    receiver.state.hold = true;
    await using stack = await startMaster({
      deps: { scheduleTickMs: 0, webhooks: { passMs: 50, offlineScanMs: 0, attemptTimeoutMs: 60_000 } },
    });
    await stack.startAgent('hang-1');
    await addWebhook(stack, { url: receiver.url, events: ['job.finished'] });
    const first = await stack.admin.createJob({ target: { all: true }, spec: { command: 'true', timeoutMs: 10_000 } });
    await stack.admin.waitJob(first.jobId, (j) => j.finishedAt !== null);
    await waitFor('the hanging attempt to start', () => receiver.received.length === 1, { timeoutMs: 10_000 });
    for (let i = 0; i < 3; i += 1) {
      const next = await stack.admin.createJob({
        target: { all: true },
        spec: { command: `echo ${i}`, timeoutMs: 10_000 },
      });
      const done = await stack.admin.waitJob(next.jobId, (j) => j.finishedAt !== null);
      expect(done.counts.succeeded).toBe(1);
    }
    // The later jobs' deliveries went out beside the one still waiting for its answer.
    await waitFor('the other deliveries', () => receiver.received.length === 4, { timeoutMs: 10_000 });
    receiver.release();
  });

  it('catches up a job.finished that no master queued (one stopped between the commit and the queueing)', async () => {
    await using receiver = await startReceiver();
    await using stack = await startMaster({ deps: quiet });
    await stack.startAgent('catch-1');
    const hook = await addWebhook(stack, { url: receiver.url, events: ['job.finished'] });
    const job = await stack.admin.createJob({ target: { all: true }, spec: { command: 'true', timeoutMs: 10_000 } });
    await stack.admin.waitJob(job.jobId, (j) => j.finishedAt !== null);
    // As if the master that ended it had stopped before queueing: the queued delivery goes.
    const db = stack.master.store.db;
    await waitFor(
      'the queued delivery',
      async () => (await db.selectFrom('webhook_deliveries').select('delivery_id').execute()).length === 1,
    );
    await db.deleteFrom('webhook_deliveries').execute();
    expect(await stack.master.webhooks.catchUpFinishedJobs()).toBe(0);
    stack.clock.offsetMs += 10_000;
    expect(await stack.master.webhooks.catchUpFinishedJobs()).toBe(1);
    expect(await stack.master.webhooks.catchUpFinishedJobs()).toBe(0);
    await stack.master.webhooks.deliver();
    const [delivery] = await deliveries(stack, hook.webhookId);
    expect([delivery?.event, delivery?.state, delivery?.body.includes(job.jobId)]).toEqual([
      'job.finished',
      'delivered',
      true,
    ]);
    expect(receiver.received).toHaveLength(1);
    // A webhook made later does not hear of it.
    const later = await addWebhook(stack, { url: receiver.url, events: ['job.finished'] });
    await db.deleteFrom('webhook_deliveries').execute();
    expect(await stack.master.webhooks.catchUpFinishedJobs()).toBe(1);
    expect((await deliveries(stack, later.webhookId)).length).toBe(0);
  });

  it('refuses bad webhooks with the field named; only admins see or change them', async () => {
    await using stack = await startMaster({ deps: quiet });
    const cases: Array<[unknown, string]> = [
      [{ url: 'ftp://example.com/x', events: ['job.finished'] }, 'url'],
      [{ url: 'http://user:pw@127.0.0.1/x', events: ['job.finished'] }, 'url'],
      [{ url: 'http://127.0.0.1/x', events: [] }, 'events'],
      [{ url: 'http://127.0.0.1/x', events: ['job.started'] }, 'events.0'],
    ];
    for (const [body, field] of cases) {
      const response = await stack.admin.request('POST', '/api/v1/webhooks', body);
      expect([response.status, await response.json()]).toMatchObject([400, { field }]);
    }
    expect((await stack.admin.api('GET', '/api/v1/webhooks', webhookListSchema)).items).toEqual([]);
    const { client: operator } = await stack.admin.createUser('olga', 'operator');
    const asOperator = await operator.request('GET', '/api/v1/webhooks');
    expect(asOperator.status).toBe(403);
    const hook = await addWebhook(stack, { url: 'http://127.0.0.1:9/x', events: ['job.finished'] });
    expect((await stack.admin.request('DELETE', `/api/v1/webhooks/${hook.webhookId}`)).status).toBe(204);
    expect((await stack.admin.request('GET', `/api/v1/webhooks/${hook.webhookId}/deliveries`)).status).toBe(404);
  });
});
