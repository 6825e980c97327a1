// PostgreSQL restarts under a running service: two nodes on a private PostgreSQL (initdb in a temp dir,
// a free port), with `--bus postgres` on it, faye clients on both. The database goes down (an immediate
// shutdown: every connection ends at once). While it is down, REST writes answer 503 with the usual JSON
// error shape and `Retry-After`, never 500, and the Bayeux sessions live on. Once it is back on the same
// port, the same processes serve writes again and deliver their events to every client, with no restart:
// every client ends with exactly the event log.
//
// The nodes run with --poll-ms 60000, so deliveries across nodes after the restart need the LISTEN
// connection to have come back, not the timer.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { collector, fayeClient, restOk, waitFor } from '../lib/harness.mjs';
import {
  assertAllGetLog,
  eventLog,
  request,
  startNode,
  startPostgres,
  stopAll,
  writers,
} from '../lib/cluster.mjs';

/** Asserts that `result` is the JSON 503 of an unavailable database. */
function assertUnavailable(result, what) {
  const shown = `${what}: ${result.status} ${JSON.stringify(result.body ?? result.error?.message)}`;
  assert.equal(result.status, 503, shown);
  assert.equal(result.body?.error?.code, 'unavailable', shown);
  assert.equal(typeof result.body?.error?.message, 'string', shown);
  assert.equal(result.headers.get('content-type'), 'application/json', shown);
  assert.ok(Number(result.headers.get('retry-after')) > 0, `${shown}: Retry-After`);
}

describe('PostgreSQL restarts under the service', () => {
  let database;
  let nodes = [];
  before(async () => {
    database = await startPostgres();
    nodes = await Promise.all(
      [0, 1].map(() => startNode({ database: database.url(), bus: 'postgres', pollMs: 60000 })),
    );
  });
  after(async () => {
    await stopAll(nodes);
    await stopAll(database);
  });

  it('writes answer 503 while it is down; afterwards the same nodes write and deliver again', async (t) => {
    const clients = [];
    try {
      for (const [i, node] of nodes.entries()) {
        for (const transport of ['websocket', 'long-polling']) {
          const c = fayeClient(node, transport);
          const seen = collector();
          clients.push({ c, label: `client on node ${i} over ${transport}`, events: seen.events });
          await c.subscribe('/api/todos', seen.listener);
        }
      }
      await writers(
        nodes.map((n) => n.url),
        { perTarget: 8, workers: 2 },
      ).done;
      const kept = await restOk(nodes[0], 'POST', '/api/todos', { title: 'kept across the restart' });
      const before = await eventLog(database.url());
      await waitFor(
        () => clients.every(({ events }) => events.length >= before.length),
        10000,
        'the writes before the restart on every client',
      );

      await database.kill();
      // Every write on every node is refused with 503, not 500, within the pool's acquire timeout.
      const down = await Promise.all(
        nodes.map((node) =>
          Promise.all([
            request(node.url, 'POST', '/api/todos', { title: 'while the database is down' }, { ms: 15000 }),
            request(node.url, 'PATCH', `/api/todos/${kept.id}`, { completed: true }, { ms: 15000 }),
            request(node.url, 'PUT', `/api/todos/${kept.id}`, { title: 'no', completed: true, order: 0 }, { ms: 15000 }),
            request(node.url, 'DELETE', `/api/todos/${kept.id}`, undefined, { ms: 15000 }),
          ]),
        ),
      );
      for (const [i, writes] of down.entries()) {
        for (const [j, result] of writes.entries()) {
          assertUnavailable(result, `${['POST', 'PATCH', 'PUT', 'DELETE'][j]} on node ${i} while the database is down`);
        }
      }

      await database.start();
      // The first writes after the restart may still meet connections of the old server: they too must
      // be 503 (retry), never 500, and each node must accept writes again by itself.
      const retries = [];
      for (const node of nodes) {
        let attempts = 0;
        await waitFor(
          async () => {
            attempts += 1;
            assert.ok(attempts <= 300, `a write accepted on ${node.url} within 300 attempts`);
            const result = await request(node.url, 'POST', '/api/todos', { title: `back on ${node.url}` }, { ms: 15000 });
            if (result.status !== 201) retries.push(result);
            return result.status === 201;
          },
          30000,
          `a write accepted on ${node.url} after the restart`,
        );
      }
      for (const result of retries) assertUnavailable(result, 'a write while the database comes back');
      t.diagnostic(`${retries.length} writes answered 503 after the restart before one was accepted`);

      await writers(
        nodes.map((n) => n.url),
        { perTarget: 8, workers: 2 },
      ).done;
      const log = await eventLog(database.url());
      assert.equal(log.length, before.length + nodes.length + 16, 'no write of the outage is in the log');
      await assertAllGetLog(clients, log, 20000);
      for (const { c, label } of clients) {
        assert.equal(c.count('/meta/handshake'), 1, `${label}: its session outlived the database restart`);
      }
    } finally {
      await stopAll(clients.map(({ c }) => c));
    }
  });
});
