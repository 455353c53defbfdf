import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileSelector } from '@hawser/selector';
import { BrokerCore } from './core';
import { Harness, options } from './testing';

function opened(h: Harness, ...sids: string[]): void {
  for (const sid of sids) { h.open(sid, `client-${sid}`); h.take(sid); }
}

// Scenario table: each row is a short script and what the consumers must see.
const scenarios: Array<{ name: string; run: (h: Harness) => void }> = [
  {
    name: 'queue: round-robin across consumers with room',
    run: (h) => {
      opened(h, 'p', 'a', 'b');
      h.subscribe('a', 's', '/queue/q');
      h.subscribe('b', 's', '/queue/q');
      for (let i = 1; i <= 4; i++) h.send('p', '/queue/q', `m${i}`);
      assert.deepEqual(h.bodies('a'), ['m1', 'm3']);
      assert.deepEqual(h.bodies('b'), ['m2', 'm4']);
    },
  },
  {
    name: 'topic: fan-out to every current subscriber; no subscriber, no message',
    run: (h) => {
      opened(h, 'p', 'a', 'b');
      h.send('p', '/topic/t', 'lost');
      h.subscribe('a', 's', '/topic/t');
      h.subscribe('b', 's', '/topic/t');
      h.send('p', '/topic/t', 'x');
      assert.deepEqual(h.bodies('a'), ['x']);
      assert.deepEqual(h.bodies('b'), ['x']);
      // A persistent publication is journaled by id only (no body, no queue) for the duplicate
      // check; non-persistent topic traffic is not journaled at all.
      const ops = h.entries.flatMap((e) => e.ops);
      assert.deepEqual(ops.map((o) => o.kind === 'enqueue' && [o.enqueue.queues, o.enqueue.message.body.length]), [[[], 0]]);
      h.send('p', '/topic/t', 'y', { persistent: false });
      assert.deepEqual(h.bodies('a'), ['y']);
      assert.equal(h.entries.flatMap((e) => e.ops).length, 1, 'non-persistent topic traffic is not journaled');
    },
  },
  {
    name: 'ack mode client is cumulative; client-individual is not',
    run: (h) => {
      opened(h, 'p', 'c', 'i');
      h.subscribe('c', 's', '/queue/c', { ackMode: 'ACK_MODE_CLIENT' });
      h.subscribe('i', 's', '/queue/i');
      for (let k = 1; k <= 3; k++) { h.send('p', '/queue/c', `c${k}`); h.send('p', '/queue/i', `i${k}`); }
      const dc = h.deliveries('c');
      const di = h.deliveries('i');
      h.ack('c', dc[1]!.deliveryTag);
      assert.equal(h.depth('/queue/c'), 1, 'tags 1 and 2 acked together');
      h.ack('i', di[1]!.deliveryTag);
      assert.equal(h.depth('/queue/i'), 2, 'only the one tag acked');
    },
  },
  {
    name: 'pauseSession: a session whose stream is full gets no deliveries (the others do) until resumed; receipts still go',
    run: (h) => {
      opened(h, 'p', 'a', 'b');
      h.subscribe('a', 's', '/queue/q');
      h.subscribe('b', 's', '/queue/q');
      h.subscribe('a', 't', '/topic/t');
      h.core.pauseSession('a');
      const r = h.send('p', '/queue/q', 'm1');
      h.send('p', '/queue/q', 'm2');
      h.send('p', '/topic/t', 'x');
      assert.ok(h.receipts('p').includes(r), 'the producer is receipted');
      assert.deepEqual(h.bodies('b'), ['m1', 'm2'], 'the queue goes to the session that can take it');
      assert.deepEqual(h.bodies('a'), [], 'nothing for the paused session');
      h.core.resumeSession('a', h.now);
      h.pump();
      assert.deepEqual(h.bodies('a'), ['x'], 'its topic subscription gets what waited');
      h.send('p', '/queue/q', 'm3');
      h.send('p', '/queue/q', 'm4');
      assert.deepEqual([...h.bodies('a'), ...h.bodies('b')].sort(), ['m3', 'm4'], 'round-robin again');
    },
  },
  {
    name: 'prefetch: a slow consumer does not stall the others',
    run: (h) => {
      opened(h, 'p', 'slow', 'fast');
      h.subscribe('slow', 's', '/queue/q', { prefetch: 1 });
      h.subscribe('fast', 's', '/queue/q', { prefetch: 100 });
      for (let i = 1; i <= 5; i++) h.send('p', '/queue/q', `m${i}`);
      assert.deepEqual(h.bodies('slow'), ['m1']);
      const fast = h.deliveries('fast');
      assert.deepEqual(fast.map((d) => d.message.body.toString()), ['m2', 'm3', 'm4', 'm5']);
    },
  },
  {
    name: 'transaction: sends and acks take effect at commit, in one entry',
    run: (h) => {
      opened(h, 'p', 'c');
      h.send('p', '/queue/src', 'in');
      h.subscribe('c', 's', '/queue/src');
      const [d] = h.deliveries('c');
      h.request('c', { kind: 'begin', begin: { transaction: 'tx1' } });
      h.ack('c', d!.deliveryTag, 'tx1');
      h.send('c', '/queue/out', 'a', {}, 'tx1');
      h.send('c', '/queue/out', 'b', {}, 'tx1');
      assert.equal(h.depth('/queue/out'), 0, 'not visible before commit');
      const before = h.entries.length;
      h.request('c', { kind: 'commit', commit: { transaction: 'tx1' } });
      assert.equal(h.entries.length, before + 1, 'one journal entry');
      assert.deepEqual(h.entries.at(-1)!.ops.map((o) => o.kind), ['remove', 'enqueue', 'enqueue']);
      assert.equal(h.depth('/queue/out'), 2);
      assert.equal(h.depth('/queue/src'), 0);
    },
  },
  {
    name: 'transaction: abort discards sends and redelivers consumed messages',
    run: (h) => {
      opened(h, 'p', 'c');
      h.send('p', '/queue/src', 'in');
      h.subscribe('c', 's', '/queue/src');
      const [d] = h.deliveries('c');
      h.request('c', { kind: 'begin', begin: { transaction: 't' } });
      h.ack('c', d!.deliveryTag, 't');
      h.send('c', '/queue/out', 'x', {}, 't');
      h.request('c', { kind: 'abort', abort: { transaction: 't' } });
      assert.equal(h.depth('/queue/out'), 0);
      const again = h.deliveries('c');
      assert.equal(again.length, 1);
      assert.equal(again[0]!.redelivered, true);
      assert.equal(again[0]!.deliveryCount, 2);
    },
  },
  {
    name: 'transaction: a session that ends aborts it',
    run: (h) => {
      opened(h, 'p');
      h.request('p', { kind: 'begin', begin: { transaction: 't' } });
      h.send('p', '/queue/out', 'x', {}, 't');
      h.end('p');
      assert.equal(h.depth('/queue/out'), 0);
    },
  },
  {
    name: 'session end: unacked deliveries come back redelivered to another consumer',
    run: (h) => {
      opened(h, 'p', 'a', 'b');
      h.subscribe('a', 's', '/queue/q');
      h.send('p', '/queue/q', 'm');
      assert.equal(h.deliveries('a').length, 1);
      h.subscribe('b', 's', '/queue/q');
      h.end('a');
      const [d] = h.deliveries('b');
      assert.equal(d!.redelivered, true);
      assert.equal(d!.deliveryCount, 2);
    },
  },
  {
    name: 'durable subscription: backlog while offline, removeDurable deletes it',
    run: (h) => {
      opened(h, 'p', 'd');
      h.subscribe('d', 's', '/topic/news', { durableName: 'n' });
      h.end('d');
      h.send('p', '/topic/news', 'a');
      h.send('p', '/topic/news', 'b');
      assert.equal(h.depth('durable:client-d:n'), 2);
      h.open('d2', 'client-d'); h.take('d2');
      h.subscribe('d2', 's', '/topic/news', { durableName: 'n' });
      const got = h.deliveries('d2');
      assert.deepEqual(got.map((x) => x.message.body.toString()), ['a', 'b']);
      h.ack('d2', got[0]!.deliveryTag);
      h.request('d2', { kind: 'unsubscribe', unsubscribe: { subscriptionId: 's', removeDurable: true } });
      assert.equal(h.core.destinations('durable:').length, 0);
      h.send('p', '/topic/news', 'c');
      assert.equal(h.entries.at(-1)!.ops.some((o) => o.kind === 'enqueue'), false, 'no durable sub: not stored');
    },
  },
  {
    name: 'redelivery: the 7th failed delivery moves the message to the DLQ with its id and headers',
    run: (h) => {
      opened(h, 'p', 'c');
      h.subscribe('c', 's', '/queue/q');
      h.send('p', '/queue/q', 'poison', { id: 'ID:poison' });
      for (let i = 1; i <= 7; i++) {
        const [d] = h.deliveries('c');
        assert.ok(d, `delivery ${i}`);
        assert.equal(d.deliveryCount, i);
        h.nack('c', d.deliveryTag);
      }
      assert.equal(h.deliveries('c').length, 0);
      assert.equal(h.depth('/queue/q'), 0);
      assert.equal(h.depth('/queue/ActiveMQ.DLQ'), 1);
      h.subscribe('c', 'dlq', '/queue/ActiveMQ.DLQ');
      const [dl] = h.deliveries('c');
      assert.equal(dl!.message.id, 'ID:poison');
      assert.equal(dl!.message.headers.originalDestination, '/queue/q');
      assert.match(dl!.message.headers.dlqDeliveryFailureCause!, /maximumRedeliveries=6/);
    },
  },
  {
    name: 'expiry: expired messages are never delivered; persistent ones go to the DLQ',
    run: (h) => {
      opened(h, 'p', 'c');
      h.send('p', '/queue/q', 'old', { expires: h.now + 50 });
      h.send('p', '/queue/q', 'old-np', { expires: h.now + 50, persistent: false });
      h.send('p', '/queue/q', 'fresh');
      h.tick(100);
      h.subscribe('c', 's', '/queue/q');
      assert.deepEqual(h.bodies('c'), ['fresh']);
      assert.equal(h.depth('/queue/ActiveMQ.DLQ'), 1);
    },
  },
  {
    name: 'priority: higher first, FIFO within a priority',
    run: (h) => {
      opened(h, 'p', 'c');
      h.send('p', '/queue/q', 'p4a');
      h.send('p', '/queue/q', 'p9', { priority: 9 });
      h.send('p', '/queue/q', 'p0', { priority: 0 });
      h.send('p', '/queue/q', 'p4b');
      h.subscribe('c', 's', '/queue/q');
      assert.deepEqual(h.bodies('c'), ['p9', 'p4a', 'p4b', 'p0']);
    },
  },
  {
    name: 'selectors: a queue consumer gets only matching messages; others wait for another consumer',
    run: (h) => {
      opened(h, 'p', 'red', 'any');
      h.subscribe('red', 's', '/queue/q', { selector: "color = 'red'" });
      h.send('p', '/queue/q', 'blue', { headers: { color: 'blue' } });
      h.send('p', '/queue/q', 'red', { headers: { color: 'red' } });
      assert.deepEqual(h.bodies('red'), ['red']);
      h.subscribe('any', 's', '/queue/q');
      assert.deepEqual(h.bodies('any'), ['blue']);
    },
  },
  {
    name: 'selectors: an invalid one is a fatal INVALID_SELECTOR error',
    run: (h) => {
      opened(h, 'c');
      h.subscribe('c', 's', '/queue/q', { selector: 'color = = 1' });
      const [e] = h.errors('c');
      assert.equal(e!.code, 'INVALID_SELECTOR');
      assert.equal(e!.fatal, true);
      assert.ok(h.ended.has('c'));
    },
  },
  {
    name: 'dedup: a resent id is receipted but stored once',
    run: (h) => {
      opened(h, 'p');
      const r1 = h.send('p', '/queue/q', 'x', { id: 'ID:1' });
      const r2 = h.send('p', '/queue/q', 'x', { id: 'ID:1' });
      assert.deepEqual(h.receipts('p'), [r1, r2]);
      assert.equal(h.depth('/queue/q'), 1);
    },
  },
  {
    name: 'errors: unknown delivery, bad destination and unknown transaction are fatal and say what to do',
    run: (h) => {
      opened(h, 'a', 'b', 'c');
      h.ack('a', 17);
      assert.deepEqual(h.errors('a').map((e) => [e.code, e.fatal]), [['UNKNOWN_DELIVERY', true]]);
      assert.match(h.errors('a')[0]!.message, /ACK for unknown delivery tag 17: it was never delivered on this session or was already acknowledged/);
      h.send('b', '/bogus/x', 'x');
      assert.equal(h.errors('b')[0]!.code, 'INVALID_DESTINATION');
      h.request('c', { kind: 'commit', commit: { transaction: 'nope' } });
      assert.equal(h.errors('c')[0]!.code, 'UNKNOWN_TRANSACTION');
      assert.ok(h.ended.has('a') && h.ended.has('b') && h.ended.has('c'));
    },
  },
];

