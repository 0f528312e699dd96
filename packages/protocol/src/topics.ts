import { ProtocolError, ProtocolErrorCode } from './errors.ts';
import { PROTOCOL_VERSION } from './version.ts';

/**
 * The only module that builds or parses topic strings. Node ids end up in topics, broker ACL
 * patterns and file paths, so they are held to a tight alphabet: no wildcard (`+`, `#`), no
 * separator (`/`), nothing a path or an ACL could misread.
 */
export const NODE_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,63}$/;

/** A prefix is one or more plain segments: no wildcard, no leading `$` (reserved by brokers). */
const PREFIX_SEGMENT_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
const MAX_PREFIX_SEGMENTS = 4;

export const DEFAULT_TOPIC_PREFIX = 'edgestelle';
export const PROTOCOL_VERSION_SEGMENT = `v${PROTOCOL_VERSION}`;

export const channels = ['cmd', 'evt', 'state', 'shell'] as const;
export type Channel = (typeof channels)[number];

export interface NodeRoute {
  nodeId: string;
  channel: Channel;
}

export function isValidNodeId(value: string): boolean {
  return NODE_ID_PATTERN.test(value);
}

export function assertNodeId(value: string): string {
  if (!isValidNodeId(value)) {
    throw new ProtocolError(
      ProtocolErrorCode.nodeIdInvalid,
      `node id ${JSON.stringify(value.slice(0, 80))} is invalid: use 1-64 characters of a-z, 0-9 and '-', starting with a letter or digit`,
    );
  }
  return value;
}

function isChannel(value: string): value is Channel {
  return (channels as readonly string[]).includes(value);
}

/**
 * Topic builder and parser for one prefix. Construct once from config; every topic string
 * the agent or the master uses comes from here, in both directions.
 */
export class Topics {
  readonly prefix: string;
  private readonly prefixSegments: readonly string[];

  constructor(prefix: string = DEFAULT_TOPIC_PREFIX) {
    const segments = prefix.split('/');
    if (segments.length > MAX_PREFIX_SEGMENTS || !segments.every((segment) => PREFIX_SEGMENT_PATTERN.test(segment))) {
      throw new ProtocolError(
        ProtocolErrorCode.topicInvalid,
        `topic prefix ${JSON.stringify(prefix.slice(0, 80))} is invalid: use up to ${MAX_PREFIX_SEGMENTS} '/'-separated segments of A-Z, a-z, 0-9, '_' and '-'`,
      );
    }
    this.prefix = prefix;
    this.prefixSegments = segments;
  }

  /** `{p}/v1/nodes/{nodeId}/{channel}` for one node. */
  node(nodeId: string, channel: Channel): string {
    assertNodeId(nodeId);
    return `${this.prefix}/${PROTOCOL_VERSION_SEGMENT}/nodes/${nodeId}/${channel}`;
  }

  /** The subscription filter for one channel of every node, e.g. `{p}/v1/nodes/+/evt`. */
  allNodes(channel: Channel): string {
    return `${this.prefix}/${PROTOCOL_VERSION_SEGMENT}/nodes/+/${channel}`;
  }

  /**
   * The same filter as a shared subscription, so several masters split the ingest
   * (`$share/{group}/…`, accepted from MQTT 3.1.1 clients by Mosquitto and EMQX).
   */
  sharedAllNodes(channel: Channel, group: string): string {
    if (!PREFIX_SEGMENT_PATTERN.test(group)) {
      throw new ProtocolError(
        ProtocolErrorCode.topicInvalid,
        `shared subscription group ${JSON.stringify(group.slice(0, 80))} is invalid: use A-Z, a-z, 0-9, '_' and '-'`,
      );
    }
    return `$share/${group}/${this.allNodes(channel)}`;
  }

  /**
   * The broker ACL pattern (Mosquitto `pattern` syntax, `%u` = the username = the node id)
   * that confines a node to its own topics.
   */
  aclPattern(): string {
    return `${this.prefix}/${PROTOCOL_VERSION_SEGMENT}/nodes/%u/#`;
  }

  /** Parses a concrete topic; anything that is not exactly one of ours is refused. */
  parse(topic: string): NodeRoute {
    const segments = topic.split('/');
    const n = this.prefixSegments.length;
    const valid =
      segments.length === n + 4 &&
      this.prefixSegments.every((segment, i) => segments[i] === segment) &&
      segments[n] === PROTOCOL_VERSION_SEGMENT &&
      segments[n + 1] === 'nodes';
    const nodeId = segments[n + 2];
    const channel = segments[n + 3];
    if (!valid || nodeId === undefined || channel === undefined || !isChannel(channel)) {
      throw new ProtocolError(
        ProtocolErrorCode.topicInvalid,
        `topic ${JSON.stringify(topic.slice(0, 200))} is not an EdgeStelle v1 node topic under prefix '${this.prefix}'`,
      );
    }
    return { nodeId: assertNodeId(nodeId), channel };
  }
}
