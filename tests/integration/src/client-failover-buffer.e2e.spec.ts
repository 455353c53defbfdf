// D10 of docs/reliability.md (b), end to end: a failover consumer with prefetch holds messages in
// its buffer when the gateway it is on is killed (kill -9). The buffered ones the application
// has not taken must not be handed over from the connection that is gone (their acks would go
// nowhere and the broker redelivers them anyway): the client drops them ('discarded'), and each
// comes once more over the new connection, marked redelivered. None is lost; the ones the
// application took before the kill come again too (marked), and their old acks reject.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { connect, connectFailover, AckNotConfirmedError, type DiscardedInfo, type FailoverClient, type Message } from '@hawser/client';
import { Harness, checkFor, type Gateway } from './harness';
import { unique } from './support';

describe('client failover: a consumer buffer from a killed gateway', { timeout: 120_000 }, () => {
  const h = new Harness('client-failover-buffer');
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

  it('prefetch 10, 3 taken, 7 buffered, kill -9 of the gateway: the 7 are dropped, all 30 come over the new connection once, the 10 delivered before marked', async () => {
    const q = unique('/queue/buffer');
    const producer = await connect(gw2.stompUri);
    const TOTAL = 30;
    for (let i = 0; i < TOTAL; i++) await producer.send(q, `m-${i}`, { persistent: true });
    await producer.disconnect();

    const c = await connectFailover(`failover:(${gw1.stompUri},${gw2.stompUri})?randomize=false&initialReconnectDelay=20&maxReconnectDelay=200`, { receiptTimeoutMs: 20_000 });
    opened.push(c);
    const discarded: DiscardedInfo[] = [];
    c.on('discarded', (i) => discarded.push(i));
    const sub = await c.subscribe(q, { ack: 'client-individual', prefetch: 10 });
    await checkFor(10_000, 10, () => assert.equal(sub.buffered, 10, 'the prefetch is full'));
    const taken: Message[] = [await sub.next(1_000), await sub.next(1_000), await sub.next(1_000)];
    const before10 = new Set([...taken.map((m) => m.text)]);
    assert.equal(sub.buffered, 7);

    const killedAt = Date.now();
    await gw1.kill9();
    await checkFor(20_000, 20, () => assert.ok(c.connected && c.uri === gw2.stompUri, 'on gw2'));
    assert.deepEqual(discarded.map((d) => [d.uri, d.count]), [[gw1.stompUri, 7]]);
    assert.equal(sub.discarded, 7);

    // Every message of the queue, over the new connection: each once, none from gw1.
    const after: Message[] = [];
    while (after.length < TOTAL) {
      const m = await sub.next(15_000);
      after.push(m);
      await m.ack();
    }
    assert.equal(await sub.tryNext(500), undefined, 'nothing more');
    const texts = after.map((m) => m.text);
    assert.equal(new Set(texts).size, TOTAL, `each once: ${texts.join(' ')}`);
    assert.deepEqual(after.filter((m) => m.arrivedAt < killedAt).map((m) => m.text), [], 'nothing taken after the kill came on the old connection');
    // The 10 gw1 had delivered (3 taken, 7 buffered) come again marked; the store knew they were delivered.
    const firstTen = Array.from({ length: 10 }, (_, i) => `m-${i}`);
    for (const t of before10) assert.ok(firstTen.includes(t));
    assert.deepEqual(after.filter((m) => firstTen.includes(m.text) && !m.redelivered).map((m) => m.text), [], 'redelivered: true on the copies of what gw1 delivered');
    // An ack of a copy taken from the connection that is gone cannot be confirmed.
    await assert.rejects(taken[0]!.ack(), (e: unknown) => e instanceof AckNotConfirmedError && !e.sent);
  });
});
