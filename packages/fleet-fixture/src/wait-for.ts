export interface WaitOptions {
  /** Give up after this long; default 20 s. */
  timeoutMs?: number;
  /** Pause between two checks; default 25 ms. */
  intervalMs?: number;
}

/**
 * Checks until `check` gives a value (anything but undefined or false) and returns it; bounded
 * in time, never a fixed sleep. `what` names what is awaited in the timeout error; a function
 * is called only then, so it can describe the last state seen.
 */
export async function waitFor<T>(
  what: string | (() => string),
  check: () => T | undefined | false | Promise<T | undefined | false>,
  opts: WaitOptions = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((resolve) => setTimeout(resolve, opts.intervalMs ?? 25));
  }
}
