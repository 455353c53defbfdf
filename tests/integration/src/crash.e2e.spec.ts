// Scenario 4: crash safety. Persistent messages with receipts, some acked, then `kill -9`
// of the store while a producer is still sending; restart on the same data dir; every
// receipted message is there exactly once and no acked one comes back.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, checkFor, type Gateway, type Store } from './harness';
import { Clients, unique, drain } from './support';

describe('crash safety', { timeout: 180_000 }, () => {
  const h = new Harness('crash');
  let store: Store;
  let gateway: Gateway;
  const clients = new Clients(() => gateway.stompUri);
  before(async () => {
    ({ store, gateway } = await h.startBroker());
  });
  afterEach(async (t) => {
    h.reportIfFailed(t);
    await clients.closeAll();
  });
  after(() => h.close());

  it('kill -9 of the store mid-stream loses no receipted message and resurrects no acked one', { timeout: 120_000 }, async (t) => {
    const q = unique('/queue/crash');
    const FIRST = 200;     // sent and receipted before anything else happens
    const ACKED = 60;      // consumed and acked (with receipts) before the crash
    const MORE = 100;      // receipts seen from the second, concurrent producer before the kill
    const receipted = new Set<string>();
    const acked = new Set<string>();

    // 1. FIRST persistent messages, pipelined, every one receipted.
    const producer = await clients.connect();
    const w = producer.pipeline(16);
    await Promise.all(Array.from({ length: FIRST }, (_, i) =>
      w.send(q, `m${i}`, { persistent: true }).then(() => { receipted.add(`m${i}`); })));
    assert.equal(receipted.size, FIRST);

    // 2. A consumer acks ACKED of them, each ACK receipted.
    const consumer = await clients.connect();
    const sub = await consumer.subscribe(q, { ack: 'client-individual', prefetch: 20 });
    for (let i = 0; i < ACKED; i++) {
      const m = await sub.next(5000);
      await m.ack();
      acked.add(m.text);
    }

    // 3. A producer keeps sending; after MORE further receipts, kill -9 the store under it.
    const settled = { n: 0 };
    const TOTAL2 = 5000;
    for (let i = 0; i < TOTAL2; i++) {
      const body = `n${i}`;
      w.send(q, body, { persistent: true }).then(() => { receipted.add(body); }, () => undefined).finally(() => { settled.n++; });
    }
    await checkFor(30_000, 5, () => assert.ok(receipted.size >= FIRST + MORE, `${receipted.size - FIRST} receipts so far`));
    const killed = await store.kill9();
    assert.equal(killed?.signal, 'SIGKILL');
    const receiptedAtKill = receipted.size;
    // Every outstanding send must settle (receipt or error): nothing may hang.
    await checkFor(20_000, 50, () => assert.equal(settled.n, TOTAL2, `${settled.n}/${TOTAL2} sends settled`));
    assert.ok(receipted.size < FIRST + TOTAL2, 'the kill happened mid-stream (not every send was receipted)');
    assert.ok(receipted.size - receiptedAtKill <= 16, 'no receipt for more than the window after the kill');

    // 4. Restart the store on the same data dir and ports, and the gateway in front of it.
    await store.restart();
    await gateway.restart();

    // 5. Consume everything: each receipted, un-acked message exactly once; no acked one.
    const reader = await clients.connect();
    const rsub = await reader.subscribe(q, { ack: 'client-individual', prefetch: 500 });
    const got = await drain(rsub, 2000);
    for (const m of got) await m.ack({ receipt: false });
    const counts = new Map<string, number>();
    for (const m of got) counts.set(m.text, (counts.get(m.text) ?? 0) + 1);
    t.diagnostic(`receipted ${receipted.size} of ${FIRST + TOTAL2} sent (${receiptedAtKill} at the kill), acked ${acked.size}, consumed after restart ${got.length}`);
    const dups = [...counts].filter(([, n]) => n > 1).map(([b]) => b);
    assert.deepEqual(dups, [], 'no message delivered twice');
    const resurrected = [...acked].filter((b) => counts.has(b));
    assert.deepEqual(resurrected, [], 'no acked message comes back');
    const lost = [...receipted].filter((b) => !acked.has(b) && !counts.has(b));
    assert.deepEqual(lost.slice(0, 20), [], `${lost.length} receipted messages lost`);
    const unexpected = [...counts.keys()].filter((b) => !/^[mn]\d+$/.test(b));
    assert.deepEqual(unexpected, []);
  });
});
