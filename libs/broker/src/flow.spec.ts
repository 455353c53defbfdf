// Producer flow control (usage.ts) and scoped duplicate detection (dedup.ts) in the core.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BrokerCore, type Recovered } from './core';
import { DedupWindow, dedupKey, dedupScope, scopeOfKey } from './dedup';
import { NO_FLOW_LIMITS, type FlowLimits } from './usage';
import { Harness, options } from './testing';

function login(h: Harness, sid: string, user: string, network = false): void {
  h.request(sid, { kind: 'open', open: { connectionId: sid, clientId: '', login: user, gateway: 'gw', network }, requestId: 0 });
  h.take(sid);
}

const flow = (l: Partial<FlowLimits>) => options({ flow: { ...NO_FLOW_LIMITS, ...l } });

function storedBodies(h: Harness, queue: string): string[] {
  return [...(h.disk.get(queue)?.values() ?? [])].map((m) => m.message.body.toString());
}

// ---- dedup ------------------------------------------------------------------------------------

test('dedup is per login: B\'s message with A\'s id is stored; A\'s resend is still dropped', () => {
  const h = new Harness();
  login(h, 'a', 'alice');
  login(h, 'b', 'bob');
  const r1 = h.send('a', '/queue/q', 'from-a', { id: 'X' });
  // The attacker pre-sends the id first on another destination and on the same one: only its own scope fills.
  const r2 = h.send('b', '/queue/q', 'from-b', { id: 'X' });
  assert.deepEqual(storedBodies(h, '/queue/q').sort(), ['from-a', 'from-b']);
  assert.deepEqual(h.receipts('a'), [r1]);
  assert.deepEqual(h.receipts('b'), [r2]);
  // The gateway's resend after a failover: same login, new session, same id: receipted, not stored.
  login(h, 'a2', 'alice');
  const r3 = h.send('a2', '/queue/q', 'from-a', { id: 'X' });
  assert.deepEqual(h.receipts('a2'), [r3], 'a duplicate is receipted');
  assert.equal(storedBodies(h, '/queue/q').length, 2, 'and not stored again');
});

test('dedup: a victim\'s later message is not suppressed by ids pre-sent from another login', () => {
  const h = new Harness();
  login(h, 'attacker', 'mallory');
  login(h, 'victim', 'alice');
  for (let i = 0; i < 5; i++) h.send('attacker', '/queue/orders', 'junk', { id: `order-${i}` });
  for (let i = 0; i < 5; i++) h.send('victim', '/queue/orders', `real-${i}`, { id: `order-${i}` });
  assert.equal(storedBodies(h, '/queue/orders').filter((b) => b.startsWith('real-')).length, 5);
  // A login cannot forge another's scope with separators in its name.
  assert.notEqual(dedupKey(dedupScope({ login: 'a' }), '/queue/q', 'x'), dedupKey(dedupScope({ login: 'a\u0000/queue/q' }), '/queue/q', 'x'));
});

test('dedup: bridge sessions dedupe among themselves per destination, apart from clients', () => {
  const h = new Harness();
  login(h, 'n1', '', true);
  login(h, 'n2', '', true);
  login(h, 'c', '');
  h.send('n1', '/queue/q', 'fwd', { id: 'ID:src-1' });
  h.send('n2', '/queue/q', 'fwd-again', { id: 'ID:src-1' }); // the same publication by another path
  assert.deepEqual(storedBodies(h, '/queue/q'), ['fwd']);
  h.send('n2', '/queue/r', 'other-dest', { id: 'ID:src-1' });
  assert.deepEqual(storedBodies(h, '/queue/r'), ['other-dest']);
  h.send('c', '/queue/q', 'client', { id: 'ID:src-1' });
  assert.deepEqual(storedBodies(h, '/queue/q').sort(), ['client', 'fwd']);
});

