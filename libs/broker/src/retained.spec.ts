// Retained messages in the core (retained.ts): scenarios.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileSelector } from '@hawser/selector';
import { BrokerCore } from './core';
import { Harness, options } from './testing';
import type { Delivery, Message } from './types';

const RETAIN = { 'ActiveMQ.Retain': 'true' };

function opened(h: Harness, ...sids: string[]): void {
  for (const sid of sids) { h.open(sid, `client-${sid}`); h.take(sid); }
}

const retainedMark = (d: Delivery) => d.message.headers['ActiveMQ.Retained'];
const view = (ds: Delivery[]) => ds.map((d) => `${d.message.body.toString()}${retainedMark(d) === 'true' ? ' (retained)' : ''}`);

const scenarios: Array<{ name: string; run: (h: Harness) => void }> = [
  {
    name: 'set, replace: a new subscriber gets the last retained message first, marked ActiveMQ.Retained',
    run: (h) => {
      opened(h, 'p', 'old', 'new');
      h.subscribe('old', 's', '/topic/t');
      h.send('p', '/topic/t', 'v1', { headers: RETAIN });
      h.send('p', '/topic/t', 'v2', { headers: RETAIN });
      h.send('p', '/topic/t', 'plain');
      // Current subscribers get retained SENDs as ordinary deliveries [MQTT-3.3.1-9].
      assert.deepEqual(view(h.deliveries('old')), ['v1', 'v2', 'plain']);
      h.subscribe('new', 's', '/topic/t');
      h.send('p', '/topic/t', 'live');
      assert.deepEqual(view(h.deliveries('new')), ['v2 (retained)', 'live']);
      assert.equal(h.core.retainedStats().count, 1);
    },
  },
  {
    name: 'clear: an empty retained SEND removes it, is not retained itself, and reaches current subscribers [MQTT-3.3.1-10, -11]',
    run: (h) => {
      opened(h, 'p', 'cur', 'late');
      h.send('p', '/topic/t', 'v1', { headers: RETAIN });
      h.subscribe('cur', 's', '/topic/t');
      h.send('p', '/topic/t', '', { headers: RETAIN });
      assert.deepEqual(view(h.deliveries('cur')), ['v1 (retained)', '']);
      h.subscribe('late', 's', '/topic/t');
      assert.deepEqual(view(h.deliveries('late')), []);
      assert.equal(h.core.retainedStats().count, 0);
      assert.deepEqual(h.entries.flatMap((e) => e.ops).filter((o) => o.kind === 'retain' || o.kind === 'dropRetained').map((o) => o.kind), ['retain', 'dropRetained']);
      // Clearing a topic without one journals nothing.
      h.send('p', '/topic/none', '', { headers: RETAIN });
      assert.equal(h.entries.flatMap((e) => e.ops).filter((o) => o.kind === 'dropRetained').length, 1);
    },
  },
  {
    name: 'a wildcard subscription gets the retained message of every matching topic ($ rule included)',
    run: (h) => {
      opened(h, 'p', 'gt', 'star', 'all');
      for (const t of ['a', 'a.b', 'a.b.c', 'b', '$SYS.x']) h.send('p', `/topic/${t}`, t, { headers: RETAIN });
      h.subscribe('gt', 's', '/topic/a.>');
      h.subscribe('star', 's', '/topic/a.*');
      h.subscribe('all', 's', '/topic/>');
      assert.deepEqual(view(h.deliveries('gt')).sort(), ['a (retained)', 'a.b (retained)', 'a.b.c (retained)']);
      assert.deepEqual(view(h.deliveries('star')), ['a.b (retained)']);
      assert.deepEqual(view(h.deliveries('all')).sort(), ['a (retained)', 'a.b (retained)', 'a.b.c (retained)', 'b (retained)']);
    },
  },
  {
    name: 'retained copies follow the subscription: its selector, its ack mode (acked, not redelivered)',
    run: (h) => {
      opened(h, 'p', 'c');
      h.send('p', '/topic/t.red', 'red', { headers: { ...RETAIN, colour: 'red' } });
      h.send('p', '/topic/t.blue', 'blue', { headers: { ...RETAIN, colour: 'blue' } });
      h.subscribe('c', 's', '/topic/t.*', { selector: "colour = 'red'" });
      const [d] = h.deliveries('c');
      assert.equal(d?.message.body.toString(), 'red');
      h.ack('c', d!.deliveryTag);
      assert.deepEqual(h.errors('c'), []);
      // The stored retained message itself carries no ActiveMQ.Retained mark.
      assert.equal(h.core.retainedOf('/topic/t.red')?.headers['ActiveMQ.Retained'], undefined);
    },
  },
  {
    name: 'a durable subscription gets retained messages when made, not each time it is resumed',
    run: (h) => {
      opened(h, 'p');
      h.open('c', 'client-c');
      h.send('p', '/topic/t', 'v1', { headers: RETAIN });
      h.subscribe('c', 's', '/topic/t', { durableName: 'd' });
      const [d] = h.deliveries('c');
      assert.deepEqual(view([d!]), ['v1 (retained)']);
      h.ack('c', d!.deliveryTag); // (an unacked one would be redelivered on resume, like any delivery)
      h.end('c');
      h.open('c2', 'client-c');
      h.subscribe('c2', 's', '/topic/t', { durableName: 'd' });
      assert.deepEqual(view(h.deliveries('c2')).filter((b) => b.includes('retained')), [], 'resumed: no retained copy again');
    },
  },
  {
    name: 'an expired retained message is not delivered to new subscribers',
    run: (h) => {
      opened(h, 'p', 'c');
      h.send('p', '/topic/t', 'short-lived', { headers: RETAIN, expires: h.now + 1000 });
      h.tick(2000);
      h.subscribe('c', 's', '/topic/t');
      assert.deepEqual(h.bodies('c'), []);
    },
  },
  {
    name: 'retained inside a transaction happens at COMMIT, not before, not after ABORT',
    run: (h) => {
      opened(h, 'p', 'c', 'd');
      h.request('p', { kind: 'begin', begin: { transaction: 'tx' } });
      h.send('p', '/topic/t', 'in tx', { headers: RETAIN }, 'tx');
      h.subscribe('c', 's', '/topic/t');
      assert.deepEqual(h.bodies('c'), []);
      h.request('p', { kind: 'commit', commit: { transaction: 'tx' } });
      h.subscribe('d', 's', '/topic/t');
      assert.deepEqual(view(h.deliveries('d')), ['in tx (retained)']);
      h.request('p', { kind: 'begin', begin: { transaction: 'tx2' } });
      h.send('p', '/topic/t', 'aborted', { headers: RETAIN }, 'tx2');
      h.request('p', { kind: 'abort', abort: { transaction: 'tx2' } });
      assert.equal(h.core.retainedOf('/topic/t')?.body.toString(), 'in tx');
    },
  },
];

