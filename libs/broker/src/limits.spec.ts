// broker.maxDestinations (CoreOptions.maxDestinations): a SEND or SUBSCRIBE naming one
// destination more than the broker takes is refused with LIMIT_EXCEEDED; the known ones keep
// working. Every name seen counts, since each keeps its metric series (docs/security.md).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, options } from './testing';

function opened(h: Harness, ...sids: string[]): void {
  for (const sid of sids) { h.open(sid, `client-${sid}`); h.take(sid); }
}

describe('maxDestinations', () => {
  test('a SEND or SUBSCRIBE naming one more is refused with a message naming the key; known destinations keep working', () => {
    const h = new Harness(options({ maxDestinations: 3 }));
    opened(h, 'p', 'c');
    const r1 = h.send('p', '/queue/a', 'a1');
    const r2 = h.send('p', '/queue/b', 'b1');
    const r3 = h.subscribe('c', 's1', '/topic/t');
    assert.deepEqual(h.receipts('p'), [r1, r2]);
    assert.deepEqual(h.receipts('c'), [r3]);
    assert.equal(h.core.destinationRefusals, 0);

    // A fourth name: refused (fatal, like every refused request), whoever asks.
    h.send('p', '/queue/c', 'c1');
    const [err] = h.errors('p');
    assert.equal(err!.code, 'LIMIT_EXCEEDED');
    assert.equal(err!.message, 'too many destinations: this broker holds 3, the most allowed (broker.maxDestinations); use an existing destination, or raise broker.maxDestinations');
    assert.ok(h.ended.has('p'), 'the refused session ends');
    assert.equal(h.core.destinations('/queue/c').length, 0, 'nothing was created');

    opened(h, 'q');
    h.subscribe('q', 's', '/queue/new');
    assert.equal(h.errors('q')[0]?.code, 'LIMIT_EXCEEDED');
    opened(h, 'r');
    // A topic without subscribers creates no destination, but its name would add metric series.
    h.send('r', '/topic/nobody', 'x');
    assert.equal(h.errors('r')[0]?.code, 'LIMIT_EXCEEDED');
    assert.equal(h.core.destinationRefusals, 3);

    // The three known names keep working, for new sessions too.
    opened(h, 'p2', 'c2');
    h.subscribe('c2', 's', '/queue/a');
    assert.deepEqual(h.bodies('c2'), ['a1']);
    h.send('p2', '/topic/t', 't1');
    h.send('p2', '/queue/b', 'b2');
    assert.deepEqual(h.errors('p2'), []);
    assert.deepEqual(h.bodies('c'), ['t1']);
    assert.equal(h.depth('/queue/b'), 2);
  });

  test('a transactional SEND is refused at the SEND, not at the COMMIT', () => {
    const h = new Harness(options({ maxDestinations: 1 }));
    opened(h, 'p');
    h.send('p', '/queue/a', 'a1');
    h.request('p', { kind: 'begin', begin: { transaction: 't' } });
    h.send('p', '/queue/b', 'b1', {}, 't');
    assert.equal(h.errors('p')[0]?.code, 'LIMIT_EXCEEDED');
  });

  test('a new durable subscription counts its backlog; re-attaching to it does not', () => {
    const h = new Harness(options({ maxDestinations: 2 }));
    opened(h, 'c');
    h.subscribe('c', 's1', '/topic/d', { durableName: 'one' }); // names: /topic/d, durable:client-c:one
    assert.deepEqual(h.errors('c'), []);
    h.request('c', { kind: 'unsubscribe', unsubscribe: { subscriptionId: 's1', removeDurable: false } });
    h.subscribe('c', 's1', '/topic/d', { durableName: 'one' });
    assert.deepEqual(h.errors('c'), [], 'the same durable subscription again is no new destination');
    h.subscribe('c', 's2', '/topic/d', { durableName: 'two' });
    assert.equal(h.errors('c')[0]?.code, 'LIMIT_EXCEEDED');
  });

  test('0 (and unset) means no bound', () => {
    for (const h of [new Harness(options({ maxDestinations: 0 })), new Harness(options())]) {
      opened(h, 'p');
      for (let i = 0; i < 200; i++) h.send('p', `/queue/q${i}`, 'x');
      assert.deepEqual(h.errors('p'), []);
      assert.equal(h.core.destinationRefusals, 0);
    }
  });
});
