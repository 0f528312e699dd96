import { readFile, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import {
  describeIssues,
  interpreterSchema,
  pageSchema,
  scriptDtoSchema,
  scriptNameSchema,
  scriptSummaryDtoSchema,
  scriptVersionDtoSchema,
  type ScriptDto,
  type ScriptParameter,
  type ScriptSave,
} from '@edgestelle/protocol';
import type { Command } from 'commander';
import { z } from 'zod';
import type { ApiClient } from '../api-client.ts';
import { CliError, CliErrorCode, usageError } from '../cli-error.ts';
import { connect } from '../credentials.ts';
import { escapeControl } from '../escape-control.ts';
import { formatAge, formatDuration, formatTable, formatTime } from '../format.ts';
import { interpreterFromShebang, parseDurationMs } from '../parse-args.ts';
import { parseScriptHeader } from '../script-header.ts';
import { placeholder } from '../script-params.ts';
import { printJson, type Terminal } from '../terminal.ts';
import { examples } from './help.ts';

const scriptPageSchema = pageSchema(scriptSummaryDtoSchema);
const versionListSchema = z.object({ items: z.array(scriptVersionDtoSchema) });

export function parseScriptName(text: string, what = 'script name'): string {
  const parsed = scriptNameSchema.safeParse(text);
  if (!parsed.success) throw usageError(`${what}: '${text}' ${describeIssues(parsed.error)}`);
  return parsed.data;
}

export function parseVersion(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const version = Number(text);
  if (!Number.isInteger(version) || version < 1) throw usageError(`--version: '${text}' is not a version (1, 2, …)`);
  return version;
}

/** One version of a library script (the newest without `version`); "no such script" names it. */
export async function fetchScript(api: ApiClient, name: string, version?: number): Promise<ScriptDto> {
  try {
    return await api.get(`/api/v1/scripts/${encodeURIComponent(name)}`, scriptDtoSchema, { version });
  } catch (err) {
    if (err instanceof CliError && err.code === CliErrorCode.notFound) {
      throw new CliError(
        CliErrorCode.notFound,
        version === undefined
          ? `no script '${name}' in the library (see edgestelle scripts list)`
          : `script '${name}' has no version ${version}`,
        { cause: err, apiCode: err.apiCode },
      );
    }
    throw err;
  }
}

interface ListFlags {
  json?: boolean;
  quiet?: boolean;
  limit: string;
  cursor?: string;
}
interface ShowFlags {
  version?: string;
  json?: boolean;
  raw?: boolean;
}
interface PushFlags {
  name?: string;
  interpreter?: string;
  description?: string;
  timeout?: string;
  json?: boolean;
}
interface PullFlags {
  version?: string;
  output?: string;
}

export function addScriptsVerbs(program: Command, terminal: Terminal): void {
  const scripts = program
    .command('scripts')
    .description('the master’s script library: versioned scripts with typed parameters')
    .addHelpText(
      'after',
      `
A script declares its parameters in its header comment (see scripts push --help); each value
reaches it as the environment variable PARAM_<NAME>, never spliced into its text.
${examples('edgestelle scripts list', 'edgestelle scripts push ./restart-unit.sh', 'edgestelle run --all --script restart-unit --param unit=collector')}`,
    );

  scripts
    .command('list')
    .description('list library scripts by name, with their newest version')
    .argument('[query]', 'only scripts whose name or description contains this')
    .option('--limit <n>', 'how many (1-200)', '200')
    .option('--cursor <cursor>', 'continue a listing where the last page ended')
    .option('--json', 'print the API’s page of ScriptSummaryDto as JSON')
    .option('-q, --quiet', 'print names only, one a line')
    .addHelpText(
      'after',
      examples('edgestelle scripts list', 'edgestelle scripts list backup', 'edgestelle scripts list -q'),
    )
    .action(async (query: string | undefined, flags: ListFlags) => {
      const limit = Number(flags.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 200)
        throw usageError(`--limit: '${flags.limit}' is not 1-200`);
      const { api } = await connect(terminal.env);
      const page = await api.get('/api/v1/scripts', scriptPageSchema, { q: query, limit, cursor: flags.cursor });
      if (flags.json === true) printJson(terminal, page);
      else if (flags.quiet === true) terminal.stdout.write(page.items.map((s) => `${s.name}\n`).join(''));
      else {
        const now = Date.now();
        terminal.stdout.write(
          page.items.length === 0
            ? 'No scripts.\n'
            : `${formatTable(
                ['NAME', 'VERSION', 'INTERPRETER', 'PARAMETERS', 'UPDATED', 'DESCRIPTION'],
                page.items.map((s) => [
                  s.name,
                  String(s.latestVersion),
                  s.interpreter,
                  s.parameters.map((p) => p.name).join(',') || '-',
                  `${formatAge(s.createdAt, now)} by ${s.createdBy}`,
                  s.description,
                ]),
              )}\n`,
        );
      }
      if (flags.json !== true && page.nextCursor !== null) {
        terminal.stderr.write(`More: edgestelle scripts list --cursor ${page.nextCursor}\n`);
      }
    });

  scripts
    .command('show')
    .description('show a script’s version, parameters and body')
    .argument('<name>', 'the script')
    .option('--version <n>', 'this version (default: the newest)')
    .option('--json', 'print the API’s ScriptDto as JSON')
    .option('--raw', 'write the body’s exact bytes even to a terminal')
    .addHelpText(
      'after',
      examples('edgestelle scripts show restart-unit', 'edgestelle scripts show restart-unit --version 2'),
    )
    .action(async (name: string, flags: ShowFlags) => {
      const { api } = await connect(terminal.env);
      const script = await fetchScript(api, parseScriptName(name), parseVersion(flags.version));
      if (flags.json === true) {
        printJson(terminal, script);
        return;
      }
      const body = terminal.stdoutIsTty && flags.raw !== true ? escapeControl(script.body) : script.body;
      terminal.stdout.write(`${formatScript(script)}\n\n${body}${body.endsWith('\n') ? '' : '\n'}`);
    });

  scripts
    .command('versions')
    .description('list the saved versions of a script, newest first')
    .argument('<name>', 'the script')
    .option('--json', 'print the API’s ScriptVersionDto list as JSON')
    .addHelpText('after', examples('edgestelle scripts versions restart-unit'))
    .action(async (name: string, flags: { json?: boolean }) => {
      const { api } = await connect(terminal.env);
      const scriptName = parseScriptName(name);
      // The newest version first: a clear "no script" instead of an empty list.
      await fetchScript(api, scriptName);
      const { items } = await api.get(`/api/v1/scripts/${encodeURIComponent(scriptName)}/versions`, versionListSchema);
      if (flags.json === true) {
        printJson(terminal, items);
        return;
      }
      terminal.stdout.write(
        `${formatTable(
          ['VERSION', 'SAVED', 'BY', 'DESCRIPTION'],
          items.map((v) => [String(v.version), formatTime(v.createdAt), v.createdBy, v.description]),
        )}\n`,
      );
    });

  scripts
    .command('push')
    .description('save a local script file as a new version of a library script')
    .argument('<file>', 'the script file; its #! line names the interpreter, its header comment the parameters')
    .option('--name <name>', 'the library name (default: the file name without its extension)')
    .option('--interpreter <name>', 'sh, bash, python3, node or an absolute path (default: the #! line, else sh)')
    .option('--description <text>', 'what it does (default: the header’s @description)')
    .option('--timeout <duration>', 'a run’s timeout unless the job gives one (default: @timeout, else 1h)')
    .option('--json', 'print the saved ScriptDto as JSON')
    .addHelpText(
      'after',
      `
Header comment (the leading # or // comment lines; the first other line ends it):
  # @description Restart a systemd unit and show its status
  # @timeout 2m
  # @param unit string required pattern=[a-z0-9@._-]+ -- the unit to restart
  # @param lines number integer min=0 max=500 default=20 -- journal lines to show
  # @param mode choice choices=restart,reload default=restart
  # @param dry_run boolean default=false
@param NAME TYPE, TYPE one of string, number, boolean, choice; options: required, integer,
default=V, pattern=REGEX (whole value), max-length=N, min=N, max=N, choices=a,b,c; text after
-- describes it. Quote values with spaces: default="two words". The script reads
$PARAM_UNIT, $PARAM_LINES, … Pushing the same content again saves nothing.
${examples(
  'edgestelle scripts push ./restart-unit.sh',
  'edgestelle scripts push ./backup.py --name nightly-backup --timeout 2h',
)}`,
    )
    .action(async (file: string, flags: PushFlags) => {
      const { name, save } = await readScriptFile(file, flags);
      const { api } = await connect(terminal.env);
      const before = await fetchScript(api, name).catch((err: unknown) => {
        if (err instanceof CliError && err.code === CliErrorCode.notFound) return null;
        throw err;
      });
      const saved = await api.put(`/api/v1/scripts/${encodeURIComponent(name)}`, scriptDtoSchema, save);
      if (flags.json === true) printJson(terminal, saved);
      else if (before !== null && before.version === saved.version) {
        terminal.stderr.write(`${name} is unchanged (version ${saved.version})\n`);
      } else {
        terminal.stderr.write(
          `Saved ${name} version ${saved.version}${saved.parameters.length === 0 ? '' : `; run it with: edgestelle run --all --script ${name} ${saved.parameters.map((p) => `--param ${p.name}=${placeholder(p)}`).join(' ')}`}\n`,
        );
      }
    });

  scripts
    .command('pull')
    .description('write a library script’s body, byte for byte, to stdout or a file')
    .argument('<name>', 'the script')
    .option('--version <n>', 'this version (default: the newest)')
    .option('-o, --output <file>', 'write to this file instead of stdout')
    .addHelpText(
      'after',
      examples(
        'edgestelle scripts pull restart-unit > restart-unit.sh',
        'edgestelle scripts pull restart-unit --version 1 -o old.sh',
      ),
    )
    .action(async (name: string, flags: PullFlags) => {
      const { api } = await connect(terminal.env);
      const script = await fetchScript(api, parseScriptName(name), parseVersion(flags.version));
      if (flags.output === undefined) {
        terminal.stdout.write(script.body);
        return;
      }
      try {
        await writeFile(flags.output, script.body, { mode: script.body.startsWith('#!') ? 0o755 : 0o644 });
      } catch (err) {
        throw new CliError(CliErrorCode.fileIo, `cannot write ${flags.output} (${ioReason(err)})`, { cause: err });
      }
      terminal.stderr.write(`Wrote ${script.name} version ${script.version} to ${flags.output}\n`);
    });
}

function ioReason(err: unknown): string {
  return err instanceof Error && 'code' in err ? String(err.code) : String(err);
}

/** What `scripts push` sends: the file unchanged, the rest from flags, else its header, else its #! line. */
export async function readScriptFile(file: string, flags: PushFlags): Promise<{ name: string; save: ScriptSave }> {
  let body: string;
  try {
    body = await readFile(file, 'utf8');
  } catch (err) {
    throw usageError(`cannot read ${file} (${ioReason(err)})`, { cause: err });
  }
  const name = parseScriptName(
    flags.name ??
      basename(file)
        .replace(/\.[^.]*$/, '')
        .toLowerCase(),
    flags.name === undefined ? `name from the file name (give --name)` : '--name',
  );
  const header = parseScriptHeader(body, file);
  let interpreter = flags.interpreter;
  if (interpreter !== undefined && !interpreterSchema.safeParse(interpreter).success) {
    throw usageError(`--interpreter: '${interpreter}' is not sh, bash, python3, node or an absolute path`);
  }
  interpreter ??= interpreterFromShebang(body, file);
  const timeoutMs = flags.timeout === undefined ? header.timeoutMs : parseDurationMs(flags.timeout, '--timeout');
  return {
    name,
    save: {
      interpreter,
      body,
      description: flags.description ?? header.description ?? '',
      parameters: header.parameters,
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
    },
  };
}

export function formatScript(script: ScriptDto): string {
  const head = formatTable(
    ['SCRIPT', script.name],
    [
      [
        'version',
        `${script.version}${script.version === script.latestVersion ? ' (newest)' : ` of ${script.latestVersion}`}`,
      ],
      ['interpreter', script.interpreter],
      ['timeout', formatDuration(script.timeoutMs)],
      ['saved', `${formatTime(script.createdAt)} by ${script.createdBy}`],
      ['description', script.description === '' ? '-' : script.description],
    ],
  );
  if (script.parameters.length === 0) return `${head}\nparameters   none`;
  return `${head}\n\n${formatTable(
    ['PARAMETER', 'TYPE', 'REQUIRED', 'DEFAULT', 'DESCRIPTION'],
    script.parameters.map((p) => [
      p.name,
      describeType(p),
      p.required ? 'yes' : 'no',
      p.default === undefined ? '-' : String(p.default),
      p.description,
    ]),
  )}`;
}

function describeType(parameter: ScriptParameter): string {
  switch (parameter.type) {
    case 'string':
      return parameter.pattern === undefined ? 'string' : `string /${parameter.pattern}/`;
    case 'number': {
      const range =
        parameter.min === undefined && parameter.max === undefined
          ? ''
          : ` ${parameter.min ?? ''}..${parameter.max ?? ''}`;
      return `${parameter.integer ? 'integer' : 'number'}${range}`;
    }
    case 'boolean':
      return 'boolean';
    case 'choice':
      return parameter.choices.join('|');
  }
}
