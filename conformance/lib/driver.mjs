// The transport driver interface. Each scenario is written once against it; one driver file per
// transport (drivers/*.mjs) adapts a real server and a real client. Plain ESM with JSDoc types.

/**
 * A request handler as the scenarios write it; every adapter's handler context has these fields.
 * @typedef {(data: any, ctx: { requestId: string, idempotencyKey?: string | undefined, event: string }) => unknown} Handler
 */

/**
 * @typedef {object} StartOptions
 * @property {Record<string, Handler>} handlers
 * @property {(token: string | undefined) => unknown} [authenticate] Throw a FaultlineError to refuse.
 * @property {false | { points: number, durationMs: number }} [rateLimit] @default false
 * @property {import('@faultline/core').Logger} [logger]
 * @property {number} [maxBadFrames]
 * @property {(failure: unknown) => void} [errorRoute]
 */

/**
 * @typedef {object} ClientOptions
 * @property {(ctx: { refresh: boolean }) => string | Promise<string>} [token]
 * @property {number} [timeoutMs]
 * @property {import('@faultline/core').BackoffOptions | false} [reconnect]
 * @property {import('@faultline/core').RetryBudgetOptions} [budget]
 * @property {(text: string) => boolean} [dropIncoming] Drops a raw server → client frame before the client reads it.
 * @property {boolean} [dropConnectionErrors] Drops every connection-level error frame (no request id) before the
 *   client reads it, to check that the close alone is classified correctly.
 * @property {(failure: { location: string, cause: unknown }) => void} [errorRoute]
 */

/**
 * @typedef {object} RequestOptions
 * @property {number} [timeoutMs]
 * @property {boolean} [idempotent]
 * @property {string} [idempotencyKey]
 * @property {number} [retries]
 */

/**
 * A Faultline client, as the scenarios drive it.
 * @typedef {object} Client
 * @property {(event: string, data?: unknown, options?: RequestOptions) => Promise<any>} request
 * @property {() => string} state 'connecting' | 'open' | 'reconnecting' | 'closed' (adapter words mapped)
 * @property {(listener: (change: { current: string, reason?: any, at: number }) => void) => () => void} onStateChange
 * @property {() => Promise<void>} ready Resolves once open (bounded by the driver).
 * @property {() => void} close
 * @property {import('./wire.mjs').Wire} wire Raw traffic below this client.
 * @property {() => { data: any, meta: any }[]} errors Error bodies that crossed the wire to this client, raw, in order.
 */

/**
 * The result of a raw fuzz run against a running server.
 * @typedef {object} FuzzStats
 * @property {number} frames Frames (or HTTP requests) sent.
 * @property {number} expected Answers the protocol requires.
 * @property {number} answered Of those, answered as required.
 * @property {number} wrongAnswers Answers of the wrong kind (not BAD_REQUEST-class for a bad frame).
 * @property {number} unanswered Required answers that never came.
 * @property {number} closes Connections the server closed (with the mapped code).
 * @property {number} badCloses Closes with an unexpected code.
 * @property {string[]} samples A few wrong or missing answers, for the report.
 */

/**
 * A server started by a driver.
 * @typedef {object} Running
 * @property {string} url
 * @property {(options?: ClientOptions) => Client} client
 * @property {() => number} killConnections Drops every connection abruptly (the client sees 1006 / transport close).
 * @property {() => boolean} killOne Drops one random connection.
 * @property {(error: unknown) => number} failAll Ends every connection with a fatal error (frame, then close).
 * @property {(options: { windowMs: number, graceMs?: number }) => Promise<void>} shutdown Graceful.
 * @property {(options?: { downMs?: number }) => Promise<void>} restart Hard stop, then serve again on the same port.
 * @property {() => number} connectionCount
 * @property {(options: { frames: number, seed: number }) => Promise<FuzzStats>} fuzz
 * @property {() => string[]} incoming Every server → client text captured so far (all clients, raw fuzz included).
 * @property {() => Promise<void>} close Releases everything.
 */

/**
 * @typedef {object} Transport
 * @property {string} name
 * @property {{ connection: boolean, closeCodes: boolean, serverRequests?: boolean }} caps
 *   `connection`: a persistent connection (kills, reconnects, auth, shutdown apply);
 *   `closeCodes`: WebSocket close codes carry the classification.
 * @property {(options: StartOptions) => Promise<Running>} start
 * @property {(err: any) => any} bodyOf The error body of a rejected request, as the client rehydrated it.
 */

export {};
