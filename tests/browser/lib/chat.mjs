// Chat harness: runs example-chat on 127.0.0.1 (free port, fresh SQLite file, short hold, the chat page of
// this repository) and drives pages of its web page in Debian's headless Chromium.
//
// The binary is LIVE_EXAMPLE_CHAT (tests/run sets it), else target/debug/example-chat of this repository.
// Every server started here is stopped by PID by the test that started it (SIGKILLed as a last resort when
// the test process exits); every browser context by the test that opened it.

import { existsSync } from 'node:fs';
import path from 'node:path';
import { exampleBinary, repoRoot, startExampleTodo } from '../../support/example-todo.mjs';
import { restOk, screenshotPages, waitFor, withTimeout } from './harness.mjs';

/** The chat page's folder, served with --web-root. */
export const chatWebRoot = path.join(repoRoot, 'examples', 'chat', 'web');

/** How long a page may take to show what another page (or REST) did. */
export const SHOW_MS = 5000;

/**
 * Starts example-chat serving the chat page, on a free port of 127.0.0.1 with a new SQLite file in a temp
 * dir (removed by `stop()`). `args` adds flags (`--no-websocket`). Returns what startExampleTodo returns.
 */
export async function startChatServer(options = {}) {
  if (!existsSync(path.join(chatWebRoot, 'node_modules'))) {
    throw new Error(`the chat page is not installed: run npm ci in ${chatWebRoot}`);
  }
  return startExampleTodo({
    binary: exampleBinary('example-chat', 'LIVE_EXAMPLE_CHAT'),
    name: 'example-chat',
    tempPrefix: 'live-chat-',
    graceMs: 5000,
    ...options,
    args: ['--web-root', chatWebRoot, ...(options.args ?? [])],
  });
}

/** Creates a room over REST; resolves to it (`{id, name}`). */
export function createRoom(server, name) {
  return restOk(server, 'POST', '/api/rooms', { name });
}

/** The messages of room `roomId` on the server, by id, as `{id, author, text}`. */
export async function serverMessages(server, roomId) {
  const rows = await restOk(server, 'GET', `/api/rooms/${roomId}/messages?order=id&limit=1000`);
  return rows.map(({ id, author, text }) => ({ id, author, text }));
}

/**
 * Opens the chat page of `server` in a new browser context (its own storage, like another user), at
 * `hash`, and waits (bounded) until its rooms are loaded. `page.problems` collects uncaught errors and HTTP
 * answers of 400 and above, except refused transport probes (how the server tells faye to fall back).
 */
export async function openChat(browser, server, hash = '') {
  const context = await browser.newContext({ viewport: { width: 1000, height: 800 } });
  const page = await context.newPage();
  page.problems = [];
  page.on('pageerror', (error) => page.problems.push(`page error: ${error.message}`));
  page.on('response', (response) => {
    const probe = /text\/event-stream/.test(response.request().headers().accept ?? '');
    if (response.status() >= 400 && !probe) {
      page.problems.push(`${response.request().method()} ${response.url()}: ${response.status()}`);
    }
  });
  await page.goto(`${server.url}/${hash}`, { timeout: 10000 });
  await page.waitForFunction(() => window.chatApp && window.chatApp.ready, null, { timeout: 10000 });
  return page;
}

/** Waits (bounded) until `page` shows room `roomId` with its messages loaded. */
export async function roomReady(page, roomId) {
  await page.waitForSelector(`#room[data-room-id="${roomId}"][data-state="ready"]`, { timeout: SHOW_MS });
}

/** Clicks room `roomId` in the room list of `page` (it must be listed there) and waits until it is shown. */
export async function enterRoom(page, roomId) {
  await page.click(`#rooms .room[data-id="${roomId}"] a`, { timeout: SHOW_MS });
  await roomReady(page, roomId);
}

/** Sets the author and sends `text` with the composer of `page` (Enter in the text field). */
export async function post(page, author, text) {
  await page.fill('#author', author);
  await page.fill('#text', text);
  await page.press('#text', 'Enter');
}

/** The messages `page` shows, in order, as `{id, author, text}` (id null while being sent). */
export function shownMessages(page) {
  return page.$$eval('#messages .message', (items) =>
    items.map((li) => ({
      id: li.dataset.id ? Number(li.dataset.id) : null,
      author: li.querySelector('.author').textContent,
      text: li.querySelector('.text').textContent,
    })),
  );
}

/** The Bayeux channels the page's faye client is subscribed to, sorted. */
export function subscribedChannels(page) {
  return page.evaluate(() => window.chatApp.faye._channels.getKeys().slice().sort());
}

/** Waits (bounded) until `page` shows exactly `expected` (`{id, author, text}` each), in that order. */
export async function waitForMessages(page, expected, what = 'the messages', ms = SHOW_MS) {
  const want = JSON.stringify(expected);
  let last;
  await waitFor(
    async () => {
      last = await shownMessages(page);
      return JSON.stringify(last) === want;
    },
    ms,
    what,
    () => ({ expected, shown: last }),
  );
}

/** Waits (bounded) until `page` shows a stored message (one with an id) whose text is `text`; resolves to it. */
export async function waitForText(page, text, what = `the message "${text}"`, ms = SHOW_MS) {
  let last;
  return waitFor(
    async () => {
      last = await shownMessages(page);
      return last.find((message) => message.text === text && message.id !== null);
    },
    ms,
    what,
    () => last,
  );
}

/**
 * Runs `body({server, pages})` with a fresh server (`serverOptions`) and `count` pages of the chat, each in
 * its own browser context. On failure saves screenshots and adds the server's log; always closes the
 * contexts and stops the server.
 */
export async function withChat(t, browser, serverOptions, count, body) {
  const server = await startChatServer(serverOptions);
  const pages = [];
  try {
    for (let i = 0; i < count; i += 1) pages.push(await openChat(browser, server));
    await body({ server, pages });
    for (const [i, page] of pages.entries()) {
      if (page.problems.length) throw new Error(`page ${i} had problems:\n${page.problems.join('\n')}`);
    }
  } catch (error) {
    const named = Object.fromEntries(pages.map((page, i) => [`page${i}`, page]));
    const saved = await screenshotPages(t.fullName ?? t.name, named);
    if (saved.length) error.message += `\nscreenshots: ${saved.join(', ')}`;
    error.message += `\nserver log (tail):\n${server.output().slice(-3000)}`;
    throw error;
  } finally {
    for (const page of pages) {
      await withTimeout(page.context().close(), 5000, 'closing a context').catch(() => {});
    }
    await server.stop();
  }
}
