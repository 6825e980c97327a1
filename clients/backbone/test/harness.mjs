// Test harness: runs the real example-todo server on 127.0.0.1 (free port, SQLite file in a temp dir,
// 2 s connect hold), builds LiveCollections and faye clients against it, and waits with bounded timeouts.
//
// The binary is LIVE_EXAMPLE_TODO, else target/debug/example-todo of this repository (build it with
// `cargo build -p example-todo`). Every server started here is stopped by PID by the test that started
// it, and SIGKILLed when the test process exits as a last resort.
//
// The suite runs on the Backbone package named by LIVE_BACKBONE: `backbone` (the default, the current
// release) or `backbone-1.0` (Backbone 1.0.0, the oldest supported, installed under that alias).

import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import net from 'node:net';
import { after, before } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import faye from 'faye';
import entry from '../index.mjs';
import { restOk, startExampleTodo, waitFor, withTimeout } from '../../../tests/support/example-todo.mjs';

/** The npm package (name or alias) of the Backbone under test, and the version it must be. */
export const BACKBONE_PACKAGE = process.env.LIVE_BACKBONE || 'backbone';
const require = createRequire(import.meta.url);
if (!['backbone', 'backbone-1.0'].includes(BACKBONE_PACKAGE)) {
  throw new Error(`LIVE_BACKBONE=${BACKBONE_PACKAGE}: expected backbone or backbone-1.0`);
}
export const BACKBONE_VERSION = require(`${BACKBONE_PACKAGE}/package.json`).version;
const Backbone = require(BACKBONE_PACKAGE);
if (Backbone.VERSION !== BACKBONE_VERSION) {
  throw new Error(`${BACKBONE_PACKAGE} is Backbone ${Backbone.VERSION}, its package says ${BACKBONE_VERSION}`);
}
if (Backbone.VERSION === '1.0.0' && typeof globalThis.window === 'undefined') {
  // Backbone 1.0's sync reads window.ActiveXObject (an old-IE check) for every PATCH; Node has no window.
  globalThis.window = {};
}

/** The library as its entry points export it (built on the `backbone` package it depends on). */
export { entry };
/** The library built on the Backbone under test. */
const live = BACKBONE_PACKAGE === 'backbone' ? entry : entry.create({ Backbone });
export { Backbone, faye, live };
export const { LiveCollection, LiveModel, fetchAjax, useFetch } = live;
export {
  CHROMIUM,
  HOLD_MS,
  binaryPath,
  chromiumOptions,
  freePort,
  rest,
  restOk,
  waitFor,
  withTimeout,
} from '../../../tests/support/example-todo.mjs';

/** Transports every scenario that touches the network runs over. */
export const TRANSPORTS = ['websocket', 'long-polling'];

/**
 * Starts example-todo. Options: `port` (default: a free one), `dir` (temp dir kept across restarts),
 * `db` (file name in dir, default x.db), `args` (extra flags). Returns
 * `{url, endpoint, port, dir, db, output(), kill(), stop(), restart({db})}`.
 */
export function startServer(options = {}) {
  return startExampleTodo({
    tempPrefix: 'backbone-live-',
    rustLog: 'warn,example_todo=info,live_runtime=info',
    ...options,
  });
}

/**
 * For the describe block it is called in: before its tests, starts one server and sends Backbone's
 * requests with fetch; after them, puts plain fetch back and stops the server. `use(server)` receives it.
 */
export function serverForTests(use) {
  let server;
  before(async () => {
    server = await startServer();
    installAjax();
    use(server);
  });
  after(async () => {
    installAjax();
    await server?.stop();
  });
}

/** The rows of the server's table, in id order. */
export async function table(server) {
  const rows = await restOk(server, 'GET', '/api/todos');
  return [...rows].sort((a, b) => a.id - b.id);
}

/** Waits (bounded) until the collection holds exactly the server's rows; fails with the difference. */
export async function equalToTable(todos, server, ms, what) {
  let last;
  try {
    await waitFor(
      async () => {
        last = await table(server);
        return isDeepStrictEqual(rows(todos), last);
      },
      ms,
      what,
    );
  } catch (error) {
    assert.deepEqual(rows(todos), last, error.message);
  }
}

