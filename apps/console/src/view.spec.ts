import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { GroupInfo, TopologySnapshot } from '@hawser/proto';
import { destinationKind, isDlq, normalize, topologyEvents } from './view';

const member = (id: string, role: string) => ({ id, address: `127.0.0.1:${id}`, role, epoch: 1, commitPosition: 0, lastPosition: 0, lagEntries: 0, lagSeconds: 0, pid: 1, weight: 0, httpPort: 0 });
const group = (state: string, masterId: string, epoch: number, ids: string[]): GroupInfo => ({
  name: 'g1', state, epoch, masterId, masterAddress: masterId ? `127.0.0.1:${masterId}` : '', replicas: 3, message: '',
  members: ids.map((id) => member(id, id === masterId ? 'master' : 'slave')),
});
const snap = (g: GroupInfo): TopologySnapshot => normalize({ version: 1, groups: [g] });

test('an election as the coordinators publish it: the master leaves, electing, a new master — "was" survives the gap', () => {
  const last = new Map<string, string>();
  const a = snap(group('ok', 's1', 1, ['s1', 's2', 's3']));
  const b = snap(group('electing', '', 1, ['s2', 's3']));
  const c = snap(group('ok', 's2', 2, ['s2', 's3']));
  assert.deepEqual(topologyEvents(undefined, a, 1).map((e) => e.text), ['group g1: ok, master s1 (epoch 1)']);
  assert.deepEqual(topologyEvents(a, b, 2, last).map((e) => e.text), ['s1 left the group (it was the master)', 'state ok -> electing', 'no master (was s1)']);
  assert.deepEqual(topologyEvents(b, c, 3, last).map((e) => [e.kind, e.text]), [['state', 'state electing -> ok'], ['master', 's2 is master in epoch 2 (was s1)']]);
  assert.deepEqual(topologyEvents(c, snap(group('ok', 's2', 3, ['s2', 's3'])), 4, last).map((e) => e.text), ['epoch 2 -> 3']);
  assert.deepEqual(topologyEvents(c, normalize({}), 5, last).map((e) => e.text), ['group g1 is gone from the topology']);
});

test('destination kinds and dead-letter queues', () => {
  assert.equal(destinationKind('/queue/a'), 'queue');
  assert.equal(destinationKind('/topic/a'), 'topic');
  assert.equal(destinationKind('durable:c:n'), 'durable');
  assert.ok(isDlq('/queue/ActiveMQ.DLQ', '/queue/ActiveMQ.DLQ'));
  assert.ok(isDlq('/queue/my.dead', '/queue/my.dead'));
  assert.ok(isDlq('/queue/DLQ.orders', '/queue/ActiveMQ.DLQ'));
  assert.ok(isDlq('/queue/orders.DLQ', '/queue/ActiveMQ.DLQ'));
  assert.ok(!isDlq('/queue/DLQueue', '/queue/ActiveMQ.DLQ'));
  assert.ok(!isDlq('/topic/ActiveMQ.DLQ', '/queue/ActiveMQ.DLQ'));
});
