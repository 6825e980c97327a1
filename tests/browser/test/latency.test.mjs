// A measurement, not a timing test: how long a todo typed in page A (title, then Enter) takes to appear in
// page B's list, over 100 writes, on WebSocket and on long-polling. Both pages live in one browser process
// and read one clock (performance.timeOrigin + performance.now()): page A stamps the Enter keydown before
// the app sees it, a MutationObserver in page B stamps the <li> when the app inserts it. Writes go one at a
// time (the next after page B showed the last), so each figure is one write's path, not a queue.
//
// What is asserted is what a user relies on: every write arrived once, and both pages equal the server.
// The figures are printed and written to results/latency-<transport>.json (git-ignored); the table in
// docs/benchmarks.md comes from them.

import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import {
  TRANSPORTS,
  addTodo,
  binaryPath,
  browserForTests,
  repoRoot,
  resultsDir,
  transportOf,
  waitFor,
  waitForAgreement,
  withTwoPages,
} from '../lib/harness.mjs';

const WRITES = Number(process.env.LIVE_LATENCY_WRITES ?? 100);

let browser;
browserForTests((launched) => {
  browser = launched;
});

/** The value at quantile `q` (nearest rank) of ascending `sorted`. */
function quantile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

const round = (ms) => Math.round(ms * 10) / 10;

for (const transport of TRANSPORTS) {
  test(`latency from page A to page B over ${transport.name}, ${WRITES} writes`, async (t) => {
    assert.ok(WRITES >= 1, 'LIVE_LATENCY_WRITES must be a positive number');
    await withTwoPages(t, browser, { args: transport.args }, async ({ server, a, b }) => {
      for (const page of [a, b]) {
        await waitFor(async () => (await transportOf(page)) === transport.name, 10000, `faye on ${transport.name}`);
      }
      await a.evaluate(() => {
        window.sentAt = {};
        const input = document.querySelector('.new-todo');
        // Capturing, on window: runs before the app's own handler.
        window.addEventListener(
          'keydown',
          (event) => {
            if (event.target === input && event.key === 'Enter') {
              window.sentAt[input.value.trim()] = performance.timeOrigin + performance.now();
            }
          },
          true,
        );
      });
      await b.evaluate(() => {
        window.shownAt = {};
        window.insertions = 0;
        new MutationObserver((records) => {
          const at = performance.timeOrigin + performance.now();
          for (const record of records) {
            for (const node of record.addedNodes) {
              if (node.nodeName !== 'LI') continue;
              const title = node.querySelector('label').textContent;
              // The app moves rows to keep them in order: only a row's first insertion counts.
              if (!(title in window.shownAt)) {
                window.shownAt[title] = at;
                window.insertions += 1;
              }
            }
          }
        }).observe(document.querySelector('.todo-list'), { childList: true });
      });

      const titles = Array.from({ length: WRITES }, (_, i) => `latency ${transport.name} ${i}`);
      for (const title of titles) {
        await addTodo(a, title);
        await b.waitForFunction((expected) => expected in window.shownAt, title, { timeout: 10000 });
      }
      const sentAt = await a.evaluate(() => window.sentAt);
      const shownAt = await b.evaluate(() => window.shownAt);

      const final = await waitForAgreement(server, [a, b], 15000);
      assert.deepEqual(
        final.map((todo) => todo.title),
        titles,
        'every write arrived once, in order, in both pages and on the server',
      );
      assert.equal(new Set(final.map((todo) => todo.id)).size, WRITES, 'no duplicate ids');

      const latencies = titles.map((title) => {
        assert.ok(title in sentAt, `page A stamped ${title}`);
        return shownAt[title] - sentAt[title];
      });
      const sorted = latencies.slice().sort((x, y) => x - y);
      const result = {
        transport: transport.name,
        writes: WRITES,
        median_ms: round(quantile(sorted, 0.5)),
        p95_ms: round(quantile(sorted, 0.95)),
        min_ms: round(sorted[0]),
        max_ms: round(sorted[sorted.length - 1]),
        server: 'example-todo, SQLite, --hold-ms 2000',
        binary: path.relative(repoRoot, binaryPath()),
        browser: `Chromium ${browser.version()} headless`,
        machine: `${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.availableParallelism()} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()}`,
        node: process.version,
        at: new Date().toISOString(),
        latencies_ms: latencies.map(round),
      };
      mkdirSync(resultsDir, { recursive: true });
      const file = path.join(resultsDir, `latency-${transport.name}.json`);
      writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
      const line = `page A -> page B over ${transport.name}: median ${result.median_ms} ms, p95 ${result.p95_ms} ms, max ${result.max_ms} ms (N=${WRITES}) -> ${path.relative(process.cwd(), file)}`;
      t.diagnostic(line);
    });
  });
}
