// A page server for browser tests of pages that example-todo does not serve itself (it serves its own web
// app only): on 127.0.0.1, it answers the requests a test claims (files, or text it makes) and passes every
// other request (REST, Bayeux long-polling, WebSocket upgrades) to example-todo on `targetPort`, which may
// restart meanwhile. So a page, its REST calls and its Bayeux endpoint share one real origin, as on a site
// that serves an app beside its live server.
//
// Node built-ins only, so that every suite imports it by relative path whatever its own node_modules.

import { readFile } from 'node:fs/promises';
import { statSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
};

/** The Content-Type of a file, from its extension. */
export function contentType(file) {
  return TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
}

/**
 * The file below the folder `root` that the URL path `urlPath` names (a folder: its index.html), or null
 * when it names nothing there or would leave `root`.
 */
export function fileUnder(root, urlPath) {
  let decoded;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  const base = path.resolve(root);
  let file = path.resolve(base, `.${decoded}`);
  if (file !== base && !file.startsWith(base + path.sep)) return null;
  try {
    if (statSync(file).isDirectory()) file = path.join(file, 'index.html');
    return statSync(file).isFile() ? file : null;
  } catch {
    return null;
  }
}

/**
 * Starts the page server in front of example-todo on `targetPort`. `route(urlPath)` (the request's path,
 * without its query) says what this server answers itself: `{file}` (sent with its Content-Type),
 * `{body, type}`, or `{status}`; null passes the request on. Resolves to `{url, close()}`.
 */
export async function pageServer(targetPort, route) {
  const sockets = new Set();
  const server = http.createServer((req, res) => {
    const answer = route(new URL(req.url, 'http://page').pathname);
    if (answer) {
      serve(answer, res);
      return;
    }
    const upstream = http.request(
      { host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers: req.headers },
      (reply) => {
        res.writeHead(reply.statusCode, reply.headers);
        reply.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  server.on('upgrade', (req, socket, head) => {
    const upstream = net.connect(targetPort, '127.0.0.1', () => {
      let lines = `${req.method} ${req.url} HTTP/1.1\r\n`;
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`;
      upstream.write(`${lines}\r\n`);
      upstream.write(head);
      socket.pipe(upstream);
      upstream.pipe(socket);
    });
    for (const s of [socket, upstream]) {
      sockets.add(s);
      s.on('close', () => {
        sockets.delete(s);
        socket.destroy();
        upstream.destroy();
      });
      s.on('error', () => s.destroy());
    }
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Sends what a route answered. */
async function serve(answer, res) {
  if (answer.file) {
    try {
      const body = await readFile(answer.file);
      res.writeHead(200, { 'content-type': contentType(answer.file) });
      res.end(body);
    } catch {
      res.writeHead(404);
      res.end();
    }
    return;
  }
  if (answer.body !== undefined) {
    res.writeHead(200, { 'content-type': answer.type ?? 'text/plain; charset=utf-8' });
    res.end(answer.body);
    return;
  }
  res.writeHead(answer.status ?? 404);
  res.end();
}
