// Store-side support for bridges (network connectors): consumer priority dispatch, local vs
// network demand in Admin.Destinations, headers kept intact, dedup of forwarded resends,
// and the admin refusals a bridge or an operator may hit. Scenario table, as in core.spec.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileSelector } from '@hawser/selector';
import { BrokerCore } from './core';
import { Harness, options } from './testing';

function opened(h: Harness, ...sids: string[]): void {
  for (const sid of sids) { h.open(sid, `client-${sid}`); h.take(sid); }
}

/** A bridge's session: Open.network = true. */
function bridge(h: Harness, sid: string): void {
  h.open(sid, `bridge-${sid}`, true);
  h.take(sid);
}

/** A replica rebuilt from h's journal (as a promoted slave is); a bridge session resends `id` to it. */
function resendOnReplica(h: Harness, id: string, destination: string) {
  const replica = new BrokerCore(options({ compileSelector }));
  replica.replay(h.entries, h.now);
  replica.takeReady();
  replica.handle('b2', [
    { requestId: 0, kind: 'open', open: { connectionId: 'b2', clientId: '', login: '', gateway: 'gw', network: true } },
    { requestId: 1, kind: 'send', send: { message: { id, destination, headers: {}, body: Buffer.from('x'), persistent: true, priority: 4, expires: 0, timestamp: 0 }, transaction: '' } },
  ], h.now);
  return { replica, ready: replica.takeReady() };
}

function info(h: Harness, name: string) {
  return h.core.destinations(name).find((d) => d.name === name);
}

