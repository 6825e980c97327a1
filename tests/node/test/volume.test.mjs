// Volume: 500 REST writes made quickly by concurrent writers reach a subscriber, each once, in seq order;
// over long-polling several arrive in one connect reply.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TRANSPORTS, collector, fayeClient, restOk, startServer, waitFor } from '../lib/harness.mjs';

const COUNT = 500;

describe('500 events', () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server?.stop();
  });

  for (const transport of TRANSPORTS) {
    it(`delivers ${COUNT} concurrent REST creates once each, in seq order, over ${transport}`, async () => {
      const c = fayeClient(server, transport);
      try {
        const { events, listener } = collector();
        await c.subscribe('/api/todos', listener);
        await waitFor(() => c.client._dispatcher.connectionType === transport, 3000, `connectionType ${transport}`);
        // How many messages each HTTP response or WebSocket frame carried.
        const batches = [];
        const wire = c.client._dispatcher._transport;
        const receive = wire._receive;
        wire._receive = function (replies) {
          batches.push(replies.length);
          return receive.call(this, replies);
        };
        // Eight writers at a time: the events must still come in one seq order, each exactly once.
        const created = new Map();
        let next = 0;
        const writer = async () => {
          while (next < COUNT) {
            const i = next;
            next += 1;
            const todo = await restOk(server, 'POST', '/api/todos', { title: `item ${i}`, order: i });
            created.set(todo.id, todo);
          }
        };
        await Promise.all(Array.from({ length: 8 }, writer));
        await waitFor(() => events.length >= COUNT, 15000, `${COUNT} events (have ${events.length})`);
        assert.equal(events.length, COUNT);
        for (let i = 1; i < COUNT; i += 1) {
          assert.ok(events[i].seq > events[i - 1].seq, `seq increases at ${i}`);
        }
        assert.equal(new Set(events.map((e) => e.body.id)).size, COUNT, 'each write once');
        for (const event of events) {
          assert.equal(event.method, 'POST');
          assert.deepEqual(event.body, created.get(event.body.id), 'the event body is the REST answer');
        }
        if (transport === 'long-polling') {
          assert.ok(Math.max(...batches) > 1, 'several events arrive inside one connect reply');
          assert.ok(batches.length < COUNT, `${COUNT} events came in ${batches.length} responses`);
        }
        assert.deepEqual(c.stats.downs, [], 'no transport:down under load');
        assert.equal(c.count('/meta/handshake'), 1, 'the session survived the burst');
      } finally {
        await c.close();
      }
    });
  }
});
