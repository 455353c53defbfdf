// Spec of the ZooKeeper adapter against a real private server (tools/zookeeper).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { startZooKeeper, type ZooKeeperServer } from '@hawser/zookeeper-launcher';
import { connect, ZkClient, type WatchEvent } from './client';
import { ZkBadVersionError, ZkNoNodeError, ZkNodeExistsError, ZkError, ZkSessionExpiredError, ZkClosedError, ZkNoAuthError } from './errors';
import { aclFor, digestId, PERM, resolveAuth, sameAcl } from './acl';
import { createHash } from 'node:crypto';

let dir: string;
let server: ZooKeeperServer;
const clients: ZkClient[] = [];

async function client(sessionTimeoutMs = 4000): Promise<ZkClient> {
  const c = await connect(server.connect, { sessionTimeoutMs });
  clients.push(c);
  return c;
}

async function checkFor<T>(deadlineMs: number, fn: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v as T;
    if (Date.now() > end) throw new Error('checkFor: deadline passed');
    await new Promise((r) => setTimeout(r, 50));
  }
}

function nextEvent(): { promise: Promise<WatchEvent>; watcher: (e: WatchEvent) => void } {
  let watcher!: (e: WatchEvent) => void;
  const promise = new Promise<WatchEvent>((r) => { watcher = r; });
  return { promise, watcher };
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hawser-zk-spec-'));
  // tickTime 250: sessions can be as short as 500 ms, so expiry is quick to test
  server = await startZooKeeper({ dataDir: dir, tickTime: 250 });
});

after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('create, get, set with version, delete', async () => {
  const zk = await client();
  assert.equal(zk.state, 'connected');
  await zk.mkdirp('/t1/a/b');
  await zk.mkdirp('/t1/a/b'); // idempotent
  assert.equal(await zk.create('/t1/a/b/n', 'hello'), '/t1/a/b/n');
  await assert.rejects(zk.create('/t1/a/b/n', 'again'), (e: unknown) => e instanceof ZkNodeExistsError && e.code === 'NODE_EXISTS');
  const n = await zk.get('/t1/a/b/n');
  assert.equal(n.data.toString(), 'hello');
  assert.equal(n.version, 0);
  const st = await zk.set('/t1/a/b/n', 'v1', 0);
  assert.equal(st.version, 1);
  // the epoch-bump pattern: a conditional write with a stale version loses
  await assert.rejects(zk.set('/t1/a/b/n', 'v2', 0), (e: unknown) => e instanceof ZkBadVersionError && e.code === 'BAD_VERSION');
  assert.equal((await zk.get('/t1/a/b/n')).data.toString(), 'v1');
  await zk.set('/t1/a/b/n', JSON.stringify({ x: 1 }));
  assert.deepEqual((await zk.getJson<{ x: number }>('/t1/a/b/n')).value, { x: 1 });
  await assert.rejects(zk.delete('/t1/a/b/n', 0), ZkBadVersionError);
  await zk.delete('/t1/a/b/n');
  await assert.rejects(zk.get('/t1/a/b/n'), (e: unknown) => e instanceof ZkNoNodeError && e.code === 'NO_NODE');
  assert.equal(await zk.exists('/t1/a/b/n'), null);
  assert.ok(await zk.exists('/t1/a/b'));
  await zk.create('/t1/empty');
  assert.equal((await zk.get('/t1/empty')).data.length, 0);
});

test('sequential znodes sort by sequence and children are sorted', async () => {
  const zk = await client();
  await zk.mkdirp('/t2/seq');
  const a = await zk.create('/t2/seq/c-', '{"id":"a"}', 'ephemeral_sequential');
  const b = await zk.create('/t2/seq/c-', '{"id":"b"}', 'persistent_sequential');
  assert.match(a, /^\/t2\/seq\/c-\d{10}$/);
  assert.ok(b > a);
  assert.deepEqual(await zk.children('/t2/seq'), [a.slice('/t2/seq/'.length), b.slice('/t2/seq/'.length)]);
});