test('dedup: a replica that replays the entries, and a store recovered from its x\\0 keys, drop the same resends', () => {
  const h = new Harness();
  login(h, 'a', 'alice');
  login(h, 'b', 'bob');
  h.send('a', '/queue/q', '1', { id: 'X' });
  h.send('b', '/queue/q', '2', { id: 'Y' });
  const replica = new BrokerCore(options());
  replica.replay(h.entries, h.now);
  replica.takeReady();
  const keys = h.entries.flatMap((e) => e.ops.flatMap((o) => (o.kind === 'enqueue' && o.enqueue.dedup ? [dedupKey(o.enqueue.dedupScope ?? '', o.enqueue.message.destination, o.enqueue.message.id)] : [])));
  const recovered: Recovered = { position: h.written, nextSeq: 100, dedup: keys, durables: [], queues: [] };
  for (const core of [replica, new BrokerCore(options(), recovered)]) {
    const send = (sid: string, user: string, id: string) => {
      core.handle(sid, [
        { requestId: 0, kind: 'open', open: { connectionId: sid, clientId: '', login: user, gateway: 'gw' } },
        { requestId: 1, kind: 'send', send: { transaction: '', message: { id, destination: '/queue/q', headers: {}, body: Buffer.from('r'), persistent: true, priority: 4, expires: 0, timestamp: 0 } } },
      ], h.now);
      return core.takeReady();
    };
    assert.equal(send('s1', 'alice', 'X').dedupHits, 1, 'alice\'s resend of X is dropped');
    assert.equal(send('s2', 'bob', 'X').dedupHits, 0, 'bob\'s X is new');
    assert.equal(send('s3', 'bob', 'Y').dedupHits, 1, 'bob\'s resend of Y is dropped');
  }
});

test('dedup window: bounded per scope and in all; a scope over its bound forgets its own oldest', () => {
  const w = new DedupWindow(100, 10);
  const a = dedupScope({ login: 'a' });
  const b = dedupScope({ login: 'b' });
  w.add(dedupKey(b, '/queue/q', 'b-1'));
  for (let i = 0; i < 90; i++) w.add(dedupKey(a, '/queue/q', `a-${i}`));
  assert.ok(w.has(dedupKey(b, '/queue/q', 'b-1')), 'b\'s id survives a\'s burst within the window');
  assert.equal(w.size, 11);
  assert.ok(w.has(dedupKey(a, '/queue/q', 'a-89')) && !w.has(dedupKey(a, '/queue/q', 'a-79')));
  for (let i = 90; i < 1000; i++) w.add(dedupKey(a, '/queue/q', `a-${i}`));
  assert.ok(!w.has(dedupKey(b, '/queue/q', 'b-1')), 'past the window (the last 100 SENDs) it is gone, as before scopes');
  assert.equal(w.size, 10);
  for (let i = 0; i < 20; i++) for (let j = 0; j < 10; j++) w.add(dedupKey(dedupScope({ login: `u${i}` }), '/queue/q', `${j}`));
  assert.ok(w.size <= 100, 'the total bound holds');
  assert.equal(scopeOfKey(dedupKey(a, '/queue/q', 'x')), a);
  assert.equal(scopeOfKey(dedupKey('n:', '/queue/q', 'x')), 'n:');
  assert.equal(scopeOfKey('legacy-id'), '');
});

test('dedup window: the state after a sequence equals the state rebuilt from its last `max` keys (restart, promotion)', () => {
  const max = 50;
  let seed = 7;
  const rnd = () => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed; };
  const seq: string[] = [];
  for (let i = 0; i < 2000; i++) seq.push(dedupKey(dedupScope({ login: `u${rnd() % 6}` }), '/queue/q', `m${i}`));
  const full = new DedupWindow(max, 12);
  for (const k of seq) full.add(k);
  const suffix = new DedupWindow(max, 12);
  for (const k of seq.slice(-max - 37)) suffix.add(k); // the store keeps the last max (and up to DEDUP_TRIM more)
  for (const k of seq) assert.equal(full.has(k), suffix.has(k), k);
  assert.equal(full.size, suffix.size);
});

test('a message id over 256 bytes is refused (the session goes on); 256 is taken', () => {
  const h = new Harness();
  login(h, 'p', 'alice');
  const long = h.send('p', '/queue/q', 'x', { id: 'i'.repeat(257) });
  const errs = h.errors('p');
  assert.equal(errs.length, 1);
  assert.equal(errs[0]!.requestId, long);
  assert.equal(errs[0]!.code, 'BAD_REQUEST');
  assert.equal(errs[0]!.fatal, false);
  const ok = h.send('p', '/queue/q', 'y', { id: 'é'.repeat(128) });
  assert.ok(h.receipts('p').includes(ok));
  assert.deepEqual(storedBodies(h, '/queue/q'), ['y']);
});

// ---- flow control -----------------------------------------------------------------------------

