/**
 * A small syntax highlighter for the script editor: comments, strings, variables, keywords and
 * numbers of sh/bash, python3 and node — enough to read a script at a glance, at a few hundred
 * bytes instead of an editor framework. Tokens are rendered as text nodes, never as markup.
 */
export type TokenKind = 'plain' | 'comment' | 'string' | 'variable' | 'keyword' | 'number';
export interface Token {
  kind: TokenKind;
  text: string;
}

type Language = 'shell' | 'python' | 'javascript';

const keywords: Record<Language, ReadonlySet<string>> = {
  shell: new Set(
    'if then else elif fi for while until do done case esac in function return local export set unset exit echo printf read shift trap source'.split(
      ' ',
    ),
  ),
  python: new Set(
    'and as assert async await break class continue def del elif else except finally for from global if import in is lambda None nonlocal not or pass raise return True False try while with yield print'.split(
      ' ',
    ),
  ),
  javascript: new Set(
    'async await break case catch class const continue default delete do else export false for function if import in instanceof let new null of return switch this throw true try typeof undefined var void while yield console process require'.split(
      ' ',
    ),
  ),
};

const rules: Record<Language, [TokenKind, RegExp][]> = {
  shell: [
    ['comment', /#[^\n]*/y],
    ['string', /'[^']*'?|"(?:\\.|[^"\\])*"?/y],
    ['variable', /\$(?:\{[^}\n]*\}?|[A-Za-z_][A-Za-z0-9_]*|[0-9@*#?$!-])/y],
  ],
  python: [
    ['comment', /#[^\n]*/y],
    ['string', /[rbfu]{0,2}(?:'''[\s\S]*?(?:'''|$)|"""[\s\S]*?(?:"""|$)|'(?:\\.|[^'\\\n])*'?|"(?:\\.|[^"\\\n])*"?)/y],
  ],
  javascript: [
    ['comment', /\/\/[^\n]*|\/\*[\s\S]*?(?:\*\/|$)/y],
    ['string', /'(?:\\.|[^'\\\n])*'?|"(?:\\.|[^"\\\n])*"?|`(?:\\.|[^`\\])*`?/y],
  ],
};
const WORD = /[A-Za-z_][A-Za-z0-9_-]*/y;
const NUMBER = /\d+(?:\.\d+)?/y;

export function languageOf(interpreter: string): Language {
  const name = interpreter.split('/').pop() ?? interpreter;
  if (name.startsWith('python')) return 'python';
  if (name === 'node' || name === 'deno' || name === 'bun') return 'javascript';
  return 'shell';
}

export function highlight(source: string, interpreter: string): Token[] {
  const language = languageOf(interpreter);
  const tokens: Token[] = [];
  const push = (kind: TokenKind, text: string): void => {
    const last = tokens[tokens.length - 1];
    if (last !== undefined && last.kind === kind) last.text += text;
    else tokens.push({ kind, text });
  };
  let i = 0;
  outer: while (i < source.length) {
    for (const [kind, re] of rules[language]) {
      re.lastIndex = i;
      const match = re.exec(source);
      if (match !== null && match[0] !== '') {
        push(kind, match[0]);
        i += match[0].length;
        continue outer;
      }
    }
    WORD.lastIndex = i;
    const word = WORD.exec(source);
    if (word !== null) {
      push(keywords[language].has(word[0]) ? 'keyword' : 'plain', word[0]);
      i += word[0].length;
      continue;
    }
    NUMBER.lastIndex = i;
    const number = NUMBER.exec(source);
    if (number !== null) {
      push('number', number[0]);
      i += number[0].length;
      continue;
    }
    push('plain', source.charAt(i));
    i += 1;
  }
  return tokens;
}
