/** Kept in step with package.json by the release script; the agent reports its own. */
export const CLI_VERSION = '0.1.0';
