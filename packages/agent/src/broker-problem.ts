import { settings } from './config.ts';

/**
 * What a failed broker connection says about the agent's own settings, in words that name the
 * setting to change: Node's TLS errors say "unable to verify the first certificate" and mqtt.js
 * says "Connection refused: Not authorized", neither of which tells an operator what to do.
 */
export type BrokerProblem = { kind: 'refused'; message: string } | { kind: 'tls'; message: string } | { kind: 'other' };

/** CONNACK return codes of MQTT 3.1.1 that say these credentials will not do. */
const REFUSED_CODES = new Map<number, string>([
  [4, 'bad username or password'],
  [5, 'not authorized'],
]);

const UNTRUSTED_CA = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
]);

export function brokerProblem(err: Error | undefined): BrokerProblem {
  const code = err !== undefined && 'code' in err ? err.code : undefined;
  if (typeof code === 'number') {
    const said = REFUSED_CODES.get(code);
    if (said !== undefined) return { kind: 'refused', message: `the broker refused this node's credentials (${said})` };
  }
  if (typeof code !== 'string') return { kind: 'other' };
  if (UNTRUSTED_CA.has(code)) {
    return {
      kind: 'tls',
      message: `the broker's TLS certificate is not signed by a CA this agent trusts (${code}): set ${settings.mqttCaFile} (--mqtt-ca-file) to the broker's CA certificate, e.g. the ca.crt of deploy/gen_certs.sh (install_agent.sh --mqtt-ca FILE)`,
    };
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return {
      kind: 'tls',
      message: `the broker's TLS certificate is not for the host in ${settings.mqttUrl} (${code}): use a host name the certificate lists (gen_certs.sh --dns/--ip)`,
    };
  }
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
    return {
      kind: 'tls',
      message: `the broker's TLS certificate is not valid now (${code}): renew it, or check this node's clock`,
    };
  }
  return { kind: 'other' };
}
