import { ExitCode } from '@edgestelle/protocol';
import { configHelp, loadConfig } from './config.ts';
import { MasterError, MasterErrorCode } from './errors.ts';
import { createMaster, type Master } from './master.ts';

export interface MainHooks {
  /** Runs once the master is up (e.g. the demo agent); what it returns runs at shutdown. */
  onReady?: (master: Master) => Promise<() => Promise<void>>;
  env?: Readonly<Record<string, string | undefined>>;
  /** Resolves when the master should stop; default SIGTERM or SIGINT. */
  stopSignal?: Promise<unknown>;
  out?: (text: string) => void;
}

/**
 * `edgestelle master [flags]`: parses its own flags and runs the master until SIGTERM or
 * SIGINT, then shuts down cleanly. Returns the process exit code.
 */
export async function main(argv: readonly string[], hooks: MainHooks = {}): Promise<number> {
  const out = hooks.out ?? ((text: string) => void process.stderr.write(text));
  let master: Master | undefined;
  let stopExtra: (() => Promise<void>) | undefined;
  try {
    const result = loadConfig({ argv, env: hooks.env ?? process.env });
    if (result.kind === 'help') {
      out(`${configHelp}\n`);
      return ExitCode.ok;
    }
    master = await createMaster(result.config);
    out(banner(master));
    stopExtra = await hooks.onReady?.(master);
    await (hooks.stopSignal ?? signalled());
    out('edgestelle master: shutting down\n');
    return ExitCode.ok;
  } catch (err) {
    if (err instanceof MasterError) {
      out(`edgestelle master: ${err.message}\n`);
      return err.code === MasterErrorCode.configInvalid || err.code === MasterErrorCode.portInUse
        ? ExitCode.config
        : err.code === MasterErrorCode.unavailable
          ? ExitCode.unavailable
          : ExitCode.software;
    }
    out(`edgestelle master: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return ExitCode.software;
  } finally {
    await stopExtra?.();
    await master?.close();
  }
}

function signalled(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals): void => {
      process.off('SIGTERM', on);
      process.off('SIGINT', on);
      resolve(signal);
    };
    process.once('SIGTERM', on);
    process.once('SIGINT', on);
  });
}

export function banner(master: Master): string {
  const { admin, embeddedBroker } = master;
  const lines = [
    '',
    'EdgeStelle master is running',
    `  console and API   ${master.url}/   (OpenAPI: ${master.url}/api/docs)`,
    `  CLI on your PATH  curl -fsSL --create-dirs ${master.url}/downloads/edgestelle -o ~/.local/bin/edgestelle && chmod +x ~/.local/bin/edgestelle`,
    `                    then: edgestelle login --url ${master.url}`,
  ];
  if (admin.generatedPassword !== undefined) {
    lines.push(`  admin login       ${admin.username} / ${admin.generatedPassword}`);
    lines.push(`                    (shown once; kept in ${admin.passwordFile ?? ''} until you delete it)`);
  } else if (admin.passwordFile !== undefined) {
    lines.push(`  admin login       ${admin.username} / the password in ${admin.passwordFile}`);
  } else {
    lines.push(`  admin login       ${admin.username} (the password you set)`);
  }
  if (embeddedBroker === undefined) {
    lines.push(`  MQTT broker       external, ${master.agentMqttUrl}`);
  } else {
    lines.push(
      `  MQTT broker       embedded, ${master.agentMqttUrl}${embeddedBroker.tlsPort === undefined ? '' : ` (TLS on ${embeddedBroker.tlsPort})`}`,
    );
    if (embeddedBroker.portFallback) {
      lines.push(
        `                    port 1883 is in use (another broker?), so the embedded broker took ${embeddedBroker.port};`,
      );
      lines.push('                    enrolling agents are told this port. Set EDGESTELLE_MQTT_PORT to choose one.');
    }
  }
  lines.push(`  data              ${master.config.dataDir} (${master.store.dialect})`, '');
  return `${lines.join('\n')}\n`;
}
