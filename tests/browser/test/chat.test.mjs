// The chat page of example-chat in headless Chromium, pages in separate browser contexts (like separate
// users), over WebSocket and, with the server's WebSocket turned off, long-polling: pages in one room see
// each other's messages; a page in another room sees none of them; switching rooms neither leaks the old
// room's later messages nor shows a message twice when switching back. Each room's messages are a
// LiveCollection of /api/rooms/<id>/messages, on the channel of that path.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TRANSPORTS, browserForTests, restOk } from '../lib/harness.mjs';
import {
  SHOW_MS,
  createRoom,
  enterRoom,
  post,
  roomReady,
  serverMessages,
  shownMessages,
  subscribedChannels,
  waitForMessages,
  waitForText,
  withChat,
} from '../lib/chat.mjs';

let browser;
browserForTests((launched) => {
  browser = launched;
});

/** The channel of room `id`'s messages. */
const channel = (id) => `/api/rooms/${id}/messages`;

for (const transport of TRANSPORTS) {
  describe(`chat over ${transport.name}`, () => {
    test('two pages in the same room see each other’s messages', async (t) => {
      await withChat(t, browser, { args: transport.args }, 2, async ({ server, pages: [ada, bob] }) => {
        // Ada creates the room with the form; it shows in Bob's list by itself.
        await ada.fill('#room-name', 'general');
        await ada.press('#room-name', 'Enter');
        await ada.waitForSelector('#room[data-state="ready"]', { timeout: SHOW_MS });
        const roomId = Number(await ada.getAttribute('#room', 'data-room-id'));
        assert.ok(roomId > 0, 'the new room is selected');
        assert.equal(await ada.textContent('#room-title'), 'general');
        await bob.waitForSelector(`#rooms .room[data-id="${roomId}"]`, { timeout: SHOW_MS });
        await enterRoom(bob, roomId);

        await post(ada, 'ada', 'hello from ada');
        await waitForText(bob, 'hello from ada', 'Bob to see Ada’s message');
        await post(bob, 'bob', 'hi ada, bob here');
        await waitForText(ada, 'hi ada, bob here', 'Ada to see Bob’s message');
        await post(ada, 'ada', 'line one\nline two');
        await waitForText(ada, 'line one\nline two', 'Ada’s own message to be stored');

        const stored = await serverMessages(server, roomId);
        assert.deepEqual(
          stored.map(({ author, text }) => ({ author, text })),
          [
            { author: 'ada', text: 'hello from ada' },
            { author: 'bob', text: 'hi ada, bob here' },
            { author: 'ada', text: 'line one\nline two' },
          ],
        );
        await waitForMessages(ada, stored, 'Ada’s page to show the room’s messages, once each');
        await waitForMessages(bob, stored, 'Bob’s page to show the room’s messages, once each');

        // The server set each message's room from the path and its time from its own clock.
        const rows = await restOk(server, 'GET', `${channel(roomId)}?order=id`);
        for (const row of rows) {
          assert.equal(row.room_id, roomId);
          assert.ok(Math.abs(Date.parse(row.sent_at) - Date.now()) < 60000, `sent_at ${row.sent_at} is now`);
        }
        assert.equal(await ada.$$eval('#messages time.sent-at[datetime]', (times) => times.length), 3);
        // The author's name is remembered for the next visit.
        assert.equal(await ada.evaluate(() => localStorage.getItem('live-chat.author')), 'ada');
      });
    });

    test('a page in another room sees none of them', async (t) => {
      await withChat(t, browser, { args: transport.args }, 3, async ({ server, pages: [ada, bob, cyd] }) => {
        const general = await createRoom(server, 'general');
        const random = await createRoom(server, 'random');
        for (const page of [ada, bob]) {
          await page.waitForSelector(`#rooms .room[data-id="${general.id}"]`, { timeout: SHOW_MS });
          await enterRoom(page, general.id);
        }
        await cyd.waitForSelector(`#rooms .room[data-id="${random.id}"]`, { timeout: SHOW_MS });
        await enterRoom(cyd, random.id);

        for (const text of ['one in general', 'two in general', 'three in general']) {
          await post(ada, 'ada', text);
          await waitForText(bob, text, `Bob to see "${text}"`);
        }
        // Cyd's own message is published after every message of general: once it is shown, any of general's
        // that reached Cyd's page would be shown too.
        await post(cyd, 'cyd', 'meanwhile in random');
        await waitForText(cyd, 'meanwhile in random');
        await restOk(server, 'POST', `${channel(random.id)}`, { author: 'rest', text: 'also random' });
        await waitForText(cyd, 'also random');

        const randomRows = await serverMessages(server, random.id);
        assert.equal(randomRows.length, 2);
        assert.deepEqual(await shownMessages(cyd), randomRows, 'Cyd sees random’s messages, and only those');
        assert.deepEqual(await subscribedChannels(cyd), ['/api/rooms', channel(random.id)]);
        await waitForMessages(ada, await serverMessages(server, general.id), 'Ada to show general');
        await waitForMessages(bob, await serverMessages(server, general.id), 'Bob to show general');
      });
    });

    test('switching rooms neither leaks the old room’s messages nor duplicates them on return', async (t) => {
      await withChat(t, browser, { args: transport.args }, 2, async ({ server, pages: [ada, bob] }) => {
        const roomA = await createRoom(server, 'alpha');
        const roomB = await createRoom(server, 'beta');
        for (const page of [ada, bob]) {
          await page.waitForSelector(`#rooms .room[data-id="${roomB.id}"]`, { timeout: SHOW_MS });
          await enterRoom(page, roomA.id);
        }
        await post(bob, 'bob', 'a1');
        await waitForText(ada, 'a1');

        // Ada goes to B; Bob writes in A, then someone writes in B. Once B's message shows in Ada's page,
        // A's (published before it) would have too, had Ada's page still followed A.
        await enterRoom(ada, roomB.id);
        assert.deepEqual(await subscribedChannels(ada), ['/api/rooms', channel(roomB.id)], 'only B is followed');
        await post(bob, 'bob', 'a2');
        await waitForText(bob, 'a2');
        await restOk(server, 'POST', channel(roomB.id), { author: 'rest', text: 'b1' });
        await waitForText(ada, 'b1');
        assert.deepEqual(await shownMessages(ada), await serverMessages(server, roomB.id), 'B shows B only');

        // Back to A: every message of A, once each, and none of B.
        await enterRoom(ada, roomA.id);
        const inA = await serverMessages(server, roomA.id);
        assert.deepEqual(
          inA.map((message) => message.text),
          ['a1', 'a2'],
        );
        await waitForMessages(ada, inA, 'A, once each, after switching back');

        // Bounce B → A without waiting for B to load, then write in A from both pages: still once each.
        await ada.click(`#rooms .room[data-id="${roomB.id}"] a`);
        await ada.waitForSelector(`#room[data-room-id="${roomB.id}"]`, { timeout: SHOW_MS });
        await ada.click(`#rooms .room[data-id="${roomA.id}"] a`);
        await roomReady(ada, roomA.id);
        await post(ada, 'ada', 'a3');
        await post(bob, 'bob', 'a4');
        await waitForText(ada, 'a4');
        await waitForText(ada, 'a3');
        const finalA = await serverMessages(server, roomA.id);
        assert.equal(finalA.length, 4);
        await waitForMessages(ada, finalA, 'A, once each, after bouncing');
        await waitForMessages(bob, finalA, 'Bob’s A, once each');
        assert.deepEqual(await subscribedChannels(ada), ['/api/rooms', channel(roomA.id)], 'only A is followed');
      });
    });
  });
}
