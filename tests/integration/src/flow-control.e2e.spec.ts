// Producer flow control with real processes (issue 10): a producer that waits for its receipts
// is held at the store's limit — its receipts stop — until a consumer drains; then it goes on
// and every message arrives exactly once.
//   1. broker.storeLimit, persistent messages, a separate gateway (gRPC sessions).
//   2. broker.memoryLimit, non-persistent messages, the store's embedded gateway (in-process).
//   3. A producer without receipts: the gateway stops reading it at limits.producerWindow.
//   4. broker.sendFailIfNoSpace: the SEND past the limit gets an ERROR at once.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import type { StompClient } from '@hawser/client';
import { Harness, checkFor, httpGet } from './harness';
import { Clients, drain, unique } from './support';

/** A store gauge or counter from /metrics (no labels). */
async function metric(port: number, name: string): Promise<number> {
  const { body } = await httpGet(port, '/metrics');
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(body);
  if (!m) throw new Error(`${name} missing from /metrics`);
  return Number(m[1]);
}

const BODY = 'x'.repeat(1000);
const LIMIT = 20 * 1024;
const N = 60;

/**
 * Sends N messages at once, each awaiting its receipt; checks the store holds the producer
 * (blocked gauge 1, the rest held, receipts stopped short of N), then drains with a consumer
 * and checks every message arrived once and every receipt came.
 */
async function blockedThenReleased(storeHttp: number, producer: StompClient, consumer: () => Promise<StompClient>, persistent: boolean): Promise<void> {
  const dest = unique('/queue/flow');
  const receipted = new Set<number>();
  const sends = Array.from({ length: N }, (_, i) =>
    producer.send(dest, BODY, { persistent, headers: { n: String(i) } }).then(() => { receipted.add(i); }));
  // ~1.05 KB each: about 20 fit under the limit, the rest are held (no receipt).
  const held = await checkFor(20_000, 50, async () => {
    assert.equal(await metric(storeHttp, 'hawser_store_producers_blocked'), 1);
    const n = await metric(storeHttp, 'hawser_store_requests_held');
    assert.ok(n > 0 && receipted.size + n === N, `held ${n}, receipted ${receipted.size}`);
    return n;
  });
  assert.ok(receipted.size < N && receipted.size >= 15, `receipts stop at the limit (${receipted.size} of ${N})`);
  assert.ok(await metric(storeHttp, 'hawser_store_sends_held_total') >= 1);
  const usage = await metric(storeHttp, persistent ? 'hawser_store_store_usage_bytes' : 'hawser_store_memory_usage_bytes');
  assert.ok(usage >= LIMIT, `usage ${usage} at the limit`);
  // Still held: nothing drains it (the receipts do not come by themselves).
  assert.equal(await metric(storeHttp, 'hawser_store_requests_held'), held);
  assert.ok(receipted.size + held === N);

  const c = await consumer();
  const sub = await c.subscribe(dest, { ack: 'client-individual', prefetch: 10 });
  const seen: number[] = [];
  while (seen.length < N) {
    const m = await sub.next(20_000);
    seen.push(Number(m.header('n')));
    await m.ack({ receipt: false });
  }
  await Promise.all(sends);
  assert.equal(receipted.size, N, 'every SEND receipted once released');
  assert.deepEqual([...seen].sort((a, b) => a - b), Array.from({ length: N }, (_, i) => i), 'each message exactly once');
  assert.deepEqual(seen, Array.from({ length: N }, (_, i) => i), 'in the order sent');
  assert.equal((await drain(sub, 500)).length, 0, 'nothing more');
  await checkFor(10_000, 50, async () => assert.equal(await metric(storeHttp, 'hawser_store_producers_blocked'), 0));
}

