// The todo app in two pages of headless Chromium (two browser contexts, like two users) against one
// example-todo: every action in one page shows in the other, concurrent creates converge on the server's
// list without duplicates, and a server restart mid-session loses nothing; over WebSocket and, with the
// server's WebSocket turned off, over long-polling.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  TRANSPORTS,
  addTodo,
  browserForTests,
  openApp,
  pageTodos,
  restOk,
  screenshotPages,
  serverTodos,
  startServer,
  transportOf,
  waitFor,
  waitForAgreement,
  withTwoPages,
} from '../lib/harness.mjs';

/** How soon a change made in one page must show in the other. */
const PROPAGATION_MS = 1000;

let browser;
browserForTests((launched) => {
  browser = launched;
});

/** Waits until every page runs on `transport` (faye starts on long-polling and upgrades when it can). */
async function expectTransport(pages, transport) {
  for (const page of pages) {
    await waitFor(async () => (await transportOf(page)) === transport, 10000, `faye on ${transport}`, () =>
      transportOf(page),
    );
  }
}

/** Waits, at most PROPAGATION_MS, until `predicate(arg)` holds in `page`; says `what` did not show. */
async function showsWithin(page, what, predicate, arg) {
  const started = Date.now();
  try {
    await page.waitForFunction(predicate, arg, { timeout: PROPAGATION_MS });
  } catch (error) {
    const rows = await pageTodos(page).catch(() => 'unreadable');
    throw new Error(`page B did not show ${what} within ${PROPAGATION_MS} ms (${error.message}); it shows ${JSON.stringify(rows)}`);
  }
  return Date.now() - started;
}

/** In the page: the <li> whose label is exactly `title`, or null. */
const ROW_SOURCE = (title) =>
  Array.from(document.querySelectorAll('.todo-list li')).find((li) => li.querySelector('label').textContent === title) ||
  null;

function row(page, title) {
  return page.locator('.todo-list li').filter({ has: page.locator('label', { hasText: new RegExp(`^${title}$`) }) });
}

