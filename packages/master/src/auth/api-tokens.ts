import { newId, roleSchema, type ApiTokenCreated, type ApiTokenDto, type Role } from '@edgestelle/protocol';
import type { Kysely } from 'kysely';
import type { Actor, AuditLog } from '../audit/audit-log.ts';
import type { Clock } from '../clock.ts';
import type { Database } from '../db/schema.ts';
import { MasterError, MasterErrorCode, notFound } from '../errors.ts';
import { LAST_SEEN_RESOLUTION_MS, hasRole, lowerRole, roleAtLeast, type Principal } from './principal.ts';
import type { Revocations } from './revocations.ts';
import { hashSecret, newSecret, secretMatches } from './secrets.ts';
import { userRow } from './users.ts';

/**
 * API tokens: random 256-bit secrets stored as SHA-256 hashes, each with a role no higher than
 * its owner's, an optional expiry, and revocation.
 */
export class ApiTokens {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly clock: Clock,
    private readonly audit: AuditLog,
    private readonly revocations: Revocations,
  ) {}

  /** A token with the given role (default: the owner's), never more than the owner's role. */
  async create(
    userId: string,
    name: string,
    ttlSec: number | null,
    options: { role?: Role; actor?: Actor } = {},
  ): Promise<ApiTokenCreated> {
    const owner = await userRow(this.db, userId);
    const ownerRole = roleSchema.parse(owner.role);
    const role = options.role ?? ownerRole;
    if (!roleAtLeast(ownerRole, role)) {
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

  /** The caller behind a bearer token, or null (unknown, revoked, expired, or its owner disabled). */
  async principal(token: string): Promise<Principal | null> {
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

  /** The user's own tokens, or everyone's (`userId` undefined, admins). */
  async list(userId: string | undefined): Promise<ApiTokenDto[]> {
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

  async revoke(principal: Principal, tokenId: string, actor: Actor): Promise<void> {
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
    this.revocations.notify();
  }
}
