import { join } from 'node:path';
import { apiTokenDtoSchema, auditEventDtoSchema, nodeDtoSchema, userAccountDtoSchema } from '@edgestelle/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  collect,
  runCli,
  spawnCli,
  startMaster,
  waitFor,
  type InProcessAgent,
  type InProcessMaster,
} from '@edgestelle/fleet-fixture';

/** users, audit, nodes tag|untag|revoke|forget, tokens --role and the nodes usage columns against a real master. */
let fleet: InProcessMaster;
let gamma: InProcessAgent;

beforeAll(async () => {
  fleet = await startMaster({ deps: { sweepIntervalMs: 250 } });
  await fleet.startAgent('alpha', { tags: { site: 'berlin' } });
  gamma = await fleet.startAgent('gamma', { tags: { site: 'oslo' } });
});

afterAll(async () => {
  await fleet?.[Symbol.asyncDispose]();
});

const usersJson = z.array(userAccountDtoSchema);

describe('users', () => {
  it('creates, lists, changes the role of, disables, enables and resets the password of a user', async () => {
    const created = await runCli(fleet, ['users', 'create', 'carol', '--role', 'operator', '--password-stdin'], {
      input: 'carol-password-1\n',
    });
    expect([created.status, created.stderr]).toEqual([0, expect.stringMatching(/^Created carol \(operator\), id /)]);
    const short = await runCli(fleet, ['users', 'create', 'dan', '--role', 'viewer', '--password-stdin'], {
      input: 'short\n',
    });
    expect(short.status).toBe(64);
    expect(short.stderr).toMatch(/at least 10 characters/);

    expect((await runCli(fleet, ['users', 'set-role', 'carol', 'viewer'])).stderr).toBe('carol is now viewer.\n');
    expect((await runCli(fleet, ['users', 'disable', 'carol'])).status).toBe(0);
    const table = await runCli(fleet, ['users', 'list']);
    expect(table.stdout).toMatch(/^USER\s+ROLE\s+STATUS\s+CREATED\s+LAST LOGIN\n/);
    expect(table.stdout).toMatch(/\ncarol\s+viewer\s+disabled \d{4}-/);
    expect((await runCli(fleet, ['users', 'enable', 'carol'])).status).toBe(0);
    const reset = await runCli(fleet, ['users', 'reset-password', 'carol', '--password-stdin'], {
      input: 'carol-password-2',
    });
    expect(reset.status).toBe(0);
    const carol = usersJson
      .parse(JSON.parse((await runCli(fleet, ['users', 'list', '--json'])).stdout))
      .find((u) => u.username === 'carol');
    expect([carol?.role, carol?.disabledAt]).toEqual(['viewer', null]);

    const nobody = await runCli(fleet, ['users', 'disable', 'nobody']);
    expect([nobody.status, nobody.stderr]).toEqual([66, expect.stringMatching(/no user named nobody/)]);
    const lastAdmin = await runCli(fleet, ['users', 'set-role', 'admin', 'viewer']);
    expect(lastAdmin.status).toBe(65);
    const badRole = await runCli(fleet, ['users', 'set-role', 'carol', 'root']);
    expect(badRole.status).toBe(64);
  });

  it('tokens create --role: the role shows in tokens list, and never above the creator’s role', async () => {
    const viewer = await runCli(fleet, ['tokens', 'create', 'scraper', '--role', 'viewer']);
    expect(viewer.status).toBe(0);
    const list = await runCli(fleet, ['tokens', 'list']);
    expect(list.stdout).toMatch(/^TOKEN\s+NAME\s+ROLE\s+STATUS/);
    expect(list.stdout).toMatch(/\s+scraper\s+viewer\s+active\s/);

    await runCli(fleet, ['users', 'create', 'olga', '--role', 'operator', '--password-stdin'], {
      input: 'olga-password-1',
    });
    const env = { EDGESTELLE_URL: undefined, EDGESTELLE_TOKEN: undefined, XDG_CONFIG_HOME: join(fleet.dir, 'olga') };
    const login = await runCli(fleet, ['login', '--url', fleet.url, '--user', 'olga', '--password-stdin'], {
      env,
      input: 'olga-password-1',
    });
    expect(login.status).toBe(0);
    const above = await runCli(fleet, ['tokens', 'create', 'sneaky', '--role', 'admin'], { env });
    expect([above.status, above.stderr]).toEqual([77, expect.stringMatching(/more than your role \(operator\)/)]);
    const own = z
      .array(apiTokenDtoSchema)
      .parse(JSON.parse((await runCli(fleet, ['tokens', 'list', '--json'], { env })).stdout));
    expect(own.map((t) => t.name)).not.toContain('sneaky');
  });
});

