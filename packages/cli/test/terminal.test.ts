import { join } from 'node:path';
import { jobDtoSchema, pageSchema, searchPageSchema } from '@edgestelle/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, type InProcessMaster, startMaster, waitFor } from '@edgestelle/fleet-fixture';
import { cliOnTerminal, type TerminalSession } from './cli-terminal.ts';

/**
 * The CLI on a real terminal (a pseudo-terminal): escaped control characters, coloured
 * prefixes, the Ctrl-C question, and the password prompt without echo.
 */
let fleet: InProcessMaster;

beforeAll(async () => {
  fleet = await startMaster({ deps: { sweepIntervalMs: 250 } });
  for (const { nodeId, tags } of [
    { nodeId: 'tty-1', tags: { kind: 'tty' } },
    { nodeId: 'tty-2', tags: { kind: 'tty' } },
  ])
    await fleet.startAgent(nodeId, { tags });
});

afterAll(async () => {
  await fleet?.[Symbol.asyncDispose]();
});

function onTerminal(args: readonly string[], env: Record<string, string | undefined> = {}): TerminalSession {
  return cliOnTerminal(fleet, args, { cols: 160, rows: 40, env });
}

describe('on a terminal', () => {
  it('escapes control characters in node output and colours each node’s prefix', async () => {
    const session = onTerminal(['run', '--tag', 'kind=tty', '--', String.raw`printf 'a\033]52;c;ZXZpbA==\007b\n'`]);
    expect(await session.exit).toBe(0);
    const output = session.output();
    expect(output).toContain(String.raw`a\x1b]52;c;ZXZpbA==\x07b`);
    expect(output).not.toContain('\x1b]52');
    expect(output).toMatch(new RegExp(String.raw`\u001b\[\d+mtty-1\u001b\[0m \| a`));
    expect(output).toContain('2 runs: 2 succeeded');
  });

  it('search escapes control characters in found lines, unless --raw', async () => {
    await fleet.admin.api('POST', '/api/v1/jobs', jobDtoSchema, {
      target: { nodeIds: ['tty-2'] },
      spec: { command: String.raw`printf 'found-it \033]0;title\007 here\n'`, timeoutMs: 10_000 },
    });
    await waitFor(
      'the line indexed',
      async () => (await fleet.admin.api('GET', '/api/v1/search?q=found-it', searchPageSchema)).items.length === 1,
    );
    const session = onTerminal(['search', 'found-it']);
    expect(await session.exit).toBe(0);
    expect(session.output()).toContain(String.raw`\x1b]0;title\x07 here`);
    expect(session.output()).not.toContain('\x1b]0;title\x07');
    const raw = onTerminal(['search', 'found-it', '--raw']);
    expect(await raw.exit).toBe(0);
    expect(raw.output()).toContain('\x1b]0;title\x07 here');
  });

  it('--raw writes the exact bytes even to a terminal', async () => {
    const session = onTerminal(['run', '--node', 'tty-1', '--raw', '--', String.raw`printf 'x\033[1my\n'`]);
    expect(await session.exit).toBe(0);
    expect(session.output()).toContain('x\x1b[1my');
  });

  it('asks on Ctrl-C; d detaches (exit 3) and the job keeps running', async () => {
    const session = onTerminal(['run', '--tag', 'kind=tty', '--', 'echo started; sleep 30']);
    await waitFor('both nodes to start', () => (session.output().match(/started/g) ?? []).length === 2);
    session.pty.write('\x03');
    await waitFor('the question', () => session.output().includes('[d]etach'));
    session.pty.write('d');
    expect(await session.exit).toBe(3);
    const jobId = /edgestelle logs (\w{26}) --follow/.exec(session.output())?.[1] ?? '';
    const job = await fleet.admin.api('GET', `/api/v1/jobs/${jobId}`, jobDtoSchema);
    expect(job.state).toBe('running');
    await fleet.admin.api('POST', `/api/v1/jobs/${jobId}/cancel`, jobDtoSchema);
  });

  it('asks on Ctrl-C; c cancels the job (exit 130)', async () => {
    const session = onTerminal(['run', '--tag', 'kind=tty', '--', 'echo started; sleep 30']);
    await waitFor('both nodes to start', () => (session.output().match(/started/g) ?? []).length === 2);
    // The progress line, drawn on stderr while the runs go on.
    await waitFor('the progress line', () => /0\/2 done, 2 running · \d/.test(session.output()));
    session.pty.write('\x03');
    await waitFor('the question', () => session.output().includes('[c]ancel'));
    session.pty.write('c');
    expect(await session.exit).toBe(130);
    expect(session.output()).toMatch(/tty-1\s+cancelled/);
    const { items } = await fleet.admin.api('GET', '/api/v1/jobs?limit=1', pageSchema(jobDtoSchema));
    expect(items[0]?.state).toBe('cancelled');
  });

  it('prompts for the password without echoing it', async () => {
    const configHome = join(fleet.dir, 'tty-login');
    const session = onTerminal(['login', '--url', fleet.url], {
      EDGESTELLE_URL: undefined,
      EDGESTELLE_TOKEN: undefined,
      XDG_CONFIG_HOME: configHome,
    });
    await waitFor('the prompt', () => session.output().includes('Password for admin'));
    session.pty.write(`${ADMIN.password}\r`);
    expect(await session.exit).toBe(0);
    expect(session.output()).not.toContain(ADMIN.password);
    expect(session.output()).toContain('Logged in to');
  });
});
