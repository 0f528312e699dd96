import { randomBytes } from 'node:crypto';
import { MasterError, MasterErrorCode } from '../errors.ts';
import { PurposeBox } from '../purpose-box.ts';

/**
 * Webhook signing secrets at rest, sealed for this purpose alone (see PurposeBox) and bound
 * to the webhook id: a copy of the database alone signs nothing.
 */
export class WebhookSecretBox {
  private readonly box: PurposeBox;

  constructor(masterSecret: Uint8Array) {
    this.box = new PurposeBox(masterSecret, 'webhook-secret');
  }

  /** A new secret: 32 random bytes as hex, which receivers use as the HMAC key's UTF-8 text. */
  static generate(): string {
    return randomBytes(32).toString('hex');
  }

  seal(webhookId: string, secret: string): string {
    return this.box.seal(additionalData(webhookId), Buffer.from(secret, 'utf8')).toString('base64');
  }

  open(webhookId: string, sealed: string): string {
    try {
      return this.box.open(additionalData(webhookId), Buffer.from(sealed, 'base64')).toString('utf8');
    } catch (cause) {
      throw new MasterError(
        MasterErrorCode.internal,
        `the secret of webhook ${webhookId} does not open: this master's key differs from the one that sealed it`,
        { cause },
      );
    }
  }
}

function additionalData(webhookId: string): string {
  return `edgestelle/v1/webhooks/${webhookId}/secret`;
}