describe('nodes', () => {
  it('shows load, memory and disk, and tags and untags a node', async () => {
    const table = await runCli(fleet, ['nodes']);
    expect(table.stdout).toMatch(/^NODE\s+NAME\s+STATUS\s+LOAD\s+MEM\s+DISK\s+TAGS/);
    expect(table.stdout).toMatch(/\nalpha\s+alpha\s+online\s+\d+%\s+\d+%\s+\d+%\s+site=berlin/);

    const tag = await runCli(fleet, ['nodes', 'tag', 'alpha', 'rack=4', 'role=gw']);
    expect([tag.status, tag.stderr]).toEqual([0, 'alpha: rack=4,role=gw,site=berlin\n']);
    const untag = await runCli(fleet, ['nodes', 'untag', 'alpha', 'role', 'absent']);
    expect([untag.status, untag.stderr]).toEqual([0, 'alpha: rack=4,site=berlin\n']);
    const alpha = nodeDtoSchema.parse(await fleet.admin.api('GET', '/api/v1/nodes/alpha', nodeDtoSchema));
    expect(alpha.tags).toEqual({ rack: '4', site: 'berlin' });

    const pair = await runCli(fleet, ['nodes', 'untag', 'alpha', 'rack=4']);
    expect([pair.status, pair.stderr]).toEqual([64, expect.stringMatching(/takes keys, not key=value/)]);
    const unknown = await runCli(fleet, ['nodes', 'tag', 'nope', 'a=b']);
    expect(unknown.status).toBe(66);
  });

  it('forgets a node only once it is revoked', async () => {
    const early = await runCli(fleet, ['nodes', 'forget', 'gamma']);
    expect([early.status, early.stderr]).toEqual([65, expect.stringMatching(/not revoked: revoke it first/)]);
    await gamma.stop();
    const revoke = await runCli(fleet, ['nodes', 'revoke', 'gamma']);
    expect([revoke.status, revoke.stderr]).toEqual([0, expect.stringMatching(/^Revoked gamma/)]);
    const forget = await runCli(fleet, ['nodes', 'forget', 'gamma']);
    expect([forget.status, forget.stderr]).toEqual([0, expect.stringMatching(/^Forgot gamma/)]);
    expect((await runCli(fleet, ['nodes', '-q'])).stdout).toBe('alpha\n');
    const again = await runCli(fleet, ['nodes', 'forget', 'gamma']);
    expect(again.status).toBe(66);
  });
});

describe('audit', () => {
  it('lists events oldest first with filters, as JSON too, and --follow prints new ones as they happen', async () => {
    // Two events a moment apart: --follow --limit 1 shows the newer, and must never print the
    // older later as if it were new.
    await runCli(fleet, ['nodes', 'tag', 'alpha', 'audit=0']);
    await runCli(fleet, ['nodes', 'tag', 'alpha', 'audit=1']);
    const listed = await runCli(fleet, ['audit', '--action', 'node.update', '--target', 'node:alpha']);
    const lines = listed.stdout.trimEnd().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(lines.at(-1)).toMatch(
      /^\d{4}-\d\d-\d\dT[\d:]+Z {2}admin {2}node\.update {2}node:alpha {2}setTags=\{"audit":"1"\}/,
    );
    const events = z
      .array(auditEventDtoSchema)
      .parse(JSON.parse((await runCli(fleet, ['audit', '--action', 'user.create', '--json'])).stdout));
    expect(events.map((e) => e.action)).toEqual(events.map(() => 'user.create'));
    expect((await runCli(fleet, ['audit', '--action', 'node.explode'])).status).toBe(64);

    const child = spawnCli(fleet, ['audit', '--follow', '--json', '--action', 'node.update', '--limit', '1']);
    let out = '';
    child.stdout?.setEncoding('utf8').on('data', (text: string) => (out += text));
    try {
      await waitFor('the newest event printed', () => out.split('\n').length >= 2);
      await runCli(fleet, ['nodes', 'tag', 'alpha', 'audit=2']);
      await waitFor('the new event followed', () => out.includes('{\\"audit\\":\\"2\\"}'));
      const followed = out
        .trimEnd()
        .split('\n')
        .map((line) => auditEventDtoSchema.parse(JSON.parse(line)));
      expect(followed.map((e) => e.details.setTags)).toEqual(['{"audit":"1"}', '{"audit":"2"}']);
    } finally {
      child.kill('SIGTERM');
      await collect(child);
    }
  });
});
