import { createRequire } from 'node:module';
import { Readable } from 'node:stream';

interface RetainedPacket {
  topic: string;
  payload: Buffer | string;
}

/** What this module replaces of aedes-persistence's memory persistence; Aedes uses the rest as is. */
interface MemoryPersistence {
  storeRetained(packet: RetainedPacket, cb?: (error: Error | null) => void): Promise<void>;
  createRetainedStream(filter: string): Readable;
  createRetainedStreamCombi(filters: string[]): Readable;
}

// The package's typings declare an ES default export that its CommonJS entry does not have
// (module.exports is the factory itself), so it is loaded the CommonJS way.
// eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- typed by the interface above
const memory: () => MemoryPersistence = createRequire(import.meta.url)('aedes-persistence');

/**
 * Aedes's in-memory persistence, with retained messages found by topic. The stock one tests
 * every retained message against each filter of every SUBSCRIBE; with one retained `state` per
 * node, a fleet connecting cost O(nodes²) topic tests (10⁸ for 10,000 nodes, a third of the
 * master's CPU while they came online). An agent subscribes to one exact topic, answered by one
 * lookup; a filter with wildcards (the master's, once per connection) still scans.
 */
export function brokerPersistence(): MemoryPersistence {
  const persistence = memory();
  const retained = new Map<string, RetainedPacket>();
  function* matching(filters: readonly string[]): Generator<RetainedPacket> {
    for (const filter of filters) {
      if (!filter.includes('+') && !filter.includes('#')) {
        const packet = retained.get(filter);
        if (packet !== undefined) yield packet;
        continue;
      }
      for (const [topic, packet] of retained) if (topicMatches(filter, topic)) yield packet;
    }
  }
  // Aedes 1 awaits the promise; the callback is the older persistence API's.
  persistence.storeRetained = (packet, cb) => {
    if (packet.payload.length === 0) retained.delete(packet.topic);
    else retained.set(packet.topic, { ...packet });
    if (cb !== undefined) process.nextTick(cb, null);
    return Promise.resolve();
  };
  persistence.createRetainedStream = (filter) => Readable.from(matching([filter]));
  persistence.createRetainedStreamCombi = (filters) => Readable.from(matching(filters));
  return persistence;
}

/** MQTT 3.1.1 §4.7: `+` is one level, a trailing `#` any number (none included); `$` topics need a literal first level. */
export function topicMatches(filter: string, topic: string): boolean {
  const wanted = filter.split('/');
  const levels = topic.split('/');
  if (topic.startsWith('$') && (wanted[0] === '+' || wanted[0] === '#')) return false;
  for (const [i, level] of wanted.entries()) {
    if (level === '#') return i === wanted.length - 1;
    if (i >= levels.length || (level !== '+' && level !== levels[i])) return false;
  }
  return wanted.length === levels.length;
}
