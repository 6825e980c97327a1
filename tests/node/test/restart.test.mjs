// Server restart: the process is killed and started again on the same port and database. The client is
// told to handshake again, does so by itself, re-subscribes, and gets the next REST change, all without a
// tight request loop, counted both in the client and on the wire through a loopback proxy.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  TRANSPORTS,
  collector,
  countingProxy,
  fayeClient,
  restOk,
  startServer,
  waitFor,
} from '../lib/harness.mjs';

/** The most of `times` (sorted) within any one-second window. */
function peakPerSecond(times) {
  let peak = 0;
  for (let i = 0, j = 0; i < times.length; i += 1) {
    while (times[i] - times[j] >= 1000) j += 1;
    peak = Math.max(peak, i - j + 1);
  }
  return peak;
}

describe('server restart', () => {
  for (const transport of TRANSPORTS) {
    it(`re-handshakes, re-subscribes and gets the next change over ${transport}`, async () => {
      let server = await startServer();
      // The client talks through a loopback proxy that counts HTTP requests and WebSocket upgrades.
      const proxy = await countingProxy(server.port);
      const c = fayeClient(server, transport, { endpoint: proxy.endpoint });
      try {
        const { events, listener } = collector();
        await c.subscribe('/api/todos', listener);
        await waitFor(() => c.client._dispatcher.connectionType === transport, 3000, `connectionType ${transport}`);
        const before = await restOk(server, 'POST', '/api/todos', { title: 'before restart' });
        await waitFor(() => events.length >= 1, 2000, 'the event before the restart');
        const oldClientId = c.client._dispatcher.clientId;

        server = await server.restart();
        const restartedAt = Date.now();

        // The client's retry is 5 s by default; it then gets a 401 with handshake advice.
        await waitFor(() => c.count('/meta/handshake', restartedAt) >= 1, 20000, 'a new handshake');
        await waitFor(
          () =>
            c.stats.received.some(
              (m) => m.at >= restartedAt && m.channel === '/meta/subscribe' && m.message.successful === true,
            ),
          5000,
          'the automatic re-subscribe',
        );
        assert.notEqual(c.client._dispatcher.clientId, oldClientId, 'a new session');
        const after = await restOk(server, 'POST', '/api/todos', { title: 'after restart' });
        await waitFor(() => events.length >= 2, 3000, 'the event after the restart');
        assert.deepEqual(
          events.map((e) => e.body),
          [before, after],
        );
        await waitFor(() => c.client._dispatcher.connectionType === transport, 5000, `back on ${transport}`);

        // No tight loop: a handful of connects and handshakes per second at most, all along, counted both
        // as messages the client sent and as requests on the wire.
        const sentTimes = (channel) => c.stats.sent.filter((m) => m.channel === channel).map((m) => m.at);
        assert.ok(peakPerSecond(sentTimes('/meta/connect')) < 5, 'fewer than 5 connects in any second');
        assert.ok(peakPerSecond(sentTimes('/meta/handshake')) <= 2, 'at most 2 handshakes in any second');
        assert.ok(c.count('/meta/handshake') <= 4, `${c.count('/meta/handshake')} handshakes in all`);
        const wire = proxy.requests.map((r) => r.at);
        assert.ok(peakPerSecond(wire) < 10, `at most 10 requests in any second, saw ${peakPerSecond(wire)}`);
        const upgrades = proxy.requests.filter((r) => r.upgrade).length;
        if (transport === 'long-polling') assert.equal(upgrades, 0, 'no WebSocket attempts when disabled');
        else assert.ok(upgrades >= 2 && upgrades <= 6, `${upgrades} WebSocket upgrades`);
        const unknown = c.stats.received.filter((m) => /^401:/.test(m.message.error ?? ''));
        assert.ok(
          unknown.every((m) => m.message.advice?.reconnect === 'handshake'),
          `every 401 advises a handshake: ${JSON.stringify(unknown.map((m) => m.message))}`,
        );
      } finally {
        await c.close();
        await proxy.close();
        await server.stop();
      }
    });
  }
});
