import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  jobDtoSchema,
  jobHistoryPageSchema,
  pageSchema,
  runDtoSchema,
  scriptDtoSchema,
  scriptSummaryDtoSchema,
  searchPageSchema,
} from '@edgestelle/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { cliEnv, type InProcessMaster, runCli, startMaster, waitFor } from '@edgestelle/fleet-fixture';

/**
 * The script library, script jobs, job filters and search as an operator uses them: a real
 * master with two agents, the CLI as a child process. The tests run in order and build on
 * each other (push, then run, then filter and search what ran), to keep the CLI starts few.
 */
let fleet: InProcessMaster;
let scriptFile: string;
let jobId = '';

// A value an operator might type that a shell would act on if it were ever spliced in.
const HOSTILE = `it's "$(touch PWNED)" \`id\`; rm -rf $HOME | & * \\ ünï`;

const BODY = `#!/bin/sh
# @description Print a message on every node
# @param msg string required -- what to print
# @param times number integer min=1 max=3 default=1 -- how many times
i=0
while [ "$i" -lt "$PARAM_TIMES" ]; do
  printf 'msg=[%s]\\n' "$PARAM_MSG"
  i=$((i + 1))
done
echo "needle-$PARAM_TIMES-found"
\t# trailing tab and no final newline stay exactly as they are:\t`;

beforeAll(async () => {
  fleet = await startMaster({ deps: { sweepIntervalMs: 250 } });
  for (const { nodeId, tags } of [
    { nodeId: 'alpha', tags: { role: 'app' } },
    { nodeId: 'beta', tags: { role: 'app' } },
  ])
    await fleet.startAgent(nodeId, { tags });
  scriptFile = join(fleet.dir, 'Echo-Msg.sh');
  await writeFile(scriptFile, BODY);
});

afterAll(async () => {
  await fleet?.[Symbol.asyncDispose]();
});

