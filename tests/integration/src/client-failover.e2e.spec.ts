// Client failover (ARCHITECTURE.md, gateway failover's first layer): two real gateways in
// front of one real store; a producer and a consumer on failover:(gw1,gw2); kill -9 gw1
// mid-stream. Both continue on gw2 by themselves; every receipted message is consumed
// (none missing), and every extra delivery of a message is a redelivery (dedup by message-id
// on the consumer side counts them).
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { connectFailover, type FailoverClient, type Message } from '@hawser/client';
import { Harness, checkFor, type Gateway } from './harness';
import { unique } from './support';

describe('client failover between gateways', { timeout: 120_000 }, () => {
  const h = new Harness('client-failover');
  let gw1: Gateway;
  let gw2: Gateway;
  const opened: FailoverClient[] = [];
  before(async () => {
    const store = await h.startStore();
    gw1 = await h.startGateway(store);
    gw2 = await h.startGateway(store);
  });
  afterEach((t) => h.reportIfFailed(t));
  after(async () => {
    for (const c of opened) await c.disconnect({ timeoutMs: 2_000 }).catch(() => c.destroy());
    await h.close();
  });

  it('kill -9 of the gateway in use: producer and consumer move to the other; every receipted message is consumed, duplicates are redeliveries', { timeout: 90_000 }, async (t) => {
    const q = unique('/queue/failover');
    const uri = `failover:(${gw1.stompUri},${gw2.stompUri})?randomize=false&initialReconnectDelay=20&maxReconnectDelay=500`;
    const open = async () => {
      const c = await connectFailover(uri, { receiptTimeoutMs: 20_000, connectTimeoutMs: 5_000 });
      opened.push(c);
      return c;
    };
    const producer = await open();
    const consumer = await open();
    assert.equal(producer.uri, gw1.stompUri, 'randomize=false: the first URI');
    assert.equal(consumer.uri, gw1.stompUri);

    // Consumer: acks each message; counts deliveries per message-id.
    const deliveries = new Map<string, number>();
    const duplicates: Message[] = [];
    const sub = await consumer.subscribe(q, { ack: 'client-individual', prefetch: 50 });
    let consuming = true;
    const loop = (async () => {
      while (consuming) {
        const m = await sub.tryNext(200);
        if (!m) continue;
        const n = (deliveries.get(m.messageId) ?? 0) + 1;
        deliveries.set(m.messageId, n);
        if (n > 1) duplicates.push(m);
        await m.ack().catch(() => undefined);
      }
    })();

    // Producer: TOTAL persistent messages, 16 in flight; kill -9 gw1 after KILL_AT receipts.
    const TOTAL = 800;
    const KILL_AT = 200;
    const receipted = new Set<string>();
    const failed: Error[] = [];
    const w = producer.pipeline(16);
    const sends = Array.from({ length: TOTAL }, (_, i) => {
      const id = `${q}-${i}`;
      return w.send(q, `m${i}`, { persistent: true, headers: { 'message-id': id } })
        .then(() => { receipted.add(id); }, (e: Error) => { failed.push(e); });
    });
    await checkFor(30_000, 2, () => assert.ok(receipted.size >= KILL_AT, `${receipted.size} receipts so far`));
    const killed = await gw1.kill9();
    assert.equal(killed?.signal, 'SIGKILL');
    const atKill = receipted.size;

    await Promise.all(sends);
    assert.deepEqual(failed.map((e) => e.message), [], 'no send failed: the un-receipted ones were resent through gw2');
    assert.equal(receipted.size, TOTAL);
    assert.ok(atKill < TOTAL, 'the kill happened mid-stream');
    assert.equal(producer.uri, gw2.stompUri);
    assert.ok(producer.reconnects >= 1);

    await checkFor(30_000, 50, () => {
      const missing = [...receipted].filter((id) => !deliveries.has(id));
      assert.equal(missing.length, 0, `${missing.length} receipted messages not consumed yet, e.g. ${missing.slice(0, 3).join(', ')}`);
    });
    // Late redeliveries would show up now.
    await new Promise((r) => setTimeout(r, 500));
    consuming = false;
    await loop;
    assert.equal(consumer.uri, gw2.stompUri);
    assert.ok(consumer.reconnects >= 1);
    const unknown = [...deliveries.keys()].filter((id) => !receipted.has(id));
    assert.deepEqual(unknown, [], 'nothing consumed that was not sent');
    const notRedelivered = duplicates.filter((m) => !m.redelivered).map((m) => m.messageId);
    assert.deepEqual(notRedelivered, [], 'every repeated delivery is marked redelivered (no duplicate was stored)');
    t.diagnostic(`receipts at kill: ${atKill}/${TOTAL}; consumed ${deliveries.size} distinct, ${duplicates.length} redelivered duplicates`);
  });
});
