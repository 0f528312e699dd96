import { hkdfSync } from 'node:crypto';
import { envSchema, limits } from '@edgestelle/protocol';
import { openEnvelope, sealEnvelope, type SealingKey } from '@edgestelle/protocol/envelope';
import { MasterError, MasterErrorCode } from '../errors.ts';

/** Names the key inside the sealed blob, so a later key can sit beside this one. */
const KEY_ID = 1;
const KEY_BYTES = 32;

/**
 * A job's secret variables at rest: AES-256-GCM through the protocol's envelope, under a key
 * derived from the master secret for this purpose alone (HKDF, its own label: it opens no node's
 * traffic, and no node key opens it). The job id is in the additional data, so a sealed blob
 * copied onto another job's row fails to open. Every master holding the same secret (several
 * on one PostgreSQL) opens what another sealed.
 */
export class SecretEnvBox {
  private readonly key: SealingKey;

  constructor(masterSecret: Uint8Array) {
    this.key = {
      keyId: KEY_ID,
      key: Buffer.from(hkdfSync('sha256', masterSecret, 'edgestelle/v1/secret-env', '', KEY_BYTES)),
    };
  }

  seal(jobId: string, env: Readonly<Record<string, string>>): Buffer {
    const sealed = sealEnvelope(additionalData(jobId), Buffer.from(JSON.stringify(env), 'utf8'), this.key);
    // The values travel in the node's run command, which is bounded by the same cap.
    if (sealed.byteLength > limits.envelopeMaxBytes) {
      throw new MasterError(
        MasterErrorCode.invalidRequest,
        `the secret values take ${sealed.byteLength} bytes; a run command holds at most ${limits.envelopeMaxBytes}`,
        { field: 'secretEnv' },
      );
    }
    return sealed;
  }

  /** The values, for the run command only: never log, store or return them. */
  open(jobId: string, sealed: Uint8Array): Record<string, string> {
    try {
      const { plaintext } = openEnvelope(additionalData(jobId), sealed, (keyId) =>
        keyId === this.key.keyId ? this.key.key : undefined,
      );
      return envSchema.parse(JSON.parse(plaintext.toString('utf8')));
    } catch (cause) {
      throw new MasterError(
        MasterErrorCode.internal,
        `the secret values of job ${jobId} do not open: this master's key differs from the one that sealed them, or the row was altered`,
        { cause },
      );
    }
  }
}

function additionalData(jobId: string): string {
  return `edgestelle/v1/jobs/${jobId}/secret-env`;
}
