// Admin delete (BrokerCore.deleteDestination): a queue, a topic or a durable subscription's
// backlog goes with its messages and its name is forgotten — not listed, a maxDestinations slot
// free again, reported in Ready.forgotten — journaled so that a replay (a replica) and a
// restart (the materialized disk) agree. Refused while something consumes it.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { BrokerCore } from './core';
import { Harness, options } from './testing';

function opened(h: Harness, ...sids: string[]): void {
  for (const sid of sids) { h.open(sid, `client-${sid}`); h.take(sid); }
}

const names = (h: { core: BrokerCore } | BrokerCore) => ('core' in h ? h.core : h).destinations().map((d) => d.name);

/** A second core that only replays the first one's journal, as a replica does. */
function replica(h: Harness): BrokerCore {
  const r = new BrokerCore(h.opts);
  r.replay(h.entries, h.now);
  return r;
}

describe('deleteDestination: a queue', () => {
  test('refused while it has consumers ("close its N consumers first"), nothing journaled; then it goes with its messages', () => {
    const h = new Harness();
    opened(h, 'p', 'c1', 'c2');
    for (let i = 0; i < 3; i++) h.send('p', '/queue/q', `m${i}`);
    h.subscribe('c1', 's', '/queue/q', { prefetch: 1 });
    h.subscribe('c2', 's', '/queue/q', { prefetch: 1 });
    const entries = h.entries.length;
    const r = h.core.deleteDestination('/queue/q', h.now);
    assert.deepEqual(r, { ok: false, code: 'IN_USE', message: "queue '/queue/q' has 2 consumers: close its 2 consumers first, then delete it" });
    h.pump();
    assert.equal(h.entries.length, entries, 'a refusal journals nothing');
    assert.equal(h.depth('/queue/q'), 3);

    h.end('c1');
    h.end('c2');
    assert.equal(h.depth('/queue/q'), 3, 'their deliveries came back');
    const ok = h.core.deleteDestination('/queue/q', h.now);
    h.pump();
    assert.deepEqual(ok, { ok: true, removed: 3 });
    assert.ok(!names(h).includes('/queue/q'), 'no longer listed');
    assert.deepEqual(h.entries.at(-1)!.ops.map((o) => o.kind), ['purge', 'forget'], 'one entry: purge, then forget');
    assert.deepEqual(h.forgotten, ['/queue/q']);
    assert.equal(h.disk.has('/queue/q'), false, 'the materialized queue is gone');
    assert.equal(h.core.usageStats().store, 0, 'its store usage is given back');
  });

  test('a bridge\'s demand counts as a consumer', () => {
    const h = new Harness();
    opened(h, 'p');
    h.open('bridge', 'bridge', true);
    h.subscribe('bridge', 's', '/queue/q');
    const r = h.core.deleteDestination('/queue/q', h.now);
    assert.equal(r.ok, false);
    assert.match(!r.ok ? r.message : '', /has 1 consumer \(1 of them a bridge's demand from another group\): close its 1 consumer first/);
  });

  test('frees a broker.maxDestinations slot', () => {
    const h = new Harness(options({ maxDestinations: 2 }));
    opened(h, 'p');
    h.send('p', '/queue/a', 'a');
    h.send('p', '/queue/b', 'b');
    opened(h, 'p2');
    h.send('p2', '/queue/c', 'c');
    assert.equal(h.errors('p2')[0]?.code, 'LIMIT_EXCEEDED');
    assert.deepEqual(h.core.deleteDestination('/queue/a', h.now), { ok: true, removed: 1 });
    h.pump();
    opened(h, 'p3');
    const id = h.send('p3', '/queue/c', 'c');
    assert.deepEqual(h.receipts('p3'), [id], 'the freed slot takes a new name');
    assert.deepEqual(names(h), ['/queue/b', '/queue/c']);
  });

  test('replay (a replica) and a restart (the disk) agree; the name made anew starts empty', () => {
    const h = new Harness(options({ pageSize: 4 }));
    opened(h, 'p');
    // More than a page: most of them are on disk only when it is deleted.
    for (let i = 0; i < 10; i++) h.send('p', '/queue/big', `m${i}`);
    h.send('p', '/queue/big', 'np', { persistent: false });
    h.send('p', '/queue/keep', 'k');
    assert.deepEqual(h.core.deleteDestination('/queue/big', h.now), { ok: true, removed: 11 });
    h.pump();
    assert.deepEqual(names(h), ['/queue/keep']);
    assert.deepEqual(names(replica(h)), ['/queue/keep'], 'a replica replaying the journal agrees');
    const restarted = h.restarted();
    assert.deepEqual(names(restarted), ['/queue/keep'], 'a restarted store agrees');

    // Made anew by a SEND: only the new message, on this core, a replica and after a restart.
    h.send('p', '/queue/big', 'again');
    opened(h, 'c');
    h.subscribe('c', 's', '/queue/big');
    assert.deepEqual(h.bodies('c'), ['again']);
    assert.equal(replica(h).destinations('/queue/big')[0]?.depth, 1);
    const r2 = h.restarted();
    opened(r2, 'c');
    r2.subscribe('c', 's', '/queue/big');
    assert.deepEqual(r2.bodies('c'), ['again']);
  });

  test('an empty queue (made by a consumer that left) goes; a virtual topic\'s consumer queue stops taking copies', () => {
    const h = new Harness();
    opened(h, 'c', 'p');
    h.subscribe('c', 's', '/queue/Consumer.A.VirtualTopic.Orders');
    h.request('c', { kind: 'unsubscribe', unsubscribe: { subscriptionId: 's', removeDurable: false } });
    assert.deepEqual(names(h), ['/queue/Consumer.A.VirtualTopic.Orders']);
    assert.deepEqual(h.core.deleteDestination('/queue/Consumer.A.VirtualTopic.Orders', h.now), { ok: true, removed: 0 });
    h.pump();
    assert.deepEqual(h.entries.at(-1)!.ops.map((o) => o.kind), ['forget'], 'nothing to purge');
    h.send('p', '/topic/VirtualTopic.Orders', 'o1');
    assert.deepEqual(names(h), [], 'the deleted consumer queue took no copy');
  });

  test('invalid, unknown and temporary names are refused', () => {
    const h = new Harness();
    assert.equal(h.core.deleteDestination('nope', h.now).ok, false);
    assert.deepEqual(h.core.deleteDestination('/queue/none', h.now), { ok: false, code: 'NOT_FOUND', message: "queue '/queue/none' does not exist on this store: check the name with Admin.Destinations (hawser destinations)" });
    assert.equal((h.core.deleteDestination('durable:c:none', h.now) as { code: string }).code, 'NOT_FOUND');
    assert.equal((h.core.deleteDestination('nope', h.now) as { code: string }).code, 'INVALID_DESTINATION');
    opened(h, 't');
    h.subscribe('t', 's', '/temp-queue/t/x');
    h.request('t', { kind: 'unsubscribe', unsubscribe: { subscriptionId: 's', removeDurable: false } });
    const temp = names(h).find((n) => n.startsWith('/temp-queue/'))!;
    const r = h.core.deleteDestination(temp, h.now);
    assert.equal(r.ok, false);
    assert.match(!r.ok ? r.message : '', /deleted when the connection that made it closes/);
  });
});

describe('deleteDestination: topics and durable subscriptions', () => {
  test('a topic with a live subscriber is refused; without subscribers its name (and retained message) goes', () => {
    const h = new Harness(options({ maxDestinations: 2 }));
    opened(h, 'p', 's');
    h.subscribe('s', 'a', '/topic/t');
    h.send('p', '/topic/t', 'kept', { headers: { 'ActiveMQ.Retain': 'true' } });
    const r = h.core.deleteDestination('/topic/t', h.now);
    assert.deepEqual(r, { ok: false, code: 'IN_USE', message: "topic '/topic/t' has 1 subscriber: close its 1 subscriber first, then delete it" });
    h.request('s', { kind: 'unsubscribe', unsubscribe: { subscriptionId: 'a', removeDurable: false } });
    assert.deepEqual(names(h), [], 'a topic without subscribers is not listed, but its name holds a slot');
    assert.ok(h.core.retainedOf('/topic/t'));
    assert.deepEqual(h.core.deleteDestination('/topic/t', h.now), { ok: true, removed: 1 });
    h.pump();
    assert.equal(h.core.retainedOf('/topic/t'), undefined, 'its retained message went with it');
    assert.equal(replica(h).retainedOf('/topic/t'), undefined);
    assert.equal(h.restarted().core.retainedOf('/topic/t'), undefined);
    assert.deepEqual(h.forgotten, ['/topic/t']);
    // Its slot is free: two new names fit in maxDestinations 2.
    h.send('p', '/queue/x', 'x');
    h.send('p', '/queue/y', 'y');
    assert.deepEqual(h.errors('p'), []);
    assert.deepEqual(h.core.deleteDestination('/topic/t', h.now).ok, false, 'forgotten: not found any more');
  });

  test('a durable subscription: refused while active; offline it goes by its listed name (with its backlog), then the topic', () => {
    const h = new Harness();
    opened(h, 'p');
    h.open('d', 'cid');
    h.take('d');
    h.subscribe('d', 's', '/topic/news', { durableName: 'n' });
    assert.deepEqual(names(h), ['/topic/news', 'durable:cid:n']);
    assert.deepEqual(h.core.deleteDestination('durable:cid:n', h.now), { ok: false, code: 'IN_USE', message: "durable subscription 'n' of client 'cid' is active: its client must unsubscribe (or disconnect) first, then delete durable:cid:n" });
    assert.equal((h.core.deleteDestination('/topic/news', h.now) as { code: string }).code, 'IN_USE');
    h.end('d');
    h.send('p', '/topic/news', 'while away 1');
    h.send('p', '/topic/news', 'while away 2');
    const topic = h.core.deleteDestination('/topic/news', h.now);
    assert.deepEqual(topic, { ok: false, code: 'IN_USE', message: "topic '/topic/news' has 1 offline durable subscription: delete durable:cid:n first (each by that name), then the topic" });
    assert.deepEqual(h.core.deleteDestination('durable:cid:n', h.now), { ok: true, removed: 2 });
    h.pump();
    assert.deepEqual(h.entries.at(-1)!.ops.map((o) => o.kind), ['removeDurable', 'forget']);
    assert.deepEqual(names(h), []);
    assert.deepEqual(names(replica(h)), []);
    assert.deepEqual(names(h.restarted()), [], 'the subscription is not recovered');
    assert.deepEqual(h.core.deleteDestination('/topic/news', h.now), { ok: true, removed: 0 });
    h.pump();
    assert.deepEqual(h.forgotten, ['durable:cid:n', '/topic/news']);

    // Subscribing again with the same names makes a new, empty subscription.
    h.open('d2', 'cid');
    h.take('d2');
    h.subscribe('d2', 's', '/topic/news', { durableName: 'n' });
    assert.deepEqual(h.bodies('d2'), []);
  });
});
