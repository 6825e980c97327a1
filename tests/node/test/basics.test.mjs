// The faye 1.4.3 client against example-todo's Bayeux endpoint: handshake, live CRUD, wildcards, errors,
// server-only channels, duplicate subscriptions and disconnect, over WebSocket and long-polling.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import {
  TRANSPORTS,
  collector,
  bayeuxPost,
  fayeClient,
  rejection,
  restOk,
  startServer,
  waitFor,
  withTimeout,
} from '../lib/harness.mjs';

for (const transport of TRANSPORTS) {
  describe(`faye 1.4.3 over ${transport}`, () => {
    let server;
    before(async () => {
      server = await startServer();
    });
    after(async () => {
      await server?.stop();
    });

    it('handshakes, connects, and has a subscribe acknowledged within 500 ms on the expected transport', async () => {
      const c = fayeClient(server, transport);
      try {
        const started = Date.now();
        await c.subscribe('/api/todos', () => {}, 5000);
        const elapsed = Date.now() - started;
        assert.ok(elapsed < 500, `subscribe acknowledged after ${elapsed} ms`);
        await waitFor(() => c.client._dispatcher.connectionType === transport, 3000, `connectionType ${transport}`);
        assert.ok(c.count('/meta/handshake') >= 1);
        assert.equal(c.count('/meta/handshake'), 1, 'a single handshake');
        assert.ok(c.client._dispatcher.clientId, 'has a clientId');
      } finally {
        await c.close();
      }
    });

    it('delivers REST creates, updates and deletes in order, matching the REST bodies', async () => {
      const c = fayeClient(server, transport);
      try {
        const { events, listener } = collector();
        await c.subscribe('/api/todos', listener);
        const created = await restOk(
          server,
          'POST',
          '/api/todos',
          { title: 'write tests', order: 1 },
          { 'live-request-id': 'create-1' },
        );
        await waitFor(() => events.length >= 1, 2000, 'the create event');
        const updated = await restOk(server, 'PUT', `/api/todos/${created.id}`, {
          ...created,
          title: 'write more tests',
          completed: true,
        });
        await waitFor(() => events.length >= 2, 2000, 'the update event');
        const patched = await restOk(server, 'PATCH', `/api/todos/${created.id}`, { order: 7 });
        await waitFor(() => events.length >= 3, 2000, 'the patch event');
        const deleted = await restOk(server, 'DELETE', `/api/todos/${created.id}`);
        await waitFor(() => events.length >= 4, 2000, 'the delete event');

        assert.equal(events.length, 4, JSON.stringify(events));
        assert.deepEqual(
          events.map((e) => e.method),
          ['POST', 'PUT', 'PATCH', 'DELETE'],
        );
        assert.deepEqual(events[0].body, created);
        assert.deepEqual(events[1].body, updated);
        assert.deepEqual(events[2].body, patched);
        assert.deepEqual(events[3].body, deleted);
        assert.equal(patched.order, 7);
        assert.equal(events[0].origin, 'create-1', 'origin echoes the Live-Request-Id of the write');
        assert.equal(events[1].origin, null, 'origin is null for a write without Live-Request-Id');
        for (let i = 1; i < events.length; i += 1) {
          assert.ok(events[i].seq > events[i - 1].seq, `seq increases: ${JSON.stringify(events)}`);
        }
      } finally {
        await c.close();
      }
    });

    it('calls /api/todos, /api/* and /api/** once per event, sent once, withChannel naming /api/todos', async () => {
      const c = fayeClient(server, transport);
      try {
        const exact = collector();
        const star = collector();
        const starStar = collector();
        const channels = [];
        await Promise.all([
          c.subscribe('/api/todos', exact.listener),
          withTimeout(
            c.client.subscribe('/api/*', star.listener).withChannel((channel) => channels.push(channel)),
            5000,
            'subscribe /api/*',
          ),
          c.subscribe('/api/**', starStar.listener),
        ]);
        const created = await restOk(server, 'POST', '/api/todos', { title: 'wildcards' });
        await waitFor(
          () => exact.events.length && star.events.length && starStar.events.length,
          2000,
          'all three listeners',
        );
        // A later event on the same session shows no extra copy of the first one is on its way.
        await restOk(server, 'DELETE', `/api/todos/${created.id}`);
        await waitFor(
          () => exact.events.length >= 2 && star.events.length >= 2 && starStar.events.length >= 2,
          2000,
          'the delete event on all three listeners',
        );
        for (const listener of [exact, star, starStar]) {
          assert.deepEqual(
            listener.events.map((e) => [e.method, e.body.id]),
            [
              ['POST', created.id],
              ['DELETE', created.id],
            ],
          );
        }
        const onWire = c.stats.received.filter((m) => m.channel === '/api/todos' && m.message.data !== undefined);
        assert.equal(onWire.length, 2, 'one copy of each event reaches the client');
        assert.deepEqual(channels, ['/api/todos', '/api/todos'], 'withChannel names the concrete channel');
      } finally {
        await c.close();
      }
    });

    it('routes /chat/* to one more segment only and /chat/** to any depth', async () => {
      const subscriber = fayeClient(server, transport);
      const publisher = fayeClient(server, transport);
      try {
        const one = collector();
        const any = collector();
        await subscriber.subscribe('/chat/*', one.listener);
        await subscriber.subscribe('/chat/**', any.listener);
        await withTimeout(publisher.client.publish('/chat/a/b', { n: 1 }), 3000, 'publish /chat/a/b');
        await withTimeout(publisher.client.publish('/chat/a', { n: 2 }), 3000, 'publish /chat/a');
        await waitFor(() => any.events.length >= 2, 2000, 'both chat messages on /chat/**');
        assert.deepEqual(any.events, [{ n: 1 }, { n: 2 }]);
        assert.deepEqual(one.events, [{ n: 2 }]);
      } finally {
        await Promise.all([subscriber.close(), publisher.close()]);
      }
    });

    it('rejects subscriptions to /meta/foo and /service/x with 403 and to bad with 405', async () => {
      const c = fayeClient(server, transport);
      try {
        let called = 0;
        const listener = () => {
          called += 1;
        };
        const meta = await rejection(c.client.subscribe('/meta/foo', listener), 5000, 'subscribe /meta/foo');
        assert.equal(meta.code, 403, JSON.stringify(meta));
        const service = await rejection(c.client.subscribe('/service/x', listener), 5000, 'subscribe /service/x');
        assert.equal(service.code, 403, JSON.stringify(service));
        const bad = await rejection(c.client.subscribe('bad', listener), 5000, 'subscribe bad');
        assert.equal(bad.code, 405, JSON.stringify(bad));
        // The client still works after the errors.
        const events = collector();
        await c.subscribe('/api/todos', events.listener);
        await restOk(server, 'POST', '/api/todos', { title: 'after errors' });
        await waitFor(() => events.events.length >= 1, 2000, 'an event after the errors');
        assert.equal(called, 0, 'a rejected subscription never calls its listener');
      } finally {
        await c.close();
      }
    });

    it('refuses client publishes on /api/todos (403); acks chat and delivers it without clientId', async () => {
      const a = fayeClient(server, transport);
      const b = fayeClient(server, transport);
      try {
        const live = collector();
        const chat = collector();
        await b.subscribe('/api/todos', live.listener);
        await b.subscribe('/chat/room', chat.listener);
        await a.subscribe('/chat/room', () => {});

        const refused = await rejection(
          a.client.publish('/api/todos', { method: 'POST', body: { id: 999, title: 'forged' } }),
          5000,
          'publish to /api/todos',
        );
        assert.equal(refused.code, 403, JSON.stringify(refused));

        await withTimeout(a.client.publish('/chat/room', { text: 'hello' }), 3000, 'chat publish ack');
        await waitFor(() => chat.events.length >= 1, 2000, 'the chat message');
        assert.deepEqual(chat.events, [{ text: 'hello' }]);
        const delivered = b.stats.received.find((m) => m.channel === '/chat/room' && m.message.data !== undefined);
        assert.ok(delivered, 'the chat message was seen on the wire');
        assert.equal(delivered.message.clientId, undefined, 'a delivered event carries no clientId');
        assert.equal(delivered.message.successful, undefined, 'a delivered event is not a reply');

        // REST events still flow, and the forged one never arrived.
        const created = await restOk(server, 'POST', '/api/todos', { title: 'real' });
        await waitFor(() => live.events.length >= 1, 2000, 'the REST event');
        assert.deepEqual(
          live.events.map((e) => e.body),
          [created],
        );
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    });

    it('keeps delivering after one of two identical subscriptions is cancelled, and stops after both', async () => {
      const c = fayeClient(server, transport);
      const other = fayeClient(server, transport);
      try {
        const first = collector();
        const second = collector();
        const sentinel = collector();
        const sub1 = c.client.subscribe('/api/todos', first.listener);
        const sub2 = c.client.subscribe('/api/todos', second.listener);
        await withTimeout(Promise.all([sub1, sub2]), 5000, 'both subscriptions');
        await c.subscribe('/chat/sentinel', sentinel.listener);

        sub1.cancel();
        await restOk(server, 'POST', '/api/todos', { title: 'still here' });
        await waitFor(() => second.events.length >= 1, 2000, 'an event after one cancel');
        assert.equal(first.events.length, 0, 'the cancelled listener is not called');

        sub2.cancel();
        await waitFor(() => c.count('/meta/unsubscribe') >= 1, 2000, 'the unsubscribe');
        // The unsubscribe must be acknowledged before the next write, or the write may race it.
        await waitFor(
          () => c.stats.received.some((m) => m.channel === '/meta/unsubscribe' && m.message.successful),
          3000,
          'the unsubscribe acknowledgement',
        );
        await restOk(server, 'POST', '/api/todos', { title: 'not for you' });
        // Events reach a session in order: once the later sentinel arrives, the REST event would have too.
        await withTimeout(other.client.publish('/chat/sentinel', { after: true }), 3000, 'sentinel publish');
        await waitFor(() => sentinel.events.length >= 1, 2000, 'the sentinel');
        const onWire = c.stats.received.filter((m) => m.channel === '/api/todos' && m.message.data !== undefined);
        assert.equal(onWire.length, 1, 'no event after both cancels');
        assert.equal(second.events.length, 1);
        assert.equal(c.count('/meta/unsubscribe'), 1, 'a single unsubscribe on the wire');
      } finally {
        await Promise.all([c.close(), other.close()]);
      }
    });

    it('disconnects: the promise resolves and the session is gone on the server', async () => {
      const c = fayeClient(server, transport);
      await c.subscribe('/api/todos', () => {});
      const clientId = c.client._dispatcher.clientId;
      let closeCode;
      if (transport === 'websocket') {
        await waitFor(() => c.client._dispatcher._transport?._socket, 3000, 'the open WebSocket');
        const socket = c.client._dispatcher._transport._socket;
        socket.addEventListener('close', (event) => {
          closeCode = event.code;
        });
      }
      await withTimeout(c.client.disconnect(), 3000, 'disconnect');
      assert.ok(
        c.stats.received.some((m) => m.channel === '/meta/disconnect' && m.message.successful === true),
        'the disconnect was acknowledged',
      );
      const [reply] = await bayeuxPost(server, [
        { channel: '/meta/connect', clientId, connectionType: 'long-polling', id: 'x1' },
      ]);
      assert.equal(reply.successful, false, JSON.stringify(reply));
      assert.match(reply.error, /^401:/);
      assert.equal(reply.advice?.reconnect, 'handshake');
      if (transport === 'websocket') {
        await waitFor(() => closeCode !== undefined, 3000, 'the WebSocket to close');
        assert.equal(closeCode, 1000);
      }
    });
  });
}

describe('disconnect over a raw WebSocket', () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server?.stop();
  });

  it('is acknowledged, then the server closes the socket with code 1000', async () => {
    const [handshake] = await bayeuxPost(server, [
      { channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['websocket', 'long-polling'], id: '1' },
    ]);
    assert.equal(handshake.successful, true, JSON.stringify(handshake));
    const { clientId } = handshake;
    const socket = new WebSocket(server.endpoint.replace(/^http/, 'ws'));
    const replies = [];
    let closed;
    socket.on('message', (data) => replies.push(...JSON.parse(data.toString())));
    const closedPromise = new Promise((resolve) => {
      socket.on('close', (code) => {
        closed = code;
        resolve();
      });
    });
    try {
      const opened = new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
      await withTimeout(opened, 3000, 'the WebSocket to open');
      socket.send(JSON.stringify([{ channel: '/meta/connect', clientId, connectionType: 'websocket', id: '2' }]));
      await waitFor(() => replies.some((r) => r.id === '2'), 3000, 'the first connect reply');
      socket.send(JSON.stringify([{ channel: '/meta/disconnect', clientId, id: '3' }]));
      await waitFor(() => replies.some((r) => r.id === '3'), 3000, 'the disconnect reply');
      assert.equal(replies.find((r) => r.id === '3').successful, true);
      await withTimeout(closedPromise, 3000, 'the server to close the socket');
      assert.equal(closed, 1000);
    } finally {
      socket.terminate();
    }
  });
});
