import { startMaster, type FleetMaster } from '@edgestelle/fleet-fixture';
import {
  auditPageSchema,
  shellServerMessageSchema,
  shellSessionListSchema,
  type ShellServerMessage,
} from '@edgestelle/protocol';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';

interface Opened {
  socket: WebSocket;
  output: () => string;
  messages: ShellServerMessage[];
  closed: Promise<number>;
}

/** A shell session as a client opens it: the WebSocket, with the admin's token. */
function openShell(fleet: FleetMaster, nodeId: string, query: Record<string, string>): Opened {
  const url = `${fleet.url.replace(/^http/, 'ws')}/api/v1/nodes/${nodeId}/shell?${new URLSearchParams(query).toString()}`;
  const socket = new WebSocket(url, { headers: { authorization: `Bearer ${fleet.admin.token}` } });
  const chunks: Buffer[] = [];
  const messages: ShellServerMessage[] = [];
  socket.on('message', (data: Buffer, isBinary) => {
    if (isBinary) chunks.push(data);
    else messages.push(shellServerMessageSchema.parse(JSON.parse(data.toString('utf8'))));
  });
  const closed = new Promise<number>((resolve) => socket.on('close', (code) => resolve(code)));
  return { socket, output: () => Buffer.concat(chunks).toString('utf8'), messages, closed };
}

describe('shell sessions through the master', () => {
  it('relays a session held by one master of two on PostgreSQL and one Mosquitto', async () => {
    await using a = await startMaster({ db: 'postgres', broker: 'mosquitto', config: { mqttShared: 'true' } });
    await using b = await startMaster({ sharedWith: a, config: { mqttShared: 'true' } });
    await a.startAgent('pg-shell');
    const session = openShell(b, 'pg-shell', { command: 'echo relayed-$((20 + 22)); exit 4' });
    expect(await session.closed).toBe(1000);
    expect(session.output()).toContain('relayed-42');
    expect(session.messages.at(0)).toMatchObject({ type: 'started' });
    expect(session.messages.at(-1)).toEqual({ type: 'exit', exitCode: 4, signal: null });
    const { items } = await a.admin.api('GET', '/api/v1/shell-sessions', shellSessionListSchema);
    expect(items).toMatchObject([{ nodeId: 'pg-shell', exitCode: 4, endReason: null }]);
    expect(items[0]?.recordingBytes).toBeGreaterThan(0);
  });

  it('passes the production broker ACLs (dynamic security): the node may publish on its shell topic', async () => {
    await using fleet = await startMaster({ broker: 'mosquitto-dynsec' });
    await fleet.startAgent('acl-shell');
    const session = openShell(fleet, 'acl-shell', { command: 'echo through-acl' });
    expect(await session.closed).toBe(1000);
    expect(session.output()).toContain('through-acl');
  });

  it('closes an idle session, stores why, and audits its open and close', async () => {
    await using fleet = await startMaster({ deps: { shellIdleTimeoutMs: 400 } });
    await fleet.startAgent('idle-shell');
    const session = openShell(fleet, 'idle-shell', { command: 'sleep 30' });
    expect(await session.closed).toBe(1000);
    expect(session.messages.at(-1)).toMatchObject({ type: 'exit', reason: 'idle for 400 ms' });
    const { items } = await fleet.admin.api('GET', '/api/v1/shell-sessions', shellSessionListSchema);
    expect(items).toMatchObject([{ nodeId: 'idle-shell', endReason: 'idle for 400 ms' }]);
    const audit = await fleet.admin.api('GET', '/api/v1/audit?action=shell.open,shell.close', auditPageSchema);
    expect(audit.items.map((e) => [e.action, e.target, e.actor])).toEqual([
      ['shell.close', 'node:idle-shell', 'admin'],
      ['shell.open', 'node:idle-shell', 'admin'],
    ]);
  });

  it('answers a node that does not exist, and a bad query, with a named error and changes nothing', async () => {
    await using fleet = await startMaster();
    const missing = openShell(fleet, 'no-such-node', {});
    expect(await missing.closed).toBe(4400);
    expect(missing.messages).toMatchObject([{ type: 'error', code: 'not_found' }]);
    const bad = openShell(fleet, 'no-such-node', { cols: '0' });
    expect(await bad.closed).toBe(4400);
    expect(bad.messages).toMatchObject([{ type: 'error', code: 'invalid_request' }]);
    const { items } = await fleet.admin.api('GET', '/api/v1/shell-sessions', shellSessionListSchema);
    expect(items).toEqual([]);
  });
});
