import { describe, expect, it } from 'vitest';
import { startStack, waitFor } from './support/stack.ts';

/**
 * The production broker shape: an external Mosquitto whose users and ACLs the master manages
 * through the dynamic-security plugin (packages/master/src/mosquitto-sync).
 */
describe('external Mosquitto with dynamic security', () => {
  it('gives an enrolling node its broker user, runs a job on it, and revocation removes it', async () => {
    await using stack = await startStack('sqlite', 'mosquitto-dynsec');
    expect(stack.master.config.mqttDynsec).toBe(true);
    const agent = await stack.agent('edge-1');
    const job = await stack.createJob({
      target: { nodeIds: [agent.nodeId] },
      spec: { command: 'echo via dynsec', timeoutMs: 30_000 },
    });
    const [run] = await stack.runs(job.jobId);
    const done = await stack.waitRun(run?.runId ?? '', (r) => r.complete);
    expect(done.state).toBe('succeeded');
    expect(await (await stack.request('GET', `/api/v1/runs/${done.runId}/output/raw`)).text()).toBe('via dynsec\n');

    const revoked = await stack.request('POST', `/api/v1/nodes/${agent.nodeId}/revoke`);
    expect(revoked.status).toBe(200);
    // Mosquitto drops the deleted user's connection; the node's will marks it offline.
    await waitFor(async () => !(await stack.master.nodes.get(agent.nodeId)).online, 15_000, 'offline after revoke');
  });
});
