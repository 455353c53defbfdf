// Producer flow control and scoped dedup through a real store (gRPC sessions, RocksDB), and
// what a restart keeps of them (store usage from the b\0 records, dedup keys from x\0).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@hawser/config';
import { createLogger, createRegistry, type prom } from '@hawser/observability';
import { schema, validate } from './config';
import { Store } from './store';
import { checkFor, TestSession } from './testing';

async function startStore(dir: string, extra: string[] = []): Promise<{ store: Store; registry: prom.Registry }> {
  const config = validate(loadConfig(schema, { argv: ['--node.id', 's1', '--group', 'g1', '--node.dataDir', dir, '--grpc.port', '0', ...extra], env: {} }).config);
  const registry = createRegistry('store');
  const store = new Store({ config, log: createLogger({ service: 'store', level: 'warn' }), registry });
  await store.start();
  return { store, registry };
}

async function metric(registry: prom.Registry, name: string): Promise<number> {
  const text = await registry.metrics();
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : Number.NaN;
}

async function session(store: Store, login: string): Promise<TestSession> {
  const s = new TestSession(`127.0.0.1:${store.grpcPort}`);
  s.request({ kind: 'open', open: { connectionId: `c-${login}`, clientId: '', login, gateway: 'test' }, requestId: 0 });
  await checkFor('opened', () => s.events.some((e) => e.kind === 'opened'));
  return s;
}

const errorsOf = (s: TestSession) => s.events.flatMap((e) => (e.kind === 'error' ? [e.error] : []));

test('storeLimit: a producer\'s receipts stop at the limit, a consumer drains, every message arrives once; the usage survives a restart', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hawser-flow-'));
  // 100 bytes a message (body 85, id 4, destination 11): the 5th reaches 500.
  const args = ['--broker.storeLimit', '500'];
  let { store, registry } = await startStore(dir, args);
  try {
    const p = await session(store, 'alice');
    const ids = Array.from({ length: 12 }, (_, i) => p.send('/queue/flow', 'x'.repeat(85), { id: `m-${String(i).padStart(2, '0')}` }));
    await p.receipted(ids.slice(0, 5));
    await checkFor('producer blocked', async () => (await metric(registry, 'hawser_store_producers_blocked')) === 1);
    await checkFor('7 held', async () => (await metric(registry, 'hawser_store_requests_held')) === 7);
    assert.equal(await metric(registry, 'hawser_store_store_usage_bytes'), 500);
    assert.ok(!p.receipts().has(ids[5]!), 'no receipt while held');
    assert.ok(await metric(registry, 'hawser_store_sends_held_total') >= 1);

    const c = await session(store, 'carol');
    c.subscribe('s', '/queue/flow', { prefetch: 2 });
    const acked = new Set<number>();
    await checkFor('12 deliveries', () => {
      for (const d of c.deliveries()) if (!acked.has(d.deliveryTag)) { acked.add(d.deliveryTag); c.ack(d.deliveryTag); }
      return c.deliveries().length >= 12;
    }, 20_000);
    await p.receipted(ids);
    const got = c.deliveries().map((d) => d.message.id);
    assert.deepEqual(got, ids.map((_, i) => `m-${String(i).padStart(2, '0')}`), 'each once, in order');
    await checkFor('unblocked', async () => (await metric(registry, 'hawser_store_producers_blocked')) === 0);

    // Leave 3 stored, restart: the usage is read back from disk.
    const q = await session(store, 'alice');
    const more = [0, 1, 2].map((i) => q.send('/queue/flow2', 'y'.repeat(84), { id: `n-${String(i).padStart(2, '0')}` }));
    await q.receipted(more);
    await checkFor('acks applied', async () => (await metric(registry, 'hawser_store_store_usage_bytes')) === 300);
    for (const s of [p, c, q]) s.close();
    await store.stop();
    ({ store, registry } = await startStore(dir, args));
    assert.equal(await metric(registry, 'hawser_store_store_usage_bytes'), 300);
  } finally {
    await store.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sendFailIfNoSpace: the SEND beyond the memory limit gets NO_SPACE at once, and is counted', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hawser-flow-'));
  const { store, registry } = await startStore(dir, ['--broker.memoryLimit', '100', '--broker.sendFailIfNoSpace', 'true']);
  try {
    const p = await session(store, 'alice');
    const ok = p.send('/queue/np', 'x'.repeat(200), { id: 'a', persistent: false });
    await p.receipted([ok]);
    const refused = p.send('/queue/np', 'y', { id: 'b', persistent: false });
    await checkFor('NO_SPACE', () => errorsOf(p).some((e) => e.requestId === refused));
    const e = errorsOf(p).find((x) => x.requestId === refused)!;
    assert.equal(e.code, 'NO_SPACE');
    assert.match(e.message, /broker\.memoryLimit/);
    assert.equal(await metric(registry, 'hawser_store_sends_refused_total'), 1);
    assert.ok(await metric(registry, 'hawser_store_memory_usage_bytes') >= 200);
    p.close();
  } finally {
    await store.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('dedup per login survives a restart: bob\'s message with alice\'s id is stored, alice\'s resend is dropped', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hawser-flow-'));
  let { store, registry } = await startStore(dir);
  try {
    const a = await session(store, 'alice');
    await a.receipted([a.send('/queue/d', 'from-alice', { id: 'ID:shared' })]);
    const b = await session(store, 'bob');
    await b.receipted([b.send('/queue/d', 'from-bob', { id: 'ID:shared' })]);
    const tooLong = b.send('/queue/d', 'x', { id: 'i'.repeat(300) });
    await checkFor('refused', () => errorsOf(b).some((e) => e.requestId === tooLong && e.code === 'BAD_REQUEST'));
    a.close();
    b.close();
    await store.stop();
    ({ store, registry } = await startStore(dir));
    const a2 = await session(store, 'alice');
    await a2.receipted([a2.send('/queue/d', 'from-alice', { id: 'ID:shared' })]); // receipted, not stored
    assert.equal(await metric(registry, 'hawser_store_dedup_hits_total'), 1);
    const c = await session(store, 'carol');
    c.subscribe('s', '/queue/d');
    await checkFor('2 deliveries', () => c.deliveries().length >= 2);
    // Quiet for a moment more: nothing else comes.
    const more = c.send('/queue/other', 'probe');
    await c.receipted([more]);
    assert.deepEqual(c.deliveries().map((d) => d.message.body.toString()).sort(), ['from-alice', 'from-bob']);
    a2.close();
    c.close();
  } finally {
    await store.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
