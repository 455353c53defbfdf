// Admin.Sessions (BrokerCore.sessionsInfo, admin.ts): every session the core holds, who opened
// it and what it holds in flight per subscription — so a session that outlived its client
// (docs/reliability.md D8) can be named by its connection id and gateway.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Harness } from './testing';

describe('sessionsInfo', () => {
  test('lists each session with its gateway, subscriptions and deliveries in flight; an ack and an end show', () => {
    const h = new Harness();
    h.open('p', 'producer');
    h.tick(5);
    h.open('c1', 'consumer-1');
    h.subscribe('c1', 'sub-q', '/queue/q', { prefetch: 5 });
    h.tick(5);
    h.open('c2', 'consumer-2');
    h.subscribe('c2', 'sub-t', '/topic/t', { ackMode: 'ACK_MODE_AUTO' });
    h.subscribe('c2', 'sub-d', '/topic/t', { durableName: 'd', ackMode: 'ACK_MODE_CLIENT' });
    for (let i = 0; i < 3; i++) h.send('p', '/queue/q', `m${i}`);
    h.pump();
    const tags = h.deliveries('c1').map((d) => d.deliveryTag);
    assert.equal(tags.length, 3);

    const all = h.core.sessionsInfo();
    assert.deepEqual(all.map((s) => s.id), ['p', 'c1', 'c2'], 'oldest first');
    const c1 = all[1]!;
    assert.equal(c1.connectionId, 'c1');
    assert.equal(c1.clientId, 'consumer-1');
    assert.equal(c1.gateway, 'gw', 'Open.gateway');
    assert.equal(c1.network, false);
    assert.ok(c1.openedAt > all[0]!.openedAt);
    assert.equal(c1.inflight, 3);
    assert.deepEqual(c1.subscriptions, [{ id: 'sub-q', destination: '/queue/q', queue: '/queue/q', ackMode: 'client-individual', prefetch: 5, inflight: 3, durable: false }]);
    const c2 = all[2]!;
    assert.deepEqual(c2.subscriptions.map((s) => [s.id, s.destination, s.ackMode, s.durable]), [['sub-t', '/topic/t', 'auto', false], ['sub-d', '/topic/t', 'client', true]]);
    assert.match(c2.subscriptions[1]!.queue, /^durable:consumer-2:d$/);

    assert.deepEqual(h.core.sessionsInfo('/queue/q').map((s) => s.id), ['c1'], 'by destination');
    assert.deepEqual(h.core.sessionsInfo('durable:').map((s) => s.id), ['c2'], 'by storage queue');
    assert.deepEqual(h.core.sessionsInfo('/queue/none'), []);

    h.ack('c1', tags[0]!);
    h.pump();
    assert.equal(h.core.sessionsInfo('/queue/q')[0]!.subscriptions[0]!.inflight, 2);

    h.core.pauseSession('c1');
    assert.equal(h.core.sessionsInfo('/queue/q')[0]!.paused, true, 'a full stream shows');

    h.end('c1');
    assert.deepEqual(h.core.sessionsInfo().map((s) => s.id), ['p', 'c2'], 'an ended session is gone');
    assert.equal(h.core.destinations('/queue/q')[0]!.inflight, 0, 'and what it held came back');
  });

  test('a bridge session is marked network', () => {
    const h = new Harness();
    h.open('bridge', 'bridge', true);
    h.subscribe('bridge', 's', '/queue/q');
    assert.equal(h.core.sessionsInfo()[0]!.network, true);
  });
});
