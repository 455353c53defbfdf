// Broker semantics as a client sees them, written once and run over TCP
// (messaging-tcp.e2e.spec.ts) and, for a subset, WebSocket (messaging-ws.e2e.spec.ts).
// Each scenario uses its own destinations, so they share one store + gateway.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, type Gateway } from './harness';
import { StompServerError } from '@hawser/client';
import { Clients, unique, drain, texts } from './support';

export interface Scenario {
  name: string;
  /** Also run over WebSocket. */
  ws?: boolean;
  run(c: Clients): Promise<void>;
}

const T = 20_000; // per-scenario time bound

/** The store flags the suite relies on (short redelivery limit keeps the DLQ test fast). */
export const STORE_ARGS = ['--broker.maximumRedeliveries', '2'];

export const scenarios: Scenario[] = [
  {
    name: 'queue: two consumers share the messages round-robin, each message once',
    ws: true,
    async run(c) {
      const q = unique('/queue/rr');
      const ca = await c.connect();
      const cb = await c.connect();
      const a = await ca.subscribe(q, { ack: 'auto' });
      const b = await cb.subscribe(q, { ack: 'auto' });
      const p = await c.connect();
      for (let i = 0; i < 10; i++) await p.send(q, `m${i}`);
      const ga = await drain(a, 800);
      const gb = await drain(b, 300);
      const all = [...texts(ga), ...texts(gb)].sort();
      assert.deepEqual(all, Array.from({ length: 10 }, (_, i) => `m${i}`).sort(), 'every message exactly once across the two consumers');
      assert.ok(Math.abs(ga.length - gb.length) <= 1, `round-robin: expected 5/5, got ${ga.length}/${gb.length}`);
    },
  },
  {
    name: 'topic: every subscriber gets every message, in order',
    ws: true,
    async run(c) {
      const t = unique('/topic/all');
      const subs = await Promise.all([0, 1, 2].map(async () => (await c.connect()).subscribe(t)));
      const p = await c.connect();
      for (let i = 0; i < 5; i++) await p.send(t, `t${i}`);
      for (const s of subs) assert.deepEqual(texts(await s.collect(5, 5000)), ['t0', 't1', 't2', 't3', 't4']);
      for (const s of subs) assert.equal(await s.tryNext(200), undefined);
    },
  },
  {
    name: 'ack auto: a delivered message is gone even if the consumer disconnects',
    async run(c) {
      const q = unique('/queue/auto');
      const p = await c.connect();
      await p.send(q, 'once');
      const c1 = await c.connect();
      const s1 = await c1.subscribe(q, { ack: 'auto' });
      assert.equal((await s1.next(5000)).text, 'once');
      await c1.disconnect();
      const s2 = await (await c.connect()).subscribe(q, { ack: 'auto' });
      assert.equal(await s2.tryNext(700), undefined);
    },
  },
  {
    name: 'ack client is cumulative: acking m3 settles m1..m3, m4..m5 come back redelivered',
    async run(c) {
      const q = unique('/queue/client');
      const p = await c.connect();
      for (let i = 1; i <= 5; i++) await p.send(q, `m${i}`, { persistent: true });
      const c1 = await c.connect();
      const s1 = await c1.subscribe(q, { ack: 'client' });
      const got = await s1.collect(5, 5000);
      assert.deepEqual(texts(got), ['m1', 'm2', 'm3', 'm4', 'm5']);
      await got[2]!.ack();
      await c1.disconnect();
      const s2 = await (await c.connect()).subscribe(q, { ack: 'client' });
      const again = await drain(s2, 800);
      assert.deepEqual(texts(again), ['m4', 'm5']);
      assert.ok(again.every((m) => m.redelivered), 'redelivered:true on messages delivered before');
    },
  },
  {
    name: 'ack client-individual: only the acked messages are settled',
    ws: true,
    async run(c) {
      const q = unique('/queue/indiv');
      const p = await c.connect();
      for (let i = 1; i <= 5; i++) await p.send(q, `m${i}`, { persistent: true });
      const c1 = await c.connect();
      const s1 = await c1.subscribe(q, { ack: 'client-individual' });
      const got = await s1.collect(5, 5000);
      await got[1]!.ack();
      await got[3]!.ack();
      await c1.disconnect();
      const s2 = await (await c.connect()).subscribe(q, { ack: 'client-individual' });
      const again = await drain(s2, 800);
      assert.deepEqual(texts(again), ['m1', 'm3', 'm5']);
      for (const m of again) await m.ack();
    },
  },
  {
    name: 'NACK: the message comes back with redelivered:true and a higher delivery-count',
    async run(c) {
      const q = unique('/queue/nack');
      const p = await c.connect();
      await p.send(q, 'n1', { persistent: true });
      const s = await (await c.connect()).subscribe(q, { ack: 'client-individual' });
      const first = await s.next(5000);
      assert.equal(first.redelivered, false);
      assert.equal(first.deliveryCount, 1);
      await first.nack();
      const second = await s.next(5000);
      assert.equal(second.text, 'n1');
      assert.equal(second.redelivered, true);
      assert.equal(second.deliveryCount, 2);
      await second.ack();
      assert.equal(await s.tryNext(500), undefined);
    },
  },
  {
    name: 'prefetch: a slow consumer with prefetch 1 does not stall a fast one',
    async run(c) {
      const q = unique('/queue/prefetch');
      const slow = await (await c.connect()).subscribe(q, { ack: 'client-individual', prefetch: 1 });
      const fast = await (await c.connect()).subscribe(q, { ack: 'auto' });
      const p = await c.connect();
      for (let i = 0; i < 20; i++) await p.send(q, `p${i}`);
      const held = await slow.next(5000); // never acked during the test
      const quick = await drain(fast, 1000);
      assert.equal(slow.buffered, 0, 'prefetch 1: the slow consumer holds one message only');
      assert.equal(await slow.tryNext(300), undefined);
      assert.equal(quick.length, 19, `the fast consumer got ${quick.length} of the 19 others`);
      assert.ok(!texts(quick).includes(held.text));
    },
  },
  {
    name: 'transactions: commit delivers the sends together; abort and disconnect discard them',
    ws: true,
    async run(c) {
      const q = unique('/queue/tx');
      const consumer = await (await c.connect()).subscribe(q);
      const p = await c.connect();
      const tx = p.begin();
      for (let i = 0; i < 3; i++) await tx.send(q, `c${i}`);
      assert.equal(await consumer.tryNext(500), undefined, 'nothing before COMMIT');
      await tx.commit();
      assert.deepEqual(texts(await consumer.collect(3, 5000)), ['c0', 'c1', 'c2']);

      const tx2 = p.begin();
      await tx2.send(q, 'aborted');
      await tx2.abort();
      const p2 = await c.connect();
      const tx3 = p2.begin();
      await tx3.send(q, 'disconnected');
      await p2.disconnect(); // no COMMIT: STOMP says the transaction is aborted
      await p.send(q, 'after');
      assert.deepEqual(texts(await drain(consumer, 700)), ['after']);
    },
  },
  {
    name: 'durable subscription: messages sent while the subscriber is offline wait for it',
    async run(c) {
      const t = unique('/topic/durable');
      const clientId = unique('durable-client');
      const c1 = await c.connect({ clientId });
      await c1.subscribe(t, { durableName: 'd1' });
      await c1.disconnect();
      const p = await c.connect();
      for (let i = 0; i < 3; i++) await p.send(t, `d${i}`, { persistent: true });
      const c2 = await c.connect({ clientId });
      const s2 = await c2.subscribe(t, { durableName: 'd1' });
      assert.deepEqual(texts(await s2.collect(3, 5000)), ['d0', 'd1', 'd2']);
      await s2.unsubscribe({ removeDurable: true });
      await c2.disconnect();
      await p.send(t, 'after-removal', { persistent: true });
      const s3 = await (await c.connect({ clientId })).subscribe(t, { durableName: 'd1' });
      assert.equal(await s3.tryNext(700), undefined, 'a removed durable subscription keeps nothing');
    },
  },
  {
    name: 'redelivery headers, then the DLQ after maximumRedeliveries (2)',
    async run(c) {
      const q = unique('/queue/poison');
      const body = unique('poison');
      const dlq = await (await c.connect()).subscribe('/queue/ActiveMQ.DLQ', { ack: 'client-individual' });
      const p = await c.connect();
      await p.send(q, body, { persistent: true });
      const counts: number[] = [];
      // Delivered once plus 2 redeliveries; each time the consumer dies without acking.
      for (let i = 0; i < 3; i++) {
        const ci = await c.connect();
        const s = await ci.subscribe(q, { ack: 'client-individual' });
        const m = await s.next(5000);
        assert.equal(m.text, body);
        assert.equal(m.redelivered, i > 0, `delivery ${i + 1}: redelivered`);
        counts.push(m.deliveryCount ?? -1);
        ci.destroy();
        await ci.waitClosed();
      }
      assert.deepEqual(counts, [1, 2, 3]);
      const s = await (await c.connect()).subscribe(q, { ack: 'client-individual' });
      assert.equal(await s.tryNext(1000), undefined, 'not delivered a 4th time');
      const dead = (await drain(dlq, 1500)).filter((m) => m.text === body);
      assert.equal(dead.length, 1, 'in /queue/ActiveMQ.DLQ exactly once');
      await dead[0]!.ack();
    },
  },
  {
    name: 'selectors: a consumer gets only what its selector matches',
    ws: true,
    async run(c) {
      const q = unique('/queue/sel');
      const red = await (await c.connect()).subscribe(q, { selector: "color = 'red'" });
      const p = await c.connect();
      for (const [i, color] of ['red', 'blue', 'red', 'green'].entries()) await p.send(q, `${color}${i}`, { headers: { color } });
      assert.deepEqual(texts(await drain(red, 800)), ['red0', 'red2']);
      const rest = await (await c.connect()).subscribe(q);
      assert.deepEqual(texts(await drain(rest, 800)), ['blue1', 'green3']);
    },
  },
  {
    name: 'priority: waiting messages are delivered highest priority first',
    async run(c) {
      const q = unique('/queue/prio');
      const p = await c.connect();
      for (const prio of [1, 9, 4, 7, 4]) await p.send(q, `p${prio}`, { priority: prio, persistent: true });
      const s = await (await c.connect()).subscribe(q, { ack: 'client-individual', prefetch: 10 });
      const got = await s.collect(5, 5000);
      assert.deepEqual(texts(got), ['p9', 'p7', 'p4', 'p4', 'p1']);
      for (const m of got) await m.ack();
    },
  },
  {
    name: 'expiry: an expired message is not delivered',
    async run(c) {
      const q = unique('/queue/expiry');
      const p = await c.connect();
      await p.send(q, 'short-lived', { ttlMs: 300, persistent: true });
      await p.send(q, 'already-dead', { expires: Date.now() - 1000 });
      await new Promise((r) => setTimeout(r, 600));
      await p.send(q, 'alive');
      const s = await (await c.connect()).subscribe(q);
      assert.deepEqual(texts(await drain(s, 800)), ['alive']);
    },
  },
  {
    name: 'dedup: the same message-id sent twice is consumed once',
    async run(c) {
      const q = unique('/queue/dedup');
      const id = unique('msg');
      const p = await c.connect();
      await p.send(q, 'first', { headers: { 'message-id': id }, persistent: true });
      await p.send(q, 'second', { headers: { 'message-id': id }, persistent: true });
      const s = await (await c.connect()).subscribe(q);
      const got = await drain(s, 800);
      assert.deepEqual(texts(got), ['first']);
      assert.equal(got[0]!.messageId, id);
    },
  },
  {
    name: 'STOMP 1.0 and 1.1 clients: acks in each version\'s form settle the right messages',
    async run(c) {
      for (const version of ['1.0', '1.1'] as const) {
        const q = unique(`/queue/v${version.replace('.', '')}`);
        const p = await c.connect({ version });
        assert.equal(p.version, version);
        for (let i = 1; i <= 3; i++) await p.send(q, `m${i}`, { persistent: true });
        const c1 = await c.connect({ version });
        const s1 = await c1.subscribe(q, { ack: version === '1.0' ? 'client' : 'client-individual' });
        const got = await s1.collect(3, 5000);
        await got[0]!.ack();
        if (version === '1.1') await got[2]!.nack(); // back to the queue, redelivered
        await c1.disconnect();
        const s2 = await (await c.connect()).subscribe(q);
        const rest = await drain(s2, 700);
        assert.deepEqual(texts(rest), ['m2', 'm3'], `STOMP ${version}`);
      }
    },
  },
  {
    name: 'an ERROR frame from the gateway rejects the pending operation with StompServerError',
    ws: true,
    async run(c) {
      const bad = await c.connect();
      const closed = new Promise((r) => bad.once('close', r));
      await assert.rejects(bad.send('', 'no destination'), (e: unknown) =>
        e instanceof StompServerError && /destination/.test(e.serverMessage));
      assert.ok((await closed) instanceof StompServerError);
      assert.equal(bad.connected, false);
    },
  },
];

/** Defines the suite for one transport: one store + gateway for the file, one test per scenario. */
export function defineMessagingSuite(transport: 'tcp' | 'ws'): void {
  describe(`messaging over ${transport}`, { timeout: 5 * 60_000 }, () => {
    const h = new Harness(`messaging-${transport}`);
    let gateway: Gateway;
    const clients = new Clients(() => (transport === 'tcp' ? gateway.stompUri : gateway.wsUri));
    before(async () => {
      ({ gateway } = await h.startBroker({ store: { args: STORE_ARGS } }));
    });
    afterEach(async (t) => {
      h.reportIfFailed(t);
      await clients.closeAll();
    });
    after(() => h.close());

    for (const s of scenarios) {
      if (transport === 'ws' && !s.ws) continue;
      it(s.name, { timeout: T }, () => s.run(clients));
    }
  });
}
