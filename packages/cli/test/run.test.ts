import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { jobDtoSchema, jobHistoryPageSchema, runDtoSchema } from '@edgestelle/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type InProcessAgent, type InProcessMaster, runCli, startMaster } from '@edgestelle/fleet-fixture';

/**
 * `edgestelle run` as an operator uses it: a real master and three agents tagged site=lab
 * (plus one elsewhere that must not run), the CLI as a child process.
 */
let fleet: InProcessMaster;
let farAway: InProcessAgent;

beforeAll(async () => {
  fleet = await startMaster({ deps: { sweepIntervalMs: 250 } });
  for (const { nodeId, tags } of [
    { nodeId: 'edge-a', tags: { site: 'lab' } },
    { nodeId: 'edge-b', tags: { site: 'lab' } },
    { nodeId: 'edge-c', tags: { site: 'lab' } },
  ])
    await fleet.startAgent(nodeId, { tags });
  farAway = await fleet.startAgent('far-away', { tags: { site: 'other' } });
});

afterAll(async () => {
  await fleet?.[Symbol.asyncDispose]();
});

const jobResultSchema = z.object({ job: jobDtoSchema, runs: z.array(runDtoSchema) });

describe('edgestelle run', () => {
  it('runs on the nodes of a tag with a prefix per node and a summary, exit 0', async () => {
    const { status, stdout, stderr } = await runCli(fleet, ['run', '--tag', 'site=lab', '--', 'echo one; echo two']);
    expect(status).toBe(0);
    const lines = stdout.trimEnd().split('\n').sort();
    expect(lines).toEqual([
      'edge-a | one',
      'edge-a | two',
      'edge-b | one',
      'edge-b | two',
      'edge-c | one',
      'edge-c | two',
    ]);
    expect(stderr).toMatch(/NODE\s+STATE\s+EXIT\s+DURATION/);
    expect(stderr).toMatch(/edge-b\s+succeeded\s+0\s/);
    expect(stderr).toContain('3 runs: 3 succeeded');
    expect(stderr).not.toContain('far-away');
  });

  it('exits 2 when one node fails, and lists the failure first', async () => {
    // mkdir is atomic: exactly one node wins the race and exits 3, whichever it is.
    const lock = `${fleet.dir}/one-fails-${Date.now()}`;
    const { status, stderr } = await runCli(fleet, [
      'run',
      '--tag',
      'site=lab',
      '--',
      `mkdir ${lock} 2>/dev/null && exit 3; echo fine`,
    ]);
    expect(status).toBe(2);
    const rows = stderr.split('\n').filter((line) => /^edge-\w\s/.test(line));
    expect(rows).toHaveLength(3);
    expect(rows[0]).toMatch(/^edge-\w\s+failed\s+3\s/);
    expect(rows.slice(1).every((row) => /succeeded\s+0/.test(row))).toBe(true);
    expect(stderr).toContain('3 runs: 2 succeeded, 1 failed');
  });

  it('prints one node’s output plainly, keeping stdout and stderr apart', async () => {
    const { status, stdout, stderr } = await runCli(fleet, [
      'run',
      '--node',
      'edge-a',
      '--',
      'printf "a\\033[31mb"; echo err >&2',
    ]);
    expect(status).toBe(0);
    // Not a terminal: the exact bytes, escape sequence included, and no prefix.
    expect(stdout).toBe('a\x1b[31mb');
    expect(stderr).toMatch(/^Job \w+ on 1 node\.\nerr\n/);
  });

  it('--json prints the job and runs exactly as the API returns them', async () => {
    const { status, stdout } = await runCli(fleet, ['run', '--tag', 'site=lab', '--json', '--', 'echo quiet']);
    expect(status).toBe(0);
    expect(stdout).not.toContain('| quiet');
    const result = jobResultSchema.parse(JSON.parse(stdout));
    expect(result.runs.map((run) => run.nodeId).sort()).toEqual(['edge-a', 'edge-b', 'edge-c']);
    const job = await fleet.admin.api('GET', `/api/v1/jobs/${result.job.jobId}`, jobDtoSchema);
    const runs = await fleet.admin.api(
      'GET',
      `/api/v1/jobs/${result.job.jobId}/runs`,
      z.object({ items: z.array(runDtoSchema) }),
    );
    expect(result.job).toEqual(job);
    expect(result.runs).toEqual(runs.items);
  });

  it('--secret-env delivers the value to the node, from the flag or the shell, and the job shows ***', async () => {
    const secret = 'cli-Secret-Value-4e1d';
    const { status, stdout } = await runCli(
      fleet,
      [
        'run',
        '--node',
        'edge-a',
        '--secret-env',
        `DB_PASSWORD=${secret}`,
        '--secret-env',
        'API_TOKEN',
        '--',
        'echo "$DB_PASSWORD $API_TOKEN"',
      ],
      { env: { API_TOKEN: 'from-my-shell' } },
    );
    expect(status).toBe(0);
    expect(stdout).toBe(`${secret} from-my-shell\n`);
    const list = await runCli(fleet, ['jobs', '--limit', '1', '--json']);
    expect(list.stdout).not.toContain(secret);
    const [job] = jobHistoryPageSchema.parse(JSON.parse(list.stdout)).items;
    expect(job?.secretEnv).toEqual({ API_TOKEN: '***', DB_PASSWORD: '***' });
    const detail = await runCli(fleet, ['jobs', job?.jobId ?? '']);
    expect(detail.stdout).toMatch(/secret env\s+API_TOKEN=\*\*\*,DB_PASSWORD=\*\*\*/);
    expect(detail.stdout).not.toContain('from-my-shell');

    const both = await runCli(fleet, ['run', '--node', 'edge-a', '-e', 'A=1', '--secret-env', 'A=2', '--', 'true']);
    expect(both.status).toBe(64);
    expect(both.stderr).toContain('A is both a plain and a secret variable');
    const unset = await runCli(fleet, ['run', '--node', 'edge-a', '--secret-env', 'NOT_SET_HERE', '--', 'true']);
    expect(unset.status).toBe(64);
    expect(unset.stderr).toBe(
      'edgestelle: --secret-env: NOT_SET_HERE is not set in this shell: export it, or give NOT_SET_HERE=value\n',
    );
  });

  it('says so in one line with exit 66 when no node matches', async () => {
    const { status, stdout, stderr } = await runCli(fleet, ['run', '--tag', 'site=nowhere', '--', 'true']);
    expect(status).toBe(66);
    expect(stdout).toBe('');
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(/^edgestelle: .*site=nowhere/);
  });

  it('sends a local script with --file; the words after -- are its arguments', async () => {
    const file = join(fleet.dir, 'greet.sh');
    await writeFile(file, '#!/bin/sh\nprintf "%s|" "$@"; echo\n');
    const { status, stdout } = await runCli(fleet, ['run', '--node', 'edge-b', '--file', file, '--', 'a b', 'c']);
    expect(status).toBe(0);
    expect(stdout).toBe('a b|c|\n');
    const missing = await runCli(fleet, ['run', '--node', 'edge-b', '--file', join(fleet.dir, 'nope.sh')]);
    expect(missing.status).toBe(64);
    expect(missing.stderr).toMatch(/^edgestelle: --file: cannot read .*nope\.sh \(ENOENT\)/);
  });

  it('refuses bad usage with exit 64 before asking the master', async () => {
    const both = await runCli(fleet, ['run', '--all', '--node', 'edge-a', '--', 'true']);
    expect(both.status).toBe(64);
    expect(both.stderr).toBe('edgestelle: --node, --tag and --all are mutually exclusive: give one of them\n');
    const noCommand = await runCli(fleet, ['run', '--all']);
    expect(noCommand.status).toBe(64);
  });

  it('gives up on an offline node at --deadline: the run expires, exit 2', async () => {
    await farAway.stop();
    const { status, stderr } = await runCli(fleet, ['run', '--node', 'far-away', '--deadline', '1s', '--', 'true']);
    expect(status).toBe(2);
    expect(stderr).toMatch(/far-away\s+expired\s+-\s+-\s+the node was offline/);
  });
});
