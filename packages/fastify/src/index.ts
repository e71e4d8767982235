/**
 * @faultline/fastify: a Fastify 5 plugin that answers every HTTP failure with the Faultline error
 * envelope (or RFC 9457 Problem Details on request). See PROTOCOL.md §11. The fetch client is the
 * `@faultline/fastify/client` entry point.
 * @packageDocumentation
 */

export {
  acceptsProblem,
  codeNameForStatus,
  DEFAULT_PROBLEM_TYPE_BASE,
  formatRetryAfter,
  httpStatusOf,
  PROBLEM_JSON,
  type ProblemDetails,
  parseRetryAfter,
  problemToBody,
  type ToProblemOptions,
  toProblem,
} from './http.js';
export {
  checkOptions,
  type FaultlineFastify,
  type FaultlineFastifyOptions,
  faultline,
  faultline as default,
  frameworkErrors,
  type ResolvedError,
} from './plugin.js';
export { createRedactor, REDACTED, type Redactor } from './redact.js';
export { type FaultlineRpcDecorator, type FaultlineRpcOptions, faultlineRpc } from './rpc.js';
export {
  isStandardSchema,
  MAX_VIOLATIONS,
  type RequestPart,
  type StandardSchemaParts,
  type StandardSchemaV1,
  safeMessage,
  standardSchema,
  toViolations,
  type Violation,
} from './validation.js';
export {
  answerUpgradeError,
  type FaultlineWebSocketDecorator,
  type FaultlineWebSocketOptions,
  faultlineWebSocket,
  type WebSocketRouteOptions,
} from './websocket.js';
