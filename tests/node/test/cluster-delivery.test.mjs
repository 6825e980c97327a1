// Three example-todo processes on one PostgreSQL database and one bus serve as one service: for each bus
// (PostgreSQL LISTEN/NOTIFY, a private Redis, a private NATS), faye clients spread over the three nodes,
// over WebSocket and long-polling, each receive every write made on any node (concurrent creates,
// updates and deletes over REST on all nodes) exactly once and in seq order: their lists equal the
// event log read from the database. A client that leaves one node resumes on another with `ext.since`
// and gets exactly the events it missed.
//
// The nodes run with --poll-ms 60000, far longer than any wait here: events written on one node reach
// the clients of the others because the bus woke their feed, not because a timer read the log. The
// writes come in rounds, and after each round every client must have the whole log: the last writes of
// a burst are the ones no later wake-up would cover.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TRANSPORTS, collector, fayeClient, restOk, waitFor } from '../lib/harness.mjs';
import {
  assertAllGetLog,
  busFor,
  closeClient,
  describeMismatch,
  eventFields,
  eventLog,
  startCluster,
  stopAll,
  writers,
} from '../lib/cluster.mjs';

const ROUNDS = 3;
const WRITES_PER_NODE_PER_ROUND = 20;
const CLIENTS_PER_NODE = 3;

/** JSON with sorted keys, so that two bodies compare whatever their key order. */
function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Counts of `method body` pairs, to compare REST answers with the log as multisets. */
function tally(entries) {
  const counts = new Map();
  for (const { method, body } of entries) {
    const key = `${method} ${canonical(body)}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

for (const kind of ['postgres', 'redis', 'nats']) {
  describe(`three nodes, one database, --bus ${kind}`, () => {
    let broker;
    let cluster;
    before(async () => {
      const chosen = await busFor(kind);
      broker = chosen.broker;
      cluster = await startCluster({ count: 3, bus: chosen.bus, pollMs: 60000 });
    });
    after(async () => {
      await stopAll(cluster);
      await stopAll(broker);
    });

    it('delivers every write made on any node to every client on every node, once, in seq order', async () => {
      const { nodes, database } = cluster;
      const clients = [];
      try {
        for (const [i, node] of nodes.entries()) {
          for (let j = 0; j < CLIENTS_PER_NODE; j += 1) {
            const transport = (i + j) % 2 === 0 ? 'websocket' : 'long-polling';
            const c = fayeClient(node, transport);
            const seen = collector();
            clients.push({ c, transport, label: `client on node ${i} over ${transport}`, events: seen.events });
            await c.subscribe('/api/todos', seen.listener);
          }
        }
        await waitFor(
          () => clients.every(({ c, transport }) => c.client._dispatcher.connectionType === transport),
          5000,
          'every client on its transport',
        );

        // Rounds of concurrent writers on every node: creates, PATCHes, PUTs and DELETEs.
        const results = [];
        for (let round = 1; round <= ROUNDS; round += 1) {
          results.push(
            ...(await writers(
              nodes.map((n) => n.url),
              { perTarget: WRITES_PER_NODE_PER_ROUND, workers: 2 },
            ).done),
          );
          const log = await eventLog(database);
          assert.equal(log.length, results.length, 'one log entry per successful write');
          assert.deepEqual(tally(log), tally(results), 'the log holds exactly the REST answers');
          await assertAllGetLog(clients, log, 10000).catch((error) => {
            throw new Error(`after round ${round} of ${ROUNDS}: ${error.message}`);
          });
        }
        assert.equal(results.length, ROUNDS * WRITES_PER_NODE_PER_ROUND * nodes.length);
        for (const { c, label } of clients) {
          assert.equal(c.count('/meta/handshake'), 1, `${label}: one session all along`);
          assert.deepEqual(c.stats.downs, [], `${label}: no transport:down`);
        }
      } finally {
        await stopAll(clients.map(({ c }) => c));
      }
    });

    for (const transport of TRANSPORTS) {
      it(`resumes on another node with ext.since: exactly the missed events, then live ones, over ${transport}`, async () => {
        const { nodes, database } = cluster;
        // On node 0: receive a write made on node 1, note its seq, leave.
        const away = fayeClient(nodes[0], transport);
        let lastSeq;
        try {
          const seen = collector();
          await away.subscribe('/api/todos', seen.listener);
          const before = await restOk(nodes[1], 'POST', '/api/todos', { title: `before leaving (${transport})` });
          await waitFor(() => seen.events.some((e) => e.body.id === before.id), 5000, 'the write before leaving');
          lastSeq = seen.events.at(-1).seq;
        } finally {
          await closeClient(away);
        }

        // Writes on nodes 1 and 2 while the client is away.
        await writers([nodes[1].url, nodes[2].url], { perTarget: 6, workers: 2 }).done;
        const missed = (await eventLog(database)).filter((e) => e.seq > lastSeq);
        assert.equal(missed.length, 12);

        // Back, on node 1, with the seq it had.
        const back = fayeClient(nodes[1], transport, {
          extensions: [
            {
              outgoing(message, callback) {
                if (message.channel === '/meta/subscribe') message.ext = { ...(message.ext ?? {}), since: lastSeq };
                callback(message);
              },
            },
          ],
        });
        try {
          const { events, listener } = collector();
          await back.subscribe('/api/todos', listener);
          const reply = back.stats.received.find(
            (m) => m.channel === '/meta/subscribe' && m.message.successful === true,
          )?.message;
          assert.notEqual(reply?.ext?.reset, true, `no reset: ${JSON.stringify(reply)}`);
          assert.equal(reply?.ext?.replayed, missed.length, `the reply counts the replay: ${JSON.stringify(reply)}`);
          await waitFor(() => events.length >= missed.length, 5000, `${missed.length} replayed events`);
          const live = await restOk(nodes[2], 'POST', '/api/todos', { title: `after coming back (${transport})` });
          await waitFor(() => events.some((e) => e.body.id === live.id), 5000, 'the live write after the replay');
          const log = (await eventLog(database)).filter((e) => e.seq > lastSeq);
          assert.equal(log.length, missed.length + 1);
          assert.deepEqual(events.map(eventFields), log.map(eventFields), describeMismatch(events, log));
        } finally {
          await closeClient(back);
        }
      });
    }
  });
}