/** `collection.create(attrs, options)`, resolving to the model once the server answered. */
export function createIn(collection, attrs, options = {}) {
  return new Promise((resolve, reject) => {
    const model = collection.create(attrs, {
      ...options,
      success: (m) => resolve(m),
      error: (m, xhr) => reject(new Error(`create failed: ${xhr?.status} ${xhr?.responseText}`)),
    });
    if (!model) reject(new Error('create refused by validation'));
  });
}

/** A collection's models as JSON, in id order. */
export function rows(collection) {
  return collection.toJSON().sort((a, b) => a.id - b.id);
}

/**
 * Sends Backbone's requests with fetch; `gate(url, init, response)` (optional, async) runs after the
 * server answered and before Backbone sees the answer, so a test can hold a response back.
 */
export function installAjax(gate) {
  useFetch(Backbone, {
    fetch: async (url, init) => {
      const response = await fetch(url, init);
      if (gate) await gate(url, init, response);
      return response;
    },
  });
}

/**
 * Holds the responses of the requests for which `match(init)` is true until `release()`, for
 * `installAjax(gate.hold)`; `arrived` counts them.
 */
export function responseGate(match) {
  let open;
  const opened = new Promise((resolve) => {
    open = resolve;
  });
  const gate = {
    arrived: 0,
    release: () => open(),
    async hold(url, init) {
      if (match(init)) {
        gate.arrived += 1;
        await opened;
      }
    },
  };
  return gate;
}

/**
 * A faye client for `transport` (faye `options` optional), with optional extra extensions (added
 * first, so they run before the collection's). `close()` disconnects it and stops its retries, bounded.
 */
export function fayeClient(server, transport, extensions = [], options = {}) {
  const client = new faye.Client(server.endpoint, options);
  if (transport === 'long-polling') client.disable('websocket');
  for (const extension of extensions) client.addExtension(extension);
  return {
    client,
    /**
     * Disconnects (bounded), then stops faye from doing anything more by itself: handshake retries,
     * resends of unanswered messages, and a WebSocket probe selecting a transport after close.
     */
    async close() {
      try {
        if (client._state === client.CONNECTED) await withTimeout(client.disconnect(), 3000, 'disconnect');
      } catch {
        // the server may be gone
      }
      client._advice.reconnect = 'none';
      const dispatcher = client._dispatcher;
      dispatcher.selectTransport = () => {};
      for (const envelope of dispatcher._envelopes.values()) clearTimeout(envelope.timer);
      dispatcher._envelopes.clear();
      dispatcher.close();
      for (const byEndpoint of Object.values(dispatcher.transports)) {
        for (const transport of byEndpoint.values()) transport.close?.();
      }
    },
  };
}

/**
 * Records what a collection tells its views: the models of each Backbone `add`/`change`/`remove`
 * (counted per id at the end, as an optimistic create has no id when added), `reset`s, and the
 * live:* events with their arguments.
 */
export function track(collection) {
  const seen = { add: [], change: [], remove: [], reset: 0 };
  const live = { applied: [], ignored: [], reset: [], resumed: [], ready: [], error: [] };
  collection.on('add', (model) => seen.add.push(model));
  collection.on('change', (model) => seen.change.push(model));
  collection.on('remove', (model) => seen.remove.push(model));
  collection.on('reset', () => {
    seen.reset += 1;
  });
  collection.on('live:applied', (c, data) => live.applied.push(data));
  collection.on('live:ignored', (c, data, reason) => live.ignored.push({ data, reason }));
  collection.on('live:reset', (c, info) => live.reset.push(info));
  collection.on('live:resumed', (c, info) => live.resumed.push(info));
  collection.on('live:ready', (c, info) => live.ready.push(info));
  collection.on('live:error', (c, error) => live.error.push(error));
  const count = (kind, id) => seen[kind].filter((model) => model.id === id).length;
  return { seen, live, count };
}

