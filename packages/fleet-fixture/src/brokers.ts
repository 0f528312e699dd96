import { execFileSync } from 'node:child_process';
import { chmod, chown, mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startMosquitto, type Mosquitto } from '@edgestelle/testkit';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export const DYNSEC_MASTER = { username: 'edgestelle:master', password: 'master-secret-1' };
const DEBIAN_DYNSEC_PLUGIN = '/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so';

/**
 * Mosquitto with the production security model (deploy/mosquitto/mosquitto.conf), without TLS: no
 * anonymous clients, users and ACLs in the dynamic-security plugin, the username as client id.
 */
export async function startDynsecMosquitto(parent: string): Promise<Mosquitto> {
  const file = await initDynsecData(parent);
  return startMosquitto({
    config: [
      'allow_anonymous false',
      `plugin ${DEBIAN_DYNSEC_PLUGIN}`,
      `plugin_opt_config_file ${file}`,
      'use_username_as_clientid true',
      'persistence false',
      'max_queued_messages 100000',
    ].join('\n'),
  });
}

/**
 * The plugin's file made as deploy/mosquitto/docker-entrypoint.sh makes it: the master's user is
 * the broker's first admin. Mosquitto drops root to its own user before reading the plugin's file
 * (and, with the shipped config, its persistence and certificates), so that folder is its own.
 */
async function initDynsecData(parent: string): Promise<string> {
  const user = mosquittoUser();
  const dataDir = join(parent, 'dynsec');
  await mkdir(dataDir, { mode: 0o700 });
  const file = join(dataDir, 'dynamic-security.json');
  execFileSync('mosquitto_ctrl', ['dynsec', 'init', file, DYNSEC_MASTER.username, DYNSEC_MASTER.password]);
  await chown(dataDir, user.uid, user.gid);
  await chown(file, user.uid, user.gid);
  await chmod(parent, 0o755);
  return file;
}

function mosquittoUser(): { uid: number; gid: number } {
  const id = (flag: string) => Number(execFileSync('id', [flag, 'mosquitto'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

export interface ShippedMosquitto {
  readonly broker: Mosquitto;
  /** The private CA from deploy/gen_certs.sh that signed the broker's certificate. */
  readonly caFile: string;
  /** mqtts:// by the certificate's DNS name, with the master's user: EDGESTELLE_MQTT_URL. */
  readonly masterUrl: string;
}

/** The DNS name in the broker's certificate; it resolves to 127.0.0.1 here. */
export const SHIPPED_BROKER_NAME = 'localhost';

/**
 * Mosquitto running the shipped deploy/mosquitto/mosquitto.conf unchanged but for the paths of
 * the container (certificates, plugin, data) and the listener, which binds a free loopback port:
 * TLS with certificates from deploy/gen_certs.sh, dynamic security, persistence. The caller
 * disposes of `broker`.
 */
export async function startShippedMosquitto(parent: string): Promise<ShippedMosquitto> {
  const user = mosquittoUser();
  const certsDir = join(parent, 'certs');
  execFileSync(
    'bash',
    [
      join(REPO_ROOT, 'deploy/gen_certs.sh'),
      ...['--out', certsDir, '--dns', SHIPPED_BROKER_NAME, '--ip', '127.0.0.1'],
      ...['--broker-owner', `${user.uid}:${user.gid}`],
    ],
    { stdio: 'ignore' },
  );
  const dataDir = dirname(await initDynsecData(parent));
  const template = await readFile(join(REPO_ROOT, 'deploy/mosquitto/mosquitto.conf'), 'utf8');
  const config = (port: number): string => {
    const rewritten = template
      .replace(/^listener 8883$/m, `listener ${port} 127.0.0.1`)
      .replaceAll('/mosquitto/certs/', `${certsDir}/`)
      .replaceAll('/mosquitto/data/', `${dataDir}/`)
      .replace('/usr/lib/mosquitto_dynamic_security.so', DEBIAN_DYNSEC_PLUGIN);
    // A shipped config that no longer matches these rewrites must fail here, not run half-rewritten.
    if (!rewritten.includes(`listener ${port} 127.0.0.1`) || !rewritten.includes(DEBIAN_DYNSEC_PLUGIN))
      throw new Error('deploy/mosquitto/mosquitto.conf changed: update startShippedMosquitto');
    return rewritten;
  };
  const broker = await startMosquitto({ listenerConfig: config, config: '' });
  const credentials = `${encodeURIComponent(DYNSEC_MASTER.username)}:${encodeURIComponent(DYNSEC_MASTER.password)}`;
  return {
    broker,
    caFile: join(certsDir, 'ca.crt'),
    masterUrl: `mqtts://${credentials}@${SHIPPED_BROKER_NAME}:${broker.port}`,
  };
}
