// Catching up on subscribe: `ext.since` replays the writes a client missed while it was away, and
// `ext.snapshot` hands over the current rows with the seq they correspond to, then live events after it.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TRANSPORTS, collector, fayeClient, restOk, startServer, waitFor } from '../lib/harness.mjs';

/** A client extension adding `ext` fields to the /meta/subscribe of `channel`. */
function subscribeExt(channel, ext) {
  return {
    outgoing(message, callback) {
      if (message.channel === '/meta/subscribe' && message.subscription === channel) {
        message.ext = { ...(message.ext ?? {}), ...ext };
      }
      callback(message);
    },
  };
}

/** The successful /meta/subscribe reply a client received for `channel`. */
function subscribeReply(c, channel) {
  return c.stats.received.find(
    (m) => m.channel === '/meta/subscribe' && m.message.successful === true && m.message.subscription === channel,
  )?.message;
}

describe('resume and snapshot', () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server?.stop();
  });

  for (const transport of TRANSPORTS) {
    it(`replays the writes made while away, once and in order, with ext.since over ${transport}`, async () => {
      const first = fayeClient(server, transport);
      let lastSeq;
      let todo;
      try {
        const seen = collector();
        await first.subscribe('/api/todos', seen.listener);
        todo = await restOk(server, 'POST', '/api/todos', { title: 'before leaving' });
        await waitFor(() => seen.events.length >= 1, 2000, 'the first event');
        lastSeq = seen.events.at(-1).seq;
      } finally {
        await first.close();
      }

      // Writes while no client is there.
      const missed = [
        await restOk(server, 'PUT', `/api/todos/${todo.id}`, { ...todo, completed: true }),
        await restOk(server, 'POST', '/api/todos', { title: 'while away' }),
        await restOk(server, 'DELETE', `/api/todos/${todo.id}`),
      ];

      const back = fayeClient(server, transport, { extensions: [subscribeExt('/api/todos', { since: lastSeq })] });
      try {
        const { events, listener } = collector();
        await back.subscribe('/api/todos', listener);
        await waitFor(() => events.length >= 3, 3000, 'the replayed writes');
        const live = await restOk(server, 'POST', '/api/todos', { title: 'back again' });
        await waitFor(() => events.length >= 4, 2000, 'the live write after the replay');
        assert.deepEqual(
          events.map((e) => [e.method, e.body]),
          [
            ['PUT', missed[0]],
            ['POST', missed[1]],
            ['DELETE', missed[2]],
            ['POST', live],
          ],
        );
        assert.ok(events[0].seq > lastSeq, 'nothing at or before the seq the client already had');
        for (let i = 1; i < events.length; i += 1) assert.ok(events[i].seq > events[i - 1].seq, 'in seq order');
        const reply = subscribeReply(back, '/api/todos');
        assert.notEqual(reply?.ext?.reset, true, 'no reset for a recent seq');
        assert.equal(reply?.ext?.replayed, 3, `the reply counts the replay: ${JSON.stringify(reply)}`);
        assert.equal(reply?.ext?.seq, events[2].seq, 'the reply names the seq the replay reached');
      } finally {
        await back.close();
      }
    });

    it(`answers a since beyond the log with reset, and still subscribes, over ${transport}`, async () => {
      const c = fayeClient(server, transport, { extensions: [subscribeExt('/api/todos', { since: 1e9 })] });
      try {
        const { events, listener } = collector();
        await c.subscribe('/api/todos', listener);
        assert.equal(subscribeReply(c, '/api/todos')?.ext?.reset, true, 'reset: the client must reload');
        const created = await restOk(server, 'POST', '/api/todos', { title: 'after reset' });
        await waitFor(() => events.length >= 1, 2000, 'a live event after the reset');
        assert.deepEqual(events.map((e) => e.body), [created]);
      } finally {
        await c.close();
      }
    });

    it(`answers ext.snapshot with the rows and their seq, then only later events, over ${transport}`, async () => {
      const a = await restOk(server, 'POST', '/api/todos', { title: 'snapshot a', order: 1 });
      await restOk(server, 'POST', '/api/todos', { title: 'snapshot b', order: 2 });
      const rows = await restOk(server, 'GET', '/api/todos');

      const c = fayeClient(server, transport, { extensions: [subscribeExt('/api/todos', { snapshot: true })] });
      try {
        const { events, listener } = collector();
        await c.subscribe('/api/todos', listener);
        const reply = subscribeReply(c, '/api/todos');
        assert.ok(reply?.ext?.snapshot, `the reply carries a snapshot: ${JSON.stringify(reply)}`);
        const snapshot = reply.ext.snapshot;
        const byId = (list) => [...list].sort((x, y) => x.id - y.id);
        assert.deepEqual(snapshot.rows, byId(rows), 'the snapshot rows are the table, in id order');
        assert.equal(typeof snapshot.seq, 'number');

        const changed = await restOk(server, 'PATCH', `/api/todos/${a.id}`, { completed: true });
        await waitFor(() => events.length >= 1, 2000, 'the write after the snapshot');
        assert.equal(events.length, 1, 'no event the snapshot already holds');
        assert.deepEqual(events[0].body, changed);
        assert.ok(events[0].seq > snapshot.seq, 'live events continue after the snapshot seq');
      } finally {
        await c.close();
      }
    });
  }
});
