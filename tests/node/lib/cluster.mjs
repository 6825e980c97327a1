// Cluster harness: several example-todo processes serving one PostgreSQL database as one service, a
// loopback TCP balancer in front of them, and private brokers (Redis, NATS, PostgreSQL) on free ports
// that a test may kill and start again on the same port. Everything binds 127.0.0.1; every process is
// stopped by the PID recorded when it was started (and, as a last resort, killed when the test process
// exits); every wait is bounded.
//
// The shared PostgreSQL is LIVE_TEST_POSTGRES (tests/run sets it), else
// postgres://postgres@127.0.0.1:5432/test. Each cluster gets a fresh database on it
// (`live_cluster_<random>`), dropped at the end, so runs never see each other's rows.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { HOLD_MS, binaryPath, freePort, waitFor, withTimeout } from './harness.mjs';

/** The shared PostgreSQL a cluster's fresh database is created on. */
export const ADMIN_URL = process.env.LIVE_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';

/** How long a process may take to print its ready line. */
const START_TIMEOUT_MS = 20000;

/** How long a stopped process gets after SIGTERM (or the given signal) before SIGKILL. */
const STOP_GRACE_MS = 3000;

const running = new Set();
process.on('exit', () => {
  for (const proc of running) {
    try {
      // PostgreSQL's postmaster takes its backends down with it on SIGQUIT; SIGKILL would orphan them.
      proc.child.kill(proc.exitSignal ?? 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

/**
 * Spawns `command` and waits (bounded) until its output matches `ready`. Returns
 * `{child, pid, output(), exited, stop(signal)}`; `stop` sends `signal` (SIGTERM by default), then
 * SIGKILL after a grace period, and resolves once the process has exited.
 */
export function spawnReady(command, args, { ready, name = path.basename(command), env, uid, gid, exitSignal } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: os.tmpdir(),
      env: env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      uid,
      gid,
    });
    const proc = { child, pid: child.pid, exitSignal, exited: false };
    running.add(proc);
    let log = '';
    let settled = false;
    const exitPromise = new Promise((resolveExit) => {
      child.on('exit', (code, signal) => {
        proc.exited = true;
        running.delete(proc);
        resolveExit({ code, signal });
        if (!settled) {
          settled = true;
          clearTimeout(timer);
          reject(new Error(`${name} exited (${code ?? signal}) before it was ready:\n${log}`));
        }
      });
    });
    const onData = (chunk) => {
      log += chunk.toString();
      if (log.length > 400000) log = log.slice(-200000);
      if (!settled && ready.test(log)) {
        settled = true;
        clearTimeout(timer);
        resolve(proc);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (error) => {
      if (!settled) {
        settled = true;
        clearTimeout(timer);
        running.delete(proc);
        reject(new Error(`${name}: ${error.message}`));
      }
    });
    proc.output = () => log;
    proc.stop = async (signal = 'SIGTERM') => {
      if (proc.exited) return;
      child.kill(signal);
      const killer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await exitPromise;
      clearTimeout(killer);
    };
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      child.kill('SIGKILL');
      reject(new Error(`${name} was not ready within ${START_TIMEOUT_MS} ms:\n${log}`));
    }, START_TIMEOUT_MS);
  });
}

/** Runs `body()` up to `attempts` times while it fails because a probed free port was taken meanwhile. */
async function onFreePort(fixed, attempts, body) {
  for (let attempt = 1; ; attempt += 1) {
    const port = fixed ?? (await freePort());
    try {
      return await body(port);
    } catch (error) {
      const taken = /address already in use|cannot listen|EADDRINUSE|could not bind/i.test(error.message);
      if (fixed !== undefined || attempt >= attempts || !taken) throw error;
    }
  }
}

// ------------------------------------------------------------------------------------------------
// PostgreSQL: fresh databases, the event log, a private instance

/** A pg client on `url`, connected (bounded), with bounded queries. */
export async function pgConnect(url) {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000, query_timeout: 15000 });
  client.on('error', () => {}); // a server that goes away must not crash the test process
  await client.connect();
  return client;
}

/** Runs one query on `url` and closes the connection; resolves to the rows. */
export async function pgQuery(url, text, values) {
  const client = await pgConnect(url);
  try {
    return (await client.query(text, values)).rows;
  } finally {
    await client.end().catch(() => {});
  }
}

