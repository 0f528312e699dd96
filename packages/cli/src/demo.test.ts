import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jobDtoSchema, nodeDtoSchema, runDtoSchema, sessionDtoSchema } from '@edgestelle/protocol';
import { freePort, tempDir } from '@edgestelle/testkit';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
const PASSWORD = 'demo-test-password';

async function until<T>(probe: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('edgestelle master --demo (the quick start)', () => {
  it('starts a master and a local agent process; a command runs on it; both stop on SIGTERM', async () => {
    await using dir = await tempDir();
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const master = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '--conditions=source',
        MAIN,
        'master',
        '--demo',
        '--data-dir',
        join(dir.path, 'data'),
        '--http-port',
        String(port),
      ],
      {
        env: { ...process.env, EDGESTELLE_ADMIN_PASSWORD: PASSWORD, EDGESTELLE_LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    master.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    master.stdout.resume();
    const exited = new Promise<number | null>((resolve) => master.once('exit', (code) => resolve(code)));
    try {
      await until(
        () => Promise.resolve(stderr.includes('demo agent') ? true : undefined),
        60_000,
        `the banner (${stderr})`,
      );
      expect(stderr).toContain(`console and API   ${url}/`);
      const login = await fetch(`${url}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'admin', password: PASSWORD }),
      });
      const session = sessionDtoSchema.parse(await login.json());
      const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
      const headers = { cookie, 'x-csrf-token': session.csrfToken ?? '', 'content-type': 'application/json' };
      await until(
        async () => {
          const node = nodeDtoSchema.parse(await (await fetch(`${url}/api/v1/nodes/demo`, { headers })).json());
          return node.online ? node : undefined;
        },
        60_000,
        'the demo node online',
      );
      const job = jobDtoSchema.parse(
        await (
          await fetch(`${url}/api/v1/jobs`, {
            method: 'POST',
            headers,
            body: JSON.stringify({ target: { nodeIds: ['demo'] }, spec: { command: 'uname -s', timeoutMs: 30_000 } }),
          })
        ).json(),
      );
      const runs = z.object({ items: z.array(runDtoSchema) });
      const run = await until(
        async () => {
          const [r] = runs.parse(await (await fetch(`${url}/api/v1/jobs/${job.jobId}/runs`, { headers })).json()).items;
          return r?.complete === true ? r : undefined;
        },
        30_000,
        'the run',
      );
      expect(run.state).toBe('succeeded');
      const output = await fetch(`${url}/api/v1/runs/${run.runId}/output/raw`, { headers });
      expect(await output.text()).toBe('Linux\n');
    } finally {
      master.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(stderr).toContain('shutting down');
    // The agent process stopped with the master.
    const agentPid = Number(/demo agent .*\(pid (\d+)\)/.exec(stderr)?.[1]);
    expect(agentPid).toBeGreaterThan(0);
    expect(() => process.kill(agentPid, 0)).toThrow();
  }, 120_000);
});