test('children and exists watches fire once', async () => {
  const zk = await client();
  const other = await client();
  await zk.mkdirp('/t3/members');
  const w = nextEvent();
  let calls = 0;
  assert.deepEqual(await zk.children('/t3/members', (e) => { calls++; w.watcher(e); }), []);
  await other.create('/t3/members/x', '', 'ephemeral');
  assert.deepEqual(await w.promise, { type: 'child', path: '/t3/members' });
  await other.create('/t3/members/y', '', 'ephemeral');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(calls, 1, 'a watch is one-shot');

  const ex = nextEvent();
  assert.equal(await zk.exists('/t3/master', ex.watcher), null);
  await other.create('/t3/master', 'm');
  assert.deepEqual(await ex.promise, { type: 'created', path: '/t3/master' });
  const gw = nextEvent();
  await zk.get('/t3/master', gw.watcher);
  await other.set('/t3/master', 'm2');
  assert.deepEqual(await gw.promise, { type: 'changed', path: '/t3/master' });
  const dw = nextEvent();
  assert.ok(await zk.exists('/t3/master', dw.watcher));
  await other.delete('/t3/master');
  assert.deepEqual(await dw.promise, { type: 'deleted', path: '/t3/master' });
});

test('an ephemeral znode vanishes when its session closes, and a watcher hears it', async () => {
  const zk = await client();
  const store = await client();
  await zk.mkdirp('/t4/members');
  await store.create('/t4/members/s1', '{}', 'ephemeral');
  const w = nextEvent();
  assert.ok(await zk.exists('/t4/members/s1', w.watcher));
  await store.close();
  assert.equal(store.state, 'closed');
  assert.deepEqual(await w.promise, { type: 'deleted', path: '/t4/members/s1' });
  await assert.rejects(store.get('/t4/members'), ZkClosedError);
});

test('session expiry: the server stops, the client reports disconnected then expired within the session timeout', { timeout: 60_000 }, async () => {
  // Its own server, so stopping it does not disturb the other tests.
  const d = mkdtempSync(join(tmpdir(), 'hawser-zk-exp-'));
  const zs = await startZooKeeper({ dataDir: d, tickTime: 250 });
  try {
    const watcher = await connect(zs.connect, { sessionTimeoutMs: 4000 });
    const store = await connect(zs.connect, { sessionTimeoutMs: 1000 });
    assert.ok(store.sessionTimeoutMs <= 1000 && store.sessionTimeoutMs >= 500, `granted ${store.sessionTimeoutMs}`);
    await store.mkdirp('/t5/members');
    await store.create('/t5/members/s1', '{}', 'ephemeral');
    const events: string[] = [];
    for (const e of ['connected', 'disconnected', 'expired', 'closed']) store.on(e, () => events.push(e));
    const t0 = Date.now();
    await zs.kill9();
    await checkFor(10_000, () => events.includes('expired'));
    const tookMs = Date.now() - t0;
    assert.deepEqual(events.slice(0, 2), ['disconnected', 'expired']);
    assert.ok(tookMs < 5000, `expired after ${tookMs} ms`);
    await assert.rejects(store.get('/t5/members/s1'), (e: unknown) => e instanceof ZkSessionExpiredError || e instanceof ZkClosedError);
    await watcher.close();
  } finally {
    await zs.kill9();
    rmSync(d, { recursive: true, force: true });
  }
});

