// An app people have: TodoMVC's Backbone example as published on npm (`todomvc` 0.1.1, examples/backbone:
// Backbone 1.1.2, underscore 1.6.0, jQuery 2.0.3 in its bower_components), taken from the registry when
// the test runs and turned live with the two changes Gitter's "Live Collections" article made: the
// collection gets a REST `url` instead of localStorage, and Backbone.LiveCollection becomes its base class.
// The page also loads faye's browser client and backbone-live.js with two <script> tags; nothing else of
// the app changes. Two pages in two browser contexts against one example-todo: creates, edits, toggles,
// deletes and clear-completed made in either page show in the other, over WebSocket and long-polling.
//
// The app is served from its own folder by a page server in front of example-todo (tests/support), which
// passes REST and Bayeux (/api/todos, /live) on, so the page and its live server share one origin.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { fileUnder, pageServer } from '../../support/page-server.mjs';
import { startExampleTodo } from '../../support/example-todo.mjs';
import {
  TRANSPORTS,
  browserForTests,
  repoRoot,
  restOk,
  screenshotPages,
  serverTodos,
  waitFor,
  withTimeout,
} from '../lib/harness.mjs';

const run = promisify(execFile);

/** The npm package and version the article's app is taken from. */
const TODOMVC = 'todomvc@0.1.1';

/** How long a change made in one page may take to show in the other (generous: two pages on 2 cores). */
const SHOW_MS = 5000;

/**
 * The two scripts the page adds, by URL: faye's browser client (the faye clients/backbone is tested with)
 * and backbone-live.js.
 */
function liveScripts() {
  const clientDir = path.join(repoRoot, 'clients', 'backbone');
  let faye;
  try {
    faye = path.dirname(createRequire(path.join(clientDir, 'package.json')).resolve('faye/package.json'));
  } catch {
    throw new Error(`faye is not installed in ${clientDir}: run npm ci there`);
  }
  return {
    '/backbone-live/faye-browser-min.js': path.join(faye, 'client', 'faye-browser-min.js'),
    '/backbone-live/backbone-live.js': path.join(clientDir, 'backbone-live.js'),
  };
}

/** Replaces the one occurrence of `from` in `file` by `to`; throws if there is not exactly one. */
function replaceOnce(file, from, to) {
  const text = readFileSync(file, 'utf8');
  const count = text.split(from).length - 1;
  if (count !== 1) throw new Error(`${file}: expected one ${JSON.stringify(from)}, found ${count}`);
  writeFileSync(file, text.replace(from, () => to));
}

/**
 * Fetches TODOMVC from the npm registry into a new temp dir, applies the article's changes to its Backbone
 * example and adds a <script> tag for each URL of `scripts` to its page. Returns `{dir, root}`: the temp dir, and the package's folder (served at `/`, so the
 * example is at /examples/backbone/ and finds the package's learn.json at /learn.json, as on the site).
 */
