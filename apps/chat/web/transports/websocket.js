// A transport over @faultline/ws/client: the browser's own WebSocket, reconnecting by classification.
import { createClient } from '@faultline/ws/client';

/** Short delays so a person sees the backoff happen; the retry budget still applies. */
const RECONNECT = { minMs: 100, baseMs: 300, maxMs: 5000 };

export function websocketTransport({ id, label, path }) {
  return {
    id,
    label,
    /** @param {import('../main.js').SessionHooks} hooks */
    connect({ token, observer, onState, onMessage }) {
      const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${path}`;
      const client = createClient({ url, token, observer, reconnect: RECONNECT, timeoutMs: 5000, lazy: true });
      client.onStateChange(onState);
      client.on('message', onMessage);
      client.connect();
      return {
        request: (event, data) => client.request(event, data),
        close: () => client.close(),
      };
    },
  };
}
