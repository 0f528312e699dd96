import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startMosquitto, tempDir } from '@edgestelle/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { agentFlags } from './agent-env.ts';
import { spawnAgent, type AgentProcess } from './agent-process.ts';
import { newNodeKey, TestMaster, until } from './test-master.ts';

const SCRIPT = 'echo spawn >> "$SPAWN_LOG"; for i in $(seq 1 5000); do echo "line $i"; sleep 0.01; done';
const expected = Array.from({ length: 5000 }, (_, i) => `line ${i + 1}\n`).join('');
const started: AgentProcess[] = [];

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

afterEach(async () => {
  for (const agent of started.splice(0)) {
    if (agent.child.exitCode === null && agent.child.signalCode === null) {
      agent.child.kill('SIGKILL');
      await agent.exited;
    }
  }
});

describe('agent killed with SIGKILL mid-run', () => {
  it('reports the run interrupted after a restart, delivers what was spooled, and never spawns it again', async () => {
    await using dir = await tempDir();
    await using broker = await startMosquitto();
    const key = newNodeKey();
    const nodeId = 'node-crash';
    const master = await TestMaster.start(broker.url, nodeId, key);
    const flags = agentFlags(broker.url, join(dir.path, 'state'), key, nodeId);
    const first = spawnAgent(flags);
    started.push(first);
    await until(() => master.states.some((s) => s.online), `the agent to come online:\n${first.log()}`);

    const spawnLog = join(dir.path, 'spawns');
    const command = master.runCommand({ command: SCRIPT, env: { SPAWN_LOG: spawnLog }, timeoutMs: 120_000 });
    await master.send(command);
    const lines = (): number => master.output(command.runId).bytes.toString().split('\n').length - 1;
    await until(() => lines() >= 30, 'the first lines');
    // The master stops acknowledging: what follows stays in the agent's spool only.
    master.acking = false;
    const seenBeforeCrash = lines() + 30;
    await until(() => lines() >= seenBeforeCrash, 'more lines');
    first.child.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');
    // The broker publishes the will: offline, with the dead connection's sequence.
    await until(() => master.states.some((s) => !s.online && s.connectionSeq === 1), 'the will');
    // As if the master never committed what it did not acknowledge.
    master.forgetUnacked();
    master.acking = true;

    const second = spawnAgent(flags);
    started.push(second);
    await until(() => master.complete(command.runId), `the interrupted run to be delivered:\n${second.log()}`);
    expect(master.states.filter((s) => s.online).map((s) => s.connectionSeq)).toEqual([1, 2]);
    const run = master.run(command.runId);
    const { bytes, contiguous } = master.output(command.runId);
    expect(contiguous).toBe(true);
    expect(run.exited).toMatchObject({ outcome: 'interrupted', exitCode: null });
    expect(bytes.byteLength).toBeGreaterThanOrEqual(expected.split('\n').slice(0, seenBeforeCrash).join('\n').length);
    expect(expected.startsWith(bytes.toString())).toBe(true);
    expect(readFileSync(spawnLog, 'utf8')).toBe('spawn\n');
    const scriptPid = master.events.find((e) => e.kind === 'started')?.pid;
    if (scriptPid === undefined) throw new Error('no started event');
    await until(() => !groupAlive(scriptPid), 'the orphaned script to be gone');

    // Delivered once more after the restart: answered with its state, not run.
    const accepted = (): number =>
      master.events.filter((e) => e.kind === 'accepted' && e.runId === command.runId).length;
    const before = accepted();
    await master.send(command);
    await until(() => accepted() > before, 'the re-delivered run to be answered');
    expect(readFileSync(spawnLog, 'utf8')).toBe('spawn\n');

    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    await until(() => master.states.at(-1)?.online === false, 'the offline state');
    await master.close();
  }, 120_000);
});
