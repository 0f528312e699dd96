/**
 * The master's link to its broker, as the rest of the master sees it: agents' `evt` and `state`
 * messages come in through the `onMessage` given when it is opened, commands go out through
 * {@link MqttLink.publish}. Over TCP to an external broker (mqtt-link.ts) or in-process to the
 * embedded one (embedded-link.ts).
 */
export interface MqttLink {
  /** QoS 1, not retained, through a bounded window; resolves once the broker has taken it. */
  publish(topic: string, payload: Buffer): Promise<void>;
  connected(): boolean;
  /** Nothing reaches `onMessage` once this resolves. */
  close(): Promise<void>;
}

/** Called per message, in arrival order; the broker has no PUBACK for it until this resolves (back-pressure). */
export type OnLinkMessage = (topic: string, payload: Buffer) => Promise<void>;

/** The size of every link's in-flight window for commands. */
export const LINK_WINDOW_SIZE = 100;
