/**
 * The one-file agent bundle, run as systemd runs it from a folder with no node_modules (so no
 * node-pty): it finds script(1), says so in its facts, and gives PTY runs and shell sessions.
 */
import { once } from 'node:events';
import { join } from 'node:path';
import { enroll } from '@edgestelle/agent';
import { startMaster, waitFor } from '@edgestelle/fleet-fixture';
import { nodeDtoSchema, shellServerMessageSchema } from '@edgestelle/protocol';
import { tempDir } from '@edgestelle/testkit';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { buildAgentBundle, spawnShippedAgent } from '../../bench/scenarios/agent-idle.ts';

describe('the bundled agent on a node without node-pty', () => {
  it('reports ptyKind script and runs PTY jobs and shell sessions on script(1)', async () => {
    await using fleet = await startMaster();
    await using dir = await tempDir('edgestelle-bundle-pty-');
    const bundle = join(dir.path, 'edgestelle-agent.mjs');
    await buildAgentBundle(bundle);
    const stateDir = join(dir.path, 'state');
    const token = await fleet.admin.joinToken();
    await enroll({ masterUrl: fleet.url, token, stateDir, nodeId: 'bundled', name: 'bundled' });
    const child = spawnShippedAgent(bundle, ['--state-dir', stateDir], {
      cwd: dir.path,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    try {
      const node = await waitFor(
        'the bundled agent online with its facts',
        async () => {
          const dto = await fleet.admin.api('GET', '/api/v1/nodes/bundled', nodeDtoSchema);
          return dto.online && dto.facts !== null ? dto : undefined;
        },
        { timeoutMs: 30_000 },
      );
      expect(node.facts?.capabilities).toMatchObject({ pty: true, ptyKind: 'script', shell: true });

      const job = await fleet.admin.createJob({
        target: { nodeIds: ['bundled'] },
        spec: { command: 'tty; stty size; exit 4', pty: true, timeoutMs: 30_000 },
      });
      const [run] = await fleet.admin.runs(job.jobId);
      const done = await fleet.admin.waitRun(run?.runId ?? '', (r) => r.complete);
      expect(done).toMatchObject({ state: 'failed', exitCode: 4 });
      const output = (await fleet.admin.rawOutput(done.runId)).toString('utf8');
      expect(output).toMatch(/\/dev\/pts\/\d+\r\n40 120\r\n/);

      const url = `${fleet.url.replace(/^http/, 'ws')}/api/v1/nodes/bundled/shell?command=${encodeURIComponent('echo bundled-$((40 + 2))')}`;
      const socket = new WebSocket(url, { headers: { authorization: `Bearer ${fleet.admin.token}` } });
      let text = '';
      const frames: unknown[] = [];
      socket.on('message', (data: Buffer, isBinary) => {
        if (isBinary) text += data.toString('utf8');
        else frames.push(shellServerMessageSchema.parse(JSON.parse(data.toString('utf8'))));
      });
      await once(socket, 'close');
      expect(text).toContain('bundled-42');
      expect(frames.at(0)).toMatchObject({ type: 'started', ptyKind: 'script' });
      expect(frames.at(-1)).toEqual({ type: 'exit', exitCode: 0, signal: null });
    } catch (err) {
      throw new Error(`${String(err)}\nthe agent said: ${stderr}`, { cause: err });
    } finally {
      if (child.exitCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        await exited;
      }
    }
  });
});
