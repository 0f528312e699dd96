import { randomUUID } from 'node:crypto';
import { DEFAULT_TOPIC_PREFIX, Topics, describeError, isValidNodeId } from '@edgestelle/protocol';
import type { MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import {
  DYNSEC_REQUEST_TOPIC,
  DYNSEC_RESPONSE_TOPIC,
  dynsecClientSchema,
  dynsecResponseSchema,
  isAlreadyExists,
  isNotFound,
  type Acl,
  type DynsecCommand,
} from './dynsec-commands.ts';
import { MasterError, MasterErrorCode } from '../errors.ts';

export interface MosquittoSyncOptions {
  /** Topic prefix of this installation (default `edgestelle`). */
  topicPrefix?: string;
  /** Group of the masters' shared subscriptions, `$share/{group}/…` (default `edgestelle`). */
  sharedGroup?: string;
  /** How long to wait for the broker's answer to one batch of commands. */
  responseTimeoutMs?: number;
  logger?: Logger;
}

/** Role names hold a ':' so they can never be a node id and never collide with one. */
export const MASTER_ROLE = 'edgestelle:master';
export function nodeRoleName(nodeId: string): string {
  return `edgestelle:node:${nodeId}`;
}

interface BatchResult {
  errors: string[];
  data: unknown[];
}

interface Answer {
  error: string | undefined;
  data: unknown;
}

interface Pending {
  remaining: Set<string>;
  answers: Map<string, Answer>;
  resolve: (answers: Map<string, Answer>) => void;
  reject: (err: Error) => void;
}

/**
 * Keeps Mosquitto's users and ACLs in step with the master's nodes, through the broker's
 * dynamic-security plugin over MQTT: no shared files, no signals, works from every master of
 * a scale-out, and the broker cuts a removed node's live connection itself.
 *
 * The client it is given must be connected as a user with rights on `$CONTROL/dynamic-security/#`
 * (the user made by `mosquitto_ctrl dynsec init`, or one that {@link ensureMaster} made). It
 * subscribes to the response topic and ignores every other message on that client.
 *
 * Every operation is idempotent: repeating it leaves the broker as one call would.
 */
export class MosquittoSync {
  private readonly topics: Topics;
  private readonly sharedGroup: string;
  private readonly responseTimeoutMs: number;
  private readonly logger: Logger | undefined;
  private readonly pending = new Map<string, Pending>();
  private subscribed: Promise<void> | undefined;
  private readonly onMessage = (topic: string, payload: Buffer): void => {
    if (topic === DYNSEC_RESPONSE_TOPIC) this.handleResponse(payload);
  };

  constructor(
    private readonly client: MqttClient,
    options: MosquittoSyncOptions = {},
  ) {
    this.topics = new Topics(options.topicPrefix ?? DEFAULT_TOPIC_PREFIX);
    this.sharedGroup = options.sharedGroup ?? 'edgestelle';
    this.responseTimeoutMs = options.responseTimeoutMs ?? 10_000;
    this.logger = options.logger;
    client.on('message', this.onMessage);
  }

  /**
   * Lets the node log in with this password and reach only its own topics: publish to its evt
   * and state, subscribe to its cmd. A new password for a known node cuts its live connection,
   * so an old credential stops working at once.
   */
  async upsertNode(nodeId: string, password: string): Promise<void> {
    this.assertNodeId(nodeId);
    const rolename = nodeRoleName(nodeId);
    const acls: Acl[] = [
      { acltype: 'publishClientSend', topic: this.topics.node(nodeId, 'evt'), allow: true },
      { acltype: 'publishClientSend', topic: this.topics.node(nodeId, 'state'), allow: true },
      { acltype: 'publishClientSend', topic: this.topics.node(nodeId, 'shell'), allow: true },
      // Literal: the node may subscribe to exactly its cmd topic, not to a filter that covers it.
      { acltype: 'subscribeLiteral', topic: this.topics.node(nodeId, 'cmd'), allow: true },
    ];
    await this.ensureRole(rolename, acls);
    await this.ensureClient(nodeId, password, rolename, true);
    this.logger?.info({ nodeId }, 'broker credentials of node set');
  }

  /** Deletes the node's broker user and role; Mosquitto disconnects it if it is connected. */
  async removeNode(nodeId: string): Promise<void> {
    this.assertNodeId(nodeId);
    await this.run(
      [
        { command: 'deleteClient', username: nodeId },
        { command: 'deleteRole', rolename: nodeRoleName(nodeId) },
      ],
      isNotFound,
    );
    this.logger?.info({ nodeId }, 'broker credentials of node removed');
  }

  /**
   * Gives a master's MQTT user its rights: publish every node's cmd, subscribe to every node's
   * evt and state (plain or shared), and manage the broker's users. A master's username holds a
   * ':' so it can never be a node id. The password of the user this client is connected as is
   * left alone: the connection proves it, and resetting it would cut this very connection.
   */
  async ensureMaster(username: string, password: string): Promise<void> {
    if (!username.includes(':') || username.length > 128) {
      throw new MasterError(
        MasterErrorCode.brokerUsernameInvalid,
        `master MQTT username ${JSON.stringify(username.slice(0, 80))} must contain ':' (e.g. 'edgestelle:master') so it can never be a node id`,
      );
    }
    const acls: Acl[] = [
      { acltype: 'publishClientSend', topic: this.topics.allNodes('cmd'), allow: true },
      { acltype: 'subscribePattern', topic: this.topics.allNodes('evt'), allow: true },
      { acltype: 'subscribePattern', topic: this.topics.allNodes('state'), allow: true },
      // Not shared: a shell session's output goes to every master, and the one holding it relays it.
      { acltype: 'subscribePattern', topic: this.topics.allNodes('shell'), allow: true },
      { acltype: 'subscribeLiteral', topic: this.topics.sharedAllNodes('evt', this.sharedGroup), allow: true },
      { acltype: 'subscribeLiteral', topic: this.topics.sharedAllNodes('state', this.sharedGroup), allow: true },
      { acltype: 'publishClientSend', topic: DYNSEC_REQUEST_TOPIC, allow: true },
      { acltype: 'subscribeLiteral', topic: DYNSEC_RESPONSE_TOPIC, allow: true },
      // Mosquitto's default "receive allowed" does not cover $CONTROL: without this the
      // subscription is granted and the answers never arrive.
      { acltype: 'publishClientReceive', topic: DYNSEC_RESPONSE_TOPIC, allow: true },
    ];
    await this.ensureRole(MASTER_ROLE, acls);
    const isSelf = this.client.options.username === username;
    await this.ensureClient(username, password, MASTER_ROLE, !isSelf);
    this.logger?.info({ username }, 'broker rights of master set');
  }

  /** Stops listening on the client; the client itself stays open (its owner ends it). */
  close(): void {
    this.client.removeListener('message', this.onMessage);
    for (const pending of this.pending.values()) {
      pending.reject(
        new MasterError(MasterErrorCode.brokerSecurityUnreachable, 'stopped waiting for the broker: closed'),
      );
    }
    this.pending.clear();
  }

  private async ensureRole(rolename: string, acls: Acl[]): Promise<void> {
    const created = await this.run([{ command: 'createRole', rolename, acls }], isAlreadyExists);
    if (created.errors.length === 0) return;
    // The role was there already: make sure it holds every ACL (a partly made role heals).
    await this.run(
      acls.map((acl) => ({ command: 'addRoleACL', rolename, ...acl })),
      isAlreadyExists,
    );
  }

  private async ensureClient(
    username: string,
    password: string,
    rolename: string,
    setPassword: boolean,
  ): Promise<void> {
    const created = await this.run(
      [{ command: 'createClient', username, password, roles: [{ rolename }] }],
      isAlreadyExists,
    );
    if (created.errors.length === 0) return;
    const commands: DynsecCommand[] = [];
    if (setPassword) commands.push({ command: 'setClientPassword', username, password });
    // Mosquitto 2.0.11 answers "Internal error" to adding a role a client already has: look first.
    const { data } = await this.run([{ command: 'getClient', username }], () => false);
    const client = dynsecClientSchema.safeParse(data[0]);
    if (!client.success || !client.data.client.roles.some((role) => role.rolename === rolename)) {
      commands.push({ command: 'addClientRole', username, rolename });
    }
    if (commands.length > 0) await this.run(commands, () => false);
  }

  /**
   * Sends one batch and waits for every answer. Errors that `tolerated` accepts are returned
   * (the caller decides what they mean); any other error is thrown. `data` holds each
   * command's answer data, in order.
   */
  private async run(commands: DynsecCommand[], tolerated: (error: string) => boolean): Promise<BatchResult> {
    await this.subscribe();
    const batchId = randomUUID();
    const tagged = commands.map((command, i) => ({ ...command, correlationData: `${batchId}:${i}` }));
    const answered = new Promise<Pending['answers']>((resolve, reject) => {
      this.pending.set(batchId, {
        remaining: new Set(tagged.map((c) => c.correlationData)),
        answers: new Map(),
        resolve,
        reject,
      });
    });
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(
          new MasterError(
            MasterErrorCode.brokerSecurityTimeout,
            `the broker did not answer ${commands.map((c) => c.command).join(', ')} within ${this.responseTimeoutMs} ms: is Mosquitto's dynamic-security plugin loaded, and may this MQTT user publish to ${DYNSEC_REQUEST_TOPIC}?`,
          ),
        );
      }, this.responseTimeoutMs);
    });
    try {
      await this.client.publishAsync(DYNSEC_REQUEST_TOPIC, JSON.stringify({ commands: tagged }), { qos: 1 });
      const answers = await Promise.race([answered, timedOut]);
      const result: BatchResult = { errors: [], data: [] };
      for (const command of tagged) {
        const answer = answers.get(command.correlationData);
        result.data.push(answer?.data);
        const error = answer?.error;
        if (error === undefined) continue;
        if (!tolerated(error)) {
          throw new MasterError(
            MasterErrorCode.brokerSecurityRefused,
            `the broker refused ${command.command}: ${error}`,
          );
        }
        result.errors.push(error);
      }
      return result;
    } catch (err) {
      if (err instanceof MasterError) throw err;
      throw new MasterError(
        MasterErrorCode.brokerSecurityUnreachable,
        `could not send ${commands.map((c) => c.command).join(', ')} to the broker: ${describeError(err)}`,
        { cause: err },
      );
    } finally {
      clearTimeout(timer);
      this.pending.delete(batchId);
    }
  }

  private subscribe(): Promise<void> {
    this.subscribed ??= this.client.subscribeAsync(DYNSEC_RESPONSE_TOPIC, { qos: 1 }).then(
      () => undefined,
      (err: unknown) => {
        this.subscribed = undefined;
        // mqtt.js rejects a refused subscription (SUBACK 128) like any other failure.
        throw new MasterError(
          MasterErrorCode.brokerSecurityRefused,
          `the broker refused this MQTT user a subscription to ${DYNSEC_RESPONSE_TOPIC} (${describeError(err)}): connect as the dynamic-security admin user or a master user`,
          { cause: err },
        );
      },
    );
    return this.subscribed;
  }

  private handleResponse(payload: Buffer): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(payload.toString('utf8'));
    } catch (err) {
      this.logger?.warn({ err }, 'ignored a dynamic-security response that is not JSON');
      return;
    }
    const result = dynsecResponseSchema.safeParse(parsed);
    if (!result.success) {
      this.logger?.warn({ issues: result.error.issues }, 'ignored a malformed dynamic-security response');
      return;
    }
    for (const response of result.data.responses) {
      const correlationData = response.correlationData;
      if (correlationData === undefined) continue;
      const batchId = correlationData.slice(0, correlationData.lastIndexOf(':'));
      const pending = this.pending.get(batchId);
      if (pending === undefined || !pending.remaining.delete(correlationData)) continue;
      pending.answers.set(correlationData, { error: response.error, data: response.data });
      if (pending.remaining.size === 0) pending.resolve(pending.answers);
    }
  }

  private assertNodeId(nodeId: string): void {
    if (!isValidNodeId(nodeId)) {
      throw new MasterError(
        MasterErrorCode.brokerUsernameInvalid,
        `node id ${JSON.stringify(nodeId.slice(0, 80))} is invalid: use 1-64 characters of a-z, 0-9 and '-'`,
      );
    }
  }
}
