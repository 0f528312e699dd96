import { newId, roleSchema, type Role, type UserAccountDto, type UserDto, type UserUpdate } from '@edgestelle/protocol';
import type { Kysely, Selectable } from 'kysely';
import type { Actor, AuditLog } from '../audit/audit-log.ts';
import type { Clock } from '../clock.ts';
import type { Database, UsersTable } from '../db/schema.ts';
import { MasterError, MasterErrorCode, notFound } from '../errors.ts';
import type { Principal } from './principal.ts';
import type { Revocations } from './revocations.ts';
import { hashPassword, verifyPassword } from './secrets.ts';

/**
 * User accounts and their passwords. Every change is written with its audit event in one
 * transaction; one that can end sessions tells {@link Revocations}.
 */
export class Users {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly clock: Clock,
    private readonly audit: AuditLog,
    private readonly revocations: Revocations,
  ) {}

  /** Without an actor (bootstrap, tests) the event names `system`. */
  async create(username: string, password: string, role: Role, actor?: Actor): Promise<UserAccountDto> {
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

  async list(): Promise<UserAccountDto[]> {
    const rows = await this.db.selectFrom('users').selectAll().orderBy('username').execute();
    return rows.map(userAccountDto);
  }

  async get(userId: string): Promise<UserAccountDto> {
    return userAccountDto(await userRow(this.db, userId));
  }

  async update(userId: string, update: UserUpdate, actor: Actor): Promise<UserAccountDto> {
    const nowMs = this.clock.now();
    const row = await this.db.transaction().execute(async (trx) => {
      const user = await userRow(trx, userId);
      const role = update.role ?? roleSchema.parse(user.role);
      const disabledAt =
        update.disabled === undefined ? user.disabled_at : update.disabled ? (user.disabled_at ?? nowMs) : null;
      const stillAdmin = role === 'admin' && disabledAt === null;
      if (user.role === 'admin' && user.disabled_at === null && !stillAdmin) await keepOneAdmin(trx, userId);
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
    this.revocations.notify();
    return userAccountDto(row);
  }

  async delete(userId: string, actor: Actor, self: UserDto): Promise<void> {
    if (userId === self.userId) {
      throw new MasterError(MasterErrorCode.conflict, 'you cannot delete yourself: ask another admin');
    }
    await this.db.transaction().execute(async (trx) => {
      const user = await userRow(trx, userId);
      if (user.role === 'admin' && user.disabled_at === null) await keepOneAdmin(trx, userId);
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
    this.revocations.notify();
  }

  /** An admin sets a user's password: every session of that user ends. */
  async resetPassword(userId: string, password: string, actor: Actor): Promise<void> {
    const passwordHash = await hashPassword(password);
    await this.db.transaction().execute(async (trx) => {
      const user = await userRow(trx, userId);
      await trx.updateTable('users').set({ password_hash: passwordHash }).where('user_id', '=', userId).execute();
      await trx.deleteFrom('sessions').where('user_id', '=', userId).execute();
      await this.audit.record(trx, {
        actor,
        action: 'user.password_reset',
        target: `user:${userId}`,
        details: { username: user.username },
      });
    });
    this.revocations.notify();
  }

  /** A user changes their own password: their other sessions end, this one stays. */
  async changePassword(principal: Principal, current: string, next: string, actor: Actor): Promise<void> {
    const user = await userRow(this.db, principal.user.userId);
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
    this.revocations.notify();
  }
}

export async function userRow(db: Kysely<Database>, userId: string): Promise<Selectable<UsersTable>> {
  const user = await db.selectFrom('users').selectAll().where('user_id', '=', userId).executeTakeFirst();
  if (user === undefined) throw notFound(`user ${userId}`);
  return user;
}

async function keepOneAdmin(db: Kysely<Database>, leavingUserId: string): Promise<void> {
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
