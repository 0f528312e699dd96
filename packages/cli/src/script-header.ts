import { describeIssues, scriptParameterSchema, type ScriptParameter } from '@edgestelle/protocol';
import { usageError } from './cli-error.ts';
import { parseDurationMs } from './parse-args.ts';

/**
 * A library script declares its description, timeout and parameters in its own header
 * comment, so the file is the whole truth: `scripts pull` gives back a file that `scripts
 * push` saves the same way again. Format (docs/CLI.md, "Script header"):
 *
 *   #!/bin/sh
 *   # @description Restart a systemd unit and show its status
 *   # @timeout 2m
 *   # @param unit string required pattern=[a-z0-9@._-]+ -- the unit to restart
 *   # @param lines number integer min=0 max=500 default=20 -- journal lines to show
 *   # @param mode choice choices=restart,reload default=restart
 *   # @param dry_run boolean default=false
 *
 * The header is the leading run of blank and comment lines (`#` or `//`); the first other
 * line ends it, so an `@param` further down the body is never read. Values with spaces are
 * written in double quotes (`default="two words"`, with `\"` and `\\` inside).
 */

export interface ScriptHeader {
  description?: string;
  timeoutMs?: number;
  parameters: ScriptParameter[];
}

const COMMENT = /^\s*(?:#|\/\/)(.*)$/;
const DIRECTIVE = /^\s*@(description|timeout|param)(?:\s+(.*))?$/;
const TYPES = ['string', 'number', 'boolean', 'choice'] as const;

export function parseScriptHeader(body: string, file: string): ScriptHeader {
  const header: ScriptHeader = { parameters: [] };
  const lines = body.split('\n');
  for (const [index, rawLine] of lines.entries()) {
    const line = rawLine.replace(/\r$/, '');
    if (index === 0 && line.startsWith('#!')) continue;
    if (line.trim() === '') continue;
    const comment = COMMENT.exec(line);
    if (comment === null) break;
    const directive = DIRECTIVE.exec(comment[1] ?? '');
    if (directive === null) continue;
    const where = `${file}:${index + 1}`;
    const rest = (directive[2] ?? '').trim();
    const kind = directive[1];
    if (kind === 'description') header.description = rest;
    else if (kind === 'timeout') header.timeoutMs = parseDurationMs(rest, `${where}: @timeout`);
    else header.parameters.push(parseParam(rest, where));
  }
  const names = header.parameters.map((p) => p.name);
  const twice = names.find((name, i) => names.indexOf(name) !== i);
  if (twice !== undefined) throw usageError(`${file}: @param ${twice} is declared twice`);
  return header;
}

/** `NAME TYPE [required] [integer] [key=value]… [-- description]` */
function parseParam(text: string, where: string): ScriptParameter {
  const { words, description } = tokenize(text, where);
  const [name, type, ...options] = words;
  if (name === undefined || type === undefined) {
    throw usageError(`${where}: write @param NAME TYPE [options] [-- description] (TYPE: ${TYPES.join(', ')})`);
  }
  const param: Record<string, unknown> = { name, type, description };
  for (const option of options) {
    const eq = option.indexOf('=');
    const key = eq < 0 ? option : option.slice(0, eq);
    const value = eq < 0 ? undefined : option.slice(eq + 1);
    if (value === undefined && (key === 'required' || key === 'integer')) param[key] = true;
    else if (value !== undefined && (key === 'pattern' || key === 'default')) param[key] = value;
    else if (value !== undefined && (key === 'min' || key === 'max' || key === 'max-length')) {
      param[key === 'max-length' ? 'maxLength' : key] = numberOption(value, `${where}: ${key}`);
    } else if (value !== undefined && key === 'choices') param.choices = value.split(',');
    else {
      throw usageError(
        `${where}: '${option}' is not a @param option (required, integer, default=, pattern=, max-length=, min=, max=, choices=a,b)`,
      );
    }
  }
  // A default is written as text; the schema wants it as the parameter's own type.
  if (typeof param.default === 'string' && type === 'number') {
    param.default = numberOption(param.default, `${where}: default`);
  }
  if (typeof param.default === 'string' && type === 'boolean') {
    if (param.default !== 'true' && param.default !== 'false') {
      throw usageError(`${where}: default of a boolean is true or false`);
    }
    param.default = param.default === 'true';
  }
  const parsed = scriptParameterSchema.safeParse(param);
  if (!parsed.success) throw usageError(`${where}: @param ${name}: ${describeIssues(parsed.error)}`);
  return parsed.data;
}

function numberOption(text: string, what: string): number {
  const n = text.trim() === '' ? Number.NaN : Number(text);
  if (!Number.isFinite(n)) throw usageError(`${what}: '${text}' is not a number`);
  return n;
}

/** Splits on spaces, honouring double quotes; an unquoted `--` starts the description. */
function tokenize(text: string, where: string): { words: string[]; description: string } {
  const words: string[] = [];
  let i = 0;
  while (i < text.length) {
    while (text[i] === ' ' || text[i] === '\t') i += 1;
    if (i >= text.length) break;
    let word = '';
    let quoted = false;
    const start = i;
    while (i < text.length && (quoted || (text[i] !== ' ' && text[i] !== '\t'))) {
      const char = text.charAt(i);
      if (char === '"') quoted = !quoted;
      else if (quoted && char === '\\' && i + 1 < text.length) {
        i += 1;
        word += text.charAt(i);
      } else word += char;
      i += 1;
    }
    if (quoted) throw usageError(`${where}: a double quote is not closed`);
    if (text.slice(start, i) === '--') return { words, description: text.slice(i).trim() };
    words.push(word);
  }
  return { words, description: '' };
}
