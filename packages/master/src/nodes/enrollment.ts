import { randomBytes } from 'node:crypto';
import {
  newId,
  type EnrollRequest,
  type EnrollResponse,
  type JoinTokenCreated,
  type JoinTokenDto,
  type joinTokenCreateSchema,
} from '@edgestelle/protocol';
import { DEFAULT_MAX_CLOCK_SKEW_MS, deriveNodeKey, enrollProofMatches } from '@edgestelle/protocol/envelope';
import type { Selectable } from 'kysely';
import type { z } from 'zod';
import { systemActor, type Actor, type AuditLog } from '../audit/audit-log.ts';
import { hashSecret, newSecret } from '../auth/secrets.ts';
import type { Clock } from '../clock.ts';
import type { Store } from '../db/store.ts';
import type { JoinTokensTable } from '../db/schema.ts';
import { MasterError, MasterErrorCode, notFound } from '../errors.ts';
import type { MasterEvents } from '../events.ts';
import type { NodeKeys } from '../node-keys.ts';
import { mergeTags, parseTags } from './tags.ts';

export interface EnrollmentOptions {
  store: Store;
  keys: NodeKeys;
  masterSecret: Buffer;
  clock: Clock;
  events: MasterEvents;
  topicPrefix: string;
  /** The broker URL enrolling agents are told (may differ per request: the host they reached). */
  agentMqttUrl: (requestHost: string | undefined) => string;
  /** Ends a node's broker session (embedded broker); its old password no longer works. */
  disconnectNode: (nodeId: string) => void;
  /** Gives an external broker the node's new credentials (Mosquitto dynamic security). */
  setBrokerCredentials?: (nodeId: string, password: string) => Promise<void>;
  audit: AuditLog;
}

/**
 * Join tokens and enrollment (Teleport/Nomad style): an admin creates a token, shown once and
 * stored hashed; an agent presents it with its node id and receives its node key and broker
 * credentials. Enrolling an enrolled node again (a token made for it, or proof of its key)
 * rolls the key epoch and the broker password.
 */
export class Enrollment {
  constructor(private readonly options: EnrollmentOptions) {}

  private get db() {
    return this.options.store.db;
  }

  async createJoinToken(
    input: z.output<typeof joinTokenCreateSchema>,
    createdBy: string,
    actor?: Actor,
  ): Promise<JoinTokenCreated> {
    const nowMs = this.options.clock.now();
    const token = newSecret('esj');
    const row = {
      token_id: newId(nowMs),
      token_hash: hashSecret(token),
      description: input.description,
      tags: JSON.stringify(input.tags),
      created_at: nowMs,
      expires_at: nowMs + input.ttlSec * 1000,
      max_uses: input.maxUses,
      uses: 0,
      revoked_at: null,
      created_by: createdBy,
      node_id: input.nodeId,
    };
    await this.db.transaction().execute(async (trx) => {
      await trx.insertInto('join_tokens').values(row).execute();
      await this.options.audit.record(trx, {
        actor: actor ?? { name: createdBy, ip: null },
        action: 'join_token.create',
        target: `join_token:${row.token_id}`,
        details: {
          maxUses: input.maxUses,
          expiresAt: row.expires_at,
          description: input.description,
          nodeId: input.nodeId,
        },
      });
    });
    return { ...joinTokenDto(row), token };
  }

  async listJoinTokens(): Promise<JoinTokenDto[]> {
    const rows = await this.db.selectFrom('join_tokens').selectAll().orderBy('created_at', 'desc').execute();
    return rows.map(joinTokenDto);
  }

