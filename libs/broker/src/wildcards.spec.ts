// Wildcard topic subscriptions in the core (topic-match.ts has the matching table): scenarios.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileSelector } from '@hawser/selector';
import { BrokerCore, type Authorizer } from './core';
import { Harness, options } from './testing';

function opened(h: Harness, ...sids: string[]): void {
  for (const sid of sids) { h.open(sid, `client-${sid}`); h.take(sid); }
}

const scenarios: Array<{ name: string; run: (h: Harness) => void }> = [
  {
    name: 'a pattern subscription gets every matching topic; exact and pattern subscribers side by side',
    run: (h) => {
      opened(h, 'p', 'gt', 'star', 'exact');
      h.subscribe('gt', 's', '/topic/a.>');
      h.subscribe('star', 's', '/topic/a.*');
      h.subscribe('exact', 's', '/topic/a.b');
      for (const t of ['a', 'a.b', 'a.b.c', 'b.a', 'ab']) h.send('p', `/topic/${t}`, t);
      assert.deepEqual(h.bodies('gt'), ['a', 'a.b', 'a.b.c']);
      assert.deepEqual(h.bodies('star'), ['a.b']);
      assert.deepEqual(h.bodies('exact'), ['a.b']);
    },
  },
  {
    name: 'a delivery keeps the topic it was published to (the subscriber learns which one matched)',
    run: (h) => {
      opened(h, 'p', 'c');
      h.subscribe('c', 's', '/topic/x.*.z');
      h.send('p', '/topic/x.y.z', 'm');
      const [d] = h.deliveries('c');
      assert.equal(d!.message.destination, '/topic/x.y.z');
      assert.equal(d!.subscriptionId, 's');
    },
  },
  {
    name: 'the $ rule: > and *.x do not see $SYS topics, $SYS.> does [MQTT-4.7.2-1]',
    run: (h) => {
      opened(h, 'p', 'all', 'star', 'sys');
      h.subscribe('all', 's', '/topic/>');
      h.subscribe('star', 's', '/topic/*.x');
      h.subscribe('sys', 's', '/topic/$SYS.>');
      h.send('p', '/topic/$SYS.x', 'sys');
      h.send('p', '/topic/a.x', 'ax');
      assert.deepEqual(h.bodies('all'), ['ax']);
      assert.deepEqual(h.bodies('star'), ['ax']);
      assert.deepEqual(h.bodies('sys'), ['sys']);
    },
  },
  {
    name: 'one session with overlapping subscriptions gets one copy per subscription (STOMP semantics kept)',
    run: (h) => {
      opened(h, 'p', 'c');
      h.subscribe('c', 's1', '/topic/a.>');
      h.subscribe('c', 's2', '/topic/a.b');
      h.send('p', '/topic/a.b', 'm');
      const ds = h.deliveries('c');
      assert.deepEqual(ds.map((d) => d.subscriptionId).sort(), ['s1', 's2']);
      assert.equal(ds[0]!.message.id, ds[1]!.message.id, 'same message id: what the MQTT adapter de-duplicates on');
    },
  },
  {
    name: 'selectors and noLocal apply to pattern subscriptions',
    run: (h) => {
      opened(h, 'p', 'c');
      h.subscribe('c', 'sel', '/topic/a.>', { selector: "colour = 'red'" });
      h.subscribe('p', 'own', '/topic/a.>', { noLocal: true });
      h.send('p', '/topic/a.b', 'blue', { headers: { colour: 'blue' } });
      h.send('p', '/topic/a.c', 'red', { headers: { colour: 'red' } });
      assert.deepEqual(h.bodies('c'), ['red']);
      assert.deepEqual(h.bodies('p'), []);
    },
  },
  {
    name: 'unsubscribe removes the pattern: nothing more arrives, and the pattern leaves the listing',
    run: (h) => {
      opened(h, 'p', 'c');
      h.subscribe('c', 's', '/topic/a.*');
      assert.equal(h.core.destinations('/topic/a.*')[0]?.localConsumers, 1);
      h.request('c', { kind: 'unsubscribe', unsubscribe: { subscriptionId: 's', removeDurable: false } });
      h.take('c');
      h.send('p', '/topic/a.b', 'm');
      assert.deepEqual(h.bodies('c'), []);
      assert.deepEqual(h.core.destinations('/topic/a.*'), []);
    },
  },
  {
    name: 'a SEND to a pattern is refused (INVALID_DESTINATION); so is a subscription with > not last',
    run: (h) => {
      opened(h, 'p', 'c');
      h.send('p', '/topic/a.*', 'm');
      assert.equal(h.errors('p')[0]?.code, 'INVALID_DESTINATION');
      assert.match(h.errors('p')[0]!.message, /wildcards, for subscribing/);
      h.subscribe('c', 's', '/topic/a.>.b');
      assert.equal(h.errors('c')[0]?.code, 'INVALID_DESTINATION');
      assert.match(h.errors('c')[0]!.message, /last segment/);
    },
  },
  {
    name: 'queues have no wildcards: /queue/a.* is a plain queue name',
    run: (h) => {
      opened(h, 'p', 'c');
      h.subscribe('c', 's', '/queue/a.*');
      h.send('p', '/queue/a.b', 'other');
      h.send('p', '/queue/a.*', 'mine');
      assert.deepEqual(h.bodies('c'), ['mine']);
    },
  },
  {
    name: 'demand: Admin.Destinations lists the pattern with its consumers (the bridge subscribes to the pattern)',
    run: (h) => {
      opened(h, 'c');
      h.open('net', 'bridge:l', true);
      h.subscribe('c', 's', '/topic/a.>');
      h.subscribe('net', 's', '/topic/a.>', { durableName: 'g2|/topic/a.>', priority: -1 });
      const row = h.core.destinations('/topic/a.>').find((d) => d.name === '/topic/a.>');
      assert.deepEqual([row?.localConsumers, row?.networkConsumers], [1, 1]);
    },
  },
];

