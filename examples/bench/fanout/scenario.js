'use strict';
// Load client of the partitions, filters and record-channel benchmarks (docs/benchmarks.md, "Partitions,
// record channels and filters"; driven by `bench.py --scenario`). It works like the shared load.js
// (../shared/bench/faye/load.js: raw Bayeux WebSocket subscribers, REST writes as the trigger, the server's
// CPU read from /proc/<pid>/stat around the measured phase), with what load.js cannot do: each subscriber
// has a channel and a filter of its own, each write a URL of its own, so that a write is delivered to some
// subscribers rather than to all, and the run also measures the same writes with no subscriber at all.
// It is copied next to load.js in bench.py's scratch directory and uses the `ws` installed there.
//
//   node scenario.js --url http://127.0.0.1:P/live --post-base http://127.0.0.1:P --server-pid PID \
//        --clients 1000 --partitions 100 --channel '/api/rooms/{p}/messages' --post-path '/api/rooms/{p}/messages' \
//        --messages 10000 --window 1
//
// Subscriber i (0-based) is in partition p = i % P + 1 and filter group g = i % G; it subscribes to
// --channel with {p} replaced, with `ext: {where: --where with {g} replaced}` when --where is given. Write k
// goes to --post-path with a partition drawn at random (seeded), with author `a<g>` for a group g drawn at
// random; it is expected by the subscribers of its partition, and of them by those of group g (--match one:
// `author=eq.a{g}`-like filters) or by all (--match all: filters that every write matches). --record C adds
// one more subscriber, on C, which must receive nothing (a record channel of a record never written).
//
// Phases, all in one server process:
//   1. --warmup writes one at a time, unmeasured; then "bare": --bare-messages writes (default --messages),
//      window W by HTTP answer, with no subscriber: the server's CPU for the writes alone;
//   2. the subscribers connect (batches of --connect-batch), --idle-seconds pass;
//   3. --warmup writes one at a time, each awaited at every subscriber that expects it, unmeasured;
//   4. "fanout": --messages writes, at most W not yet delivered to all who expect them; with --control-path T,
//      in --blocks blocks, each paired (in alternating order) with a block of --control-messages / --blocks
//      control writes to T (partition drawn from --control-first .. + --control-count - 1), which no one
//      receives: the writes' own CPU measured alongside, in the same conditions.
// Every phase is bounded by --max-seconds overall. One JSON line on stdout:
//   bare_cpu_s, bare_writes, bare_us_per_write, fanout_cpu_s, deliveries, expected_deliveries, lost, dup,
//   raw_us_per_delivery = fanout CPU / deliveries,
//   net_us_per_delivery = (fanout CPU - control (else bare) CPU per write x writes) / deliveries,
//   fanout completion p50/p99, client CPU, RSS per subscriber.
//
// Options (defaults in brackets): --clients N [1000] --partitions P [1] --groups G [1] --where T []
// --match one|all [one] --record C [] --channel T [/api/notes] --post-path T [/api/notes]
// --stamp-field text|title [text] --messages M [100] --bare-messages MB [M] --window W [1] --warmup K [20]
// --payload B [100] --seed S [7] --connect-batch B [100] --idle-seconds S [2] --max-seconds S [120]
// --server-pid P --label L

const fs = require('fs');
const http = require('http');
const WS = require(require.resolve('ws', { paths: [process.cwd(), __dirname] }));

const A = {};
for (let i = 2; i < process.argv.length; i++) {
  const k = process.argv[i];
  if (k.startsWith('--')) { A[k.slice(2)] = process.argv[i + 1]; i++; }
}
const opt = (k, d) => (A[k] === undefined ? d : A[k]);
const num = (k, d) => Number(opt(k, d));

