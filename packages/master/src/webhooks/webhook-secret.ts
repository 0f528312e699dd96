import { hkdfSync, randomBytes } from 'node:crypto';
import { openEnvelope, sealEnvelope, type SealingKey } from '@edgestelle/protocol/envelope';
import { MasterError, MasterErrorCode } from '../errors.ts';

const KEY_ID = 1;

/**
 * Webhook signing secrets at rest: sealed (AES-256-GCM, the protocol's envelope) under a key
 * derived from the master secret for this purpose alone, bound to the webhook id. A copy of
 * the database alone signs nothing; every master with the same secret opens them.
 */
export class WebhookSecretBox {
  private readonly key: SealingKey;

  constructor(masterSecret: Uint8Array) {
    this.key = {
      keyId: KEY_ID,
      key: Buffer.from(hkdfSync('sha256', masterSecret, 'edgestelle/v1/webhook-secret', '', 32)),
    };
  }

  /** A new secret: 32 random bytes as hex, which receivers use as the HMAC key's UTF-8 text. */
  static generate(): string {
    return randomBytes(32).toString('hex');
  }

  seal(webhookId: string, secret: string): string {
    return sealEnvelope(additionalData(webhookId), Buffer.from(secret, 'utf8'), this.key).toString('base64');
  }

  open(webhookId: string, sealed: string): string {
    try {
      const { plaintext } = openEnvelope(additionalData(webhookId), Buffer.from(sealed, 'base64'), (keyId) =>
        keyId === this.key.keyId ? this.key.key : undefined,
      );
      return plaintext.toString('utf8');
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
