import { describe, expect, it } from 'vitest';
import { LoginThrottle } from './login-throttle.ts';

describe('LoginThrottle', () => {
  it('refuses a username after its failures until the window ends, and counts addresses apart', () => {
    let nowMs = 1_000_000;
    const throttle = new LoginThrottle({ now: () => nowMs }, { perUser: 3, perAddress: 5, windowMs: 60_000 });
    for (let i = 0; i < 3; i += 1) {
      expect(throttle.retryAfterSec('alice', '10.0.0.1')).toBe(0);
      throttle.failed('alice', '10.0.0.1');
    }
    expect(throttle.retryAfterSec('alice', '10.0.0.2')).toBe(60);
    expect(throttle.retryAfterSec('Alice', '10.0.0.2')).toBe(60);
    expect(throttle.retryAfterSec('bob', '10.0.0.1')).toBe(0);
    nowMs += 45_000;
    expect(throttle.retryAfterSec('alice', '10.0.0.2')).toBe(15);
    nowMs += 15_000;
    expect(throttle.retryAfterSec('alice', '10.0.0.2')).toBe(0);
  });

  it('refuses an address that tries many usernames, and a good login clears only the username', () => {
    const nowMs = 5_000;
    const throttle = new LoginThrottle({ now: () => nowMs }, { perUser: 3, perAddress: 4, windowMs: 60_000 });
    for (const name of ['a', 'b', 'c', 'd']) throttle.failed(name, '192.0.2.9');
    expect(throttle.retryAfterSec('e', '192.0.2.9')).toBe(60);
    expect(throttle.retryAfterSec('e', '192.0.2.10')).toBe(0);
    throttle.failed('carol', '192.0.2.11');
    throttle.failed('carol', '192.0.2.11');
    throttle.succeeded('carol');
    throttle.failed('carol', '192.0.2.11');
    expect(throttle.retryAfterSec('carol', '192.0.2.12')).toBe(0);
  });
});
