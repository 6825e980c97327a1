// Runs example-todo for the JavaScript test suites (tests/node, tests/browser, clients/backbone): on
// 127.0.0.1 (a free port, a fresh SQLite file in a temp dir, a short connect hold), waiting (bounded) for
// its "listening on" line, and stopped by PID. Also the bounded waits the suites share.
//
// Node built-ins only, so that every suite imports it by relative path whatever its own node_modules.
// The binary is LIVE_EXAMPLE_TODO (tests/run sets it), else target/debug/example-todo of this repository;
// the browser suite starts example-chat the same way (LIVE_EXAMPLE_CHAT, else target/debug/example-chat).
// Every process started here is stopped by the test that started it and, as a last resort, SIGKILLed when
// the test process exits.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's root. */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The connect hold the suites run the server with (ms). */
export const HOLD_MS = 2000;

/** How long a server may take to print its "listening on" line. */
const START_TIMEOUT_MS = 20000;

/** The browser of the browser tests: Debian's package, never one a tool downloads. */
export const CHROMIUM = '/usr/bin/chromium';

/** Launch options for CHROMIUM (headless), with flags that keep it from reaching any network but ours. */
export function chromiumOptions() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
  }
  return {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
  };
}

/** The example binary. */
export function binaryPath() {
  return exampleBinary('example-todo', 'LIVE_EXAMPLE_TODO');
}

/** The binary `name` of an example: the environment variable `envVar`, else target/debug/`name`. */
export function exampleBinary(name, envVar) {
  const fromEnv = process.env[envVar];
  if (fromEnv) return path.resolve(fromEnv);
  const targetDir = process.env.CARGO_TARGET_DIR
    ? path.resolve(repoRoot, process.env.CARGO_TARGET_DIR)
    : path.join(repoRoot, 'target');
  return path.join(targetDir, 'debug', name);
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
 * Polls `cond` every `everyMs` ms until it returns a truthy value (returned) or `ms` runs out (throws,
 * naming `what` and, if `describe` is given, what it returns then). `cond` may be async.
 */
export async function waitFor(cond, ms, what = 'condition', describe = undefined, everyMs = 10) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await cond();
    if (value) return value;
    if (Date.now() >= deadline) {
      const state = describe ? `; last state: ${JSON.stringify(await describe())}` : '';
      throw new Error(`timed out after ${ms} ms waiting for ${what}${state}`);
    }
    await delay(Math.min(everyMs, Math.max(1, deadline - Date.now())));
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

/** A JSON REST call to `server`, with optional extra headers; resolves to `{status, body, etag}`. */
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
 * Starts example-todo on 127.0.0.1. Options: `port` (default: a free one, retried a few times if it is
 * taken before the bind), `dir` (the temp dir holding the database; default: a new one named `tempPrefix`,
 * which `stop()` removes), `ownsDir` (whether `stop()` removes `dir`), `db` (the SQLite file in `dir`,
 * default x.db), `holdMs`, `args` (extra flags), `rustLog` (RUST_LOG unless the environment sets it),
 * `graceMs` (how long a SIGTERM gets before SIGKILL, default 3 s), and `binary` and `name` to start
 * another example that takes the same flags (example-chat).
 * Returns `{url, endpoint, port, dir, db, database, pid, output(), kill(), halt(), stop(), restart({db})}`:
 * `kill` is a SIGKILL (a crash), `halt` a SIGTERM keeping the database, `stop` a SIGTERM that then removes
 * `dir` if this server made it; each resolves once the process is gone. `restart` kills the process (if it
 * still runs) and starts a new one on the same port and database, or on the file `db` names.
 */
export async function startExampleTodo(options = {}) {
  const binary = options.binary ?? binaryPath();
  const name = options.name ?? 'example-todo';
  if (!existsSync(binary)) {
    throw new Error(`${name} not found at ${binary}: build it with cargo build -p ${name}`);
  }
  const ownsDir = options.ownsDir ?? !options.dir;
  const dir = options.dir ?? mkdtempSync(path.join(os.tmpdir(), options.tempPrefix ?? 'live-'));
  const db = options.db ?? 'x.db';
  const database = `sqlite://${path.join(dir, db)}`;
  const holdMs = options.holdMs ?? HOLD_MS;
  for (let attempt = 1; ; attempt += 1) {
    const port = options.port ?? (await freePort());
    try {
      const proc = await launch(
        binary,
        ['--bind', `127.0.0.1:${port}`, '--database', database, '--hold-ms', String(holdMs), ...(options.args ?? [])],
        options,
      );
      return {
        port,
        dir,
        db,
        database,
        url: `http://127.0.0.1:${port}`,
        endpoint: `http://127.0.0.1:${port}/live`,
        pid: proc.child.pid,
        output: proc.output,
        kill: () => proc.stop('SIGKILL'),
        halt: () => proc.stop('SIGTERM'),
        async stop() {
          await proc.stop('SIGTERM');
          if (ownsDir) rmSync(dir, { recursive: true, force: true });
        },
        async restart(more = {}) {
          await proc.stop('SIGKILL');
          return startExampleTodo({ ...options, port, dir, ownsDir, db: more.db ?? db, holdMs });
        },
      };
    } catch (error) {
      // A free port can be taken between the probe and the bind: try another, a few times.
      if (options.port === undefined && attempt < 3 && /cannot listen|Address already in use/i.test(error.message)) {
        continue;
      }
      if (ownsDir) rmSync(dir, { recursive: true, force: true });
      throw error;
    }
  }
}

/** Spawns the server and waits (bounded) for its "listening on" line. */
function launch(binary, args, { rustLog = 'info', graceMs = 3000, name = 'example-todo' }) {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, {
      cwd: os.tmpdir(),
      env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? rustLog, NO_COLOR: '1' },
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
          reject(new Error(`${name} exited (${code ?? signal}) before listening:\n${log}`));
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
      const killer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exitPromise;
      clearTimeout(killer);
    };
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      child.kill('SIGKILL');
      reject(new Error(`${name} did not print "listening on" within ${START_TIMEOUT_MS} ms:\n${log}`));
    }, START_TIMEOUT_MS);
  });
}
