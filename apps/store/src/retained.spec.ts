// Retained messages and wildcard subscriptions in the store: the r\0 records (journal round
// trip, recovery, snapshot), a restarted standalone store, and a replicated group whose master
// is stopped (the promoted slave, and a slave caught up by snapshot, serve the retained messages).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JournalOp, Message } from '@hawser/broker';
import { loadConfig } from '@hawser/config';
import { createLogger, createRegistry } from '@hawser/observability';
import { schema, validate } from './config';
import { RocksJournal } from './journal';
import { Store } from './store';
import { checkFor, TestSession } from './testing';
import { assign, bootNode, cleanupNodes, elect, nodeAddr, testNodes, type TestNode } from './testing-group';

const RETAIN = { 'ActiveMQ.Retain': 'true' };
const LOG_LEVEL = process.env.HAWSER_TEST_LOG ?? 'silent';

const msg = (destination: string, body: string, over: Partial<Message> = {}): Message => ({
  id: `ID:${destination}:${body}`, destination, headers: { ...RETAIN }, body: Buffer.from(body), persistent: true, priority: 4, expires: 0, timestamp: 1, ...over,
});
const retain = (m: Message): JournalOp => ({ kind: 'retain', retain: { message: m } });
const drop = (topic: string): JournalOp => ({ kind: 'dropRetained', dropRetained: { topic } });

const tempDir = (name: string) => mkdtempSync(join(tmpdir(), `hawser-${name}-`));

test('r\\0 records: set, replace, clear — in one batch and across batches — recover as the last state; a snapshot carries them', async () => {
  const dir = tempDir('retained-journal');
  const dir2 = tempDir('retained-install');
  try {
    let j = await RocksJournal.open(dir, { dedupWindow: 100, retention: 1000 });
    await j.recover();
    await j.write([
      { epoch: 1, position: 1, time: 0, ops: [retain(msg('/topic/a.b', 'v1')), retain(msg('/topic/a.b', 'v2')), retain(msg('/topic/gone', 'x'))] },
      { epoch: 1, position: 2, time: 0, ops: [drop('/topic/gone'), retain(msg('/topic/$SYS.x', 'sys', { persistent: false, headers: { ...RETAIN, k: 'v' } }))] },
    ], false);
    await j.write([{ epoch: 1, position: 3, time: 0, ops: [retain(msg('/topic/c', 'c')), drop('/topic/c'), drop('/topic/never')] }], false);
    await j.close();
    j = await RocksJournal.open(dir, { dedupWindow: 100, retention: 1000 });
    const r = await j.recover();
    const seen = (r.retained ?? []).map((m) => [m.destination, m.body.toString(), m.persistent, m.headers.k ?? '']).sort();
    assert.deepEqual(seen, [['/topic/$SYS.x', 'sys', false, 'v'], ['/topic/a.b', 'v2', true, '']]);
    assert.ok(Buffer.isBuffer(r.retained![0]!.body));

    // A snapshot ships them; installing it on another store restores them.
    const items: Array<{ key: Buffer; value: Buffer }> = [];
    const at = await j.snapshot((chunk) => { items.push(...chunk); });
    assert.equal(at.position, 3);
    const other = await RocksJournal.open(dir2, { dedupWindow: 100, retention: 1000 });
    await other.recover();
    await other.write([{ epoch: 1, position: 1, time: 0, ops: [retain(msg('/topic/stale', 'wiped by the install'))] }], false);
    await other.install(items, at.epoch, at.position, false);
    const r2 = await other.recover();
    assert.deepEqual((r2.retained ?? []).map((m) => m.destination).sort(), ['/topic/$SYS.x', '/topic/a.b']);
    await other.close();
    await j.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(dir2, { recursive: true, force: true });
  }
});

async function startStore(dir: string, extra: string[] = []): Promise<Store> {
  const config = validate(loadConfig(schema, { argv: ['--node.id', 's1', '--group', 'g1', '--node.dataDir', dir, '--grpc.port', '0', ...extra], env: {} }).config);
  const store = new Store({ config, log: createLogger({ service: 'store', level: LOG_LEVEL }), registry: createRegistry('store') });
  await store.start();
  return store;
}

const bodiesOf = (s: TestSession) => s.deliveries().map((d) => `${d.message.destination} ${d.message.body.toString()}${d.message.headers['ActiveMQ.Retained'] === 'true' ? ' (retained)' : ''}`).sort();