for (const s of scenarios) {
  test(s.name, () => s.run(new Harness(options({ compileSelector }))));
}

test('persist before you send: receipts and dispatch wait for the entry to be durable', () => {
  const h = new Harness();
  opened(h, 'p', 'c');
  h.subscribe('c', 's', '/queue/q');
  h.autoWrite = false;
  const id = h.send('p', '/queue/q', 'm');
  assert.deepEqual(h.receipts('p'), []);
  assert.equal(h.deliveries('c').length, 0);
  h.write();
  assert.deepEqual(h.receipts('p'), [id]);
  assert.equal(h.deliveries('c').length, 1);
});

test('paging: a backlog larger than the page stays on disk and comes back in order', () => {
  const h = new Harness(options({ pageSize: 10 }));
  opened(h, 'p', 'c');
  for (let i = 0; i < 100; i++) h.send('p', '/queue/q', `m${i}`, { priority: i % 3 === 0 ? 7 : 4 });
  const w = h.core.windowOf('/queue/q')!;
  assert.ok(w.messages.length <= 20, `window holds ${w.messages.length}`);
  assert.equal(h.depth('/queue/q'), 100);
  h.subscribe('c', 's', '/queue/q', { prefetch: 7 });
  const got: string[] = [];
  for (let round = 0; round < 100 && got.length < 100; round++) {
    for (const d of h.deliveries('c')) { got.push(d.message.body.toString()); h.ack('c', d.deliveryTag); }
  }
  const expected = [...Array(100).keys()].filter((i) => i % 3 === 0).concat([...Array(100).keys()].filter((i) => i % 3 !== 0)).map((i) => `m${i}`);
  assert.deepEqual(got, expected);
  assert.equal(h.depth('/queue/q'), 0);
});

