import { describe, expect, it } from 'vitest';
import { SequencedInbox } from './sequenced-inbox.ts';

describe('SequencedInbox', () => {
  it('applies in seq order once each, holding early ones until the gap fills', () => {
    const applied: string[] = [];
    const inbox = new SequencedInbox<string>({ apply: (m) => applied.push(m), onOverflow: () => applied.push('!') });
    inbox.receive(2, 'c');
    inbox.receive(0, 'a');
    inbox.receive(0, 'a again');
    inbox.receive(2, 'c again');
    expect(applied).toEqual(['a']);
    inbox.receive(1, 'b');
    expect(applied).toEqual(['a', 'b', 'c']);
    expect(inbox.applied).toBe(3);
  });

  it('gives up once, and applies nothing more, when a gap never fills', () => {
    let overflows = 0;
    const applied: number[] = [];
    const inbox = new SequencedInbox<number>({ apply: (m) => applied.push(m), onOverflow: () => (overflows += 1) });
    for (let seq = 1; seq <= 300; seq++) inbox.receive(seq, seq);
    inbox.receive(0, 0);
    expect(overflows).toBe(1);
    expect(applied).toEqual([]);
  });
});
