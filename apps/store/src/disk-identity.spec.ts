// Data-directory identity, the disk watermark and a diverged replica, in-process over real
// RocksDB and gRPC (the coordinator played by the test, as in replicated.spec.ts). A journal
// write failure on a real full filesystem is in tests/integration/src/disk-failure.e2e.spec.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@hawser/config';
import { createLogger, createRegistry, type Logger, type prom } from '@hawser/observability';
import { schema, validate } from './config';
import { Store } from './store';
import { RocksJournal } from './journal';
import { Rocks } from './rocks';
import { checkIdentity, IDENTITY_KEY, IdentityError, type DataDirIdentity } from './identity';
import { DiskWatch } from './disk';
import { checkFor, TestSession } from './testing';
import { assign, bootNode, bootServing, cleanupNodes, electServing, nodeAddr, nodeStatus, prepare, stopNode, testNodes, type TestNode } from './testing-group';

const LOG_LEVEL = process.env.HAWSER_TEST_LOG ?? 'silent';
const tmp = (name: string) => mkdtempSync(join(tmpdir(), `hawser-${name}-`));

function makeStore(argv: string[], registry: prom.Registry = createRegistry('store')): Store {
  const config = validate(loadConfig(schema, { argv: ['--grpc.port', '0', ...argv], env: {} }).config);
  return new Store({ config, log: createLogger({ service: 'store', level: LOG_LEVEL }), registry });
}

async function readIdentity(dir: string): Promise<DataDirIdentity | undefined> {
  const db = await Rocks.open(dir);
  try {
    const v = await db.get(IDENTITY_KEY);
    return v ? (JSON.parse(v.toString()) as DataDirIdentity) : undefined;
  } finally {
    await db.close();
  }
}

async function dropIdentity(dir: string): Promise<void> {
  const db = await Rocks.open(dir);
  try { await db.batch([{ type: 'del', key: IDENTITY_KEY }], true); } finally { await db.close(); }
}

async function refusedWith(argv: string[], re: RegExp): Promise<IdentityError> {
  const s = makeStore(argv);
  try {
    await s.start();
  } catch (e) {
    assert.ok(e instanceof IdentityError, `expected an IdentityError, got ${(e as Error).message}`);
    assert.equal(e.code, 'STORE_IDENTITY');
    assert.match(e.message, re);
    return e;
  } finally {
    await s.stop();
  }
  assert.fail(`the store started with ${argv.join(' ')}`);
}

