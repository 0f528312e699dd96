import type { NodeDto } from '@edgestelle/protocol';

export { nodeUsage, type NodeUsage } from '@edgestelle/protocol';

export type NodeStatus = 'online' | 'busy' | 'offline' | 'revoked';
export const nodeStatuses: readonly NodeStatus[] = ['online', 'busy', 'offline', 'revoked'];

export function nodeStatus(node: NodeDto): NodeStatus {
  if (node.revokedAt !== null) return 'revoked';
  if (!node.online) return 'offline';
  return (node.facts?.runningRuns ?? 0) > 0 ? 'busy' : 'online';
}

export interface FleetFilter {
  /** Free text: matched against name, id, hostname, os, arch and tags. */
  text: string;
  /** `key=value`, or null for any. */
  tag: string | null;
  status: NodeStatus | null;
}

/** The tags of a node as `key=value` strings, sorted for display. */
export function tagPairs(node: NodeDto): string[] {
  return Object.entries(node.tags)
    .map(([key, value]) => `${key}=${value}`)
    .sort();
}

export function matchesFilter(node: NodeDto, filter: FleetFilter): boolean {
  if (filter.status !== null && nodeStatus(node) !== filter.status) return false;
  if (filter.tag !== null) {
    const [key = '', value = ''] = splitOnce(filter.tag, '=');
    if (node.tags[key] !== value) return false;
  }
  const needle = filter.text.trim().toLowerCase();
  if (needle === '') return true;
  const facts = node.facts;
  const haystack = [
    node.name,
    node.nodeId,
    facts?.hostname,
    facts?.os,
    facts?.osRelease,
    facts?.arch,
    ...tagPairs(node),
  ];
  return needle.split(/\s+/).every((word) => haystack.some((field) => field?.toLowerCase().includes(word) === true));
}

/**
 * Parses a tag expression as an operator types it — `role=edge site=berlin`, all of which
 * must match — into the shape of a job target. Null when a word is not key=value.
 */
export function parseTagExpression(expression: string): Record<string, string> | null {
  const tags: Record<string, string> = {};
  const words = expression
    .trim()
    .split(/[\s,]+/)
    .filter((word) => word !== '');
  if (words.length === 0) return null;
  for (const word of words) {
    const [key, value] = splitOnce(word, '=');
    if (key === undefined || value === undefined || key === '') return null;
    tags[key] = value;
  }
  return tags;
}

export function matchesTags(node: NodeDto, tags: Record<string, string>): boolean {
  return Object.entries(tags).every(([key, value]) => node.tags[key] === value);
}

function splitOnce(text: string, separator: string): [string, string] | [string] {
  const at = text.indexOf(separator);
  return at < 0 ? [text] : [text.slice(0, at), text.slice(at + separator.length)];
}