test('memoryLimit: a producer is held (no receipt) at the limit; a consumer draining releases it; each message arrives once, in order', () => {
  const h = new Harness(flow({ memoryLimit: 100 }));
  login(h, 'p', 'alice');
  login(h, 'c', 'carol');
  const ids: number[] = [];
  for (let i = 0; i < 10; i++) ids.push(h.send('p', '/queue/q', `m${i}`.padEnd(30, '.'), { persistent: false, id: `m${i}` }));
  // 40 bytes each (body 30, id 2, destination 8): the 3rd takes it to >= 100, the 4th waits.
  const receipted = h.receipts('p');
  assert.deepEqual(receipted, ids.slice(0, 3));
  assert.equal(h.core.usageStats().blockedProducers, 1);
  assert.equal(h.core.usageStats().heldRequests, 7);
  h.subscribe('c', 's', '/queue/q', { prefetch: 1 });
  const got: string[] = [];
  for (let guard = 0; guard < 50 && got.length < 10; guard++) {
    for (const d of h.deliveries('c')) {
      got.push(d.message.id);
      h.ack('c', d.deliveryTag);
    }
  }
  assert.deepEqual(got, ids.map((_, i) => `m${i}`));
  assert.deepEqual(h.receipts('p'), ids, 'every held SEND receipted once released, in order');
  assert.equal(h.core.usageStats().blockedProducers, 0);
  assert.equal(h.core.usageStats().memory, 0);
});

test('storeLimit: persistent SENDs are held while the stored bytes are at the limit; acks release them', () => {
  const h = new Harness(flow({ storeLimit: 200 }));
  login(h, 'p', 'alice');
  login(h, 'c', 'carol');
  const ids: number[] = [];
  for (let i = 0; i < 6; i++) ids.push(h.send('p', '/queue/q', 'x'.repeat(90), { id: `m${i}` }));
  // 100 bytes each: the 2nd reaches the limit, the 3rd waits.
  assert.deepEqual(h.receipts('p'), ids.slice(0, 2));
  assert.equal(storedBodies(h, '/queue/q').length, 2);
  // Non-persistent SENDs are not held by the store limit.
  const np = h.send('c', '/queue/other', 'np', { persistent: false });
  assert.ok(h.receipts('c').includes(np));
  h.subscribe('c', 's', '/queue/q', { prefetch: 10 });
  let acked = 0;
  for (let guard = 0; guard < 20 && acked < 6; guard++) for (const d of h.deliveries('c')) { h.ack('c', d.deliveryTag); acked++; }
  assert.equal(acked, 6);
  assert.deepEqual(h.receipts('p'), ids);
  assert.equal(h.core.usageStats().store, 0);
});

test('pending memory: persistent messages count until durable; the write releases the producer', () => {
  const h = new Harness(flow({ memoryLimit: 50 }));
  login(h, 'p', 'alice');
  h.autoWrite = false;
  const a = h.send('p', '/queue/q', 'x'.repeat(60), { id: 'a' });
  const b = h.send('p', '/queue/q', 'y', { id: 'b' });
  assert.equal(h.core.usageStats().blockedProducers, 1, 'b waits: a is in memory until written');
  h.write();
  assert.deepEqual(h.receipts('p'), [a], 'a is durable; b now runs and waits for its own write');
  h.write();
  assert.deepEqual(h.receipts('p'), [a, b]);
  assert.equal(h.core.usageStats().memory, 0);
});

test('a held producer still acks its own deliveries (which is what makes room); its other requests keep their order', () => {
  const h = new Harness(flow({ memoryLimit: 40 }));
  login(h, 'pc', 'alice');
  h.subscribe('pc', 's', '/queue/q', { prefetch: 1 });
  h.take('pc');
  h.send('pc', '/queue/q', 'x'.repeat(40), { persistent: false, id: 'm1' });
  const d1 = h.deliveries('pc');
  assert.equal(d1.length, 1);
  const held = h.send('pc', '/queue/q', 'y', { persistent: false, id: 'm2' });
  const sub = h.subscribe('pc', 's2', '/queue/other');
  assert.ok(!h.receipts('pc').includes(held) && !h.receipts('pc').includes(sub));
  const ack = h.ack('pc', d1[0]!.deliveryTag);
  const r = h.receipts('pc');
  assert.ok(r.indexOf(ack) < r.indexOf(held) && r.indexOf(held) < r.indexOf(sub), `ack, then the held SEND, then the SUBSCRIBE: ${r}`);
});

