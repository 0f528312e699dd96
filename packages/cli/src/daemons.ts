import type { Command } from 'commander';
import { startDemoAgent } from './demo.ts';

/**
 * `edgestelle master` and `edgestelle agent` hand their arguments to the daemon packages,
 * loaded only when asked for, so the client verbs never load master or agent code. This is the
 * one file of the CLI allowed to import them (eslint.config.js).
 */
export function addDaemonVerbs(program: Command): void {
  program
    .command('master')
    .description('start the master: API, console, live hub, dispatcher and (by default) an embedded MQTT broker')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .argument('[flags...]', 'see `edgestelle master --help`')
    .action(async (flags: string[]) => {
      const { main } = await import('@edgestelle/master');
      const cliEntry = process.argv[1];
      process.exitCode = await main(flags, {
        // --demo (or EDGESTELLE_DEMO=1): a local agent, run through this same CLI entry.
        onReady: (master) =>
          master.config.demo && cliEntry !== undefined
            ? startDemoAgent(
                {
                  url: master.url,
                  dataDir: master.config.dataDir,
                  createJoinToken: async (nodeId) =>
                    (
                      await master.enrollment.createJoinToken(
                        {
                          ttlSec: 600,
                          maxUses: 1,
                          tags: { demo: 'true' },
                          description: 'edgestelle master --demo',
                          nodeId,
                        },
                        'demo',
                      )
                    ).token,
                },
                { cliEntry, execArgv: process.execArgv, log: (line) => void process.stderr.write(line) },
              )
            : Promise.resolve(() => Promise.resolve()),
      });
    });
  program
    .command('agent')
    .description('start the agent on this node, or enroll it: `edgestelle agent enroll --master URL --token TOKEN`')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .argument('[flags...]', 'see `edgestelle agent --help`')
    .action(async (flags: string[]) => {
      const { main } = await import('@edgestelle/agent');
      process.exitCode = await main(flags);
    });
}