test('identity: written at the first start; another group, mode or member is refused, naming the directory and what to do', async () => {
  const dir = tmp('ident');
  try {
    const s = makeStore(['--group', 'g1', '--node.id', 'a', '--node.dataDir', dir]);
    await s.start();
    const p = new TestSession(`127.0.0.1:${s.grpcPort}`);
    await p.open();
    await p.receipted([p.send('/queue/q', 'x')]);
    p.close();
    await s.stop();
    const id = await readIdentity(dir);
    assert.deepEqual({ mode: id?.mode, group: id?.group, node: id?.node, adopted: id?.adopted }, { mode: 'standalone', group: 'g1', node: 'a', adopted: undefined });

    // The same store starts again (another node id is fine for standalone: the disk may move hosts).
    const again = makeStore(['--group', 'g1', '--node.id', 'b', '--node.dataDir', dir]);
    await again.start();
    await again.stop();

    const e = await refusedWith(['--group', 'g2', '--node.id', 'a', '--node.dataDir', dir], /belongs to group g1/);
    assert.ok(e.message.includes(dir), 'the error names the directory');
    assert.match(e.message, /another directory|delete the directory/);
    await refusedWith(['--group', 'g1', '--node.id', 'a', '--node.dataDir', dir, '--ha.mode', 'replicated', '--zk.address', ''],
      /was written by a standalone store a of group g1.*never share a directory/);
    assert.equal((await readIdentity(dir))?.mode, 'standalone', 'a refused start leaves the record as it was');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  // Replicated: each member's own directory.
  const rdir = tmp('ident-r');
  try {
    const r = makeStore(['--group', 'g1', '--node.id', 's1', '--node.dataDir', rdir, '--ha.mode', 'replicated', '--zk.address', '']);
    await r.start();
    await r.stop();
    await refusedWith(['--group', 'g1', '--node.id', 's2', '--node.dataDir', rdir, '--ha.mode', 'replicated', '--zk.address', ''], /belongs to node s1 of group g1/);
    await refusedWith(['--group', 'g1', '--node.id', 's1', '--node.dataDir', rdir], /was written by a replicated store s1 of group g1/);
  } finally {
    rmSync(rdir, { recursive: true, force: true });
  }
});

test('identity: a directory from before identity records is adopted in its own mode, refused in another', async () => {
  const dir = tmp('adopt');
  const rdir = tmp('adopt-r');
  try {
    // A standalone directory with data and no record (as every directory was before).
    const s = makeStore(['--group', 'g1', '--node.id', 'a', '--node.dataDir', dir]);
    await s.start();
    const p = new TestSession(`127.0.0.1:${s.grpcPort}`);
    await p.open();
    await p.receipted([p.send('/queue/q', 'kept')]);
    p.close();
    await s.stop();
    await dropIdentity(dir);
    await refusedWith(['--group', 'g1', '--node.id', 'a', '--node.dataDir', dir, '--ha.mode', 'replicated', '--zk.address', ''],
      /holds a standalone or shared-lock store's data/);
    const up = makeStore(['--group', 'g1', '--node.id', 'a', '--node.dataDir', dir]);
    await up.start();
    const c = new TestSession(`127.0.0.1:${up.grpcPort}`);
    await c.open();
    c.subscribe('s', '/queue/q');
    await checkFor('the adopted directory\'s message', () => c.deliveries().length === 1);
    c.close();
    await up.stop();
    const id = await readIdentity(dir);
    assert.equal(id?.adopted, true);
    assert.equal(id?.mode, 'standalone');

    // A replicated member's directory with no record: refused as standalone, adopted as replicated.
    const r = makeStore(['--group', 'g1', '--node.id', 's1', '--node.dataDir', rdir, '--ha.mode', 'replicated', '--zk.address', '']);
    await r.start();
    await r.stop();
    await dropIdentity(rdir);
    await refusedWith(['--group', 'g1', '--node.id', 's1', '--node.dataDir', rdir], /holds a replicated member's journal/);
    const db = await Rocks.open(rdir);
    try {
      const got = await checkIdentity(db, { dir: rdir, mode: 'replicated', group: 'g1', node: 's1' });
      assert.equal(got.written, 'adopted');
      assert.equal((await checkIdentity(db, { dir: rdir, mode: 'replicated', group: 'g1', node: 's1' })).written, null);
    } finally {
      await db.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(rdir, { recursive: true, force: true });
  }
});

test('identity is node-local: a snapshot never ships it', async () => {
  const dir = tmp('snapident');
  try {
    const j = await RocksJournal.open(dir, { dedupWindow: 10, retention: 10 });
    try {
      await checkIdentity(j.db, { dir, mode: 'replicated', group: 'g1', node: 's1' });
      await j.recover();
      await j.write([{ epoch: 1, position: 1, time: 0, ops: [] }], false);
      const shipped: string[] = [];
      await j.snapshot((items) => { for (const kv of items) shipped.push(kv.key.toString()); });
      assert.ok(shipped.includes('meta\u0000position'), 'the snapshot has the indexes');
      assert.ok(!shipped.includes(IDENTITY_KEY), 'but not the identity record');
    } finally {
      await j.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('disk watermark: free bytes of the data dir\'s filesystem as a gauge and Store.diskFree; a rate-limited warning below journal.diskWarnBytes', async () => {
  const dir = tmp('diskfree');
  try {
    const registry = createRegistry('store');
    const s = makeStore(['--group', 'g1', '--node.id', 'a', '--node.dataDir', dir], registry);
    await s.start();
    try {
      const free = s.diskFree;
      assert.ok(free && free.free > 0 && free.total >= free.free, `diskFree ${JSON.stringify(free)}`);
      const text = await registry.metrics();
      assert.match(text, /hawser_store_disk_free_bytes\{[^}]*\} \d+/);
      assert.match(text, /hawser_store_journal_failed\{[^}]*\} 0/);
    } finally {
      await s.stop();
    }

    // Below the threshold: one warning per interval however often it is measured.
    const warnings: Array<Record<string, unknown>> = [];
    const log = { warn: (fields: Record<string, unknown>) => { warnings.push(fields); }, info: () => undefined } as unknown as Logger;
    const w = new DiskWatch({ dir, warnBytes: Number.MAX_SAFE_INTEGER, checkMs: 60_000, log, warnEveryMs: 60_000 });
    for (let i = 0; i < 5; i++) await w.check();
    assert.equal(warnings.length, 1, 'rate-limited');
    assert.equal(warnings[0]!.dataDir, dir);
    assert.ok(Number(warnings[0]!.freeBytes) > 0);
    const quiet = new DiskWatch({ dir, warnBytes: 0, checkMs: 60_000, log });
    await quiet.check();
    assert.equal(warnings.length, 1, 'warnBytes 0: never warns');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---- a diverged replica ---------------------------------------------------------------------

async function sendAll(n: TestNode, bodies: string[]): Promise<void> {
  const p = new TestSession(nodeAddr(n));
  await p.open();
  await p.receipted(bodies.map((b) => p.send('/queue/d', b, { id: `ID:${b}` })));
  p.close();
}

test('a replica whose log diverged below its commit point says diverged, refuses Prepare (also after a restart) and re-syncs once wiped', async () => {
  const all = testNodes();
  const [s1, , s3] = all as [TestNode, TestNode, TestNode];
  try {
    await bootServing(all); // s1 master of epoch 1
    await sendAll(s1, ['a1', 'a2', 'a3']);
    await checkFor('s3 has everything', () => s3.store!.repl!.replica.commitPosition === s1.store!.repl!.replica.lastPosition);
    const common = s3.store!.repl!.replica.lastPosition;
    await stopNode(s3);

    // The group goes on in epoch 2 without s3.
    await electServing(2, s1, all);
    await sendAll(s1, ['b1', 'b2']);

    // Meanwhile s3's directory gets entries the group never committed, through the store's own
    // journal writer, as a standalone run on the same directory once did: positions after
    // `common`, epoch 1, and an applied (= committed) position past them.
    const j = await RocksJournal.open(s3.dir, { dedupWindow: 100, retention: 1000 });
    await j.recover();
    const forged = Array.from({ length: 10 }, (_, i) => ({ epoch: 1, position: common + 1 + i, time: Date.now(), ops: [] }));
    await j.write(forged, true);
    await j.close();

    // Back in the group: the master's first append overwrites a position s3 counts as committed.
    await bootNode(s3);
    assert.equal(s3.store!.repl!.replica.lastPosition, common + 10, 's3 restarted with the longest log');
    assert.equal((await assign(s3, 2, 'slave', s1, all)).accepted, true);
    await checkFor('s3 diverged', async () => (await nodeStatus(s3)).role === 'diverged');
    assert.equal(s3.store!.ready, false, '/readyz fails');
    assert.match(s3.store!.repl!.diverged ?? '', /overwrites committed position/);
    assert.match(await s3.registry!.metrics(), /hawser_store_diverged\{[^}]*\} 1/);
    assert.match(await s3.registry!.metrics(), /hawser_store_role\{role="diverged"[^}]*\} 1/);
    // It cannot win an election with those entries: it promises nothing, takes no role.
    const p3 = await prepare(s3, 3);
    assert.equal(p3.promised, false);
    assert.match(p3.reason, /diverged.*wipe its data directory/);
    assert.equal((await assign(s3, 2, 'slave', s1, all)).accepted, false);
    // The group is unaffected: s1 and s2 still commit.
    await sendAll(s1, ['c1']);

    // After a restart it knows before any append (saved): still no promise.
    await stopNode(s3);
    await bootNode(s3);
    assert.equal((await nodeStatus(s3)).role, 'diverged');
    assert.equal((await prepare(s3, 3)).promised, false);
    assert.equal(s3.store!.ready, false);

    // The advice works: wipe the directory, start again, it re-syncs from the master.
    await stopNode(s3);
    rmSync(s3.dir, { recursive: true, force: true });
    await bootNode(s3);
    assert.equal((await assign(s3, 2, 'slave', s1, all)).accepted, true);
    await checkFor('s3 re-synced', () => s3.store!.repl!.replica.lastPosition === s1.store!.repl!.replica.lastPosition &&
      s3.store!.repl!.appliedPosition === s1.store!.repl!.replica.commitPosition).catch((e: unknown) => {
      // Each node's positions and write queue, for whoever meets this failing (a wiped member that took nothing showed last 0).
      const state = all.filter((n) => n.store).map((n) => {
        const r = n.store!.repl! as unknown as { replica: { lastPosition: number; commitPosition: number; persistedPosition: number; role: string }; appliedPosition: number; writing: boolean; writes: Array<{ kind: string }>; diskLast: number };
        return { id: n.id, role: r.replica.role, last: r.replica.lastPosition, commit: r.replica.commitPosition, persisted: r.replica.persistedPosition, applied: r.appliedPosition, diskLast: r.diskLast, writing: r.writing, queued: r.writes.map((w) => w.kind).join(',') };
      });
      throw new Error(`${(e as Error).message}: ${JSON.stringify(state)}`);
    });
    assert.equal((await nodeStatus(s3)).role, 'slave');
    assert.deepEqual(s3.store!.repl!.replica.positions().filter(([, p]) => p > common),
      s1.store!.repl!.replica.positions().filter(([, p]) => p > common));
  } finally {
    await cleanupNodes(all);
  }
});

test('a wiped member re-syncs though the master knew it in a later life: incarnations grow across a wipe, and a restart always raises one', async () => {
  const all = testNodes();
  const [s1, , s3] = all as [TestNode, TestNode, TestNode];
  try {
    await bootServing(all); // s1 master of epoch 1
    await sendAll(s1, ['a1', 'a2']);
    // A few lives of s3, each caught up (so the master last heard it at its highest incarnation).
    const lives: number[] = [s3.store!.repl!.replica.incarnation];
    for (let i = 0; i < 3; i++) {
      await stopNode(s3);
      await bootNode(s3);
      lives.push(s3.store!.repl!.replica.incarnation);
      assert.equal((await assign(s3, 1, 'slave', s1, all)).accepted, true);
      await sendAll(s1, [`b${i}`]);
      await checkFor(`s3 caught up in life ${i + 2}`, () => s3.store!.repl!.appliedPosition === s1.store!.repl!.replica.commitPosition);
    }
    for (let i = 1; i < lives.length; i++) assert.ok(lives[i]! > lives[i - 1]!, `a restart raises the incarnation: ${lives.join(' < ')}`);
    await stopNode(s3);
    await sendAll(s1, ['c1', 'c2']);

    // Wiped: an empty directory starts a life the master must see as newer than all of those,
    // or it takes the new life's rejects for late messages of an old one and never re-syncs it.
    rmSync(s3.dir, { recursive: true, force: true });
    await bootNode(s3);
    assert.ok(s3.store!.repl!.replica.incarnation > lives[lives.length - 1]!, `the wiped directory's first life (${s3.store!.repl!.replica.incarnation}) is above its last (${lives[lives.length - 1]})`);
    assert.equal((await assign(s3, 1, 'slave', s1, all)).accepted, true);
    await checkFor('the wiped s3 re-synced', () => s3.store!.repl!.replica.lastPosition === s1.store!.repl!.replica.lastPosition &&
      s3.store!.repl!.appliedPosition === s1.store!.repl!.replica.commitPosition);
  } finally {
    await cleanupNodes(all);
  }
});
