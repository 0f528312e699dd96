/**
 * `edgestelle agent` as a node's operator runs it, as real child processes against a real
 * master: enrollment says how to start it with the state dir it used, and a node the master
 * revokes stops with exit 77 and says how to enroll it again.
 */
import { join } from 'node:path';
import { joinTokenCreatedSchema, nodeDtoSchema } from '@edgestelle/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect, runCli, spawnCli, startMaster, waitFor, type InProcessMaster } from '@edgestelle/fleet-fixture';

let fleet: InProcessMaster;

beforeAll(async () => {
  fleet = await startMaster();
});

afterAll(async () => {
  await fleet?.[Symbol.asyncDispose]();
});

describe('edgestelle agent', () => {
  it('enroll names --state-dir in the start command; a revoked node stops with exit 77', async () => {
    const stateDir = join(fleet.dir, 'node state');
    const { token } = await fleet.admin.api('POST', '/api/v1/join-tokens', joinTokenCreatedSchema, { ttlSec: 600 });
    const enrolled = await runCli(fleet, [
      'agent',
      'enroll',
      '--master',
      fleet.url,
      '--token',
      token,
      '--state-dir',
      stateDir,
      '--node-id',
      'proc-a',
    ]);
    expect(enrolled.stderr).toBe('');
    expect(enrolled.status).toBe(0);
    expect(enrolled.stdout).toMatch(new RegExp(`Start it with: edgestelle agent --state-dir '${stateDir}'\\n$`));

    const agent = spawnCli(fleet, ['agent', '--state-dir', stateDir, '--log-level', 'warn']);
    const ended = collect(agent, { timeoutMs: 90_000 });
    try {
      await waitFor(
        'the node online',
        async () => (await fleet.admin.api('GET', '/api/v1/nodes/proc-a', nodeDtoSchema)).online,
      );
      await fleet.admin.api('POST', '/api/v1/nodes/proc-a/revoke', nodeDtoSchema);
      const result = await ended;
      expect(result.status).toBe(77);
      expect(result.stderr).toMatch(
        /^edgestelle agent: the broker refused this node's credentials \(bad username or password\) 3 times in a row: this node \(proc-a\) was revoked.*edgestelle join-token create --node proc-a/m,
      );
    } finally {
      if (agent.exitCode === null) agent.kill('SIGKILL');
    }
  }, 120_000);
});
