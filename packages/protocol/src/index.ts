/**
 * Protocol v1, browser-safe part: topics, message schemas and types, ids, limits, error codes.
 * The sealed envelope (node:crypto) is the separate entry point `@edgestelle/protocol/envelope`.
 */
export { AppError, describeError } from './app-error.ts';
export { ProtocolError, ProtocolErrorCode, isProtocolError, protocolErrorCodes } from './errors.ts';
export { ID_PATTERN, idTimeMs, newId } from './ids.ts';
export { limits } from './limits.ts';
export {
  acceptedEventSchema,
  ackCommandSchema,
  cancelCommandSchema,
  channelSchemas,
  chunkDataSchema,
  commandSchema,
  epochMsSchema,
  eventSchema,
  exitedEventSchema,
  idSchema,
  interpreterSchema,
  namedInterpreters,
  nodeFactsSchema,
  nodeIdSchema,
  outputEventSchema,
  outputStreams,
  outputStreamSchema,
  pingCommandSchema,
  pongEventSchema,
  rejectedEventSchema,
  rejectionCodes,
  rejectionCodeSchema,
  runCommandSchema,
  runOutcomes,
  runOutcomeSchema,
  runSpecSchema,
  seqSchema,
  startedEventSchema,
  stateMessageSchema,
  tagsSchema,
} from './messages.ts';
export type {
  AckCommand,
  AgentEvent,
  Command,
  ExitedEvent,
  Message,
  NodeFacts,
  OutputEvent,
  OutputStream,
  RunCommand,
  RunOutcome,
  RunSpec,
  RunSpecInput,
  StateMessage,
} from './messages.ts';
export { describeIssues, fieldIssues } from './schema-errors.ts';
export type { FieldIssue } from './schema-errors.ts';
export { DEFAULT_TOPIC_PREFIX, NODE_ID_PATTERN, Topics, assertNodeId, channels, isValidNodeId } from './topics.ts';
export type { Channel, NodeRoute } from './topics.ts';
export {
  apiErrorSchema,
  chunkDtoSchema,
  enrollRequestSchema,
  enrollResponseSchema,
  isTerminalRunState,
  jobCreateSchema,
  jobDtoSchema,
  jobStateSchema,
  jobStates,
  joinTokenCreateSchema,
  joinTokenCreatedSchema,
  joinTokenDtoSchema,
  liveClientMessageSchema,
  liveServerMessageSchema,
  nodeDtoSchema,
  outputPageSchema,
  pageSchema,
  rolloutLimitSchema,
  runCountsSchema,
  runDtoSchema,
  runStateSchema,
  runStates,
  targetSchema,
  terminalRunStates,
} from './api.ts';
export type {
  ApiError,
  ChunkDto,
  EnrollRequest,
  EnrollResponse,
  JobCreate,
  JobDto,
  JoinTokenCreate,
  JoinTokenCreated,
  JoinTokenDto,
  LiveClientMessage,
  LiveServerMessage,
  NodeDto,
  OutputPage,
  RolloutLimit,
  RunDto,
  RunState,
  Target,
} from './api.ts';