/** `url` with its database name replaced by `database`. */
export function withDatabase(url, database) {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/**
 * Creates a fresh database `live_cluster_<random>` on the server of `adminUrl` (default: the shared
 * PostgreSQL). Returns `{name, url, drop()}`; `drop()` removes it, closing any connection left on it.
 */
export async function freshDatabase(adminUrl = ADMIN_URL) {
  const name = `live_cluster_${randomBytes(6).toString('hex')}`;
  await pgQuery(adminUrl, `CREATE DATABASE ${name}`);
  return {
    name,
    url: withDatabase(adminUrl, name),
    drop: () => pgQuery(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).then(() => undefined),
  };
}

/**
 * The event log of `channel` in the database at `url`, in seq order, as the events a subscriber
 * receives: `[{seq, method, body, version, origin}]`.
 */
export async function eventLog(url, channel = '/api/todos') {
  const rows = await pgQuery(
    url,
    `SELECT seq::float8 AS seq, method, body, version::float8 AS version, origin
       FROM live_events WHERE channel = $1 ORDER BY seq`,
    [channel],
  );
  return rows.map((row) => ({ ...row }));
}

/** The uid and gid of the `postgres` account, or null when there is none. */
function postgresAccount() {
  try {
    const line = readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .find((entry) => entry.startsWith('postgres:'));
    if (!line) return null;
    const [, , uid, gid] = line.split(':');
    return { uid: Number(uid), gid: Number(gid) };
  } catch {
    return null;
  }
}

/** The folder of PostgreSQL's server programs (initdb, postgres): PG_BIN, else the newest installed. */
function postgresBin() {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(path.join(root, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (!versions.length) throw new Error(`no PostgreSQL server programs under ${root} (set PG_BIN)`);
  return path.join(root, versions[0], 'bin');
}

/**
 * A private PostgreSQL: initdb into a temp dir, then `postgres` on a free 127.0.0.1 port (run as the
 * `postgres` account when this process is root), trust authentication, no fsync. Returns
 * `{port, url(database = 'postgres'), pid, kill(), stop(), start(), remove()}`: `kill()` is an
 * immediate shutdown (SIGQUIT: every backend ends at once, no checkpoint; crash recovery on the next
 * start), `start()` starts it again on the same port and data dir, `remove()` stops it and deletes
 * the data dir.
 */
export async function startPostgres() {
  const bin = postgresBin();
  const account = process.getuid?.() === 0 ? postgresAccount() : null;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'live-pg-'));
  const ids = account ? { uid: account.uid, gid: account.gid } : {};
  if (account) chownSync(dir, account.uid, account.gid);
  const data = path.join(dir, 'data');
  await new Promise((resolve, reject) => {
    const child = spawn(path.join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '-N', '-E', 'UTF8'], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LC_ALL: 'C.UTF-8', LANG: 'C.UTF-8' },
      ...ids,
    });
    let log = '';
    child.stdout.on('data', (c) => (log += c));
    child.stderr.on('data', (c) => (log += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`initdb failed (${code}):\n${log}`));
    });
  });

  let proc;
  let port;
  const launch = (p) =>
    spawnReady(
      path.join(bin, 'postgres'),
      ['-D', data, '-p', String(p), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off',
        '-c', 'max_connections=100'],
      { name: 'postgres', ready: /database system is ready to accept connections/, exitSignal: 'SIGQUIT', ...ids },
    );
  proc = await onFreePort(undefined, 3, async (p) => {
    const started = await launch(p);
    port = p;
    return started;
  });
  const instance = {
    port,
    get pid() {
      return proc.pid;
    },
    url: (database = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${database}`,
    output: () => proc.output(),
    /** Immediate shutdown (SIGQUIT), as a crash would end every connection. */
    kill: () => proc.stop('SIGQUIT'),
    /** Fast shutdown (SIGINT): clients are disconnected, a checkpoint is written. */
    stop: () => proc.stop('SIGINT'),
    /** Starts it again on the same port and data dir (after kill or stop). */
    async start() {
      proc = await launch(port);
    },
    async remove() {
      await proc.stop('SIGINT');
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return instance;
}

// ------------------------------------------------------------------------------------------------
// Private brokers

/**
 * A private broker process on a free 127.0.0.1 port: `{port, url, pid, kill(), restart(), stop(),
 * subscribers(topic)}`. `kill()` is SIGKILL; `restart()` starts it again on the same port(s);
 * `subscribers(topic)` asks the broker how many connections subscribe to `topic` now.
 */
async function startBroker({ name, command, args, ready, scheme, ports = 1, subscribers }) {
  let proc;
  let bound;
  proc = await onFreePort(undefined, 3, async (p) => {
    const extra = await Promise.all(Array.from({ length: ports - 1 }, () => freePort()));
    const started = await spawnReady(command, args([p, ...extra]), { name, ready });
    bound = [p, ...extra];
    return started;
  });
  const [port] = bound;
  return {
    port,
    url: `${scheme}://127.0.0.1:${port}`,
    get pid() {
      return proc.pid;
    },
    output: () => proc.output(),
    kill: () => proc.stop('SIGKILL'),
    async restart() {
      await proc.stop('SIGKILL');
      proc = await spawnReady(command, args(bound), { name, ready });
    },
    stop: () => proc.stop('SIGTERM'),
    subscribers: (topic = 'live_events') => subscribers(bound, topic),
  };
}