describe('producer flow control', { timeout: 180_000 }, () => {
  const h = new Harness('flow-control');
  const clients = new Clients(() => { throw new Error('pass a uri'); });
  afterEach(async (t) => {
    h.reportIfFailed(t);
    await clients.closeAll();
  });
  after(() => h.close());

  it('store limit (separate gateway): the producer\'s receipts stop, a consumer drains, all arrive once', { timeout: 90_000 }, async () => {
    const { store, gateway } = await h.startBroker({ store: { id: 'store-limit', args: ['--broker.storeLimit', String(LIMIT)] } });
    const producer = await clients.connect({ receiptTimeoutMs: 60_000 }, gateway.stompUri);
    await blockedThenReleased(store.httpPort, producer, () => clients.connect({}, gateway.stompUri), true);
    assert.equal(await metric(store.httpPort, 'hawser_store_store_usage_bytes'), 0);
  });

  it('memory limit (embedded gateway, in-process sessions): non-persistent messages, the same', { timeout: 90_000 }, async () => {
    const store = await h.startStore({
      id: 'memory-limit',
      args: ['--broker.memoryLimit', String(LIMIT), '--gateway.enabled', 'true', '--gateway.stomp.port', '0', '--gateway.ws.port', '0'],
    });
    const producer = await clients.connect({ receiptTimeoutMs: 60_000 }, store.stompUri);
    await blockedThenReleased(store.httpPort, producer, () => clients.connect({}, store.stompUri), false);
    assert.equal(await metric(store.httpPort, 'hawser_store_memory_usage_bytes'), 0);
  });

  it('a producer without receipts: the gateway stops reading it at limits.producerWindow, nothing is refused, all arrive once', { timeout: 90_000 }, async () => {
    const WINDOW = 50;
    const TOTAL = 400;
    const { store, gateway } = await h.startBroker({
      store: { id: 'no-receipts', args: ['--broker.memoryLimit', String(LIMIT)] },
      gateway: { args: ['--limits.producerWindow', String(WINDOW)] },
    });
    const dest = unique('/queue/fire');
    const producer = await clients.connect({}, gateway.stompUri);
    const written = Array.from({ length: TOTAL }, (_, i) => producer.send(dest, BODY, { persistent: false, receipt: false, headers: { n: String(i) } }));
    // The store holds what the window let through (the window counts SENDs not yet
    // confirmed: the held ones, and for a moment those whose receipt is on its way); the
    // gateway reads no further.
    const held = await checkFor(20_000, 50, async () => {
      assert.equal(await metric(store.httpPort, 'hawser_store_producers_blocked'), 1);
      const n = await metric(store.httpPort, 'hawser_store_requests_held');
      assert.ok(n > WINDOW / 2 && n <= WINDOW, `held ${n}`);
      return n;
    });
    for (let i = 0; i < 10; i++) assert.equal(await metric(store.httpPort, 'hawser_store_requests_held'), held, 'held stays put: the client is not read');
    const c = await clients.connect({}, gateway.stompUri);
    const sub = await c.subscribe(dest, { ack: 'client-individual', prefetch: 20 });
    const seen: number[] = [];
    while (seen.length < TOTAL) {
      const m = await sub.next(20_000);
      seen.push(Number(m.header('n')));
      await m.ack({ receipt: false });
    }
    await Promise.all(written);
    assert.deepEqual(seen, Array.from({ length: TOTAL }, (_, i) => i), 'each once, in order');
    assert.equal((await drain(sub, 500)).length, 0, 'nothing more');
    await producer.send(dest, 'after', { persistent: false }); // read again, and receipted
    assert.equal(await metric(store.httpPort, 'hawser_store_sends_refused_total'), 0);
  });

  describe('sendFailIfNoSpace', () => {
    let uri = '';
    let http = 0;
    before(async () => {
      const { store, gateway } = await h.startBroker({ store: { id: 'fail-mode', args: ['--broker.memoryLimit', '4096', '--broker.sendFailIfNoSpace', 'true'] } });
      uri = gateway.stompUri;
      http = store.httpPort;
    });

    it('the SEND past the limit gets an ERROR naming the limit; nothing is held', { timeout: 30_000 }, async () => {
      const dest = unique('/queue/fail');
      const p = await clients.connect({}, uri);
      for (let i = 0; i < 4; i++) await p.send(dest, BODY, { persistent: false });
      await assert.rejects(p.send(dest, BODY, { persistent: false }), (e: Error) => /NO_SPACE|memory limit/i.test(e.message));
      assert.equal(await metric(http, 'hawser_store_sends_refused_total'), 1);
      assert.equal(await metric(http, 'hawser_store_producers_blocked'), 0);
      // What was taken is still there.
      const c = await clients.connect({}, uri);
      const sub = await c.subscribe(dest);
      assert.equal((await drain(sub, 1000)).length, 4);
    });
  });
});
