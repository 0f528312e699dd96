import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createAgent, enroll, loadConfig, type Agent } from '@edgestelle/agent';
import {
  apiErrorSchema,
  auditPageSchema,
  enrollResponseSchema,
  joinTokenCreatedSchema,
  joinTokenDtoSchema,
  type EnrollResponse,
  type JoinTokenCreate,
} from '@edgestelle/protocol';
import { DEFAULT_MAX_CLOCK_SKEW_MS, signEnrollProof } from '@edgestelle/protocol/envelope';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type BrokerKind, type DbKind, type InProcessMaster, startMaster, waitFor } from '@edgestelle/fleet-fixture';

/**
 * Issue 17, item 1: a join token enrolls only a node id that is not enrolled yet. An enrolled
 * node enrolls again with a token an admin made for it, or with proof of its current key;
 * anything else is 409 node_exists, audited, and changes nothing, so the real agent keeps
 * working through the attempt.
 */

const joinTokenList = z.object({ items: z.array(joinTokenDtoSchema) });

async function createToken(stack: InProcessMaster, body: JoinTokenCreate = {}) {
  return stack.admin.api('POST', '/api/v1/join-tokens', joinTokenCreatedSchema, body);
}

async function usesOf(stack: InProcessMaster, tokenId: string): Promise<number | undefined> {
  const { items } = await stack.admin.api('GET', '/api/v1/join-tokens', joinTokenList);
  return items.find((t) => t.tokenId === tokenId)?.uses;
}

/** What an enrollment changes: the key epoch and the broker password. */
async function nodeSecrets(stack: InProcessMaster, nodeId: string) {
  return stack.master.store.db
    .selectFrom('nodes')
    .select(['key_epoch', 'mqtt_password_hash', 'name'])
    .where('node_id', '=', nodeId)
    .executeTakeFirstOrThrow();
}

