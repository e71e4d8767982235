#!/usr/bin/env node
// Starts the Faultline chat sample: `PORT=3000 node server.mjs` (PORT=0 picks a free port).
import { startChatServer } from './src/app.mjs';

const port = process.env.PORT === undefined ? 3000 : Number(process.env.PORT);
const chat = await startChatServer({ port, host: process.env.HOST ?? '127.0.0.1' });
console.log(`Faultline chat is listening on ${chat.url}`);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, async () => {
    if (stopping) process.exit(1);
    stopping = true;
    await chat.close();
    process.exit(0);
  });
}