test('paging: messages arriving while a page is read are neither lost nor duplicated', () => {
  const h = new Harness(options({ pageSize: 4 }));
  opened(h, 'p', 'c');
  for (let i = 0; i < 12; i++) h.send('p', '/queue/q', `m${i}`);
  h.subscribe('c', 's', '/queue/q', { prefetch: 1 });
  const got: string[] = [];
  let next = 12;
  for (let round = 0; round < 200 && got.length < 20; round++) {
    for (const d of h.deliveries('c')) { got.push(d.message.body.toString()); h.ack('c', d.deliveryTag); }
    if (next < 20) h.send('p', '/queue/q', `m${next++}`, { priority: next % 2 ? 6 : 4 });
  }
  assert.equal(got.length, 20);
  assert.equal(new Set(got).size, 20);
});

test('replay: applying the journal on an empty core gives the same destinations', () => {
  const h = new Harness(options({ compileSelector, pageSize: 5 }));
  opened(h, 'p', 'c', 'd');
  h.subscribe('d', 's', '/topic/t', { durableName: 'x' });
  h.subscribe('c', 's', '/queue/q', { prefetch: 3 });
  for (let i = 0; i < 20; i++) { h.send('p', '/queue/q', `q${i}`); h.send('p', '/topic/t', `t${i}`); }
  for (const d of h.deliveries('c').slice(0, 2)) h.ack('c', d.deliveryTag);
  const replica = new BrokerCore(options({ compileSelector, pageSize: 5 }));
  replica.replay(h.entries, h.now);
  const strip = (xs: ReturnType<BrokerCore['destinations']>) => xs.map(({ name, depth }) => ({ name, depth }));
  assert.deepEqual(strip(replica.destinations()), strip(h.core.destinations()));
});