test('sendFailIfNoSpace: the SEND is refused with NO_SPACE (not fatal) and nothing is held', () => {
  const h = new Harness(flow({ memoryLimit: 10, sendFailIfNoSpace: true }));
  login(h, 'p', 'alice');
  h.send('p', '/queue/q', 'x'.repeat(20), { persistent: false, id: 'a' });
  const refused = h.send('p', '/queue/q', 'y', { persistent: false, id: 'b' });
  const errs = h.errors('p');
  assert.equal(errs.length, 1);
  assert.equal(errs[0]!.requestId, refused);
  assert.equal(errs[0]!.code, 'NO_SPACE');
  assert.equal(errs[0]!.fatal, false);
  assert.match(errs[0]!.message, /broker\.memoryLimit/);
  assert.equal(h.core.usageStats().blockedProducers, 0);
  assert.equal(h.depth('/queue/q'), 1);
});

test('sendFailIfNoSpaceAfterTimeout: a SEND held that long is refused with NO_SPACE', () => {
  const h = new Harness(flow({ memoryLimit: 10, sendFailIfNoSpaceAfterTimeout: 1000 }));
  login(h, 'p', 'alice');
  h.send('p', '/queue/q', 'x'.repeat(20), { persistent: false, id: 'a' });
  const held = h.send('p', '/queue/q', 'y', { persistent: false, id: 'b' });
  h.tick(500);
  assert.equal(h.errors('p').length, 0);
  h.tick(600);
  assert.deepEqual(h.errors('p').map((e) => [e.requestId, e.code]), [[held, 'NO_SPACE']]);
  assert.equal(h.core.usageStats().blockedProducers, 0);
});

test('held requests are bounded per session (maxHeldRequests): beyond, the session ends with NO_SPACE', () => {
  const h = new Harness(flow({ memoryLimit: 10, maxHeldRequests: 5 }));
  login(h, 'p', 'alice');
  h.send('p', '/queue/q', 'x'.repeat(20), { persistent: false, id: 'a' });
  for (let i = 0; i < 6; i++) h.send('p', '/queue/q', 'y', { persistent: false, id: `b${i}` });
  const errs = h.errors('p');
  assert.equal(errs.length, 1);
  assert.equal(errs[0]!.code, 'NO_SPACE');
  assert.equal(errs[0]!.fatal, true);
  assert.ok(h.ended.has('p'));
  assert.equal(h.core.usageStats().blockedProducers, 0);
  assert.equal(h.core.usageStats().heldRequests, 0);
});

test('a blocked producer that goes away frees its place; the next one is released', () => {
  const h = new Harness(flow({ memoryLimit: 10 }));
  login(h, 'p1', 'alice');
  login(h, 'p2', 'bob');
  login(h, 'c', 'carol');
  h.send('p1', '/queue/q', 'x'.repeat(20), { persistent: false, id: 'a' });
  h.send('p1', '/queue/q', 'held-1', { persistent: false, id: 'b' });
  const p2 = h.send('p2', '/queue/q', 'held-2', { persistent: false, id: 'c' });
  assert.equal(h.core.usageStats().blockedProducers, 2);
  h.end('p1');
  h.subscribe('c', 's', '/queue/q', { ackMode: 'ACK_MODE_AUTO' });
  for (const d of h.deliveries('c')) h.ack('c', d.deliveryTag);
  assert.ok(h.receipts('p2').includes(p2));
  assert.equal(h.core.usageStats().blockedProducers, 0);
});

test('store usage follows the journal: a replica replaying it, and a purge, count the same bytes', () => {
  const h = new Harness();
  login(h, 'p', 'alice');
  login(h, 'c', 'carol');
  for (let i = 0; i < 5; i++) h.send('p', '/queue/q', 'x'.repeat(100), { id: `m${i}` });
  h.subscribe('c', 's', '/queue/q', { prefetch: 2 });
  const ds = h.deliveries('c');
  h.ack('c', ds[0]!.deliveryTag);
  const master = h.core.usageStats().store;
  assert.ok(master > 0);
  const replica = new BrokerCore(options());
  replica.replay(h.entries, h.now);
  assert.equal(replica.usageStats().store, master);
  assert.deepEqual(h.core.purge('/queue/q', h.now), { ok: true, removed: 2 });
  h.pump();
  const afterPurge = h.core.usageStats().store;
  assert.equal(afterPurge, master / 2, 'the two in flight are kept');
  const replica2 = new BrokerCore(options());
  replica2.replay(h.entries, h.now);
  assert.equal(replica2.usageStats().store, afterPurge);
});
