// A namespace import, as elsewhere in protocol: the agent's bundle keeps only the zod it uses.
import * as z from 'zod';

/**
 * The protocol generation this code speaks: the `v1` of every MQTT topic and of `/api/v1`. It
 * changes only with a change that breaks an older agent, master or CLI; `edgestelle version`
 * warns when the CLI and the master differ in it.
 */
export const PROTOCOL_VERSION = 1;

/** `GET /api/v1/version`: the master's release and protocol generation. */
export const versionInfoSchema = z.object({
  version: z.string().min(1),
  protocol: z.number().int().min(1),
});
export type VersionInfo = z.infer<typeof versionInfoSchema>;
