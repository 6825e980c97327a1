// Ordering: nothing older overwrites something newer. An event at or below the seq already applied (or
// of the snapshot) is dropped, an update whose version is not newer than the model's is dropped, a write
// response older than an event already applied does not roll the model back, and the late events of a
// destroyed row do not bring it back. Each event is applied at most once.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Backbone, TRANSPORTS, deliveryGate, fayeClient, installAjax, liveTodos, responseGate, restOk, rows, serverForTests, table, track, waitFor, withTimeout } from './harness.mjs';

/**
 * A faye extension that holds the delivery matching `late` until one matching `first` went through,
 * then delivers it, passed through `change` (to give it another seq, say).
 */
function reorder(late, first, change = (data) => data) {
  let held = null;
  const ext = {
    reordered: false,
    incoming(message, callback) {
      if (message.channel === '/api/todos' && message.data) {
        if (!held && !ext.reordered && late(message.data)) {
          held = message;
          return;
        }
        if (held && first(message.data)) {
          callback(message);
          const stale = held;
          held = null;
          stale.data = change(stale.data, message.data);
          ext.reordered = true;
          callback(stale);
          return;
        }
      }
      callback(message);
    },
  };
  return ext;
}

/**
 * A faye extension, added after the collection's, that delivers `extra(data)` (an event or null)
 * just before each delivery on /api/todos, and `after(data)` just after it.
 */
function inject({ before: extraBefore = () => null, after: extraAfter = () => null }) {
  return {
    incoming(message, callback) {
      if (message.channel === '/api/todos' && message.data) {
        const pre = extraBefore(message.data);
        const post = extraAfter(message.data);
        if (pre) callback({ channel: '/api/todos', data: pre });
        callback(message);
        if (post) callback({ channel: '/api/todos', data: post });
        return;
      }
      callback(message);
    },
  };
}

