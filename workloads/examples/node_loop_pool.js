// A Node.js server and its own client in one process: an event loop doing IO,
// plus CPU-ish work on libuv's worker pool. Attach to it with ccviz:
//
//     node workloads/examples/node_loop_pool.js [--seconds 300] [--concurrency 4]
//                                             [--pause-ms 20] [--block-ms 0]
//     ccviz attach PID          # the pid it prints on its first line
//
// What `ccviz attach` shows in the threads pane:
//
// - node-loop (tid = pid): the event loop. It parses and answers HTTP on
//   127.0.0.1, runs timers and the client: executing now and then, mostly
//   waiting in epoll, with voluntary switches each time the loop wakes.
//   With --block-ms N every /wait request also computes N ms inline on the
//   loop: node-loop turns executing and the verdict says one thread is the limit.
// - libuv-worker x UV_THREADPOOL_SIZE (default 4 here): libuv's worker pool.
//   crypto.pbkdf2 (/hash), zlib.deflate (/zip) and fs.readFile (/file) run
//   there, off the loop: short executing bursts spread over the pool threads.
// - node (several): Node's own V8 platform threads (garbage collection,
//   compilation, delayed tasks): mostly waiting.
//
// The Event loop and Throughput panes say that app facts are not available when
// attached: ccviz reads only the kernel's counters, so the loop's lag and the
// requests per second stay unknown (not zero).
//
// libuv 1.46 (Node 20) does not name its threads, and threads inherit the name
// of the thread that creates them: so the main thread takes the name
// libuv-worker just while it submits the first job (which creates the pool),
// then names itself node-loop. Newer libuv names the pool libuv-worker itself.
//
// It binds 127.0.0.1 only, and exits by itself after --seconds, on SIGINT or
// SIGTERM, or when its stdin closes if stdin is a pipe (a test that dies
// takes it along).

'use strict';

process.env.UV_THREADPOOL_SIZE = process.env.UV_THREADPOOL_SIZE || '4';

const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const os = require('os');
const path = require('path');
const zlib = require('zlib');

function option(name, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  if (at < 0) return fallback;
  const value = Number(process.argv[at + 1]);
  if (!Number.isFinite(value) || value < 0) {
    console.error(`node_loop_pool: --${name} needs a number >= 0`);
    process.exit(2);
  }
  return value;
}

const SECONDS = option('seconds', 300);
const CONCURRENCY = Math.max(1, Math.floor(option('concurrency', 4)));
const PAUSE_MS = option('pause-ms', 20);
const BLOCK_MS = option('block-ms', 0);
const PBKDF2_ITERATIONS = 5000;
const ROUTES = ['/hash', '/wait', '/file', '/zip'];

function nameThread(name) {
  // /proc/thread-self is the calling thread: the loop's own thread here.
  try {
    fs.writeFileSync('/proc/thread-self/comm', name);
  } catch (err) {
    // not Linux: the threads keep the name "node"
  }
}

// Create the worker pool now, while the main thread carries the pool's name.
nameThread('libuv-worker');
crypto.pbkdf2('warm', 'up', 1, 16, 'sha256', () => {});
nameThread('node-loop');

const blob = crypto.randomBytes(64 * 1024);
const tmpFile = path.join(os.tmpdir(), `ccviz-node-demo-${process.pid}.bin`);
fs.writeFileSync(tmpFile, crypto.randomBytes(256 * 1024));

function spin(ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    // CPU on the event loop's thread: nothing else runs meanwhile
  }
}

function answer(res, err, body) {
  res.writeHead(err ? 500 : 200, { 'content-type': 'text/plain' });
  res.end(err ? String(err) : body);
}

const server = http.createServer((req, res) => {
  switch (req.url) {
    case '/hash':
      crypto.pbkdf2('secret', 'salt', PBKDF2_ITERATIONS, 32, 'sha256', (err, key) =>
        answer(res, err, err ? '' : key.toString('hex')));
      break;
    case '/zip':
      zlib.deflate(blob, (err, out) => answer(res, err, err ? '' : `${out.length}`));
      break;
    case '/file':
      fs.readFile(tmpFile, (err, data) => answer(res, err, err ? '' : `${data.length}`));
      break;
    case '/wait':
      if (BLOCK_MS > 0) spin(BLOCK_MS);
      setTimeout(() => answer(res, null, 'ok'), 5);
      break;
    default:
      answer(res, 'not found', '');
  }
});

let stopping = false;
let completed = 0;
const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });

function client(port, n) {
  if (stopping) return;
  const route = ROUTES[n % ROUTES.length];
  const req = http.get({ host: '127.0.0.1', port, path: route, agent }, (res) => {
    res.resume();
    res.on('end', () => {
      completed += 1;
      setTimeout(() => client(port, n + 1), PAUSE_MS);
    });
  });
  req.on('error', () => {
    if (!stopping) setTimeout(() => client(port, n + 1), 100);
  });
}

function shutdown(why) {
  if (stopping) return;
  stopping = true;
  agent.destroy();
  server.close();
  try {
    fs.unlinkSync(tmpFile);
  } catch (err) {
    // already gone
  }
  process.stderr.write(`node_loop_pool: ${why}; ${completed} requests served\n`);
  process.exit(0);
}

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const pid = process.pid;
  process.stdout.write(
    `node_loop_pool: pid ${pid} listening on 127.0.0.1:${port} with ` +
      `${process.env.UV_THREADPOOL_SIZE} libuv workers — attach with: ccviz attach ${pid}\n`);
  for (let n = 0; n < CONCURRENCY; n += 1) client(port, n);
});

setTimeout(() => shutdown(`${SECONDS} s elapsed`), SECONDS * 1000).unref();
process.on('SIGINT', () => shutdown('interrupted'));
process.on('SIGTERM', () => shutdown('terminated'));

let stdinIsPipe = false;
try {
  stdinIsPipe = fs.fstatSync(0).isFIFO();
} catch (err) {
  // no stdin at all
}
if (stdinIsPipe) {
  // Only a pipe is watched: a terminal stays open, /dev/null would end us at once.
  process.stdin.on('end', () => shutdown('stdin closed'));
  process.stdin.on('error', () => shutdown('stdin closed'));
  process.stdin.resume();
}