  async revokeJoinToken(tokenId: string, actor: Actor = systemActor): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const result = await trx
        .updateTable('join_tokens')
        .set({ revoked_at: this.options.clock.now() })
        .where('token_id', '=', tokenId)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) === 0) throw notFound(`join token ${tokenId}`);
      await this.options.audit.record(trx, { actor, action: 'join_token.revoke', target: `join_token:${tokenId}` });
    });
  }

  /**
   * A join token enrolls a node id that is not enrolled yet. An enrolled one takes either a token
   * an admin made for that id, or proof of the node's current key (`keyProof`); anything else is
   * `node_exists`, audited, and changes nothing: the token keeps its use, the node its key and
   * broker password, so the real agent carries on. Revoked ids stay refused whatever is sent.
   * `ip`: where the request came from, for the audit event (the actor is the node).
   */
  async enroll(
    request: EnrollRequest,
    requestHost: string | undefined,
    ip: string | null = null,
  ): Promise<EnrollResponse> {
    const nowMs = this.options.clock.now();
    const actor: Actor = { name: `node:${request.nodeId}`, ip };
    const invalid = (): MasterError =>
      new MasterError(
        MasterErrorCode.joinTokenInvalid,
        'the join token is unknown, expired, used up or revoked: ask an admin for a new one (edgestelle join-token create)',
      );
    const mqttPassword = randomBytes(32).toString('base64url');
    let result: { epoch: number; tags: Record<string, string>; reenrolled: boolean };
    try {
      result = await this.db.transaction().execute(async (trx) => {
        const token = await trx
          .selectFrom('join_tokens')
          .selectAll()
          .where('token_hash', '=', hashSecret(request.token))
          .executeTakeFirst();
        if (
          token === undefined ||
          token.revoked_at !== null ||
          token.expires_at <= nowMs ||
          (token.max_uses !== null && token.uses >= token.max_uses)
        ) {
          throw invalid();
        }
        if (token.node_id !== null && token.node_id !== request.nodeId) {
          throw new EnrollRefusal(
            MasterErrorCode.joinTokenInvalid,
            `this join token was made for node ${token.node_id} only: enroll that node id (--node-id ${token.node_id}), or ask an admin for a token for ${request.nodeId}`,
            token.token_id,
            'token_for_other_node',
          );
        }
        const existing = await trx
          .selectFrom('nodes')
          .selectAll()
          .where('node_id', '=', request.nodeId)
          .executeTakeFirst();
        if (existing?.revoked_at != null) {
          throw new MasterError(
            MasterErrorCode.conflict,
            `node ${request.nodeId} was revoked and cannot enroll again under that id: give the agent a new node id`,
          );
        }
        const via =
          existing === undefined
            ? 'new'
            : token.node_id === request.nodeId
              ? 'node_token'
              : this.checkKeyProof(request, existing.key_epoch, token.token_id, nowMs);
        const used = await trx
          .updateTable('join_tokens')
          .set((eb) => ({ uses: eb('uses', '+', 1) }))
          .where('token_id', '=', token.token_id)
          .where((eb) => eb.or([eb('max_uses', 'is', null), eb('uses', '<', eb.ref('max_uses'))]))
          .executeTakeFirst();
        if (Number(used.numUpdatedRows) === 0) throw invalid();
        const epoch = existing === undefined ? 0 : existing.key_epoch + 1;
        const baseTags = mergeTags(existing === undefined ? {} : parseTags(existing.base_tags), parseTags(token.tags));
        const values = {
          name: request.name,
          key_epoch: epoch,
          mqtt_password_hash: hashSecret(mqttPassword),
          base_tags: JSON.stringify(baseTags),
          tags: JSON.stringify(baseTags),
          online: 0,
          connection_seq: 0,
          beat: 0,
          last_seen_at: null,
        };
        // Written only if nobody enrolled the id since it was read (another request, another
        // master): the loser is refused and rolls back, its token use with it.
        const written =
          existing === undefined
            ? await trx
                .insertInto('nodes')
                .values({ node_id: request.nodeId, ...values, facts: null, enrolled_at: nowMs, revoked_at: null })
                .onConflict((oc) => oc.column('node_id').doNothing())
                .returning('node_id')
                .execute()
            : await trx
                .updateTable('nodes')
                .set(values)
                .where('node_id', '=', request.nodeId)
                .where('key_epoch', '=', existing.key_epoch)
                .where('revoked_at', 'is', null)
                .returning('node_id')
                .execute();
        if (written.length === 0) {
          throw new EnrollRefusal(
            MasterErrorCode.nodeExists,
            `node ${request.nodeId} was enrolled by another request meanwhile: ${askForNodeToken(request.nodeId)}`,
            token.token_id,
            'enrolled_meanwhile',
          );
        }
        // After the row is ours and before COMMIT: if the broker refuses, the token stays unused
        // and nothing changed here.
        await this.options.setBrokerCredentials?.(request.nodeId, mqttPassword);
        await this.options.audit.record(trx, {
          actor,
          action: 'node.enroll',
          target: `node:${request.nodeId}`,
          details: { joinToken: token.token_id, keyEpoch: epoch, name: request.name, via },
        });
        return { epoch, tags: baseTags, reenrolled: existing !== undefined };
      });
    } catch (err) {
      if (err instanceof EnrollRefusal) {
        await this.options.audit.record(this.db, {
          actor,
          action: 'node.enroll_refused',
          target: `node:${request.nodeId}`,
          details: { joinToken: err.tokenId, reason: err.reason, code: err.code },
        });
      }
      throw err;
    }
    this.options.keys.set(request.nodeId, result.epoch, false);
    if (result.reenrolled) this.options.disconnectNode(request.nodeId);
    this.options.events.emit('node', request.nodeId);
    return {
      nodeId: request.nodeId,
      keyId: result.epoch,
      nodeKey: deriveNodeKey(this.options.masterSecret, request.nodeId, result.epoch).toString('base64'),
      topicPrefix: this.options.topicPrefix,
      mqtt: { url: this.options.agentMqttUrl(requestHost), username: request.nodeId, password: mqttPassword },
      tags: result.tags,
    };
  }

  /** An enrolled node enrolls again with an ordinary token only by proving its current key. */
  private checkKeyProof(request: EnrollRequest, currentEpoch: number, tokenId: string, nowMs: number): 'key_proof' {
    const proof = request.keyProof;
    const refuse = (reason: string, why: string): EnrollRefusal =>
      new EnrollRefusal(
        MasterErrorCode.nodeExists,
        `node ${request.nodeId} is already enrolled${why}: ${askForNodeToken(request.nodeId)}`,
        tokenId,
        reason,
      );
    if (proof === undefined) throw refuse('node_exists', ', and a join token enrolls only new node ids');
    if (proof.keyId !== currentEpoch) {
      throw refuse('key_proof_old_key', `, and the proof is made with key ${proof.keyId}, not its current key`);
    }
    const skewMs = Math.abs(proof.sentAt - nowMs);
    if (skewMs > DEFAULT_MAX_CLOCK_SKEW_MS) {
      throw refuse(
        'key_proof_stale',
        `, and the proof of its key is dated ${Math.round(skewMs / 1000)} s from the master's clock (at most ${DEFAULT_MAX_CLOCK_SKEW_MS / 1000} s): check the node's clock`,
      );
    }
    const key = deriveNodeKey(this.options.masterSecret, request.nodeId, currentEpoch);
    const fields = { nodeId: request.nodeId, keyId: proof.keyId, joinToken: request.token, sentAtMs: proof.sentAt };
    if (!enrollProofMatches(key, fields, proof.mac)) {
      throw refuse('key_proof_invalid', ", and the proof does not match the node's key");
    }
    return 'key_proof';
  }
}

function askForNodeToken(nodeId: string): string {
  return `to give it a new key, ask an admin for a join token made for it (edgestelle join-token create --node ${nodeId}), or enroll from the node's own state dir, whose key proves it is the node`;
}

/** A refusal that leaves an audit row (the request held a valid join token) and changes nothing else. */
class EnrollRefusal extends MasterError {
  constructor(
    code: MasterErrorCode,
    message: string,
    readonly tokenId: string,
    readonly reason: string,
  ) {
    super(code, message);
  }
}

function joinTokenDto(row: Selectable<JoinTokensTable>): JoinTokenDto {
  return {
    tokenId: row.token_id,
    description: row.description,
    tags: parseTags(row.tags),
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    maxUses: row.max_uses,
    uses: row.uses,
    revokedAt: row.revoked_at,
    nodeId: row.node_id,
  };
}
