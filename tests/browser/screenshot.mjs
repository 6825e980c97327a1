// Takes docs/todo.png: the todo app served by example-todo, with a few todos (one completed), in Debian's
// headless Chromium. Usage: node screenshot.mjs [output.png] (from tests/browser, after npm ci and
// cargo build -p example-todo; LIVE_EXAMPLE_TODO names another binary).

import path from 'node:path';
import { addTodo, launchBrowser, openApp, repoRoot, startServer, waitForAgreement, withTimeout } from './lib/harness.mjs';

const output = path.resolve(process.argv[2] ?? path.join(repoRoot, 'docs', 'todo.png'));
const server = await startServer();
let browser;
try {
  browser = await launchBrowser();
  const page = await openApp(browser, server);
  await page.setViewportSize({ width: 800, height: 560 });
  for (const title of ['Derive the REST API from a struct', 'Publish every write after commit', 'Open this page twice']) {
    await addTodo(page, title);
  }
  await waitForAgreement(server, [page]);
  await page.locator('.todo-list li').first().locator('.toggle').click();
  await page.waitForSelector('.todo-list li.completed', { timeout: 5000 });
  await page.locator('.new-todo').fill('');
  await page.locator('.new-todo').blur();
  await page.mouse.move(5, 5);
  await page.screenshot({ path: output });
  console.log(`wrote ${path.relative(process.cwd(), output)}`);
} finally {
  if (browser) await withTimeout(browser.close(), 10000, 'closing the browser');
  await server.stop();
}
