import { randomBytes } from 'node:crypto';
import { newId, roleSchema, type SessionInfoDto } from '@edgestelle/protocol';
import type { Kysely } from 'kysely';
import type { Actor, AuditLog } from '../audit/audit-log.ts';
import type { Clock } from '../clock.ts';
import type { Database } from '../db/schema.ts';
import { MasterError, MasterErrorCode, notFound } from '../errors.ts';
import type { Csrf } from './csrf.ts';
import type { LoginThrottle } from './login-throttle.ts';
import { LAST_SEEN_RESOLUTION_MS, hasRole, type Principal } from './principal.ts';
import type { Revocations } from './revocations.ts';
import { hashPassword, hashSecret, newSecret, verifyPassword } from './secrets.ts';

export const SESSION_COOKIE = 'edgestelle_session';
export const SESSION_TTL_MS = 12 * 3600_000;

export interface LoginMeta {
  ip: string;
  userAgent: string | null;
}

/**
 * Console sessions: login (throttled), logout, the cookie back to its user, listing and
 * revoking. A session cookie is a random 256-bit secret stored as its SHA-256 hash.
 */
export class Sessions {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly clock: Clock,
    private readonly audit: AuditLog,
    private readonly csrf: Csrf,
    private readonly throttle: LoginThrottle,
    private readonly revocations: Revocations,
  ) {}

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
        csrfToken: this.csrf.tokenFor(sessionHash),
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
    this.revocations.notify();
  }

  /** The caller behind a session cookie, or null (unknown, expired, or its user disabled). */
  async principal(sessionToken: string): Promise<Principal | null> {
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
      csrfToken: this.csrf.tokenFor(sessionHash),
      sessionHash,
    };
  }

  async list(principal: Principal, all: boolean): Promise<SessionInfoDto[]> {
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

  async revoke(principal: Principal, sessionId: string, actor: Actor): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      let query = trx.deleteFrom('sessions').where('session_id', '=', sessionId);
      if (!hasRole(principal, 'admin')) query = query.where('user_id', '=', principal.user.userId);
      const result = await query.executeTakeFirst();
      if (Number(result.numDeletedRows) === 0) throw notFound(`session ${sessionId}`);
      await this.audit.record(trx, { actor, action: 'session.revoke', target: `session:${sessionId}` });
    });
    this.revocations.notify();
  }
}

let dummy: Promise<string> | undefined;
function dummyHash(): Promise<string> {
  dummy ??= hashPassword(randomBytes(16).toString('hex'));
  return dummy;
}
