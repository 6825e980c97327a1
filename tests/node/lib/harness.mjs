// Test harness: runs example-todo on 127.0.0.1 (free port, fresh SQLite file, short hold), and gives the
// tests bounded waits, REST calls and real faye clients.
//
// The binary is LIVE_EXAMPLE_TODO (tests/run sets it), else target/debug/example-todo of this repository.
// Every server started here is stopped by PID: by the test that started it (stop() in a finally or
// t.after), and, as a last resort, SIGKILLed when the test process exits.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import faye from 'faye';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..', '..', '..');

/** The connect hold the suite runs the server with (ms). */
export const HOLD_MS = 2000;

/** How long a server may take to print its "listening on" line. */
const START_TIMEOUT_MS = 20000;

/** The example binary. */
export function binaryPath() {
  const fromEnv = process.env.LIVE_EXAMPLE_TODO;
  if (fromEnv) return path.resolve(fromEnv);
  const targetDir = process.env.CARGO_TARGET_DIR
    ? path.resolve(repoRoot, process.env.CARGO_TARGET_DIR)
    : path.join(repoRoot, 'target');
  return path.join(targetDir, 'debug', 'example-todo');
}

const running = new Set();
process.on('exit', () => {
  for (const child of running) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
});

/** Resolves after `ms`, for behaviour that is about time (never as synchronisation). */
export function delay(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Polls `cond` every 10 ms until it returns a truthy value (returned) or `ms` runs out (throws, naming
 * `what`). `cond` may be async.
 */
export async function waitFor(cond, ms, what = 'condition') {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await cond();
    if (value) return value;
    if (Date.now() >= deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await delay(Math.min(10, Math.max(1, deadline - Date.now())));
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

/**
 * Starts example-todo. Options: `args` (extra flags), `port` (default: a free one), `dir` (a temp dir
 * holding the database; default: a new one, removed by `stop()`), `holdMs`.
 * Returns `{url, port, dir, database, pid, output(), kill(), stop(), restart()}`.
 */
export async function startServer(options = {}) {
  const binary = binaryPath();
  if (!existsSync(binary)) {
    throw new Error(`example-todo not found at ${binary}: build it with cargo build -p example-todo`);
  }
  const ownDir = options.ownsDir ?? !options.dir;
  const dir = options.dir ?? mkdtempSync(path.join(os.tmpdir(), 'live-node-'));
  const database = `sqlite://${path.join(dir, 'todo.db')}`;
  const holdMs = options.holdMs ?? HOLD_MS;
  const args = options.args ?? [];

  let attempt = 0;
  for (;;) {
    attempt += 1;
    const port = options.port ?? (await freePort());
    try {
      const proc = await launch(binary, [
        '--bind',
        `127.0.0.1:${port}`,
        '--database',
        database,
        '--hold-ms',
        String(holdMs),
        ...args,
      ]);
      const server = {
        port,
        dir,
        database,
        url: `http://127.0.0.1:${port}`,
        endpoint: `http://127.0.0.1:${port}/live`,
        pid: proc.child.pid,
        output: proc.output,
        /** SIGKILL, at once (a crash or a restart). Resolves when the process has exited. */
        kill: () => proc.stop('SIGKILL'),
        /** Stops the process (SIGTERM, then SIGKILL after 3 s) and removes its temp dir if it made it. */
        async stop() {
          await proc.stop('SIGTERM');
          if (ownDir) rmSync(dir, { recursive: true, force: true });
        },
        /** Kills this process and starts a new one on the same port and database. */
        async restart() {
          await proc.stop('SIGKILL');
          return startServer({ ...options, port, dir, holdMs, ownsDir: ownDir });
        },
      };
      return server;
    } catch (error) {
      // A free port can be taken between the probe and the bind: try another, a few times.
      if (options.port === undefined && attempt < 3 && /cannot listen|Address already in use/i.test(error.message)) {
        continue;
      }
      if (ownDir) rmSync(dir, { recursive: true, force: true });
      throw error;
    }
  }
}

/** Spawns the server and waits (bounded) for its "listening on" line. */
function launch(binary, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, {
      cwd: os.tmpdir(),
      env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'info', NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    running.add(child);
    let log = '';
    let exited = false;
    let settled = false;
    const exitPromise = new Promise((resolveExit) => {
      child.on('exit', (code, signal) => {
        exited = true;
        running.delete(child);
        resolveExit({ code, signal });
        if (!settled) {
          settled = true;
          clearTimeout(timer);
          reject(new Error(`example-todo exited (${code ?? signal}) before listening:\n${log}`));
        }
      });
    });
    const onData = (chunk) => {
      log += chunk.toString();
      if (log.length > 200000) log = log.slice(-100000);
      if (!settled && /listening on/.test(log)) {
        settled = true;
        clearTimeout(timer);
        resolve({ child, output: () => log, stop });
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
    const stop = async (signal) => {
      if (exited) return;
      child.kill(signal);
      const killer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exitPromise;
      clearTimeout(killer);
    };
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      child.kill('SIGKILL');
      reject(new Error(`example-todo did not print "listening on" within ${START_TIMEOUT_MS} ms:\n${log}`));
    }, START_TIMEOUT_MS);
  });
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

/** A JSON REST call, with optional extra headers; resolves to `{status, body}`. */
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
  return { status: response.status, body: parsed };
}

/** Like rest(), but throws unless the status is 2xx; resolves to the body. */
export async function restOk(server, method, urlPath, body, headers) {
  const result = await rest(server, method, urlPath, body, headers);
  if (result.status < 200 || result.status > 299) {
    throw new Error(`${method} ${urlPath}: ${result.status} ${JSON.stringify(result.body)}`);
  }
  return result.body;
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
