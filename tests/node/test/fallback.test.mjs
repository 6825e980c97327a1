// With --no-websocket the unmodified client (WebSocket left enabled) ends on long-polling and gets events.

import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { collector, fayeClient, restOk, startServer, waitFor } from '../lib/harness.mjs';

describe('--no-websocket', () => {
  let server;
  before(async () => {
    server = await startServer({ args: ['--no-websocket'] });
  });
  after(async () => {
    await server?.stop();
  });

  it('falls back to long-polling and receives events', async () => {
    const c = fayeClient(server, 'websocket');
    try {
      const { events, listener } = collector();
      await c.subscribe('/api/todos', listener);
      const handshake = c.stats.received.find((m) => m.channel === '/meta/handshake' && m.message.successful);
      assert.ok(handshake, 'handshake reply');
      assert.ok(!handshake.message.supportedConnectionTypes.includes('websocket'), 'websocket is not offered');
      assert.equal(c.client._dispatcher.connectionType, 'long-polling');
      const created = await restOk(server, 'POST', '/api/todos', { title: 'no socket' });
      await waitFor(() => events.length >= 1, 2000, 'the event');
      assert.deepEqual(events[0].body, created);
      const connects = c.stats.sent.filter((m) => m.channel === '/meta/connect');
      assert.ok(connects.length > 0 && connects.every((m) => m.message.connectionType === 'long-polling'));
      // An upgrade is refused quickly rather than left hanging.
      const started = Date.now();
      const status = await new Promise((resolve) => {
        const request = http.get(server.endpoint, {
          headers: {
            connection: 'Upgrade',
            upgrade: 'websocket',
            'sec-websocket-version': '13',
            'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
          },
          timeout: 3000,
        });
        request.on('upgrade', (_response, socket) => {
          socket.destroy();
          resolve(101);
        });
        request.on('response', (response) => {
          response.resume();
          resolve(response.statusCode);
        });
        request.on('timeout', () => {
          request.destroy();
          resolve('timeout');
        });
        request.on('error', (error) => resolve(`error ${error.message}`));
      });
      assert.ok(typeof status === 'number' && status >= 400, `upgrade refused, got ${status}`);
      assert.ok(Date.now() - started < 2000, 'the upgrade was answered quickly');
    } finally {
      await c.close();
    }
  });
});
