// Test harness: runs the real example-todo server on 127.0.0.1 (free port, SQLite file in a temp dir,
// 2 s connect hold), builds LiveCollections and faye clients against it, and waits with bounded timeouts.
//
// The binary is LIVE_EXAMPLE_TODO, else target/debug/example-todo of this repository (build it with
// `cargo build -p example-todo`). Every server started here is stopped by PID by the test that started
// it, and SIGKILLed when the test process exits as a last resort.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Backbone from 'backbone';
import faye from 'faye';
import live from '../index.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..', '..', '..');

export { Backbone, faye, live };
export const { LiveCollection, fetchAjax, useFetch } = live;

/** Transports every scenario that touches the network runs over. */
export const TRANSPORTS = ['websocket', 'long-polling'];

/** How long the server holds an idle /meta/connect (ms). */
export const HOLD_MS = 2000;

const START_TIMEOUT_MS = 20000;

/** The example-todo binary. */
export function binaryPath() {
  if (process.env.LIVE_EXAMPLE_TODO) return path.resolve(process.env.LIVE_EXAMPLE_TODO);
  const target = process.env.CARGO_TARGET_DIR
    ? path.resolve(repoRoot, process.env.CARGO_TARGET_DIR)
    : path.join(repoRoot, 'target');
  return path.join(target, 'debug', 'example-todo');
}

const running = new Set();
process.on('exit', () => {
  for (const child of running) {
    try {
      child.kill('SIGKILL');
    } catch {
      // gone already
    }
  }
});

function tick(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `cond` (may be async) every 10 ms until it is truthy (returned) or `ms` passed (throws). */
export async function waitFor(cond, ms, what = 'condition') {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await cond();
    if (value) return value;
    if (Date.now() >= deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await tick(Math.min(10, Math.max(1, deadline - Date.now())));
  }
}

/** Settles like `promise`, or rejects after `ms` naming `what`. */
export function withTimeout(promise, ms, what = 'promise') {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([Promise.resolve(promise), timeout]).finally(() => clearTimeout(timer));
}

/** A port nobody listens on right now, on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function launch(args) {
  const binary = binaryPath();
  if (!existsSync(binary)) {
    throw new Error(`example-todo not found at ${binary}: build it with cargo build -p example-todo`);
  }
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, {
      cwd: os.tmpdir(),
      env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn,example_todo=info,live_runtime=info', NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    running.add(child);
    let log = '';
    let settled = false;
    let exited = false;
    const exit = new Promise((done) => {
      child.on('exit', (code, signal) => {
        exited = true;
        running.delete(child);
        done();
        if (!settled) {
          settled = true;
          clearTimeout(timer);
          reject(new Error(`example-todo exited (${code ?? signal}) before listening:\n${log}`));
        }
      });
    });
    const onData = (chunk) => {
      log = (log + chunk.toString()).slice(-100000);
      if (!settled && /listening on/.test(log)) {
        settled = true;
        clearTimeout(timer);
        resolve({ child, stop, output: () => log });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (error) => {
      if (!settled) {
        settled = true;
        clearTimeout(timer);
        reject(error);
      }
    });
    async function stop(signal) {
      if (exited) return;
      child.kill(signal);
      const killer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exit;
      clearTimeout(killer);
    }
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      child.kill('SIGKILL');
      reject(new Error(`example-todo did not start within ${START_TIMEOUT_MS} ms:\n${log}`));
    }, START_TIMEOUT_MS);
  });
}

/**
 * Starts example-todo. Options: `port` (default: a free one), `dir` (temp dir kept across restarts),
 * `db` (file name in dir, default x.db), `args` (extra flags). Returns
 * `{url, endpoint, port, dir, db, output(), kill(), stop(), restart({db})}`.
 */
export async function startServer(options = {}) {
  const dir = options.dir ?? mkdtempSync(path.join(os.tmpdir(), 'backbone-live-'));
  const ownsDir = options.ownsDir ?? !options.dir;
  const db = options.db ?? 'x.db';
  for (let attempt = 1; ; attempt += 1) {
    const port = options.port ?? (await freePort());
    try {
      const proc = await launch([
        '--bind',
        `127.0.0.1:${port}`,
        '--database',
        `sqlite://${path.join(dir, db)}`,
        '--hold-ms',
        String(HOLD_MS),
        ...(options.args ?? []),
      ]);
      return {
        port,
        dir,
        db,
        url: `http://127.0.0.1:${port}`,
        endpoint: `http://127.0.0.1:${port}/live`,
        pid: proc.child.pid,
        output: proc.output,
        /** SIGKILL now (a crash); resolves once the process is gone. */
        kill: () => proc.stop('SIGKILL'),
        /** SIGTERM (SIGKILL after 3 s), then removes the temp dir if this server made it. */
        async stop() {
          await proc.stop('SIGTERM');
          if (ownsDir) rmSync(dir, { recursive: true, force: true });
        },
        /** Kills it and starts a new one on the same port; same database unless `db` names another file. */
        async restart(more = {}) {
          await proc.stop('SIGKILL');
          return startServer({ ...options, port, dir, ownsDir, db: more.db ?? db });
        },
      };
    } catch (error) {
      // A probed port can be taken before the bind: try another, a few times.
      if (options.port === undefined && attempt < 3 && /Address already in use|cannot listen/i.test(error.message)) {
        continue;
      }
      if (ownsDir) rmSync(dir, { recursive: true, force: true });
      throw error;
    }
  }
}

/** A JSON REST call from "another client"; resolves to `{status, body, etag}`. */
export async function rest(server, method, urlPath, body, headers = {}) {
  const response = await withTimeout(
    fetch(server.url + urlPath, {
      method,
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    }),
    10000,
    `${method} ${urlPath}`,
  );
  const text = await response.text();
  let parsed;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = text;
  }
  return { status: response.status, body: parsed, etag: response.headers.get('etag') };
}

/** Like rest(), but throws unless 2xx; resolves to the body. */
export async function restOk(server, method, urlPath, body, headers) {
  const result = await rest(server, method, urlPath, body, headers);
  if (result.status < 200 || result.status > 299) {
    throw new Error(`${method} ${urlPath}: ${result.status} ${JSON.stringify(result.body)}`);
  }
  return result.body;
}

/** The rows of the server's table, in id order. */
export async function table(server) {
  const rows = await restOk(server, 'GET', '/api/todos');
  return [...rows].sort((a, b) => a.id - b.id);
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