/** Acks every delivery of `sid` as it comes (prefetch 1 gives one at a time); returns the bodies. */
function consumeAll(h: Harness, sid: string): string[] {
  const got: string[] = [];
  for (let ds = h.deliveries(sid); ds.length; ds = h.deliveries(sid)) {
    for (const d of ds) { got.push(d.message.body.toString()); h.ack(sid, d.deliveryTag); }
  }
  return got;
}

test('maxNonPersistent: beyond the bound the oldest waiting non-persistent message goes; in-flight and persistent ones stay', () => {
  const h = new Harness(options({ compileSelector, maxNonPersistent: 3 }));
  opened(h, 'p', 'c', 't');
  h.subscribe('c', 's', '/queue/q', { prefetch: 1 });
  h.send('p', '/queue/q', 'np1', { persistent: false }); // in flight to c
  h.send('p', '/queue/q', 'np2', { persistent: false });
  h.send('p', '/queue/q', 'p1');
  for (const b of ['np3', 'np4', 'np5', 'np6']) h.send('p', '/queue/q', b, { persistent: false });
  assert.equal(h.discarded, 3, 'np2, np3, np4: the oldest waiting');
  assert.equal(h.depth('/queue/q'), 4, 'np1 (in flight), p1, np5, np6');
  assert.deepEqual(consumeAll(h, 'c'), ['np1', 'p1', 'np5', 'np6']);
  assert.equal(h.depth('/queue/q'), 0);

  // A slow non-durable topic subscriber is bounded the same way (ActiveMQ's pending limit).
  h.subscribe('t', 'ts', '/topic/t', { prefetch: 1 });
  for (let i = 1; i <= 6; i++) h.send('p', '/topic/t', `t${i}`, { persistent: false });
  assert.equal(h.discarded, 3 + 3);
  assert.deepEqual(consumeAll(h, 't'), ['t1', 't5', 't6']);
});

