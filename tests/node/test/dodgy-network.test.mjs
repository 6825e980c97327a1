// Dodgy networks (docs/protocol.md §6.5): a loopback proxy between the client and example-todo stops
// passing the server's bytes while changes are made, then closes the connection, or throws away one
// long-polling reply that carries events. The server wrote those events into a socket that never delivered
// them.
//
// - faye with the ack extension (clients/backbone's `ackExtension`) and CometD with its own `AckExtension`
//   get every event again on the same session, once and in order.
// - faye without it cannot say what it missed, so the server ends its session: it handshakes again (and an
//   application resumes with `since`, as the Backbone client does) instead of carrying on with a silent gap.

import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { adapt } from 'cometd-nodejs-client';
import { TRANSPORTS, collector, fayeClient, restOk, startServer, waitFor, withTimeout } from '../lib/harness.mjs';
import { changesIntoTheVoid, faultyProxy } from '../../support/faulty-proxy.mjs';

const require = createRequire(import.meta.url);
const { ackExtension } = require('../../../clients/backbone/backbone-live.js');

adapt();
const { CometD } = await import('cometd');
const { AckExtension } = await import('cometd/AckExtension.js');

/** faye retries a failed message after `retry` seconds (5 by default): keep the tests short. */
const FAYE = { retry: 1 };

/**
 * The server answers an acknowledging client's held connect this soon after the first event of a batch
 * (10 s by default), so a test that waits for an acknowledgement is short.
 */
const ACK_FAST = { args: ['--ack-interval-ms', '200'] };

/**
 * Watches a client's acknowledgements: add it after the ack extension (faye runs extensions in the order
 * added; CometD runs outgoing ones in reverse), so it sees the `ext.ack` each connect carries.
 */
function ackSpy() {
  const log = [];
  const spy = {
    log,
    outgoing(message, callback) {
      if (message.channel === '/meta/connect') log.push({ sent: message.ext?.ack });
      return callback ? callback(message) : message;
    },
    incoming(message, callback) {
      if (message.channel === '/meta/connect' && message.successful) log.push({ reply: message.ext?.ack });
      else if (message.channel === '/api/todos' && message.data) log.push({ event: true });
      return callback ? callback(message) : message;
    },
    /**
     * Whether the client has acknowledged every event it received: the batch of the last one (over
     * WebSocket the reply after it; over long-polling the reply it came with, which comes first) is
     * covered by an `ext.ack` sent since.
     */
    acknowledged(transport) {
      const last = log.findLastIndex((entry) => entry.event);
      const replies = log.map((entry, index) => ({ ...entry, index })).filter((entry) => entry.reply !== undefined);
      const batch =
        transport === 'websocket'
          ? replies.find((entry) => entry.index > last)
          : replies.findLast((entry) => entry.index < last);
      return !!batch && log.slice(batch.index + 1).some((entry) => entry.sent >= batch.reply);
    },
  };
  return spy;
}

/** Every event of /api/todos in the server's log, in order, as a subscriber receives it (seq, method). */
function summary(events) {
  return events.map((data) => `${data.seq} ${data.method} ${data.body.id}`);
}

/** The events the server logged on /api/todos, as `summary` shows them (GET /api/todos does not list them). */
async function logged(server, count) {
  const replies = await withTimeout(
    fetch(server.endpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify([
        {
          channel: '/meta/handshake',
          version: '1.0',
          supportedConnectionTypes: ['long-polling'],
          id: 'h',
        },
      ]),
    }).then((r) => r.json()),
    5000,
    'a handshake',
  );
  const clientId = replies[0].clientId;
  const post = (messages) =>
    fetch(server.endpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(messages),
    }).then((r) => r.json());
  await post([{ channel: '/meta/connect', clientId, connectionType: 'long-polling', id: 'c' }]);
  const subscribed = await post([
    { channel: '/meta/subscribe', clientId, subscription: '/api/todos', id: 's', ext: { since: 0 } },
    { channel: '/meta/connect', clientId, connectionType: 'long-polling', id: 'c2', advice: { timeout: 0 } },
  ]);
  const events = subscribed.filter((m) => m.channel === '/api/todos').map((m) => m.data);
  assert.equal(events.length, count, `the log holds ${count} events: ${JSON.stringify(subscribed)}`);
  return summary(events);
}