const URL_ = opt('url', 'http://127.0.0.1:8080/live');
const POST_BASE = opt('post-base', 'http://127.0.0.1:8080');
const N = num('clients', 1000);
const P = num('partitions', 1);
const G = num('groups', 1);
const WHERE = opt('where', '');
const MATCH = opt('match', 'one');
const RECORD = opt('record', '');
const CHANNEL = opt('channel', '/api/notes');
const POST_PATH = opt('post-path', '/api/notes');
const STAMP = opt('stamp-field', 'text');
const M = num('messages', 100);
const MB = num('bare-messages', M);
const W = num('window', 1);
const WARMUP = num('warmup', 20);
const PAYLOAD = num('payload', 100);
const SEED = num('seed', 7);
const CONNECT_BATCH = num('connect-batch', 100);
const IDLE_S = num('idle-seconds', 2);
const MAX_S = num('max-seconds', 120);
const SERVER_PID = opt('server-pid', '');
const CONTROL_PATH = opt('control-path', '');
const CONTROL_FIRST = num('control-first', 1);
const CONTROL_COUNT = num('control-count', 1);
const MC = num('control-messages', M);
const BLOCKS = num('blocks', 10);
const LABEL = opt('label', '');

const nowUs = () => Number(process.hrtime.bigint()) / 1000;
const STARTED_AT = Date.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const fill = (template, key, value) => template.split(`{${key}}`).join(String(value));

