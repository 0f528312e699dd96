import { ADMIN, startMaster, type InProcessMaster } from '@edgestelle/fleet-fixture';

export { ADMIN };
export const VIEWER = { username: 'vera', password: 'e2e-viewer-password' };

/**
 * The fleet every console test starts from: a master serving the console built from the current
 * source, the viewer VIEWER, and real agents tagged site=e2e, role edge (names ending in 1) or gateway.
 */
export async function startConsoleStack(agentNames: readonly string[]): Promise<InProcessMaster> {
  // The console shows what the sweeper finds, so it runs at the master's own pace here.
  const stack = await startMaster({ console: true, deps: { sweepIntervalMs: undefined } });
  try {
    await stack.admin.createUser(VIEWER.username, 'viewer', VIEWER.password);
    for (const name of agentNames)
      await stack.startAgent(name, { tags: { site: 'e2e', role: name.endsWith('1') ? 'edge' : 'gateway' } });
    return stack;
  } catch (err) {
    await stack[Symbol.asyncDispose]();
    throw err;
  }
}
