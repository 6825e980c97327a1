// Token auth (--token): a client extension puts the token in `ext.token`; a client without it is refused
// at the handshake and does not loop.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TRANSPORTS, collector, delay, fayeClient, restOk, startServer, waitFor, withTimeout } from '../lib/harness.mjs';

const TOKEN = 's3cret-token';

/** The usual faye auth extension: the token in `ext.token` of every outgoing message. */
function tokenExtension(token) {
  return {
    outgoing(message, callback) {
      message.ext = { ...(message.ext ?? {}), token };
      callback(message);
    },
  };
}

describe('--token', () => {
  let server;
  before(async () => {
    server = await startServer({ args: ['--token', TOKEN] });
  });
  after(async () => {
    await server?.stop();
  });

  for (const transport of TRANSPORTS) {
    it(`lets a client with the token in ext subscribe and receive events over ${transport}`, async () => {
      const c = fayeClient(server, transport, { extensions: [tokenExtension(TOKEN)] });
      try {
        const { events, listener } = collector();
        await c.subscribe('/api/todos', listener);
        const created = await restOk(server, 'POST', '/api/todos', { title: 'authorised' });
        await waitFor(() => events.length >= 1, 2000, 'the event');
        assert.deepEqual(events[0].body, created);
        const delivered = c.stats.received.find((m) => m.channel === '/api/todos' && m.message.data !== undefined);
        assert.equal(delivered.message.ext?.token, undefined, 'no token is forwarded in delivered events');
      } finally {
        await c.close();
      }
    });

    it(`refuses a client with a wrong token at the handshake, without a loop, over ${transport}`, async () => {
      const c = fayeClient(server, transport, { extensions: [tokenExtension('wrong')] });
      const started = Date.now();
      try {
        let acknowledged = false;
        c.client.subscribe('/api/todos', () => {}).then(() => {
          acknowledged = true;
        });
        const refusal = await waitFor(
          () => c.stats.received.find((m) => m.channel === '/meta/handshake' && m.message.successful === false),
          3000,
          'the handshake refusal',
        );
        assert.match(refusal.message.error, /^40[13]:/, JSON.stringify(refusal.message));
        // The behaviour under test is a rate: watch the client for three seconds.
        await delay(3000);
        const handshakes = c.count('/meta/handshake');
        const elapsed = (Date.now() - started) / 1000;
        if (refusal.message.advice?.reconnect === 'none') {
          assert.equal(handshakes, 1, 'reconnect none: a single handshake');
        } else {
          assert.ok(handshakes <= 2 * elapsed + 1, `${handshakes} handshakes in ${elapsed.toFixed(1)} s`);
        }
        assert.equal(acknowledged, false, 'the subscription was never acknowledged');
        assert.equal(c.count('/meta/subscribe'), 0, 'nothing but handshakes was sent');
      } finally {
        await withTimeout(c.close(), 4000, 'close').catch(() => {});
      }
    });
  }

  it('refuses a raw handshake without a token', async () => {
    const response = await fetch(server.endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([
        { channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'], id: '1' },
      ]),
      signal: AbortSignal.timeout(5000),
    });
    const [reply] = await response.json();
    assert.equal(reply.successful, false, JSON.stringify(reply));
    assert.equal(reply.id, '1');
    assert.equal(reply.clientId, undefined);
  });
});