for (const transport of TRANSPORTS) {
  describe(`over ${transport.name}`, () => {
    test('each action in page A shows in page B within 1 s', async (t) => {
      await withTwoPages(t, browser, { args: transport.args }, async ({ server, a, b }) => {
        await expectTransport([a, b], transport.name);
        const has = (title) => `(${ROW_SOURCE})(${JSON.stringify(title)})`;

        // Add.
        for (const title of ['buy milk', 'walk the dog', 'read a book']) {
          await addTodo(a, title);
          await showsWithin(b, `the new todo "${title}"`, `${has(title)} !== null`);
        }
        assert.equal(await a.inputValue('.new-todo'), '', 'Enter clears the field');

        // Edit: double-click, type, Enter.
        await row(a, 'buy milk').locator('label').dblclick();
        assert.ok(await row(a, 'buy milk').evaluate((li) => li.classList.contains('editing')));
        await row(a, 'buy milk').locator('.edit').fill('buy oat milk');
        await row(a, 'buy milk').locator('.edit').press('Enter');
        await showsWithin(b, 'the edited title', `${has('buy oat milk')} !== null && ${has('buy milk')} === null`);

        // Toggle one.
        await row(a, 'read a book').locator('.toggle').click();
        await showsWithin(b, 'the todo completed', `${has('read a book')}.classList.contains('completed')`);
        assert.equal(await b.textContent('.todo-count'), '2 items left');

        // Toggle all, both ways.
        await a.click('label[for="toggle-all"]');
        await showsWithin(
          b,
          'every todo completed',
          `Array.from(document.querySelectorAll('.todo-list li')).every((li) => li.classList.contains('completed'))`,
        );
        await a.click('label[for="toggle-all"]');
        await showsWithin(
          b,
          'every todo active',
          `Array.from(document.querySelectorAll('.todo-list li')).every((li) => !li.classList.contains('completed'))`,
        );

        // Destroy (the button shows on hover).
        await row(a, 'walk the dog').hover();
        await row(a, 'walk the dog').locator('.destroy').click();
        await showsWithin(b, 'the todo deleted', `${has('walk the dog')} === null`);

        // Clear completed.
        await row(a, 'read a book').locator('.toggle').click();
        await showsWithin(b, 'the todo completed', `${has('read a book')}.classList.contains('completed')`);
        await a.click('.clear-completed');
        await showsWithin(b, 'the completed todo cleared', `${has('read a book')} === null`);

        const final = await waitForAgreement(server, [a, b]);
        assert.deepEqual(
          final.map(({ title, completed }) => ({ title, completed })),
          [{ title: 'buy oat milk', completed: false }],
        );
        assert.deepEqual([...a.problems, ...b.problems], []);
      });
    });

    test('rapid creates from both pages end in the same list as the server, without duplicates', async (t) => {
      await withTwoPages(t, browser, { args: transport.args }, async ({ server, a, b }) => {
        await expectTransport([a, b], transport.name);
        const count = 20;
        for (let i = 0; i < count; i += 1) {
          await Promise.all([addTodo(a, `from A ${i}`), addTodo(b, `from B ${i}`)]);
        }
        const final = await waitForAgreement(server, [a, b], 15000);
        const expected = [];
        for (let i = 0; i < count; i += 1) expected.push(`from A ${i}`, `from B ${i}`);
        assert.deepEqual(final.map((todo) => todo.title).sort(), expected.sort(), 'each create stored once');
        assert.equal(new Set(final.map((todo) => todo.id)).size, 2 * count, 'no duplicate ids');
        // Each page's own creates keep the order they were typed in.
        for (const who of ['A', 'B']) {
          const mine = final.filter((todo) => todo.title.startsWith(`from ${who} `)).map((todo) => todo.title);
          assert.deepEqual(mine, Array.from({ length: count }, (_, i) => `from ${who} ${i}`));
        }
        assert.deepEqual([...a.problems, ...b.problems], []);
      });
    });

    test('a server restart mid-session loses nothing', async (t) => {
      await withTwoPages(t, browser, { args: transport.args }, async (scene) => {
        const { a, b } = scene;
        await expectTransport([a, b], transport.name);
        await addTodo(a, 'before the restart');
        await addTodo(b, 'also before');
        await waitForAgreement(scene.server, [a, b]);

        // Stop the server: both pages say they are offline.
        await scene.server.halt();
        for (const page of [a, b]) {
          await page.waitForSelector('.live-status[data-state="offline"]', { timeout: 15000 });
        }

        // Meanwhile another process writes to the same database over REST.
        const other = await startServer({ dir: scene.server.dir, ownsDir: false, args: transport.args });
        try {
          const rows = await restOk(other, 'GET', '/api/todos');
          const before = rows.find((todo) => todo.title === 'before the restart');
          const also = rows.find((todo) => todo.title === 'also before');
          await restOk(other, 'POST', '/api/todos', { title: 'written while it was down', order: 10 });
          await restOk(other, 'PATCH', `/api/todos/${before.id}`, { completed: true });
          await restOk(other, 'DELETE', `/api/todos/${also.id}`);
        } finally {
          await other.halt();
        }

        // The same server comes back on the same port and database: the pages catch up by themselves.
        scene.server = await scene.server.restart();
        for (const page of [a, b]) {
          await page.waitForSelector('.live-status[data-state="live"]', { timeout: 30000 });
        }
        await waitForAgreement(scene.server, [a, b], 30000);
        await expectTransport([a, b], transport.name);

        // Writes after the restart, over REST and from a page, show everywhere.
        await restOk(scene.server, 'POST', '/api/todos', { title: 'written after the restart', order: 20 });
        await addTodo(a, 'added in page A after the restart');
        const final = await waitForAgreement(scene.server, [a, b]);
        assert.deepEqual(
          final.map(({ title, completed }) => ({ title, completed })),
          [
            { title: 'before the restart', completed: true },
            { title: 'written while it was down', completed: false },
            { title: 'written after the restart', completed: false },
            { title: 'added in page A after the restart', completed: false },
          ],
        );
      });
    });
  });
}

