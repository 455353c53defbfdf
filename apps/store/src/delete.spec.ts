// Admin.Delete on a real store over gRPC, and the forget op in RocksDB: a deleted queue is gone
// with its messages and records (not recovered by a restart), frees a broker.maxDestinations
// slot, loses its metric series; refused while it has consumers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JournalOp } from '@hawser/broker';
import { loadConfig } from '@hawser/config';
import { createLogger, createRegistry, type prom } from '@hawser/observability';
import { adminService, CHANNEL_OPTIONS, grpc, type DeleteReply, type DestinationsReply, type StatusReply } from '@hawser/proto';
import { schema, validate } from './config';
import { RocksJournal, keys } from './journal';
import { Store } from './store';
import { adminBrowse as browse, adminCall as call, checkFor, TestSession, unary, type AdminClient as Admin } from './testing';
import { bootNode, cleanupNodes, electServing, nodeAddr, testNodes, type TestNode } from './testing-group';

async function startStore(dir: string, registry: prom.Registry, extra: string[] = []): Promise<Store> {
  const config = validate(loadConfig(schema, { argv: ['--node.id', 's1', '--group', 'g1', '--node.dataDir', join(dir, 'data'), '--grpc.port', '0', ...extra], env: {} }).config);
  const store = new Store({ config, log: createLogger({ service: 'store', level: 'warn' }), registry });
  await store.start();
  return store;
}

const listed = async (admin: Admin) => (await call<DestinationsReply>(admin, 'Destinations', { prefix: '' })).destinations.map((d) => `${d.name}:${d.depth}`);

