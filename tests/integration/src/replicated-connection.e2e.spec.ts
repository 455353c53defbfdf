// Replicated group, "Done means" (3): a STOMP client connected to a gateway keeps its TCP
// connection through a `kill -9` of the master while it produces (with receipts) and
// consumes. It loses nothing: every receipted message is consumed at least once, a second
// copy only ever comes with redelivered:true (an unacked delivery coming again, as in
// ActiveMQ's failover), every SEND settles with a receipt (the gateway resends un-receipted
// SENDs to the new master with the same message ids) and the socket never closes.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { TransactionRolledBackError, type Message, type StompClientError } from '@hawser/client';
import { Cluster, checkFor } from './cluster';
import { httpGet } from './harness';
import { Clients, unique } from './support';

describe('replicated group: a gateway client through a master kill -9', { timeout: 150_000 }, () => {
  let c: Cluster;
  const clients = new Clients(() => c.gateway.stompUri);
  before(async () => { c = await Cluster.start({ name: 'repl-conn' }); });
  afterEach(async (t) => {
    c?.reportIfFailed(t);
    await clients.closeAll();
  });
  after(() => c?.close());

  it('keeps its TCP connection, every SEND is receipted, every receipted message consumed', { timeout: 120_000 }, async (t) => {
    const q = unique('/queue/conn');
    const { store: master, group: g0 } = await c.waitForMaster();
    // One connection that produces and consumes (the client an application would hold).
    const client = await clients.connect({ receiptTimeoutMs: 30_000 });
    const closes: Array<StompClientError | undefined> = [];
    const errors: StompClientError[] = [];
    client.on('close', (e) => closes.push(e));
    client.on('error', (e) => errors.push(e));

    const consumed: Message[] = [];
    const sub = await client.subscribe(q, { ack: 'client-individual', prefetch: 50 });
    let consuming = true;
    const consumer = (async () => {
      while (consuming || sub.buffered > 0) {
        const m = await sub.tryNext(200);
        if (!m) continue;
        consumed.push(m);
        // Acks without receipts: one lost in the failover just means a redelivery.
        void m.ack({ receipt: false }).catch(() => undefined);
      }
    })();

    const receipted = new Set<string>();
    const failed: Array<[string, string]> = [];
    const w = client.pipeline(16);
    let seq = 0;
    let producing = true;
    const pending = new Set<Promise<void>>();
    const producer = (async () => {
      while (producing) {
        const body = `p${seq++}`;
        const p = w.send(q, body, { persistent: true }).then(() => { receipted.add(body); }, (e: Error) => { failed.push([body, e.message]); });
        pending.add(p);
        void p.finally(() => pending.delete(p));
        if (w.waiting > 32) await new Promise((r) => setTimeout(r, 5));
      }
    })();

    // Produce for a while, then kill -9 the master under the running client.
    await checkFor(20_000, 10, () => assert.ok(receipted.size >= 300, `${receipted.size} receipts`));
    const atKill = receipted.size;
    const killedAt = Date.now();
    await master.kill9();
    // Production goes on; wait for receipts from the new master.
    const next = await c.waitForMaster({ exclude: c.idOf(master), aboveEpoch: g0.epoch, deadlineMs: 15_000 });
    await checkFor(20_000, 10, () => assert.ok(receipted.size >= atKill + 300, `${receipted.size - atKill} receipts after the kill`));
    t.diagnostic(`master ${c.idOf(master)} -> ${next.group.masterId} (epoch ${g0.epoch} -> ${next.group.epoch}); receipts resumed within ${Date.now() - killedAt} ms`);
    producing = false;
    await producer;
    await checkFor(30_000, 20, () => assert.equal(pending.size, 0, `${pending.size} SENDs still unsettled`));
    assert.deepEqual(failed.slice(0, 10), [], `${failed.length} SENDs failed`);

    // Every receipted message consumed at least once; repeats only as redeliveries.
    await checkFor(20_000, 100, () => {
      const seen = new Set(consumed.map((m) => m.text));
      const missing = [...receipted].filter((b) => !seen.has(b));
      assert.equal(missing.length, 0, `${missing.length} receipted messages not consumed yet (e.g. ${missing.slice(0, 5).join(', ')})`);
    });
    consuming = false;
    await consumer;
    const firstSeen = new Set<string>();
    const badDuplicates: string[] = [];
    let redeliveries = 0;
    for (const m of consumed) {
      if (firstSeen.has(m.text)) {
        redeliveries++;
        if (!m.redelivered) badDuplicates.push(m.text);
      } else firstSeen.add(m.text);
    }
    t.diagnostic(`sent ${seq}, receipted ${receipted.size}, consumed ${consumed.length} (${redeliveries} repeats, all must be redelivered:true)`);
    assert.deepEqual(badDuplicates.slice(0, 10), [], `${badDuplicates.length} duplicates without redelivered:true`);
    assert.deepEqual([...firstSeen].filter((b) => !receipted.has(b)), [], 'nothing consumed that was not receipted');

    // The socket never closed (this client never reconnects: a close would end it) and still works.
    assert.deepEqual(closes, [], 'the client connection never closed');
    assert.deepEqual(errors.map((e) => e.message), [], 'no ERROR frame');
    assert.ok(client.connected);
    await client.send(q, 'after', { persistent: true });
    const last = await sub.next(5000);
    assert.equal(last.text, 'after');
  });
});

