// LiveModel: one record kept in sync over its record channel (`/api/todos/42`). It loads with a snapshot
// of the record, applies the PUTs and PATCHes made elsewhere with `set`, hears nothing of other records,
// and when the record is deleted (or was gone before it started) triggers `destroy` once, as a local
// destroy() does, and unsubscribes. After a transport outage it resumes with `since` on the record
// channel: each change once, none missed.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Backbone, LiveCollection, LiveModel, TRANSPORTS, equalToTable, fayeClient, installAjax, liveTodo, restOk, rows, serverForTests, startServer, trackModel, waitFor, withTimeout } from './harness.mjs';
import { faultyProxy, occurrences } from '../../../tests/support/faulty-proxy.mjs';

/** faye retries a failed message after `retry` seconds (5 by default): keep the tests short. */
const FAYE = { retry: 1 };

/** A faye extension recording the /meta/subscribe and /meta/unsubscribe messages a client sends. */
function metaSpy() {
  const spy = {
    subscribes: [],
    unsubscribes: [],
    outgoing(message, callback) {
      if (message.channel === '/meta/subscribe') spy.subscribes.push(structuredClone(message));
      if (message.channel === '/meta/unsubscribe') spy.unsubscribes.push(structuredClone(message));
      callback(message);
    },
  };
  return spy;
}

/** The model's attributes as the server's row has them. */
function attrs(model) {
  return { ...model.attributes };
}

/** Asserts the model applied each event once, in seq order. */
function appliedOnceInOrder(t) {
  const seqs = t.live.applied.map((e) => e.seq);
  assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y), 'applied in order');
  assert.equal(new Set(seqs).size, seqs.length, 'no event applied twice');
}