async function todoMVC(scripts) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'live-todomvc-'));
  try {
    const { stdout } = await run('npm', ['pack', TODOMVC, '--json', '--ignore-scripts', '--pack-destination', dir], {
      cwd: dir,
      timeout: 240000,
      maxBuffer: 64 * 1024 * 1024,
    });
    const [{ filename }] = JSON.parse(stdout);
    await run('tar', ['-xzf', path.join(dir, path.basename(filename)), '-C', dir], { timeout: 60000 });
    const root = path.join(dir, 'package');
    const app = path.join(root, 'examples', 'backbone');

    // The article's two changes, in the collection's file.
    const collection = path.join(app, 'js', 'collections', 'todos.js');
    replaceOnce(collection, "localStorage: new Backbone.LocalStorage('todos-backbone'),", "url: '/api/todos',");
    replaceOnce(collection, 'Backbone.Collection.extend', 'Backbone.LiveCollection.extend');
    // Its page loads the faye client and backbone-live.js after Backbone.
    const backbone = '<script src="bower_components/backbone/backbone.js"></script>';
    replaceOnce(
      path.join(app, 'index.html'),
      backbone,
      `${backbone}\n\t\t${Object.keys(scripts)
        .map((src) => `<script src="${src}"></script>`)
        .join('\n\t\t')}`,
    );
    return { dir, root };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/** The app's files from `root`, the two `scripts`; anything else goes to the server. */
function appServer(server, root, scripts) {
  return pageServer(server.port, (urlPath) => {
    if (Object.hasOwn(scripts, urlPath)) return { file: scripts[urlPath] };
    const file = fileUnder(root, urlPath);
    return file ? { file } : null;
  });
}

/**
 * Opens the app in a new browser context (another user) and waits (bounded) until its collection is
 * loaded. `page.problems` collects uncaught errors, HTTP answers of 400 and above (but faye's refused
 * EventSource probe) and console errors; `window.liveErrors` the collection's live:error events.
 */
async function openTodoMVC(browser, url) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 900 } });
  const page = await context.newPage();
  page.problems = [];
  // faye probes EventSource after WebSocket; a server that does not serve it refuses the stream (400) and
  // faye goes on with long-polling. With --no-websocket, it refuses the WebSocket probe too.
  const probes = new Set();
  const isProbe = (request) => /text\/event-stream/.test(request.headers().accept ?? '');
  page.on('request', (request) => {
    if (isProbe(request)) probes.add(request.url());
  });
  page.on('pageerror', (error) => page.problems.push(`page error: ${error.message}`));
  page.on('response', (response) => {
    if (response.status() >= 400 && !isProbe(response.request())) {
      page.problems.push(`${response.request().method()} ${response.url()}: ${response.status()}`);
    }
  });
  page.on('console', (message) => {
    // The browser's own favicon request is not the app's.
    const url = message.location().url ?? '';
    if (message.type() !== 'error' || probes.has(url) || /\/favicon\.ico$/.test(url) || /WebSocket/.test(message.text())) {
      return;
    }
    page.problems.push(`console: ${message.text()} (${url})`);
  });
  await page.goto(url, { timeout: 10000 });
  await page.waitForFunction(() => window.app && window.app.todos, null, { timeout: 10000 });
  await page.evaluate(() => {
    window.app.todos.on('live:error', (collection, error) => {
      window.liveErrors = (window.liveErrors || []).concat(String((error && error.message) || error));
    });
  });
  await withTimeout(page.evaluate(() => window.app.todos.ready.then(() => true)), 10000, 'the collection loaded');
  return page;
}

/** The Bayeux transport the page's collection uses now ('websocket', 'long-polling', ...). */
function transportOf(page) {
  return page.evaluate(() => {
    const transport = window.app.todos.faye._dispatcher._transport;
    return transport ? transport.connectionType : null;
  });
}

/** The rows a page shows, in display order, as `{title, completed}`. */
function shown(page) {
  return page.$$eval('#todo-list li', (items) =>
    items.map((li) => ({ title: li.querySelector('label').textContent, completed: li.classList.contains('completed') })),
  );
}

/** The server's rows in the app's order (its comparator is `order`), as `{title, completed}`. */
async function expected(server) {
  return (await serverTodos(server)).map(({ title, completed }) => ({ title, completed }));
}

/** Waits (bounded) until both pages show the server's rows; returns them. */
async function agree(server, pages, what) {
  let last;
  await waitFor(
    async () => {
      const rows = await expected(server);
      const seen = await Promise.all(pages.map((page) => shown(page)));
      last = { server: rows, pages: seen };
      return seen.every((s) => JSON.stringify(s) === JSON.stringify(rows));
    },
    SHOW_MS,
    `both pages to show the server's rows after ${what}`,
    () => last,
  );
  return last.server;
}

/** The <li> of the row titled `title`. */
function row(page, title) {
  return page.locator('#todo-list li').filter({ has: page.locator('label', { hasText: new RegExp(`^${title}$`) }) });
}

/** Types a todo into the new-todo field and presses Enter. */
async function add(page, title) {
  await page.fill('#new-todo', title);
  await page.press('#new-todo', 'Enter');
}

let browser;
browserForTests((launched) => {
  browser = launched;
});

