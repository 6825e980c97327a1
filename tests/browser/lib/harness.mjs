// Browser harness: runs example-todo on 127.0.0.1 (free port, fresh SQLite file, short hold, the web app of
// this repository), Debian's Chromium headless through playwright-core, and pages of the todo app.
//
// The binary is LIVE_EXAMPLE_TODO (tests/run sets it), else target/debug/example-todo of this repository.
// Every server started here is stopped by PID by the test that started it, and SIGKILLed as a last resort
// when the test process exits; every browser is closed by the test file that launched it.

import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before } from 'node:test';
import { chromium } from 'playwright-core';
import {
  chromiumOptions,
  waitFor as poll,
  repoRoot,
  startExampleTodo,
  withTimeout,
} from '../../support/example-todo.mjs';

export { CHROMIUM, HOLD_MS, binaryPath, freePort, repoRoot, withTimeout } from '../../support/example-todo.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
/** The todo app's folder, served with --web-root. */
export const webRoot = path.join(repoRoot, 'examples', 'todo', 'web');
/** Where screenshots of failed tests go (git-ignored). */
export const failuresDir = path.join(here, '..', 'failures');
/** Where measurements go (git-ignored). */
export const resultsDir = path.join(here, '..', 'results');

/** The transports the app is tested on: faye's WebSocket, and long-polling with the server's WebSocket off. */
export const TRANSPORTS = [
  { name: 'websocket', args: [] },
  { name: 'long-polling', args: ['--no-websocket'] },
];

/**
 * Polls `cond` every 20 ms until it returns a truthy value (returned) or `ms` runs out (throws, naming
 * `what` and, if `describe` is given, what it returns then). `cond` may be async.
 */
export function waitFor(cond, ms, what = 'condition', describe = undefined) {
  return poll(cond, ms, what, describe, 20);
}

/**
 * Starts example-todo serving the web app. Options: `args` (extra flags, such as `--no-websocket`), `port`
 * (default: a free one), `dir` (the temp dir holding the database; default: a new one, removed by
 * `stop()`). Returns `{url, port, dir, database, output(), stop(), halt(), restart()}`: `stop()` is a
 * SIGTERM (SIGKILL after 5 s) that removes the temp dir if it made it, `halt()` one that keeps the
 * database, `restart()` a new process on the same port and database (call after `halt()`).
 */
export async function startServer(options = {}) {
  if (!existsSync(path.join(webRoot, 'node_modules'))) {
    throw new Error(`the web app is not installed: run npm ci in ${webRoot}`);
  }
  return startExampleTodo({
    tempPrefix: 'live-browser-',
    graceMs: 5000,
    ...options,
    args: ['--web-root', webRoot, ...(options.args ?? [])],
  });
}

/** A JSON REST call; resolves to the body, throwing unless the status is 2xx. */
export async function restOk(server, method, urlPath, body) {
  const response = await withTimeout(
    fetch(server.url + urlPath, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    }),
    10000,
    `${method} ${urlPath}`,
  );
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${urlPath}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

/** The server's todos as the page orders them (by order, then id), as `{id, title, completed}`. */
export async function serverTodos(server) {
  const rows = await restOk(server, 'GET', '/api/todos?limit=1000');
  return rows
    .slice()
    .sort((a, b) => a.order - b.order || a.id - b.id)
    .map(({ id, title, completed }) => ({ id, title, completed }));
}

/**
 * Debian's Chromium, headless, through playwright-core. Playwright gives it a fresh temporary profile
 * (its own --user-data-dir, removed on close); the flags keep it from reaching any network but ours.
 */
export function launchBrowser() {
  return chromium.launch(chromiumOptions());
}

/**
 * For the test file or describe block it is called in: launches the browser before its tests and closes
 * it (bounded) after them. `use(browser)` receives it.
 */
export function browserForTests(use) {
  let browser;
  before(async () => {
    browser = await launchBrowser();
    use(browser);
  });
  after(async () => {
    if (browser) await withTimeout(browser.close(), 10000, 'closing the browser');
  });
}

/**
 * Opens the app of `server` in a new browser context (its own cookies and storage, like another user) and
 * waits (bounded) until its collection is loaded. `page.problems` collects uncaught errors and HTTP
 * answers of 400 and above, except refused transport probes (a WebSocket upgrade or an EventSource stream
 * the server does not serve: that is how it tells faye to fall back); `page.consoleErrors` what the
 * console reported as errors.
 */
