// Listening and teardown: unlisten() stops applying events and listen() resumes from the last seq;
// close() cancels the subscription, removes the collection's faye extension and disconnects a client
// it made, leaving no subscription behind. Bad set-ups get a clear error and change nothing.

import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { BACKBONE_PACKAGE, BACKBONE_VERSION, Backbone, LiveCollection, TRANSPORTS, deliveryGate, entry, fayeClient, live, liveTodos, restOk, rows, serverForTests, table, track, waitFor, withTimeout } from './harness.mjs';

/** A faye extension recording the messages a client sends and receives. */
function recorder() {
  const rec = {
    sent: [],
    received: [],
    outgoing(message, callback) {
      rec.sent.push(structuredClone(message));
      callback(message);
    },
    incoming(message, callback) {
      rec.received.push(structuredClone(message));
      callback(message);
    },
  };
  return rec;
}

describe('listen, unlisten and teardown', () => {
  let server;
  serverForTests((started) => {
    server = started;
  });

  for (const transport of TRANSPORTS) {
    it(`unlisten() stops applying events; listen() resumes with since, each once, over ${transport}`, async () => {
      const observer = fayeClient(server, transport);
      const todos = liveTodos(server, transport);
      const t = track(todos);
      try {
        const seenByObserver = [];
        await withTimeout(observer.client.subscribe('/api/todos', (d) => seenByObserver.push(d)), 5000, 'observer');
        await withTimeout(todos.ready, 5000, 'the first load');
        const kept = await restOk(server, 'POST', '/api/todos', { title: `kept (${transport})` });
        const doomed = await restOk(server, 'POST', '/api/todos', { title: `doomed (${transport})` });
        await waitFor(() => todos.get(doomed.id), 3000, 'the live rows');
        const seqBefore = todos.lastSeq();

        todos.unlisten();
        assert.equal(todos.isListening(), false);
        const before = rows(todos);
        const observed = seenByObserver.length;
        const created = await restOk(server, 'POST', '/api/todos', { title: `while not listening (${transport})` });
        await restOk(server, 'PATCH', `/api/todos/${kept.id}`, { completed: true });
        await restOk(server, 'DELETE', `/api/todos/${doomed.id}`);
        await waitFor(() => seenByObserver.length >= observed + 3, 3000, 'the observer seeing the three writes');
        // The observer got them; the collection's client would have had them by now, but applies nothing.
        assert.deepEqual(rows(todos), before, 'nothing applied while not listening');

        const resumed = todos.listen();
        assert.equal(todos.isListening(), true);
        await withTimeout(resumed, 5000, 'listen()');
        assert.equal(t.live.resumed.length, 1);
        assert.equal(t.live.resumed[0].since, seqBefore);
        assert.equal(t.live.resumed[0].replayed, 3);
        await waitFor(() => !todos.get(doomed.id), 3000, 'the replay');
        assert.deepEqual(rows(todos), await table(server));
        assert.equal(t.count('add', created.id), 1);
        assert.equal(t.seen.reset, 1, 'resumed, not reloaded');
        assert.equal(todos.listen(), todos.listen(), 'listen() while listening returns the same promise');
      } finally {
        await todos.close();
        await observer.close();
      }
    });

    it(`waits for the whole replay when older deliveries come late, over ${transport}`, async () => {
      // Deliveries queued for the old subscription can reach the client after listen() subscribed again.
      // Forced here: every delivery is held at the client, then the later of two stale ones goes first,
      // then the subscribe reply, then the rest (the older stale one and the replay of both).
      const deliveries = deliveryGate('/api/todos', () => deliveries.closed);
      deliveries.closed = false;
      let reply = null;
      const replyGate = {
        incoming(message, callback) {
          const isReply = message.channel === '/meta/subscribe' && message.subscription === '/api/todos';
          if (isReply && message.successful && message.ext?.replayed !== undefined) {
            reply = () => callback(message);
            return;
          }
          callback(message);
        },
      };
      const shared = fayeClient(server, transport, [replyGate, deliveries]);
      const todos = liveTodos(server, transport, { faye: shared.client });
      const t = track(todos);
      try {
        await withTimeout(todos.ready, 5000, 'the first load');
        const doomed = await restOk(server, 'POST', '/api/todos', { title: `late, doomed (${transport})` });
        await waitFor(() => todos.get(doomed.id), 3000, 'the first row');
        const since = todos.lastSeq();

        deliveries.closed = true;
        const created = await restOk(server, 'POST', '/api/todos', { title: `late, created (${transport})` });
        await restOk(server, 'DELETE', `/api/todos/${doomed.id}`);
        await waitFor(() => deliveries.held === 2, 3000, 'the two events, delivered to the old subscription');
        todos.unlisten();
        const resumed = todos.listen();
        await waitFor(() => reply && deliveries.held === 4, 5000, 'the reply and the replay (held)');
        deliveries.releaseFirst((data) => data.method === 'DELETE'); // the newer stale one first
        reply();
        deliveries.release();
        await withTimeout(resumed, 3000, 'listen()');
        assert.deepEqual(t.live.resumed.map((r) => [r.since, r.replayed]), [[since, 2]]);
        assert.ok(todos.get(created.id), 'the older replayed event is applied');
        assert.equal(todos.get(doomed.id), undefined);
        assert.deepEqual(rows(todos), await table(server));
        assert.deepEqual(
          t.live.applied.filter((e) => e.seq > since).map((e) => e.method),
          ['POST', 'DELETE'],
          'each once, in order',
        );
      } finally {
        await todos.close();
        await shared.close();
      }
    });

    it(`close() on a shared faye client leaves no subscription and no extension over ${transport}`, async () => {
      const rec = recorder();
      const shared = fayeClient(server, transport);
      const observer = fayeClient(server, transport);
      const todos = liveTodos(server, transport, { faye: shared.client });
      shared.client.addExtension(rec); // after the collection's, so it records what goes on the wire
      try {
        await withTimeout(todos.ready, 5000, 'the first load');
        const subscribe = rec.sent.find((m) => m.channel === '/meta/subscribe' && m.subscription === '/api/todos');
        assert.deepEqual(subscribe.ext, { snapshot: true }, 'the first subscribe asks for a snapshot');

        await todos.close();
        assert.equal(todos.isListening(), false);
        await waitFor(
          () => rec.received.some((m) => m.channel === '/meta/unsubscribe' && m.successful && m.subscription === '/api/todos'),
          3000,
          'the acknowledged unsubscribe',
        );
        assert.equal(shared.client._state, shared.client.CONNECTED, 'a client the app gave stays connected');

        // Server behaviour: after a change on /api/todos, a chat message published later reaches the shared
        // client in session order; no /api/todos delivery came before it.
        const probe = [];
        await withTimeout(shared.client.subscribe('/chat/probe', (d) => probe.push(d)), 5000, 'probe subscribe');
        const deliveredBefore = rec.received.filter((m) => m.channel === '/api/todos').length;
        const observed = [];
        await withTimeout(observer.client.subscribe('/api/todos', (d) => observed.push(d)), 5000, 'observer');
        await restOk(server, 'POST', '/api/todos', { title: `after close (${transport})` });
        await waitFor(() => observed.length >= 1, 3000, 'the observer seeing the write');
        await withTimeout(observer.client.publish('/chat/probe', { n: 1 }), 3000, 'publish the probe');
        await waitFor(() => probe.length >= 1, 3000, 'the probe');
        assert.equal(
          rec.received.filter((m) => m.channel === '/api/todos').length,
          deliveredBefore,
          'no event on /api/todos after close',
        );

        // The extension is gone: a plain subscribe by the app carries no since/snapshot.
        const sentBefore = rec.sent.length;
        await withTimeout(shared.client.subscribe('/api/todos', () => {}), 5000, 'a plain subscribe');
        const plain = rec.sent.slice(sentBefore).find((m) => m.channel === '/meta/subscribe');
        assert.equal(plain.ext, undefined, 'no ext from a closed collection');
      } finally {
        await todos.close();
        await shared.close();
        await observer.close();
      }
    });
  }

  it('close() disconnects the faye client the collection made', async () => {
    const todos = liveTodos(server, 'websocket');
    const rec = recorder();
    todos.faye.addExtension(rec);
    await withTimeout(todos.ready, 5000, 'the first load');
    await withTimeout(todos.close(), 3000, 'close');
    assert.ok(
      rec.received.some((m) => m.channel === '/meta/disconnect' && m.successful),
      'the server acknowledged the disconnect',
    );
    assert.equal(todos.faye._state, todos.faye.DISCONNECTED);
    await assert.rejects(todos.listen(), /closed/);
  });

  it('refuses a second LiveCollection on the same client and channel, and a channel the server refuses', async () => {
    const shared = fayeClient(server, 'websocket');
    const first = liveTodos(server, 'websocket', { faye: shared.client });
    try {
      await withTimeout(first.ready, 5000, 'the first load');
      const second = liveTodos(server, 'websocket', { faye: shared.client });
      const errors = [];
      second.on('live:error', (c, e) => errors.push(e));
      await assert.rejects(second.ready, /already listens to \/api\/todos/);
      assert.equal(second.isListening(), false);
      assert.equal(first.isListening(), true, 'the first one goes on');

      // A channel without a log: the server refuses ext.snapshot with 405.
      const chat = new LiveCollection([], { url: `${server.url}/chat/room`, faye: shared.client });
      const refused = await withTimeout(chat.ready.catch((e) => e), 5000, 'the refusal');
      assert.equal(refused.code, 405, refused.message);
      assert.match(refused.message, /subscribe to \/chat\/room failed: 405/);
      assert.equal(chat.isListening(), false);
      assert.equal(chat.length, 0);
      await chat.close();
      await second.close();
    } finally {
      await first.close();
      await shared.close();
    }
  });

  it('reports bad set-ups clearly', async () => {
    assert.throws(() => new LiveCollection([], { url: '/api/todos' }), /needs a faye client .* or a Bayeux endpoint/);
    assert.throws(() => new LiveCollection([], { url: '/api/todos', faye: {} }), /not a faye client/);
    const shared = fayeClient(server, 'websocket');
    try {
      const nowhere = new LiveCollection([], { faye: shared.client });
      await assert.rejects(nowhere.ready, /no channel/);
      const pattern = new LiveCollection([], { url: '/api/*', faye: shared.client });
      await assert.rejects(pattern.ready, /no channel/);
      assert.equal(shared.client._state === shared.client.CONNECTED, false, 'nothing was sent');
    } finally {
      await shared.close();
    }
  });

  it('is the same library as a plain script, a CommonJS module and an ES module', async () => {
    const require = createRequire(import.meta.url);
    const cjs = require('../backbone-live.js');
    assert.equal(cjs, entry, 'the ES module entry re-exports the CommonJS one');
    if (BACKBONE_PACKAGE === 'backbone') assert.equal(cjs.LiveCollection, LiveCollection);
    else assert.notEqual(cjs.LiveCollection, LiveCollection, 'create() builds on another Backbone');
    assert.equal(Backbone.VERSION, BACKBONE_VERSION);
    assert.ok(LiveCollection.prototype instanceof Backbone.Collection, `built on Backbone ${Backbone.VERSION}`);
    assert.ok(live.LiveModel.prototype instanceof Backbone.Model, `LiveModel built on Backbone ${Backbone.VERSION}`);
    const esm = await import('../index.mjs');
    assert.equal(esm.LiveModel, cjs.LiveModel, 'LiveModel from both entries');
    assert.equal(esm.LiveCollection, cjs.LiveCollection);
    const shared = fayeClient(server, 'websocket');
    try {
      const todos = new LiveCollection([], { url: '/api/todos', faye: shared.client, listen: false });
      assert.ok(todos instanceof Backbone.Collection);
      const Todos = LiveCollection.extend({ url: '/api/todos', comparator: 'order' });
      assert.ok(new Todos([], { faye: shared.client, listen: false }) instanceof LiveCollection, 'extend() works');
    } finally {
      await shared.close();
    }
    assert.equal(cjs.channelOf('http://127.0.0.1:3000/api/todos?x=1'), '/api/todos');
    assert.equal(cjs.channelOf('/api/todos/'), '/api/todos');
    assert.equal(cjs.channelOf('api/todos'), null);
  });

  it('with {listen: false}, subscribes only when listen() is called', async () => {
    const shared = fayeClient(server, 'long-polling');
    try {
      const todos = liveTodos(server, 'long-polling', { faye: shared.client, listen: false });
      assert.equal(todos.isListening(), false);
      assert.equal(shared.client._state === shared.client.CONNECTED, false, 'no handshake until listen()');
      await withTimeout(todos.listen(), 5000, 'listen()');
      assert.deepEqual(rows(todos), await table(server));
      await withTimeout(todos.ready, 1000, 'ready');
      await todos.close();
    } finally {
      await shared.close();
    }
  });
});
