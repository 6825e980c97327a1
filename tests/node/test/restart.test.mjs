// Server restart: the process is killed and started again on the same port and database. The client is
// told to handshake again, does so by itself, re-subscribes, and gets the next REST change, all without a
// tight request loop.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TRANSPORTS, collector, fayeClient, restOk, startServer, waitFor } from '../lib/harness.mjs';

/** The most messages on `channel` sent within any one-second window. */
function peakPerSecond(sent, channel) {
  const times = sent.filter((m) => m.channel === channel).map((m) => m.at);
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
      const c = fayeClient(server, transport);
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

        // No tight loop: a handful of connects and handshakes per second at most, all along.
        assert.ok(peakPerSecond(c.stats.sent, '/meta/connect') < 5, 'fewer than 5 connects in any second');
        assert.ok(peakPerSecond(c.stats.sent, '/meta/handshake') <= 2, 'at most 2 handshakes in any second');
        assert.ok(c.count('/meta/handshake') <= 4, `${c.count('/meta/handshake')} handshakes in all`);
        const unknown = c.stats.received.filter((m) => /^401:/.test(m.message.error ?? ''));
        assert.ok(
          unknown.every((m) => m.message.advice?.reconnect === 'handshake'),
          `every 401 advises a handshake: ${JSON.stringify(unknown.map((m) => m.message))}`,
        );
      } finally {
        await c.close();
        await server.stop();
      }
    });
  }
});
