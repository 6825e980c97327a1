// The create race: the change event of a create of ours can reach the collection before or after the
// POST response. Either way the collection ends with exactly one model for the row, the one the app
// saved, with the server's id. Forced both ways, with the server's origin and without it (the seed's
// pending-POST rule).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TRANSPORTS, createIn, deliveryGate, fayeClient, installAjax, liveTodos, responseGate, restOk, rows, serverForTests, table, track, waitFor, withTimeout } from './harness.mjs';

/** Holds the responses of the POSTs whose body has `title` (see responseGate). */
const postGate = (title) =>
  responseGate(
    (init) => init.method === 'POST' && typeof init.body === 'string' && JSON.parse(init.body).title === title,
  );

/** A faye extension that deletes `origin` from every event, as a server without request ids sends them. */
const stripOrigin = {
  incoming(message, callback) {
    if (message.channel === '/api/todos' && message.data) delete message.data.origin;
    callback(message);
  },
};

/**
 * A collection over a faye client (with `extensions`) whose events on rows titled `title` are held by
 * `events`, and Backbone's requests sent as they come.
 */
function eventsHeld(server, transport, title, extensions = []) {
  const events = deliveryGate('/api/todos', (data) => data.body.title === title);
  const c = fayeClient(server, transport, [...extensions, events]);
  installAjax();
  const todos = liveTodos(server, transport, { faye: c.client });
  return { events, c, todos, t: track(todos) };
}

/**
 * A collection over a faye client that strips `origin` (`seen` counts the events it delivers), with the
 * responses of POSTs of `title` held by `gate`.
 */
function withoutOrigin(server, transport, title) {
  const gate = postGate(title);
  installAjax(gate.hold);
  const seen = deliveryGate('/api/todos', () => false);
  const c = fayeClient(server, transport, [stripOrigin, seen]);
  const todos = liveTodos(server, transport, { faye: c.client });
  return { gate, seen, c, todos, t: track(todos) };
}

