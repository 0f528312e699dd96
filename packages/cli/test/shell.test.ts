import { scriptPtySpawner } from '@edgestelle/agent';
import { ADMIN, runCli, startMaster, waitFor, type InProcessMaster } from '@edgestelle/fleet-fixture';
import { ExitCode, nodeDtoSchema, shellSessionListSchema } from '@edgestelle/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { cliOnTerminal, type TerminalSession } from './cli-terminal.ts';

/**
 * `edgestelle shell` against a real master and real agents over the embedded broker: the CLI
 * runs on a pseudo-terminal here, as an operator's would, and the agent gives its terminal with
 * script(1), as one installed from the one-file bundle does.
 */
let fleet: InProcessMaster;

beforeAll(async () => {
  fleet = await startMaster();
  await fleet.startAgent('sh-1', { deps: { loadPty: () => Promise.resolve(scriptPtySpawner()) } });
  await fleet.startAgent('sh-none', { deps: { loadPty: () => Promise.resolve(undefined) } });
});

afterAll(async () => {
  await fleet?.[Symbol.asyncDispose]();
});

function onTerminal(args: readonly string[]): TerminalSession {
  return cliOnTerminal(fleet, args, { cols: 100, rows: 30 });
}

async function typed(session: TerminalSession, keys: string, expected: string | RegExp, what: string): Promise<void> {
  const before = session.output().length;
  session.pty.write(keys);
  await waitFor(
    what,
    () => {
      const after = session.output().slice(before);
      return typeof expected === 'string' ? after.includes(expected) : expected.test(after);
    },
    { timeoutMs: 10_000, intervalMs: 20 },
  ).catch((err: unknown) => {
    throw new Error(`${String(err)}; the terminal showed ${JSON.stringify(session.output())}`);
  });
}

describe('edgestelle shell', () => {
  it('is an interactive terminal: typing, resize, Ctrl-C, the exit code, and a recording to replay', async () => {
    const facts = (await fleet.admin.api('GET', '/api/v1/nodes/sh-1', nodeDtoSchema)).facts;
    expect(facts?.capabilities).toMatchObject({ pty: true, ptyKind: 'script', shell: true });

    const session = onTerminal(['shell', 'sh-1', '--', '/bin/sh -i']);
    await typed(session, 'stty size\r', '30 100', 'the starting size');
    session.pty.resize(120, 40);
    // The CLI hears SIGWINCH and reads the keys in whichever order they come, as ssh does: ask
    // again until the new size is there.
    await waitFor(
      'the new size',
      async () => {
        const before = session.output().length;
        await typed(session, 'stty size\r', /\d+ \d+\r\n/, 'a size');
        return session.output().slice(before).includes('40 120');
      },
      { timeoutMs: 10_000 },
    );
    await typed(session, 'sleep 30\r', 'sleep 30', 'the echo');
    await typed(session, '\x03', '^C', 'Ctrl-C');
    await typed(session, 'echo after-$((40 + 2))\r', 'after-42', 'the shell after Ctrl-C');
    // Bytes pass as they are: no CR added before a newline on this side.
    expect(session.output()).not.toContain('\r\r\n');
    session.pty.write('exit 3\r');
    expect(await session.exit).toBe(3);

    const { items } = await fleet.admin.api('GET', '/api/v1/shell-sessions?nodeId=sh-1', shellSessionListSchema);
    const recorded = items[0];
    expect(recorded).toMatchObject({ nodeId: 'sh-1', username: ADMIN.username, command: '/bin/sh -i', exitCode: 3 });
    expect(recorded?.endedAt).not.toBeNull();
    const response = await fetch(`${fleet.url}/api/v1/shell-sessions/${recorded?.sessionId}/recording`, {
      headers: { authorization: `Bearer ${fleet.admin.token}` },
    });
    expect(response.headers.get('content-type')).toContain('application/x-asciicast');
    const [header, ...events] = (await response.text())
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as unknown);
    expect(header).toMatchObject({ version: 2, width: 100, height: 30, command: '/bin/sh -i' });
    const frames = z.array(z.tuple([z.number(), z.enum(['o', 'r', 'm']), z.string()])).parse(events);
    const replayed = frames.flatMap(([, type, data]) => (type === 'o' ? [data] : [])).join('');
    expect(replayed).toContain('30 100');
    expect(replayed).toContain('after-42');
    expect(frames.filter(([, type]) => type === 'r').map(([, , size]) => size)).toEqual(['120x40']);
    const times = frames.map(([at]) => at);
    expect(times).toEqual([...times].sort((a, b) => a - b));
  });

  it('returns the exit status of a command run without a terminal on this side', async () => {
    const result = await runCli(fleet, ['shell', 'sh-1', '--', 'echo piped-$((6 * 7)); exit 5']);
    expect(result.stdout).toContain('piped-42');
    expect(result.status).toBe(5);
  });

  it('refuses a viewer, and says a node cannot give a terminal before asking it for one', async () => {
    const viewer = await fleet.admin.createUser('shell-viewer', 'viewer');
    const refused = await runCli(fleet, ['shell', 'sh-1'], { env: { EDGESTELLE_TOKEN: viewer.client.token } });
    expect(refused.status).toBe(ExitCode.noPermission);
    expect(refused.stderr).toMatch(/needs the operator role; you are viewer/);
    const list = await fetch(`${fleet.url}/api/v1/shell-sessions`, {
      headers: { authorization: `Bearer ${viewer.client.token}` },
    });
    expect(list.status).toBe(403);

    const facts = (await fleet.admin.api('GET', '/api/v1/nodes/sh-none', nodeDtoSchema)).facts;
    expect(facts?.capabilities).toMatchObject({ pty: false, ptyKind: 'none' });
    const noShell = await runCli(fleet, ['shell', 'sh-none']);
    expect(noShell.status).toBe(ExitCode.unavailable);
    expect(noShell.stderr).toMatch(/sh-none cannot give a terminal/);
    const noPtyRun = await runCli(fleet, ['run', '--node', 'sh-none', '--pty', '--', 'tty']);
    expect(noPtyRun.stderr).toMatch(/cannot give a terminal.*sh-none/);
    expect(noPtyRun.status).not.toBe(0);
  });
});
