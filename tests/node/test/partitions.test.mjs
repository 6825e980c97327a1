// Partitions, record channels and filtered subscriptions (docs/live.md) with the faye 1.4.3 client against
// example-chat, over WebSocket and long-polling: a room's messages go on the room's own channel
// (/api/rooms/<id>/messages) and nowhere else; /api/rooms/** gets every room's, each on its concrete
// channel; a record channel (/api/rooms/<id>/messages/<mid>) carries one message's events and is matched
// only exactly; `ext.where` delivers only the matching rows, with enters and leaves. Each test runs its own
// server on a fresh SQLite file.
//
// Absence is only checked after a later event has reached the same client: delivery within a session is
// ordered, so anything wrongly sent before it would have arrived by then. The wire is read through an
// incoming extension (the harness's `stats.received`), since faye only calls the listeners whose
// subscription matches the channel and would hide a stray message.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { exampleBinary, startExampleTodo } from '../../support/example-todo.mjs';
import { TRANSPORTS, collector, fayeClient, rejection, rest, restOk, waitFor, withTimeout } from '../lib/harness.mjs';

/** How long an event may take to arrive. */
const EVENT_MS = 5000;

/** Runs `body(server)` with example-chat on a fresh SQLite file, always stopping it. */
async function withChat(body) {
  const server = await startExampleTodo({
    binary: exampleBinary('example-chat', 'LIVE_EXAMPLE_CHAT'),
    name: 'example-chat',
    db: 'chat.db',
    tempPrefix: 'live-node-chat-',
  });
  try {
    return await body(server);
  } finally {
    await server.stop();
  }
}

/** The channel (and REST path) of room `roomId`'s messages. */
const roomChannel = (roomId) => `/api/rooms/${roomId}/messages`;

/** The channel (and REST path) of message `id` of room `roomId`. */
const recordChannel = (roomId, id) => `/api/rooms/${roomId}/messages/${id}`;

/** Creates a room; resolves to its row. */
const createRoom = (server, name) => restOk(server, 'POST', '/api/rooms', { name });

/** Posts a message to a room; resolves to its row. */
const postMessage = (server, roomId, author, text) =>
  restOk(server, 'POST', roomChannel(roomId), { author, text });

/** Every data message (an event, not a reply) a client received on the wire, `{channel, data}`. */
function wireEvents(c) {
  return c.stats.received
    .filter((m) => m.message.data !== undefined && !m.channel.startsWith('/meta/'))
    .map((m) => ({ channel: m.channel, data: m.message.data }));
}

/** An extension recording the channel of every incoming data message, in order: `{channels, extension}`. */
function channelRecorder() {
  const channels = [];
  return {
    channels,
    extension: {
      incoming(message, callback) {
        if (message.data !== undefined && !message.channel.startsWith('/meta/')) {
          channels.push({ channel: message.channel, seq: message.data?.seq });
        }
        callback(message);
      },
    },
  };
}

/**
 * An extension adding `ext` fields to the /meta/subscribe of a channel: `exts` maps a channel to the
 * fields, and may be changed (or emptied) between subscribes. `sent` holds a copy of each subscribe it
 * extended, as it went out.
 */
function subscribeExt(exts) {
  const sent = [];
  return {
    sent,
    outgoing(message, callback) {
      const ext = exts.get(message.subscription);
      if (message.channel === '/meta/subscribe' && ext) {
        message.ext = { ...(message.ext ?? {}), ...ext };
        sent.push(structuredClone(message));
      }
      callback(message);
    },
  };
}

/** The /meta/subscribe replies a client received for `channel`, in order. */
function subscribeReplies(c, channel) {
  return c.stats.received
    .filter((m) => m.channel === '/meta/subscribe' && m.message.subscription === channel)
    .map((m) => m.message);
}

