import { hkdfSync } from 'node:crypto';
import { openEnvelope, sealEnvelope, type SealingKey } from '@edgestelle/protocol/envelope';

/** Names the key inside the sealed blob, so a later key can sit beside this one. */
const KEY_ID = 1;

/**
 * Secrets at rest in the database: AES-256-GCM through the protocol's envelope, under a key
 * derived from the master secret for one purpose alone (HKDF, its own label: it opens no
 * node's traffic and nothing sealed for another purpose). The additional data binds a blob to
 * its row, so one copied onto another row fails to open. Every master holding the same secret
 * (several on one PostgreSQL) opens what another sealed.
 */
export class PurposeBox {
  private readonly key: SealingKey;

  constructor(masterSecret: Uint8Array, purpose: string) {
    this.key = {
      keyId: KEY_ID,
      key: Buffer.from(hkdfSync('sha256', masterSecret, `edgestelle/v1/${purpose}`, '', 32)),
    };
  }

  seal(additionalData: string, plaintext: Uint8Array): Buffer {
    return sealEnvelope(additionalData, plaintext, this.key);
  }

  /** Throws when the blob does not open (another key, another row, altered). */
  open(additionalData: string, sealed: Uint8Array): Buffer {
    return openEnvelope(additionalData, sealed, (keyId) => (keyId === this.key.keyId ? this.key.key : undefined))
      .plaintext;
  }
}