/**
 * A LiveCollection on `server` for `transport`, over its own faye client (from `endpoint`), or over
 * `options.faye`. Its url is absolute, so Backbone's requests need no base URL.
 */
export function liveTodos(server, transport, options = {}) {
  return new LiveCollection([], {
    url: `${server.url}/api/todos`,
    ...(options.faye ? {} : { endpoint: server.endpoint, disable: transport === 'long-polling' ? ['websocket'] : [] }),
    ...options,
  });
}

/**
 * A LiveModel of todo `id` on `server` for `transport` (its url is `urlRoot` + id, absolute), over its
 * own faye client (from `endpoint`), or over `options.faye`.
 */
export function liveTodo(server, transport, id, options = {}) {
  return new LiveModel(id === undefined ? {} : { id }, {
    urlRoot: `${server.url}/api/todos`,
    ...(options.faye ? {} : { endpoint: server.endpoint, disable: transport === 'long-polling' ? ['websocket'] : [] }),
    ...options,
  });
}

/**
 * Records what a LiveModel tells its views: its `change`s, each `destroy` with its arguments, and the
 * live:* events with their arguments.
 */
export function trackModel(model) {
  const seen = { change: 0, destroy: [], sync: 0 };
  const live = { applied: [], ignored: [], reset: [], resumed: [], ready: [], error: [] };
  model.on('change', () => {
    seen.change += 1;
  });
  model.on('sync', () => {
    seen.sync += 1;
  });
  model.on('destroy', (...args) => seen.destroy.push(args));
  model.on('live:applied', (m, data) => live.applied.push(data));
  model.on('live:ignored', (m, data, reason) => live.ignored.push({ data, reason }));
  model.on('live:reset', (m, info) => live.reset.push(info));
  model.on('live:resumed', (m, info) => live.resumed.push(info));
  model.on('live:ready', (m, info) => live.ready.push(info));
  model.on('live:error', (m, error) => live.error.push(error));
  return { seen, live };
}

/**
 * A faye extension that holds deliveries on `channel` for which `hold(data)` is true until
 * `release()` (or `releaseFirst(match)`); `held` counts the held ones, `seen` those that went through
 * to the collection.
 */
export function deliveryGate(channel, hold) {
  const queue = [];
  const gate = {
    seen: 0,
    held: 0,
    incoming(message, callback) {
      if (message.channel === channel && message.data && hold(message.data)) {
        gate.held += 1;
        queue.push({
          data: message.data,
          deliver: () => {
            callback(message);
            gate.seen += 1;
          },
        });
        return;
      }
      callback(message);
      if (message.channel === channel && message.data) gate.seen += 1;
    },
    /** Delivers every held message, in arrival order. */
    release() {
      for (const { deliver } of queue.splice(0)) deliver();
    },
    /** Delivers the first held message whose data matches. */
    releaseFirst(match) {
      const index = queue.findIndex(({ data }) => match(data));
      if (index < 0) throw new Error('no held delivery matches');
      queue.splice(index, 1)[0].deliver();
    },
  };
  return gate;
}

/**
 * A loopback TCP proxy to 127.0.0.1:`targetPort` that can drop the network: `down()` cuts every
 * connection and refuses new ones, `up()` accepts again on the same port. `endpoint` is the Bayeux
 * URL through it; `close()` ends it.
 */
export async function dropProxy(targetPort) {
  const sockets = new Set();
  const handle = (client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  };
  let server = null;
  const listen = (port) =>
    new Promise((resolve, reject) => {
      server = net.createServer(handle);
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve(server.address().port));
    });
  const port = await listen(0);
  const stop = () =>
    new Promise((resolve) => {
      for (const socket of sockets) socket.destroy();
      if (!server) return resolve();
      const closing = server;
      server = null;
      closing.close(() => resolve());
    });
  return {
    port,
    endpoint: `http://127.0.0.1:${port}/live`,
    down: stop,
    up: () => listen(port),
    close: stop,
  };
}