describe('ordering', () => {
  let server;
  serverForTests((started) => {
    server = started;
  });

  for (const transport of TRANSPORTS) {
    it(`drops an update delivered after a newer one (seq already applied) over ${transport}`, async () => {
      const row = await restOk(server, 'POST', '/api/todos', { title: 'v1' });
      const swap = reorder(
        (d) => d.body.id === row.id && d.body.title === 'v2',
        (d) => d.body.id === row.id && d.body.title === 'v3',
      );
      const c = fayeClient(server, transport, [swap]);
      const todos = liveTodos(server, transport, { faye: c.client });
      const t = track(todos);
      try {
        await withTimeout(todos.ready, 5000, 'the first load');
        await restOk(server, 'PATCH', `/api/todos/${row.id}`, { title: 'v2' });
        const v3 = await restOk(server, 'PATCH', `/api/todos/${row.id}`, { title: 'v3' });
        await waitFor(() => swap.reordered && t.live.ignored.length >= 1, 3000, 'the late v2');
        assert.equal(t.live.ignored[0].data.body.title, 'v2');
        assert.equal(t.live.ignored[0].reason, 'seen');
        assert.deepEqual(todos.get(row.id).toJSON(), v3, 'keeps v3');
        assert.equal(t.count('change', row.id), 1, 'one change: v3');
      } finally {
        await todos.close();
        await c.close();
      }
    });

    it(`drops an update whose version is not newer, whatever its seq, over ${transport}`, async () => {
      const row = await restOk(server, 'POST', '/api/todos', { title: 'w1' });
      // The late event gets a seq between v3's and the next one: only its version says it is older.
      const swap = reorder(
        (d) => d.body.id === row.id && d.body.title === 'w2',
        (d) => d.body.id === row.id && d.body.title === 'w3',
        (stale, newer) => ({ ...stale, seq: newer.seq + 0.5 }),
      );
      const c = fayeClient(server, transport, [swap]);
      const todos = liveTodos(server, transport, { faye: c.client });
      const t = track(todos);
      try {
        await withTimeout(todos.ready, 5000, 'the first load');
        await restOk(server, 'PATCH', `/api/todos/${row.id}`, { title: 'w2' });
        await restOk(server, 'PATCH', `/api/todos/${row.id}`, { title: 'w3' });
        await waitFor(() => swap.reordered && t.live.ignored.length >= 1, 3000, 'the late w2');
        assert.equal(t.live.ignored[0].reason, 'stale');
        assert.equal(todos.get(row.id).get('title'), 'w3');
        // Later events still apply.
        const w4 = await restOk(server, 'PATCH', `/api/todos/${row.id}`, { title: 'w4' });
        await waitFor(() => todos.get(row.id).get('title') === 'w4', 3000, 'w4');
        assert.deepEqual(todos.get(row.id).toJSON(), w4);
        assert.equal(t.count('change', row.id), 2, 'w3 and w4');
      } finally {
        await todos.close();
        await c.close();
      }
    });

    it(`drops events at or below the snapshot seq, and repeats, over ${transport}`, async () => {
      // An observer keeps a real event that the snapshot will already include.
      const observer = fayeClient(server, transport);
      const old = [];
      try {
        await withTimeout(
          observer.client.subscribe('/api/todos', (data) => old.push(data)),
          5000,
          'observer subscribe',
        );
        const row = await restOk(server, 'POST', '/api/todos', { title: 'old' });
        const fresh = await restOk(server, 'PATCH', `/api/todos/${row.id}`, { title: 'new' });
        await waitFor(() => old.length >= 2, 3000, 'the observer events');
        const oldEvent = old.find((e) => e.method === 'POST' && e.body.id === row.id);

        const todos = liveTodos(server, transport);
        const t = track(todos);
        try {
          await withTimeout(todos.ready, 5000, 'the first load');
          assert.ok(todos.lastSeq() >= oldEvent.seq, 'the snapshot includes the old event');
          assert.deepEqual(todos.get(row.id).toJSON(), fresh);
          let injected = 0;
          todos.faye.addExtension(
            inject({
              before: () => (injected++ === 0 ? oldEvent : null),
              after: (data) => (data.body.id === row.id ? structuredClone(data) : null),
            }),
          );
          const later = await restOk(server, 'PATCH', `/api/todos/${row.id}`, { completed: true });
          await waitFor(() => t.live.applied.length >= 1 && t.live.ignored.length >= 2, 3000, 'the three deliveries');
          assert.deepEqual(
            t.live.ignored.map((i) => [i.data.seq, i.reason]),
            [
              [oldEvent.seq, 'seen'],
              [t.live.applied[0].seq, 'seen'],
            ],
            'the old event and the repeat are dropped',
          );
          assert.deepEqual(todos.get(row.id).toJSON(), later);
          assert.equal(t.count('change', row.id), 1, 'applied once');
          assert.deepEqual(rows(todos), await table(server));
        } finally {
          await todos.close();
        }
      } finally {
        await observer.close();
      }
    });

    it(`keeps a newer event when our own write's response arrives after it over ${transport}`, async () => {
      const row = await restOk(server, 'POST', '/api/todos', { title: 'shared' });
      const gate = responseGate((init) => init.method === 'PUT');
      installAjax(gate.hold);
      const todos = liveTodos(server, transport);
      const t = track(todos);
      try {
        await withTimeout(todos.ready, 5000, 'the first load');
        const model = todos.get(row.id);
        const saving = model.save({ title: 'mine' });
        await waitFor(() => gate.arrived === 1, 3000, 'our PUT response (held)');
        const theirs = await restOk(server, 'PATCH', `/api/todos/${row.id}`, { title: 'theirs' });
        await waitFor(() => t.live.applied.some((e) => e.body.title === 'theirs'), 3000, 'their event');
        gate.release();
        await withTimeout(saving, 3000, 'our save');
        assert.deepEqual(model.toJSON(), theirs, 'the older response did not roll the model back');
        assert.deepEqual(rows(todos), await table(server));
      } finally {
        installAjax();
        await todos.close();
      }
    });

    it(`does not bring a destroyed row back with its late events over ${transport}`, async () => {
      const row = await restOk(server, 'POST', '/api/todos', { title: 'doomed' });
      const events = deliveryGate('/api/todos', (data) => data.body.id === row.id);
      const c = fayeClient(server, transport, [events]);
      const todos = liveTodos(server, transport, { faye: c.client });
      const t = track(todos);
      try {
        await withTimeout(todos.ready, 5000, 'the first load');
        await restOk(server, 'PATCH', `/api/todos/${row.id}`, { title: 'doomed, edited' });
        await waitFor(() => events.held === 1, 3000, 'their update (held)');
        await withTimeout(todos.get(row.id).destroy(), 3000, 'destroy');
        await waitFor(() => events.held === 2, 3000, 'our delete (held)');
        events.release();
        await waitFor(() => t.live.ignored.length >= 2, 3000, 'the late events');
        assert.deepEqual(
          t.live.ignored.map((i) => [i.data.method, i.reason]),
          [
            ['PATCH', 'deleted'],
            ['DELETE', 'absent'],
          ],
        );
        assert.equal(todos.get(row.id), undefined);
        assert.equal(t.count('add', row.id), 0);
        assert.equal(t.count('remove', row.id), 1);
        assert.deepEqual(rows(todos), await table(server));
      } finally {
        await todos.close();
        await c.close();
      }
    });
  }

  it("keeps a newer event over an older response of ours with a model that has its own parse", async () => {
    // The model calls the server's `title` `text`. The newer attributes handed to Backbone in place of
    // the older response are the model's already: they must not go through parse again (Backbone before
    // 1.2 parses a write's response whatever options.parse says).
    const Renamed = Backbone.Model.extend({
      parse(resp) {
        const { title, ...rest } = resp;
        return { ...rest, text: title };
      },
      toJSON() {
        const { text, ...rest } = this.attributes;
        return { ...rest, title: text };
      },
    });
    const row = await restOk(server, 'POST', '/api/todos', { title: 'shared, renamed' });
    const gate = responseGate((init) => init.method === 'PUT');
    installAjax(gate.hold);
    const todos = liveTodos(server, 'websocket', { model: Renamed });
    const t = track(todos);
    try {
      await withTimeout(todos.ready, 5000, 'the first load');
      const model = todos.get(row.id);
      assert.equal(model.get('text'), 'shared, renamed', 'loaded through parse');
      const saving = model.save({ text: 'mine' });
      await waitFor(() => gate.arrived === 1, 3000, 'our PUT response (held)');
      const theirs = await restOk(server, 'PATCH', `/api/todos/${row.id}`, { title: 'theirs' });
      await waitFor(() => model.get('text') === 'theirs', 3000, 'their event');
      gate.release();
      await withTimeout(saving, 3000, 'our save');
      assert.equal(model.get('text'), 'theirs', 'the older response did not roll the model back');
      assert.deepEqual(model.toJSON(), theirs);
      assert.equal(model.parse, Renamed.prototype.parse, "the model's own parse is back");
      assert.deepEqual(rows(todos), await table(server));
      assert.deepEqual(t.live.error, []);
    } finally {
      installAjax();
      await todos.close();
    }
  });
});
