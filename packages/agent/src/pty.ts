import type { Logger } from 'pino';
import { loadNativePty } from './native-pty.ts';
import type { PtySpawner } from './pty-spawner.ts';
import { probeScriptPty } from './script-pty.ts';

/**
 * node-pty when its native module loads (it may be missing, or built for another platform, as
 * in the one-file bundle); otherwise `script(1)`, if a trial session on this node proves it
 * works. Undefined when neither does: PTY requests are then refused and the agent carries on.
 */
export async function loadPty(logger: Logger): Promise<PtySpawner | undefined> {
  const native = await loadNativePty((err) => logger.info({ err }, 'node-pty is not available here'));
  if (native !== undefined) return native;
  const script = await probeScriptPty();
  if (script.ok) {
    logger.info('PTY sessions use script(1): node-pty is not available');
    return script.spawner;
  }
  logger.info({ reason: script.reason }, 'no PTY support here: PTY runs and shell sessions will be refused');
  return undefined;
}
