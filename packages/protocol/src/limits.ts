/**
 * Every size the protocol accepts, in one place. Receivers check the envelope size before
 * any crypto, and every schema field is bounded by one of these.
 */
export const limits = {
  /** Largest sealed envelope on any topic; brokers are configured to the same cap. */
  envelopeMaxBytes: 512 * 1024,
  /** Largest output chunk's data; agents cut chunks well below this (see the agent's chunker). */
  chunkMaxBytes: 64 * 1024,
  /** Largest script body (UTF-16 code units; UTF-8 may be up to 3x, still under the envelope cap). */
  scriptMaxChars: 128 * 1024,
  commandMaxChars: 16 * 1024,
  argsMaxCount: 256,
  argMaxChars: 4096,
  envMaxCount: 128,
  envValueMaxChars: 8192,
  pathMaxChars: 4096,
  /** Longest a run may last once started. */
  timeoutMaxMs: 7 * 24 * 3600 * 1000,
  /** How long a job's runs wait for offline nodes unless it says otherwise (JobCreate.offlineDeadlineMs). */
  offlineDeadlineDefaultMs: 10 * 60 * 1000,
  killGraceMaxMs: 10 * 60 * 1000,
  acksMaxCount: 1024,
  tagsMaxCount: 64,
  tagValueMaxChars: 128,
  reasonMaxChars: 1024,
  /** Largest keystroke or output message of a shell session. */
  shellDataMaxBytes: 32 * 1024,
  terminalMaxCols: 1000,
  terminalMaxRows: 1000,
  /** Highest chunk seq: 2^31-1 chunks of up to 64 KiB is far beyond any spool cap. */
  seqMax: 2 ** 31 - 1,
} as const;
