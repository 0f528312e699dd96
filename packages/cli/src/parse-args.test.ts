import { describe, expect, it } from 'vitest';
import { ExitCode } from '@edgestelle/protocol';
import { CliError } from './cli-error.ts';
import {
  buildJobCreate,
  interpreterFromShebang,
  parseAssignments,
  parseDurationMs,
  parseMasterUrl,
  parseRolloutLimit,
  parseTarget,
  parseTimeFlag,
  refuseWithLibraryScript,
  type RunFlags,
} from './parse-args.ts';

function usage(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CliError);
    if (err instanceof CliError) {
      expect(err.exitCode).toBe(ExitCode.usage);
      return err.message;
    }
  }
  throw new Error('expected a usage error');
}

describe('parseDurationMs', () => {
  it('reads units, combinations and bare seconds', () => {
    expect(parseDurationMs('30s', '--timeout')).toBe(30_000);
    expect(parseDurationMs('1h30m', '--timeout')).toBe(5_400_000);
    expect(parseDurationMs('500ms', '--timeout')).toBe(500);
    expect(parseDurationMs('2d', '--timeout')).toBe(172_800_000);
    expect(parseDurationMs('45', '--timeout')).toBe(45_000);
    expect(parseDurationMs('1.5m', '--timeout')).toBe(90_000);
  });

  it('names the flag when the text is not a duration', () => {
    expect(usage(() => parseDurationMs('10 minutes', '--deadline'))).toMatch(/^--deadline: '10 minutes'/);
    expect(usage(() => parseDurationMs('', '--timeout'))).toMatch(/--timeout/);
    expect(usage(() => parseDurationMs('5x', '--timeout'))).toMatch(/not a duration/);
  });
});

describe('parseRolloutLimit', () => {
  it('reads counts and percentages', () => {
    expect(parseRolloutLimit('5', '--concurrency')).toEqual({ count: 5 });
    expect(parseRolloutLimit('25%', '--concurrency')).toEqual({ percent: 25 });
    expect(usage(() => parseRolloutLimit('150%', '--max-failures'))).toMatch(/more than 100%/);
    expect(usage(() => parseRolloutLimit('1.5', '--concurrency'))).toMatch(/whole number/);
    expect(usage(() => parseRolloutLimit('many', '--concurrency'))).toMatch(/neither a count/);
  });
});

describe('parseAssignments and parseTarget', () => {
  it('keeps = inside values and refuses duplicates', () => {
    expect(parseAssignments(['A=b=c', 'E='], '--env')).toEqual({ A: 'b=c', E: '' });
    expect(usage(() => parseAssignments(['A=1', 'A=2'], '--env'))).toMatch(/given twice/);
    expect(usage(() => parseAssignments(['=x'], '--env'))).toMatch(/not key=value/);
  });

  it('takes a bare name from the environment given, and never repeats a value in a message', () => {
    const shell = { PGPASSWORD: 'from-the-shell' };
    expect(parseAssignments(['PGPASSWORD', 'TOKEN=t=1'], '--secret-env', shell)).toEqual({
      PGPASSWORD: 'from-the-shell',
      TOKEN: 't=1',
    });
    expect(usage(() => parseAssignments(['MISSING'], '--secret-env', shell))).toBe(
      '--secret-env: MISSING is not set in this shell: export it, or give MISSING=value',
    );
    expect(usage(() => parseAssignments(['PGPASSWORD'], '--env'))).toMatch(/not key=value/);
    for (const pairs of [['=hunter2-value'], ['A=hunter2-value', 'A=hunter2-value']]) {
      expect(usage(() => parseAssignments(pairs, '--secret-env', shell))).not.toContain('hunter2');
    }
  });

  it('wants exactly one kind of target', () => {
    expect(parseTarget({ node: ['a', 'a', 'b'], tag: [], all: false })).toEqual({ nodeIds: ['a', 'b'] });
    expect(parseTarget({ node: [], tag: ['site=x'], all: false })).toEqual({ tags: { site: 'x' } });
    expect(parseTarget({ node: [], tag: [], all: true })).toEqual({ all: true });
    expect(usage(() => parseTarget({ node: [], tag: [], all: false }))).toMatch(/choose the nodes/);
    expect(usage(() => parseTarget({ node: ['a'], tag: [], all: true }))).toMatch(/mutually exclusive/);
    expect(usage(() => parseTarget({ node: ['Bad_Node'], tag: [], all: false }))).toMatch(/^--node: 'Bad_Node'/);
    expect(usage(() => parseTarget({ node: [], tag: ['Site=x'], all: false }))).toMatch(/^--tag: /);
  });
});

