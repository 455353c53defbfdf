// Scenarios run by more than one spec file.
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { connectFailover, type FailoverClient, type Message, type StompClient, type StompClientError } from '@hawser/client';
import { Cluster, checkFor } from './cluster';
import { unique } from './support';

/**
 * "Done means" of the replicated group: one connection that produces (receipt per SEND, 16 in
 * flight) and consumes (client-individual acks) keeps its TCP connection through a `kill -9`
 * of the master. Every SEND settles with a receipt, every receipted message is consumed, a
 * second copy only ever comes with redelivered:true, and the socket never closes. `client`
 * is connected to a gateway (separate, or embedded in a store node that is not the master).
 */
export async function throughMasterKill(t: TestContext, c: Cluster, client: StompClient): Promise<void> {
  const q = unique('/queue/conn');
  const { store: master, group: g0 } = await c.waitForMaster();
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
      if (!m) { if (sub.closed) break; continue; } // an ended subscription answers at once: do not spin
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
}

/**
 * Client failover (the failover URI's layer): a producer (TOTAL persistent messages, 16 in
 * flight) and a consumer (client-individual) connected through `uri`, whose first entry is
 * `firstUri`; `kill` kills the process behind it mid-stream. Both reconnect by themselves;
 * every SEND is receipted, every receipted message consumed, every repeat marked redelivered.
 */
export async function failoverClientsThroughKill(
  t: TestContext, uri: string, opened: FailoverClient[], kill: () => Promise<void>, firstUri: string,
): Promise<{ producer: FailoverClient; consumer: FailoverClient }> {
  const q = unique('/queue/failover');
  const open = async () => {
    const c = await connectFailover(uri, { receiptTimeoutMs: 20_000, connectTimeoutMs: 5_000 });
    opened.push(c);
    return c;
  };
  const producer = await open();
  const consumer = await open();
  assert.equal(producer.uri, firstUri, 'randomize=false: the first URI');
  assert.equal(consumer.uri, firstUri);

  // Consumer: acks each message; counts deliveries per message-id.
  const deliveries = new Map<string, number>();
  const duplicates: Message[] = [];
  const sub = await consumer.subscribe(q, { ack: 'client-individual', prefetch: 50 });
  let consuming = true;
  const loop = (async () => {
    while (consuming) {
      const m = await sub.tryNext(200);
      if (!m) { if (sub.closed) break; continue; } // an ended subscription answers at once: do not spin
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
  await kill();
  const atKill = receipted.size;

  await Promise.all(sends);
  assert.deepEqual(failed.map((e) => e.message), [], 'no send failed: the un-receipted ones were resent after the reconnect');
  assert.equal(receipted.size, TOTAL);
  assert.ok(atKill < TOTAL, 'the kill happened mid-stream');
  assert.notEqual(producer.uri, firstUri, 'the producer moved off the killed process');
  assert.ok(producer.reconnects >= 1);

  await checkFor(30_000, 50, () => {
    const missing = [...receipted].filter((id) => !deliveries.has(id));
    assert.equal(missing.length, 0, `${missing.length} receipted messages not consumed yet, e.g. ${missing.slice(0, 3).join(', ')}`);
  });
  // Late redeliveries would show up now.
  await new Promise((r) => setTimeout(r, 500));
  consuming = false;
  await loop;
  assert.notEqual(consumer.uri, firstUri, 'the consumer moved off the killed process');
  assert.ok(consumer.reconnects >= 1);
  const unknown = [...deliveries.keys()].filter((id) => !receipted.has(id));
  assert.deepEqual(unknown, [], 'nothing consumed that was not sent');
  const notRedelivered = duplicates.filter((m) => !m.redelivered).map((m) => m.messageId);
  assert.deepEqual(notRedelivered, [], 'every repeated delivery is marked redelivered (no duplicate was stored)');
  t.diagnostic(`receipts at kill: ${atKill}/${TOTAL}; consumed ${deliveries.size} distinct, ${duplicates.length} redelivered duplicates`);
  return { producer, consumer };
}