describe('LiveModel', () => {
  let server;
  serverForTests((started) => {
    server = started;
  });

  for (const transport of TRANSPORTS) {
    it(`loads its record and follows the PATCHes and PUTs another client makes, over ${transport}`, async () => {
      const row = await restOk(server, 'POST', '/api/todos', { title: `followed (${transport})` });
      const model = liveTodo(server, transport, row.id);
      const t = trackModel(model);
      try {
        await withTimeout(model.ready, 5000, 'the first load');
        assert.equal(model.channel, `/api/todos/${row.id}`);
        assert.deepEqual(attrs(model), row, 'the snapshot of the record');
        assert.equal(t.live.ready[0].source, 'snapshot');

        const patched = await restOk(server, 'PATCH', `/api/todos/${row.id}`, { completed: true });
        await waitFor(() => model.get('completed') === true, 3000, 'the PATCH');
        assert.deepEqual(attrs(model), patched);
        const put = await restOk(server, 'PUT', `/api/todos/${row.id}`, { title: 'replaced', completed: false, order: 3 });
        await waitFor(() => model.get('title') === 'replaced', 3000, 'the PUT');
        assert.deepEqual(attrs(model), put);
        assert.deepEqual(
          t.live.applied.map((e) => [e.method, e.body]),
          [
            ['PATCH', patched],
            ['PUT', put],
          ],
        );
        assert.equal(t.seen.change, 3, 'a change for the snapshot and one per write');
        assert.equal(model.lastSeq(), t.live.applied[1].seq);
        assert.deepEqual(t.live.error, []);
      } finally {
        await model.close();
      }
    });

    it(`hears nothing of other records, over ${transport}`, async () => {
      const mine = await restOk(server, 'POST', '/api/todos', { title: `mine (${transport})` });
      const other = await restOk(server, 'POST', '/api/todos', { title: `other (${transport})` });
      const observer = fayeClient(server, transport);
      const model = liveTodo(server, transport, mine.id);
      const t = trackModel(model);
      try {
        const observed = [];
        await withTimeout(observer.client.subscribe('/api/todos', (d) => observed.push(d)), 5000, 'the observer');
        await withTimeout(model.ready, 5000, 'the first load');
        await restOk(server, 'PATCH', `/api/todos/${other.id}`, { title: 'other, edited' });
        await restOk(server, 'DELETE', `/api/todos/${other.id}`);
        const edited = await restOk(server, 'PATCH', `/api/todos/${mine.id}`, { title: 'mine, edited' });
        await waitFor(() => observed.length >= 3, 3000, 'the observer seeing the three writes');
        await waitFor(() => model.get('title') === 'mine, edited', 3000, 'the PATCH of its own record');
        assert.deepEqual(attrs(model), edited);
        assert.deepEqual(
          t.live.applied.map((e) => e.body.id),
          [mine.id],
          'only its record',
        );
        assert.deepEqual(t.live.ignored, [], 'nothing of the other record even arrived');
        assert.deepEqual(t.seen.destroy, []);
        assert.equal(model.isListening(), true);
      } finally {
        await model.close();
        await observer.close();
      }
    });

    it(`triggers destroy once when its record is deleted, then unsubscribes, over ${transport}`, async () => {
      const row = await restOk(server, 'POST', '/api/todos', { title: `doomed (${transport})` });
      const spy = metaSpy();
      const shared = fayeClient(server, transport, [spy]);
      const model = liveTodo(server, transport, row.id, { faye: shared.client });
      // A plain collection holding the model, as an app's list would: `destroy` takes the model out.
      const list = new Backbone.Collection([model]);
      const t = trackModel(model);
      try {
        await withTimeout(model.ready, 5000, 'the first load');
        const deleted = await restOk(server, 'DELETE', `/api/todos/${row.id}`);
        await waitFor(() => t.seen.destroy.length >= 1, 3000, 'destroy');
        const [destroyed, collection, options] = t.seen.destroy[0];
        assert.equal(destroyed, model, "destroy's arguments are Backbone's: the model");
        assert.equal(collection, list, '… its collection');
        assert.equal(options.live.method, 'DELETE', '… and options carrying the event');
        assert.deepEqual(options.live.body, deleted);
        assert.equal(list.length, 0, 'the collection dropped it');
        assert.equal(model.isListening(), false);
        await waitFor(
          () => spy.unsubscribes.some((m) => m.subscription === `/api/todos/${row.id}`),
          3000,
          'the /meta/unsubscribe of the record channel',
        );
        assert.equal(t.seen.destroy.length, 1, 'destroy once');
        await assert.rejects(model.listen(), /closed/, 'a deleted record does not listen again');
        assert.deepEqual(t.live.error, []);
      } finally {
        await model.close();
        await shared.close();
      }
    });

    it(`triggers destroy once when it starts on a deleted record, over ${transport}`, async () => {
      const row = await restOk(server, 'POST', '/api/todos', { title: `gone before (${transport})` });
      await restOk(server, 'DELETE', `/api/todos/${row.id}`);
      for (const snapshot of [true, false]) {
        const model = liveTodo(server, transport, row.id, { snapshot });
        const t = trackModel(model);
        try {
          await assert.rejects(withTimeout(model.ready, 5000, 'the first load'), (error) => {
            assert.equal(error.code, 404);
            assert.match(error.message, new RegExp(`/api/todos/${row.id} does not exist`));
            return true;
          });
          assert.equal(t.seen.destroy.length, 1, `destroy once (snapshot: ${snapshot})`);
          assert.equal(t.seen.destroy[0][0], model);
          assert.equal(t.seen.destroy[0][2].live.source, snapshot ? 'snapshot' : 'fetch');
          assert.equal(model.isListening(), false);
          assert.deepEqual(t.live.error, []);
        } finally {
          await model.close();
        }
      }
    });

    it(`keeps its own saves once and starts listening when a save gives it an id, over ${transport}`, async () => {
      const model = liveTodo(server, transport, undefined);
      const t = trackModel(model);
      const requests = [];
      installAjax((url, init) => {
        requests.push(init);
      });
      try {
        assert.equal(model.isListening(), false, 'no id, no channel yet');
        await withTimeout(
          new Promise((resolve, reject) => {
            model.save({ title: `saved (${transport})` }, { success: resolve, error: () => reject(new Error('save failed')) });
          }),
          3000,
          'the create',
        );
        assert.equal(typeof model.id, 'number');
        await withTimeout(model.ready, 5000, 'the load after the id came');
        assert.equal(model.channel, `/api/todos/${model.id}`);

        await withTimeout(
          new Promise((resolve, reject) => {
            model.save({ title: 'edited here' }, { patch: true, success: resolve, error: () => reject(new Error('save failed')) });
          }),
          3000,
          'the PATCH',
        );
        await waitFor(
          () => t.live.applied.length + t.live.ignored.length >= 1,
          3000,
          'the echo of the PATCH',
        );
        const echo = [...t.live.applied, ...t.live.ignored.map((i) => i.data)][0];
        assert.equal(echo.origin, requests.at(-1).headers['Live-Request-Id'], 'the echo carries our request id');
        assert.deepEqual(attrs(model), await restOk(server, 'GET', `/api/todos/${model.id}`));
        assert.equal(
          requests.filter((r) => r.method !== 'GET').every((r) => typeof r.headers['Live-Request-Id'] === 'string'),
          true,
          'a request id on every write',
        );

        // Our own destroy(): Backbone's destroy once; the echo only ends the listen.
        await withTimeout(
          new Promise((resolve, reject) => {
            model.destroy({ wait: true, success: resolve, error: () => reject(new Error('destroy failed')) });
          }),
          3000,
          'the destroy',
        );
        assert.equal(model.isListening(), false);
        assert.equal(t.seen.destroy.length, 1, 'destroy once');
        assert.deepEqual(t.live.error, []);
      } finally {
        installAjax();
        await model.close();
      }
    });

    it(`in a LiveCollection, shares its faye client and leaves once on a delete, over ${transport}`, async () => {
      const LiveTodo = LiveModel.extend({});
      const local = await startServer(); // a table of its own, so the collection holds just these rows
      const todos = new LiveCollection([], {
        url: `${local.url}/api/todos`,
        model: LiveTodo,
        endpoint: local.endpoint,
        disable: transport === 'long-polling' ? ['websocket'] : [],
      });
      try {
        const row = await restOk(local, 'POST', '/api/todos', { title: `in a collection (${transport})` });
        await withTimeout(todos.ready, 5000, 'the collection');
        const model = await waitFor(() => todos.get(row.id), 3000, 'the row');
        assert.ok(model instanceof LiveTodo);
        assert.equal(model.faye, todos.faye, "the collection's faye client");
        await withTimeout(model.ready, 5000, 'the model');
        // A reload (here by setWhere) builds the new models before its reset drops the old ones: the old one
        // lets go of the channel, the new one listens.
        const errors = [];
        todos.on('live:error', (c, error) => errors.push(error));
        await withTimeout(todos.setWhere(null), 5000, 'the reload');
        assert.equal(model.isListening(), false, 'the model the collection dropped closed');
        const renewed = todos.get(row.id);
        assert.notEqual(renewed, model);
        await withTimeout(renewed.ready, 5000, 'the new model');
        assert.equal(renewed.isListening(), true);
        renewed.on('live:error', (m, error) => errors.push(error));

        const t = trackModel(renewed);
        const edited = await restOk(local, 'PATCH', `/api/todos/${row.id}`, { title: 'edited' });
        await waitFor(() => t.live.applied.length === 1, 3000, 'the record channel event');
        assert.deepEqual(attrs(renewed), edited);
        await restOk(local, 'DELETE', `/api/todos/${row.id}`);
        await waitFor(() => t.seen.destroy.length >= 1 && !renewed.isListening(), 3000, 'destroy');
        await equalToTable(todos, local, 3000, 'the empty table');
        assert.equal(t.seen.destroy.length, 1, 'destroy once, whichever channel told first');
        assert.deepEqual(rows(todos), []);
        assert.deepEqual(errors, []);
      } finally {
        await todos.close();
        await local.stop();
      }
    });
  }
});

