'use strict';
// Preload for the shared load client (`node -r spread.cjs load.js ...`): spreads one load.js run over
// several example-todo nodes without changing load.js.
//
//   LIVE_BENCH_PORTS=P1,P2,P3   the nodes' ports on 127.0.0.1 (load.js's --url and --post-url name P1)
//   LIVE_BENCH_PIDS=PID1,PID2,PID3   the nodes' PIDs (load.js's --server-pid names PID1)
//
// - Each WebSocket load.js opens (one per raw subscriber: handshake, subscribe and connects all travel on
//   it) goes to the next port in turn, so N subscribers are spread N/3 per node.
// - Each trigger POST to /api/todos goes to the next port in turn, so the writes are spread too.
// - load.js samples the server's CPU and RSS from /proc/<--server-pid>/{stat,status}; reads of those two
//   files answer the sum over every PID, so its server CPU per delivery and RSS per subscriber cover the
//   whole cluster.

const fs = require('fs');
const http = require('http');

const ports = (process.env.LIVE_BENCH_PORTS || '').split(',').filter(Boolean).map(Number);
const pids = (process.env.LIVE_BENCH_PIDS || '').split(',').filter(Boolean);
if (ports.length === 0) throw new Error('spread.cjs: set LIVE_BENCH_PORTS=P1,P2,...');

const counts = { subscribers: new Map(), posts: new Map() };
const bump = (map, port) => map.set(port, (map.get(port) || 0) + 1);

// ---- WebSocket subscribers: ws is load.js's dependency, resolved from its directory (the cwd).
const wsPath = require.resolve('ws', { paths: [process.cwd()] });
const WebSocket = require(wsPath);
let nextSubscriber = 0;
class SpreadWebSocket extends WebSocket {
  constructor(address, ...rest) {
    const url = new URL(address);
    url.port = String(ports[nextSubscriber++ % ports.length]);
    bump(counts.subscribers, url.port);
    super(url.toString(), ...rest);
  }
}
require.cache[wsPath].exports = SpreadWebSocket;

// ---- REST trigger: POST /api/todos to each node in turn.
const postPath = process.env.LIVE_BENCH_POST_PATH || '/api/todos';
const request = http.request;
let nextPost = 0;
http.request = function spreadRequest(options, ...rest) {
  if (options && typeof options === 'object' && !(options instanceof URL) && options.method === 'POST'
      && String(options.path).startsWith(postPath)) {
    const port = ports[nextPost++ % ports.length];
    bump(counts.posts, String(port));
    options = { ...options, port };
  }
  return request.call(this, options, ...rest);
};

// ---- /proc sampling: the sum over the nodes.
if (pids.length > 1) {
  const readFileSync = fs.readFileSync;
  const read = (file) => readFileSync.call(fs, file, 'utf8');
  fs.readFileSync = function spreadReadFileSync(file, ...rest) {
    const match = typeof file === 'string' && /^\/proc\/(\d+)\/(stat|status)$/.exec(file);
    if (!match || match[1] !== pids[0]) return readFileSync.call(this, file, ...rest);
    if (match[2] === 'status') {
      let kb = 0;
      for (const pid of pids) kb += Number((/VmRSS:\s+(\d+)/.exec(read(`/proc/${pid}/status`)) || [])[1]);
      return `VmRSS:\t${kb} kB\n`;
    }
    // /proc/PID/stat: fields after "(comm) "; utime and stime are the 12th and 13th of them.
    let utime = 0;
    let stime = 0;
    for (const pid of pids) {
      const stat = read(`/proc/${pid}/stat`);
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      utime += Number(fields[11]);
      stime += Number(fields[12]);
    }
    const first = read(`/proc/${pids[0]}/stat`);
    const fields = first.slice(first.lastIndexOf(')') + 2).split(' ');
    fields[11] = String(utime);
    fields[12] = String(stime);
    return first.slice(0, first.lastIndexOf(')') + 2) + fields.join(' ');
  };
}

// What went where, on stderr when load.js exits (it prints its JSON result on stdout).
process.on('exit', () => {
  const show = (map) => JSON.stringify(Object.fromEntries([...map].sort()));
  process.stderr.write(`spread: subscribers per port ${show(counts.subscribers)}, posts per port ${show(counts.posts)}\n`);
});
