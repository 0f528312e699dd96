import { createHmac, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  newId,
  roleSchema,
  type ApiTokenCreated,
  type ApiTokenDto,
  type Role,
  type SessionInfoDto,
  type UserAccountDto,
  type UserDto,
  type UserUpdate,
} from '@edgestelle/protocol';
import type { Kysely, Selectable } from 'kysely';
import type { AuditLog, Actor } from '../audit/audit-log.ts';
import type { Clock } from '../clock.ts';
import { INITIAL_ADMIN_PASSWORD_FILE, writePrivateFile } from '../data-dir.ts';
import type { Store } from '../db/store.ts';
import type { Database, UsersTable } from '../db/schema.ts';
import { MasterError, MasterErrorCode, notFound } from '../errors.ts';
import { LoginThrottle } from './login-throttle.ts';
import { hashPassword, hashSecret, newSecret, secretMatches, verifyPassword } from './secrets.ts';

export const SESSION_COOKIE = 'edgestelle_session';
export const SESSION_TTL_MS = 12 * 3600_000;
export const ADMIN_USERNAME = 'admin';
/** A session's last-seen time is written at most this often: not one database write per request. */
const LAST_SEEN_RESOLUTION_MS = 60_000;

export interface Principal {
  /** The user, with the role this request may use (a token's role capped by its owner's). */
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
function lowerRole(a: Role, b: Role): Role {
  return rank[a] <= rank[b] ? a : b;
}

export interface AdminBootstrap {
  username: string;
  /** Set only on the first start, when the password was generated. */
  generatedPassword: string | undefined;
  /** Where a generated password is kept (0600) so the quick start can show it again. */
  passwordFile: string | undefined;
  created: boolean;
}

export interface LoginMeta {
  ip: string;
  userAgent: string | null;
}

/**
 * Users, sessions and API tokens. Session cookies and API tokens are random 256-bit secrets
 * stored as SHA-256 hashes; the CSRF token is an HMAC of the session, so it needs no storage.
 * Every change is written with its audit event in one transaction.
 */
export class AuthService {
  private readonly throttle: LoginThrottle;
  private readonly revocationListeners: Array<() => void> = [];

  constructor(
    private readonly store: Store,
    private readonly masterSecret: Buffer,
    private readonly clock: Clock,
    private readonly audit: AuditLog,
    throttle?: LoginThrottle,
  ) {
    this.throttle = throttle ?? new LoginThrottle(clock);
  }

  private get db(): Kysely<Database> {
    return this.store.db;
  }

  /** Called after a token, session or user stopped working or changed (open connections look again). */
  onRevocation(listener: () => void): void {
    this.revocationListeners.push(listener);
  }

  private revoked(): void {
    for (const listener of this.revocationListeners) listener();
  }