/** Sends one command to the Redis on `port` and resolves to its raw RESP reply (bounded). */
function redisCommand(port, words) {
  return withTimeout(
    new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1');
      let reply = '';
      socket.on('connect', () => {
        socket.write(`*${words.length}\r\n${words.map((w) => `$${Buffer.byteLength(w)}\r\n${w}\r\n`).join('')}`);
      });
      socket.on('data', (chunk) => {
        reply += chunk.toString();
        // PUBSUB NUMSUB answers an array of two elements ending in an integer.
        if (/:-?\d+\r\n$/.test(reply) || /^-/.test(reply)) {
          socket.destroy();
          resolve(reply);
        }
      });
      socket.on('error', reject);
    }),
    5000,
    `redis ${words[0]}`,
  );
}

/** A private Redis (no persistence) on a free port. */
export function startRedis() {
  return startBroker({
    name: 'redis-server',
    command: process.env.REDIS_SERVER ?? 'redis-server',
    args: ([port]) => ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    ready: /Ready to accept connections/,
    scheme: 'redis',
    async subscribers([port], topic) {
      const reply = await redisCommand(port, ['PUBSUB', 'NUMSUB', topic]);
      const count = /:(\d+)\r\n$/.exec(reply);
      if (!count) throw new Error(`unexpected PUBSUB NUMSUB reply ${JSON.stringify(reply)}`);
      return Number(count[1]);
    },
  });
}

/** A private NATS server on a free port, with its monitoring endpoint on another. */
export function startNats() {
  return startBroker({
    name: 'nats-server',
    command: process.env.NATS_SERVER ?? (existsSync('/usr/sbin/nats-server') ? '/usr/sbin/nats-server' : 'nats-server'),
    args: ([port, monitor]) => ['-a', '127.0.0.1', '-p', String(port), '-m', String(monitor)],
    ready: /Server is ready/,
    scheme: 'nats',
    ports: 2,
    async subscribers([, monitor], topic) {
      const response = await withTimeout(fetch(`http://127.0.0.1:${monitor}/connz?subs=1`), 5000, 'NATS /connz');
      const { connections = [] } = await response.json();
      return connections.filter((c) => (c.subscriptions_list ?? []).includes(topic)).length;
    },
  });
}

/** Starts the private broker a `--bus` kind needs: `{bus, broker}` (broker null for `postgres`). */
export async function busFor(kind) {
  if (kind === 'postgres' || kind === 'inprocess') return { bus: kind, broker: null };
  if (kind === 'redis') {
    const broker = await startRedis();
    return { bus: broker.url, broker };
  }
  if (kind === 'nats') {
    const broker = await startNats();
    return { bus: broker.url, broker };
  }
  throw new Error(`unknown bus kind ${kind}`);
}

// ------------------------------------------------------------------------------------------------
// example-todo nodes

/**
 * Starts one example-todo on `database` with `bus` on a free port (or `port`). Returns a server object
 * the harness's `rest()` and `fayeClient()` accept: `{url, endpoint, port, pid, output(), kill(),
 * stop(), restart()}`.
 */
