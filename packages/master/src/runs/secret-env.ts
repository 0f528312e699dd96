import { envSchema, limits } from '@edgestelle/protocol';
import { MasterError, MasterErrorCode } from '../errors.ts';
import { PurposeBox } from '../purpose-box.ts';

/**
 * A job's secret variables at rest, sealed for this purpose alone (see PurposeBox); the job id
 * is in the additional data, so a sealed blob copied onto another job's row fails to open.
 */
export class SecretEnvBox {
  private readonly box: PurposeBox;

  constructor(masterSecret: Uint8Array) {
    this.box = new PurposeBox(masterSecret, 'secret-env');
  }

  seal(jobId: string, env: Readonly<Record<string, string>>): Buffer {
    const sealed = this.box.seal(additionalData(jobId), Buffer.from(JSON.stringify(env), 'utf8'));
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
      return envSchema.parse(JSON.parse(this.box.open(additionalData(jobId), sealed).toString('utf8')));
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