async function postEnroll(url: string, body: unknown) {
  const response = await fetch(`${url}/api/v1/enroll`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json: unknown = await response.json();
  return { status: response.status, json };
}

async function refusals(stack: InProcessMaster, nodeId: string) {
  const page = await stack.admin.api(
    'GET',
    `/api/v1/audit?action=node.enroll_refused&target=${encodeURIComponent(`node:${nodeId}`)}`,
    auditPageSchema,
  );
  return page.items;
}

/** A real agent on credentials the test holds (the stack's own agents keep theirs). */
async function startAgentOn(stack: InProcessMaster, stateDir: string, credentials: EnrollResponse): Promise<Agent> {
  const agent = createAgent(loadConfig({ flags: { stateDir, logLevel: 'warn' }, env: {}, credentials }), {
    logger: pino({ level: 'silent' }),
    backoff: { initialMs: 50, maxMs: 500 },
    ackTimeoutMs: 1500,
  });
  await agent.start();
  await waitFor('agent online', async () => (await stack.master.nodes.get(credentials.nodeId)).online, {
    timeoutMs: 15_000,
  });
  return agent;
}

async function runOn(stack: InProcessMaster, nodeId: string, command: string) {
  const job = await stack.admin.createJob({ target: { nodeIds: [nodeId] }, spec: { command, timeoutMs: 30_000 } });
  const [run] = await stack.admin.runs(job.jobId);
  const done = await stack.admin.waitRun(run?.runId ?? '', (r) => r.complete);
  const output = await (await stack.admin.request('GET', `/api/v1/runs/${done.runId}/output/raw`)).text();
  return { state: done.state, output };
}

const matrix: ReadonlyArray<readonly [DbKind, BrokerKind]> = [
  ['sqlite', 'embedded'],
  ['postgres', 'mosquitto-dynsec'],
];

describe.each(matrix)('enrolling a node id that is enrolled (%s, %s broker)', (db, brokerKind) => {
  it('refuses an ordinary join token with 409 node_exists, audited, changing nothing: the real agent runs on through it', async () => {
    await using stack = await startMaster({ db, broker: brokerKind });
    const victim = await stack.startAgent('edge-1');
    const gate = join(stack.dir, 'gate');
    const job = await stack.admin.createJob({
      target: { nodeIds: ['edge-1'] },
      spec: { command: `echo before; while [ ! -e '${gate}' ]; do sleep 0.05; done; echo after`, timeoutMs: 60_000 },
    });
    const [run] = await stack.admin.runs(job.jobId);
    const runId = run?.runId ?? '';
    await stack.admin.waitRun(runId, (r) => r.state === 'running');
    const before = await nodeSecrets(stack, 'edge-1');

    // The attack of the review: `join-token create --uses 1`, then `agent enroll --node-id edge-1`.
    const token = await createToken(stack, { maxUses: 1 });
    await expect(
      enroll({
        masterUrl: stack.master.url,
        token: token.token,
        stateDir: join(stack.dir, 'intruder'),
        nodeId: 'edge-1',
        name: 'intruder',
      }),
    ).rejects.toThrow(/node_exists: node edge-1 is already enrolled.*join-token create --node edge-1/);
    const raw = await postEnroll(stack.master.url, { token: token.token, nodeId: 'edge-1', name: 'intruder' });
    expect(raw.status).toBe(409);
    expect(apiErrorSchema.parse(raw.json).code).toBe('node_exists');

    // Nothing changed: key epoch, broker password, name, the token's use.
    expect(await nodeSecrets(stack, 'edge-1')).toEqual(before);
    expect(await usesOf(stack, token.tokenId)).toBe(0);
    const audited = await refusals(stack, 'edge-1');
    expect(audited).toHaveLength(2);
    for (const event of audited) {
      expect(event).toMatchObject({
        actor: 'node:edge-1',
        ip: '127.0.0.1',
        details: { joinToken: token.tokenId, reason: 'node_exists', code: 'node_exists' },
      });
    }

    // The real agent never noticed: the run it had going finishes with all its output ...
    await writeFile(gate, '');
    const finished = await stack.admin.waitRun(runId, (r) => r.complete);
    expect(finished.state).toBe('succeeded');
    expect(await (await stack.admin.request('GET', `/api/v1/runs/${runId}/output/raw`)).text()).toBe('before\nafter\n');
    // ... and its broker credentials still open the broker: restarted, it reconnects and runs more.
    await victim.stop();
    await waitFor('edge-1 offline', async () => !(await stack.master.nodes.get('edge-1')).online, {
      timeoutMs: 15_000,
    });
    await victim.start();
    await waitFor('edge-1 back online', async () => (await stack.master.nodes.get('edge-1')).online, {
      timeoutMs: 15_000,
    });
    expect(await runOn(stack, 'edge-1', 'echo still mine')).toEqual({ state: 'succeeded', output: 'still mine\n' });

    // The unconsumed token still enrolls what it is for: a new node.
    const fresh = await postEnroll(stack.master.url, { token: token.token, nodeId: 'edge-2', name: 'edge-2' });
    expect(fresh.status).toBe(200);
    expect(await usesOf(stack, token.tokenId)).toBe(1);
  });

  it('re-keys the node with a join token made for it; that token refuses any other id and stays unused', async () => {
    await using stack = await startMaster({ db, broker: brokerKind });
    const old = await stack.startAgent('edge-1');
    const scoped = await createToken(stack, { nodeId: 'edge-1' });
    expect(scoped.nodeId).toBe('edge-1');

    const other = await postEnroll(stack.master.url, { token: scoped.token, nodeId: 'edge-9', name: 'edge-9' });
    expect(other.status).toBe(403);
    expect(apiErrorSchema.parse(other.json)).toMatchObject({ code: 'join_token_invalid' });
    expect(apiErrorSchema.parse(other.json).message).toContain('made for node edge-1 only');
    expect((await stack.admin.request('GET', '/api/v1/nodes/edge-9')).status).toBe(404);
    expect(await usesOf(stack, scoped.tokenId)).toBe(0);
    expect(await refusals(stack, 'edge-9')).toMatchObject([{ details: { reason: 'token_for_other_node' } }]);

    // The node's disk was replaced: a new state dir, the same node id.
    const stateDir = join(stack.dir, 'replaced');
    const { credentials } = await enroll({
      masterUrl: stack.master.url,
      token: scoped.token,
      stateDir,
      nodeId: 'edge-1',
      name: 'edge-1',
    });
    expect(credentials.keyId).toBe(1);
    // The old key and password are dead: the old agent is cut off and stays off.
    await waitFor('old agent cut off', async () => !(await stack.master.nodes.get('edge-1')).online, {
      timeoutMs: 15_000,
    });
    await old.stop();
    const replacement = await startAgentOn(stack, stateDir, credentials);
    try {
      expect(await runOn(stack, 'edge-1', 'echo new key')).toEqual({ state: 'succeeded', output: 'new key\n' });
    } finally {
      await replacement.stop();
    }
  });

  it('re-keys the node when the agent proves its current key, which it does by itself from its state dir', async () => {
    await using stack = await startMaster({ db, broker: brokerKind });
    const old = await stack.startAgent('edge-1');
    const token = await createToken(stack);
    // An ordinary token, enrolled from the node's own state dir: the agent sends the proof.
    const { credentials } = await enroll({
      masterUrl: stack.master.url,
      token: token.token,
      stateDir: old.stateDir,
      nodeId: 'edge-1',
      name: 'edge-1',
    });
    expect(credentials.keyId).toBe(1);
    const enrolled = await stack.admin.api(
      'GET',
      '/api/v1/audit?action=node.enroll&target=node:edge-1',
      auditPageSchema,
    );
    expect(enrolled.items[0]?.details).toMatchObject({ joinToken: token.tokenId, keyEpoch: 1, via: 'key_proof' });
    await waitFor('old session ended', async () => !(await stack.master.nodes.get('edge-1')).online, {
      timeoutMs: 15_000,
    });
    await old.stop();
    const renewed = await startAgentOn(stack, old.stateDir, credentials);
    try {
      expect(await runOn(stack, 'edge-1', 'echo proved')).toEqual({ state: 'succeeded', output: 'proved\n' });
    } finally {
      await renewed.stop();
    }
  });
});

describe('proof of the node key', () => {
  it('is refused replayed, stale, early, under another token, with a wrong or an old key; the token keeps its uses', async () => {
    await using stack = await startMaster();
    const first = await postEnroll(stack.master.url, {
      token: await stack.admin.joinToken(),
      nodeId: 'edge-1',
      name: 'edge-1',
    });
    const creds = enrollResponseSchema.parse(first.json);
    const key = Buffer.from(creds.nodeKey, 'base64');
    const token = await createToken(stack, { maxUses: 5 });
    const proof = (signingKey: Buffer, sentAt: number, joinToken = token.token, keyId = creds.keyId) => ({
      keyId,
      sentAt,
      mac: signEnrollProof(signingKey, { nodeId: 'edge-1', keyId, joinToken, sentAtMs: sentAt }),
    });
    const attempt = (keyProof: ReturnType<typeof proof>) =>
      postEnroll(stack.master.url, { token: token.token, nodeId: 'edge-1', name: 'edge-1', keyProof });
    const window = DEFAULT_MAX_CLOCK_SKEW_MS;
    const refused = [
      ['key_proof_stale', proof(key, Date.now() - window - 60_000)],
      ['key_proof_stale', proof(key, Date.now() + window + 60_000)],
      ['key_proof_invalid', proof(key, Date.now(), 'esj_another-token')],
      ['key_proof_invalid', proof(Buffer.alloc(32, 7), Date.now())],
      ['key_proof_old_key', proof(key, Date.now(), token.token, creds.keyId + 1)],
    ] as const;
    for (const [reason, keyProof] of refused) {
      const answer = await attempt(keyProof);
      expect(answer.status, reason).toBe(409);
      expect(apiErrorSchema.parse(answer.json).code).toBe('node_exists');
    }
    const reasons = async () => (await refusals(stack, 'edge-1')).map((e) => String(e.details.reason)).sort();
    expect(await reasons()).toEqual(refused.map(([reason]) => reason).sort());
    expect(await usesOf(stack, token.tokenId)).toBe(0);

    const valid = proof(key, Date.now());
    const accepted = await attempt(valid);
    expect(accepted.status).toBe(200);
    expect(enrollResponseSchema.parse(accepted.json).keyId).toBe(1);
    // The same request again (captured, replayed in the window): its key is no longer current.
    const replayed = await attempt(valid);
    expect(replayed.status).toBe(409);
    // So is a fresh proof under the replaced key.
    expect((await attempt(proof(key, Date.now()))).status).toBe(409);
    expect((await reasons()).filter((r) => r === 'key_proof_old_key')).toHaveLength(3);
    expect(await usesOf(stack, token.tokenId)).toBe(1);
    expect((await nodeSecrets(stack, 'edge-1')).key_epoch).toBe(1);
  });

  it('leaves a revoked node refused with its own answer, proof or not', async () => {
    await using stack = await startMaster();
    const first = enrollResponseSchema.parse(
      (await postEnroll(stack.master.url, { token: await stack.admin.joinToken(), nodeId: 'edge-1', name: 'edge-1' }))
        .json,
    );
    expect((await stack.admin.request('POST', '/api/v1/nodes/edge-1/revoke')).status).toBe(200);
    const scoped = await createToken(stack, { nodeId: 'edge-1' });
    const sentAt = Date.now();
    const keyProof = {
      keyId: first.keyId,
      sentAt,
      mac: signEnrollProof(Buffer.from(first.nodeKey, 'base64'), {
        nodeId: 'edge-1',
        keyId: first.keyId,
        joinToken: scoped.token,
        sentAtMs: sentAt,
      }),
    };
    const answer = await postEnroll(stack.master.url, { token: scoped.token, nodeId: 'edge-1', name: 'x', keyProof });
    expect(answer.status).toBe(409);
    expect(apiErrorSchema.parse(answer.json)).toMatchObject({ code: 'conflict' });
    expect(await usesOf(stack, scoped.tokenId)).toBe(0);
  });
});

describe('one new node id enrolled through two masters on one PostgreSQL at once', () => {
  it('enrolls it once; the other request is refused node_exists and its token keeps its use', async () => {
    await using a = await startMaster({ db: 'postgres', broker: 'mosquitto', config: { mqttShared: 'true' } });
    await using shared = await startMaster({ sharedWith: a, config: { mqttShared: 'true' } });
    const b = shared.master;
    for (let i = 0; i < 10; i += 1) {
      const nodeId = `race-${i}`;
      const [ta, tb] = [await createToken(a), await createToken(a)];
      const answers = await Promise.all([
        postEnroll(a.master.url, { token: ta.token, nodeId, name: nodeId }),
        postEnroll(b.url, { token: tb.token, nodeId, name: nodeId }),
      ]);
      expect(answers.map((x) => x.status).sort()).toEqual([200, 409]);
      const loser = answers[0]?.status === 409 ? ta : tb;
      expect(await usesOf(a, loser.tokenId)).toBe(0);
      expect((await nodeSecrets(a, nodeId)).key_epoch).toBe(0);
    }
  });
});