describe('parseMasterUrl', () => {
  it('normalises to origin and path without a trailing slash', () => {
    expect(parseMasterUrl('http://127.0.0.1:8080/')).toBe('http://127.0.0.1:8080');
    expect(parseMasterUrl('https://ops.example/edge/')).toBe('https://ops.example/edge');
    expect(parseMasterUrl('localhost:8080')).toBe('http://localhost:8080');
  });

  it('refuses other schemes and credentials in the URL', () => {
    expect(usage(() => parseMasterUrl('ftp://x'))).toMatch(/http:\/\/ or https:\/\//);
    expect(usage(() => parseMasterUrl('http://u:p@x'))).toMatch(/not in the URL/);
    expect(usage(() => parseMasterUrl('http://x/?a=1'))).toMatch(/query/);
  });
});

describe('buildJobCreate', () => {
  const base: RunFlags = { node: [], tag: ['role=web'], all: false, command: [], timeout: '10m', env: [], pty: false };

  it('joins the words after -- into one shell command, as ssh does', () => {
    const job = buildJobCreate({
      ...base,
      command: ['df', '-h', '|', 'tail', '-1'],
      concurrency: '50%',
      maxFailures: '1',
      deadline: '2m',
      env: ['MODE=fast'],
      cwd: '/tmp',
    });
    expect(job).toEqual({
      target: { tags: { role: 'web' } },
      spec: { command: 'df -h | tail -1', timeoutMs: 600_000, env: { MODE: 'fast' }, pty: false, cwd: '/tmp' },
      concurrency: { percent: 50 },
      maxFailures: { count: 1 },
      offlineDeadlineMs: 120_000,
    });
  });

  it("sends --secret-env values as the job's secretEnv, apart from the spec", () => {
    const job = buildJobCreate({ ...base, command: ['true'], env: ['MODE=fast'], secretEnv: { PGPASSWORD: 'pw' } });
    expect(job.secretEnv).toEqual({ PGPASSWORD: 'pw' });
    expect(job.spec?.env).toEqual({ MODE: 'fast' });
    expect(buildJobCreate({ ...base, command: ['true'], secretEnv: {} }).secretEnv).toBeUndefined();
    expect(usage(() => buildJobCreate({ ...base, command: ['true'], secretEnv: { 'BAD-NAME': 'x' } }))).toMatch(
      /^--secret-env: /,
    );
  });

  it('asks for a command and checks the result against the API schema', () => {
    expect(usage(() => buildJobCreate(base))).toMatch(/give the command after --/);
    expect(usage(() => buildJobCreate({ ...base, command: ['true'], cwd: 'relative' }))).toBe(
      '--cwd: must be an absolute path without NUL',
    );
    // The flag as typed, and the limit in the flag's units rather than the API's milliseconds.
    expect(usage(() => buildJobCreate({ ...base, command: ['true'], timeout: '30d' }))).toMatch(
      /^--timeout: must be at most \d+[dh]/,
    );
  });
});

describe('run with a local script', () => {
  const base: RunFlags = { node: ['n1'], tag: [], all: false, command: [], timeout: '1m', env: [], pty: false };

  it('sends the body with its interpreter and the words after -- as arguments', () => {
    const job = buildJobCreate({
      ...base,
      command: ['--dry-run', 'a b'],
      script: { body: 'echo "$@"', interpreter: 'bash' },
    });
    expect(job.spec).toMatchObject({ script: { body: 'echo "$@"', interpreter: 'bash' }, args: ['--dry-run', 'a b'] });
    expect(job.spec?.command).toBeUndefined();
  });

  it('takes the interpreter from the #! line', () => {
    expect(interpreterFromShebang('echo hi', 'x.sh')).toBe('sh');
    expect(interpreterFromShebang('#!/bin/bash\necho', 'x.sh')).toBe('/bin/bash');
    expect(interpreterFromShebang('#!/usr/bin/env python3\nprint(1)', 'x.py')).toBe('python3');
    expect(usage(() => interpreterFromShebang('#!/bin/bash -eu\n', 'x.sh'))).toMatch(/options \(-eu\)/);
    expect(usage(() => interpreterFromShebang('#!/usr/bin/env ruby\n', 'x.rb'))).toMatch(/--interpreter/);
  });
});

describe('run with a library script', () => {
  const base: RunFlags = { node: [], tag: [], all: true, command: [], env: [], pty: false };
  const library = { name: 'restart-unit', version: 3, params: { unit: 'a;b', lines: 5 } };

  it('sends the pinned version and params, and a timeout only when given', () => {
    expect(buildJobCreate({ ...base, library })).toEqual({
      target: { all: true },
      script: { name: 'restart-unit', version: 3 },
      params: { unit: 'a;b', lines: 5 },
    });
    expect(buildJobCreate({ ...base, library, timeout: '2m', concurrency: '1' })).toMatchObject({
      timeoutMs: 120_000,
      concurrency: { count: 1 },
    });
    expect(buildJobCreate({ ...base, library, secretEnv: { PGPASSWORD: 'pw' } }).secretEnv).toEqual({
      PGPASSWORD: 'pw',
    });
  });

  it('refuses what would change a saved script', () => {
    expect(() => refuseWithLibraryScript(base)).not.toThrow();
    expect(() => refuseWithLibraryScript({ ...base, secretEnv: { PGPASSWORD: 'pw' } })).not.toThrow();
    expect(
      usage(() => refuseWithLibraryScript({ ...base, command: ['x'], env: ['A=1'], cwd: '/tmp', pty: true })),
    ).toBe(
      '--script runs the library script as saved, with --param values only: drop words after --, --env, --cwd, --pty',
    );
  });
});

describe('parseTimeFlag', () => {
  const now = Date.parse('2026-11-24T12:00:00Z');
  it('reads a time ago, a date, a date-time and epoch milliseconds', () => {
    expect(parseTimeFlag('30m', '--since', now)).toBe(now - 1_800_000);
    expect(parseTimeFlag('2d', '--since', now)).toBe(now - 172_800_000);
    expect(parseTimeFlag('2026-11-24', '--since', now)).toBe(Date.parse('2026-11-24T00:00:00Z'));
    expect(parseTimeFlag('2026-11-24T10:00:00Z', '--until', now)).toBe(Date.parse('2026-11-24T10:00:00Z'));
    expect(parseTimeFlag('2026-11-24T10:00', '--until', now)).toBe(Date.parse('2026-11-24T10:00:00Z'));
    expect(parseTimeFlag('2026-11-24T10:00:00+02:00', '--until', now)).toBe(Date.parse('2026-11-24T08:00:00Z'));
    expect(parseTimeFlag('1764000000000', '--since', now)).toBe(1_764_000_000_000);
  });
  it('names the flag for anything else', () => {
    expect(usage(() => parseTimeFlag('yesterday', '--since', now))).toMatch(/^--since: 'yesterday' is neither/);
    expect(usage(() => parseTimeFlag('2026-13-45', '--until', now))).toMatch(/^--until: '2026-13-45' is not a date/);
  });
});