test('in one page the app behaves like TodoMVC: filters, counter, edit cancel, empty title', async (t) => {
  const server = await startServer();
  let page;
  try {
    page = await openApp(browser, server);
    assert.ok(await page.isHidden('.main'), 'no list while there is nothing to do');
    assert.ok(await page.isHidden('.footer'));
    await addTodo(page, '   ');
    assert.equal(await page.locator('.todo-list li').count(), 0, 'a blank title adds nothing');

    for (const title of ['one', 'two', 'three']) await addTodo(page, title);
    await waitForAgreement(server, [page]);
    assert.equal(await page.textContent('.todo-count'), '3 items left');
    await row(page, 'two').locator('.toggle').click();
    await waitFor(async () => (await page.textContent('.todo-count')) === '2 items left', 5000, 'the counter');
    assert.ok(await page.isVisible('.clear-completed'));

    // Filters are hash routes; the selected link follows.
    await page.click('.filters a[href="#/active"]');
    await waitFor(async () => (await page.locator('.todo-list li:visible').count()) === 2, 5000, 'the active filter');
    assert.deepEqual(await page.locator('.todo-list li:visible label').allTextContents(), ['one', 'three']);
    assert.equal(await page.getAttribute('.filters a.selected', 'href'), '#/active');
    await page.click('.filters a[href="#/completed"]');
    await waitFor(async () => (await page.locator('.todo-list li:visible').count()) === 1, 5000, 'the completed filter');
    assert.deepEqual(await page.locator('.todo-list li:visible label').allTextContents(), ['two']);
    await page.click('.filters a[href="#/"]');
    await waitFor(async () => (await page.locator('.todo-list li:visible').count()) === 3, 5000, 'the all filter');

    // A filter in the URL applies on load.
    const second = await openApp(browser, server, '#/completed');
    try {
      assert.deepEqual(await second.locator('.todo-list li:visible label').allTextContents(), ['two']);
    } finally {
      await second.context().close();
    }

    // Escape cancels an edit.
    await row(page, 'one').locator('label').dblclick();
    await row(page, 'one').locator('.edit').fill('changed my mind');
    await row(page, 'one').locator('.edit').press('Escape');
    assert.ok(await row(page, 'one').evaluate((li) => !li.classList.contains('editing')));
    // Blur saves an edit.
    await row(page, 'three').locator('label').dblclick();
    await row(page, 'three').locator('.edit').fill('  three, trimmed  ');
    await page.click('.new-todo');
    await waitForAgreement(server, [page]);
    // An emptied title deletes the todo.
    await row(page, 'one').locator('label').dblclick();
    await row(page, 'one').locator('.edit').fill('');
    await row(page, 'one').locator('.edit').press('Enter');
    const final = await waitForAgreement(server, [page]);
    assert.deepEqual(
      final.map(({ title, completed }) => ({ title, completed })),
      [
        { title: 'two', completed: true },
        { title: 'three, trimmed', completed: false },
      ],
    );
    assert.deepEqual(page.problems, []);
    // The page loads its collection again from the server on reload.
    await page.reload();
    await page.waitForFunction(() => window.todoApp && window.todoApp.ready, null, { timeout: 10000 });
    assert.deepEqual(await pageTodos(page), await serverTodos(server));
  } catch (error) {
    const saved = await screenshotPages(t.name, { page });
    if (saved.length) error.message += `\nscreenshots: ${saved.join(', ')}`;
    throw error;
  } finally {
    if (page) await page.context().close();
    await server.stop();
  }
});