test('maxNonPersistent: a message taken back after a failed delivery waits again and can be discarded; 0 means no bound', () => {
  const h = new Harness(options({ compileSelector, maxNonPersistent: 2 }));
  opened(h, 'p', 'c', 'd');
  h.subscribe('c', 's', '/queue/q', { prefetch: 1 });
  h.send('p', '/queue/q', 'a', { persistent: false }); // in flight to c
  h.send('p', '/queue/q', 'b', { persistent: false });
  h.send('p', '/queue/q', 'c', { persistent: false }); // 3 > 2: b goes (a is in flight)
  assert.equal(h.discarded, 1);
  h.end('c'); // a comes back and waits: the oldest again
  h.send('p', '/queue/q', 'd', { persistent: false }); // c goes
  h.send('p', '/queue/q', 'e', { persistent: false }); // a goes
  assert.equal(h.discarded, 3);
  h.subscribe('d', 's', '/queue/q', { prefetch: 1 });
  assert.deepEqual(consumeAll(h, 'd'), ['d', 'e']);

  const u = new Harness(options({ compileSelector, maxNonPersistent: 0 }));
  opened(u, 'p');
  for (let i = 0; i < 5000; i++) u.send('p', '/queue/q', `m${i}`, { persistent: false });
  assert.equal(u.discarded, 0);
  assert.equal(u.depth('/queue/q'), 5000);
});

test('maxNonPersistentBytes: the same bound in bytes; acks and a purge give the bytes back', () => {
  const h = new Harness(options({ compileSelector, maxNonPersistentBytes: 350 }));
  opened(h, 'p', 'c');
  const body = 'x'.repeat(100); // ~113 bytes with the id and destination: 3 fit in 350
  for (let i = 0; i < 6; i++) h.send('p', '/queue/b', body, { persistent: false, id: `m${i}` });
  assert.equal(h.discarded, 3);
  assert.equal(h.depth('/queue/b'), 3);
  h.subscribe('c', 's', '/queue/b', { prefetch: 1 });
  assert.equal(consumeAll(h, 'c').length, 3);
  for (let i = 0; i < 3; i++) h.send('p', '/queue/b', body, { persistent: false, id: `n${i}` });
  assert.equal(h.discarded, 3, 'the acked ones freed their bytes');
  h.request('c', { kind: 'unsubscribe', unsubscribe: { subscriptionId: 's', removeDurable: false } });
  for (let i = 0; i < 2; i++) h.send('p', '/queue/b', body, { persistent: false, id: `o${i}` });
  assert.equal(h.discarded, 5, 'n0..n2 are waiting now: 2 more go');
  assert.ok(h.core.purge('/queue/b', h.now).ok);
  for (let i = 0; i < 3; i++) h.send('p', '/queue/b', body, { persistent: false, id: `q${i}` });
  assert.equal(h.discarded, 5, 'the purge freed their bytes');
  assert.equal(h.depth('/queue/b'), 3);
});
