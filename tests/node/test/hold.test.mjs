// Idle hold: with nothing to deliver, each /meta/connect is held for about the advertised timeout, and the
// client never sees its transport go down.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { HOLD_MS, TRANSPORTS, delay, fayeClient, startServer, waitFor } from '../lib/harness.mjs';

describe('idle hold', () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server?.stop();
  });

  for (const transport of TRANSPORTS) {
    it(`holds each connect for the timeout over ${transport}, without transport:down`, async () => {
      const c = fayeClient(server, transport);
      try {
        await c.subscribe('/api/todos', () => {});
        await waitFor(() => c.client._dispatcher.connectionType === transport, 3000, `connectionType ${transport}`);
        const windowStart = Date.now();
        // The behaviour under test is about time: stay idle for three holds.
        await delay(3 * HOLD_MS);
        const connects = c.stats.sent.filter((m) => m.channel === '/meta/connect' && m.at >= windowStart);
        assert.ok(
          connects.length >= 2 && connects.length <= 4,
          `about 3 connects in 3 holds, saw ${connects.length}`,
        );
        for (let i = 1; i < connects.length; i += 1) {
          const held = connects[i].at - connects[i - 1].at;
          assert.ok(held >= 0.9 * HOLD_MS, `connect ${i} came ${held} ms after the previous one`);
        }
        const advice = c.stats.received.filter((m) => m.channel === '/meta/connect' && m.message.advice);
        assert.ok(advice.length > 0, 'connect replies carry advice');
        assert.equal(advice.at(-1).message.advice.timeout, HOLD_MS, 'the advised timeout is the real hold');
        assert.deepEqual(c.stats.downs, [], 'no transport:down while idle');
        assert.equal(c.count('/meta/handshake'), 1, 'no re-handshake while idle');
      } finally {
        await c.close();
      }
    });
  }
});
