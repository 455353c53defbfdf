// The `sessions` note written when confirmed messages are stuck after the drain: Admin.Sessions
// of a master grouped per destination, oldest session first, and its one-line summary.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { SessionInfo } from '@hawser/proto';
import { describeSessions, sessionsByDestination } from './sessions';

const sub = (id: string, destination: string, inflight: number) => ({ id, destination, queue: destination, ackMode: 'client-individual' as const, prefetch: 20, inflight, durable: false });
const session = (id: string, gateway: string, openedAt: number, subs: SessionInfo['subscriptions'], more: Partial<SessionInfo> = {}): SessionInfo => ({
  id, connectionId: `${gateway}:c-${id}`, clientId: '', login: '', gateway, via: gateway === 's1' ? 'local' : 'sessions', peer: gateway === 's1' ? '' : 'ipv4:10.0.0.5:4000',
  network: false, openedAt, inflight: subs.reduce((n, s) => n + s.inflight, 0), paused: false, closed: false, subscriptions: subs, ...more,
});

describe('sessions note', () => {
  const sessions = [
    session('s1-9', 'gw1', 300, [sub('chaos', '/queue/q', 3)]),
    session('s1-2', 'gw1', 100, [sub('chaos', '/queue/q', 20)]), // the ghost: oldest, prefetch full
    session('s1-5', 's2', 200, [sub('chaos', '/queue/q', 6), sub('chaos-t', '/topic/t', 0)]),
    session('s1-7', 's1', 250, [], { paused: true }),
    session('s1-8', 'b1', 260, [sub('bridge', '/queue/x', 1)], { network: true, paused: true }),
  ];

  it('per destination: how many sessions, what they hold, who (oldest first); sessions without a subscription are not listed', () => {
    const by = sessionsByDestination(sessions);
    assert.deepEqual(Object.keys(by).sort(), ['/queue/q', '/queue/x', '/topic/t']);
    const q = by['/queue/q']!;
    assert.equal(q.sessions, 3);
    assert.equal(q.inflight, 29);
    assert.deepEqual(q.heldBy.map((h) => [h.session, h.connection, h.gateway, h.via, h.inflight]), [
      ['s1-2', 'gw1:c-s1-2', 'gw1', 'sessions', 20], ['s1-5', 's2:c-s1-5', 's2', 'sessions', 6], ['s1-9', 'gw1:c-s1-9', 'gw1', 'sessions', 3],
    ]);
    assert.equal(by['/queue/x']!.heldBy[0]!.state, 'bridge,paused');
  });

  it('one log line per destination; a group that could not be asked says why', () => {
    const lines = describeSessions({ g1: { master: 's1', destinations: sessionsByDestination(sessions) }, g2: 'unavailable: no master' });
    assert.ok(lines.includes('g1 /queue/q: 3 session(s), 29 in flight (gw1 x2, s2 x1)'), lines.join('\n'));
    assert.ok(lines.includes('g2: unavailable: no master'));
  });
});