test('Admin.Delete: refused with consumers; then the queue, its messages and its metric series go, and a restart does not bring it back', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hawser-delete-'));
  let registry = createRegistry('store');
  let store = await startStore(dir, registry, ['--broker.maxDestinations', '2']);
  const open = () => new (adminService())(`127.0.0.1:${store.grpcPort}`, grpc.credentials.createInsecure(), CHANNEL_OPTIONS) as unknown as Admin;
  let admin = open();
  const sessions: TestSession[] = [];
  const session = async () => { const s = new TestSession(`127.0.0.1:${store.grpcPort}`); sessions.push(s); await s.open(); return s; };
  try {
    const p = await session();
    const ids = [p.send('/queue/a', 'a1'), p.send('/queue/a', 'a2'), p.send('/queue/a', 'a3'), p.send('/queue/b', 'b1')];
    await p.receipted(ids);
    const c = await session();
    c.subscribe('s', '/queue/a', { prefetch: 1 });
    await checkFor('a delivery', () => c.deliveries().length === 1);

    await assert.rejects(call(admin, 'Delete', { destination: '/queue/a' }), (e: grpc.ServiceError) =>
      e.code === grpc.status.FAILED_PRECONDITION && e.details === "IN_USE: queue '/queue/a' has 1 consumer: close its 1 consumer first, then delete it");
    await assert.rejects(call(admin, 'Delete', { destination: '/queue/none' }), (e: grpc.ServiceError) => e.code === grpc.status.NOT_FOUND);
    await assert.rejects(call(admin, 'Delete', { destination: 'none' }), (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT);
    assert.deepEqual(await listed(admin), ['/queue/a:3', '/queue/b:1']);

    c.close();
    await checkFor('the consumer gone', async () => (await call<DestinationsReply>(admin, 'Destinations', { prefix: '/queue/a' })).destinations[0]?.consumers === 0);
    const metricsBefore = await registry.metrics();
    assert.match(metricsBefore, /hawser_store_messages_enqueued_total\{[^}]*destination="\/queue\/a"[^}]*\} 3\n/);
    const r = await call<DeleteReply>(admin, 'Delete', { destination: '/queue/a' });
    assert.equal(Number(r.removed), 3);
    assert.deepEqual(await listed(admin), ['/queue/b:1']);
    assert.deepEqual(await browse(admin, '/queue/a'), []);
    const metricsAfter = await registry.metrics();
    assert.doesNotMatch(metricsAfter, /destination="\/queue\/a"/, 'its series are dropped');
    assert.match(metricsAfter, /hawser_store_messages_enqueued_total\{[^}]*destination="\/queue\/b"[^}]*\} 1\n/);

    // Its broker.maxDestinations slot is free: /queue/c fits beside /queue/b.
    const c2 = p.send('/queue/c', 'c1');
    await p.receipted([c2]);

    admin.close();
    for (const s of sessions.splice(0)) s.close();
    await store.stop();
    registry = createRegistry('store');
    store = await startStore(dir, registry, ['--broker.maxDestinations', '2']);
    admin = open();
    assert.deepEqual(await listed(admin), ['/queue/b:1', '/queue/c:1'], 'the deleted queue is not recovered');
    assert.deepEqual(await browse(admin, '/queue/a'), []);
    // Made anew by a SEND after the restart, it holds only the new message.
    const p2 = await session();
    await p2.receipted([p2.send('/queue/c', 'c2')]);
    assert.deepEqual(await listed(admin), ['/queue/b:1', '/queue/c:2']);
    const d = await call<DeleteReply>(admin, 'Delete', { destination: '/queue/c' });
    assert.equal(Number(d.removed), 2);
    await p2.receipted([p2.send('/queue/a', 'again')]);
    assert.deepEqual((await browse(admin, '/queue/a')).map((m) => Buffer.from(m.body).toString()), ['again']);
  } finally {
    for (const s of sessions) s.close();
    admin.close();
    await store.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('RocksJournal: a forget drops the queue\'s q\\0/b\\0 records after its purge; an enqueue later in the batch makes them anew', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hawser-delete-journal-'));
  const enqueue = (queue: string, seq: number): JournalOp => ({
    kind: 'enqueue',
    enqueue: { message: { id: `ID:${seq}`, destination: queue, headers: {}, body: Buffer.from('xyz'), persistent: true, priority: 4, expires: 0, timestamp: 0 }, queues: [queue], seq, dedup: false },
  });
  const del = (queue: string, upToSeq: number): JournalOp[] => [{ kind: 'purge', purge: { queue, upToSeq, keep: [], keepBytes: 0 } }, { kind: 'forget', forget: { destination: queue } }];
  let j = await RocksJournal.open(dir, { dedupWindow: 100, retention: 1000 });
  try {
    await j.recover();
    await j.write([{ epoch: 1, position: 1, time: 0, ops: [enqueue('/queue/x', 1), enqueue('/queue/x', 2), enqueue('/queue/y', 3)] }], false);
    await j.write([
      { epoch: 1, position: 2, time: 0, ops: [enqueue('/queue/y', 4), ...del('/queue/y', 4)] },
      { epoch: 1, position: 3, time: 0, ops: del('/queue/x', 4) },
      { epoch: 1, position: 4, time: 0, ops: [enqueue('/queue/x', 5)] },
    ], false);
    assert.equal(await j.db.get(keys.queue('/queue/y')), undefined);
    assert.equal(await j.db.get(keys.bytes('/queue/y')), undefined);
    await j.close();
    j = await RocksJournal.open(dir, { dedupWindow: 100, retention: 1000 });
    const r = await j.recover();
    assert.deepEqual(r.queues.map((q) => [q.id, q.stored]), [['/queue/x', 1]], 'y is gone; x holds only the message sent after its delete');
    const page = await j.readPage('/queue/x', '', 10);
    assert.deepEqual(page.page.map((m) => m.seq), [5]);
    assert.deepEqual((await j.readPage('/queue/y', '', 10)).page, []);
  } finally {
    await j.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---- a replicated group: the slaves apply the deletion, a promoted slave and a restarted one agree ----

const destinationsOf = async (n: TestNode) => (await unary<object, DestinationsReply>(adminService(), nodeAddr(n), 'Destinations', { prefix: '' })).destinations.map((d) => `${d.name}:${d.depth}`).sort();

test('replicated: Admin.Delete on the master only; the slaves apply it, a promoted slave and a restarted one do not bring the queue back', async () => {
  const all = testNodes();
  const [s1, s2, s3] = all as [TestNode, TestNode, TestNode];
  try {
    for (const n of all) await bootNode(n);
    await electServing(1, s1, all);
    const p = new TestSession(nodeAddr(s1));
    await p.open();
    await p.receipted([p.send('/queue/a', 'a1'), p.send('/queue/a', 'a2'), p.send('/queue/b', 'b1')]);
    p.close();

    await assert.rejects(unary(adminService(), nodeAddr(s2), 'Delete', { destination: '/queue/a' }), (e: grpc.ServiceError) =>
      e.code === grpc.status.FAILED_PRECONDITION && e.details.includes('the master is s1'));
    const r = await unary<object, DeleteReply>(adminService(), nodeAddr(s1), 'Delete', { destination: '/queue/a' });
    assert.equal(Number(r.removed), 2);
    for (const n of all) await checkFor(`${n.id} applied the delete`, async () => (await destinationsOf(n)).join() === '/queue/b:1');

    // s3 restarts on its own disk: the forget was materialized there too.
    await s3.store!.stop();
    await bootNode(s3);
    assert.deepEqual(await destinationsOf(s3), ['/queue/b:1']);

    // s1 goes; s2 is promoted and serves without /queue/a; a SEND makes it anew, empty but for it.
    await s1.store!.stop();
    s1.store = null;
    await electServing(2, s2, all);
    assert.deepEqual(await destinationsOf(s2), ['/queue/b:1']);
    const p2 = new TestSession(nodeAddr(s2));
    await p2.open();
    await p2.receipted([p2.send('/queue/a', 'again')]);
    p2.close();
    assert.deepEqual(await destinationsOf(s2), ['/queue/a:1', '/queue/b:1']);
    await checkFor('s3 follows s2', async () => (await destinationsOf(s3)).join() === '/queue/a:1,/queue/b:1');
    assert.equal((await unary<object, StatusReply>(adminService(), nodeAddr(s3), 'Status', {})).role, 'slave');
  } finally {
    await cleanupNodes(all);
  }
});