test('standalone over gRPC: retained messages and a durable wildcard subscription survive a restart; broker.maxRetained refuses one more', async () => {
  const dir = tempDir('retained-store');
  let store = await startStore(dir, ['--broker.maxRetained', '2']);
  try {
    const a = new TestSession(`127.0.0.1:${store.grpcPort}`);
    await a.open('client-a');
    await a.receipted([a.subscribe('d', '/topic/a.>', { durableName: 'dn' })]);
    a.close();
    const p = new TestSession(`127.0.0.1:${store.grpcPort}`);
    await p.open();
    await p.receipted([
      p.send('/topic/a.b', 'kept', { headers: RETAIN }),
      p.send('/topic/a.b.c', 'while away'),
      p.send('/topic/x', 'x', { headers: RETAIN, persistent: false }),
    ]);
    const refused = p.send('/topic/y', 'one too many', { headers: RETAIN });
    await checkFor('LIMIT_EXCEEDED', () => p.events.some((e) => e.kind === 'error' && e.error.requestId === refused && e.error.code === 'LIMIT_EXCEEDED' && e.error.message.includes('broker.maxRetained')));
    p.close();
    await store.stop();

    store = await startStore(dir, ['--broker.maxRetained', '2']);
    const a2 = new TestSession(`127.0.0.1:${store.grpcPort}`);
    await a2.open('client-a');
    a2.subscribe('d', '/topic/a.>', { durableName: 'dn' });
    await checkFor('backlog delivered', () => a2.deliveries().length === 2);
    // The durable subscription's backlog (a.b was published after it was made, a.b.c too): no
    // retained copy, the subscription already existed.
    assert.deepEqual(bodiesOf(a2), ['/topic/a.b kept', '/topic/a.b.c while away']);
    const n = new TestSession(`127.0.0.1:${store.grpcPort}`);
    await n.open();
    n.subscribe('all', '/topic/>');
    await checkFor('retained delivered', () => n.deliveries().length === 2);
    assert.deepEqual(bodiesOf(n), ['/topic/a.b kept (retained)', '/topic/x x (retained)']);
    const metrics = await (store as unknown as { deps: { registry: { metrics(): Promise<string> } } }).deps.registry.metrics();
    assert.match(metrics, /^hawser_store_retained_messages(\{[^}]*\})? 2$/m);
    assert.match(metrics, /^hawser_store_retained_bytes(\{[^}]*\})? [1-9]\d*$/m);
    a2.close();
    n.close();
  } finally {
    await store.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---- a replicated group in-process (as replicated.spec.ts: the test plays the coordinator) ----

test('replicated: retained messages set on the master are served by the promoted slave and by a slave caught up by snapshot', async () => {
  const all = testNodes(['--journal.retention', '5']);
  const [s1, s2, s3] = all as [TestNode, TestNode, TestNode];
  try {
    await bootNode(s1);
    await bootNode(s2);
    await elect(1, s1, all);
    await checkFor('s1 serving', () => s1.store!.serving);
    const p = new TestSession(nodeAddr(s1));
    await p.open();
    const ids = [
      p.send('/topic/a.b', 'old', { headers: RETAIN }),
      p.send('/topic/a.b', 'new', { headers: RETAIN }),
      p.send('/topic/a.c', 'cleared', { headers: RETAIN }),
      p.send('/topic/a.c', '', { headers: RETAIN }),
    ];
    for (let i = 0; i < 20; i++) ids.push(p.send('/queue/filler', `f${i}`)); // past journal.retention: s3 needs a snapshot
    ids.push(p.send('/topic/z', 'z', { headers: RETAIN, persistent: false }));
    await p.receipted(ids);
    p.close();
    await checkFor('s1 compacted', () => s1.store!.repl!.replica.firstPosition > 5);

    await bootNode(s3);
    assert.equal((await assign(s3, 1, 'slave', s1, all)).accepted, true);
    await checkFor('s3 caught up by snapshot', () => s3.store!.repl!.replica.snapshotPosition > 0 &&
      s3.store!.repl!.appliedPosition === s1.store!.repl!.replica.commitPosition, 15_000);
    await checkFor('s2 applied', () => s2.store!.repl!.appliedPosition === s1.store!.repl!.replica.commitPosition);

    await s1.store!.stop();
    s1.store = null;
    for (const [epoch, master] of [[2, s2], [3, s3]] as Array<[number, TestNode]>) {
      await elect(epoch, master, all);
      await checkFor(`${master.id} serving`, () => master.store!.serving);
      const c = new TestSession(nodeAddr(master));
      await c.open();
      c.subscribe('w', '/topic/a.*');
      c.subscribe('z', '/topic/z');
      await checkFor(`retained from ${master.id}`, () => c.deliveries().length === 2);
      assert.deepEqual(bodiesOf(c), ['/topic/a.b new (retained)', '/topic/z z (retained)'], `on ${master.id}`);
      c.close();
    }
  } finally {
    await cleanupNodes(all);
  }
});
