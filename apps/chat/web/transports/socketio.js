// A transport over @faultline/socket.io/client: Socket.IO's socket, reconnecting by classification.
import { createClient } from '@faultline/socket.io/client';
import { io } from 'socket.io-client';

const RECONNECT = { minMs: 100, baseMs: 300, maxMs: 5000 };

export default {
  id: 'socket.io',
  label: 'Socket.IO',
  connect({ token, observer, onState, onMessage }) {
    // Same origin, path /socket.io/; a new Manager per session so nothing is shared.
    const socket = io({ autoConnect: false, forceNew: true });
    const client = createClient(socket, { token, observer, reconnect: RECONNECT, timeoutMs: 5000 });
    client.onStateChange(onState);
    client.on('message', onMessage);
    client.connect();
    return {
      request: (event, data) => client.request(event, data),
      close: () => client.close(),
    };
  },
};
