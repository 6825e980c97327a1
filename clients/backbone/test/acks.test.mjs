// Dodgy networks: a loopback proxy stops passing the server's bytes while changes are made, then closes
// the connection. The server wrote those events into a connection that never delivered them.
//
// - With acks (the default), the collection's faye client acknowledges what it received and the server
//   sends the rest again on the same session; what had arrived already is dropped by seq.
// - Without acks, the server ends a WebSocket session that may have lost events, and the collection
//   resumes with `since` after faye's new handshake.
// - After any transport outage the collection also resumes with `since` on its own; when nothing was
//   missed that is one round trip that replays nothing.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TRANSPORTS, equalToTable, fayeClient, installAjax, liveTodos, restOk, startServer, track, waitFor, withTimeout } from './harness.mjs';
import { changesIntoTheVoid, faultyProxy, occurrences } from '../../../tests/support/faulty-proxy.mjs';

/** faye retries a failed message after `retry` seconds (5 by default): keep the tests short. */
const FAYE = { retry: 1 };

/**
 * The server answers an acknowledging client's held connect this soon after the first event of a batch
 * (10 s by default), so a test that waits for an acknowledgement is short.
 */
const ACK_FAST = { args: ['--ack-interval-ms', '200'] };

/** Asserts every event was applied once, in seq order, and no row was added twice. */
function appliedOnceInOrder(t) {
  const seqs = t.live.applied.map((e) => e.seq);
  assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y), 'applied in order');
  assert.equal(new Set(seqs).size, seqs.length, 'no event applied twice');
  const adds = new Map();
  for (const model of t.seen.add) adds.set(model.id, (adds.get(model.id) ?? 0) + 1);
  assert.deepEqual([...adds].filter(([, n]) => n > 1), [], 'no row added twice');
}

describe('dodgy networks', () => {
  installAjax();

  for (const transport of TRANSPORTS) {
    for (const acks of [true, false]) {
      it(`gets every change made while the network stalled, once and in order, ${acks ? 'with' : 'without'} acks, over ${transport}`, async () => {
        const server = await startServer(ACK_FAST);
        const proxy = await faultyProxy(server.port);
        const todos = liveTodos(server, transport, { endpoint: proxy.endpoint, fayeOptions: FAYE, acks });
        const t = track(todos);
        try {
          await withTimeout(todos.ready, 5000, 'the first load');
          const first = await restOk(server, 'POST', '/api/todos', { title: 'before' });
          await waitFor(() => todos.get(first.id), 5000, 'the first event');
          const clientId = todos.faye._dispatcher.clientId;

          proxy.stall();
          await changesIntoTheVoid(server, proxy, transport);
          assert.equal(todos.length, 1, 'nothing arrived while the network stalled');
          proxy.cut();

          await equalToTable(todos, server, 10000, 'the changes made while away');
          appliedOnceInOrder(t);
          if (acks) {
            assert.equal(todos.faye._dispatcher.clientId, clientId, 'the same session carried on');
          } else if (transport === 'websocket') {
            assert.notEqual(todos.faye._dispatcher.clientId, clientId, 'the server ended the session');
            assert.ok(t.live.resumed.length >= 1, 'resumed with since');
          }

          // Live in both directions again.
          const next = await restOk(server, 'POST', '/api/todos', { title: 'after' });
          await waitFor(() => todos.get(next.id), 5000, 'the next event');
          await withTimeout(
            new Promise((resolve, reject) => {
              todos.create({ title: 'from the collection' }, { success: resolve, error: () => reject(new Error('create failed')) });
            }),
            5000,
            'a create from the collection',
          );
          await equalToTable(todos, server, 5000, 'the table');
          appliedOnceInOrder(t);
        } finally {
          await todos.close();
          await proxy.close();
          await server.stop();
        }
      });
    }
  }

  it('drops by seq the events the server sends again that had arrived already', async () => {
    const server = await startServer(ACK_FAST);
    const proxy = await faultyProxy(server.port);
    const todos = liveTodos(server, 'websocket', { endpoint: proxy.endpoint, fayeOptions: FAYE });
    const t = track(todos);
    try {
      await withTimeout(todos.ready, 5000, 'the first load');
      // The event gets through; the network goes away before the connect reply that would let the client
      // acknowledge it (the server answers it a moment after the event).
      proxy.stallAfter('"title":"arrived, not acknowledged"');
      const first = await restOk(server, 'POST', '/api/todos', { title: 'arrived, not acknowledged' });
      await waitFor(() => todos.get(first.id), 5000, 'the event');
      await waitFor(() => occurrences(proxy.discarded, '"/meta/connect"') >= 1, 5000, 'the connect reply to be lost');
      proxy.cut();
      await waitFor(
        () => t.live.ignored.some(({ data, reason }) => reason === 'seen' && data.body?.id === first.id),
        10000,
        'the event again, dropped',
      );
      assert.deepEqual(
        t.live.applied.map((e) => e.body.id),
        [first.id],
        'applied once',
      );
      assert.equal(todos.length, 1);
    } finally {
      await todos.close();
      await proxy.close();
      await server.stop();
    }
  });

  for (const transport of TRANSPORTS) {
    it(`resumes with since after faye reports its transport down and up, in one round trip when nothing was missed, over ${transport}`, async () => {
      const server = await startServer(ACK_FAST);
      const proxy = await faultyProxy(server.port);
      const subscribes = [];
      const spy = {
        outgoing(message, callback) {
          if (message.channel === '/meta/subscribe') subscribes.push(message);
          callback(message);
        },
      };
      const client = fayeClient({ endpoint: proxy.endpoint }, transport, [], FAYE);
      const todos = liveTodos(server, transport, { faye: client.client });
      // Added after the collection's extension, so it sees the `ext` that one adds.
      client.client.addExtension(spy);
      const t = track(todos);
      const downs = [];
      todos.on('live:down', () => downs.push(Date.now()));
      try {
        await withTimeout(todos.ready, 5000, 'the first load');
        const first = await restOk(server, 'POST', '/api/todos', { title: 'before' });
        await waitFor(() => todos.get(first.id), 5000, 'the event');
        const seq = todos.lastSeq();
        // The network goes quiet until faye gives up on its connect (1.2 × the server's timeout), then the
        // connection is closed and faye connects again. Nothing was written meanwhile.
        proxy.stall();
        await waitFor(() => downs.length >= 1, 10000, 'faye reporting its transport down');
        const before = subscribes.length;
        proxy.cut();
        await waitFor(() => t.live.resumed.length >= 1, 10000, 'the resume');
        assert.deepEqual(t.live.resumed[0], { since: seq, seq, replayed: 0 });
        const sent = subscribes.slice(before);
        assert.equal(sent.length, 1, 'one /meta/subscribe');
        assert.deepEqual(sent[0].ext, { since: seq });
        const next = await restOk(server, 'POST', '/api/todos', { title: 'after' });
        await waitFor(() => todos.get(next.id), 5000, 'the next event');
        appliedOnceInOrder(t);
      } finally {
        await todos.close();
        await client.close();
        await proxy.close();
        await server.stop();
      }
    });
  }
});