// ---------- the server's CPU and RSS, from /proc ----------
function serverSample() {
  if (!SERVER_PID) return null;
  try {
    const status = fs.readFileSync(`/proc/${SERVER_PID}/status`, 'utf8');
    const rssKb = Number((/VmRSS:\s+(\d+)/.exec(status) || [])[1]);
    const stat = fs.readFileSync(`/proc/${SERVER_PID}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { rssKb, cpuS: (Number(f[11]) + Number(f[12])) / 100, at: nowUs() };
  } catch (e) { return null; }
}

// The server's CPU in nanoseconds, per thread (/proc/<pid>/task/*/schedstat: time on CPU), for the blocks of
// phase 4, which are too short for /proc/<pid>/stat's 10 ms ticks. A thread that appears counts from 0; one
// that exits between two samples loses its last increment (the server's threads live for the whole run).
function threadsNs() {
  const out = new Map();
  if (!SERVER_PID) return out;
  try {
    for (const tid of fs.readdirSync(`/proc/${SERVER_PID}/task`)) {
      try { out.set(tid, Number(fs.readFileSync(`/proc/${SERVER_PID}/task/${tid}/schedstat`, 'utf8').split(' ')[0])); }
      catch (e) { /* exited meanwhile */ }
    }
  } catch (e) { /* server gone */ }
  return out;
}
function cpuBetween(a, b) {
  let ns = 0;
  for (const [tid, v] of b) ns += v - (a.get(tid) || 0);
  return ns / 1e9;
}

// ---------- who expects which write ----------
// expect[(p - 1) * G + g]: subscribers of partition p that receive a write with author a<g>.
const expect = new Int32Array(P * G);
for (let i = 0; i < N; i++) {
  const p = i % P, g = i % G;
  if (MATCH === 'all') for (let h = 0; h < G; h++) expect[p * G + h]++;
  else expect[p * G + g]++;
}
// Writes are drawn from a seeded generator (mulberry32), so every run posts the same sequence.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const draw = rng(SEED);
function plan(count) {
  const p = new Int32Array(count), g = new Int32Array(count);
  for (let k = 0; k < count; k++) { p[k] = Math.floor(draw() * P) + 1; g[k] = Math.floor(draw() * G); }
  return { p, g };
}

// ---------- writes ----------
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const pad = 'x'.repeat(Math.max(0, PAYLOAD));
const base = new URL(POST_BASE);
let postErrors = 0;
function post(p, g, stamp, path) {
  const msg = STAMP === 'title' ? { title: stamp } : { author: `a${g}`, text: stamp };
  const body = JSON.stringify(msg);
  return new Promise((resolve) => {
    const req = http.request({ hostname: base.hostname, port: base.port, path: fill(path || POST_PATH, 'p', p), method: 'POST',
      agent, headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => { if (res.statusCode >= 300) postErrors++; resolve(res.statusCode); });
    });
    req.on('error', () => { postErrors++; resolve(0); });
    req.end(body);
  });
}

// ---------- deliveries ----------
let phase = 'none';
let fan = null; // the fan-out phase's per-write state
let warmGot = 0, recordDeliveries = 0, strayDeliveries = 0, deliveries = 0, dup = 0, lastDeliveryAt = 0;
let onWriteDone = null;

function onData(data, isRecord) {
  const body = data && data.body;
  const text = body && body[STAMP];
  if (typeof text !== 'string' || !text.startsWith('bench ')) return;
  if (isRecord) { recordDeliveries++; return; }
  const parts = text.split(' ');
  if (parts[1] === 'w') { warmGot++; return; }
  const seq = Number(parts[1]);
  if (!fan || parts[1] === 'b' || !(seq >= 0 && seq < M)) { strayDeliveries++; return; }
  const t = nowUs();
  deliveries++;
  lastDeliveryAt = t;
  const c = ++fan.recv[seq];
  if (c > fan.want[seq]) { dup++; return; }
  if (c === fan.want[seq]) {
    fan.doneAt[seq] = t;
    if (onWriteDone) onWriteDone(seq);
  }
}

let msgId = 0;
const wsUrl = URL_.replace(/^http/, 'ws');
class Subscriber {
  constructor(channel, where, isRecord) { this.channel = channel; this.where = where; this.isRecord = isRecord; }
  start() {
    return new Promise((resolve, reject) => {
      const ws = new WS(wsUrl, { perMessageDeflate: false });
      this.ws = ws;
      let subscribed = false;
      const send = (m) => ws.send(JSON.stringify([m]));
      ws.on('open', () => send({ channel: '/meta/handshake', version: '1.0', minimumVersion: '1.0',
        supportedConnectionTypes: ['websocket'], id: String(++msgId) }));
      ws.on('message', (buf) => {
        let arr;
        try { arr = JSON.parse(buf); } catch (e) { return; }
        if (!Array.isArray(arr)) arr = [arr];
        for (const m of arr) {
          if (m.channel === '/meta/handshake') {
            if (!m.successful) return reject(new Error('handshake failed'));
            this.clientId = m.clientId;
            const sub = { channel: '/meta/subscribe', clientId: this.clientId, subscription: this.channel, id: String(++msgId) };
            if (this.where) sub.ext = { where: this.where };
            send(sub);
          } else if (m.channel === '/meta/subscribe') {
            if (!m.successful) return reject(new Error(`subscribe ${this.channel} failed: ${m.error}`));
            if (!subscribed) {
              subscribed = true;
              send({ channel: '/meta/connect', clientId: this.clientId, connectionType: 'websocket', id: String(++msgId) });
              resolve();
            }
          } else if (m.channel === '/meta/connect') {
            if (ws.readyState === 1) {
              send({ channel: '/meta/connect', clientId: this.clientId, connectionType: 'websocket', id: String(++msgId) });
            }
          } else if (m.data !== undefined) {
            onData(m.data, this.isRecord);
          }
        }
      });
      ws.on('error', (e) => reject(e));
    });
  }
  close() { try { this.ws.terminate(); } catch (e) { /* ignore */ } }
}

// ---------- stats ----------
function pct(sorted, p) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
const round = (x, d) => (x == null || !isFinite(x) ? null : Math.round(x * 10 ** d) / 10 ** d);

const result = { label: LABEL, url: URL_, clients: N, partitions: P, groups: G, where: WHERE || null, match: MATCH,
  record: RECORD || null, channel: CHANNEL, post_path: POST_PATH, messages: M, bare_messages: MB, window: W,
  payload_bytes: PAYLOAD, node: process.version };
let printed = false;
function finish(code, why) {
  if (printed) return;
  printed = true;
  result.end_reason = why;
  result.post_errors = postErrors;
  result.deliveries = deliveries;
  result.lost = (result.expected_deliveries || 0) - Math.min(deliveries - dup, result.expected_deliveries || 0);
  result.dup_or_out_of_range = dup + strayDeliveries;
  result.record_deliveries = recordDeliveries;
  if (fan) {
    const comp = [];
    for (let k = 0; k < M; k++) if (fan.doneAt[k]) comp.push((fan.doneAt[k] - fan.sentAt[k]) / 1000);
    comp.sort((a, b) => a - b);
    result.writes_fully_delivered = comp.length;
    result.fanout_completion = { p50_ms: round(pct(comp, 50), 3), p99_ms: round(pct(comp, 99), 3), max_ms: round(comp[comp.length - 1], 3) };
  }
  if (result.fanout_cpu_s != null && deliveries) {
    result.raw_us_per_delivery = round((result.fanout_cpu_s * 1e6) / deliveries, 3);
    if (result.bare_us_per_write != null) {
      // the writes' CPU as measured before any subscriber connected
      result.bare_write_share_s = round((result.bare_us_per_write * M) / 1e6, 3);
      result.net_bare_us_per_delivery = round(((result.fanout_cpu_s - result.bare_write_share_s) * 1e6) / deliveries, 3);
    }
    const perWrite = result.control_us_per_write != null ? result.control_us_per_write : result.bare_us_per_write;
    if (perWrite != null) {
      result.write_share_s = round((perWrite * M) / 1e6, 3);
      result.net_us_per_delivery = round(((result.fanout_cpu_s - result.write_share_s) * 1e6) / deliveries, 3);
    }
  }
  console.log(JSON.stringify(result));
  process.exit(code);
}
const hard = setTimeout(() => finish(2, 'max-seconds'), MAX_S * 1000);

// ---------- main ----------
(async () => {
  const base0 = serverSample();
  // 1. warm-up and bare writes, no subscriber
  for (let k = 0; k < WARMUP; k++) await post(Math.floor(draw() * P) + 1, k % G, `bench w ${nowUs()} ${pad}`);
  const bare = plan(MB);
  const b0 = serverSample();
  const tb0 = nowUs();
  await new Promise((resolve) => {
    let next = 0, finished = 0;
    const start = () => {
      const k = next++;
      post(bare.p[k], bare.g[k], `bench b ${nowUs()} ${pad}`).then(() => {
        if (++finished === MB) resolve(); else if (next < MB) start();
      });
    };
    if (MB === 0) resolve();
    for (let i = 0; i < Math.min(W, MB); i++) start();
  });
  const b1 = serverSample();
  if (b0 && b1) {
    result.bare_cpu_s = round(b1.cpuS - b0.cpuS, 3);
    result.bare_writes = MB;
    result.bare_wall_s = round((nowUs() - tb0) / 1e6, 3);
    result.bare_us_per_write = MB ? round(((b1.cpuS - b0.cpuS) * 1e6) / MB, 2) : null;
  }
  result.bare_post_errors = postErrors;

  // 2. subscribers
  const subs = [];
  let failed = 0;
  const tc0 = nowUs();
  const all = [];
  for (let i = 0; i < N; i++) {
    all.push(new Subscriber(fill(CHANNEL, 'p', (i % P) + 1), WHERE ? fill(WHERE, 'g', i % G) : '', false));
  }
  if (RECORD) all.push(new Subscriber(RECORD, '', true));
  let firstError = null;
  for (let i = 0; i < all.length; i += CONNECT_BATCH) {
    const batch = all.slice(i, i + CONNECT_BATCH);
    subs.push(...batch);
    await Promise.all(batch.map((s) => s.start().catch((e) => { failed++; firstError = firstError || String(e.message); })));
  }
  result.connect_s = round((nowUs() - tc0) / 1e6, 3);
  result.subscribe_failures = failed;
  if (failed) { result.subscribe_error = firstError; clearTimeout(hard); for (const s of subs) s.close(); return finish(3, 'error: subscribe failed'); }
  await sleep(IDLE_S * 1000);
  const idle = serverSample();
  if (base0 && idle) result.server_rss_per_subscriber_bytes = Math.round(((idle.rssKb - base0.rssKb) * 1024) / all.length);

  // 3. warm-up deliveries, one write at a time
  for (let k = 0; k < WARMUP; k++) {
    const p = Math.floor(draw() * P) + 1, g = k % G;
    const want = warmGot + expect[(p - 1) * G + g];
    await post(p, g, `bench w ${nowUs()} ${pad}`);
    const deadline = Date.now() + 5000;
    while (warmGot < want && Date.now() < deadline) await sleep(1);
  }
  result.warmup_deliveries = warmGot;

  // 4. the measured fan-out: BLOCKS blocks of writes to the subscribers, each paired with a block of control
  // writes (--control-path: the same write delivered to nobody) when given, in alternating order, so that
  // the writes' own CPU is measured in the same conditions as the fan-out's
  const writes = plan(M);
  fan = { recv: new Int32Array(M), want: new Int32Array(M), sentAt: new Float64Array(M), doneAt: new Float64Array(M) };
  let expected = 0;
  for (let k = 0; k < M; k++) { fan.want[k] = expect[(writes.p[k] - 1) * G + writes.g[k]]; expected += fan.want[k]; }
  result.expected_deliveries = expected;
  const controls = { p: new Int32Array(MC), g: new Int32Array(MC) };
  for (let k = 0; k < MC; k++) { controls.p[k] = CONTROL_FIRST + Math.floor(draw() * CONTROL_COUNT); controls.g[k] = Math.floor(draw() * G); }
  const deadline = STARTED_AT + (MAX_S - 5) * 1000;
  let fanCpu = 0, ctlCpu = 0, fanWall = 0, nextW = 0, nextC = 0;
  const cpu0 = process.cpuUsage();
  const phase0 = nowUs();
  const measuredBlock = (count) => new Promise((resolve) => {
    let started = 0, finished = 0, inflight = 0;
    const pump = () => {
      while (inflight < W && started < count) {
        inflight++; started++;
        const k = nextW++;
        fan.sentAt[k] = nowUs();
        post(writes.p[k], writes.g[k], `bench ${k} ${fan.sentAt[k]} ${pad}`).then(() => {
          if (fan.want[k] === 0) onWriteDone(k);
        });
      }
    };
    onWriteDone = () => { inflight--; if (++finished === count) resolve(); else pump(); };
    if (count === 0) resolve();
    pump();
  });
  const controlBlock = (count) => new Promise((resolve) => {
    let started = 0, finished = 0;
    const start = () => {
      started++;
      const k = nextC++;
      post(controls.p[k], controls.g[k], `bench c ${nowUs()} ${pad}`, CONTROL_PATH).then(() => {
        if (++finished === count) resolve(); else if (started < count) start();
      });
    };
    if (count === 0) resolve();
    for (let i = 0; i < Math.min(W, count); i++) start();
  });
  const timed = async (block, count) => {
    const s0 = threadsNs(), t0 = nowUs();
    await Promise.race([block(count), sleep(Math.max(1, deadline - Date.now()))]);
    const s1 = threadsNs();
    return { cpu: cpuBetween(s0, s1), wall: (nowUs() - t0) / 1e6 };
  };
  const stat0 = serverSample();
  const blocks = CONTROL_PATH ? BLOCKS : 1;
  for (let b = 0; b < blocks && Date.now() < deadline; b++) {
    const nW = Math.floor(((b + 1) * M) / blocks) - Math.floor((b * M) / blocks);
    const nC = CONTROL_PATH ? Math.floor(((b + 1) * MC) / blocks) - Math.floor((b * MC) / blocks) : 0;
    for (const kind of b % 2 === 0 ? ['w', 'c'] : ['c', 'w']) {
      if (kind === 'w') { const t = await timed(measuredBlock, nW); fanCpu += t.cpu; fanWall += t.wall; }
      else if (nC) { const t = await timed(controlBlock, nC); ctlCpu += t.cpu; }
    }
  }
  const cpu1 = process.cpuUsage(cpu0);
  const stat1 = serverSample();
  // the whole phase by /proc/<pid>/stat, as a check of the per-thread sums
  if (stat0 && stat1) result.phase_cpu_s_stat = round(stat1.cpuS - stat0.cpuS, 3);
  result.fanout_wall_s = round(fanWall, 3);
  result.client_cpu_util = round((cpu1.user + cpu1.system) / 1e6 / ((nowUs() - phase0) / 1e6), 2);
  if (SERVER_PID) {
    result.fanout_cpu_s = round(fanCpu, 4);
    result.server_cpu_util = round(fanCpu / fanWall, 2);
  }
  if (CONTROL_PATH) {
    result.control_path = CONTROL_PATH;
    result.control_writes = nextC;
    result.control_cpu_s = round(ctlCpu, 4);
    result.control_us_per_write = nextC ? round((ctlCpu * 1e6) / nextC, 2) : null;
    result.blocks = blocks;
  }
  result.deliveries_per_s = fanWall > 0 ? Math.round(deliveries / fanWall) : null;
  // a late or doubled delivery would still arrive now
  await sleep(300);
  clearTimeout(hard);
  for (const s of subs) s.close();
  const complete = deliveries - dup >= expected && postErrors === 0;
  finish(complete ? 0 : 1, complete ? 'all-delivered' : 'timeout');
})().catch((e) => { console.error(e && e.stack || e); finish(3, 'error: ' + (e && e.message)); });