describe('the create race', () => {
  let server;
  serverForTests((started) => {
    server = started;
  });

  for (const transport of TRANSPORTS) {
    for (const wait of [false, true]) {
      const how = wait ? 'create({wait: true})' : 'create()';
      it(`${how}: the event before the response gives one model over ${transport}`, async () => {
        const title = `event first, ${how}, ${transport}`;
        const gate = postGate(title);
        installAjax(gate.hold);
        const todos = liveTodos(server, transport);
        const t = track(todos);
        try {
          await withTimeout(todos.ready, 5000, 'the first load');
          const saved = createIn(todos, { title }, { wait });
          // The server committed and answered; the answer is held until the event was applied.
          await waitFor(() => gate.arrived === 1, 3000, 'the POST response (held)');
          await waitFor(() => t.live.applied.some((e) => e.body.title === title), 3000, 'the POST event');
          const mine = todos.findWhere({ title });
          assert.ok(mine, 'the event put the saved model in the collection');
          assert.equal(typeof mine.id, 'number', 'with the server id, before the response');
          gate.release();
          const model = await withTimeout(saved, 3000, 'the create');
          assert.equal(model, mine, 'the model the app saved is the one in the collection');
          assert.equal(todos.where({ title }).length, 1, 'exactly one model');
          assert.equal(t.count('add', model.id), 1, 'added once');
          assert.equal(t.seen.remove.length, 0);
          assert.deepEqual(rows(todos), await table(server));
          assert.deepEqual(t.live.error, []);
        } finally {
          installAjax();
          await todos.close();
        }
      });
    }

    it(`create(): the event after the response gives one model over ${transport}`, async () => {
      const title = `response first, ${transport}`;
      const { events, c, todos, t } = eventsHeld(server, transport, title);
      try {
        await withTimeout(todos.ready, 5000, 'the first load');
        const model = await withTimeout(createIn(todos, { title }), 3000, 'the create');
        await waitFor(() => events.held === 1, 3000, 'the POST event (held)');
        assert.equal(todos.where({ title }).length, 1);
        events.release();
        await waitFor(() => t.live.ignored.some((i) => i.data.body.title === title), 3000, 'the late event');
        assert.equal(t.live.ignored.find((i) => i.data.body.title === title).reason, 'stale', 'recognised');
        assert.equal(todos.where({ title }).length, 1, 'exactly one model');
        assert.equal(todos.get(model.id), model);
        assert.equal(t.count('add', model.id), 1);
        assert.equal(t.count('change', model.id), 1, 'the response set the id; the event changed nothing');
        assert.deepEqual(rows(todos), await table(server));
      } finally {
        await todos.close();
        await c.close();
      }
    });

    it(`without origin, holds the event until the POST response, then one model over ${transport}`, async () => {
      const title = `no origin, event first, ${transport}`;
      const { gate, seen, c, todos, t } = withoutOrigin(server, transport, title);
      try {
        await withTimeout(todos.ready, 5000, 'the first load');
        const before = seen.seen;
        const saved = createIn(todos, { title });
        await waitFor(() => gate.arrived === 1, 3000, 'the POST response (held)');
        await waitFor(() => seen.seen > before, 3000, 'the POST event delivered');
        assert.equal(todos.where({ title }).length, 1, 'the event is held, not added as a second model');
        assert.equal(todos.findWhere({ title }).id, undefined, 'the saved model still waits for its id');
        gate.release();
        const model = await withTimeout(saved, 3000, 'the create');
        assert.equal(todos.where({ title }).length, 1, 'exactly one model');
        assert.equal(todos.get(model.id), model);
        assert.equal(t.count('add', model.id), 1);
        assert.ok(
          t.live.ignored.some((i) => i.data.body.id === model.id && i.reason === 'stale'),
          'the held event was matched to the response by id',
        );
        assert.deepEqual(rows(todos), await table(server));
      } finally {
        installAjax();
        await todos.close();
        await c.close();
      }
    });

    it(`without origin, the event after the response gives one model over ${transport}`, async () => {
      const title = `no origin, response first, ${transport}`;
      const { events, c, todos, t } = eventsHeld(server, transport, title, [stripOrigin]);
      try {
        await withTimeout(todos.ready, 5000, 'the first load');
        const model = await withTimeout(createIn(todos, { title }), 3000, 'the create');
        await waitFor(() => events.held === 1, 3000, 'the POST event (held)');
        events.release();
        await waitFor(() => events.seen >= 1 && t.live.ignored.length >= 1, 3000, 'the late event');
        assert.equal(todos.where({ title }).length, 1, 'exactly one model');
        assert.equal(todos.get(model.id), model);
        assert.equal(t.count('add', model.id), 1);
        assert.deepEqual(rows(todos), await table(server));
      } finally {
        await todos.close();
        await c.close();
      }
    });

    it(`without origin, another client's create during ours is added once, after our response, over ${transport}`, async () => {
      const title = `no origin, mine, ${transport}`;
      const { gate, seen, c, todos, t } = withoutOrigin(server, transport, title);
      try {
        await withTimeout(todos.ready, 5000, 'the first load');
        const before = seen.seen;
        const saved = createIn(todos, { title });
        await waitFor(() => gate.arrived === 1, 3000, 'our POST response (held)');
        const theirs = await restOk(server, 'POST', '/api/todos', { title: `theirs, ${transport}` });
        const updated = await restOk(server, 'PATCH', `/api/todos/${theirs.id}`, { completed: true });
        await waitFor(() => seen.seen >= before + 3, 3000, 'the three events delivered');
        assert.equal(todos.get(theirs.id), undefined, 'held while our create is in flight');
        gate.release();
        const model = await withTimeout(saved, 3000, 'the create');
        await waitFor(() => todos.get(theirs.id)?.get('completed') === true, 3000, 'their create and update');
        assert.deepEqual(todos.get(theirs.id).toJSON(), updated);
        assert.equal(todos.where({ title }).length, 1);
        assert.equal(todos.get(model.id), model);
        assert.equal(t.count('add', model.id), 1);
        assert.equal(t.count('add', theirs.id), 1);
        assert.deepEqual(rows(todos), await table(server));
      } finally {
        installAjax();
        await todos.close();
        await c.close();
      }
    });
  }

  it('sends a fresh Live-Request-Id on every write', async () => {
    const sent = [];
    installAjax((url, init) => {
      sent.push({ method: init.method, id: init.headers['Live-Request-Id'] });
    });
    const todos = liveTodos(server, 'websocket');
    try {
      await withTimeout(todos.ready, 5000, 'the first load');
      const model = await withTimeout(createIn(todos, { title: 'ids' }), 3000, 'create');
      await withTimeout(model.save({ completed: true }), 3000, 'save');
      await withTimeout(model.save({ order: 3 }, { patch: true }), 3000, 'patch');
      await withTimeout(model.destroy({ wait: true }), 3000, 'destroy');
      assert.deepEqual(
        sent.map((s) => s.method),
        ['POST', 'PUT', 'PATCH', 'DELETE'],
      );
      for (const s of sent) assert.match(s.id ?? '', /^[0-9a-f-]{16,}$/, `${s.method} carries a request id`);
      assert.equal(new Set(sent.map((s) => s.id)).size, 4, 'each write its own');
    } finally {
      installAjax();
      await todos.close();
    }
  });
});