test('waitForServerExpiry: down longer than the session timeout, the client says lost, reconnects into the same session when the server returns, and keeps its ephemeral znode', { timeout: 60_000 }, async () => {
  // A server restarted on its data gives every session it had a fresh timeout (as a new
  // ensemble leader does after a quorum loss): a client that reconnects in time keeps it.
  const d = mkdtempSync(join(tmpdir(), 'hawser-zk-lost-'));
  let zs = await startZooKeeper({ dataDir: d, tickTime: 250 });
  const port = zs.port;
  try {
    const store = await connect(zs.connect, { sessionTimeoutMs: 1000, waitForServerExpiry: true });
    clients.push(store);
    const session = store.sessionId;
    await store.mkdirp('/t6/members');
    await store.create('/t6/members/s1', '{}', 'ephemeral');
    const events: string[] = [];
    for (const e of ['connected', 'disconnected', 'lost', 'expired', 'closed']) store.on(e, () => events.push(e));
    await zs.kill9();
    await checkFor(10_000, () => events.includes('lost'));
    assert.deepEqual(events, ['disconnected', 'lost']);
    assert.ok(store.lost && !store.connected);
    // Down for twice the session timeout: without the option the client would have closed.
    await new Promise((r) => setTimeout(r, 1000));
    assert.deepEqual(events, ['disconnected', 'lost'], 'no expiry decided on our side');
    zs = await startZooKeeper({ dataDir: d, tickTime: 250, port });
    await checkFor(10_000, () => store.connected);
    assert.deepEqual(events, ['disconnected', 'lost', 'connected']);
    assert.equal(store.sessionId, session, 'the same session');
    assert.equal(store.lost, false);
    const n = await store.get('/t6/members/s1');
    assert.equal(n.stat.ephemeralOwner, session, 'its ephemeral znode is still there, still its own');
  } finally {
    await zs.kill9();
    rmSync(d, { recursive: true, force: true });
  }
});

/**
 * A child process holding a ZooKeeper session (600 ms) with the ephemeral znode `<dir>/s1`,
 * printing its session events one per line; resolves once the znode is there, with a watch
 * set on it (`deleted` resolves when it goes).
 */