/** Asserts that `events` come in strictly increasing seq order. */
function assertSeqOrder(events, what) {
  for (let i = 1; i < events.length; i += 1) {
    assert.ok(events[i].seq > events[i - 1].seq, `${what}: seq order: ${JSON.stringify(events.map((e) => e.seq))}`);
  }
}

/** Waits (bounded) until each client runs on `transport`: the scenario then tests the transport it names. */
async function onTransport(clients, transport) {
  for (const c of clients) {
    await waitFor(
      () => c.client._dispatcher.connectionType === transport,
      3000,
      `connectionType ${transport}`,
      () => c.client._dispatcher.connectionType,
    );
  }
}

/** `[method, id]` of each event, for compact comparisons. */
const methodsAndIds = (events) => events.map((e) => [e.method, e.body.id]);

describe('partitions, record channels and ext.where on example-chat (faye 1.4.3)', () => {
  for (const transport of TRANSPORTS) {
    it(`delivers a room's messages to its subscribers only, each once in seq order, over ${transport}`, async () => {
      await withChat(async (server) => {
        const roomA = await createRoom(server, 'a');
        const roomB = await createRoom(server, 'b');
        const a = fayeClient(server, transport);
        const b = fayeClient(server, transport);
        // One client subscribed to both rooms, a listener each: faye routes by channel, the server must too.
        const both = fayeClient(server, transport);
        try {
          const onA = collector();
          const onB = collector();
          const bothA = collector();
          const bothB = collector();
          await Promise.all([
            a.subscribe(roomChannel(roomA.id), onA.listener),
            b.subscribe(roomChannel(roomB.id), onB.listener),
            both.subscribe(roomChannel(roomA.id), bothA.listener),
            both.subscribe(roomChannel(roomB.id), bothB.listener),
          ]);
          await onTransport([a, b, both], transport);

          // 20 messages per room, posted concurrently and interleaved.
          const posts = [];
          for (let i = 0; i < 20; i += 1) {
            posts.push(postMessage(server, roomA.id, 'ann', `a${i}`));
            posts.push(postMessage(server, roomB.id, 'bob', `b${i}`));
          }
          const rows = await Promise.all(posts);
          // Then one more per room, after every other write committed: its seq is above all of them, so
          // once it arrived, anything of the other room sent to this client would have arrived too.
          const lastA = await postMessage(server, roomA.id, 'ann', 'a last');
          const lastB = await postMessage(server, roomB.id, 'bob', 'b last');
          const expectedA = [...rows.filter((r) => r.room_id === roomA.id), lastA];
          const expectedB = [...rows.filter((r) => r.room_id === roomB.id), lastB];
          assert.equal(expectedA.length, 21);
          assert.equal(expectedB.length, 21);

          const has = (events, row) => events.some((e) => e.body.id === row.id);
          await waitFor(
            () => has(onA.events, lastA) && has(bothA.events, lastA),
            EVENT_MS,
            `room A's last message (${transport})`,
            () => [onA.events.length, bothA.events.length],
          );
          await waitFor(
            () => has(onB.events, lastB) && has(bothB.events, lastB),
            EVENT_MS,
            `room B's last message (${transport})`,
            () => [onB.events.length, bothB.events.length],
          );

          const check = (events, expected, room, what) => {
            assert.equal(events.length, expected.length, `${what}: each of the room's messages once: ${events.length}`);
            assertSeqOrder(events, what);
            const byId = new Map(expected.map((row) => [row.id, row]));
            assert.equal(new Set(events.map((e) => e.body.id)).size, events.length, `${what}: no message twice`);
            for (const event of events) {
              assert.equal(event.method, 'POST', what);
              assert.equal(event.body.room_id, room.id, `${what}: only room ${room.id}'s messages`);
              assert.deepEqual(event.body, byId.get(event.body.id), `${what}: the body the REST call answered`);
              assert.equal(typeof event.version, 'number');
              assert.equal(event.origin, null);
            }
            const ids = (list) => list.map((x) => x.id).sort((x, y) => x - y);
            assert.deepEqual(ids(events.map((e) => e.body)), ids(expected), `${what}: every message`);
          };
          check(onA.events, expectedA, roomA, 'room A subscriber');
          check(onB.events, expectedB, roomB, 'room B subscriber');
          check(bothA.events, expectedA, roomA, 'room A listener of the client on both rooms');
          check(bothB.events, expectedB, roomB, 'room B listener of the client on both rooms');

          // On the wire: nothing of the other room ever reached the single-room clients, and the client on
          // both rooms got each event once, on its room's channel.
          for (const [c, room, what] of [
            [a, roomA, 'room A client'],
            [b, roomB, 'room B client'],
          ]) {
            const wire = wireEvents(c);
            assert.ok(
              wire.every((m) => m.channel === roomChannel(room.id) && m.data.body.room_id === room.id),
              `${what}: only its room's channel on the wire: ${JSON.stringify(wire.map((m) => m.channel))}`,
            );
            assert.equal(wire.length, 21, `${what}: 21 events on the wire`);
          }
          const wire = wireEvents(both);
          assert.equal(wire.length, 42, 'the client on both rooms: each event once on the wire');
          for (const m of wire) assert.equal(m.channel, roomChannel(m.data.body.room_id), 'its own room channel');
          assertSeqOrder(
            wire.map((m) => m.data),
            'the client on both rooms, across channels',
          );
        } finally {
          await Promise.all([a.close(), b.close(), both.close()]);
        }
      });
    });

    it(`delivers every room's events to /api/rooms/**, each once on its own channel, over ${transport}`, async () => {
      await withChat(async (server) => {
        const roomA = await createRoom(server, 'a');
        const roomB = await createRoom(server, 'b');
        const recorder = channelRecorder();
        const all = fayeClient(server, transport, { extensions: [recorder.extension] });
        const underA = fayeClient(server, transport);
        try {
          const onAll = collector();
          const withChannel = [];
          const onUnderA = collector();
          await Promise.all([
            withTimeout(
              all.client.subscribe('/api/rooms/**', onAll.listener).withChannel((channel, data) => {
                withChannel.push({ channel, seq: data.seq });
              }),
              5000,
              'subscribe /api/rooms/**',
            ),
            // `/api/rooms/<id>/*`: the events of room A's sub-resources.
            underA.subscribe(`/api/rooms/${roomA.id}/*`, onUnderA.listener),
          ]);
          await onTransport([all, underA], transport);

          const posts = [];
          for (let i = 0; i < 10; i += 1) {
            posts.push(postMessage(server, roomA.id, 'ann', `a${i}`));
            posts.push(postMessage(server, roomB.id, 'bob', `b${i}`));
          }
          const rows = await Promise.all(posts);
          const rowsA = rows.filter((r) => r.room_id === roomA.id);
          const rowsB = rows.filter((r) => r.room_id === roomB.id);
          const patched = await restOk(server, 'PATCH', recordChannel(roomA.id, rowsA[0].id), { text: 'edited' });
          // Deleting room B deletes its messages, each removal published on room B's channel.
          const deletedRoom = await restOk(server, 'DELETE', `/api/rooms/${roomB.id}`);
          assert.deepEqual(deletedRoom, roomB);
          assert.equal((await rest(server, 'GET', roomChannel(roomB.id))).status, 404, 'room B is gone');
          const last = await postMessage(server, roomA.id, 'ann', 'last');

          await waitFor(
            () => onAll.events.some((e) => e.body.id === last.id) && onUnderA.events.some((e) => e.body.id === last.id),
            EVENT_MS,
            `the last message on /api/rooms/** and /api/rooms/${roomA.id}/* (${transport})`,
            () => [onAll.events.length, onUnderA.events.length],
          );

          const expected = [
            ...rows.map((row) => ['POST', row.id]),
            ['PATCH', rowsA[0].id],
            ...rowsB.map((row) => ['DELETE', row.id]),
            ['POST', last.id],
          ];
          const key = ([method, id]) => `${method} ${id}`;
          assert.equal(
            onAll.events.length,
            expected.length,
            `each event once: ${JSON.stringify(methodsAndIds(onAll.events))}`,
          );
          assert.deepEqual(methodsAndIds(onAll.events).map(key).sort(), expected.map(key).sort());
          assertSeqOrder(onAll.events, '/api/rooms/**');
          assert.equal(new Set(onAll.events.map((e) => e.seq)).size, onAll.events.length, 'no seq twice');
          for (const event of onAll.events) {
            const want =
              event.method === 'PATCH'
                ? patched
                : event.method === 'DELETE'
                  ? rowsB.find((r) => r.id === event.body.id)
                  : [...rows, last].find((r) => r.id === event.body.id);
            assert.deepEqual(event.body, want, `${event.method} ${event.body.id}: the REST body`);
          }
          // The cascade's removals are one transaction: consecutive seqs.
          const deletes = onAll.events.filter((e) => e.method === 'DELETE').map((e) => e.seq);
          assert.equal(deletes.length, rowsB.length);
          for (let i = 1; i < deletes.length; i += 1) assert.equal(deletes[i], deletes[i - 1] + 1, 'consecutive seqs');

          // Each on its concrete channel: recorded on the wire by the extension, and named by withChannel.
          const bySeq = new Map(onAll.events.map((e) => [e.seq, e]));
          assert.equal(recorder.channels.length, onAll.events.length, 'one wire message per event');
          for (const { channel, seq } of recorder.channels) {
            const event = bySeq.get(seq);
            assert.ok(event, `wire seq ${seq} is an event the listener got`);
            assert.equal(channel, roomChannel(event.body.room_id), `seq ${seq} on its room's channel`);
          }
          assert.deepEqual(
            withChannel,
            onAll.events.map((e) => ({ channel: roomChannel(e.body.room_id), seq: e.seq })),
            'withChannel names the concrete channel of each event',
          );
          assert.ok(
            !recorder.channels.some(({ channel }) => channel === '/api/rooms'),
            '/api/rooms/** does not match /api/rooms: the room delete is not sent',
          );

          // /api/rooms/<A>/*: room A's events only.
          assert.deepEqual(
            methodsAndIds(onUnderA.events),
            onAll.events.filter((e) => e.body.room_id === roomA.id).map((e) => [e.method, e.body.id]),
            `/api/rooms/${roomA.id}/* gets room A's events, in order`,
          );
          assert.ok(
            wireEvents(underA).every((m) => m.channel === roomChannel(roomA.id)),
            `/api/rooms/${roomA.id}/*: nothing of room B on the wire`,
          );
        } finally {
          await Promise.all([all.close(), underA.close()]);
        }
      });
    });

    it(`carries one record's events on its record channel, matched exactly, over ${transport}`, async () => {
      await withChat(async (server) => {
        const room = await createRoom(server, 'r');
        const other = await createRoom(server, 'other');
        const target = await postMessage(server, room.id, 'ann', 'target');
        const neighbour = await postMessage(server, room.id, 'bob', 'neighbour');
        const elsewhere = await postMessage(server, other.id, 'cyd', 'same id space, other room');

        const exts = new Map([[recordChannel(room.id, target.id), { snapshot: true }]]);
        const record = fayeClient(server, transport, { extensions: [subscribeExt(exts)] });
        const star = fayeClient(server, transport);
        const whole = fayeClient(server, transport);
        const clients = [record, star, whole];
        try {
          const onRecord = collector();
          const onStar = collector();
          const onRoom = collector();
          const onAll = collector();
          const sentinels = clients.map(() => collector());
          await Promise.all([
            record.subscribe(recordChannel(room.id, target.id), onRecord.listener),
            star.subscribe(`${roomChannel(room.id)}/*`, onStar.listener),
            whole.subscribe(roomChannel(room.id), onRoom.listener),
            whole.subscribe('/api/rooms/**', onAll.listener),
            // Every client also follows /api/rooms: the room's rename, written last, is the sentinel.
            ...clients.map((c, i) => c.subscribe('/api/rooms', sentinels[i].listener)),
          ]);
          await onTransport(clients, transport);

          const [reply] = subscribeReplies(record, recordChannel(room.id, target.id));
          assert.equal(reply?.successful, true, JSON.stringify(reply));
          assert.ok(reply.ext?.snapshot, `the reply carries a snapshot: ${JSON.stringify(reply)}`);
          assert.deepEqual(reply.ext.snapshot.rows, [target], 'the record snapshot is [row]');
          assert.equal(typeof reply.ext.snapshot.seq, 'number');

          const patchedTarget = await restOk(server, 'PATCH', recordChannel(room.id, target.id), { text: 'edited' });
          const patchedNeighbour = await restOk(server, 'PATCH', recordChannel(room.id, neighbour.id), {
            text: 'also edited',
          });
          const deletedTarget = await restOk(server, 'DELETE', recordChannel(room.id, target.id));
          assert.deepEqual(deletedTarget, patchedTarget, 'DELETE answers the row as it was');
          const renamed = await restOk(server, 'PATCH', `/api/rooms/${room.id}`, { name: 'renamed' });
          await waitFor(
            () => sentinels.every((s) => s.events.some((e) => e.body.name === 'renamed')),
            EVENT_MS,
            `the room rename on every client (${transport})`,
            () => sentinels.map((s) => s.events.length),
          );

          // The record subscriber: exactly that record's PATCH, then its DELETE, after the snapshot's seq.
          assert.deepEqual(
            onRecord.events.map((e) => [e.method, e.body]),
            [
              ['PATCH', patchedTarget],
              ['DELETE', deletedTarget],
            ],
          );
          assert.ok(onRecord.events[0].seq > reply.ext.snapshot.seq, 'events after the snapshot seq');
          assertSeqOrder(onRecord.events, 'record channel');
          const recordWire = wireEvents(record);
          assert.deepEqual(
            recordWire.map((m) => [m.channel, m.data.method]),
            [
              [recordChannel(room.id, target.id), 'PATCH'],
              [recordChannel(room.id, target.id), 'DELETE'],
              ['/api/rooms', 'PATCH'],
            ],
            'the record client got its record on its record channel, and nothing else of the room',
          );

          // The room subscriber (and /api/rooms/** on the same client): each event once, on the room channel.
          const expectedRoom = [
            ['PATCH', patchedTarget],
            ['PATCH', patchedNeighbour],
            ['DELETE', deletedTarget],
          ];
          assert.deepEqual(
            onRoom.events.map((e) => [e.method, e.body]),
            expectedRoom,
          );
          assert.deepEqual(
            onAll.events.map((e) => [e.method, e.body]),
            expectedRoom,
          );
          assert.deepEqual(
            wireEvents(whole).map((m) => [m.channel, m.data.method, m.data.body.id]),
            [
              [roomChannel(room.id), 'PATCH', target.id],
              [roomChannel(room.id), 'PATCH', neighbour.id],
              [roomChannel(room.id), 'DELETE', target.id],
              ['/api/rooms', 'PATCH', room.id],
            ],
            'each event once on the wire, on the collection channel only',
          );

          // The wildcard below the collection: record channels are never matched by a pattern.
          assert.deepEqual(onStar.events, [], `${roomChannel(room.id)}/* receives nothing`);
          assert.deepEqual(
            wireEvents(star).map((m) => [m.channel, m.data.method]),
            [['/api/rooms', 'PATCH']],
            `${roomChannel(room.id)}/*: nothing on the wire but the sentinel`,
          );
          assert.deepEqual(sentinels[0].events.map((e) => e.body), [renamed]);
          assert.ok(elsewhere.id !== target.id);

          // A snapshot of a record that no longer exists is [].
          const gone = recordChannel(room.id, target.id);
          const late = fayeClient(server, transport, {
            extensions: [subscribeExt(new Map([[gone, { snapshot: true }]]))],
          });
          clients.push(late);
          await late.subscribe(gone, () => {});
          const [lateReply] = subscribeReplies(late, gone);
          assert.deepEqual(
            lateReply?.ext?.snapshot?.rows,
            [],
            `the snapshot of a deleted record: ${JSON.stringify(lateReply)}`,
          );
        } finally {
          await Promise.all(clients.map((c) => c.close()));
        }
      });
    });

    it(`delivers only the rows ext.where matches, with enters and leaves, over ${transport}`, async () => {
      await withChat(async (server) => {
        const room = await createRoom(server, 'r');
        const channel = roomChannel(room.id);
        const where = subscribeExt(new Map([[channel, { where: 'author=eq.ann' }]]));
        const filtered = fayeClient(server, transport, { extensions: [where] });
        const plain = fayeClient(server, transport);
        try {
          const onFiltered = collector();
          const onPlain = collector();
          await Promise.all([
            filtered.subscribe(channel, onFiltered.listener),
            plain.subscribe(channel, onPlain.listener),
          ]);
          await onTransport([filtered, plain], transport);
          const [reply] = subscribeReplies(filtered, channel);
          assert.equal(reply?.successful, true, JSON.stringify(reply));
          assert.deepEqual(
            where.sent.map((m) => [m.subscription, m.ext?.where]),
            [[channel, 'author=eq.ann']],
            'the filter went out on the subscribe',
          );

          const ann1 = await postMessage(server, room.id, 'ann', 'ann 1');
          const bob1 = await postMessage(server, room.id, 'bob', 'bob 1');
          const ann2 = await postMessage(server, room.id, 'ann', 'ann 2');
          const bob2 = await postMessage(server, room.id, 'bob', 'bob 2');
          // bob1 becomes ann's: it enters. ann2 becomes bob's: it leaves. bob2 stays bob's: nothing.
          const entered = await restOk(server, 'PATCH', recordChannel(room.id, bob1.id), { author: 'ann' });
          const left = await restOk(server, 'PATCH', recordChannel(room.id, ann2.id), { author: 'bob' });
          await restOk(server, 'PATCH', recordChannel(room.id, bob2.id), { text: 'bob 2, edited' });
          const ann1Edited = await restOk(server, 'PATCH', recordChannel(room.id, ann1.id), { text: 'ann 1, edited' });
          const ann3 = await postMessage(server, room.id, 'ann', 'ann 3');

          await waitFor(
            () => [onFiltered, onPlain].every((c) => c.events.some((e) => e.body.id === ann3.id)),
            EVENT_MS,
            `the last matching message (${transport})`,
            () => [methodsAndIds(onFiltered.events), onPlain.events.length],
          );
          assert.equal(onPlain.events.length, 9, 'the unfiltered subscriber gets every change');
          const plainById = (method, id) => onPlain.events.find((e) => e.method === method && e.body.id === id);

          const events = onFiltered.events;
          assert.deepEqual(
            events.map((e) => [e.method, e.body.id, e.enter ?? false, e.leave ?? false]),
            // A create of a matching row enters (no row before, a matching one after).
            [
              ['POST', ann1.id, true, false],
              ['POST', ann2.id, true, false],
              ['POST', bob1.id, true, false],
              ['DELETE', ann2.id, false, true],
              ['PATCH', ann1.id, false, false],
              ['POST', ann3.id, true, false],
            ],
            `only ann's rows: ${JSON.stringify(events)}`,
          );
          assertSeqOrder(events, 'filtered');
          // Creates arrive as they are, marked as entering; a change within the filter as it is.
          assert.deepEqual(events[0], { ...plainById('POST', ann1.id), enter: true });
          assert.deepEqual(events[1], { ...plainById('POST', ann2.id), enter: true });
          assert.deepEqual(events[4], plainById('PATCH', ann1.id));
          assert.deepEqual(events[4].body, ann1Edited);
          assert.deepEqual(events[5], { ...plainById('POST', ann3.id), enter: true });
          assert.deepEqual(events[0].body, ann1);
          // The enter: a POST of the row after, at the PATCH's seq.
          const enterPatch = plainById('PATCH', bob1.id);
          assert.equal(events[2].enter, true);
          assert.deepEqual(events[2].body, entered);
          assert.equal(events[2].seq, enterPatch.seq, 'the enter is the PATCH, at its seq');
          assert.equal(events[2].body.author, 'ann');
          // The leave: a DELETE of the row before (still ann's), at the PATCH's seq.
          const leavePatch = plainById('PATCH', ann2.id);
          assert.equal(events[3].leave, true);
          assert.deepEqual(events[3].body, ann2, 'the leave carries the row before the change');
          assert.equal(events[3].body.author, 'ann');
          assert.equal(events[3].seq, leavePatch.seq, 'the leave is the PATCH, at its seq');
          assert.deepEqual(leavePatch.body, left);
          // On the wire: nothing else reached the filtered client (the PATCH of bob2 among them).
          assert.deepEqual(
            wireEvents(filtered).map((m) => [m.channel, m.data.seq]),
            events.map((e) => [channel, e.seq]),
            'the filtered client got nothing else on the wire',
          );
        } finally {
          await Promise.all([filtered.close(), plain.close()]);
        }
      });
    });

    it(`refuses filters with order, an unknown field or operator, then serves on, over ${transport}`, async () => {
      await withChat(async (server) => {
        const room = await createRoom(server, 'r');
        const channel = roomChannel(room.id);
        const exts = new Map();
        const c = fayeClient(server, transport, { extensions: [subscribeExt(exts)] });
        try {
          for (const [where, problem] of [
            ['order=id.asc', /order/],
            ['colour=eq.red', /colour/],
            ['author=nope.ann', /nope/],
          ]) {
            exts.set(channel, { where });
            let called = 0;
            const error = await rejection(
              c.client.subscribe(channel, () => {
                called += 1;
              }),
              5000,
              `subscribe with where ${where}`,
            );
            // faye parses the error string with Bayeux's grammar, whose message part allows no `:` or
            // backtick: it then keeps the whole string as the message (code null). Either way the message
            // names the problem; the code is checked on the reply itself.
            assert.match(error.message, problem, `${where}: faye's error names the problem: ${JSON.stringify(error)}`);
            const replies = subscribeReplies(c, channel);
            const refused = replies.at(-1);
            assert.equal(refused?.successful, false, `${where}: ${JSON.stringify(replies)}`);
            assert.match(refused.error, /^400:/, `${where}: a Bayeux error string`);
            assert.match(refused.error, problem, `${where}: the error names the problem: ${refused.error}`);
            assert.match(refused.error, /where/, `${where}: the error names the filter: ${refused.error}`);
            assert.equal(called, 0);
          }

          // The server still serves: a plain subscribe and a REST write work, and the event arrives.
          exts.clear();
          const { events, listener } = collector();
          await c.subscribe(channel, listener);
          await onTransport([c], transport);
          const posted = await postMessage(server, room.id, 'bob', 'still here');
          await waitFor(() => events.length >= 1, EVENT_MS, `the event after the refusals (${transport})`);
          assert.deepEqual(
            events.map((e) => [e.method, e.body]),
            [['POST', posted]],
          );
          assert.deepEqual(await restOk(server, 'GET', channel), [posted]);
        } finally {
          await c.close();
        }
      });
    });
  }
});
