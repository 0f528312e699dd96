import { describe, expect, it } from 'vitest';
import { ProtocolError, ProtocolErrorCode } from './errors.ts';
import { Topics, assertNodeId, isValidNodeId } from './topics.ts';

const topics = new Topics();

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof ProtocolError ? err.code : 'not a ProtocolError';
  }
  return undefined;
}

describe('node ids', () => {
  it.each(['a', '0', 'edge-01', 'a'.repeat(64), 'x-'])('accepts %s', (id) => {
    expect(isValidNodeId(id)).toBe(true);
  });

  it.each(['', '-a', 'A', 'a_b', 'a/b', 'a+b', 'a#', '$sys', 'a'.repeat(65), 'a b', 'é', 'a\0'])('rejects %j', (id) => {
    expect(codeOf(() => assertNodeId(id))).toBe(ProtocolErrorCode.nodeIdInvalid);
  });
});

describe('topics', () => {
  it('builds the three channels of a node', () => {
    expect(topics.node('edge-01', 'cmd')).toBe('edgestelle/v1/nodes/edge-01/cmd');
    expect(topics.node('edge-01', 'evt')).toBe('edgestelle/v1/nodes/edge-01/evt');
    expect(topics.node('edge-01', 'state')).toBe('edgestelle/v1/nodes/edge-01/state');
  });

  it('parses what it builds, for every channel and a nested prefix', () => {
    const nested = new Topics('acme/prod');
    for (const channel of ['cmd', 'evt', 'state'] as const) {
      expect(nested.parse(nested.node('n1', channel))).toEqual({ nodeId: 'n1', channel });
    }
  });

  it('builds subscription filters, plain and shared, and the ACL pattern', () => {
    expect(topics.allNodes('evt')).toBe('edgestelle/v1/nodes/+/evt');
    expect(topics.sharedAllNodes('evt', 'edgestelle')).toBe('$share/edgestelle/edgestelle/v1/nodes/+/evt');
    expect(topics.aclPattern()).toBe('edgestelle/v1/nodes/%u/#');
  });

  it('refuses to build a topic for an invalid node id', () => {
    expect(codeOf(() => topics.node('a/b', 'cmd'))).toBe(ProtocolErrorCode.nodeIdInvalid);
    expect(codeOf(() => topics.node('+', 'cmd'))).toBe(ProtocolErrorCode.nodeIdInvalid);
    expect(codeOf(() => topics.node('#', 'cmd'))).toBe(ProtocolErrorCode.nodeIdInvalid);
  });

  it.each([
    '',
    'edgestelle/v1/nodes/n1',
    'edgestelle/v1/nodes/n1/cmd/extra',
    'edgestelle/v2/nodes/n1/cmd',
    'other/v1/nodes/n1/cmd',
    'edgestelle/v1/node/n1/cmd',
    'edgestelle/v1/nodes/n1/other',
    'edgestelle/v1/nodes/#',
    '/edgestelle/v1/nodes/n1/cmd',
  ])('rejects foreign or malformed topic %j', (topic) => {
    expect(codeOf(() => topics.parse(topic))).toBe(ProtocolErrorCode.topicInvalid);
  });

  it.each(['Bad_Id', '+', '', '-x'])('rejects node id %j inside a well-formed topic', (nodeId) => {
    expect(codeOf(() => topics.parse(`edgestelle/v1/nodes/${nodeId}/cmd`))).toBe(ProtocolErrorCode.nodeIdInvalid);
  });

  it.each(['', '$SYS', 'a/+', 'a/#', 'a//b', 'a/b/c/d/e', 'a b'])('refuses prefix %j', (prefix) => {
    expect(codeOf(() => new Topics(prefix))).toBe(ProtocolErrorCode.topicInvalid);
  });

  it('refuses a shared-subscription group with a separator or wildcard', () => {
    expect(codeOf(() => topics.sharedAllNodes('evt', 'a/b'))).toBe(ProtocolErrorCode.topicInvalid);
    expect(codeOf(() => topics.sharedAllNodes('evt', '+'))).toBe(ProtocolErrorCode.topicInvalid);
  });
});
