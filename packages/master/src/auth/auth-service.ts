import { createHmac, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  newId,
  roleSchema,
  type ApiTokenCreated,
  type ApiTokenDto,
  type Role,
  type UserDto,
} from '@edgestelle/protocol';
import type { Clock } from '../clock.ts';
import { INITIAL_ADMIN_PASSWORD_FILE, writePrivateFile } from '../data-dir.ts';
import type { Store } from '../db/connect.ts';
import { notFound } from '../errors.ts';
import { hashPassword, hashSecret, newSecret, secretMatches, verifyPassword } from './secrets.ts';

export const SESSION_COOKIE = 'edgestelle_session';
export const SESSION_TTL_MS = 12 * 3600_000;
export const ADMIN_USERNAME = 'admin';

export interface Principal {
  user: UserDto;
  via: 'session' | 'token';
  /** Set for cookie sessions: what the X-CSRF-Token header must carry on writes. */
  csrfToken: string | null;
  sessionHash: string | null;
}

const rank: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };
export function hasRole(principal: Principal, needed: Role): boolean {
  return rank[principal.user.role] >= rank[needed];
}

export interface AdminBootstrap {
  username: string;
  /** Set only on the first start, when the password was generated. */
  generatedPassword: string | undefined;
  /** Where a generated password is kept (0600) so the quick start can show it again. */
  passwordFile: string | undefined;
  created: boolean;
}

/**
 * Users, sessions and API tokens. Session cookies and API tokens are random 256-bit secrets
 * stored as SHA-256 hashes; the CSRF token is an HMAC of the session, so it needs no storage.
 */
export class AuthService {
  constructor(
    private readonly store: Store,
    private readonly masterSecret: Buffer,
    private readonly clock: Clock,
  ) {}

  /** Creates the first admin unless a user exists. */
  async bootstrapAdmin(dataDir: string, configuredPassword: string | undefined): Promise<AdminBootstrap> {
    const existing = await this.store.db.selectFrom('users').select('user_id').limit(1).executeTakeFirst();
    if (existing !== undefined) {
      // The quick start can show where the generated password is until the operator deletes it.
      const file = join(dataDir, INITIAL_ADMIN_PASSWORD_FILE);
      const kept = existsSync(file) ? file : undefined;
      return { username: ADMIN_USERNAME, generatedPassword: undefined, passwordFile: kept, created: false };
    }
    const generated = configuredPassword === undefined ? randomBytes(18).toString('base64url') : undefined;
    const password = configuredPassword ?? generated ?? '';
    const passwordFile = generated === undefined ? undefined : join(dataDir, INITIAL_ADMIN_PASSWORD_FILE);
    if (passwordFile !== undefined && generated !== undefined) await writePrivateFile(passwordFile, `${generated}\n`);
    await this.createUser(ADMIN_USERNAME, password, 'admin');
    return { username: ADMIN_USERNAME, generatedPassword: generated, passwordFile, created: true };
  }

  async createUser(username: string, password: string, role: Role): Promise<UserDto> {
    const userId = newId(this.clock.now());
    await this.store.db
      .insertInto('users')
      .values({
        user_id: userId,
        username,
        password_hash: await hashPassword(password),
        role,
        created_at: this.clock.now(),
      })
      .execute();
    return { userId, username, role };
  }

  /** A new session for good credentials; null otherwise (the caller says nothing more). */
  async login(username: string, password: string): Promise<{ sessionToken: string; principal: Principal } | null> {
    const user = await this.store.db
      .selectFrom('users')
      .selectAll()
      .where('username', '=', username)
      .executeTakeFirst();
    // Hash even for an unknown user, so timing does not tell which usernames exist.
    const ok = await verifyPassword(password, user?.password_hash ?? (await dummyHash()));
    if (user === undefined || !ok) return null;
    const sessionToken = newSecret('ess');
    const sessionHash = hashSecret(sessionToken);
    const nowMs = this.clock.now();
    await this.store.db
      .insertInto('sessions')
      .values({
        session_hash: sessionHash,
        user_id: user.user_id,
        created_at: nowMs,
        expires_at: nowMs + SESSION_TTL_MS,
      })
      .execute();
    return {
      sessionToken,
      principal: {
        user: { userId: user.user_id, username: user.username, role: roleSchema.parse(user.role) },
        via: 'session',
        csrfToken: this.csrfFor(sessionHash),
        sessionHash,
      },
    };
  }

  async logout(principal: Principal): Promise<void> {
    if (principal.sessionHash === null) return;
    await this.store.db.deleteFrom('sessions').where('session_hash', '=', principal.sessionHash).execute();
  }

