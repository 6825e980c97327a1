// Loading and applying events: a LiveCollection loads the table with a snapshot and then turns every
// POST/PUT/PATCH/DELETE made by another client over plain REST into Backbone add/change/remove events
// (a delete also as `destroy`, see destroy.test.mjs), with the attributes the REST call answered.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TRANSPORTS, createIn, deliveryGate, fayeClient, installAjax, liveTodos, restOk, rows, serverForTests, table, track, waitFor, withTimeout } from './harness.mjs';

describe('loading and applying events', () => {
  let server;
  serverForTests((started) => {
    server = started;
  });

  for (const transport of TRANSPORTS) {
    it(`loads with a snapshot, then applies POST, PUT, PATCH and DELETE from others over ${transport}`, async () => {
      await restOk(server, 'POST', '/api/todos', { title: `already there (${transport})`, order: 1 });
      const todos = liveTodos(server, transport);
      const t = track(todos);
      try {
        await withTimeout(todos.ready, 5000, 'the first load');
        assert.deepEqual(rows(todos), await table(server), 'the snapshot is the table');
        assert.equal(t.seen.reset, 1, 'one reset for the load');
        assert.equal(t.live.ready.length, 1);
        assert.equal(t.live.ready[0].source, 'snapshot');
        assert.equal(typeof todos.lastSeq(), 'number');
        await waitFor(() => todos.faye._dispatcher.connectionType === transport, 5000, `on ${transport}`);

        const created = await restOk(server, 'POST', '/api/todos', { title: 'from another client', order: 2 });
        await waitFor(() => todos.get(created.id), 3000, 'the POST event');
        assert.deepEqual(todos.get(created.id).toJSON(), created, 'added with the REST body');
        assert.equal(t.count('add', created.id), 1);

        const replaced = await restOk(server, 'PUT', `/api/todos/${created.id}`, {
          ...created,
          title: 'replaced',
          completed: true,
        });
        await waitFor(() => todos.get(created.id).get('title') === 'replaced', 3000, 'the PUT event');
        assert.deepEqual(todos.get(created.id).toJSON(), replaced, 'changed to the PUT body');

        const patched = await restOk(server, 'PATCH', `/api/todos/${created.id}`, { order: 7 });
        await waitFor(() => todos.get(created.id).get('order') === 7, 3000, 'the PATCH event');
        assert.deepEqual(todos.get(created.id).toJSON(), patched, 'changed to the PATCH body');
        assert.equal(t.count('change', created.id), 2, 'one change per update');

        await restOk(server, 'DELETE', `/api/todos/${created.id}`);
        await waitFor(() => !todos.get(created.id), 3000, 'the DELETE event');
        assert.equal(t.count('remove', created.id), 1);
        assert.equal(t.count('add', created.id), 1, 'never added twice');

        assert.deepEqual(rows(todos), await table(server), 'ends equal to the table');
        assert.deepEqual(
          t.live.applied.map((e) => e.method),
          ['POST', 'PUT', 'PATCH', 'DELETE'],
        );
        assert.deepEqual(t.live.error, []);
      } finally {
        await todos.close();
      }
    });

    it(`keeps events that arrive before the snapshot reply and applies them after it over ${transport}`, async () => {
      // The test's extension runs before the collection's: it holds the subscribe reply until a change
      // made after the subscription was registered has been delivered.
      let reply = null;
      const holdReply = {
        incoming(message, callback) {
          if (message.channel === '/meta/subscribe' && message.successful && message.subscription === '/api/todos') {
            reply = () => callback(message);
            return;
          }
          callback(message);
        },
      };
      const early = deliveryGate('/api/todos', () => false);
      const c = fayeClient(server, transport, [holdReply, early]);
      const todos = liveTodos(server, transport, { faye: c.client });
      const t = track(todos);
      try {
        await waitFor(() => reply, 5000, 'the subscribe reply (held)');
        const before = await table(server);
        const created = await restOk(server, 'POST', '/api/todos', { title: 'before the snapshot reply' });
        await waitFor(() => early.seen >= 1, 3000, 'the event delivered before the reply');
        assert.equal(todos.length, 0, 'nothing applied before the snapshot');
        assert.equal(t.seen.add.length, 0);
        reply();
        await withTimeout(todos.ready, 3000, 'the load');
        assert.deepEqual(rows(todos), [...before, created].sort((a, b) => a.id - b.id));
        assert.deepEqual(rows(todos), await table(server));
        assert.equal(t.seen.reset, 1);
        assert.equal(t.count('add', created.id), 1, 'the early event, applied once, after the reset');
      } finally {
        await todos.close();
        await c.close();
      }
    });
  }

  it('answers fetch() from the live load instead of a REST read that could be older', async () => {
    const requests = [];
    installAjax((url, init) => {
      requests.push(`${init.method} ${url}`);
    });
    try {
      const todos = liveTodos(server, 'websocket');
      const t = track(todos);
      try {
        let succeeded = null;
        const result = await withTimeout(
          todos.fetch({
            reset: true,
            success: (collection, resp) => {
              succeeded = resp;
            },
          }),
          5000,
          'fetch',
        );
        assert.deepEqual(rows(todos), await table(server));
        assert.deepEqual(succeeded, todos.toJSON(), 'success gets the rows');
        assert.deepEqual(result, todos.toJSON());
        assert.deepEqual(requests, [], 'no REST read: the snapshot loaded the collection');
        assert.equal(t.seen.reset, 1, "called before the load: the load's reset is the one");

        // Called once loaded (an app whose view starts after the load): the reset it waits for.
        const before = todos.map((m) => m.cid);
        await withTimeout(todos.fetch({ reset: true }), 3000, 'fetch({reset: true}) once loaded');
        assert.equal(t.seen.reset, 2, 'a reset for a fetch({reset: true}) after the load');
        assert.deepEqual(todos.map((m) => m.cid), before, 'the same models');
        await withTimeout(todos.fetch(), 3000, 'fetch() once loaded');
        assert.equal(t.seen.reset, 2, 'no reset without {reset: true}');
        assert.deepEqual(requests, [], 'still no REST read');

        await todos.unlisten();
        await todos.fetch({ reset: true });
        assert.equal(requests.length, 1, 'not listening: an ordinary Backbone fetch');
        assert.match(requests[0], /^GET http:\/\/127\.0\.0\.1:\d+\/api\/todos$/);
      } finally {
        await todos.close();
      }
    } finally {
      installAjax();
    }
  });

  it('applies the events of its own saves and destroys without doubling them', async () => {
    const todos = liveTodos(server, 'websocket');
    const t = track(todos);
    try {
      await withTimeout(todos.ready, 5000, 'the first load');
      const mine = await withTimeout(createIn(todos, { title: 'mine' }), 3000, 'create');
      const id = mine.id;
      assert.ok(typeof id === 'number', 'the server id');
      await withTimeout(mine.save({ completed: true }), 3000, 'save');
      await withTimeout(mine.save({ title: 'mine, patched' }, { patch: true }), 3000, 'patch');
      const other = todos.create({ title: 'mine too' }, { wait: true });
      await waitFor(() => other.id, 3000, 'the waited create');
      await withTimeout(other.destroy({ wait: true }), 3000, 'destroy');
      // The events of these writes come back on the channel: wait until each was applied or ignored.
      await waitFor(() => t.live.applied.length + t.live.ignored.length >= 5, 3000, 'the own events');
      assert.deepEqual(rows(todos), await table(server));
      assert.equal(t.count('add', id), 1);
      assert.equal(t.count('add', other.id), 1, 'a destroyed row does not come back with its late events');
      assert.equal(t.count('remove', other.id), 1);
      assert.equal(todos.get(id), mine, 'the saved model itself stays in the collection');
      assert.deepEqual(t.live.error, []);
    } finally {
      await todos.close();
    }
  });
});
