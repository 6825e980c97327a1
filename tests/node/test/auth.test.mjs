// Extension auth with --token, as example-todo implements it: subscribing under /private/ needs
// `ext.token` on the /meta/subscribe (403 otherwise), and the token is never forwarded to subscribers.
// With --handshake-token a handshake without the token is refused, and the client must not loop.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  TRANSPORTS,
  collector,
  delay,
  fayeClient,
  rejection,
  restOk,
  startServer,
  waitFor,
  withTimeout,
} from '../lib/harness.mjs';

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
    server = await startServer({
      args: ['--token', TOKEN, '--allow-publish', '/chat/**', '--allow-publish', '/private/**'],
    });
  });
  after(async () => {
    await server?.stop();
  });

  for (const transport of TRANSPORTS) {
    it(`guards /private/x with the token (403 without it) and never forwards it, over ${transport}`, async () => {
      const anonymous = fayeClient(server, transport);
      const wrong = fayeClient(server, transport, { extensions: [tokenExtension('wrong')] });
      const member = fayeClient(server, transport, { extensions: [tokenExtension(TOKEN)] });
      try {
        let leaked = 0;
        const leak = () => {
          leaked += 1;
        };
        const refused = await rejection(anonymous.client.subscribe('/private/x', leak), 5000, 'anonymous subscribe');
        assert.equal(refused.code, 403, JSON.stringify(refused));
        const refusedWild = await rejection(anonymous.client.subscribe('/**', leak), 5000, 'anonymous /**');
        assert.equal(refusedWild.code, 403, 'a root wildcard reaching /private is refused too');
        const badToken = await rejection(wrong.client.subscribe('/private/x', leak), 5000, 'wrong-token subscribe');
        assert.equal(badToken.code, 403, JSON.stringify(badToken));
        // Public channels need no token.
        const live = collector();
        await anonymous.subscribe('/api/todos', live.listener);

        const { events, listener } = collector();
        await member.subscribe('/private/x', listener);
        // The publisher's extension puts the token on its publish too: the server must strip it.
        await withTimeout(member.client.publish('/private/x', { secret: 42 }), 3000, 'publish /private/x');
        await waitFor(() => events.length >= 1, 2000, 'the private message');
        assert.deepEqual(events, [{ secret: 42 }]);
        const delivered = member.stats.received.find((m) => m.channel === '/private/x' && m.message.data !== undefined);
        assert.equal(delivered.message.ext?.token, undefined, 'no token in the delivered event');

        const created = await restOk(server, 'POST', '/api/todos', { title: 'public' });
        await waitFor(() => live.events.length >= 1, 2000, 'the public event');
        assert.deepEqual(live.events[0].body, created);
        assert.equal(leaked, 0, 'refused listeners are never called');
      } finally {
        await Promise.all([anonymous.close(), wrong.close(), member.close()]);
      }
    });

    it(
      `refuses a handshake without the token and the client does not loop, over ${transport}`,
      async () => {
        const guarded = await startServer({ args: ['--handshake-token', TOKEN] });
        const c = fayeClient(guarded, transport);
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

          // The same server accepts a client that brings the token.
          const member = fayeClient(guarded, transport, { extensions: [tokenExtension(TOKEN)] });
          try {
            await withTimeout(member.client.subscribe('/api/todos', () => {}), 3000, 'subscribe with the token');
          } finally {
            await member.close();
          }
        } finally {
          await c.close();
          await guarded.stop();
        }
      },
    );
  }
});