// A consume-and-produce transaction open across a master kill -9: the gateway cannot replay
// its ACK (it names a delivery of the dead master's session), so it rolls the whole
// transaction back, as ActiveMQ's failover transport does: the COMMIT fails with
// TRANSACTION_ROLLED_BACK, the consumed message comes again and the produced one was never
// stored — no half-applied transaction.
describe('replicated group: a transaction open across a master kill -9', { timeout: 120_000 }, () => {
  let c: Cluster;
  const clients = new Clients(() => c.gateway.stompUri);
  before(async () => { c = await Cluster.start({ name: 'repl-tx' }); });
  afterEach(async (t) => {
    c?.reportIfFailed(t);
    await clients.closeAll();
  });
  after(() => c?.close());

  it('is rolled back whole: COMMIT fails with TransactionRolledBackError, the input comes again, the output was never stored', async (t) => {
    const input = unique('/queue/tx-in');
    const output = unique('/queue/tx-out');
    const { store: master, group: g0 } = await c.waitForMaster();
    const producer = await clients.connect();
    await producer.send(input, 'work-1', { persistent: true });

    const worker = await clients.connect({ receiptTimeoutMs: 30_000 });
    worker.on('error', () => undefined);
    const sub = await worker.subscribe(input, { ack: 'client-individual' });
    const m = await sub.next(10_000);
    assert.equal(m.text, 'work-1');
    const tx = worker.begin();
    await tx.ack(m);
    await tx.send(output, 'result-of-work-1', { persistent: true });

    await master.kill9();
    const next = await c.waitForMaster({ exclude: c.idOf(master), aboveEpoch: g0.epoch, deadlineMs: 15_000 });
    // The gateway moves the session when the topology names the new master.
    await checkFor(15_000, 50, async () => {
      const { body } = await httpGet(c.gateway.httpPort, '/metrics');
      assert.match(body, /^hawser_gateway_transactions_rolled_back_total(\{[^}]*\})? 1$/m);
    });
    const err = await tx.commit().then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof TransactionRolledBackError, `COMMIT must fail with TransactionRolledBackError, got ${String(err)}`);
    t.diagnostic(`master ${c.idOf(master)} -> ${next.group.masterId}: ${(err as Error).message}`);

    const again = await clients.connect();
    const inSub = await again.subscribe(input, { ack: 'client-individual' });
    const redelivered = await inSub.next(10_000);
    assert.equal(redelivered.text, 'work-1');
    assert.equal(redelivered.redelivered, true);
    const outSub = await again.subscribe(output, { ack: 'auto' });
    assert.equal(await outSub.tryNext(1500), undefined, 'the rolled-back SEND was not stored');
  });
});