for (const s of scenarios) {
  test(s.name, () => s.run(new Harness(options({ compileSelector }))));
}

test('a durable pattern subscription keeps what is published while it is offline, across a restart', () => {
  const h = new Harness(options());
  h.open('c', 'client-c');
  h.open('p', 'client-p');
  h.subscribe('c', 's', '/topic/a.>', { durableName: 'd' });
  h.end('c');
  h.send('p', '/topic/a.b', 'while offline 1');
  h.send('p', '/topic/a.b.c', 'while offline 2');
  h.send('p', '/topic/b', 'not matched');

  const r = h.restarted();
  assert.deepEqual(r.core.destinations('durable:').map((d) => [d.name, d.depth]), [['durable:client-c:d', 2]]);
  r.open('c', 'client-c');
  r.subscribe('c', 's', '/topic/a.>', { durableName: 'd' });
  assert.deepEqual(r.bodies('c'), ['while offline 1', 'while offline 2']);
  r.open('p', 'client-p');
  r.send('p', '/topic/a.x', 'after restart');
  assert.deepEqual(r.bodies('c'), ['after restart'], 'the recovered durable is in the pattern index');
});

test('a replica replaying the journal matches patterns the same (promotion)', () => {
  const h = new Harness(options());
  h.open('c', 'client-c');
  h.subscribe('c', 's', '/topic/a.*', { durableName: 'd' });
  h.end('c');
  const replica = new BrokerCore(options());
  replica.replay(h.entries, h.now);
  replica.takeReady();
  replica.handle('p', [{ kind: 'open', requestId: 0, open: { connectionId: 'p', clientId: '', login: '', gateway: 'gw' } }], h.now);
  replica.handle('p', [{ kind: 'send', requestId: 1, send: { transaction: '', message: { id: 'm1', destination: '/topic/a.b', headers: {}, body: Buffer.from('x'), persistent: true, priority: 4, expires: 0, timestamp: 0 } } }], h.now);
  const entry = replica.takeReady().entries.at(-1)!;
  const enqueue = entry.ops.find((o) => o.kind === 'enqueue');
  assert.deepEqual(enqueue?.kind === 'enqueue' && enqueue.enqueue.queues, [h.recovered().durables[0]!.queue]);
});

test('authorization: a pattern subscriber gets only the topics its groups may read', () => {
  // As the authorization map with entries "topic *.* read users" and "topic a.b.> read admins":
  // '*.*' matches the NAME 'a.>' (so the SUBSCRIBE passes) but grants neither 'a.b.c' nor 'a'.
  const map: Authorizer = {
    can: (p, action, d) => action === 'write' || (p.groups.includes('users') && (d === '/topic/a.>' || d === '/topic/a.b')),
  };
  const h = new Harness(options({ authorizer: map }));
  h.request('u', { kind: 'open', requestId: 0, open: { connectionId: 'u', clientId: '', login: 'u', gateway: 'gw', groups: ['users'] } });
  h.request('w', { kind: 'open', requestId: 0, open: { connectionId: 'w', clientId: '', login: 'w', gateway: 'gw', groups: ['users'] } });
  h.take('u');
  h.subscribe('u', 's', '/topic/a.>');
  assert.deepEqual(h.errors('u'), []);
  h.send('w', '/topic/a.b', 'granted');
  h.send('w', '/topic/a.b.c', 'not granted');
  assert.deepEqual(h.errors('w'), []);
  assert.deepEqual(h.bodies('u'), ['granted']);
});

test('authorization: an offline durable pattern subscription keeps what matches, and its owner gets only what it may read', () => {
  const map: Authorizer = {
    can: (p, action, d) => action === 'write' || (p.groups.includes('users') && (d === '/topic/a.>' || d === '/topic/a.b')),
  };
  const h = new Harness(options({ authorizer: map }));
  const open = (sid: string) => h.request(sid, { kind: 'open', requestId: 0, open: { connectionId: sid, clientId: 'c', login: 'u', gateway: 'gw', groups: ['users'] } });
  open('u');
  h.subscribe('u', 's', '/topic/a.>', { durableName: 'd' });
  h.end('u');
  h.request('w', { kind: 'open', requestId: 0, open: { connectionId: 'w', clientId: '', login: 'w', gateway: 'gw', groups: ['writers'] } });
  h.send('w', '/topic/a.b', 'granted');
  h.send('w', '/topic/a.b.c', 'not granted');
  assert.equal(h.core.destinations('durable:').find((d) => d.name === 'durable:c:d')?.depth, 2, 'offline: both kept');
  open('u2');
  h.subscribe('u2', 's', '/topic/a.>', { durableName: 'd' });
  assert.deepEqual(h.bodies('u2'), ['granted']);
  assert.equal(h.core.destinations('durable:').find((d) => d.name === 'durable:c:d')?.depth, 1, 'the unreadable one left the backlog; the granted one waits for its ack');
});

test('many exact subscriptions and a few patterns: a publication touches only what matches', () => {
  const h = new Harness(options());
  h.open('p');
  for (let i = 0; i < 2000; i++) { h.open(`c${i}`); h.subscribe(`c${i}`, 's', `/topic/t.${i}`); }
  h.open('w');
  h.subscribe('w', 's', '/topic/t.*');
  for (let i = 0; i < 2000; i++) h.take(`c${i}`);
  h.send('p', '/topic/t.7', 'm');
  assert.deepEqual(h.bodies('c7'), ['m']);
  assert.deepEqual(h.bodies('c8'), []);
  assert.deepEqual(h.bodies('w'), ['m']);
});
