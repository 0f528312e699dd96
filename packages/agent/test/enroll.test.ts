import { readFileSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { enrollRequestSchema, type EnrollRequest, type EnrollResponse } from '@edgestelle/protocol';
import { enrollProofMatches } from '@edgestelle/protocol/envelope';
import { tempDir } from '@edgestelle/testkit';
import { describe, expect, it, vi } from 'vitest';
import { main } from '../src/main.ts';
import { readCredentials } from '../src/state-dir.ts';

/**
 * The master's enrollment route is built elsewhere; this tiny server answers
 * `POST /api/v1/enroll` exactly per the protocol's schemas, standing in for it.
 */
async function fakeMaster(
  answer: (body: unknown) => { status: number; json: unknown },
): Promise<Server & AsyncDisposable> {
  const server = createServer((req: IncomingMessage, res) => {
    let text = '';
    req.on('data', (chunk: Buffer) => (text += chunk.toString()));
    req.on('end', () => {
      const { status, json } =
        req.method === 'POST' && req.url === '/api/v1/enroll'
          ? answer(JSON.parse(text))
          : { status: 404, json: { code: 'not_found', message: 'no route' } };
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(json));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return Object.assign(server, {
    [Symbol.asyncDispose]: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}

function urlOf(server: Server): string {
  const { port } = server.address() as AddressInfo;
  return `http://127.0.0.1:${port}`;
}

async function quietly(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    stdout += String(chunk);
    return true;
  });
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    stderr += String(chunk);
    return true;
  });
  try {
    return { code: await main(argv), stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

describe('edgestelle agent enroll', () => {
  it('sends the token with the node id, stores the credentials 0600, and the agent config picks them up', async () => {
    await using dir = await tempDir();
    const requests: unknown[] = [];
    await using server = await fakeMaster((body) => {
      requests.push(body);
      const request = enrollRequestSchema.parse(body);
      const response: EnrollResponse = {
        nodeId: request.nodeId,
        keyId: 2,
        nodeKey: Buffer.alloc(32, 9).toString('base64'),
        topicPrefix: 'edgestelle',
        mqtt: { url: 'mqtt://127.0.0.1:1884', username: request.nodeId, password: 'secret' },
        tags: { site: 'lab' },
      };
      return { status: 200, json: response };
    });
    const stateDir = join(dir.path, 'state');
    const result = await quietly([
      'enroll',
      '--master',
      urlOf(server),
      '--token',
      'join-123',
      '--state-dir',
      stateDir,
      '--name',
      'edge-1',
    ]);
    expect(result).toMatchObject({ code: 0 });
    const nodeId = readFileSync(join(stateDir, 'node-id'), 'utf8').trim();
    expect(requests).toEqual([{ token: 'join-123', nodeId, name: 'edge-1' }]);
    expect(result.stdout).toContain(`enrolled as node ${nodeId}`);
    expect(statSync(join(stateDir, 'credentials.json')).mode & 0o777).toBe(0o600);
    expect(readCredentials(stateDir)).toMatchObject({ nodeId, keyId: 2, tags: { site: 'lab' } });
  });

  it('proves the node’s current key by itself when its state dir holds credentials for that node id', async () => {
    await using dir = await tempDir();
    const requests: EnrollRequest[] = [];
    let keyId = 4;
    await using server = await fakeMaster((body) => {
      const request = enrollRequestSchema.parse(body);
      requests.push(request);
      keyId += 1;
      const response: EnrollResponse = {
        nodeId: request.nodeId,
        keyId,
        nodeKey: Buffer.alloc(32, keyId).toString('base64'),
        topicPrefix: 'edgestelle',
        mqtt: { url: 'mqtt://127.0.0.1:1884', username: request.nodeId, password: 'secret' },
        tags: {},
      };
      return { status: 200, json: response };
    });
    const stateDir = join(dir.path, 'state');
    const enrollAs = (token: string, nodeId: string) =>
      quietly(['enroll', '--master', urlOf(server), '--token', token, '--state-dir', stateDir, '--node-id', nodeId]);
    expect((await enrollAs('t1', 'edge-1')).code).toBe(0);
    expect(requests[0]?.keyProof).toBeUndefined();
    const before = Date.now();
    expect((await enrollAs('t2', 'edge-1')).code).toBe(0);
    const proof = requests[1]?.keyProof;
    expect(proof).toMatchObject({ keyId: 5 });
    expect(proof?.sentAt).toBeGreaterThanOrEqual(before);
    const signed = { nodeId: 'edge-1', keyId: 5, joinToken: 't2', sentAtMs: proof?.sentAt ?? 0 };
    // Signed with the key it held (epoch 5), over the token it sent.
    expect(enrollProofMatches(Buffer.alloc(32, 5), signed, proof?.mac ?? '')).toBe(true);
    // Credentials of another node id prove nothing about this one.
    expect((await enrollAs('t3', 'edge-2')).code).toBe(0);
    expect(requests[2]?.keyProof).toBeUndefined();
  });

  it('enrolls without a proof when its credentials file is unreadable, and says so if the master refuses', async () => {
    await using dir = await tempDir();
    await writeFile(join(dir.path, 'credentials.json'), '{ torn');
    const requests: unknown[] = [];
    await using server = await fakeMaster((body) => {
      requests.push(body);
      return { status: 409, json: { code: 'node_exists', message: 'node edge-1 is already enrolled' } };
    });
    const refused = await quietly([
      'enroll',
      ...['--master', urlOf(server), '--token', 't', '--state-dir', dir.path, '--node-id', 'edge-1'],
    ]);
    expect(refused.code).toBe(69);
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({ token: 't', nodeId: 'edge-1' });
    expect(requests[0]).not.toHaveProperty('keyProof');
    expect(refused.stderr).toContain('node_exists: node edge-1 is already enrolled');
    expect(refused.stderr).toContain("no proof of the node's key was sent");
    expect(refused.stderr).toContain('credentials.json is not JSON');
  });

  it('reports the master’s refusal and an unreachable master with exit code 69', async () => {
    await using dir = await tempDir();
    await using server = await fakeMaster(() => ({
      status: 401,
      json: { code: 'token_invalid', message: 'join token expired' },
    }));
    const refused = await quietly(['enroll', '--master', urlOf(server), '--token', 'old', '--state-dir', dir.path]);
    expect(refused.code).toBe(69);
    expect(refused.stderr).toContain('the master refused enrollment (token_invalid: join token expired)');
    const unreachable = await quietly([
      'enroll',
      '--master',
      'http://127.0.0.1:1',
      '--token',
      't',
      '--state-dir',
      dir.path,
    ]);
    expect(unreachable.code).toBe(69);
    expect(unreachable.stderr).toContain('cannot reach the master');
  });
});

describe('edgestelle agent', () => {
  it('answers usage errors with 64 and config errors with 78, naming the setting', async () => {
    await using dir = await tempDir();
    expect((await quietly(['--no-such-flag'])).code).toBe(64);
    expect((await quietly(['enroll', '--token', 'x'])).code).toBe(64);
    const bad = await quietly(['--state-dir', dir.path, '--mqtt-url', 'ftp://x', '--node-key', 'nope']);
    expect(bad.code).toBe(78);
    expect(bad.stderr).toContain('EDGESTELLE_MQTT_URL');
    expect(bad.stderr).toContain('EDGESTELLE_NODE_KEY');
    const help = await quietly(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--spool-max-bytes');
  });
});
