import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  apiTokenCreatedSchema,
  apiTokenDtoSchema,
  joinTokenCreatedSchema,
  nodeDtoSchema,
  sessionDtoSchema,
} from '@edgestelle/protocol';
import { freePort } from '@edgestelle/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ADMIN, cliEnv, type InProcessMaster, runCli, startMaster } from '@edgestelle/fleet-fixture';

/** login/logout/whoami, nodes, jobs, tokens, join-token, errors and completion against a real master. */
let fleet: InProcessMaster;

beforeAll(async () => {
  fleet = await startMaster({ deps: { sweepIntervalMs: 250 } });
  for (const { nodeId, tags } of [
    { nodeId: 'alpha', tags: { site: 'berlin' } },
    { nodeId: 'beta', tags: { site: 'paris' } },
  ])
    await fleet.startAgent(nodeId, { tags });
});

afterAll(async () => {
  await fleet?.[Symbol.asyncDispose]();
});

/** The CLI with only what login saved: no EDGESTELLE_URL or _TOKEN. */
const saved = { EDGESTELLE_URL: undefined, EDGESTELLE_TOKEN: undefined };

describe('login, whoami, logout', () => {
  it('logs in with --password-stdin, saves a 0600 config, and logout revokes the token', async () => {
    const env = { ...saved, XDG_CONFIG_HOME: join(fleet.dir, 'login-config') };
    const notYet = await runCli(fleet, ['whoami'], { env });
    expect(notYet.status).toBe(77);
    expect(notYet.stderr).toMatch(/^edgestelle: not logged in: run edgestelle login/);

    const login = await runCli(fleet, ['login', '--url', fleet.url, '--user', 'admin', '--password-stdin'], {
      env,
      input: `${ADMIN.password}\n`,
    });
    expect(login.stderr).toContain(`Logged in to ${fleet.url} as admin (admin)`);
    expect(login.status).toBe(0);
    const path = join(fleet.dir, 'login-config', 'edgestelle', 'config.json');
    expect((await stat(path)).mode & 0o777).toBe(0o600);

    const whoami = await runCli(fleet, ['whoami'], { env });
    expect(whoami.stdout).toBe(`admin (admin) at ${fleet.url}\n`);
    const asJson = sessionDtoSchema.parse(JSON.parse((await runCli(fleet, ['whoami', '--json'], { env })).stdout));
    expect(asJson).toMatchObject({ via: 'token', user: { username: 'admin', role: 'admin' } });

    const tokens = z
      .array(apiTokenDtoSchema)
      .parse(JSON.parse((await runCli(fleet, ['tokens', 'list', '--json'], { env })).stdout));
    const cliToken = tokens.find((token) => token.name.startsWith('edgestelle CLI on'));
    expect(cliToken?.expiresAt).not.toBeNull();

    const logout = await runCli(fleet, ['logout'], { env });
    expect(logout.status).toBe(0);
    await expect(stat(path)).rejects.toThrow();
    const after = await fleet.admin.api('GET', '/api/v1/tokens', z.object({ items: z.array(apiTokenDtoSchema) }));
    expect(after.items.find((token) => token.tokenId === cliToken?.tokenId)?.revokedAt).not.toBeNull();
  });

  it('refuses a wrong password with exit 77 and saves nothing', async () => {
    const env = { ...saved, XDG_CONFIG_HOME: join(fleet.dir, 'wrong-config') };
    const login = await runCli(fleet, ['login', '--url', fleet.url, '--password-stdin'], {
      env,
      input: 'wrong-password\n',
    });
    expect(login.status).toBe(77);
    expect(login.stderr.trim().split('\n')).toHaveLength(1);
    await expect(stat(join(fleet.dir, 'wrong-config', 'edgestelle', 'config.json'))).rejects.toThrow();
  });

  it('asks for --password-stdin or --token when there is no terminal to prompt on', async () => {
    const login = await runCli(fleet, ['login', '--url', fleet.url], { env: saved });
    expect(login.status).toBe(64);
    expect(login.stderr).toContain('--password-stdin or --token');
  });

  it('saves a token given with --token after checking it', async () => {
    const env = { ...saved, XDG_CONFIG_HOME: join(fleet.dir, 'token-config') };
    const bad = await runCli(fleet, ['login', '--url', fleet.url, '--token', 'not-a-token'], { env });
    expect(bad.status).toBe(77);
    const good = await runCli(fleet, ['login', '--url', fleet.url, '--token', fleet.admin.token], { env });
    expect(good.status).toBe(0);
    expect((await runCli(fleet, ['nodes', '-q'], { env })).stdout).toBe('alpha\nbeta\n');
  });
});

