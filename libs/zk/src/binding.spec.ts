// Crash regressions of the native client (`zookeeper` binding, patched by tools/scripts/
// patch-zookeeper.mjs), each in a child process so a crash fails the spec, not the runner.
//
// docs/reliability.md D3 (stores that died by SIGABRT without a log line): the native client's connection times out (2/3 of the session timeout without an answer: an
// event loop held up by load) and the process accepts a socket onto the fd number the C client
// just closed. Unpatched, the binding closed its poll handle on that number later and libuv's
// EPOLL_CTL_DEL pulled the accepted socket out of epoll: it read nothing more, and its next
// write that filled the buffer made epoll_ctl(MOD) fail and libuv abort() (tools/scripts/
// patch-zookeeper.mjs).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startZooKeeper, type ZooKeeperServer } from '@hawser/zookeeper-launcher';

let dir: string;
let server: ZooKeeperServer;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hawser-zk-stale-fd-'));
  server = await startZooKeeper({ dataDir: dir, tickTime: 250 });
});

after(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** The child: one ZkClient, a stall past its connection timeout, sockets accepted right after. */
const CHILD = `
const net = require('node:net');
const fs = require('node:fs');
const { ZkClient } = require(process.argv[1]);
const sockets = () => new Set(fs.readdirSync('/proc/self/fd').map(Number).filter((fd) => {
  try { return fs.readlinkSync('/proc/self/fd/' + fd).startsWith('socket:'); } catch { return false; }
}));
(async () => {
  const accepted = [];
  const got = new Set();
  const server = net.createServer((s) => { accepted.push(s); s.on('data', () => got.add(s)); });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const port = server.address().port;
  const before = sockets();
  const zk = await ZkClient.connect(process.argv[2], { sessionTimeoutMs: 1000 });
  const zkFd = [...sockets()].find((fd) => !before.has(fd));
  // Connections the kernel completes now and the server accepts only after the stall.
  const clients = [];
  const dial = () => { const c = net.connect(port, '127.0.0.1'); c.on('error', () => {}); c.pause(); clients.push(c); };
  for (let i = 0; i < 8; i++) dial();
  await new Promise((r) => setTimeout(r, 100));
  // An event loop held up past 2/3 of the session timeout: the C client's next
  // zookeeper_interest() closes its socket (connection timed out).
  await new Promise((r) => setImmediate(() => { const t = Date.now(); while (Date.now() - t < 900); r(); }));
  for (let i = 0; i < 8; i++) dial();
  await new Promise((r) => setTimeout(r, 1500));
  const fds = accepted.map((s) => s._handle && s._handle.fd);
  // Every accepted socket must still be in epoll: it reads what its client sends ...
  for (const c of clients) c.write('x');
  const end = Date.now() + 5000;
  while (got.size < accepted.length && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  // ... and a write that fills its buffer (libuv adds POLLOUT: EPOLL_CTL_MOD) does not abort.
  const big = Buffer.alloc(8 << 20);
  for (const s of accepted) s.write(big);
  await new Promise((r) => setTimeout(r, 500));
  process.stdout.write(JSON.stringify({ zkFd, acceptedFds: fds, accepted: accepted.length, read: got.size }) + '\\n');
  await zk.close().catch(() => undefined);
  for (const s of [...clients, ...accepted]) s.destroy();
  server.close();
  process.exit(0);
})().catch((e) => { process.stderr.write(String(e && e.stack || e) + '\\n'); process.exit(1); });
`;

/** The child: getAcl calls pending when the connection times out (completed with no ACL vector). */
const CHILD_ACL = `
const { ZkClient } = require(process.argv[1]);
(async () => {
  const zk = await ZkClient.connect(process.argv[2], { sessionTimeoutMs: 1000 });
  await zk.mkdirp('/binding-spec/acl');
  const pending = [];
  for (let i = 0; i < 50; i++) pending.push(zk.getAcl('/binding-spec/acl').then(() => 'ok', (e) => e.code || e.message));
  // Held up past the connection timeout before reading the answers: the client gives the
  // connection up and completes every pending request with a connection loss.
  await new Promise((r) => setImmediate(() => { const t = Date.now(); while (Date.now() - t < 900); r(); }));
  const results = await Promise.all(pending);
  const failed = results.filter((r) => r !== 'ok').length;
  process.stdout.write(JSON.stringify({ failed, codes: [...new Set(results)] }) + '\\n');
  await zk.close().catch(() => undefined);
  process.exit(0);
})().catch((e) => { process.stderr.write(String(e && e.stack || e) + '\\n'); process.exit(1); });
`;

function runChild(script = CHILD): Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['-e', script, join(__dirname, 'client.js'), server.connect], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('exit', (code, signal) => { clearTimeout(timer); resolve({ code, signal, out, err }); });
  });
}

test('a socket accepted onto the fd the client closed at a connection timeout stays in epoll (no SIGABRT)', { timeout: 60_000 }, async (t) => {
  const r = await runChild();
  t.diagnostic(`child exit ${JSON.stringify({ code: r.code, signal: r.signal })}: ${r.out.trim()}`);
  assert.equal(r.signal, null, `the child died by ${r.signal} (stderr tail: ${r.err.slice(-600)})`);
  assert.equal(r.code, 0, `the child failed: ${r.err.slice(-600)}`);
  const res = JSON.parse(r.out.trim().split('\n').pop()!) as { zkFd: number; acceptedFds: number[]; accepted: number; read: number };
  // The situation must have happened, or the spec proves nothing.
  assert.ok(res.acceptedFds.includes(res.zkFd), `no accepted socket took the ZooKeeper client's closed fd ${res.zkFd} (accepted: ${res.acceptedFds.join(',')})`);
  assert.equal(res.read, res.accepted, `${res.accepted - res.read} accepted socket(s) never read: pulled out of epoll`);
});

test('getAcl requests pending when the connection times out fail with an error (no SIGSEGV)', { timeout: 60_000 }, async (t) => {
  const r = await runChild(CHILD_ACL);
  t.diagnostic(`child exit ${JSON.stringify({ code: r.code, signal: r.signal })}: ${r.out.trim()}`);
  assert.equal(r.signal, null, `the child died by ${r.signal} (stderr tail: ${r.err.slice(-600)})`);
  assert.equal(r.code, 0, `the child failed: ${r.err.slice(-600)}`);
  const res = JSON.parse(r.out.trim().split('\n').pop()!) as { failed: number; codes: string[] };
  // The situation must have happened: requests completed by the client's cleanup, not answered.
  assert.ok(res.failed > 0, `every getAcl was answered (${JSON.stringify(res.codes)}): the connection did not time out under them`);
});
