import type {
  ApiTokenCreated,
  ApiTokenDto,
  Role,
  SessionInfoDto,
  UserAccountDto,
  UserDto,
  UserUpdate,
} from '@edgestelle/protocol';
import type { Kysely } from 'kysely';
import type { Actor, AuditLog } from '../audit/audit-log.ts';
import type { Clock } from '../clock.ts';
import type { Database } from '../db/schema.ts';
import type { Store } from '../db/store.ts';
import { bootstrapAdmin, type AdminBootstrap } from './admin-bootstrap.ts';
import { ApiTokens } from './api-tokens.ts';
import { Csrf } from './csrf.ts';
import { LoginThrottle } from './login-throttle.ts';
import type { Principal } from './principal.ts';
import { Revocations } from './revocations.ts';
import { Sessions, type LoginMeta } from './sessions.ts';
import { Users } from './users.ts';

/**
 * What the API and the master call for authentication and accounts, one module per concern
 * behind it: users.ts, sessions.ts, api-tokens.ts, csrf.ts, admin-bootstrap.ts.
 */
export class AuthService {
  private readonly db: Kysely<Database>;
  private readonly revocations = new Revocations();
  private readonly users: Users;
  private readonly sessions: Sessions;
  private readonly tokens: ApiTokens;
  private readonly csrf: Csrf;

  constructor(store: Store, masterSecret: Buffer, clock: Clock, audit: AuditLog, throttle?: LoginThrottle) {
    this.db = store.db;
    this.csrf = new Csrf(masterSecret);
    this.users = new Users(this.db, clock, audit, this.revocations);
    this.sessions = new Sessions(
      this.db,
      clock,
      audit,
      this.csrf,
      throttle ?? new LoginThrottle(clock),
      this.revocations,
    );
    this.tokens = new ApiTokens(this.db, clock, audit, this.revocations);
  }

  /** Called after a token, session or user stopped working or changed (open connections look again). */
  onRevocation(listener: () => void): void {
    this.revocations.on(listener);
  }

  bootstrapAdmin(dataDir: string, configuredPassword: string | undefined): Promise<AdminBootstrap> {
    return bootstrapAdmin(this.db, this.users, dataDir, configuredPassword);
  }

  createUser(username: string, password: string, role: Role, actor?: Actor): Promise<UserAccountDto> {
    return this.users.create(username, password, role, actor);
  }

  listUsers(): Promise<UserAccountDto[]> {
    return this.users.list();
  }

  getUser(userId: string): Promise<UserAccountDto> {
    return this.users.get(userId);
  }

  updateUser(userId: string, update: UserUpdate, actor: Actor): Promise<UserAccountDto> {
    return this.users.update(userId, update, actor);
  }

  deleteUser(userId: string, actor: Actor, self: UserDto): Promise<void> {
    return this.users.delete(userId, actor, self);
  }

  resetPassword(userId: string, password: string, actor: Actor): Promise<void> {
    return this.users.resetPassword(userId, password, actor);
  }

  changePassword(principal: Principal, current: string, next: string, actor: Actor): Promise<void> {
    return this.users.changePassword(principal, current, next, actor);
  }

  login(
    username: string,
    password: string,
    meta: LoginMeta,
  ): Promise<{ sessionToken: string; principal: Principal } | null> {
    return this.sessions.login(username, password, meta);
  }

  logout(principal: Principal, actor: Actor): Promise<void> {
    return this.sessions.logout(principal, actor);
  }

  fromSession(sessionToken: string): Promise<Principal | null> {
    return this.sessions.principal(sessionToken);
  }

  listSessions(principal: Principal, all: boolean): Promise<SessionInfoDto[]> {
    return this.sessions.list(principal, all);
  }

  revokeSession(principal: Principal, sessionId: string, actor: Actor): Promise<void> {
    return this.sessions.revoke(principal, sessionId, actor);
  }

  csrfMatches(principal: Principal, header: string | undefined): boolean {
    return this.csrf.matches(principal, header);
  }

  createApiToken(
    userId: string,
    name: string,
    ttlSec: number | null,
    options: { role?: Role; actor?: Actor } = {},
  ): Promise<ApiTokenCreated> {
    return this.tokens.create(userId, name, ttlSec, options);
  }

  fromApiToken(token: string): Promise<Principal | null> {
    return this.tokens.principal(token);
  }

  listApiTokens(userId: string | undefined): Promise<ApiTokenDto[]> {
    return this.tokens.list(userId);
  }

  revokeApiToken(principal: Principal, tokenId: string, actor: Actor): Promise<void> {
    return this.tokens.revoke(principal, tokenId, actor);
  }
}