describe('LiveModel after a transport outage', () => {
  installAjax();

  for (const transport of TRANSPORTS) {
    for (const acks of [true, false]) {
      it(`gets every change made while the network stalled, once and none missed, ${acks ? 'with' : 'without'} acks, over ${transport}`, async () => {
        const server = await startServer({ args: ['--ack-interval-ms', '200'] });
        const proxy = await faultyProxy(server.port);
        try {
          const row = await restOk(server, 'POST', '/api/todos', { title: 'before' });
          const model = liveTodo(server, transport, row.id, { endpoint: proxy.endpoint, fayeOptions: FAYE, acks });
          const t = trackModel(model);
          try {
            await withTimeout(model.ready, 5000, 'the first load');
            await restOk(server, 'PATCH', `/api/todos/${row.id}`, { title: 'first' });
            await waitFor(() => model.get('title') === 'first', 3000, 'the first PATCH');

            // The network swallows what the server sends, then the connection is cut.
            proxy.stall();
            const lost = [
              await restOk(server, 'PATCH', `/api/todos/${row.id}`, { title: 'second', completed: true }),
              await restOk(server, 'PUT', `/api/todos/${row.id}`, { title: 'third', completed: true, order: 7 }),
            ];
            await waitFor(
              () => occurrences(proxy.discarded, `"channel":"/api/todos/${row.id}"`) >= 1,
              5000,
              'the events to be lost on the wire',
            );
            assert.equal(model.get('title'), 'first', 'nothing arrived while the network stalled');
            proxy.cut();

            await waitFor(() => model.get('title') === 'third', 15000, 'the changes made while away');
            assert.deepEqual(attrs(model), lost[1]);
            appliedOnceInOrder(t);
            assert.deepEqual(
              t.live.applied.map((e) => e.body.title),
              ['first', 'second', 'third'],
              'each change once, none missed',
            );
            if (!acks) {
              // Nothing re-sent the lost events: the resume with `since` on the record channel replayed them.
              assert.ok(
                t.live.resumed.some((r) => r.replayed >= 1),
                `resumed with a replay: ${JSON.stringify(t.live.resumed)}`,
              );
            }
            assert.equal(t.live.reset.length, 1, 'resumed, not reloaded');

            // Live again.
            const next = await restOk(server, 'PATCH', `/api/todos/${row.id}`, { title: 'after' });
            await waitFor(() => model.get('title') === 'after', 5000, 'the next change');
            assert.deepEqual(attrs(model), next);
            appliedOnceInOrder(t);
            assert.deepEqual(t.seen.destroy, []);
          } finally {
            await model.close();
          }
        } finally {
          await proxy.close();
          await server.stop();
        }
      });
    }
  }
});