describe('scripts and script jobs', () => {
  it('pushes a script with its header parameters; the same content again saves nothing', async () => {
    const first = await runCli(fleet, ['scripts', 'push', scriptFile]);
    expect(first.stderr).toContain('Saved echo-msg version 1; run it with: edgestelle run --all --script echo-msg');
    expect(first.status).toBe(0);
    const again = await runCli(fleet, ['scripts', 'push', scriptFile]);
    expect(again.stderr).toBe('echo-msg is unchanged (version 1)\n');

    const saved = await fleet.admin.api('GET', '/api/v1/scripts/echo-msg', scriptDtoSchema);
    expect(saved).toMatchObject({ interpreter: '/bin/sh', description: 'Print a message on every node', body: BODY });
    expect(saved.parameters).toEqual([
      { name: 'msg', type: 'string', required: true, description: 'what to print' },
      {
        name: 'times',
        type: 'number',
        integer: true,
        min: 1,
        max: 3,
        default: 1,
        required: false,
        description: 'how many times',
      },
    ]);

    const list = pageSchema(scriptSummaryDtoSchema).parse(
      JSON.parse((await runCli(fleet, ['scripts', 'list', '--json'])).stdout),
    );
    expect(list.items.map((s) => [s.name, s.latestVersion])).toEqual([['echo-msg', 1]]);
    const show = await runCli(fleet, ['scripts', 'show', 'echo-msg']);
    expect(show.stdout).toMatch(/^msg\s+string\s+yes\s+-\s+what to print$/m);
    expect(show.stdout).toMatch(/^times\s+integer 1\.\.3\s+no\s+1\s+how many times$/m);
  });

  it('pulls the exact body back, of the newest or an older version', async () => {
    await writeFile(join(fleet.dir, 'echo-msg.sh'), `${BODY}\n# version 2\n`);
    const second = await runCli(fleet, ['scripts', 'push', join(fleet.dir, 'echo-msg.sh')]);
    expect(second.stderr).toContain('Saved echo-msg version 2');
    const versions = await runCli(fleet, ['scripts', 'versions', 'echo-msg']);
    expect(versions.stdout).toMatch(
      /^VERSION\s+SAVED\s+BY\s+DESCRIPTION\n2\s+\S+Z\s+admin\s+Print a message on every node\n1\s/,
    );
    const newest = await runCli(fleet, ['scripts', 'pull', 'echo-msg']);
    expect(newest.stdout).toBe(`${BODY}\n# version 2\n`);
    const out = join(fleet.dir, 'pulled.sh');
    const old = await runCli(fleet, ['scripts', 'pull', 'echo-msg', '--version', '1', '-o', out]);
    expect(old.status).toBe(0);
    expect(await readFile(out, 'utf8')).toBe(BODY);
    const missing = await runCli(fleet, ['scripts', 'pull', 'echo-msg', '--version', '9']);
    expect(missing.status).toBe(66);
    expect(missing.stderr).toBe("edgestelle: script 'echo-msg' has no version 9\n");
  });

  it('runs the script by name on 2 nodes with --param; the value arrives literally', async () => {
    const { status, stdout, stderr } = await runCli(
      fleet,
      [
        'run',
        '--tag',
        'role=app',
        '--script',
        'echo-msg',
        '--version',
        '1',
        '--param',
        `msg=${HOSTILE}`,
        '--param',
        'times=2',
      ],
      { timeoutMs: 60_000 },
    );
    expect(stderr).toContain('2 runs: 2 succeeded');
    expect(status).toBe(0);
    const lines = stdout.trimEnd().split('\n').sort();
    expect(lines).toEqual([
      `alpha | msg=[${HOSTILE}]`,
      `alpha | msg=[${HOSTILE}]`,
      'alpha | needle-2-found',
      `beta  | msg=[${HOSTILE}]`,
      `beta  | msg=[${HOSTILE}]`,
      'beta  | needle-2-found',
    ]);
    expect(existsSync(join(fleet.dir, 'PWNED'))).toBe(false);
    const page = jobHistoryPageSchema.parse(
      JSON.parse((await runCli(fleet, ['jobs', '--script', 'echo-msg', '--json'])).stdout),
    );
    const job = page.items[0];
    expect(job).toMatchObject({ script: { name: 'echo-msg', version: 1 }, params: { msg: HOSTILE, times: 2 } });
    jobId = job?.jobId ?? '';
    const detail = await runCli(fleet, ['jobs', jobId]);
    expect(detail.stdout).toMatch(/^command\s+echo-msg@1 msg=it's "\$\(touch PWNED\)" .* times=2$/m);
  });

  it('checks --param values against the script before creating a job (exit 64)', async () => {
    const before = jobHistoryPageSchema.parse(JSON.parse((await runCli(fleet, ['jobs', '--json'])).stdout)).items
      .length;
    const cases: [string[], string][] = [
      [['--param', 'msg=x', '--param', 'times=9'], 'edgestelle: --param times: 9 is above 3\n'],
      [
        ['--param', 'msg=x', '--param', 'colour=red'],
        "edgestelle: --param: echo-msg has no parameter 'colour' (it has: msg, times)\n",
      ],
      [[], 'edgestelle: echo-msg needs --param msg=TEXT\n'],
      [
        ['--param', 'msg=x', '--', 'extra'],
        'edgestelle: --script runs the library script as saved, with --param values only: drop words after --\n',
      ],
    ];
    for (const [extra, message] of cases) {
      const result = await runCli(fleet, ['run', '--all', '--script', 'echo-msg', ...extra]);
      expect(result.stderr).toBe(message);
      expect(result.status).toBe(64);
    }
    const unknown = await runCli(fleet, ['run', '--all', '--script', 'no-such', '--param', 'a=1']);
    expect(unknown.status).toBe(66);
    expect(unknown.stderr).toContain("no script 'no-such' in the library");
    const after = jobHistoryPageSchema.parse(JSON.parse((await runCli(fleet, ['jobs', '--json'])).stdout)).items.length;
    expect(after).toBe(before);
  });
});

describe('completion of script names', () => {
  it('completes --script and scripts pull from the master’s library', async () => {
    const script = join(fleet.dir, 'completion.bash');
    await writeFile(script, (await runCli(fleet, ['completion', 'bash'])).stdout);
    const bin = join(fleet.dir, 'bin');
    await promisify(execFile)('mkdir', ['-p', bin]);
    const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
    await writeFile(
      join(bin, 'edgestelle'),
      `#!/bin/sh\nexec "${process.execPath}" --import tsx --conditions=source "${main}" "$@"\n`,
      { mode: 0o755 },
    );
    const complete = async (words: string): Promise<string> => {
      // Asynchronously: the master lives in this process and must answer while bash waits.
      const { stdout } = await promisify(execFile)(
        'bash',
        [
          '-c',
          `source ${script}; COMP_WORDS=(${words}); COMP_CWORD=$((\${#COMP_WORDS[@]} - 1)); _edgestelle; echo "\${COMPREPLY[@]}"`,
        ],
        { env: cliEnv(fleet, { PATH: `${bin}:${process.env.PATH ?? ''}` }) },
      );
      return stdout.trim();
    };
    expect(await complete('edgestelle run --script ec')).toBe('echo-msg');
    expect(await complete('edgestelle scripts pull ec')).toBe('echo-msg');
  });
});

describe('jobs filters and search', () => {
  it('filters jobs by state, user, node, script and time, with counts by state', async () => {
    await fleet.admin.api('POST', '/api/v1/jobs', jobDtoSchema, {
      target: { nodeIds: ['beta'] },
      spec: { command: 'echo inline-only', timeoutMs: 10_000 },
    });
    await waitFor('jobs finished', async () => {
      const page = await fleet.admin.api('GET', '/api/v1/jobs?state=running', jobHistoryPageSchema);
      return page.items.length === 0;
    });
    const byScript = await runCli(fleet, ['jobs', '--script', 'echo-msg']);
    expect(byScript.stdout).toMatch(
      new RegExp(
        `^${jobId}\\s+\\S+ ago\\s+admin\\s+finished\\s+succeeded\\s+tag role=app\\s+2 succeeded\\s+echo-msg@1 msg=`,
        'm',
      ),
    );
    expect(byScript.stdout).not.toContain('inline-only');
    expect(byScript.stderr).toContain('running 0 · paused 0 · finished 1 · cancelled 0 · stopped 0');

    const ids = async (args: string[]): Promise<string[]> =>
      jobHistoryPageSchema
        .parse(JSON.parse((await runCli(fleet, ['jobs', '--json', ...args])).stdout))
        .items.map((j) => j.jobId);
    const all = await ids([]);
    expect(all).toHaveLength(2);
    expect(await ids(['--node', 'alpha'])).toEqual([jobId]);
    expect(await ids(['--node', 'beta'])).toEqual(all);
    expect(await ids(['--user', 'admin', '--since', '1h', '--state', 'finished'])).toEqual(all);
    expect(await ids(['--user', 'nobody'])).toEqual([]);
    expect(await ids(['--until', '2000-01-01'])).toEqual([]);
    const running = await runCli(fleet, ['jobs', '--state', 'running']);
    expect(running.stdout).toBe('No jobs.\n');
    expect(running.stderr).toContain('finished 2');
    const bad = await runCli(fleet, ['jobs', '--state', 'done']);
    expect(bad.status).toBe(64);
    expect(bad.stderr).toContain("--state: 'done' is not a job state");
  });

  it('finds a line with node, run and seq; --json is the API page', async () => {
    const runs = await fleet.admin.api('GET', `/api/v1/jobs/${jobId}/runs`, z.object({ items: z.array(runDtoSchema) }));
    await waitFor('the lines indexed', async () => {
      const page = await fleet.admin.api('GET', '/api/v1/search?q=needle-2', searchPageSchema);
      return page.items.length === 2;
    });
    const { status, stdout } = await runCli(fleet, ['search', 'needle-2', '--node', 'beta']);
    expect(status).toBe(0);
    const beta = runs.items.find((run) => run.nodeId === 'beta');
    expect(stdout).toMatch(new RegExp(`^beta  ${beta?.runId ?? '?'}  seq \\d+  needle-2-found\\n$`));
    const json = searchPageSchema.parse(
      JSON.parse((await runCli(fleet, ['search', 'NEEDLE-2', 'found', '--json'])).stdout),
    );
    expect(json.items.map((hit) => hit.nodeId).sort()).toEqual(['alpha', 'beta']);
    const none = await runCli(fleet, ['search', 'no-such-line-anywhere']);
    expect(none.stderr).toBe('No lines match.\n');
    const short = await runCli(fleet, ['search', 'ab']);
    expect(short.status).toBe(64);
  });
});