describe(`TodoMVC's Backbone example (${TODOMVC}) with the article's two changes`, () => {
  let scripts;
  let fetched;
  before(async () => {
    scripts = liveScripts();
    for (const file of Object.values(scripts)) {
      if (!existsSync(file)) throw new Error(`${file} is missing: run npm ci in clients/backbone`);
    }
    fetched = await todoMVC(scripts);
  });
  after(() => {
    if (fetched) rmSync(fetched.dir, { recursive: true, force: true });
  });

  for (const transport of TRANSPORTS) {
    test(`is live in two pages over ${transport.name}`, async (t) => {
      const server = await startExampleTodo({ tempPrefix: 'live-todomvc-db-', graceMs: 5000, args: transport.args });
      const site = await appServer(server, fetched.root, scripts);
      const pages = {};
      try {
        await restOk(server, 'POST', '/api/todos', { title: 'already there', order: 1, completed: false });
        const url = `${site.url}/examples/backbone/index.html`;
        pages.a = await openTodoMVC(browser, url);
        pages.b = await openTodoMVC(browser, url);
        const { a, b } = pages;
        const both = [a, b];
        for (const page of both) {
          // faye starts on long-polling and moves to WebSocket when it can.
          await waitFor(
            async () => (await transportOf(page)) === transport.name,
            10000,
            `faye on ${transport.name}`,
            () => transportOf(page),
          );
        }
        assert.deepEqual(await agree(server, both, 'the load'), [{ title: 'already there', completed: false }]);

        // Creates, from either page: each once in both, in order.
        await add(a, 'buy milk');
        await agree(server, both, 'a create in A');
        await add(b, 'walk the dog');
        await agree(server, both, 'a create in B');
        await add(a, 'read a book');
        assert.deepEqual(
          (await agree(server, both, 'another create in A')).map((r) => r.title),
          ['already there', 'buy milk', 'walk the dog', 'read a book'],
        );

        // Edit in A: double-click the label, type, Enter.
        await row(a, 'buy milk').locator('label').dblclick();
        await row(a, 'buy milk').locator('.edit').fill('buy oat milk');
        await row(a, 'buy milk').locator('.edit').press('Enter');
        assert.ok((await agree(server, both, 'an edit in A')).some((r) => r.title === 'buy oat milk'));

        // Toggles in B and in A.
        await row(b, 'buy oat milk').locator('.toggle').click();
        await row(a, 'already there').locator('.toggle').click();
        assert.deepEqual(
          (await agree(server, both, 'toggles in B and A')).filter((r) => r.completed).map((r) => r.title),
          ['already there', 'buy oat milk'],
        );

        // A delete in B: its row leaves A too (the row view listens for `destroy`).
        await row(b, 'walk the dog').hover();
        await row(b, 'walk the dog').locator('.destroy').click();
        await agree(server, both, 'a delete in B');

        // Clear completed in A.
        await a.click('#clear-completed');
        assert.deepEqual(await agree(server, both, 'clear completed in A'), [{ title: 'read a book', completed: false }]);

        // A delete from elsewhere (plain REST) leaves both pages.
        const [last] = await restOk(server, 'GET', '/api/todos');
        await restOk(server, 'DELETE', `/api/todos/${last.id}`);
        assert.deepEqual(await agree(server, both, 'a REST delete'), []);

        for (const page of both) {
          assert.equal(await page.locator('#todo-list li').count(), 0, 'no row left on screen');
          assert.deepEqual(page.problems, []);
          assert.deepEqual(await page.evaluate(() => window.liveErrors || []), []);
        }
      } catch (error) {
        const saved = await screenshotPages(t.fullName ?? t.name, pages);
        if (saved.length) error.message += `\nscreenshots: ${saved.join(', ')}`;
        error.message += `\nserver log (tail):\n${server.output().slice(-3000)}`;
        throw error;
      } finally {
        for (const page of Object.values(pages)) {
          await withTimeout(page.context().close(), 5000, 'closing a context').catch(() => {});
        }
        await site.close();
        await server.stop();
      }
    });
  }
});