async function sessionChild(zk: ZkClient, dir: string) {
  await zk.mkdirp(dir);
  const script = `const { connect } = require(${JSON.stringify(join(__dirname, 'index.js'))});
    connect(process.argv[1], { sessionTimeoutMs: 600 }).then(async (c) => {
      for (const ev of ['disconnected', 'connected', 'expired', 'closed']) c.on(ev, () => process.stdout.write(ev + '\\n'));
      await c.create(process.argv[2] + '/s1', '{}', 'ephemeral');
      process.stdout.write('ready\\n');
      setInterval(() => {}, 1000);
    });`;
  const child = spawn(process.execPath, ['-e', script, server.connect, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
  try {
    await checkFor(10_000, () => out.includes('ready'));
    const w = nextEvent();
    assert.ok(await zk.exists(`${dir}/s1`, w.watcher));
    return { child, out: () => out, deleted: w.promise };
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
}

test('session expiry observed by the server: a frozen (SIGSTOP) client loses its ephemeral node', { timeout: 60_000 }, async () => {
  // Freezing the child stops its pings, so the server expires the session after
  // ~sessionTimeout and deletes the ephemeral znode (what a coordinator sees when a store
  // hangs or its host dies).
  const { child, deleted } = await sessionChild(await client(), '/t6/members');
  try {
    const t0 = Date.now();
    child.kill('SIGSTOP');
    assert.deepEqual(await deleted, { type: 'deleted', path: '/t6/members/s1' });
    const tookMs = Date.now() - t0;
    assert.ok(tookMs < 3000, `deleted after ${tookMs} ms`);
  } finally {
    child.kill('SIGKILL');
  }
});

test('a frozen client resumed after its session expired reports expired (the server says so on reconnect)', { timeout: 60_000 }, async () => {
  const { child, out, deleted } = await sessionChild(await client(), '/t7/members');
  try {
    child.kill('SIGSTOP');
    assert.deepEqual(await deleted, { type: 'deleted', path: '/t7/members/s1' });
    child.kill('SIGCONT');
    // Every user of the adapter (coordinator, gateway, bridge lock, store) opens a new
    // session on 'expired': it must come, not only 'closed'.
    await checkFor(10_000, () => out().includes('expired'));
    assert.ok(!out().split('\n').includes('connected'), `no reconnect into the dead session: ${JSON.stringify(out())}`);
  } finally {
    child.kill('SIGKILL');
  }
});

test('connect fails clearly when nothing listens', async () => {
  const t0 = Date.now();
  await assert.rejects(connect('127.0.0.1:1', { sessionTimeoutMs: 1000, connectTimeoutMs: 1500 }), (e: unknown) => e instanceof ZkError && e.code === 'CONNECTION_LOSS' && /cannot connect/.test(e.message));
  assert.ok(Date.now() - t0 < 5000);
});

test('zk.auth: znodes get the digest ACL; without the digest (or with another) they can be read, not written, deleted or added to', async () => {
  const auth = 'hawser:s3cret';
  const owner = await connect(server.connect, { auth, secureRoot: '/acl' });
  clients.push(owner);
  const anon = await client();
  const wrong = await connect(server.connect, { auth: 'hawser:guess' });
  clients.push(wrong);
  // a znode made open before auth was on (an older cluster) is adopted by mkdirp and secureTree
  await anon.mkdirp('/acl/old/child');
  await owner.mkdirp('/acl/groups/g1/members');
  assert.equal(await owner.secureTree('/acl'), 2, 'old and old/child adopted (acl itself by mkdirp)');
  await owner.create('/acl/groups/g1/epoch', '7');
  const member = await owner.create('/acl/groups/g1/members/s1', '{}', 'ephemeral');
  const seq = await owner.create('/acl/groups/g1/c-', 'x', 'ephemeral_sequential');
  for (const p of ['/acl', '/acl/old', '/acl/old/child', '/acl/groups/g1', '/acl/groups/g1/epoch', member, seq]) {
    const { acl } = await owner.getAcl(p);
    assert.ok(sameAcl(acl, aclFor(auth)), `${p} has the digest ACL: ${JSON.stringify(acl)}`);
  }
  assert.equal((await anon.get('/acl/groups/g1/epoch')).data.toString(), '7', 'world may read');
  for (const c of [anon, wrong]) {
    await assert.rejects(c.set('/acl/groups/g1/epoch', '999'), (e: unknown) => e instanceof ZkNoAuthError);
    await assert.rejects(c.delete(member), (e: unknown) => e instanceof ZkNoAuthError);
    await assert.rejects(c.create('/acl/groups/g1/members/fake', '{}', 'ephemeral'), (e: unknown) => e instanceof ZkNoAuthError);
    await assert.rejects(c.setAcl('/acl/groups/g1/epoch', [{ perms: PERM.ALL, scheme: 'world', auth: 'anyone' }]), (e: unknown) => e instanceof ZkNoAuthError);
  }
  assert.equal((await anon.get('/acl/groups/g1/epoch')).data.toString(), '7');
  await owner.set('/acl/groups/g1/epoch', '8');
  // outside secureRoot the owner creates open znodes (an ancestor shared with other apps stays theirs)
  await owner.mkdirp('/acl-outside/x');
  assert.ok(sameAcl((await owner.getAcl('/acl-outside/x')).acl, [{ perms: PERM.ALL, scheme: 'world', auth: 'anyone' }]));
  assert.equal(digestId('hawser:s3cret'), `hawser:${createHash('sha1').update('hawser:s3cret').digest('base64')}`);
  assert.deepEqual(resolveAuth('u:p', () => ''), { auth: 'u:p' });
  assert.deepEqual(resolveAuth('file:/x', () => 'u:p\n'), { auth: 'u:p' });
  assert.ok('problem' in resolveAuth('nopassword', () => ''));
  assert.ok('problem' in resolveAuth('file:/nope', () => { throw new Error('ENOENT'); }));
});
