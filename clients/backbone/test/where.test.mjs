// Filtered collections: `where` (the REST list's filter syntax) goes on the collection's load (the
// snapshot's subscribe as `ext.where`, or the REST GET's query string) and on every subscribe, so the
// server sends only the matching rows' changes: a row that starts matching arrives as a POST with
// `enter` and is added, one that stops matching as a DELETE with `leave` and leaves the collection as a
// deleted row does (the server marks real deletes `leave` too). A filter the server refuses is a
// `live:error`.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Backbone, TRANSPORTS, createIn, installAjax, liveTodos, restOk, rows, serverForTests, track, waitFor, withTimeout } from './harness.mjs';
import { isDeepStrictEqual } from 'node:util';

/** The server's rows that match `query`, in id order. */
async function matching(server, query) {
  const found = await restOk(server, 'GET', `/api/todos?${query}`);
  return [...found].sort((a, b) => a.id - b.id);
}

/** Waits (bounded) until the collection holds exactly the rows matching `query`; fails with the difference. */
async function equalToMatching(todos, server, query, ms, what) {
  let last;
  try {
    await waitFor(
      async () => {
        last = await matching(server, query);
        return isDeepStrictEqual(rows(todos), last);
      },
      ms,
      what,
    );
  } catch (error) {
    assert.deepEqual(rows(todos), last, error.message);
  }
}

/**
 * A faye extension recording each /meta/subscribe a client sends. It keeps the message itself, so that
 * it sees the `ext` the collection's extension adds whether it runs before or after that one.
 */
function subscribeSpy() {
  const spy = {
    sent: [],
    outgoing(message, callback) {
      if (message.channel === '/meta/subscribe') spy.sent.push(message);
      callback(message);
    },
  };
  return spy;
}

/** A row view: it listens to its model's `destroy`, as TodoMVC's do. */
function destroyCounter(model) {
  const view = { destroyed: 0 };
  Object.assign(view, Backbone.Events);
  view.listenTo(model, 'destroy', () => {
    view.destroyed += 1;
  });
  return view;
}

const OPEN = 'completed=eq.false';

