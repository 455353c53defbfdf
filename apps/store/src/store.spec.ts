import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@hawser/config';
import { createLogger, createRegistry } from '@hawser/observability';
import { adminService, CHANNEL_OPTIONS, grpc, type DestinationsReply } from '@hawser/proto';
import { schema, validate } from './config';
import { Store } from './store';
import { RocksJournal } from './journal';
import { decodeEntry } from './codec';
import { checkFor, TestSession } from './testing';

async function startStore(dir: string, extra: string[] = []): Promise<Store> {
  const config = validate(loadConfig(schema, { argv: ['--node.id', 's1', '--group', 'g1', '--node.dataDir', dir, '--grpc.port', '0', ...extra], env: {} }).config);
  const store = new Store({ config, log: createLogger({ service: 'store', level: 'warn' }), registry: createRegistry('store') });
  await store.start();
  return store;
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'hawser-store-'));
}

test('persistent send is receipted, consumed, acked; a restart keeps unacked and drops acked', async () => {
  const dir = tempDir();
  let store = await startStore(dir);
  try {
    const p = new TestSession(`127.0.0.1:${store.grpcPort}`);
    await p.open();
    const ids = [1, 2, 3, 4].map((i) => p.send('/queue/orders', `m${i}`, { id: `ID:${i}` }));
    await p.receipted(ids);
    const c = new TestSession(`127.0.0.1:${store.grpcPort}`);
    await c.open();
    c.subscribe('s1', '/queue/orders');
    await checkFor('4 deliveries', () => c.deliveries().length === 4);
    const d = c.deliveries();
    assert.deepEqual(d.map((x) => x.message.body.toString()), ['m1', 'm2', 'm3', 'm4']);
    assert.ok(d[0]!.message.timestamp > 0, 'the store sets the timestamp');
    const acks = [c.ack(d[0]!.deliveryTag), c.ack(d[2]!.deliveryTag)];
    await c.receipted(acks);
    p.close();
    c.close();
    await store.stop();

    store = await startStore(dir);
    const c2 = new TestSession(`127.0.0.1:${store.grpcPort}`);
    await c2.open();
    c2.subscribe('s1', '/queue/orders');
    await checkFor('2 deliveries after restart', () => c2.deliveries().length === 2);
    assert.deepEqual(c2.deliveries().map((x) => x.message.body.toString()), ['m2', 'm4']);

    // The journal holds the entries in protobuf, positions without gaps.
    const admin = new (adminService())(`127.0.0.1:${store.grpcPort}`, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
    const reply = await new Promise<DestinationsReply>((resolve, reject) =>
      (admin as unknown as { Destinations(r: object, cb: (e: Error | null, r: DestinationsReply) => void): void }).Destinations({ prefix: '/queue/' }, (e, r) => (e ? reject(e) : resolve(r))));
    const q = reply.destinations.find((x) => x.name === '/queue/orders');
    assert.equal(q?.depth, 2);
    admin.close();
    c2.close();
  } finally {
    await store.stop();
  }
  const j = await RocksJournal.open(dir, { dedupWindow: 10, retention: 100 });
  try {
    const entries = (await j.entries(1, 100)).map((b) => decodeEntry(b));
    assert.deepEqual(entries.map((e) => e.position), entries.map((_e, i) => i + 1));
    assert.equal(entries[0]!.ops[0]!.kind, 'enqueue');
  } finally {
    await j.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('topics fan out over gRPC; a durable subscriber gets what was published while away, after a restart', async () => {
  const dir = tempDir();
  let store = await startStore(dir);
  try {
    const a = new TestSession(`127.0.0.1:${store.grpcPort}`);
    await a.open('client-a');
    await a.receipted([a.subscribe('d', '/topic/news', { durableName: 'n1' })]);
    a.close();
    const p = new TestSession(`127.0.0.1:${store.grpcPort}`);
    await p.open();
    await p.receipted([p.send('/topic/news', 'while-away', { id: 'ID:w' })]);
    p.close();
    await store.stop();
    store = await startStore(dir);
    const a2 = new TestSession(`127.0.0.1:${store.grpcPort}`);
    await a2.open('client-a');
    a2.subscribe('d', '/topic/news', { durableName: 'n1' });
    await checkFor('backlog delivered', () => a2.deliveries().length === 1);
    assert.equal(a2.deliveries()[0]!.message.body.toString(), 'while-away');
    a2.close();
  } finally {
    await store.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('dedup survives a restart; a bad destination is a fatal error', async () => {
  const dir = tempDir();
  let store = await startStore(dir);
  try {
    const p = new TestSession(`127.0.0.1:${store.grpcPort}`);
    await p.open();
    await p.receipted([p.send('/queue/d', 'x', { id: 'ID:dup' })]);
    p.close();
    await store.stop();
    store = await startStore(dir);
    const p2 = new TestSession(`127.0.0.1:${store.grpcPort}`);
    await p2.open();
    await p2.receipted([p2.send('/queue/d', 'x', { id: 'ID:dup' })]);
    assert.equal(store['core']!.destinations('/queue/d')[0]!.depth, 1);
    p2.send('/nowhere', 'x');
    await checkFor('fatal error', () => p2.events.some((e) => e.kind === 'error' && e.error.code === 'INVALID_DESTINATION' && e.error.fatal));
    await checkFor('stream ended', () => p2.ended);
    p2.close();
  } finally {
    await store.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a backlog larger than the page is paged in from RocksDB in order', async () => {
  const dir = tempDir();
  const store = await startStore(dir, ['--broker.pageSize', '50']);
  try {
    const p = new TestSession(`127.0.0.1:${store.grpcPort}`);
    await p.open();
    const ids: number[] = [];
    for (let i = 0; i < 500; i++) ids.push(p.send('/queue/big', `m${i}`));
    await p.receipted(ids);
    const w = store['core']!.windowOf('/queue/big')!;
    assert.ok(w.messages.length <= 100, `window ${w.messages.length}`);
    const c = new TestSession(`127.0.0.1:${store.grpcPort}`);
    await c.open();
    c.subscribe('s', '/queue/big', { prefetch: 20 });
    let acked = 0;
    await checkFor('all 500 delivered', () => {
      const d = c.deliveries();
      for (; acked < d.length; acked++) c.ack(d[acked]!.deliveryTag);
      return d.length === 500;
    }, 20_000);
    assert.deepEqual(c.deliveries().map((x) => x.message.body.toString()), [...Array(500).keys()].map((i) => `m${i}`));
    p.close();
    c.close();
  } finally {
    await store.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bridge support over gRPC: network session at priority -1 after local consumers, local/network counts, headers intact, Purge/Browse refusals', async () => {
  const dir = tempDir();
  const store = await startStore(dir);
  const address = `127.0.0.1:${store.grpcPort}`;
  const admin = new (adminService())(address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
  const call = <T>(method: string, req: object) => new Promise<T>((resolve, reject) => {
    (admin as unknown as Record<string, (r: object, cb: (e: Error | null, r: T) => void) => void>)[method]!(req, (e, r) => (e ? reject(e) : resolve(r)));
  });
  const browse = (destination: string) => new Promise<{ items: unknown[]; error: (Error & { code?: number }) | null }>((resolve) => {
    const items: unknown[] = [];
    const s = (admin as unknown as { Browse(r: object): grpc.ClientReadableStream<unknown> }).Browse({ destination, limit: 10, selector: '' });
    s.on('data', (i) => items.push(i));
    s.on('error', (e) => resolve({ items, error: e }));
    s.on('end', () => resolve({ items, error: null }));
  });
  try {
    const local = new TestSession(address);
    await local.open('local');
    const net = new TestSession(address);
    await net.open('bridge-g2', true);
    const p = new TestSession(address);
    await p.open();
    net.subscribe('b', '/queue/work', { priority: -1, prefetch: 10 });
    await net.receipted([net.subscribe('bt', '/topic/news', { priority: -1 })]);
    await local.receipted([local.subscribe('s', '/queue/work', { prefetch: 2 })]);
    const dests = await call<DestinationsReply>('Destinations', { prefix: '' });
    const byName = new Map(dests.destinations.map((d) => [d.name, d]));
    assert.deepEqual([byName.get('/queue/work')?.consumers, byName.get('/queue/work')?.localConsumers, byName.get('/queue/work')?.networkConsumers], [2, 1, 1]);
    assert.deepEqual([byName.get('/topic/news')?.consumers, byName.get('/topic/news')?.localConsumers, byName.get('/topic/news')?.networkConsumers], [1, 0, 1], 'a topic with subscribers and no message is listed');

    // Local first (prefetch 2), the bridge gets the overflow; headers arrive as sent.
    const headers = { 'hawser-visited': 'g2', 'hawser-hops': '1' };
    const ids: number[] = [];
    for (let i = 1; i <= 4; i++) ids.push(p.send('/queue/work', `m${i}`, { id: `ID:w-${i}`, headers }));
    await p.receipted(ids);
    await checkFor('4 deliveries', () => local.deliveries().length + net.deliveries().length === 4);
    assert.deepEqual(local.deliveries().map((d) => d.message.body.toString()), ['m1', 'm2']);
    assert.deepEqual(net.deliveries().map((d) => d.message.body.toString()), ['m3', 'm4']);
    for (const d of [...local.deliveries(), ...net.deliveries()]) assert.deepEqual(d.message.headers, headers);

    await assert.rejects(call('Purge', { destination: '/queue/none' }), (e: Error & { code?: number }) => e.code === grpc.status.NOT_FOUND && /does not exist/.test(e.message));
    await assert.rejects(call('Purge', { destination: '/topic/news' }), (e: Error & { code?: number }) => e.code === grpc.status.INVALID_ARGUMENT && /topics have no stored messages/.test(e.message));
    const b = await browse('/topic/news');
    assert.equal(b.error?.code, grpc.status.INVALID_ARGUMENT);
    assert.match(b.error!.message, /topics have no stored messages/);
    assert.equal((await browse('/queue/work')).items.length, 4);
    for (const s of [local, net, p]) s.close();
  } finally {
    admin.close();
    await store.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('broker.maxNonPersistent: a queue keeps the newest non-persistent messages, the rest are counted as discarded', async () => {
  const dir = tempDir();
  const registry = createRegistry('store');
  const config = validate(loadConfig(schema, { argv: ['--node.id', 's1', '--group', 'g1', '--node.dataDir', dir, '--grpc.port', '0', '--broker.maxNonPersistent', '5'], env: {} }).config);
  const store = new Store({ config, log: createLogger({ service: 'store', level: 'silent' }), registry });
  await store.start();
  try {
    const p = new TestSession(`127.0.0.1:${store.grpcPort}`);
    await p.open();
    await p.receipted(Array.from({ length: 12 }, (_, i) => p.send('/queue/np', `n${i}`, { persistent: false })));
    const metric = await registry.getSingleMetric('hawser_store_nonpersistent_discarded_total')!.get();
    assert.equal(metric.values.reduce((s, v) => s + v.value, 0), 7);
    const c = new TestSession(`127.0.0.1:${store.grpcPort}`);
    await c.open();
    c.subscribe('s', '/queue/np');
    await checkFor('5 deliveries', () => c.deliveries().length === 5);
    assert.deepEqual(c.deliveries().map((d) => d.message.body.toString()), ['n7', 'n8', 'n9', 'n10', 'n11']);
    p.close();
    c.close();
  } finally {
    await store.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