export async function startNode({ database, bus, port, holdMs = HOLD_MS, pollMs, args = [] }) {
  const binary = binaryPath();
  if (!existsSync(binary)) {
    throw new Error(`example-todo not found at ${binary}: build it with cargo build -p example-todo`);
  }
  const flags = (p) => [
    '--bind', `127.0.0.1:${p}`,
    '--database', database,
    '--hold-ms', String(holdMs),
    '--bus', bus,
    ...(pollMs === undefined ? [] : ['--poll-ms', String(pollMs)]),
    ...args,
  ];
  const launch = (p) =>
    spawnReady(binary, flags(p), {
      name: 'example-todo',
      ready: /listening on/,
      env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'info', NO_COLOR: '1' },
    });
  let proc;
  let bound;
  proc = await onFreePort(port, 3, async (p) => {
    const started = await launch(p);
    bound = p;
    return started;
  });
  const node = {
    port: bound,
    database,
    url: `http://127.0.0.1:${bound}`,
    endpoint: `http://127.0.0.1:${bound}/live`,
    get pid() {
      return proc.pid;
    },
    get alive() {
      return !proc.exited;
    },
    output: () => proc.output(),
    /** SIGKILL, at once (a crash). Resolves when the process has exited. */
    kill: () => proc.stop('SIGKILL'),
    /** SIGTERM, then SIGKILL after 3 s. */
    stop: () => proc.stop('SIGTERM'),
    /** Starts it again on the same port, database and bus (after kill or stop). */
    async restart() {
      await proc.stop('SIGKILL');
      proc = await launch(bound);
    },
  };
  return node;
}

/**
 * Starts `count` example-todo nodes on one database with one bus (started together, as a deployment
 * would). Options: `database` (a URL; default: a fresh database on the shared PostgreSQL, dropped by
 * `stop()`), `bus` (`postgres`, `redis://...`, `nats://...`), `holdMs`, `pollMs`, `args`.
 * Returns `{nodes, database, stop()}`.
 */
export async function startCluster({ count = 3, bus, database, holdMs, pollMs, args } = {}) {
  const fresh = database ? null : await freshDatabase();
  const url = database ?? fresh.url;
  const started = await Promise.allSettled(
    Array.from({ length: count }, () => startNode({ database: url, bus, holdMs, pollMs, args })),
  );
  const nodes = started.filter((s) => s.status === 'fulfilled').map((s) => s.value);
  const stop = async () => {
    await Promise.all(nodes.map((node) => node.stop()));
    await fresh?.drop();
  };
  const failed = started.find((s) => s.status === 'rejected');
  if (failed) {
    await stop();
    throw failed.reason;
  }
  return { nodes, database: url, stop };
}

// ------------------------------------------------------------------------------------------------
// Loopback balancer

/**
 * A loopback TCP balancer on a free 127.0.0.1 port in front of `ports` (an array the test may change).
 * Each accepted connection goes whole to one node: `mode` 'first' takes the first port that accepts
 * (active/passive, or a sticky balancer whose node died), 'round-robin' starts each connection at the
 * next port. A port that refuses the connection (or does not accept it within 2 s) is skipped; when none
 * accepts, the client connection is closed. `connections` records `{at, port}` per proxied connection.
 * `endpoint` is the Bayeux URL through it; `close()` ends it and every connection.
 */
