// Deletes reach views as Backbone's own destroy() does: a row deleted elsewhere triggers `destroy` on
// its model, with the arguments destroy() gives (model, collection, options), so an object listening to
// its model's `destroy` (a row view) removes itself, and the collection triggers `remove`. A destroy() of
// our own triggers `destroy` once, as Backbone does, whichever of its response and its event comes first,
// with or without {wait: true}, with the server's origin and without it.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Backbone, TRANSPORTS, deliveryGate, fayeClient, installAjax, liveTodos, responseGate, restOk, rows, serverForTests, table, track, waitFor, withTimeout } from './harness.mjs';

/** A faye extension that deletes `origin` from every event, as a server without request ids sends them. */
const stripOrigin = {
  incoming(message, callback) {
    if (message.channel === '/api/todos' && message.data) delete message.data.origin;
    callback(message);
  },
};

/**
 * What a row view of TodoMVC does: it listens to its model's `destroy` and removes itself. `calls`
 * records the arguments of each `destroy` it heard.
 */
function rowView(model) {
  const view = { calls: [], removed: false };
  Object.assign(view, Backbone.Events);
  view.listenTo(model, 'destroy', (...args) => {
    view.calls.push(args);
    view.removed = true;
    view.stopListening();
  });
  return view;
}

/**
 * Waits for the first load of `todos`, then adds a row titled `title` over REST and waits for its model;
 * resolves to `{row, model, view}`, `view` a rowView of the model.
 */
async function newRow(server, todos, title) {
  await withTimeout(todos.ready, 5000, 'the first load');
  const row = await restOk(server, 'POST', '/api/todos', { title });
  await waitFor(() => todos.get(row.id), 3000, 'the POST event');
  const model = todos.get(row.id);
  return { row, model, view: rowView(model) };
}

/** The DELETE events of row `id` the collection has applied or ignored. */
function deletesSeen(t, id) {
  return [...t.live.applied, ...t.live.ignored.map((i) => i.data)].filter(
    (e) => e.method === 'DELETE' && e.body.id === id,
  ).length;
}

describe('deletes as destroy', () => {
  let server;
  serverForTests((started) => {
    server = started;
  });

  for (const transport of TRANSPORTS) {
    it(`turns a delete made elsewhere into destroy on the model, then remove, over ${transport}`, async () => {
      const todos = liveTodos(server, transport);
      const t = track(todos);
      const destroyed = [];
      todos.on('destroy', (model) => destroyed.push(model.id));
      try {
        const { row, model, view } = await newRow(server, todos, `deleted elsewhere (${transport})`);
        const removes = [];
        todos.on('remove', (m, collection, options) => removes.push({ m, collection, options }));

        await restOk(server, 'DELETE', `/api/todos/${row.id}`);
        await waitFor(() => view.removed, 3000, 'the view hearing destroy');
        assert.equal(view.calls.length, 1, 'one destroy');
        const [m, collection, options] = view.calls[0];
        assert.equal(m, model, 'destroy(model, ...)');
        assert.equal(collection, todos, "destroy(model, model.collection, ...) as Backbone's destroy() gives");
        assert.equal(options.live.method, 'DELETE', 'options carry the event');
        assert.equal(options.live.body.id, row.id);
        assert.deepEqual(destroyed, [row.id], 'the collection relays destroy once');

        assert.equal(todos.get(row.id), undefined, 'the collection dropped it');
        assert.equal(removes.length, 1, 'one remove');
        assert.equal(removes[0].m, model);
        assert.equal(removes[0].collection, todos);
        assert.equal(removes[0].options.live.method, 'DELETE', 'remove listeners get the event too');
        assert.equal(t.count('remove', row.id), 1);
        assert.equal(model.collection, undefined, 'the model left the collection');
        assert.deepEqual(rows(todos), await table(server));
        assert.deepEqual(t.live.error, []);
      } finally {
        await todos.close();
      }
    });
  }

  for (const origin of [true, false]) {
    for (const wait of [false, true]) {
      const how = `destroy(${wait ? '{wait: true}' : ''})${origin ? '' : ', without origin'}`;

      it(`${how}: one destroy when the event comes before the response`, async () => {
        const gate = responseGate((init) => init.method === 'DELETE');
        installAjax(gate.hold);
        const seen = deliveryGate('/api/todos', () => false);
        const c = fayeClient(server, 'websocket', origin ? [seen] : [stripOrigin, seen]);
        const todos = liveTodos(server, 'websocket', { faye: c.client });
        const t = track(todos);
        try {
          const { row, model, view } = await newRow(server, todos, `${how}, event first`);
          const destroying = model.destroy({ wait });
          await waitFor(() => gate.arrived === 1, 3000, 'our DELETE response (held)');
          await waitFor(() => deletesSeen(t, row.id) === 1, 3000, 'our DELETE event');
          assert.equal(todos.get(row.id), undefined, 'the event took the model out');
          assert.equal(view.calls.length, wait ? 0 : 1, wait ? 'destroy waits for the response' : 'destroy at once');
          gate.release();
          await withTimeout(destroying, 3000, 'our destroy');
          assert.equal(view.calls.length, 1, 'one destroy in all');
          assert.equal(t.count('remove', row.id), 1, 'one remove in all');
          assert.deepEqual(rows(todos), await table(server));
          assert.deepEqual(t.live.error, []);
        } finally {
          installAjax();
          await todos.close();
          await c.close();
        }
      });

      it(`${how}: one destroy when the response comes before the event`, async () => {
        const events = deliveryGate('/api/todos', (data) => data.method === 'DELETE');
        const c = fayeClient(server, 'websocket', origin ? [events] : [stripOrigin, events]);
        installAjax();
        const todos = liveTodos(server, 'websocket', { faye: c.client });
        const t = track(todos);
        try {
          const { row, model, view } = await newRow(server, todos, `${how}, response first`);
          await withTimeout(model.destroy({ wait }), 3000, 'our destroy');
          assert.equal(view.calls.length, 1, 'destroy on our destroy()');
          assert.equal(todos.get(row.id), undefined);
          await waitFor(() => events.held === 1, 3000, 'our DELETE event (held)');
          events.release();
          await waitFor(() => deletesSeen(t, row.id) === 1, 3000, 'our DELETE event');
          assert.deepEqual(
            t.live.ignored.map((i) => [i.data.method, i.reason]),
            [['DELETE', 'absent']],
          );
          assert.equal(view.calls.length, 1, 'one destroy in all');
          assert.equal(t.count('remove', row.id), 1, 'one remove in all');
          assert.deepEqual(rows(todos), await table(server));
          assert.deepEqual(t.live.error, []);
        } finally {
          await todos.close();
          await c.close();
        }
      });
    }
  }
});
