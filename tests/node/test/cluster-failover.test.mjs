// A node dies: faye clients that reach the service through a balancer lose their node (SIGKILL) while
// writes go on on the other nodes. Each client re-handshakes through the balancer on another node,
// faye re-subscribes by itself, and a client extension puts the last seq it saw in `ext.since`: every
// client ends with exactly the event log, nothing lost, nothing doubled, in seq order.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { collector, fayeClient, waitFor } from '../lib/harness.mjs';
import {
  assertAllGetLog,
  balancer,
  eventLog,
  resumeExtension,
  startCluster,
  stopAll,
  writers,
} from '../lib/cluster.mjs';

describe('a node dies under its clients', () => {
  let cluster;
  before(async () => {
    cluster = await startCluster({ count: 3, bus: 'postgres' });
  });
  after(async () => {
    await stopAll(cluster);
  });

  it('its clients fail over through the balancer, resume with ext.since, and miss nothing', async () => {
    const { nodes, database } = cluster;
    const [doomed, second] = nodes;
    // Active/passive: every connection goes to the first node that accepts it.
    const front = await balancer(
      nodes.map((n) => n.port),
      { mode: 'first' },
    );
    const clients = [];
    let load;
    try {
      for (const transport of ['websocket', 'long-polling', 'websocket', 'long-polling']) {
        const resume = resumeExtension('/api/todos');
        // retry: 1 s instead of faye's 5 s, to keep the test short; the path is the same.
        const c = fayeClient(doomed, transport, {
          endpoint: front.endpoint,
          clientOptions: { retry: 1 },
          extensions: [resume.extension],
        });
        const seen = collector();
        clients.push({ c, transport, resume, label: `client ${clients.length} over ${transport}`, events: seen.events });
        await c.subscribe('/api/todos', seen.listener);
      }
      await waitFor(
        () => clients.every(({ c, transport }) => c.client._dispatcher.connectionType === transport),
        5000,
        'every client on its transport',
      );
      assert.ok(
        front.connections.every((x) => x.port === doomed.port),
        'before the failure every connection went to the first node',
      );

      // Writes on all nodes, then on the two survivors only, before, during and after the failure.
      await writers(
        nodes.map((n) => n.url),
        { perTarget: 8, workers: 2 },
      ).done;
      load = writers(
        [nodes[1].url, nodes[2].url],
        { untilStopped: true, workers: 2, maxWrites: 400, maxMs: 40000 },
      );
      await waitFor(() => load.ok >= 20, 10000, '20 writes before the failure');
      const handshakes = clients.map(({ c }) => c.count('/meta/handshake'));
      const killedAt = Date.now();
      await doomed.kill();
      const deadAt = Date.now();
      const okAtKill = load.ok;

      // Each client handshakes again (through the balancer, on the second node) and re-subscribes,
      // asking for what it missed.
      await waitFor(
        () =>
          clients.every(({ c }) =>
            c.stats.received.some(
              (m) => m.at >= killedAt && m.channel === '/meta/subscribe' && m.message.successful === true,
            ),
          ),
        20000,
        'every client re-subscribed after the failure',
      );
      await waitFor(() => load.ok >= okAtKill + 20, 10000, '20 writes after the failover');
      const results = await load.stop();
      assert.equal(load.failed, 0, `writes on the surviving nodes all succeed: ${JSON.stringify(results.filter((r) => r.status >= 300 || r.status === 0).slice(0, 3))}`);

      const log = await eventLog(database);
      await assertAllGetLog(clients, log, 15000);
      for (const [i, { c, label, resume }] of clients.entries()) {
        assert.ok(c.count('/meta/handshake') > handshakes[i], `${label}: a new handshake after the failure`);
        const since = resume.subscribes.at(-1);
        assert.equal(typeof since, 'number', `${label}: the re-subscribe asked to resume: ${JSON.stringify(resume.subscribes)}`);
        const reply = c.stats.received.findLast(
          (m) => m.channel === '/meta/subscribe' && m.message.successful === true,
        )?.message;
        assert.notEqual(reply?.ext?.reset, true, `${label}: resumed without reset: ${JSON.stringify(reply)}`);
      }
      const afterDeath = front.connections.filter((x) => x.at >= deadAt);
      assert.ok(afterDeath.length > 0, 'clients reconnected through the balancer');
      assert.ok(
        afterDeath.every((x) => x.port === second.port),
        `once the first node was gone every connection went to the next one: ${JSON.stringify(afterDeath)}`,
      );
    } finally {
      await load?.stop();
      await stopAll(clients.map(({ c }) => c));
      await front.close();
    }
  });
});
