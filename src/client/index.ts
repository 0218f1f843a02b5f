/**
 * `bifrost-config/client`: the dependency-free service client of the Bifrost
 * configuration and secrets service, for the workflow engine.
 */
export { BifrostClient } from './client';
export { ConfigClient } from './config';
export { ExecutionClient, toErrorInfo } from './execution';
export {
  BifrostError,
  ConfigNotFoundError,
  ConflictError,
  ConnectionError,
  DecryptionFailedError,
  ExecutionNotStartedError,
  ForbiddenError,
  InvalidValueError,
  NotFoundError,
  PayloadTooLargeError,
  RateLimitedError,
  SecretValueMissingError,
  ServerError,
  ServiceUnavailableError,
  TimeoutError,
  UnauthorizedError,
  ValidationError,
  errorFromResponse,
  pythonRepr,
} from './errors';
export type { BifrostErrorInit } from './errors';
export type {
  BifrostClientOptions,
  ClientLogEvent,
  Execution,
  ExecutionErrorInfo,
  ExecutionLogLine,
  ExecutionOutcome,
  ExecutionRecord,
  ExecutionStatus,
  FetchLike,
  GetOptions,
  LogLevel,
  SdkConfig,
  SetOptions,
} from './types';
