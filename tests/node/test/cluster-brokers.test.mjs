// The bus restarts under load: three nodes on one database with a private Redis (then NATS) as the bus,
// writers busy on every node, faye clients on every node. The broker is killed (SIGKILL) and started
// again on the same port while the writers go on. Writes never fail for it, every node subscribes to the
// new broker by itself, and every client then has exactly the event log: nothing lost, nothing doubled,
// in seq order.
//
// The nodes run with --poll-ms 60000, far longer than the test, so the deliveries across nodes after
// the restart come from the bus reconnecting (and the log read it triggers), not from the timer.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { collector, fayeClient, waitFor } from '../lib/harness.mjs';
import { assertAllGetLog, busFor, eventLog, startCluster, stopAll, writers } from '../lib/cluster.mjs';

for (const kind of ['redis', 'nats']) {
  describe(`the ${kind} bus restarts under load`, () => {
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

    it('delivery resumes by itself, nothing lost or doubled, and no write fails', async () => {
      const { nodes, database } = cluster;
      const clients = [];
      let load;
      try {
        for (const [i, node] of nodes.entries()) {
          for (const transport of ['websocket', 'long-polling']) {
            const c = fayeClient(node, transport);
            const seen = collector();
            clients.push({ c, label: `client on node ${i} over ${transport}`, events: seen.events });
            await c.subscribe('/api/todos', seen.listener);
          }
        }
        load = writers(
          nodes.map((n) => n.url),
          { untilStopped: true, workers: 2, maxWrites: 400, maxMs: 45000 },
        );
        await waitFor(() => load.ok >= 30, 10000, '30 writes before the broker dies');
        // Every client has the first write of every node: the bus carries events across nodes.
        await waitFor(
          () => clients.every(({ events }) => new Set(events.map((e) => / on (\S+)/.exec(e.body.title)?.[1])).size === 3),
          10000,
          'events from all three nodes on every client',
        );

        assert.equal(await broker.subscribers(), 3, 'each node listens on the bus');

        await broker.kill();
        const okAtKill = load.ok;
        await waitFor(() => load.ok >= okAtKill + 90, 15000, '90 writes while the broker is down');
        await broker.restart();
        // The broker is a new process that knows nothing: each node must connect and subscribe again.
        await waitFor(async () => (await broker.subscribers()) === 3, 15000, 'every node subscribed again');
        const okAtRestart = load.ok;
        await waitFor(() => load.ok >= okAtRestart + 30, 10000, '30 writes after the broker is back');
        const results = await load.stop();
        const failures = results.filter((r) => r.status < 200 || r.status > 299);
        assert.deepEqual(failures, [], 'no write fails while the bus is down');

        const log = await eventLog(database);
        assert.equal(log.length, results.length, 'one log entry per write');
        await assertAllGetLog(clients, log, 20000);
        for (const { c, label } of clients) {
          assert.equal(c.count('/meta/handshake'), 1, `${label}: its session outlived the bus restart`);
        }
      } finally {
        await load?.stop();
        await stopAll(clients.map(({ c }) => c));
      }
    });
  });
}
