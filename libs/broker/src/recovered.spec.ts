// D1 of docs/reliability.md: deliveries are not journaled, so a core that starts serving from
// recovered state (a store after a crash, a replica promoted to master) cannot know which of
// its messages went out before. markRecoveredPossiblyDelivered() marks them all: their next
// delivery says redelivered (JMS: "may have been delivered"), without counting as a failed
// delivery toward maximumRedeliveries.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, options } from './testing';
import type { Delivery } from './types';

function opened(h: Harness, ...sids: string[]): void {
  for (const sid of sids) { h.open(sid, `client-${sid}`); h.take(sid); }
}

const marks = (ds: Delivery[]) => ds.map((d) => [d.message.body.toString(), d.redelivered, d.deliveryCount]);

/** A store restarted on `h`'s disk that serves from what it recovered (store.ts makeCore). */
function restartedAndMarked(h: Harness): Harness {
  const r = h.restarted();
  r.core.markRecoveredPossiblyDelivered();
  return r;
}

test('a restarted store: every recovered message (delivered before or not) comes marked; new ones do not', () => {
  const h = new Harness(options());
  opened(h, 'p', 'a');
  h.subscribe('a', 's', '/queue/q', { prefetch: 1 });
  h.send('p', '/queue/q', 'm1');
  h.send('p', '/queue/q', 'm2');
  assert.deepEqual(marks(h.deliveries('a')), [['m1', false, 1]]);

  const r = restartedAndMarked(h);
  opened(r, 'p', 'b');
  r.subscribe('b', 's', '/queue/q');
  // m2 was never delivered: over-marked (the price of not journaling deliveries).
  assert.deepEqual(marks(r.deliveries('b')), [['m1', true, 2], ['m2', true, 2]]);
  r.send('p', '/queue/q', 'm3', { id: 'm3' });
  assert.deepEqual(marks(r.deliveries('b')), [['m3', false, 1]]);
});

test('without the mark a recovered core delivers as before (the store decides where a core starts serving)', () => {
  const h = new Harness(options());
  opened(h, 'p');
  h.send('p', '/queue/q', 'm1');
  const r = h.restarted();
  opened(r, 'b');
  r.subscribe('b', 's', '/queue/q');
  assert.deepEqual(marks(r.deliveries('b')), [['m1', false, 1]]);
});

test('the mark is not a failed delivery: crashes with the message in flight never dead-letter it', () => {
  // maximumRedeliveries 0: a single failed delivery would send it to the DLQ.
  let h = new Harness(options({ maximumRedeliveries: 0 }));
  opened(h, 'p');
  h.send('p', '/queue/q', 'm1');
  for (let i = 0; i < 5; i++) {
    opened(h, 'c');
    h.subscribe('c', 's', '/queue/q');
    assert.deepEqual(marks(h.deliveries('c')), [['m1', i > 0, i > 0 ? 2 : 1]], `round ${i + 1}`);
    h = restartedAndMarked(h); // kill -9 with m1 in flight: nothing of the delivery is journaled
  }
  assert.equal(h.depth('/queue/ActiveMQ.DLQ'), 0, 'restarts are not failures');
  assert.equal(h.depth('/queue/q'), 1);
});

test('maximumRedeliveries counts real failures only, whatever the restarts between them', () => {
  let h = new Harness(options({ maximumRedeliveries: 1 }));
  opened(h, 'p');
  h.send('p', '/queue/q', 'm1');
  for (let i = 0; i < 4; i++) h = restartedAndMarked(h);
  opened(h, 'c');
  h.subscribe('c', 's', '/queue/q');
  let [d] = h.deliveries('c');
  assert.deepEqual(marks([d!]), [['m1', true, 2]]);
  h.nack('c', d!.deliveryTag); // failure 1 of 1 allowed
  [d] = h.deliveries('c');
  assert.deepEqual(marks([d!]), [['m1', true, 2]]);
  assert.equal(h.depth('/queue/ActiveMQ.DLQ'), 0);
  h.nack('c', d!.deliveryTag); // failure 2: over the limit
  assert.equal(h.depth('/queue/ActiveMQ.DLQ'), 1);
  assert.equal(h.depth('/queue/q'), 0);
});

test('a replica promoted to master: what it replayed comes marked, what it takes after does not; durable backlogs too', () => {
  const h = new Harness(options());
  opened(h, 'p', 'a', 'd');
  h.subscribe('d', 'ds', '/topic/t', { durableName: 'x' });
  h.subscribe('a', 's', '/queue/q');
  h.send('p', '/queue/q', 'q1');
  h.send('p', '/topic/t', 't1');
  assert.deepEqual(marks(h.deliveries('a')), [['q1', false, 1]]);
  assert.deepEqual(marks(h.deliveries('d')), [['t1', false, 1]]);

  // The slave's core: built empty and fed the master's log, then promoted.
  const r = new Harness(options({ epoch: 2 }));
  r.core.replay(h.entries, h.now);
  r.core.setEpoch(2);
  r.core.markRecoveredPossiblyDelivered();
  r.written = h.written;
  r.core.durable(h.written, r.now);
  opened(r, 'p', 'b');
  r.open('d2', 'client-d');
  r.take('d2');
  r.subscribe('b', 's', '/queue/q');
  r.subscribe('d2', 'ds', '/topic/t', { durableName: 'x' });
  assert.deepEqual(marks(r.deliveries('b')), [['q1', true, 2]]);
  assert.deepEqual(marks(r.deliveries('d2')), [['t1', true, 2]]);
  r.send('p', '/queue/q', 'q2', { id: 'q2' }); // ids of their own: the dedup window came with the log
  r.send('p', '/topic/t', 't2', { id: 't2' });
  assert.deepEqual(marks(r.deliveries('b')), [['q2', false, 1]]);
  assert.deepEqual(marks(r.deliveries('d2')), [['t2', false, 1]]);
});

test('the mark is taken once the message was delivered here and failed: counts go on from the journal', () => {
  const h = new Harness(options());
  opened(h, 'p', 'a');
  h.subscribe('a', 's', '/queue/q');
  h.send('p', '/queue/q', 'm1');
  const [d] = h.deliveries('a');
  h.nack('a', d!.deliveryTag);
  assert.deepEqual(marks(h.deliveries('a')), [['m1', true, 2]]);
  const r = restartedAndMarked(h);
  opened(r, 'b');
  r.subscribe('b', 's', '/queue/q');
  assert.deepEqual(marks(r.deliveries('b')), [['m1', true, 2]], 'failed = 1 journaled: count 2, not 3');
});