describe('where: filtered collections', () => {
  let server;
  serverForTests((started) => {
    server = started;
  });

  for (const transport of TRANSPORTS) {
    for (const snapshot of [true, false]) {
      it(`loads only the matching rows (${snapshot ? 'snapshot' : 'REST GET'}), over ${transport}`, async () => {
        await restOk(server, 'POST', '/api/todos', { title: `open (${transport}, ${snapshot})` });
        await restOk(server, 'POST', '/api/todos', { title: `done (${transport}, ${snapshot})`, completed: true });
        const requests = [];
        installAjax((url, init) => {
          requests.push(`${init.method ?? 'GET'} ${url}`);
        });
        const todos = liveTodos(server, transport, { where: OPEN, snapshot });
        const t = track(todos);
        try {
          await withTimeout(todos.ready, 5000, 'the first load');
          assert.equal(t.live.ready[0].source, snapshot ? 'snapshot' : 'fetch');
          assert.ok(todos.length >= 1);
          assert.equal(todos.where({ completed: true }).length, 0, 'no completed todo');
          assert.deepEqual(rows(todos), await matching(server, OPEN));
          assert.equal(todos.getWhere(), OPEN);
          if (snapshot) {
            assert.deepEqual(requests, [], 'no REST read');
          } else {
            assert.equal(requests.length, 1);
            assert.match(requests[0], /^GET http:\/\/127\.0\.0\.1:\d+\/api\/todos\?completed=eq\.false$/);
          }
          assert.deepEqual(t.live.error, []);
        } finally {
          installAjax();
          await todos.close();
        }
      });
    }

    it(`adds a row that starts matching and removes one that stops (enter, leave), over ${transport}`, async () => {
      const todos = liveTodos(server, transport, { where: OPEN });
      const t = track(todos);
      try {
        await withTimeout(todos.ready, 5000, 'the first load');
        const open = await restOk(server, 'POST', '/api/todos', { title: `created open (${transport})` });
        const done = await restOk(server, 'POST', '/api/todos', { title: `created done (${transport})`, completed: true });
        await waitFor(() => todos.get(open.id), 3000, 'the open todo');
        const model = todos.get(open.id);
        const view = destroyCounter(model);

        const created = t.live.applied.find((e) => e.body.id === open.id);
        assert.equal(created.method, 'POST');
        assert.equal(created.enter, true, 'a create of a matching row enters');

        // Another client completes it: it leaves the collection as a deleted row does (the server marks a
        // real delete `leave` too), so the row's view goes as well.
        await restOk(server, 'PATCH', `/api/todos/${open.id}`, { completed: true });
        await waitFor(() => !todos.get(open.id), 3000, 'the leave');
        const leave = t.live.applied.find((e) => e.body.id === open.id && e.method === 'DELETE');
        assert.equal(leave.leave, true, 'a DELETE with leave');
        assert.equal(leave.body.completed, false, 'carrying the row as it was');
        assert.equal(t.count('remove', open.id), 1, 'removed');
        assert.equal(view.destroyed, 1, 'its view heard destroy once');

        // And reopens it: it enters again.
        const reopened = await restOk(server, 'PATCH', `/api/todos/${open.id}`, { completed: false, title: 'reopened' });
        await waitFor(() => todos.get(open.id), 3000, 'the enter');
        const enter = t.live.applied.filter((e) => e.body.id === open.id && e.method === 'POST').at(-1);
        assert.equal(enter.enter, true, 'a POST with enter');
        assert.deepEqual(enter.body, reopened);
        assert.deepEqual(todos.get(open.id).toJSON(), reopened);
        assert.equal(t.count('add', open.id), 2, 'added, and added again');

        // A completed todo never shows, whatever happens to it while it does not match.
        await restOk(server, 'PATCH', `/api/todos/${done.id}`, { title: 'still done' });
        await restOk(server, 'DELETE', `/api/todos/${done.id}`);
        await equalToMatching(todos, server, OPEN, 3000, 'the open todos');
        assert.equal(t.count('add', done.id), 0);
        assert.equal(
          t.live.applied.some((e) => e.body.id === done.id) || t.live.ignored.some((i) => i.data.body.id === done.id),
          false,
          'nothing of a row that never matched arrived',
        );
        assert.deepEqual(t.live.error, []);
      } finally {
        await todos.close();
      }
    });

    it(`keeps its local writes working, a save that stops matching leaving it, over ${transport}`, async () => {
      const todos = liveTodos(server, transport, { where: OPEN });
      const t = track(todos);
      try {
        await withTimeout(todos.ready, 5000, 'the first load');
        const model = await withTimeout(createIn(todos, { title: `local (${transport})` }), 3000, 'the create');
        await waitFor(() => t.live.applied.some((e) => e.body.id === model.id) || t.live.ignored.some((i) => i.data.body.id === model.id), 3000, 'the POST event');
        assert.equal(todos.where({ title: `local (${transport})` }).length, 1, 'one model');
        assert.equal(t.count('add', model.id), 1, 'added once');

        await withTimeout(
          new Promise((resolve, reject) => {
            model.save({ title: 'local, edited' }, { patch: true, success: resolve, error: () => reject(new Error('save failed')) });
          }),
          3000,
          'the PATCH',
        );
        assert.deepEqual(model.toJSON(), await restOk(server, 'GET', `/api/todos/${model.id}`));
        await equalToMatching(todos, server, OPEN, 3000, 'the open todos');

        const view = destroyCounter(model);
        await withTimeout(
          new Promise((resolve, reject) => {
            model.save({ completed: true }, { patch: true, success: resolve, error: () => reject(new Error('save failed')) });
          }),
          3000,
          'the PATCH completing it',
        );
        await waitFor(() => !todos.get(model.id), 3000, 'the leave');
        assert.equal(view.destroyed, 1, 'destroy once');
        assert.equal((await restOk(server, 'GET', `/api/todos/${model.id}`)).completed, true);
        await equalToMatching(todos, server, OPEN, 3000, 'the open todos');
        assert.deepEqual(t.live.error, []);
      } finally {
        await todos.close();
      }
    });

    it(`listen() after unlisten() replays the enters and leaves made meanwhile, over ${transport}`, async () => {
      const a = await restOk(server, 'POST', '/api/todos', { title: `a (${transport})` });
      const b = await restOk(server, 'POST', '/api/todos', { title: `b (${transport})`, completed: true });
      const spy = subscribeSpy();
      const todos = liveTodos(server, transport, { where: OPEN, listen: false });
      todos.faye.addExtension(spy);
      const t = track(todos);
      try {
        await withTimeout(todos.listen(), 5000, 'the first load');
        assert.ok(todos.get(a.id) && !todos.get(b.id));
        todos.unlisten();
        await restOk(server, 'PATCH', `/api/todos/${a.id}`, { completed: true });
        await restOk(server, 'PATCH', `/api/todos/${b.id}`, { completed: false });
        await withTimeout(todos.listen(), 5000, 'listen()');
        await waitFor(() => !todos.get(a.id) && todos.get(b.id), 3000, 'the replay');
        assert.equal(t.live.resumed.length, 1);
        assert.equal(t.live.resumed[0].replayed, 2, 'a leave and an enter');
        assert.deepEqual(
          spy.sent.filter((m) => m.subscription === '/api/todos').map((m) => m.ext),
          [
            { where: OPEN, snapshot: true },
            { where: OPEN, since: t.live.resumed[0].since },
          ],
          'the load and the resume carry the filter',
        );
        await equalToMatching(todos, server, OPEN, 3000, 'the open todos');
        assert.equal(t.seen.reset, 1, 'resumed, not reloaded');
      } finally {
        await todos.close();
      }
    });

    it(`setWhere() loads the rows of another filter and follows it, over ${transport}`, async () => {
      const spy = subscribeSpy();
      const todos = liveTodos(server, transport, { where: OPEN, listen: false });
      todos.faye.addExtension(spy);
      const t = track(todos);
      try {
        await withTimeout(todos.listen(), 5000, 'the first load');
        const done = await restOk(server, 'POST', '/api/todos', { title: `done, for setWhere (${transport})`, completed: true });
        await withTimeout(todos.setWhere({ completed: 'eq.true' }), 5000, 'setWhere()');
        assert.equal(todos.getWhere(), 'completed=eq.true');
        assert.equal(spy.sent.at(-1).ext.where, 'completed=eq.true');
        assert.equal(spy.sent.at(-1).ext.snapshot, true, 'a new load');
        assert.ok(todos.get(done.id));
        assert.equal(t.live.reset.length, 2);
        await equalToMatching(todos, server, 'completed=eq.true', 3000, 'the completed todos');
        const later = await restOk(server, 'POST', '/api/todos', { title: `later (${transport})`, completed: true });
        await restOk(server, 'POST', '/api/todos', { title: `later, open (${transport})` });
        await waitFor(() => todos.get(later.id), 3000, 'a live completed todo');
        await equalToMatching(todos, server, 'completed=eq.true', 3000, 'the completed todos');
      } finally {
        await todos.close();
      }
    });

    it(`emits live:error when the server refuses the filter, over ${transport}`, async () => {
      for (const where of ['order=title.asc', 'colour=eq.red', 'completed=nope.1']) {
        const todos = liveTodos(server, transport, { where });
        const t = track(todos);
        const errors = [];
        todos.on('live:error', (collection, error) => errors.push({ collection, error }));
        try {
          await assert.rejects(withTimeout(todos.ready, 5000, 'the refusal'), (error) => {
            assert.equal(error.code, 400, `${where}: ${error.message}`);
            return true;
          });
          assert.equal(errors.length, 1, where);
          assert.equal(errors[0].collection, todos);
          assert.equal(errors[0].error.code, 400);
          assert.match(errors[0].error.bayeuxError, /^400:/);
          assert.equal(todos.isListening(), false, 'a refusal stops listening');
          assert.equal(t.seen.reset, 0);
        } finally {
          await todos.close();
        }
      }
    });
  }

  it('sends an object filter as a query string, each value encoded', async () => {
    const spy = subscribeSpy();
    const where = { completed: 'eq.false', title: ['like.*milk*', 'neq.a b&c'] };
    const todos = liveTodos(server, 'websocket', { where, listen: false });
    todos.faye.addExtension(spy);
    const milk = await restOk(server, 'POST', '/api/todos', { title: 'buy milk' });
    await restOk(server, 'POST', '/api/todos', { title: 'buy bread' });
    try {
      const expected = 'completed=eq.false&title=like.*milk*&title=neq.a%20b%26c';
      assert.equal(todos.getWhere(), expected);
      await withTimeout(todos.listen(), 5000, 'the first load');
      assert.equal(spy.sent.find((m) => m.subscription === '/api/todos').ext.where, expected);
      assert.ok(todos.get(milk.id));
      assert.deepEqual(rows(todos), await matching(server, expected));
    } finally {
      await todos.close();
    }
    assert.throws(() => liveTodos(server, 'websocket', { where: 42, listen: false }), /where must be/);
    assert.throws(() => liveTodos(server, 'websocket', { where: { completed: null }, listen: false }), /"op\.value"/);
  });
});
