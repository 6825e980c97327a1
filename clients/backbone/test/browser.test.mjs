// The plain script in a real browser: Debian's Chromium (headless, through playwright-core) loads
// underscore, Backbone (the one under test, see harness.mjs), faye's browser build and backbone-live.js
// as <script>s, without jQuery (Backbone sends with fetchAjax), on a page that shares its origin with
// the server's REST and Bayeux endpoints. The page's Backbone.LiveCollection, given no endpoint, uses the
// page's /live; it loads, creates, follows REST writes made elsewhere (a delete as a `destroy`), and
// resumes after a server restart, over WebSocket and long-polling.

import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { chromium } from 'playwright-core';
import { pageServer } from '../../../tests/support/page-server.mjs';
import { BACKBONE_PACKAGE, BACKBONE_VERSION, TRANSPORTS, chromiumOptions, restOk, startServer, table, waitFor } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

/** The scripts the page loads, in order, from the installed packages and this package. */
const SCRIPTS = {
  'underscore-umd.js': require.resolve('underscore/underscore-umd.js'),
  'backbone.js': require.resolve(`${BACKBONE_PACKAGE}/backbone.js`),
  'faye-browser-min.js': path.join(path.dirname(require.resolve('faye/package.json')), 'client', 'faye-browser-min.js'),
  'backbone-live.js': path.join(here, '..', 'backbone-live.js'),
};

/** The test page: the four scripts, then a LiveCollection of /api/todos (on the page's /live) as window.todos. */
function page(transport) {
  const disable = transport === 'long-polling' ? ['websocket', 'eventsource'] : [];
  return `<!doctype html><meta charset="utf-8"><title>backbone-live</title>
${Object.keys(SCRIPTS)
  .map((name) => `<script src="/__backbone-live/${name}"></script>`)
  .join('\n')}
<script>
  BackboneLive.useFetch(Backbone); // no jQuery on this page
  window.seen = { add: [], destroyed: [], resets: 0, resumed: 0 };
  window.todos = new Backbone.LiveCollection([], {
    url: '/api/todos',
    disable: ${JSON.stringify(disable)},
    fayeOptions: { retry: 1 },
  });
  todos.on('add', function (m) { seen.add.push(m); });
  todos.on('destroy', function (m) { seen.destroyed.push(m.id); });
  todos.on('reset', function () { seen.resets += 1; });
  todos.on('live:resumed', function () { seen.resumed += 1; });
</script>`;
}

/**
 * A page server on 127.0.0.1: `/__backbone-live/test.html` and the scripts come from here, every other
 * request (REST, Bayeux long-polling, WebSocket upgrades) goes to example-todo on `targetPort`, which may
 * restart meanwhile. So the page, its REST calls and its Bayeux endpoint share one real origin.
 */
function testPages(targetPort, transport) {
  return pageServer(targetPort, (urlPath) => {
    if (!urlPath.startsWith('/__backbone-live/')) return null;
    const name = urlPath.slice('/__backbone-live/'.length);
    if (name === 'test.html') return { body: page(transport), type: 'text/html; charset=utf-8' };
    return Object.hasOwn(SCRIPTS, name) ? { file: SCRIPTS[name] } : { status: 404 };
  });
}

/** The page collection's rows, in id order. */
function pageRows(tab) {
  return tab.evaluate(() => todos.toJSON().sort((a, b) => a.id - b.id));
}

describe('in Chromium', () => {
  let browser;
  before(async () => {
    browser = await chromium.launch(chromiumOptions());
  });
  after(async () => {
    await browser?.close();
  });

  for (const transport of TRANSPORTS) {
    it(`loads, creates, follows REST writes and resumes after a restart over ${transport}`, async () => {
      let server = await startServer();
      const pages = await testPages(server.port, transport);
      const context = await browser.newContext();
      try {
        const problems = [];
        const tab = await context.newPage();
        tab.on('pageerror', (error) => problems.push(error.message));
        const first = await restOk(server, 'POST', '/api/todos', { title: 'already there' });
        await tab.goto(`${pages.url}/__backbone-live/test.html`, { timeout: 10000 });
        await tab.evaluate(() => todos.ready.then(() => true));
        assert.deepEqual(await pageRows(tab), [first]);
        assert.deepEqual(
          await tab.evaluate(() => ({
            version: Backbone.VERSION,
            endpoint: todos.faye._dispatcher.endpoint.href,
            same: Backbone.LiveCollection === BackboneLive.LiveCollection,
            sameModel: typeof BackboneLive.LiveModel === 'function' && Backbone.LiveModel === BackboneLive.LiveModel,
          })),
          { version: BACKBONE_VERSION, endpoint: `${pages.url}/live`, same: true, sameModel: true },
        );
        // faye starts on long-polling and moves to WebSocket when it can.
        await waitFor(
          async () => (await tab.evaluate(() => todos.faye._dispatcher.connectionType)) === transport,
          10000,
          `faye on ${transport}`,
        );

        // A create from the page: one model, with the server's id.
        const mine = await tab.evaluate(
          () =>
            new Promise((resolve, reject) => {
              todos.create({ title: 'from the browser' }, { success: (m) => resolve(m.id), error: () => reject() });
            }),
        );
        assert.equal(typeof mine, 'number');

        // Writes from elsewhere.
        const theirs = await restOk(server, 'POST', '/api/todos', { title: 'from REST' });
        await restOk(server, 'PATCH', `/api/todos/${first.id}`, { completed: true });
        await restOk(server, 'DELETE', `/api/todos/${mine}`);
        let rows;
        await waitFor(
          async () => isDeepStrictEqual((rows = await pageRows(tab)), await table(server)),
          5000,
          'the page equal to the table',
        ).catch(async (error) => assert.deepEqual(rows, await table(server), error.message));
        assert.deepEqual(rows.map((r) => r.id), [first.id, theirs.id]);

        // The server restarts; writes land before the page is back.
        server = await server.restart();
        const missed = await restOk(server, 'POST', '/api/todos', { title: 'while restarting' });
        await restOk(server, 'DELETE', `/api/todos/${theirs.id}`);
        await waitFor(() => tab.evaluate(() => seen.resumed >= 1), 15000, 'the resume');
        await waitFor(
          async () => isDeepStrictEqual((rows = await pageRows(tab)), await table(server)),
          5000,
          'the page equal to the table after the restart',
        ).catch(async (error) => assert.deepEqual(rows, await table(server), error.message));
        assert.deepEqual(rows.map((r) => r.id), [first.id, missed.id]);

        const counts = await tab.evaluate(() => ({
          adds: seen.add.map((m) => m.id),
          destroyed: seen.destroyed,
          resets: seen.resets,
        }));
        assert.equal(new Set(counts.adds).size, counts.adds.length, `no id added twice: ${counts.adds}`);
        assert.deepEqual(counts.destroyed, [mine, theirs.id], 'each delete, live or replayed, is one destroy');
        assert.equal(counts.resets, 1, 'resumed, not reloaded');
        assert.deepEqual(problems, []);
        await tab.evaluate(() => todos.close());
      } finally {
        await context.close();
        await pages.close();
        await server.stop();
      }
    });
  }
});