for (const s of scenarios) {
  test(s.name, () => s.run(new Harness(options({ compileSelector }))));
}

test('bound: broker.maxRetained refuses one more topic (LIMIT_EXCEEDED, not fatal); replacing and clearing still work', () => {
  const h = new Harness(options({ maxRetained: 2 }));
  opened(h, 'p', 'c');
  h.send('p', '/topic/a', 'a', { headers: RETAIN });
  h.send('p', '/topic/b', 'b', { headers: RETAIN });
  h.subscribe('c', 's', '/topic/c');
  h.send('p', '/topic/c', 'c', { headers: RETAIN });
  const [err] = h.errors('p');
  assert.equal(err?.code, 'LIMIT_EXCEEDED');
  assert.equal(err?.fatal, false);
  assert.match(err!.message, /broker\.maxRetained/);
  assert.deepEqual(h.bodies('c'), [], 'the refused SEND is not delivered either');
  h.send('p', '/topic/b', 'b2', { headers: RETAIN });
  h.send('p', '/topic/a', '', { headers: RETAIN });
  h.send('p', '/topic/c', 'c', { headers: RETAIN });
  assert.equal(h.errors('p').length, 1, 'no new error');
  assert.deepEqual(h.core.retainedStats(), { count: 2, bytes: h.core.retainedStats().bytes, refused: 1 });
  assert.equal(h.core.retainedOf('/topic/b')?.body.toString(), 'b2');
});

test('bound: broker.maxRetainedBytes', () => {
  const h = new Harness(options({ maxRetainedBytes: 1000 }));
  opened(h, 'p');
  h.send('p', '/topic/a', 'x'.repeat(400), { headers: RETAIN });
  h.send('p', '/topic/b', 'x'.repeat(700), { headers: RETAIN });
  assert.equal(h.errors('p')[0]?.code, 'LIMIT_EXCEEDED');
  assert.match(h.errors('p')[0]!.message, /broker\.maxRetainedBytes/);
  assert.equal(h.core.retainedStats().count, 1);
});

test('retained messages survive a restart (recovered) and a replay (a promoted replica), clears included', () => {
  const h = new Harness(options());
  opened(h, 'p');
  h.send('p', '/topic/a.b', 'kept', { headers: RETAIN, persistent: false });
  h.send('p', '/topic/a.c', 'cleared', { headers: RETAIN });
  h.send('p', '/topic/a.c', '', { headers: RETAIN });
  h.send('p', '/topic/x', 'x1', { headers: RETAIN });
  h.send('p', '/topic/x', 'x2', { headers: RETAIN });

  const replica = new BrokerCore(options());
  replica.replay(h.entries, h.now);
  replica.takeReady();
  const restarted = h.restarted();
  for (const core of [restarted.core, replica]) {
    const bodies = (t: string) => core.retainedOf(t)?.body.toString();
    assert.deepEqual([bodies('/topic/a.b'), bodies('/topic/a.c'), bodies('/topic/x')], ['kept', undefined, 'x2']);
    assert.equal(core.retainedStats().count, 2);
  }
  restarted.open('c', 'c');
  restarted.subscribe('c', 's', '/topic/>');
  assert.deepEqual(view(restarted.deliveries('c')).sort(), ['kept (retained)', 'x2 (retained)']);
});

test('the retain op carries the message as sent (the journal is what replicas and the disk see)', () => {
  const h = new Harness(options());
  opened(h, 'p');
  h.send('p', '/topic/t', 'v', { headers: { ...RETAIN, k: 'v' }, id: 'm-1' });
  const op = h.entries.flatMap((e) => e.ops).find((o) => o.kind === 'retain');
  const m = (op as { retain: { message: Message } }).retain.message;
  assert.deepEqual([m.id, m.destination, m.body.toString(), m.headers.k], ['m-1', '/topic/t', 'v', 'v']);
});
