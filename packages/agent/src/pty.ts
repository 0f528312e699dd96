import type { IPty, IPtyForkOptions } from '@lydell/node-pty';

export interface PtyModule {
  spawn(file: string, args: string[], options: IPtyForkOptions): IPty;
}

/**
 * node-pty is optional: it is a native module that may be missing or built for another
 * platform. Loaded once, on the first PTY run; if it fails, PTY runs are refused and the agent
 * carries on.
 */
export async function loadPty(onFailure: (err: unknown) => void): Promise<PtyModule | undefined> {
  try {
    const loaded = await import('@lydell/node-pty');
    return { spawn: (file, args, options) => loaded.spawn(file, args, options) };
  } catch (err) {
    onFailure(err);
    return undefined;
  }
}
