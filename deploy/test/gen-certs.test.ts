import { X509Certificate } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { tempDir } from '@edgestelle/testkit';
import { describe, expect, it } from 'vitest';
import { modeOf, runCommand } from './run-command.ts';

const SCRIPT = resolve(import.meta.dirname, '../gen_certs.sh');

async function certificate(path: string): Promise<X509Certificate> {
  return new X509Certificate(await readFile(path));
}

describe('gen_certs.sh', () => {
  it('prints its usage with --help and refuses a call without a broker name', async () => {
    const help = await runCommand('bash', [SCRIPT, '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Usage: gen_certs\.sh/);
    const bare = await runCommand('bash', [SCRIPT, '--out', '/nonexistent/never']);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toMatch(/--dns NAME or --ip ADDR/);
    const badNode = await runCommand('bash', [SCRIPT, '--dns', 'x', '--client', '../etc']);
    expect(badNode.code).toBe(2);
  });

  it('makes a CA, a broker certificate with the given SANs and client certificates, with private modes', async () => {
    await using dir = await tempDir();
    const out = join(dir.path, 'certs');
    const result = await runCommand('bash', [
      SCRIPT,
      ...['--out', out, '--dns', 'mqtt.example.com', '--dns', 'mosquitto', '--ip', '10.1.2.3', '--ip', '::1'],
      ...['--client', 'node-a', '--client', 'node-b'],
    ]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);

    expect(modeOf((await stat(out)).mode)).toBe('700');
    expect(modeOf((await stat(join(out, 'clients'))).mode)).toBe('700');
    for (const key of ['ca.key', 'broker.key', 'clients/node-a.key', 'clients/node-b.key']) {
      expect(modeOf((await stat(join(out, key))).mode), key).toBe('600');
    }
    for (const cert of ['ca.crt', 'broker.crt', 'clients/node-a.crt']) {
      expect(modeOf((await stat(join(out, cert))).mode), cert).toBe('644');
    }

    const ca = await certificate(join(out, 'ca.crt'));
    const broker = await certificate(join(out, 'broker.crt'));
    expect(ca.ca).toBe(true);
    expect(broker.ca).toBe(false);
    expect(broker.verify(ca.publicKey)).toBe(true);
    expect(broker.subjectAltName).toBe(
      'DNS:mqtt.example.com, DNS:mosquitto, IP Address:10.1.2.3, IP Address:0:0:0:0:0:0:0:1',
    );
    expect(broker.checkHost('mosquitto')).toBe('mosquitto');
    expect(broker.checkIP('10.1.2.3')).toBe('10.1.2.3');
    expect(broker.checkHost('other.example.com')).toBeUndefined();

    const client = await certificate(join(out, 'clients/node-a.crt'));
    expect(client.subject).toBe('CN=node-a');
    expect(client.verify(ca.publicKey)).toBe(true);
    expect(client.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
  });

  it('keeps an existing CA when run again and replaces it only with --force', async () => {
    await using dir = await tempDir();
    const out = join(dir.path, 'certs');
    expect((await runCommand('bash', [SCRIPT, '--out', out, '--dns', 'a.example'])).code).toBe(0);
    const first = await certificate(join(out, 'ca.crt'));

    const again = await runCommand('bash', [SCRIPT, '--out', out, '--dns', 'b.example']);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/Keeping the existing CA/);
    expect((await certificate(join(out, 'ca.crt'))).fingerprint256).toBe(first.fingerprint256);
    const reissued = await certificate(join(out, 'broker.crt'));
    expect(reissued.subjectAltName).toBe('DNS:b.example');
    expect(reissued.verify(first.publicKey)).toBe(true);

    expect((await runCommand('bash', [SCRIPT, '--out', out, '--dns', 'b.example', '--force'])).code).toBe(0);
    expect((await certificate(join(out, 'ca.crt'))).fingerprint256).not.toBe(first.fingerprint256);
    expect(modeOf((await stat(join(out, 'ca.key'))).mode)).toBe('600');
  });
});
