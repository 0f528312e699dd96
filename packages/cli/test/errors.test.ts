/**
 * One error format and one exit-code table, as an operator meets them with a real master and a
 * real agent: Commander's own errors, job flags named as typed, a failed run's `logs`, a search
 * without hits, a throttled login.
 */
import { runDtoSchema, jobDtoSchema } from '@edgestelle/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { runCli, startMaster, waitFor, type InProcessMaster } from '@edgestelle/fleet-fixture';

let fleet: InProcessMaster;

beforeAll(async () => {
  fleet = await startMaster();
  await fleet.startAgent('err-a');
});

afterAll(async () => {
  await fleet?.[Symbol.asyncDispose]();
});

describe('error format', () => {
  it("gives Commander's own errors the edgestelle: prefix and exit 64, for the program and a verb", async () => {
    const top = await runCli(fleet, ['--bogus']);
    expect(top).toMatchObject({ status: 64, stdout: '' });
    expect(top.stderr).toBe("edgestelle: unknown option '--bogus'\n(run with --help for usage)\n");
    const verb = await runCli(fleet, ['nodes', '--bogus']);
    expect(verb.status).toBe(64);
    expect(verb.stderr).toMatch(/^edgestelle: unknown option '--bogus'\n/);
    const missing = await runCli(fleet, ['logs']);
    expect(missing.status).toBe(64);
    expect(missing.stderr).toMatch(/^edgestelle: missing required argument 'id'\n/);
  });

  it('names the flag the operator typed, not the API field, and creates no job', async () => {
    const before = await fleet.admin.api('GET', '/api/v1/jobs', z.object({ items: z.array(jobDtoSchema) }));
    const cwd = await runCli(fleet, ['run', '--node', 'err-a', '--cwd', 'relative/dir', '--', 'true']);
    expect(cwd.status).toBe(64);
    expect(cwd.stderr).toBe('edgestelle: --cwd: must be an absolute path without NUL\n');
    const timeout = await runCli(fleet, ['run', '--node', 'err-a', '--timeout', '0s', '--', 'true']);
    expect(timeout.status).toBe(64);
    expect(timeout.stderr).toBe('edgestelle: --timeout: must be at least 1ms\n');
    const after = await fleet.admin.api('GET', '/api/v1/jobs', z.object({ items: z.array(jobDtoSchema) }));
    expect(after.items).toHaveLength(before.items.length);
  });
});

describe('run on a node', () => {
  it('names a missing --cwd directory and the node, instead of spawn /bin/sh ENOENT', async () => {
    const result = await runCli(fleet, ['run', '--node', 'err-a', '--cwd', '/no/such/dir-19a', '--', 'pwd']);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('working directory /no/such/dir-19a does not exist on node err-a');
    expect(result.stderr).not.toContain('ENOENT');
  });

  it('--merge-stderr keeps the order a script wrote stdout and stderr in; without it each stream is whole', async () => {
    const script = 'echo a; echo b >&2; echo c';
    const merged = await runCli(fleet, ['run', '--node', 'err-a', '--merge-stderr', '--', script]);
    expect(merged.status).toBe(0);
    expect(merged.stdout).toBe('a\nb\nc\n');
    const apart = await runCli(fleet, ['run', '--node', 'err-a', '--', script]);
    expect(apart.stdout.replaceAll('\n', '')).toMatch(/^ac$/);
    expect(apart.stderr).toMatch(/^b$/m);
  });
});

describe('exit codes', () => {
  it('logs of a failed run: the output, a state line on stderr, exit 2; of a good run: exit 0', async () => {
    const failed = await runCli(fleet, ['run', '--node', 'err-a', '--json', '--', 'echo before-failing; exit 3']);
    expect(failed.status).toBe(2);
    const runId = z.object({ runs: z.array(runDtoSchema) }).parse(JSON.parse(failed.stdout)).runs[0]?.runId ?? '';
    const logs = await runCli(fleet, ['logs', runId]);
    expect(logs.stdout).toBe('before-failing\n');
    expect(logs.stderr).toBe(`edgestelle: err-a: run ${runId} failed, exit code 3\n`);
    expect(logs.status).toBe(2);
    const followed = await runCli(fleet, ['logs', '--follow', runId]);
    expect(followed).toMatchObject({ status: 2, stderr: `edgestelle: err-a: run ${runId} failed, exit code 3\n` });

    const good = await runCli(fleet, ['run', '--node', 'err-a', '--json', '--', 'echo fine']);
    const goodId = z.object({ runs: z.array(runDtoSchema) }).parse(JSON.parse(good.stdout)).runs[0]?.runId ?? '';
    expect(await runCli(fleet, ['logs', goodId])).toMatchObject({ status: 0, stdout: 'fine\n', stderr: '' });
  });

  it('search: exit 1 when no line matches (as grep), 0 when one does', async () => {
    await runCli(fleet, ['run', '--node', 'err-a', '--', 'echo findable-word-77']);
    await waitFor('the line indexed', async () => (await runCli(fleet, ['search', 'findable-word-77'])).status === 0);
    const none = await runCli(fleet, ['search', 'nothing-says-this-91']);
    expect(none).toMatchObject({ status: 1, stdout: '', stderr: 'No lines match.\n' });
    const json = await runCli(fleet, ['search', 'nothing-says-this-91', '--json']);
    expect(json.status).toBe(1);
  });

  it('a throttled login exits 75 (try again later), not 76 (protocol)', async () => {
    // The failures that earn the throttle straight at the API: one CLI start is what is tested.
    let status = 401;
    for (let attempt = 0; attempt < 10 && status === 401; attempt += 1) {
      const response = await fetch(`${fleet.url}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'nobody-here', password: 'wrong-password' }),
      });
      status = response.status;
      await response.body?.cancel();
    }
    expect(status).toBe(429);
    const env = { EDGESTELLE_URL: undefined, EDGESTELLE_TOKEN: undefined };
    const last = await runCli(fleet, ['login', '--url', fleet.url, '--user', 'nobody-here', '--password-stdin'], {
      env,
      input: 'wrong-password\n',
    });
    expect(last.status).toBe(75);
    expect(last.stderr).toMatch(/^edgestelle: too many failed logins: try again in \d+ s\n$/);
  });
});