  async fromSession(sessionToken: string): Promise<Principal | null> {
    const sessionHash = hashSecret(sessionToken);
    const row = await this.store.db
      .selectFrom('sessions')
      .innerJoin('users', 'users.user_id', 'sessions.user_id')
      .select(['users.user_id', 'users.username', 'users.role', 'sessions.expires_at'])
      .where('sessions.session_hash', '=', sessionHash)
      .executeTakeFirst();
    if (row === undefined || row.expires_at <= this.clock.now()) return null;
    return {
      user: { userId: row.user_id, username: row.username, role: roleSchema.parse(row.role) },
      via: 'session',
      csrfToken: this.csrfFor(sessionHash),
      sessionHash,
    };
  }

  async fromApiToken(token: string): Promise<Principal | null> {
    const nowMs = this.clock.now();
    const row = await this.store.db
      .selectFrom('api_tokens')
      .innerJoin('users', 'users.user_id', 'api_tokens.user_id')
      .select(['users.user_id', 'users.username', 'users.role', 'api_tokens.token_id', 'api_tokens.token_hash'])
      .where('api_tokens.token_hash', '=', hashSecret(token))
      .where('api_tokens.revoked_at', 'is', null)
      .where((eb) => eb.or([eb('api_tokens.expires_at', 'is', null), eb('api_tokens.expires_at', '>', nowMs)]))
      .executeTakeFirst();
    if (row === undefined || !secretMatches(token, row.token_hash)) return null;
    await this.store.db
      .updateTable('api_tokens')
      .set({ last_used_at: nowMs })
      .where('token_id', '=', row.token_id)
      .execute();
    return {
      user: { userId: row.user_id, username: row.username, role: roleSchema.parse(row.role) },
      via: 'token',
      csrfToken: null,
      sessionHash: null,
    };
  }

  csrfMatches(principal: Principal, header: string | undefined): boolean {
    return (
      principal.csrfToken !== null && header !== undefined && secretMatches(header, hashSecret(principal.csrfToken))
    );
  }

  private csrfFor(sessionHash: string): string {
    return createHmac('sha256', this.masterSecret).update(`csrf:${sessionHash}`).digest('base64url');
  }

  async createApiToken(userId: string, name: string, ttlSec: number | null): Promise<ApiTokenCreated> {
    const owner = await this.store.db
      .selectFrom('users')
      .select(['username', 'role'])
      .where('user_id', '=', userId)
      .executeTakeFirst();
    if (owner === undefined) throw notFound(`user ${userId}`);
    const nowMs = this.clock.now();
    const token = newSecret('est');
    const dto: ApiTokenDto = {
      tokenId: newId(nowMs),
      name,
      role: roleSchema.parse(owner.role),
      userId,
      username: owner.username,
      createdAt: nowMs,
      expiresAt: ttlSec === null ? null : nowMs + ttlSec * 1000,
      lastUsedAt: null,
      revokedAt: null,
    };
    await this.store.db
      .insertInto('api_tokens')
      .values({
        token_id: dto.tokenId,
        user_id: userId,
        name,
        token_hash: hashSecret(token),
        created_at: nowMs,
        expires_at: dto.expiresAt,
        last_used_at: null,
        revoked_at: null,
      })
      .execute();
    return { ...dto, token };
  }

  async listApiTokens(userId: string): Promise<ApiTokenDto[]> {
    const rows = await this.store.db
      .selectFrom('api_tokens')
      .innerJoin('users', 'users.user_id', 'api_tokens.user_id')
      .selectAll('api_tokens')
      .select(['users.username', 'users.role'])
      .where('api_tokens.user_id', '=', userId)
      .orderBy('api_tokens.created_at', 'desc')
      .execute();
    return rows.map((r) => ({
      tokenId: r.token_id,
      name: r.name,
      role: roleSchema.parse(r.role),
      userId: r.user_id,
      username: r.username,
      createdAt: r.created_at,
      expiresAt: r.expires_at,
      lastUsedAt: r.last_used_at,
      revokedAt: r.revoked_at,
    }));
  }

  async revokeApiToken(principal: Principal, tokenId: string): Promise<void> {
    let query = this.store.db
      .updateTable('api_tokens')
      .set({ revoked_at: this.clock.now() })
      .where('token_id', '=', tokenId)
      .where('revoked_at', 'is', null);
    if (!hasRole(principal, 'admin')) query = query.where('user_id', '=', principal.user.userId);
    const result = await query.executeTakeFirst();
    if (Number(result.numUpdatedRows) === 0) throw notFound(`API token ${tokenId}`);
  }
}

let dummy: Promise<string> | undefined;
function dummyHash(): Promise<string> {
  dummy ??= hashPassword(randomBytes(16).toString('hex'));
  return dummy;
}
