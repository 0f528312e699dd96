import { describe, expect, it } from 'vitest';
import { CliError } from './cli-error.ts';
import { parseScriptHeader } from './script-header.ts';

function usage(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof CliError && err.code === 'usage') return err.message;
    throw err;
  }
  throw new Error('expected a usage error');
}

describe('parseScriptHeader', () => {
  it('reads description, timeout and typed parameters from the leading comments', () => {
    const body = [
      '#!/bin/sh',
      '',
      '# @description Restart a unit',
      '# free text is ignored',
      '# @timeout 2m',
      '# @param unit string required pattern=[a-z0-9@._-]+ -- the unit to restart',
      '# @param lines number integer min=0 max=500 default=20',
      '# @param mode choice choices=restart,reload default=restart',
      '#   @param dry_run boolean default=false -- only print',
      '# @param note string default="two \\"quoted\\" words" max-length=40',
      'echo "$PARAM_UNIT"',
      '# @param late string -- after the body starts: not read',
    ].join('\n');
    expect(parseScriptHeader(body, 'u.sh')).toEqual({
      description: 'Restart a unit',
      timeoutMs: 120_000,
      parameters: [
        { name: 'unit', type: 'string', required: true, pattern: '[a-z0-9@._-]+', description: 'the unit to restart' },
        {
          name: 'lines',
          type: 'number',
          integer: true,
          min: 0,
          max: 500,
          default: 20,
          required: false,
          description: '',
        },
        {
          name: 'mode',
          type: 'choice',
          choices: ['restart', 'reload'],
          default: 'restart',
          required: false,
          description: '',
        },
        { name: 'dry_run', type: 'boolean', default: false, required: false, description: 'only print' },
        {
          name: 'note',
          type: 'string',
          default: 'two "quoted" words',
          maxLength: 40,
          required: false,
          description: '',
        },
      ],
    });
  });

  it('reads // comments (node scripts) and a file without a header', () => {
    expect(parseScriptHeader('#!/usr/bin/env node\n// @param n number\nconsole.log(1)\n', 'x.js').parameters).toEqual([
      { name: 'n', type: 'number', integer: false, required: false, description: '' },
    ]);
    expect(parseScriptHeader('echo hi\n', 'x.sh')).toEqual({ parameters: [] });
  });

  it('names the file, line and problem', () => {
    expect(usage(() => parseScriptHeader('# @param Unit string\n', 'a.sh'))).toMatch(
      /^a\.sh:1: @param Unit: .*lower-case/,
    );
    expect(usage(() => parseScriptHeader('# @param x text\n', 'a.sh'))).toMatch(/^a\.sh:1: @param x:/);
    expect(usage(() => parseScriptHeader('#!/bin/sh\n# @param x string requird\n', 'a.sh'))).toMatch(
      /^a\.sh:2: 'requird' is not a @param option/,
    );
    expect(usage(() => parseScriptHeader('# @param x number default=ten\n', 'a.sh'))).toMatch(/'ten' is not a number/);
    expect(usage(() => parseScriptHeader('# @param x\n', 'a.sh'))).toMatch(/write @param NAME TYPE/);
    expect(usage(() => parseScriptHeader('# @param x string default="open\n', 'a.sh'))).toMatch(/not closed/);
    expect(usage(() => parseScriptHeader('# @param x string\n# @param x number\n', 'a.sh'))).toMatch(/declared twice/);
    expect(usage(() => parseScriptHeader('# @timeout soon\n', 'a.sh'))).toMatch(/^a\.sh:1: @timeout/);
  });
});
