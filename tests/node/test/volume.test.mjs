// Volume: 500 REST writes made quickly reach a subscriber, all of them, in order.

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
    it(`delivers ${COUNT} REST creates in order over ${transport}`, async () => {
      const c = fayeClient(server, transport);
      try {
        const { events, listener } = collector();
        await c.subscribe('/api/todos', listener);
        await waitFor(() => c.client._dispatcher.connectionType === transport, 3000, `connectionType ${transport}`);
        const created = [];
        for (let i = 0; i < COUNT; i += 1) {
          created.push(await restOk(server, 'POST', '/api/todos', { title: `item ${i}`, order: i }));
        }
        await waitFor(() => events.length >= COUNT, 15000, `${COUNT} events (have ${events.length})`);
        assert.equal(events.length, COUNT);
        assert.deepEqual(
          events.map((e) => e.body.id),
          created.map((t) => t.id),
          'events arrive in write order',
        );
        assert.ok(events.every((e, i) => e.method === 'POST' && e.body.title === `item ${i}`));
        for (let i = 1; i < COUNT; i += 1) {
          assert.ok(events[i].seq > events[i - 1].seq, `seq increases at ${i}`);
        }
        assert.deepEqual(c.stats.downs, [], 'no transport:down under load');
        assert.equal(c.count('/meta/handshake'), 1, 'the session survived the burst');
      } finally {
        await c.close();
      }
    });
  }
});