describe('dodgy networks', () => {
  for (const transport of TRANSPORTS) {
    it(`faye with the ack extension gets every event lost in a stalled connection, once and in order, over ${transport}`, async () => {
      const server = await startServer(ACK_FAST);
      const proxy = await faultyProxy(server.port);
      const spy = ackSpy();
      const c = fayeClient(server, transport, {
        endpoint: proxy.endpoint,
        clientOptions: FAYE,
        extensions: [ackExtension(), spy],
      });
      try {
        const got = collector();
        await c.subscribe('/api/todos', got.listener);
        const handshake = c.stats.received.find((m) => m.channel === '/meta/handshake');
        assert.deepEqual(handshake.message.ext, { ack: true }, 'the server acknowledges');
        await restOk(server, 'POST', '/api/todos', { title: 'before' });
        await waitFor(() => got.events.length === 1, 5000, 'the first event');
        // The server closes a batch soon after its first event; once the client has acknowledged it, that
        // event is never sent again.
        await waitFor(() => spy.acknowledged(transport), 5000, 'the first event to be acknowledged', () => spy.log);
        const clientId = c.client._dispatcher.clientId;

        proxy.stall();
        await changesIntoTheVoid(server, proxy, transport);
        assert.equal(got.events.length, 1, 'nothing arrived while the network stalled');
        proxy.cut();

        await waitFor(() => got.events.length >= 5, 10000, 'the four changes', () => summary(got.events));
        assert.deepEqual(summary(got.events), await logged(server, 5), 'every event once, in order');
        assert.equal(c.client._dispatcher.clientId, clientId, 'the same session carried on');
        const resent = c.stats.received.filter((m) => m.channel === '/api/todos' && m.message.ext?.resent === true);
        assert.ok(resent.length >= 1, 'the lost events came again, marked');

        // And it is live: the next change arrives once.
        await restOk(server, 'POST', '/api/todos', { title: 'after' });
        await waitFor(() => got.events.length === 6, 5000, 'the next event');
      } finally {
        await c.close();
        await proxy.close();
        await server.stop();
      }
    });

    it(`faye without acks is told to handshake again when events were lost in a stalled connection, over ${transport}`, async () => {
      const server = await startServer(ACK_FAST);
      const proxy = await faultyProxy(server.port);
      const c = fayeClient(server, transport, { endpoint: proxy.endpoint, clientOptions: FAYE });
      try {
        const got = collector();
        await c.subscribe('/api/todos', got.listener);
        const clientId = c.client._dispatcher.clientId;
        proxy.stall();
        await changesIntoTheVoid(server, proxy, transport);
        proxy.cut();
        await waitFor(
          () => c.client._dispatcher.clientId && c.client._dispatcher.clientId !== clientId,
          10000,
          'a new session',
        );
        const newId = c.client._dispatcher.clientId;
        const refused = c.stats.received.find(
          (m) => m.channel === '/meta/connect' && m.message.successful === false && m.message.clientId === undefined,
        );
        assert.ok(refused, 'a connect was refused');
        assert.match(refused.message.error, /^401:/);
        assert.equal(refused.message.advice.reconnect, 'handshake');
        // faye subscribes again on the new session by itself; once it has, the next change arrives (one
        // published before that would be lost: that is what a plain faye client without resume risks).
        await waitFor(
          () =>
            c.stats.received.some(
              (m) => m.channel === '/meta/subscribe' && m.message.successful && m.message.clientId === newId,
            ),
          10000,
          'faye to subscribe again',
        );
        const before = got.events.length;
        const next = await restOk(server, 'POST', '/api/todos', { title: 'after' });
        await waitFor(() => got.events.some((e) => e.body.id === next.id), 5000, 'the next event');
        assert.equal(got.events.length, before + 1);
      } finally {
        await c.close();
        await proxy.close();
        await server.stop();
      }
    });
  }

  it('a long-polling reply with events that is lost on the way is delivered on the next connect', async () => {
    const server = await startServer(ACK_FAST);
    const proxy = await faultyProxy(server.port);
    const c = fayeClient(server, 'long-polling', {
      endpoint: proxy.endpoint,
      clientOptions: FAYE,
      extensions: [ackExtension()],
    });
    try {
      const got = collector();
      await c.subscribe('/api/todos', got.listener);
      const clientId = c.client._dispatcher.clientId;
      proxy.dropResponse('"method":"POST"');
      const created = await restOk(server, 'POST', '/api/todos', { title: 'in a lost reply' });
      await waitFor(() => proxy.dropped === 1, 5000, 'the reply to be dropped');
      await waitFor(() => got.events.length >= 1, 10000, 'the event, on the next connect');
      assert.deepEqual(
        got.events.map((e) => [e.method, e.body]),
        [['POST', created]],
      );
      assert.equal(c.client._dispatcher.clientId, clientId, 'the same session');
      await restOk(server, 'DELETE', `/api/todos/${created.id}`);
      await waitFor(() => got.events.length >= 2, 5000, 'the next event');
      assert.deepEqual(summary(got.events), await logged(server, 2), 'once each, in order');
    } finally {
      await c.close();
      await proxy.close();
      await server.stop();
    }
  });

  for (const transport of TRANSPORTS) {
    it(`CometD with its AckExtension gets every event lost in a stalled connection, once and in order, over ${transport}`, async () => {
      const server = await startServer(ACK_FAST);
      const proxy = await faultyProxy(server.port);
      const cometd = new CometD();
      if (transport === 'long-polling') cometd.unregisterTransport('websocket');
      const spy = ackSpy();
      cometd.registerExtension('spy', spy);
      cometd.registerExtension('ack', new AckExtension());
      cometd.configure({ url: proxy.endpoint, logLevel: 'warn', backoffIncrement: 200, maxBackoff: 1000 });
      const reply = (what, start) => withTimeout(new Promise((resolve) => start(resolve)), 5000, what);
      try {
        const handshake = await reply('CometD handshake', (done) => cometd.handshake(done));
        assert.equal(handshake.successful, true, JSON.stringify(handshake));
        assert.equal(handshake.ext?.ack, true, 'the server acknowledges');
        const got = [];
        const subscribed = await reply('CometD subscribe', (done) =>
          cometd.subscribe('/api/todos', (message) => got.push(message.data), done),
        );
        assert.equal(subscribed.successful, true, JSON.stringify(subscribed));
        await restOk(server, 'POST', '/api/todos', { title: 'before' });
        await waitFor(() => got.length === 1, 5000, 'the first event');
        await waitFor(() => spy.acknowledged(transport), 5000, 'the first event to be acknowledged', () => spy.log);
        const clientId = cometd.getClientId();

        proxy.stall();
        await changesIntoTheVoid(server, proxy, transport);
        proxy.cut();

        await waitFor(() => got.length >= 5, 15000, 'the four changes', () => summary(got));
        assert.deepEqual(summary(got), await logged(server, 5), 'every event once, in order');
        assert.equal(cometd.getClientId(), clientId, 'the same session carried on');
      } finally {
        if (!cometd.isDisconnected()) await reply('CometD disconnect', (done) => cometd.disconnect(done)).catch(() => {});
        await proxy.close();
        await server.stop();
      }
    });
  }
});
