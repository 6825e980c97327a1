// The CometD JavaScript client (npm `cometd`, run in Node through `cometd-nodejs-client`, which supplies
// XMLHttpRequest and WebSocket) against example-todo: handshake, subscribe, REST events, a chat publish
// and disconnect, over WebSocket and long-polling.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { adapt } from 'cometd-nodejs-client';
import { restOk, startServer, waitFor, withTimeout } from '../lib/harness.mjs';

// The adapter installs the browser globals the CometD client expects; it must run before CometD loads.
adapt();
const { CometD } = await import('cometd');

/** A CometD client on `server` for `transport`; callbacks turned into bounded promises. */
function cometdClient(server, transport) {
  const cometd = new CometD();
  if (transport === 'long-polling') cometd.unregisterTransport('websocket');
  cometd.configure({ url: server.endpoint, logLevel: 'warn' });
  const reply = (what, start) =>
    withTimeout(new Promise((resolve) => start(resolve)), 5000, what);
  return {
    cometd,
    handshake: () => reply('CometD handshake', (done) => cometd.handshake(done)),
    subscribe: (channel, listener) =>
      reply(`CometD subscribe ${channel}`, (done) => cometd.subscribe(channel, listener, done)),
    publish: (channel, data) => reply(`CometD publish ${channel}`, (done) => cometd.publish(channel, data, done)),
    disconnect: () => reply('CometD disconnect', (done) => cometd.disconnect(done)),
  };
}

describe('CometD JavaScript client', () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server?.stop();
  });

  for (const transport of ['websocket', 'long-polling']) {
    it(`handshakes, subscribes, receives REST events, publishes chat and disconnects over ${transport}`, async () => {
      const a = cometdClient(server, transport);
      const b = cometdClient(server, transport);
      try {
        const handshake = await a.handshake();
        assert.equal(handshake.successful, true, JSON.stringify(handshake));
        assert.equal((await b.handshake()).successful, true);
        assert.equal(a.cometd.getTransport().type, transport);

        const live = [];
        const subscribed = await a.subscribe('/api/todos', (message) => live.push(message));
        assert.equal(subscribed.successful, true, JSON.stringify(subscribed));

        const created = await restOk(server, 'POST', '/api/todos', { title: 'from cometd' });
        const updated = await restOk(server, 'PUT', `/api/todos/${created.id}`, { ...created, completed: true });
        const deleted = await restOk(server, 'DELETE', `/api/todos/${created.id}`);
        await waitFor(() => live.length >= 3, 3000, 'three REST events');
        assert.deepEqual(
          live.map((m) => [m.channel, m.data.method, m.data.body]),
          [
            ['/api/todos', 'POST', created],
            ['/api/todos', 'PUT', updated],
            ['/api/todos', 'DELETE', deleted],
          ],
        );

        const chat = [];
        assert.equal((await b.subscribe('/chat/lobby', (message) => chat.push(message))).successful, true);
        const published = await a.publish('/chat/lobby', { text: 'hi from cometd' });
        assert.equal(published.successful, true, JSON.stringify(published));
        await waitFor(() => chat.length >= 1, 3000, 'the chat message');
        assert.deepEqual(chat[0].data, { text: 'hi from cometd' });
        assert.equal(chat[0].clientId, undefined, 'delivered without the publisher clientId');

        const refused = await a.publish('/api/todos', { method: 'POST', body: {} });
        assert.equal(refused.successful, false, 'clients may not publish on /api/todos');
        assert.match(String(refused.error), /^403:/);

        const gone = await a.disconnect();
        assert.equal(gone.successful, true, JSON.stringify(gone));
        assert.equal(a.cometd.isDisconnected(), true);
      } finally {
        for (const client of [a, b]) {
          if (!client.cometd.isDisconnected()) await client.disconnect().catch(() => {});
        }
      }
    });
  }
});