describe('errors', () => {
  it('exits 69 with one line when the master is unreachable', async () => {
    const port = await freePort();
    const { status, stderr } = await runCli(fleet, ['nodes'], { env: { EDGESTELLE_URL: `http://127.0.0.1:${port}` } });
    expect(status).toBe(69);
    expect(stderr).toBe(`edgestelle: cannot reach the master at http://127.0.0.1:${port} (ECONNREFUSED)\n`);
  });

  it('exits 77 when the token is refused, saying how to fix it', async () => {
    const { status, stderr } = await runCli(fleet, ['nodes'], { env: { EDGESTELLE_TOKEN: 'revoked-or-wrong' } });
    expect(status).toBe(77);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toContain('edgestelle login');
  });

  it('exits 66 for an unknown node and 78 for a damaged config file', async () => {
    const unknown = await runCli(fleet, ['run', '--node', 'no-such-node', '--', 'true']);
    expect(unknown.status).toBe(66);
    expect(unknown.stderr).toContain('no-such-node');
    const dir = join(fleet.dir, 'damaged');
    execFileSync('mkdir', ['-p', join(dir, 'edgestelle')]);
    await writeFile(join(dir, 'edgestelle', 'config.json'), '{"url":');
    const damaged = await runCli(fleet, ['whoami'], { env: { ...saved, XDG_CONFIG_HOME: dir } });
    expect(damaged.status).toBe(78);
    expect(damaged.stderr).toMatch(/^edgestelle: .*config\.json is not JSON/);
  });
});

