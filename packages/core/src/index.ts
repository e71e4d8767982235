/**
 * @faultline/core: the Faultline error protocol. See PROTOCOL.md for the normative wire format.
 * @packageDocumentation
 */
export * from './backoff.js';
export * from './classify.js';
export * from './codec.js';
export * from './envelope.js';
export * from './error.js';
export * from './observe.js';
export * from './registry.js';
export * from './sanitize.js';
export * from './tracker.js';
export * from './limits.js';
export * from './server.js';
export * from './session.js';
