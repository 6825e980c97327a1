// A loopback TCP proxy that fails the way real networks do, for the dodgy-network tests of the Node suite
// and of the Backbone client: it forwards both ways until told to
//
// - `stall()`: keep accepting what the client sends, but throw away every byte the server sends (a laptop
//   going to sleep, a mobile network gone quiet: the server's writes succeed, nothing arrives), until
// - `cut()`: close every connection (the client's side then sees the connection end, as when the OS
//   finally gives up on it) and forward normally again, on new connections;
// - `dropResponse(marker)`: throw away the first server → client chunk containing `marker` and close its
//   connection (a long-polling reply lost on the way);
// - `stallAfter(marker)`: pass the first server → client chunk containing `marker`, then `stall()` (the
//   network goes away right after a frame got through).
//
// `discarded` is the text of everything thrown away, so a test waits until the bytes it wants lost were
// really sent (and lost) before it cuts.

import net from 'node:net';
import { restOk, waitFor } from './example-todo.mjs';

/** Starts a proxy to 127.0.0.1:`targetPort` on a free port; `endpoint` is the Bayeux URL through it. */
export async function faultyProxy(targetPort) {
  const connections = new Set();
  let stalled = false;
  let dropMarker = null;
  let stallMarker = null;
  const proxy = {
    port: 0,
    endpoint: '',
    discarded: '',
    dropped: 0,
    /** From now on, server → client bytes are thrown away, on every connection, old and new. */
    stall() {
      stalled = true;
    },
    /** Passes the first server → client chunk that contains `marker`, then stalls. */
    stallAfter(marker) {
      stallMarker = marker;
    },
    /** Closes every connection and forwards normally again. */
    cut() {
      stalled = false;
      for (const { client, upstream } of connections) {
        client.destroy();
        upstream.destroy();
      }
      connections.clear();
    },
    /** Throws away the first server → client chunk that contains `marker`, and closes its connection. */
    dropResponse(marker) {
      dropMarker = marker;
    },
    close: () =>
      new Promise((resolve) => {
        proxy.cut();
        server.close(() => resolve());
      }),
  };
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    const connection = { client, upstream };
    connections.add(connection);
    client.on('data', (chunk) => upstream.write(chunk));
    upstream.on('data', (chunk) => {
      const text = chunk.toString('latin1');
      if (stalled) {
        proxy.discarded += text;
        return;
      }
      if (dropMarker !== null && text.includes(dropMarker)) {
        dropMarker = null;
        proxy.discarded += text;
        proxy.dropped += 1;
        connections.delete(connection);
        client.destroy();
        upstream.destroy();
        return;
      }
      client.write(chunk);
      if (stallMarker !== null && text.includes(stallMarker)) {
        stallMarker = null;
        stalled = true;
      }
    });
    const end = () => {
      connections.delete(connection);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  proxy.port = server.address().port;
  proxy.endpoint = `http://127.0.0.1:${proxy.port}/live`;
  return proxy;
}

/** How many times `needle` occurs in `text`. */
export function occurrences(text, needle) {
  let count = 0;
  for (let at = text.indexOf(needle); at >= 0; at = text.indexOf(needle, at + needle.length)) count += 1;
  return count;
}

/**
 * Four changes to /api/todos made over REST (two creates, an edit and a delete) while `proxy` stalls;
 * resolves once the server has sent what `transport` sends of them into the stalled connection: over
 * WebSocket all four, each written as it happens; over long-polling the held connect's reply, which
 * answers with the first and leaves the rest queued for a connect that cannot come.
 */
export async function changesIntoTheVoid(server, proxy, transport) {
  const a = await restOk(server, 'POST', '/api/todos', { title: 'a, made while away' });
  const b = await restOk(server, 'POST', '/api/todos', { title: 'b, made while away' });
  await restOk(server, 'PATCH', `/api/todos/${a.id}`, { completed: true });
  await restOk(server, 'DELETE', `/api/todos/${b.id}`);
  const marker = transport === 'websocket' ? '"method":"DELETE"' : '"method":"POST"';
  await waitFor(() => occurrences(proxy.discarded, marker) >= 1, 5000, 'the events to be lost on the wire', () =>
    proxy.discarded.slice(-300),
  );
}