describe('nodes, jobs, tokens, join-token', () => {
  it('lists nodes as a table, filtered by tag, and as JSON equal to the API', async () => {
    const table = await runCli(fleet, ['nodes']);
    expect(table.stdout.split('\n')[0]).toMatch(/^NODE\s+NAME\s+STATUS\s+LOAD\s+MEM\s+DISK\s+TAGS/);
    expect(table.stdout).toMatch(/alpha\s+alpha\s+online\s+\d+%\s+\d+%\s+\d+%\s+site=berlin/);
    const berlin = await runCli(fleet, ['nodes', '--tag', 'site=berlin', '-q']);
    expect(berlin.stdout).toBe('alpha\n');
    const json = z.array(nodeDtoSchema).parse(JSON.parse((await runCli(fleet, ['nodes', '--json'])).stdout));
    const api = await fleet.admin.api('GET', '/api/v1/nodes', z.object({ items: z.array(nodeDtoSchema) }));
    expect(json.map((node) => node.nodeId)).toEqual(['alpha', 'beta']);
    expect(json).toEqual([...api.items].sort((a, b) => a.nodeId.localeCompare(b.nodeId)));
    const offline = await runCli(fleet, ['nodes', '--status', 'offline']);
    expect(offline.stdout).toBe('No nodes match.\n');
  });

  it('lists jobs and shows one with its runs', async () => {
    const run = await runCli(fleet, ['run', '--all', '--json', '--', 'echo listed']);
    const jobId = z.object({ job: z.object({ jobId: z.string() }) }).parse(JSON.parse(run.stdout)).job.jobId;
    const list = await runCli(fleet, ['jobs', '--limit', '5']);
    expect(list.stdout).toMatch(
      new RegExp(
        `^${jobId}\\s+\\d+s ago\\s+admin\\s+finished\\s+succeeded\\s+all nodes\\s+2 succeeded\\s+echo listed$`,
        'm',
      ),
    );
    const show = await runCli(fleet, ['jobs', jobId]);
    expect(show.stdout).toMatch(/^command\s+echo listed$/m);
    expect(show.stdout).toMatch(/^alpha\s+succeeded\s+0/m);
    const bad = await runCli(fleet, ['jobs', '--limit', '500']);
    expect(bad.status).toBe(64);
  });

  it('creates, lists and revokes API tokens; a piped create prints only the secret', async () => {
    const created = await runCli(fleet, ['tokens', 'create', 'ci-deploy', '--ttl', '1h']);
    expect(created.status).toBe(0);
    const secret = created.stdout.trim();
    expect(secret).not.toContain(' ');
    const me = await runCli(fleet, ['whoami'], { env: { EDGESTELLE_TOKEN: secret } });
    expect(me.stdout).toContain('admin (admin)');
    const listed = z
      .array(apiTokenDtoSchema)
      .parse(JSON.parse((await runCli(fleet, ['tokens', 'list', '--json'])).stdout));
    const tokenId = listed.find((token) => token.name === 'ci-deploy')?.tokenId ?? '';
    expect((await runCli(fleet, ['tokens', 'list'])).stdout).toMatch(
      new RegExp(`^${tokenId}\\s+ci-deploy\\s+admin\\s+active`, 'm'),
    );
    expect((await runCli(fleet, ['tokens', 'revoke', tokenId])).status).toBe(0);
    expect((await runCli(fleet, ['whoami'], { env: { EDGESTELLE_TOKEN: secret } })).status).toBe(77);
    const json = apiTokenCreatedSchema.parse(
      JSON.parse((await runCli(fleet, ['tokens', 'create', 'other', '--json'])).stdout),
    );
    expect(json.expiresAt).toBeNull();
  });

  it('creates a join token with tags that enrolls a node', async () => {
    const result = await runCli(fleet, [
      'join-token',
      'create',
      '--tag',
      'site=rome',
      '--ttl',
      '10m',
      '--uses',
      '2',
      '--json',
    ]);
    const created = joinTokenCreatedSchema.parse(JSON.parse(result.stdout));
    expect(created).toMatchObject({ tags: { site: 'rome' }, maxUses: 2, uses: 0 });
    const enrolled = await fetch(`${fleet.url}/api/v1/enroll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: created.token, nodeId: 'gamma', name: 'gamma' }),
    });
    expect(enrolled.status).toBe(200);
    expect((await runCli(fleet, ['join-token', 'list'])).stdout).toMatch(
      new RegExp(`^${created.tokenId}\\s+active\\s+1/2`, 'm'),
    );
    // `enroll-token`, the verb's first name, stays an alias for the scripts that use it.
    expect((await runCli(fleet, ['enroll-token', 'revoke', created.tokenId])).status).toBe(0);
    const badUses = await runCli(fleet, ['join-token', 'create', '--uses', 'lots']);
    expect(badUses.status).toBe(64);
  });

  it('creates a join token for one node id (--node), which alone enrolls that node again', async () => {
    const enrollDelta = (token: string) =>
      fetch(`${fleet.url}/api/v1/enroll`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token, nodeId: 'delta', name: 'delta' }),
      });
    const ordinary = async () => (await runCli(fleet, ['join-token', 'create'])).stdout.trim();
    expect((await enrollDelta(await ordinary())).status).toBe(200);
    const created = joinTokenCreatedSchema.parse(
      JSON.parse((await runCli(fleet, ['join-token', 'create', '--node', 'delta', '--json'])).stdout),
    );
    expect(created).toMatchObject({ nodeId: 'delta', maxUses: 1 });
    expect((await runCli(fleet, ['join-token', 'list'])).stdout).toMatch(
      new RegExp(`^${created.tokenId}\\s+active\\s+0/1\\s+\\S+\\s+delta\\s`, 'm'),
    );
    // delta is enrolled: an ordinary token is refused, the one made for it re-keys it.
    const refused = await enrollDelta(await ordinary());
    expect(refused.status).toBe(409);
    expect(await refused.json()).toMatchObject({ code: 'node_exists' });
    expect((await enrollDelta(created.token)).status).toBe(200);
    const badNode = await runCli(fleet, ['join-token', 'create', '--node', 'Not A Node']);
    expect(badNode.status).toBe(64);
    expect(badNode.stderr).toContain("--node: 'Not A Node' is not a node id");
  });
});

const hasZsh = existsSync('/usr/bin/zsh') || existsSync('/bin/zsh');

describe('help and completion', () => {
  it.runIf(hasZsh)('prints zsh completion that zsh parses and that completes sub-verbs', async () => {
    const script = join(fleet.dir, '_edgestelle');
    await writeFile(script, (await runCli(fleet, ['completion', 'zsh'])).stdout);
    execFileSync('zsh', ['-n', script]);
    // Completion widgets need a live line editor; stand-ins for _describe/compadd print what would be offered.
    const offered = execFileSync('zsh', [
      '-f',
      '-c',
      `compdef() { :; }; _describe() { local arr=\${@[-1]}; print -l -- "\${(@P)arr}"; }
source ${script}; words=(edgestelle tokens ""); CURRENT=3; _edgestelle`,
    ]).toString();
    expect(offered.split('\n')).toContain('revoke:revoke API tokens at once');
  });

  it('prints bash completion that bash runs, node ids from the master included, and a zsh script', async () => {
    const bash = await runCli(fleet, ['completion', 'bash']);
    expect(bash.stdout).toContain('complete -o default -F _edgestelle edgestelle');
    const script = join(fleet.dir, 'completion.bash');
    await writeFile(script, bash.stdout);
    execFileSync('bash', ['-n', script]);
    // Drive the function as bash would for `edgestelle tokens re<TAB>`.
    const words = execFileSync('bash', [
      '-c',
      `source ${script}; COMP_WORDS=(edgestelle tokens re); COMP_CWORD=2; _edgestelle; echo "\${COMPREPLY[@]}"`,
    ]).toString();
    expect(words.trim()).toBe('revoke');
    // Node ids after --node come from the master, through `edgestelle nodes -q`.
    const bin = join(fleet.dir, 'bin');
    execFileSync('mkdir', ['-p', bin]);
    const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
    await writeFile(
      join(bin, 'edgestelle'),
      `#!/bin/sh\nexec "${process.execPath}" --import tsx --conditions=source "${main}" "$@"\n`,
      { mode: 0o755 },
    );
    // Asynchronously: the master lives in this process and must answer while bash waits.
    const nodes = await promisify(execFile)(
      'bash',
      [
        '-c',
        `source ${script}; COMP_WORDS=(edgestelle run --node al); COMP_CWORD=3; _edgestelle; echo "\${COMPREPLY[@]}"`,
      ],
      { env: cliEnv(fleet, { PATH: `${bin}:${process.env.PATH ?? ''}` }) },
    );
    expect(nodes.stdout.trim()).toBe('alpha');
    const zsh = await runCli(fleet, ['completion', 'zsh']);
    expect(zsh.stdout).toMatch(/^#compdef edgestelle/);
    expect(zsh.stdout).toContain("'run:run a command on nodes");
  });
});