export async function balancer(ports, { mode = 'first' } = {}) {
  const connections = [];
  const sockets = new Set();
  let next = 0;

  const dial = (order, index, onConnected, onFailed) => {
    if (index >= order.length) return onFailed();
    const upstream = net.connect(order[index], '127.0.0.1');
    let connected = false;
    const timer = setTimeout(() => upstream.destroy(new Error('connect timeout')), 2000);
    upstream.once('connect', () => {
      connected = true;
      clearTimeout(timer);
      onConnected(upstream, order[index]);
    });
    upstream.on('error', () => {
      if (connected) return; // an error after connecting ends the pipe (see onConnected)
      clearTimeout(timer);
      upstream.destroy();
      dial(order, index + 1, onConnected, onFailed);
    });
  };

  const server = net.createServer((client) => {
    sockets.add(client);
    const pending = [];
    let upstream = null;
    let closed = false;
    const end = () => {
      closed = true;
      client.destroy();
      upstream?.destroy();
      sockets.delete(client);
      if (upstream) sockets.delete(upstream);
    };
    client.on('data', (chunk) => (upstream ? upstream.write(chunk) : pending.push(chunk)));
    client.on('close', end).on('error', end);
    const order =
      mode === 'round-robin' ? ports.map((_, i) => ports[(next + i) % ports.length]) : [...ports];
    if (mode === 'round-robin') next = (next + 1) % Math.max(1, ports.length);
    dial(
      order,
      0,
      (socket, port) => {
        if (closed) return socket.destroy();
        upstream = socket;
        sockets.add(socket);
        connections.push({ at: Date.now(), port });
        for (const chunk of pending) socket.write(chunk);
        pending.length = 0;
        socket.on('data', (chunk) => client.write(chunk));
        socket.on('close', end).on('error', end);
      },
      end,
    );
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    endpoint: `http://127.0.0.1:${port}/live`,
    connections,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

// ------------------------------------------------------------------------------------------------
// Writers and checks

/** A REST call with a bound of `ms`: `{status, headers, body}`, or `{status: 0, error}` when it failed. */
export async function request(base, method, urlPath, body, { ms = 10000, headers = {} } = {}) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), ms);
  try {
    const response = await fetch(base + urlPath, {
      method,
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: controller.signal,
    });
    const text = await response.text();
    let parsed;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = text;
    }
    return { status: response.status, headers: response.headers, body: parsed };
  } catch (error) {
    return { status: 0, error: controller.signal.aborted ? new Error(`timed out after ${ms} ms`) : error };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Concurrent REST writers: `perTarget` writes on each base URL of `targets`, `workers` at a time per
 * target, a mix of creates, updates (PATCH, PUT) and deletes on rows each worker created itself.
 * With `untilStopped`, the writers instead go on until `stop()` (or `maxWrites` per target, or
 * `maxMs`), and failed writes are counted rather than thrown. Returns `{done, stop(), ok, failed}`:
 * `done` resolves to the list of `{target, method, status, body}` of every write.
 */
export function writers(targets, { perTarget = 60, workers = 3, untilStopped = false, maxWrites = 1000, maxMs = 30000 } = {}) {
  const results = [];
  const state = { stopped: false, ok: 0, failed: 0 };
  const deadline = Date.now() + maxMs;
  const limit = untilStopped ? maxWrites : perTarget;
  const worker = async (target, counter, w) => {
    const mine = [];
    for (let i = 0; ; i += 1) {
      if (state.stopped || Date.now() >= deadline || counter.n >= limit) return;
      counter.n += 1;
      const step = i % 4;
      let method;
      let urlPath = '/api/todos';
      let body;
      if (step === 0 || mine.length === 0) {
        method = 'POST';
        body = { title: `w${w} ${i} on ${target}`, order: i };
      } else if (step === 1) {
        method = 'PATCH';
        urlPath += `/${mine.at(-1).id}`;
        body = { completed: i % 8 === 1 };
      } else if (step === 2) {
        const row = mine[0];
        method = 'PUT';
        urlPath += `/${row.id}`;
        body = { title: `${row.title} (edited ${i})`, completed: true, order: row.order };
      } else {
        method = 'DELETE';
        urlPath += `/${mine.shift().id}`;
      }
      const result = await request(target, method, urlPath, body);
      results.push({ target, method, status: result.status, body: result.body });
      if (result.status >= 200 && result.status < 300) {
        state.ok += 1;
        if (method === 'POST') mine.push(result.body);
        else if (method !== 'DELETE') {
          const at = mine.findIndex((row) => row.id === result.body.id);
          if (at >= 0) mine[at] = result.body;
        }
      } else {
        state.failed += 1;
        if (!untilStopped) {
          state.stopped = true;
          throw new Error(`${method} ${target}${urlPath}: ${result.status} ${JSON.stringify(result.body ?? result.error?.message)}`);
        }
      }
    }
  };
  const all = [];
  for (const target of targets) {
    const counter = { n: 0 };
    for (let w = 0; w < workers; w += 1) all.push(worker(target, counter, w));
  }
  const done = Promise.all(all).then(() => results);
  return {
    done,
    get ok() {
      return state.ok;
    },
    get failed() {
      return state.failed;
    },
    stop() {
      state.stopped = true;
      return done;
    },
  };
}

/**
 * A faye client extension that remembers the highest seq delivered on `channel` and puts it in
 * `ext.since` of every later `/meta/subscribe` to that channel, so that a client that re-handshakes
 * (on another node) resumes where it was. `lastSeq()` reads it; `subscribes` lists the `since` sent.
 */
export function resumeExtension(channel = '/api/todos') {
  let last;
  const subscribes = [];
  return {
    lastSeq: () => last,
    subscribes,
    extension: {
      incoming(message, callback) {
        if (message.channel === channel && typeof message.data?.seq === 'number') {
          last = Math.max(last ?? 0, message.data.seq);
        }
        callback(message);
      },
      outgoing(message, callback) {
        if (message.channel === '/meta/subscribe' && message.subscription === channel && last !== undefined) {
          message.ext = { ...(message.ext ?? {}), since: last };
        }
        if (message.channel === '/meta/subscribe' && message.subscription === channel) {
          subscribes.push(message.ext?.since ?? null);
        }
        callback(message);
      },
    },
  };
}

/** The fields of an event a log row is compared on. */
export function eventFields(event) {
  return { seq: event.seq, method: event.method, body: event.body, version: event.version, origin: event.origin ?? null };
}

/** Where `events` (as delivered) first differs from `log`, described for an assertion message. */
export function describeMismatch(events, log) {
  const seqs = events.map((e) => e.seq);
  const expected = log.map((e) => e.seq);
  const have = new Set(seqs);
  const missing = expected.filter((s) => !have.has(s));
  const counts = new Map();
  for (const s of seqs) counts.set(s, (counts.get(s) ?? 0) + 1);
  const doubled = [...counts].filter(([, n]) => n > 1).map(([s]) => s);
  const known = new Set(expected);
  const unknown = seqs.filter((s) => !known.has(s));
  let disorder = -1;
  for (let i = 1; i < seqs.length; i += 1) {
    if (seqs[i] <= seqs[i - 1]) {
      disorder = i;
      break;
    }
  }
  return (
    `received ${seqs.length}, log ${expected.length}; missing ${JSON.stringify(missing.slice(0, 20))}` +
    `${missing.length > 20 ? ` (+${missing.length - 20})` : ''}; doubled ${JSON.stringify(doubled.slice(0, 20))}; ` +
    `not in the log ${JSON.stringify(unknown.slice(0, 20))}; first out of order at ${disorder}`
  );
}

/**
 * Closes a harness faye client for good: disconnects it (bounded), and drops the retry timers faye keeps
 * for requests that failed or are still pending (up to its 5 s retry), which would otherwise keep the
 * test process alive after its last test.
 */
export async function closeClient(c) {
  await c.close();
  const dispatcher = c.client._dispatcher;
  dispatcher.handleError = () => {};
  for (const [, envelope] of dispatcher._envelopes) clearTimeout(envelope.timer);
}

/**
 * Waits (at most `ms`) until every client of `clients` (`{label, events}`) has received as many events as
 * `log` holds, then asserts that each one's events are exactly the log: same seqs, methods, bodies,
 * versions and origins, in the same order. A timeout names, for each client short of the log, the
 * events it misses.
 */
export async function assertAllGetLog(clients, log, ms) {
  try {
    await waitFor(() => clients.every(({ events }) => events.length >= log.length), ms, 'every client');
  } catch {
    const short = clients
      .filter(({ events }) => events.length < log.length)
      .map(({ label, events }) => {
        const have = new Set(events.map((e) => e.seq));
        const missing = log.filter((e) => !have.has(e.seq)).slice(0, 5);
        return `${label}: ${describeMismatch(events, log)}; e.g. ${JSON.stringify(missing)}`;
      });
    throw new Error(`timed out after ${ms} ms waiting for the ${log.length} events of the log:\n${short.join('\n')}`);
  }
  const expected = log.map(eventFields);
  for (const { label, events } of clients) {
    assert.deepStrictEqual(events.map(eventFields), expected, `${label}: ${describeMismatch(events, log)}`);
  }
}

/** Stops everything given (faye clients, balancers, nodes, clusters, brokers), bounded, ignoring failures. */
export async function stopAll(...things) {
  await Promise.all(
    things
      .flat()
      .filter(Boolean)
      .map((thing) => {
        const stop = thing.client?._dispatcher ? closeClient(thing) : (thing.close ?? thing.remove ?? thing.stop).call(thing);
        return withTimeout(stop, 15000, 'stop').catch(() => {});
      }),
  );
}