export async function openApp(browser, server, hash = '') {
  const context = await browser.newContext({ viewport: { width: 800, height: 900 } });
  const page = await context.newPage();
  page.problems = [];
  page.consoleErrors = [];
  page.on('pageerror', (error) => page.problems.push(`page error: ${error.message}`));
  page.on('response', (response) => {
    // faye probes EventSource after WebSocket; a server that does not serve it refuses the stream (400)
    // and faye goes on with long-polling.
    const probe = /text\/event-stream/.test(response.request().headers().accept ?? '');
    if (response.status() >= 400 && !probe) {
      page.problems.push(`${response.request().method()} ${response.url()}: ${response.status()}`);
    }
  });
  page.on('console', (message) => {
    if (message.type() === 'error') page.consoleErrors.push(message.text());
  });
  await page.goto(`${server.url}/${hash}`, { timeout: 10000 });
  await page.waitForFunction(() => window.todoApp && window.todoApp.ready, null, { timeout: 10000 });
  return page;
}

/** The Bayeux transport faye uses in `page` now ('websocket', 'long-polling', ...). */
export function transportOf(page) {
  return page.evaluate(() => {
    const transport = window.todoApp.todos.faye._dispatcher._transport;
    return transport ? transport.connectionType : null;
  });
}

/** The rows of the page's list in display order, as `{id, title, completed}` (id null until stored). */
export function pageTodos(page) {
  return page.$$eval('.todo-list li', (items) =>
    items.map((li) => ({
      id: li.dataset.id ? Number(li.dataset.id) : null,
      title: li.querySelector('label').textContent,
      completed: li.classList.contains('completed'),
    })),
  );
}

/** Waits (bounded) until every page shows exactly the server's list, in the same order. */
export async function waitForAgreement(server, pages, ms = 10000) {
  let last;
  await waitFor(
    async () => {
      const expected = JSON.stringify(await serverTodos(server));
      const shown = await Promise.all(pages.map((page) => pageTodos(page)));
      last = { server: JSON.parse(expected), pages: shown };
      return shown.every((rows) => JSON.stringify(rows) === expected);
    },
    ms,
    'every page to show the server list',
    () => last,
  );
  return last.server;
}

/** Types `title` into the new-todo field of `page` and presses Enter. */
export async function addTodo(page, title) {
  await page.fill('.new-todo', title);
  await page.press('.new-todo', 'Enter');
}

/** Saves a screenshot of each named page into failures/ (best effort: a page may be gone). */
export async function screenshotPages(testName, pages) {
  mkdirSync(failuresDir, { recursive: true });
  const base = testName.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '').slice(0, 80);
  const saved = [];
  for (const [name, page] of Object.entries(pages)) {
    if (!page || page.isClosed()) continue;
    const file = path.join(failuresDir, `${base}-${name}.png`);
    try {
      await withTimeout(page.screenshot({ path: file, fullPage: true }), 5000, 'screenshot');
      saved.push(file);
    } catch {
      // the page or the browser is gone
    }
  }
  return saved;
}

/**
 * Runs `body({server, a, b})` with a fresh server (`serverOptions`) and two pages of the app in two
 * contexts of `browser`. On failure saves screenshots of both pages; always closes the contexts and stops
 * the server (the one `body` leaves in `scene.server`, after a restart).
 */
export async function withTwoPages(t, browser, serverOptions, body) {
  const scene = { server: await startServer(serverOptions) };
  try {
    scene.a = await openApp(browser, scene.server);
    scene.b = await openApp(browser, scene.server);
    await body(scene);
  } catch (error) {
    const saved = await screenshotPages(t.fullName ?? t.name, { a: scene.a, b: scene.b });
    if (saved.length) error.message += `\nscreenshots: ${saved.join(', ')}`;
    error.message += `\nserver log (tail):\n${scene.server.output().slice(-3000)}`;
    throw error;
  } finally {
    for (const page of [scene.a, scene.b]) {
      if (page) await withTimeout(page.context().close(), 5000, 'closing a context').catch(() => {});
    }
    await scene.server.stop();
  }
}