  /** Creates the first admin unless a user exists. */
  async bootstrapAdmin(dataDir: string, configuredPassword: string | undefined): Promise<AdminBootstrap> {
    const existing = await this.db.selectFrom('users').select('user_id').limit(1).executeTakeFirst();
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

  /** Without an actor (bootstrap, tests) the event names `system`. */
  async createUser(username: string, password: string, role: Role, actor?: Actor): Promise<UserAccountDto> {
    const nowMs = this.clock.now();
    const userId = newId(nowMs);
    const passwordHash = await hashPassword(password);
    await this.db.transaction().execute(async (trx) => {
      const taken = await trx.selectFrom('users').select('user_id').where('username', '=', username).executeTakeFirst();
      if (taken !== undefined) {
        throw new MasterError(MasterErrorCode.conflict, `the username ${username} is taken`, { field: 'username' });
      }
      await trx
        .insertInto('users')
        .values({
          user_id: userId,
          username,
          password_hash: passwordHash,
          role,
          created_at: nowMs,
          disabled_at: null,
          last_login_at: null,
        })
        .execute();
      await this.audit.record(trx, {
        actor: actor ?? { name: 'system', ip: null },
        action: 'user.create',
        target: `user:${userId}`,
        details: { username, role },
      });
    });
    return { userId, username, role, createdAt: nowMs, disabledAt: null, lastLoginAt: null };
  }

  async listUsers(): Promise<UserAccountDto[]> {
    const rows = await this.db.selectFrom('users').selectAll().orderBy('username').execute();
    return rows.map(userAccountDto);
  }

  async getUser(userId: string): Promise<UserAccountDto> {
    return userAccountDto(await this.userRow(this.db, userId));
  }

  async updateUser(userId: string, update: UserUpdate, actor: Actor): Promise<UserAccountDto> {
    const nowMs = this.clock.now();
    const row = await this.db.transaction().execute(async (trx) => {
      const user = await this.userRow(trx, userId);
      const role = update.role ?? roleSchema.parse(user.role);
      const disabledAt =
        update.disabled === undefined ? user.disabled_at : update.disabled ? (user.disabled_at ?? nowMs) : null;
      const stillAdmin = role === 'admin' && disabledAt === null;
      if (user.role === 'admin' && user.disabled_at === null && !stillAdmin) await this.keepOneAdmin(trx, userId);
      await trx.updateTable('users').set({ role, disabled_at: disabledAt }).where('user_id', '=', userId).execute();
      // A disabled user's console sessions end now; their tokens are refused while disabled.
      if (disabledAt !== null) await trx.deleteFrom('sessions').where('user_id', '=', userId).execute();
      await this.audit.record(trx, {
        actor,
        action: 'user.update',
        target: `user:${userId}`,
        details: {
          username: user.username,
          ...(update.role === undefined ? {} : { role }),
          ...(update.disabled === undefined ? {} : { disabled: update.disabled }),
        },
      });
      return { ...user, role, disabled_at: disabledAt };
    });
    this.revoked();
    return userAccountDto(row);
  }

  async deleteUser(userId: string, actor: Actor, self: UserDto): Promise<void> {
    if (userId === self.userId) {
      throw new MasterError(MasterErrorCode.conflict, 'you cannot delete yourself: ask another admin');
    }
    await this.db.transaction().execute(async (trx) => {
      const user = await this.userRow(trx, userId);
      if (user.role === 'admin' && user.disabled_at === null) await this.keepOneAdmin(trx, userId);
      await trx.deleteFrom('sessions').where('user_id', '=', userId).execute();
      await trx.deleteFrom('api_tokens').where('user_id', '=', userId).execute();
      await trx.deleteFrom('users').where('user_id', '=', userId).execute();
      await this.audit.record(trx, {
        actor,
        action: 'user.delete',
        target: `user:${userId}`,
        details: { username: user.username },
      });
    });
    this.revoked();
  }

  /** An admin sets a user's password: every session of that user ends. */
  async resetPassword(userId: string, password: string, actor: Actor): Promise<void> {
    const passwordHash = await hashPassword(password);
    await this.db.transaction().execute(async (trx) => {
      const user = await this.userRow(trx, userId);
      await trx.updateTable('users').set({ password_hash: passwordHash }).where('user_id', '=', userId).execute();
      await trx.deleteFrom('sessions').where('user_id', '=', userId).execute();
      await this.audit.record(trx, {
        actor,
        action: 'user.password_reset',
        target: `user:${userId}`,
        details: { username: user.username },
      });
    });
    this.revoked();
  }

  /** A user changes their own password: their other sessions end, this one stays. */
  async changePassword(principal: Principal, current: string, next: string, actor: Actor): Promise<void> {
    const user = await this.userRow(this.db, principal.user.userId);
    if (!(await verifyPassword(current, user.password_hash))) {
      throw new MasterError(MasterErrorCode.unauthenticated, 'the current password is wrong', {
        field: 'currentPassword',
      });
    }
    const passwordHash = await hashPassword(next);
    await this.db.transaction().execute(async (trx) => {
      await trx.updateTable('users').set({ password_hash: passwordHash }).where('user_id', '=', user.user_id).execute();
      let others = trx.deleteFrom('sessions').where('user_id', '=', user.user_id);
      if (principal.sessionHash !== null) others = others.where('session_hash', '!=', principal.sessionHash);
      await others.execute();
      await this.audit.record(trx, { actor, action: 'auth.password_change', target: `user:${user.user_id}` });
    });
    this.revoked();
  }

  private async userRow(db: Kysely<Database>, userId: string): Promise<Selectable<UsersTable>> {
    const user = await db.selectFrom('users').selectAll().where('user_id', '=', userId).executeTakeFirst();
    if (user === undefined) throw notFound(`user ${userId}`);
    return user;
  }

  private async keepOneAdmin(db: Kysely<Database>, leavingUserId: string): Promise<void> {
    const others = await db
      .selectFrom('users')
      .select('user_id')
      .where('role', '=', 'admin')
      .where('disabled_at', 'is', null)
      .where('user_id', '!=', leavingUserId)
      .limit(1)
      .executeTakeFirst();
    if (others === undefined) {
      throw new MasterError(MasterErrorCode.conflict, 'this is the last enabled admin: make another user admin first');
    }
  }

  /**
   * A new session for good credentials. Failed and throttled attempts are audited too; a
   * throttled attempt is refused before the password is checked, right or wrong.
   */
  async login(
    username: string,
    password: string,
    meta: LoginMeta,
  ): Promise<{ sessionToken: string; principal: Principal } | null> {
    const actor: Actor = { name: username.slice(0, 128), ip: meta.ip };
    const retryAfterSec = this.throttle.retryAfterSec(username, meta.ip);
    if (retryAfterSec > 0) {
      await this.audit.record(this.db, {
        actor,
        action: 'auth.login_failed',
        target: null,
        details: { throttled: true },
      });
      throw new MasterError(
        MasterErrorCode.tooManyRequests,
        `too many failed logins: try again in ${retryAfterSec} s`,
        { retryAfterSec },
      );
    }
    const user = await this.db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst();
    // Hash even for an unknown user, so timing does not tell which usernames exist.
    const ok = await verifyPassword(password, user?.password_hash ?? (await dummyHash()));
    if (user === undefined || !ok || user.disabled_at !== null) {
      this.throttle.failed(username, meta.ip);
      await this.audit.record(this.db, {
        actor,
        action: 'auth.login_failed',
        target: user === undefined ? null : `user:${user.user_id}`,
        details: { reason: user === undefined || !ok ? 'bad credentials' : 'user disabled' },
      });
      return null;
    }
    this.throttle.succeeded(username);
    const sessionToken = newSecret('ess');
    const sessionHash = hashSecret(sessionToken);
    const sessionId = newId(this.clock.now());
    const nowMs = this.clock.now();
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('sessions')
        .values({
          session_hash: sessionHash,
          session_id: sessionId,
          user_id: user.user_id,
          created_at: nowMs,
          expires_at: nowMs + SESSION_TTL_MS,
          ip: meta.ip,
          user_agent: meta.userAgent?.slice(0, 256) ?? null,
          last_seen_at: nowMs,
        })
        .execute();
      await trx.updateTable('users').set({ last_login_at: nowMs }).where('user_id', '=', user.user_id).execute();
      await this.audit.record(trx, { actor, action: 'auth.login', target: `session:${sessionId}` });
    });
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

