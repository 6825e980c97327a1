// Test harness: runs example-todo on 127.0.0.1 (free port, fresh SQLite file, short hold), and gives the
// tests bounded waits, REST calls and real faye clients.
//
// The binary is LIVE_EXAMPLE_TODO (tests/run sets it), else target/debug/example-todo of this repository.
// Every server started here is stopped by PID: by the test that started it (stop() in a finally or
// t.after), and, as a last resort, SIGKILLed when the test process exits.

import net from 'node:net';
import faye from 'faye';
import { startExampleTodo, withTimeout } from '../../support/example-todo.mjs';

export {
  HOLD_MS,
  binaryPath,
  delay,
  freePort,
  rest,
  restOk,
  waitFor,
  withTimeout,
} from '../../support/example-todo.mjs';

/**
 * Starts example-todo. Options: `args` (extra flags), `port` (default: a free one), `dir` (a temp dir
 * holding the database; default: a new one, removed by `stop()`), `holdMs`.
 * Returns `{url, endpoint, port, dir, database, pid, output(), kill(), stop(), restart()}`: `kill()` is a
 * SIGKILL, `stop()` a SIGTERM (SIGKILL after 3 s) that removes the temp dir if it made it, `restart()` a
 * kill and a new process on the same port and database.
 */
export function startServer(options = {}) {
  return startExampleTodo({ db: 'todo.db', tempPrefix: 'live-node-', ...options });
}

/** Runs `body(server)` with a fresh server, always stopping it. */
export async function withServer(options, body) {
  const server = await startServer(options);
  try {
    return await body(server);
  } finally {
    await server.stop();
  }
}

/** The transports every scenario runs on, with how to set a faye client up for each. */
export const TRANSPORTS = ['websocket', 'long-polling'];

/**
 * A faye client on `server`'s endpoint, for `transport` ('websocket' or 'long-polling'), with counters:
 * `sent` (every outgoing message, `{channel, at, message}`), `received` (every incoming message), `downs`
 * and `ups` (transport:down/up times). `close()` disconnects it, bounded.
 */
export function fayeClient(server, transport, options = {}) {
  const client = new faye.Client(options.endpoint ?? server.endpoint, options.clientOptions ?? {});
  if (transport === 'long-polling') client.disable('websocket');
  const stats = { sent: [], received: [], downs: [], ups: [] };
  client.addExtension({
    outgoing(message, callback) {
      stats.sent.push({ channel: message.channel, at: Date.now(), message: structuredClone(message) });
      callback(message);
    },
    incoming(message, callback) {
      stats.received.push({ channel: message.channel, at: Date.now(), message: structuredClone(message) });
      callback(message);
    },
  });
  for (const extension of options.extensions ?? []) client.addExtension(extension);
  client.on('transport:down', () => stats.downs.push(Date.now()));
  client.on('transport:up', () => stats.ups.push(Date.now()));
  const count = (channel, since = 0) => stats.sent.filter((m) => m.channel === channel && m.at >= since).length;
  return {
    client,
    stats,
    count,
    /** Subscribes; resolves when the server acknowledged it (bounded). */
    async subscribe(channel, listener, ms = 5000) {
      const subscription = client.subscribe(channel, listener);
      await withTimeout(subscription, ms, `subscribe ${channel}`);
      return subscription;
    },
    /**
     * Disconnects (bounded) if connected, then stops the client for good (no more handshakes or
     * connects), so a refused or stranded client cannot keep the test process alive. Never throws.
     */
    async close() {
      try {
        if (client._state === client.CONNECTED) await withTimeout(client.disconnect(), 3000, 'disconnect');
      } catch {
        // the server may be gone already
      }
      client._advice.reconnect = 'none';
      client._dispatcher.close();
    },
  };
}

/** The error of a rejected promise, or a failure if it resolves (bounded). */
export async function rejection(promise, ms, what) {
  try {
    await withTimeout(promise, ms, what);
  } catch (error) {
    return error;
  }
  throw new Error(`${what} succeeded, expected a rejection`);
}

/** A raw Bayeux POST (no faye): resolves to the reply array. */
export async function bayeuxPost(server, messages) {
  const response = await withTimeout(
    fetch(server.endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(messages),
    }),
    10000,
    'Bayeux POST',
  );
  return response.json();
}

/** Collects the `data` of every event delivered to a listener, in order. */
export function collector() {
  const events = [];
  const listener = (data) => events.push(data);
  return { events, listener };
}

/**
 * A loopback TCP proxy to 127.0.0.1:`targetPort` that records every HTTP request line it forwards
 * (`requests`: `{at, method, path, upgrade}`), so a test can count requests and WebSocket upgrades on
 * the wire, whatever the client retries by itself. The target may go away and come back on the same
 * port. `endpoint` is the Bayeux URL through the proxy; `close()` ends it and every connection.
 */
export async function countingProxy(targetPort) {
  const requests = [];
  const sockets = new Set();
  const proxy = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    let carry = '';
    let upgraded = false;
    client.on('data', (chunk) => {
      if (!upgraded) {
        // A request line can follow a body with no separator, and can be split across chunks: search the
        // new bytes plus a short tail of the old ones, counting only lines that end in the new bytes.
        const text = carry + chunk.toString('latin1');
        for (const match of text.matchAll(/(GET|POST|OPTIONS|PUT|DELETE|PATCH|HEAD) (\/\S*) HTTP\/1\.[01]\r\n/g)) {
          if (match.index + match[0].length <= carry.length) continue;
          const headersEnd = text.indexOf('\r\n\r\n', match.index);
          const head = text.slice(match.index, headersEnd < 0 ? undefined : headersEnd);
          const upgrade = /\r\nupgrade:\s*websocket/i.test(head);
          requests.push({ at: Date.now(), method: match[1], path: match[2], upgrade });
          if (upgrade) upgraded = true;
        }
        carry = text.slice(-200);
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk) => client.write(chunk));
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise((resolve, reject) => {
    proxy.once('error', reject);
    proxy.listen(0, '127.0.0.1', resolve);
  });
  const { port } = proxy.address();
  return {
    port,
    endpoint: `http://127.0.0.1:${port}/live`,
    requests,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        proxy.close(() => resolve());
      }),
  };
}
