import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { tempDir, type TempDir } from '@edgestelle/testkit';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAgent, type Agent } from './agent.ts';
import { loadConfig } from './config.ts';

/**
 * The agent object's own lifecycle: created, starting, started, stopping, stopped. Nothing
 * listens on the broker port (port 1 on loopback): the connection keeps retrying, which is
 * all these tests need.
 */
let dir: TempDir;
let agent: Agent;

beforeEach(async () => {
  dir = await tempDir();
  agent = createAgent(
    loadConfig({
      flags: {
        mqttUrl: 'mqtt://127.0.0.1:1',
        stateDir: join(dir.path, 'state'),
        nodeId: 'node-lifecycle',
        nodeKey: randomBytes(32).toString('base64'),
      },
      env: {},
    }),
    { logger: pino({ level: 'silent' }), backoff: { initialMs: 50, maxMs: 200 } },
  );
});

afterEach(async () => {
  await agent.stop();
  await dir[Symbol.asyncDispose]();
});

const illegal = (from: string, to: string) => ({
  code: 'illegal_transition',
  message: `agent node-lifecycle cannot go from '${from}' to '${to}'`,
});

describe('agent lifecycle', () => {
  it('starts once and stops once: created → starting → started → stopping → stopped', async () => {
    await agent.start();
    await agent.stop();
    // A second stop is a no-op, not an error: shutdown paths may each call it.
    await agent.stop();
    expect(agent.stats()).toMatchObject({ connected: false, runningRuns: 0, queuedRuns: 0 });
  });

  it('stops without having started: created → stopping → stopped', async () => {
    await agent.stop();
    await expect(agent.start()).rejects.toMatchObject(illegal('stopped', 'starting'));
  });

  it('refuses a second start while started (started → starting)', async () => {
    await agent.start();
    await expect(agent.start()).rejects.toMatchObject(illegal('started', 'starting'));
  });

  it('refuses a second start while the first is under way (starting → starting)', async () => {
    const first = agent.start();
    await expect(agent.start()).rejects.toMatchObject(illegal('starting', 'starting'));
    await first;
  });

  it('refuses a start after a stop (stopped → starting)', async () => {
    await agent.start();
    await agent.stop();
    await expect(agent.start()).rejects.toMatchObject(illegal('stopped', 'starting'));
  });

  it('refuses a start while stopping (stopping → starting)', async () => {
    await agent.start();
    const stopping = agent.stop();
    await expect(agent.start()).rejects.toMatchObject(illegal('stopping', 'starting'));
    await stopping;
  });

  it('lets a stop that comes during the start win: the start then refuses to connect (starting → stopping)', async () => {
    const starting = agent.start();
    await agent.stop();
    await expect(starting).rejects.toMatchObject({ code: 'illegal_transition' });
    expect(agent.stats().connected).toBe(false);
  });
});
