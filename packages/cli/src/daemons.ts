import type { Command } from 'commander';
import { CliError, CliErrorCode } from './cli-error.ts';
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
      const { main } = await loadDaemon('master', () => import('@edgestelle/master'));
      const cliEntry = process.argv[1];
      process.exitCode = await main(flags, {
        // --demo (or EDGESTELLE_DEMO=1): a local agent, run through this same CLI entry.
        onReady: (master) =>
          master.config.demo && cliEntry !== undefined
            ? startDemoAgent(
                {
                  url: master.url,
                  dataDir: master.config.dataDir,
                  ...(master.embeddedBroker?.tlsPort === undefined
                    ? {}
                    : {
                        mqttUrl: `mqtt://${new URL(master.agentMqttUrl).hostname}:${master.embeddedBroker.port}`,
                      }),
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
      const { main } = await loadDaemon('agent', () => import('@edgestelle/agent'));
      process.exitCode = await main(flags);
    });
}

/**
 * The one-file CLI (/downloads/edgestelle) carries the client verbs only: the master needs native
 * modules, and a node runs the agent's own bundle. Say where each daemon comes from instead.
 */
async function loadDaemon<T>(verb: 'master' | 'agent', load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (err) {
    const missing = err instanceof Error && 'code' in err && err.code === 'ERR_MODULE_NOT_FOUND';
    if (!missing || !err.message.includes(`'@edgestelle/${verb}'`)) throw err;
    const where =
      verb === 'master'
        ? 'run the master from its Docker image or a source checkout (docs/OPERATIONS.md)'
        : "install the agent's own bundle on the node: curl -fsSLO MASTER/downloads/edgestelle-agent, or deploy/install_agent.sh --from-master (docs/AGENT.md)";
    throw new CliError(
      CliErrorCode.usage,
      `this edgestelle is the one-file client, without \`edgestelle ${verb}\`: ${where}`,
      {
        cause: err,
      },
    );
  }
}
