import { describe, expect, it } from 'vitest';
import { startMaster, waitFor } from '@edgestelle/fleet-fixture';

/**
 * The production broker shape: an external Mosquitto whose users and ACLs the master manages
 * through the dynamic-security plugin (packages/master/src/mosquitto-sync).
 */
describe('external Mosquitto with dynamic security', () => {
  it('gives an enrolling node its broker user, runs a job on it, and revocation removes it', async () => {
    await using stack = await startMaster({ broker: 'mosquitto-dynsec' });
    expect(stack.master.config.mqttDynsec).toBe(true);
    const agent = await stack.startAgent('edge-1');
    const job = await stack.admin.createJob({
      target: { nodeIds: [agent.nodeId] },
      spec: { command: 'echo via dynsec', timeoutMs: 30_000 },
    });
    const [run] = await stack.admin.runs(job.jobId);
    const done = await stack.admin.waitRun(run?.runId ?? '', (r) => r.complete);
    expect(done.state).toBe('succeeded');
    expect(await (await stack.admin.request('GET', `/api/v1/runs/${done.runId}/output/raw`)).text()).toBe(
      'via dynsec\n',
    );

    const revoked = await stack.admin.request('POST', `/api/v1/nodes/${agent.nodeId}/revoke`);
    expect(revoked.status).toBe(200);
    // Mosquitto drops the deleted user's connection; the node's will marks it offline.
    await waitFor('offline after revoke', async () => !(await stack.master.nodes.get(agent.nodeId)).online, {
      timeoutMs: 15_000,
    });
  });
});