const scenarios: Array<{ name: string; run: (h: Harness) => void }> = [
  {
    name: 'priority: a network consumer at -1 gets nothing while a local consumer at 0 has room',
    run: (h) => {
      opened(h, 'p', 'local');
      bridge(h, 'net');
      h.subscribe('net', 'b', '/queue/q', { priority: -1, prefetch: 10 });
      h.subscribe('local', 's', '/queue/q', { prefetch: 100 });
      // Subscribed first, yet second in line: priority, not arrival, decides.
      for (let i = 1; i <= 5; i++) h.send('p', '/queue/q', `m${i}`);
      assert.deepEqual(h.bodies('local'), ['m1', 'm2', 'm3', 'm4', 'm5']);
      assert.deepEqual(h.bodies('net'), []);
    },
  },
  {
    name: 'priority: the network consumer takes the overflow once the local consumer is full (prefetch)',
    run: (h) => {
      opened(h, 'p', 'local');
      bridge(h, 'net');
      h.subscribe('local', 's', '/queue/q', { prefetch: 2 });
      h.subscribe('net', 'b', '/queue/q', { priority: -1, prefetch: 10 });
      for (let i = 1; i <= 5; i++) h.send('p', '/queue/q', `m${i}`);
      const local = h.deliveries('local');
      assert.deepEqual(local.map((d) => d.message.body.toString()), ['m1', 'm2']);
      assert.deepEqual(h.bodies('net'), ['m3', 'm4', 'm5']);
      // Room again locally: the next message goes local, not to the bridge.
      h.ack('local', local[0]!.deliveryTag);
      h.send('p', '/queue/q', 'm6');
      assert.deepEqual(h.bodies('local'), ['m6']);
      assert.deepEqual(h.bodies('net'), []);
    },
  },
  {
    name: 'priority: with no local consumer the network consumer gets everything; a local one arriving takes over',
    run: (h) => {
      opened(h, 'p', 'local');
      bridge(h, 'net');
      h.subscribe('net', 'b', '/queue/q', { priority: -1, prefetch: 100 });
      h.send('p', '/queue/q', 'm1');
      assert.deepEqual(h.bodies('net'), ['m1']);
      h.subscribe('local', 's', '/queue/q');
      h.send('p', '/queue/q', 'm2');
      assert.deepEqual(h.bodies('local'), ['m2']);
      assert.deepEqual(h.bodies('net'), []);
    },
  },
  {
    name: 'priority: messages stranded before any local consumer existed drain to the network consumer',
    run: (h) => {
      opened(h, 'p');
      bridge(h, 'net');
      for (let i = 1; i <= 3; i++) h.send('p', '/queue/q', `m${i}`);
      assert.equal(h.depth('/queue/q'), 3);
      h.subscribe('net', 'b', '/queue/q', { priority: -1, prefetch: 10 });
      const got = h.deliveries('net');
      assert.deepEqual(got.map((d) => d.message.body.toString()), ['m1', 'm2', 'm3']);
      for (const d of got) h.ack('net', d.deliveryTag);
      assert.equal(h.depth('/queue/q'), 0);
    },
  },
  {
    name: 'priority: equal priorities share round-robin; a higher one that does not match passes the message down',
    run: (h) => {
      opened(h, 'p', 'hi', 'a', 'b');
      h.subscribe('hi', 's', '/queue/q', { priority: 5, selector: "kind = 'x'" });
      h.subscribe('a', 's', '/queue/q');
      h.subscribe('b', 's', '/queue/q');
      for (let i = 1; i <= 4; i++) h.send('p', '/queue/q', `m${i}`);
      h.send('p', '/queue/q', 'x1', { headers: { kind: 'x' } });
      assert.deepEqual(h.bodies('hi'), ['x1']);
      assert.deepEqual(h.bodies('a'), ['m1', 'm3']);
      assert.deepEqual(h.bodies('b'), ['m2', 'm4']);
    },
  },
  {
    name: 'priority: a returned delivery goes to the best consumer with room',
    run: (h) => {
      opened(h, 'p', 'local');
      bridge(h, 'net');
      h.subscribe('net', 'b', '/queue/q', { priority: -1, prefetch: 10 });
      h.send('p', '/queue/q', 'm1');
      const [d] = h.deliveries('net');
      h.subscribe('local', 's', '/queue/q');
      h.nack('net', d!.deliveryTag); // the bridge could not forward it: the local consumer gets it
      const again = h.deliveries('local');
      assert.deepEqual(again.map((x) => [x.message.body.toString(), x.redelivered]), [['m1', true]]);
    },
  },
  {
    name: 'destinations: queue consumers split into local and network',
    run: (h) => {
      opened(h, 'a', 'b');
      bridge(h, 'net');
      h.subscribe('a', 's', '/queue/q');
      h.subscribe('b', 's', '/queue/q');
      h.subscribe('net', 'b', '/queue/q', { priority: -1 });
      assert.deepEqual(pick(info(h, '/queue/q')), { consumers: 3, localConsumers: 2, networkConsumers: 1 });
      h.end('b');
      h.end('net');
      assert.deepEqual(pick(info(h, '/queue/q')), { consumers: 1, localConsumers: 1, networkConsumers: 0 });
    },
  },
  {
    name: 'destinations: a topic is listed while it has subscribers, live ones counted local/network; offline durables are not demand',
    run: (h) => {
      opened(h, 'a', 'd');
      bridge(h, 'net');
      assert.equal(info(h, '/topic/t'), undefined);
      h.subscribe('a', 's', '/topic/t');
      assert.deepEqual(pick(info(h, '/topic/t')), { consumers: 1, localConsumers: 1, networkConsumers: 0 }, 'listed with no message yet');
      h.subscribe('d', 'ds', '/topic/t', { durableName: 'dur' });
      h.subscribe('net', 'b', '/topic/t', { priority: -1 });
      assert.deepEqual(pick(info(h, '/topic/t')), { consumers: 3, localConsumers: 2, networkConsumers: 1 });
      h.request('d', { kind: 'unsubscribe', unsubscribe: { subscriptionId: 'ds', removeDurable: false } });
      assert.deepEqual(pick(info(h, '/topic/t')), { consumers: 2, localConsumers: 1, networkConsumers: 1 }, 'offline durable: not counted');
      const backlog = info(h, 'durable:client-d:dur');
      assert.ok(backlog, 'the durable backlog is its own entry');
      assert.deepEqual(pick(backlog), { consumers: 0, localConsumers: 0, networkConsumers: 0 });
      h.send('a', '/topic/t', 'x');
      assert.equal(info(h, '/topic/t')!.enqueued, 1);
      assert.equal(h.depth('durable:client-d:dur'), 1);
      h.end('a');
      h.end('net');
      assert.deepEqual(pick(info(h, '/topic/t')), { consumers: 0, localConsumers: 0, networkConsumers: 0 }, 'still listed: it has a durable subscription');
      h.subscribe('d', 'ds', '/topic/t', { durableName: 'dur' });
      h.request('d', { kind: 'unsubscribe', unsubscribe: { subscriptionId: 'ds', removeDurable: true } });
      assert.equal(info(h, '/topic/t'), undefined, 'no subscriber left: no longer listed');
    },
  },
  {
    name: 'headers: a forwarded message keeps hawser-visited and hawser-hops (queue and topic)',
    run: (h) => {
      opened(h, 'c');
      bridge(h, 'net');
      h.subscribe('c', 'q', '/queue/q');
      h.subscribe('c', 't', '/topic/t');
      const headers = { 'hawser-visited': 'g1,g2', 'hawser-hops': '1', 'custom': 'v' };
      h.send('net', '/queue/q', 'q', { id: 'ID:g1-1', headers });
      h.send('net', '/topic/t', 't', { id: 'ID:g1-2', headers });
      const got = h.deliveries('c');
      assert.equal(got.length, 2);
      for (const d of got) assert.deepEqual(d.message.headers, headers);
      assert.deepEqual(got.map((d) => d.message.id), ['ID:g1-1', 'ID:g1-2']);
    },
  },
  {
    name: 'dedup: a bridge resend of the same id is receipted and not stored again, also after a replay (promoted replica)',
    run: (h) => {
      bridge(h, 'net');
      const r1 = h.send('net', '/queue/q', 'x', { id: 'ID:g1-7' });
      const r2 = h.send('net', '/queue/q', 'x', { id: 'ID:g1-7' });
      assert.deepEqual(h.receipts('net'), [r1, r2]);
      assert.equal(h.depth('/queue/q'), 1);
      // A replica rebuilt from the journal (as a promoted slave is) knows the id too.
      const { replica, ready } = resendOnReplica(h, 'ID:g1-7', '/queue/q');
      assert.equal(ready.dedupHits, 1);
      assert.equal(ready.entries.length, 0, 'nothing journaled');
      assert.equal(replica.destinations('/queue/q')[0]!.depth, 1);
    },
  },
  {
    name: 'dedup: a topic publication with only non-durable subscribers is journaled by id (no body) and a second copy is dropped',
    run: (h) => {
      opened(h, 'sub');
      bridge(h, 'net');
      h.subscribe('sub', 's', '/topic/t');
      const before = h.entries.length;
      h.send('net', '/topic/t', 'direct', { id: 'ID:g1-9' });
      // The long way round (networkTTL >= 2 in a mesh) brings the same id again.
      h.send('net', '/topic/t', 'long-way', { id: 'ID:g1-9' });
      assert.deepEqual(h.bodies('sub'), ['direct']);
      const journaled = h.entries.slice(before).flatMap((e) => e.ops).filter((o) => o.kind === 'enqueue');
      assert.equal(journaled.length, 1);
      const e = journaled[0]!.kind === 'enqueue' ? journaled[0]!.enqueue : undefined;
      assert.deepEqual([e?.message.id, e?.queues, e?.dedup, e?.message.body.length], ['ID:g1-9', [], true, 0]);
      // A promoted replica remembers it too.
      assert.equal(resendOnReplica(h, 'ID:g1-9', '/topic/t').ready.dedupHits, 1);
    },
  },
  {
    name: 'purge: an unknown queue is NOT_FOUND, a topic or a bad name INVALID_DESTINATION; a durable backlog by its listed name',
    run: (h) => {
      opened(h, 'd', 'p');
      assert.deepEqual(pickCode(h.core.purge('/queue/nope', h.now)), 'NOT_FOUND');
      assert.deepEqual(pickCode(h.core.purge('/topic/t', h.now)), 'INVALID_DESTINATION');
      assert.match(failure(h.core.purge('/topic/t', h.now)), /topics have no stored messages/);
      assert.deepEqual(pickCode(h.core.purge('nowhere', h.now)), 'INVALID_DESTINATION');
      assert.deepEqual(pickCode(h.core.purge('durable:x:y', h.now)), 'NOT_FOUND');
      h.subscribe('d', 'ds', '/topic/t', { durableName: 'dur' });
      h.request('d', { kind: 'unsubscribe', unsubscribe: { subscriptionId: 'ds', removeDurable: false } });
      h.send('p', '/topic/t', 'a');
      h.send('p', '/topic/t', 'b');
      h.send('p', '/queue/q', 'c');
      assert.deepEqual(h.core.purge('durable:client-d:dur', h.now), { ok: true, removed: 2 });
      h.pump();
      assert.equal(h.depth('durable:client-d:dur'), 0);
      assert.deepEqual(h.core.purge('/queue/q', h.now), { ok: true, removed: 1 });
      h.pump();
      assert.deepEqual(h.core.purge('/queue/q', h.now), { ok: true, removed: 0 }, 'an existing empty queue is 0, not an error');
    },
  },
];

function pick(d: { consumers: number; localConsumers: number; networkConsumers: number } | undefined) {
  assert.ok(d, 'destination listed');
  return { consumers: d.consumers, localConsumers: d.localConsumers, networkConsumers: d.networkConsumers };
}

function pickCode(r: ReturnType<BrokerCore['purge']>): string {
  return r.ok ? 'ok' : r.code;
}

function failure(r: ReturnType<BrokerCore['purge']>): string {
  return r.ok ? '' : r.message;
}

for (const s of scenarios) {
  test(s.name, () => s.run(new Harness(options({ compileSelector }))));
}
