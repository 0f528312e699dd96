import { PROTOCOL_VERSION, versionInfoSchema, type VersionInfo } from '@edgestelle/protocol';
import type { Command } from 'commander';
import { ApiClient } from '../api-client.ts';
import { masterUrl } from '../credentials.ts';
import { printJson, type Terminal } from '../terminal.ts';
import { CLI_VERSION } from '../version.ts';
import { examples } from './help.ts';

interface VersionFlags {
  client?: boolean;
  json?: boolean;
}

/**
 * `edgestelle version`: this CLI's release and protocol, and the master's (GET /api/v1/version,
 * no login needed), as kubectl and gh show them. A different protocol generation is a warning
 * on stderr: most verbs would fail with "not what this CLI understands".
 */
export function addVersionVerb(program: Command, terminal: Terminal): void {
  program
    .command('version')
    .description('show the CLI’s version and protocol, and the master’s (warns when the protocols differ)')
    .option('--client', 'the CLI only: do not ask the master')
    .option('--json', 'print {cli, master} as JSON (master: {url, version, protocol} or null)')
    .addHelpText('after', examples('edgestelle version', 'edgestelle version --client', 'edgestelle version --json'))
    .action(async (flags: VersionFlags) => {
      const cli: VersionInfo = { version: CLI_VERSION, protocol: PROTOCOL_VERSION };
      const url = flags.client === true ? undefined : await masterUrl(terminal.env);
      if (flags.json !== true) terminal.stdout.write(`CLI:    ${describe(cli)}\n`);
      // Unreachable or too old to answer: the CLI's line is out, then the error and its exit code.
      const master = url === undefined ? undefined : await new ApiClient(url).get('/api/v1/version', versionInfoSchema);
      if (flags.json === true) {
        printJson(terminal, { cli, master: master === undefined || url === undefined ? null : { url, ...master } });
      } else if (master !== undefined) {
        terminal.stdout.write(`Master: ${describe(master)} at ${url}\n`);
      } else if (flags.client !== true) {
        terminal.stdout.write('Master: none configured (edgestelle login --url URL, or set EDGESTELLE_URL)\n');
      }
      if (master !== undefined && master.protocol !== cli.protocol) {
        terminal.stderr.write(
          `edgestelle: warning: this CLI speaks protocol ${cli.protocol} and the master at ${url} protocol ${master.protocol}: get the matching CLI with: curl -fsSL ${url}/downloads/edgestelle -o ~/.local/bin/edgestelle\n`,
        );
      }
    });
}

function describe(info: VersionInfo): string {
  return `${info.version} (protocol ${info.protocol})`;
}
