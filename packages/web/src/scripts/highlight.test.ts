import { describe, expect, it } from 'vitest';
import { highlight, languageOf } from './highlight.ts';

describe('highlight', () => {
  it('marks shell comments, strings, variables and keywords', () => {
    const tokens = highlight('for i in 1 2; do echo "n=$i" # loop\ndone', 'bash');
    expect(tokens.filter((t) => t.kind !== 'plain')).toEqual([
      { kind: 'keyword', text: 'for' },
      { kind: 'keyword', text: 'in' },
      { kind: 'number', text: '1' },
      { kind: 'number', text: '2' },
      { kind: 'keyword', text: 'do' },
      { kind: 'keyword', text: 'echo' },
      { kind: 'string', text: '"n=$i"' },
      { kind: 'comment', text: '# loop' },
      { kind: 'keyword', text: 'done' },
    ]);
    expect(highlight('echo $PARAM_NAME', 'sh')[2]).toEqual({ kind: 'variable', text: '$PARAM_NAME' });
  });

  it('keeps every character, unterminated strings included', () => {
    const source = "print(\"open\nx = '<b>' # c";
    expect(
      highlight(source, 'python3')
        .map((t) => t.text)
        .join(''),
    ).toBe(source);
  });

  it('picks the language from the interpreter', () => {
    expect(languageOf('/usr/bin/python3')).toBe('python');
    expect(languageOf('node')).toBe('javascript');
    expect(languageOf('bash')).toBe('shell');
  });
});