  async logout(principal: Principal, actor: Actor): Promise<void> {
    const sessionHash = principal.sessionHash;
    await this.db.transaction().execute(async (trx) => {
      const session =
        sessionHash === null
          ? undefined
          : await trx
              .deleteFrom('sessions')
              .where('session_hash', '=', sessionHash)
              .returning('session_id')
              .executeTakeFirst();
      await this.audit.record(trx, {
        actor,
        action: 'auth.logout',
        target: session === undefined ? null : `session:${session.session_id}`,
        details: { via: principal.via },
      });
    });
    this.revoked();
  }

  async fromSession(sessionToken: string): Promise<Principal | null> {
    const sessionHash = hashSecret(sessionToken);
    const row = await this.db
      .selectFrom('sessions')
      .innerJoin('users', 'users.user_id', 'sessions.user_id')
      .select([
        'users.user_id',
        'users.username',
        'users.role',
        'users.disabled_at',
        'sessions.expires_at',
        'sessions.last_seen_at',
      ])
      .where('sessions.session_hash', '=', sessionHash)
      .executeTakeFirst();
    const nowMs = this.clock.now();
    if (row === undefined || row.expires_at <= nowMs || row.disabled_at !== null) return null;
    if (row.last_seen_at === null || nowMs - row.last_seen_at >= LAST_SEEN_RESOLUTION_MS) {
      await this.db
        .updateTable('sessions')
        .set({ last_seen_at: nowMs })
        .where('session_hash', '=', sessionHash)
        .execute();
    }
    return {
      user: { userId: row.user_id, username: row.username, role: roleSchema.parse(row.role) },
      via: 'session',
      csrfToken: this.csrfFor(sessionHash),
      sessionHash,
    };
  }

