/**
 * Every exit status of `edgestelle` — the client verbs, `edgestelle master` and
 * `edgestelle agent` — named, in one table (sysexits.h numbering where one fits, as Salt's
 * exitcodes.py does), so scripts and service managers can tell "a node failed" from "the master
 * is down". Documented in docs/CLI.md: never renumber one.
 */
export const ExitCode = {
  ok: 0,
  /**
   * The agent stopped on an error it has no name for (the CLI and the master answer 70); for
   * `edgestelle search`, no line matched (as grep says it).
   */
  failure: 1,
  /** The job ran, but at least one run did not succeed (failed, timed out, expired, …). */
  runsFailed: 2,
  /** The operator detached from a running job with Ctrl-C; it keeps running on the master. */
  detached: 3,
  /** Bad arguments or a request the master refused as invalid (EX_USAGE). */
  usage: 64,
  /** A request the master refused as contradicting its state, or too large (EX_DATAERR). */
  dataError: 65,
  /** No such node, job, run or token; no node matches the target (EX_NOINPUT). */
  notFound: 66,
  /** The master, or a database or broker the master needs, cannot be reached (EX_UNAVAILABLE). */
  unavailable: 69,
  /** A bug: the master answered 500, or an unexpected error in the CLI or the master (EX_SOFTWARE). */
  software: 70,
  /** The config file could not be read or written (EX_IOERR). */
  ioError: 74,
  /** The master throttled the request (HTTP 429, e.g. too many logins): try again later (EX_TEMPFAIL). */
  tempFailure: 75,
  /** The master answered something this CLI does not understand (EX_PROTOCOL). */
  protocol: 76,
  /** Not logged in, token expired or revoked, or the role may not do this (EX_NOPERM). */
  noPermission: 77,
  /** A config file, flag or setting is wrong or damaged, or a port is taken (EX_CONFIG). */
  config: 78,
  /** Interrupted by Ctrl-C (128 + SIGINT); a job was cancelled. */
  interrupted: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];
