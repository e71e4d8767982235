import { websocketTransport } from './websocket.js';

export default websocketTransport({ id: 'ws', label: 'ws', path: '/ws' });