  async fromApiToken(token: string): Promise<Principal | null> {
    const nowMs = this.clock.now();
    const row = await this.db
      .selectFrom('api_tokens')
      .innerJoin('users', 'users.user_id', 'api_tokens.user_id')
      .select([
        'users.user_id',
        'users.username',
        'users.role as user_role',
        'users.disabled_at',
        'api_tokens.role as token_role',
        'api_tokens.token_id',
        'api_tokens.token_hash',
        'api_tokens.last_used_at',
      ])
      .where('api_tokens.token_hash', '=', hashSecret(token))
      .where('api_tokens.revoked_at', 'is', null)
      .where((eb) => eb.or([eb('api_tokens.expires_at', 'is', null), eb('api_tokens.expires_at', '>', nowMs)]))
      .executeTakeFirst();
    if (row === undefined || row.disabled_at !== null || !secretMatches(token, row.token_hash)) return null;
    if (row.last_used_at === null || nowMs - row.last_used_at >= LAST_SEEN_RESOLUTION_MS) {
      await this.db
        .updateTable('api_tokens')
        .set({ last_used_at: nowMs })
        .where('token_id', '=', row.token_id)
        .execute();
    }
    return {
      user: {
        userId: row.user_id,
        username: row.username,
        role: lowerRole(roleSchema.parse(row.token_role), roleSchema.parse(row.user_role)),
      },
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

  async listSessions(principal: Principal, all: boolean): Promise<SessionInfoDto[]> {
    let query = this.db
      .selectFrom('sessions')
      .innerJoin('users', 'users.user_id', 'sessions.user_id')
      .selectAll('sessions')
      .select('users.username')
      .where('sessions.expires_at', '>', this.clock.now())
      .orderBy('sessions.created_at', 'desc');
    if (!all) query = query.where('sessions.user_id', '=', principal.user.userId);
    const rows = await query.execute();
    return rows.map((r) => ({
      sessionId: r.session_id,
      userId: r.user_id,
      username: r.username,
      createdAt: r.created_at,
      expiresAt: r.expires_at,
      lastSeenAt: r.last_seen_at,
      ip: r.ip,
      userAgent: r.user_agent,
      current: r.session_hash === principal.sessionHash,
    }));
  }

  async revokeSession(principal: Principal, sessionId: string, actor: Actor): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      let query = trx.deleteFrom('sessions').where('session_id', '=', sessionId);
      if (!hasRole(principal, 'admin')) query = query.where('user_id', '=', principal.user.userId);
      const result = await query.executeTakeFirst();
      if (Number(result.numDeletedRows) === 0) throw notFound(`session ${sessionId}`);
      await this.audit.record(trx, { actor, action: 'session.revoke', target: `session:${sessionId}` });
    });
    this.revoked();
  }

  /** A token with the given role (default: the owner's), never more than the owner's role. */
  async createApiToken(
    userId: string,
    name: string,
    ttlSec: number | null,
    options: { role?: Role; actor?: Actor } = {},
  ): Promise<ApiTokenCreated> {
    const owner = await this.userRow(this.db, userId);
    const ownerRole = roleSchema.parse(owner.role);
    const role = options.role ?? ownerRole;
    if (rank[role] > rank[ownerRole]) {
      throw new MasterError(MasterErrorCode.forbidden, `a token cannot have more than your role (${ownerRole})`, {
        field: 'role',
      });
    }
    const nowMs = this.clock.now();
    const token = newSecret('est');
    const dto: ApiTokenDto = {
      tokenId: newId(nowMs),
      name,
      role,
      userId,
      username: owner.username,
      createdAt: nowMs,
      expiresAt: ttlSec === null ? null : nowMs + ttlSec * 1000,
      lastUsedAt: null,
      revokedAt: null,
    };
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('api_tokens')
        .values({
          token_id: dto.tokenId,
          user_id: userId,
          name,
          token_hash: hashSecret(token),
          role,
          created_at: nowMs,
          expires_at: dto.expiresAt,
          last_used_at: null,
          revoked_at: null,
        })
        .execute();
      await this.audit.record(trx, {
        actor: options.actor ?? { name: owner.username, ip: null },
        action: 'token.create',
        target: `token:${dto.tokenId}`,
        details: { name, role, expiresAt: dto.expiresAt },
      });
    });
    return { ...dto, token };
  }

  /** The user's own tokens, or everyone's (`userId` undefined, admins). */
  async listApiTokens(userId: string | undefined): Promise<ApiTokenDto[]> {
    let query = this.db
      .selectFrom('api_tokens')
      .innerJoin('users', 'users.user_id', 'api_tokens.user_id')
      .selectAll('api_tokens')
      .select('users.username')
      .orderBy('api_tokens.created_at', 'desc');
    if (userId !== undefined) query = query.where('api_tokens.user_id', '=', userId);
    const rows = await query.execute();
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

  async revokeApiToken(principal: Principal, tokenId: string, actor: Actor): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      let query = trx
        .updateTable('api_tokens')
        .set({ revoked_at: this.clock.now() })
        .where('token_id', '=', tokenId)
        .where('revoked_at', 'is', null);
      if (!hasRole(principal, 'admin')) query = query.where('user_id', '=', principal.user.userId);
      const result = await query.executeTakeFirst();
      if (Number(result.numUpdatedRows) === 0) throw notFound(`API token ${tokenId}`);
      await this.audit.record(trx, { actor, action: 'token.revoke', target: `token:${tokenId}` });
    });
    this.revoked();
  }
}

function userAccountDto(row: Selectable<UsersTable>): UserAccountDto {
  return {
    userId: row.user_id,
    username: row.username,
    role: roleSchema.parse(row.role),
    createdAt: row.created_at,
    disabledAt: row.disabled_at,
    lastLoginAt: row.last_login_at,
  };
}

let dummy: Promise<string> | undefined;
function dummyHash(): Promise<string> {
  dummy ??= hashPassword(randomBytes(16).toString('hex'));
  return dummy;
}
