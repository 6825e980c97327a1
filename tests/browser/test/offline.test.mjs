// A page of the todo app goes offline (Chromium's own network emulation, as a laptop going to sleep does)
// for 10 s and for 75 s, longer than an idle Bayeux session lives with the server's default 25 s hold.
// Meanwhile the other page creates a todo, and a create, an edit and a delete come over REST. Within 5 s
// of coming back, the page shows exactly the server's list, nothing twice, and it is live both ways.
// Over WebSocket and over long-polling; the four cases run side by side, each with its own server.
//
// Chromium's offline mode does not close an open WebSocket: frames the server writes are accepted by the
// kernel and never reach the page. This is the path that used to lose events (docs/protocol.md §6.5).

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  TRANSPORTS,
  addTodo,
  browserForTests,
  pageTodos,
  restOk,
  serverTodos,
  transportOf,
  waitFor,
  waitForAgreement,
  withTwoPages,
} from '../lib/harness.mjs';

/** The server's default hold: an idle session then lives 2 × 25 s + 5 s after its last connect. */
const HOLD_MS = 25000;

/** How soon after coming back the page must agree with the server. */
const RECOVERY_MS = 5000;

let browser;
browserForTests((launched) => {
  browser = launched;
});

/** Records, in the page, what faye sends and receives and when its transport goes down and up. */
function traceFaye(page) {
  return page.evaluate(() => {
    const faye = window.todoApp.todos.faye;
    const trace = (window.fayeTrace = []);
    const t0 = Date.now();
    const note = (entry) => trace.push({ ms: Date.now() - t0, ...entry });
    faye.addExtension({
      outgoing(message, callback) {
        if (message.channel.startsWith('/meta/')) note({ out: message.channel, id: message.id, ext: message.ext });
        callback(message);
      },
      incoming(message, callback) {
        if (message.channel.startsWith('/meta/')) {
          note({ in: message.channel, id: message.id, ok: message.successful, error: message.error, ext: message.ext });
        } else {
          note({ event: message.data && message.data.method, seq: message.data && message.data.seq, ext: message.ext });
        }
        callback(message);
      },
    });
    const envelopes = () =>
      Array.from(faye._dispatcher._envelopes.values(), (e) => ({
        channel: e.message.channel,
        id: e.message.id,
        waiting: !!e.timer && !e.request,
      }));
    window.addEventListener('online', () => note({ online: true, envelopes: envelopes() }));
    window.addEventListener('offline', () => note({ offline: true }));
    faye.on('transport:down', () => note({ transport: 'down' }));
    faye.on('transport:up', () => note({ transport: 'up' }));
  });
}

describe('offline and back', { concurrency: true }, () => {
  for (const transport of TRANSPORTS) {
    for (const offlineMs of [10000, 75000]) {
      test(`a page offline for ${offlineMs / 1000} s catches up within 5 s, over ${transport.name}`, async (t) => {
        await withTwoPages(t, browser, { args: transport.args, holdMs: HOLD_MS }, async ({ server, a, b }) => {
          await waitFor(async () => (await transportOf(b)) === transport.name, 15000, `faye on ${transport.name}`);
          await addTodo(a, 'to edit');
          await addTodo(a, 'to delete');
          const [toEdit, toDelete] = await waitForAgreement(server, [a, b]);
          await traceFaye(b);

          await b.context().setOffline(true);
          await addTodo(a, 'typed in A while B was away');
          await restOk(server, 'POST', '/api/todos', { title: 'posted over REST while B was away' });
          await restOk(server, 'PATCH', `/api/todos/${toEdit.id}`, { title: 'edited while B was away', completed: true });
          await restOk(server, 'DELETE', `/api/todos/${toDelete.id}`);
          await waitForAgreement(server, [a]);
          // The outage itself: how long the page stays offline is the scenario, not a wait for a condition.
          await new Promise((resolve) => setTimeout(resolve, offlineMs));
          await b.context().setOffline(false);

          try {
            await waitForAgreement(server, [b], RECOVERY_MS);
          } catch (error) {
            const trace = await b.evaluate(() => window.fayeTrace).catch(() => 'unreadable');
            error.message += `\npage B's faye trace: ${JSON.stringify(trace)}`;
            throw error;
          }
          const shown = await pageTodos(b);
          assert.equal(new Set(shown.map((row) => row.id)).size, shown.length, 'nothing shown twice');
          assert.ok(
            shown.some((row) => row.title === 'edited while B was away' && row.completed),
            'the edit is there',
          );
          assert.ok(!shown.some((row) => row.id === toDelete.id), 'the delete is there');

          // Live both ways again.
          await addTodo(b, 'typed in B after coming back');
          await addTodo(a, 'typed in A after B came back');
          const expected = await waitForAgreement(server, [a, b], RECOVERY_MS);
          assert.equal(expected.length, 5);
          assert.deepEqual(await serverTodos(server), expected);
        });
      });
    }
  }
});
