import { createHmac } from 'node:crypto';
import type { Principal } from './principal.ts';
import { hashSecret, secretMatches } from './secrets.ts';

/** The CSRF token is an HMAC of the session under the master secret, so it needs no storage. */
export class Csrf {
  constructor(private readonly masterSecret: Buffer) {}

  tokenFor(sessionHash: string): string {
    return createHmac('sha256', this.masterSecret).update(`csrf:${sessionHash}`).digest('base64url');
  }

  matches(principal: Principal, header: string | undefined): boolean {
    return (
      principal.csrfToken !== null && header !== undefined && secretMatches(header, hashSecret(principal.csrfToken))
    );
  }
}
