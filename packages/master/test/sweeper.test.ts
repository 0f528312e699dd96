import { Topics, commandSchema, enrollResponseSchema, type AgentEvent } from '@edgestelle/protocol';
import { openMessage, sealMessage } from '@edgestelle/protocol/envelope';
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { startStack, waitFor, type Stack } from './support/stack.ts';

/** A node that accepts and starts what it is sent and then goes silent: what a crashed host looks like. */
async function silentNode(stack: Stack, nodeId: string) {
  const token = await stack.joinToken();
  const response = await fetch(`${stack.master.url}/api/v1/enroll`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token, nodeId, name: nodeId }),
  });
  const creds = enrollResponseSchema.parse(await response.json());
  const topics = new Topics();
  const key = { keyId: creds.keyId, key: Buffer.from(creds.nodeKey, 'base64') };
  const client = await mqtt.connectAsync(stack.master.brokerUrl, {
    protocolVersion: 4,
    clientId: nodeId,
    username: nodeId,
    password: creds.mqtt.password,
    reconnectPeriod: 0,
  });
  const evt = topics.node(nodeId, 'evt');
  const send = (event: AgentEvent) => client.publishAsync(evt, sealMessage(evt, event, key), { qos: 1 });
  const cancels: string[] = [];
  client.on('message', (topic, payload) => {
    const { message } = openMessage(topics, topic, payload, { keyFor: () => key.key });
    const command = commandSchema.parse(message);
    if (command.kind === 'run') {
      void send({ kind: 'accepted', runId: command.runId }).then(() =>
        send({ kind: 'started', runId: command.runId, startedAt: Date.now(), pid: 4242 }),
      );
    } else if (command.kind === 'cancel') cancels.push(command.runId);
  });
  await client.subscribeAsync(topics.node(nodeId, 'cmd'), { qos: 1 });
  const state = topics.node(nodeId, 'state');
  await client.publishAsync(
    state,
    sealMessage(state, { kind: 'state', online: true, connectionSeq: 1, beat: 0 }, key),
    {
      qos: 1,
      retain: true,
    },
  );
  await waitFor(async () => (await stack.master.nodes.get(nodeId)).online, 10_000, 'online');
  return { client, cancels };
}

describe('sweeper', () => {
  it('gives up a run whose node never reports an exit, and an unconfirmed cancel, each with a reason', async () => {
    await using stack = await startStack('sqlite', 'embedded', { lostRunGraceMs: 60_000, cancelGraceMs: 30_000 });
    const node = await silentNode(stack, 'quiet-1');
    const lost = await stack.createJob({
      target: { nodeIds: ['quiet-1'] },
      spec: { command: 'sleep 1', timeoutMs: 10_000 },
    });
    const [lostRun] = await stack.runs(lost.jobId);
    await stack.waitRun(lostRun?.runId ?? '', (r) => r.state === 'running');
    const cancelled = await stack.createJob({
      target: { nodeIds: ['quiet-1'] },
      spec: { command: 'sleep 1', timeoutMs: 600_000 },
    });
    const [cancelRun] = await stack.runs(cancelled.jobId);
    await stack.waitRun(cancelRun?.runId ?? '', (r) => r.state === 'running');
    await stack.request('POST', `/api/v1/runs/${cancelRun?.runId ?? ''}/cancel`);
    await waitFor(() => node.cancels.includes(cancelRun?.runId ?? ''), 10_000, 'the cancel delivered');

    await stack.master.sweep();
    expect((await stack.runs(lost.jobId))[0]?.state).toBe('running');
    // Past timeout + kill grace + the lost-run grace, and past the cancel grace.
    stack.clock.offsetMs += 10_000 + 5_000 + 60_000 + 1_000;
    await stack.master.sweep();
    const [gaveUp] = await stack.runs(lost.jobId);
    expect(gaveUp?.state).toBe('interrupted');
    expect(gaveUp?.reason).toMatch(/never reported/);
    const [cancelledRun] = await stack.runs(cancelled.jobId);
    expect(cancelledRun?.state).toBe('cancelled');
    expect(cancelledRun?.reason).toMatch(/did not confirm/);
    const job = await stack.waitJob(lost.jobId, (j) => j.finishedAt !== null);
    expect(job.state).toBe('finished');
    node.client.end(true);
  });
});
