// ActiveMQ's destination kinds beyond /queue/ and /topic/ (destinations.ts): temporary
// destinations, composite destinations and virtual topics, as the core runs them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, options } from './testing';
import { compositeParts, isVirtualTopic, parseTemp, tempDestinationName, tempOwnerKey, virtualTopicOf } from './destinations';
import { parseDestination, type Authorizer } from './core';

function opened(h: Harness, ...sids: string[]): void {
  for (const sid of sids) { h.open(sid, `client-${sid}`); h.take(sid); }
}

test('names: temp destinations carry their connection, composites split, virtual topics pair with their queues', () => {
  assert.equal(tempOwnerKey('gw/1:b-7%'), 'gw%2F1:b-7%25');
  const name = tempDestinationName('temp-queue', 'gw/1:b-7', 'replies/a');
  assert.equal(name, '/temp-queue/gw%2F1:b-7/replies/a');
  assert.deepEqual(parseTemp(name), { type: 'temp-queue', owner: 'gw%2F1:b-7', name: 'replies/a' });
  assert.equal(parseTemp('/temp-queue/noowner'), null);
  assert.deepEqual(parseDestination('/temp-topic/c1/x'), { type: 'topic', name: 'c1/x', temp: true });
  assert.equal(parseDestination('/queue/a,/queue/b'), null, 'a composite is not one destination');
  assert.deepEqual(compositeParts('/queue/a, /topic/b,,'), ['/queue/a', '/topic/b']);
  assert.equal(virtualTopicOf('/queue/Consumer.A.VirtualTopic.Orders'), '/topic/VirtualTopic.Orders');
  assert.equal(virtualTopicOf('/queue/Consumer.A.B.VirtualTopic.Orders'), null, 'the consumer name is one segment (Consumer.*.)');
  assert.equal(virtualTopicOf('/queue/Orders'), null);
  assert.equal(isVirtualTopic('/topic/VirtualTopic.Orders'), true);
  assert.equal(isVirtualTopic('/topic/VirtualTopic.'), false);
});

test('temp queue: its connection consumes it, anyone sends to it, it goes when the connection does', () => {
  const h = new Harness();
  opened(h, 'req', 'srv');
  const reply = tempDestinationName('temp-queue', 'req', 'r1');
  h.subscribe('req', 's', reply);
  h.send('srv', reply, 'answer');
  assert.deepEqual(h.bodies('req'), ['answer']);
  assert.equal(h.entries.flatMap((e) => e.ops).length, 0, 'never journaled, even when sent persistent');
  // Another connection may not consume it.
  h.subscribe('srv', 'steal', reply);
  const [err] = h.errors('srv');
  assert.equal(err!.code, 'INVALID_DESTINATION');
  assert.match(err!.message, /belongs to another connection/);
  // Gone with its connection: a later message to it is dropped, and the name is forgotten.
  opened(h, 'srv2');
  h.end('req');
  assert.equal(h.core.destinations('/temp-queue/').length, 0, 'deleted with its connection');
  h.send('srv2', reply, 'too late');
  assert.deepEqual(h.errors('srv2'), [], 'dropped quietly, like a topic message without subscribers');
  assert.equal(h.core.destinations('/temp-queue/').length, 0, 'not made again by a stranger');
});

test('temp queue: messages wait for the owner to subscribe; a moved session (same connection) finds it again', () => {
  const h = new Harness();
  opened(h, 'owner', 'srv');
  const q = tempDestinationName('temp-queue', 'owner', 'x');
  h.send('owner', q, 'made by sending'); // ActiveMQ: the owner's first use makes it
  h.send('srv', q, 'waits');
  h.subscribe('owner', 's', q);
  assert.deepEqual(h.bodies('owner'), ['made by sending', 'waits']);
  // The gateway moves a session: the new one opens with the same connection id before the old one ends.
  h.request('owner-moved', { kind: 'open', open: { connectionId: 'owner', clientId: '', login: '', gateway: 'gw' }, requestId: 0 });
  h.end('owner');
  h.send('srv', q, 'after the move');
  h.subscribe('owner-moved', 's', q);
  // The connection stayed alive throughout: its temp queue was kept, the old session's unacked
  // deliveries came back to it. (Moved to another master, the queue is made again there, empty.)
  assert.deepEqual(h.bodies('owner-moved'), ['made by sending', 'waits', 'after the move']);
});

test('temp topic: only its connection subscribes; no durable subscriptions', () => {
  const h = new Harness();
  opened(h, 'owner', 'pub');
  const t = tempDestinationName('temp-topic', 'owner', 'events');
  h.subscribe('owner', 'a', t);
  h.subscribe('owner', 'b', t);
  h.send('pub', t, 'e1');
  assert.deepEqual(h.bodies('owner'), ['e1', 'e1']);
  h.subscribe('owner', 'd', t, { durableName: 'keep' });
  assert.equal(h.errors('owner')[0]!.code, 'BAD_REQUEST');
});

test('composite SEND: each part gets the message, with the same id and original-destination, in one entry', () => {
  const h = new Harness();
  opened(h, 'p', 'qa', 'qb', 'tc');
  h.subscribe('qb', 's', '/queue/b');
  h.subscribe('tc', 's', '/topic/c');
  h.send('p', '/queue/a,/queue/b,/topic/c', 'all', { id: 'm1' });
  assert.equal(h.depth('/queue/a'), 1);
  const [db] = h.deliveries('qb');
  assert.equal(db!.message.destination, '/queue/b');
  assert.equal(db!.message.id, 'm1');
  assert.equal(db!.message.headers['original-destination'], '/queue/a,/queue/b,/topic/c');
  assert.deepEqual(h.bodies('tc'), ['all']);
  assert.equal(h.entries.length, 1, 'one journal entry for every part');
  assert.equal(h.receipts('p').length, 1, 'one receipt for the SEND');
  // A failover resend (same id) is dropped part by part.
  h.send('p', '/queue/a,/queue/b,/topic/c', 'all', { id: 'm1' });
  assert.equal(h.depth('/queue/a'), 1);
  // A bad part refuses the whole SEND before anything is stored.
  h.send('p', '/queue/a,/nowhere/x', 'no', { id: 'm2' });
  assert.equal(h.errors('p')[0]!.code, 'INVALID_DESTINATION');
  assert.match(h.errors('p')[0]!.message, /invalid destination '\/nowhere\/x' in composite destination/);
  assert.equal(h.depth('/queue/a'), 1);
});

test('composite SEND in a transaction: every part at COMMIT', () => {
  const h = new Harness();
  opened(h, 'p');
  h.request('p', { kind: 'begin', begin: { transaction: 't' } });
  h.send('p', '/queue/x,/queue/y', 'tx', {}, 't');
  assert.equal(h.depth('/queue/x'), 0);
  h.request('p', { kind: 'commit', commit: { transaction: 't' } });
  assert.equal(h.depth('/queue/x'), 1);
  assert.equal(h.depth('/queue/y'), 1);
});

test('composite SUBSCRIBE: one consumer on each part under the client\'s subscription id; UNSUBSCRIBE ends them all', () => {
  const h = new Harness();
  opened(h, 'p', 'c', 'other');
  h.send('p', '/queue/a', 'a1', { id: 'a1' });
  h.send('p', '/queue/b', 'b1', { id: 'b1' });
  h.subscribe('c', 's', '/queue/a,/topic/t,/queue/b', { prefetch: 10 });
  h.send('p', '/topic/t', 't1', { id: 't1' });
  const ds = h.deliveries('c');
  assert.deepEqual(ds.map((d) => d.message.body.toString()).sort(), ['a1', 'b1', 't1']);
  assert.deepEqual([...new Set(ds.map((d) => d.subscriptionId))], ['s'], 'every delivery carries the client\'s id');
  assert.deepEqual(new Set(ds.map((d) => d.message.destination)), new Set(['/queue/a', '/queue/b', '/topic/t']), 'each from its own part');
  // A queue part is a consumer like any other: it shares the queue with another consumer.
  h.subscribe('other', 'o', '/queue/a');
  for (const d of ds) h.ack('c', d.deliveryTag);
  assert.equal(h.depth('/queue/a'), 0);
  // The id is taken by the composite as a whole.
  h.subscribe('c', 's', '/queue/z');
  assert.equal(h.errors('c').pop()!.code, 'DUPLICATE_SUBSCRIPTION');
  h.request('c', { kind: 'unsubscribe', unsubscribe: { subscriptionId: 's', removeDurable: false } });
  h.take('c');
  h.send('p', '/queue/b', 'b2', { id: 'b2' });
  h.send('p', '/topic/t', 't2', { id: 't2' });
  assert.deepEqual(h.bodies('c'), [], 'no member is left');
  assert.equal(h.depth('/queue/b'), 1);
  h.subscribe('c', 's', '/queue/b'); // the id is free again
  assert.deepEqual(h.bodies('c'), ['b2']);
});

test('composite SUBSCRIBE, ack mode client: an ACK covers the earlier deliveries of every part', () => {
  const h = new Harness();
  opened(h, 'p', 'c');
  h.subscribe('c', 's', '/queue/a,/queue/b', { ackMode: 'ACK_MODE_CLIENT', prefetch: 10 });
  h.send('p', '/queue/a', 'a1', { id: 'a1' });
  h.send('p', '/queue/b', 'b1', { id: 'b1' });
  h.send('p', '/queue/a', 'a2', { id: 'a2' });
  h.send('p', '/queue/b', 'b2', { id: 'b2' });
  const ds = h.deliveries('c');
  assert.equal(ds.length, 4);
  h.ack('c', ds[2]!.deliveryTag); // a2: a1 and b1 with it, b2 not
  assert.equal(h.depth('/queue/a'), 0);
  assert.equal(h.depth('/queue/b'), 1);
  assert.deepEqual(h.errors('c'), []);
});

test('composite SUBSCRIBE: a refused part refuses the whole, nothing of it stays; no durable name', () => {
  const h = new Harness(options({ authorizer: { can: (_s, _a, d) => d !== '/queue/secret' } }));
  opened(h, 'p', 'c');
  h.subscribe('c', 's', '/queue/a,/queue/secret');
  assert.equal(h.errors('c').pop()!.code, 'FORBIDDEN');
  h.send('p', '/queue/a', 'a1', { id: 'a1' });
  assert.deepEqual(h.bodies('c'), [], 'the first part was undone');
  h.subscribe('c', 's', '/queue/a,/queue/b'); // the id was never taken
  assert.deepEqual(h.bodies('c'), ['a1']);
  // Bad requests (they end the session, as any bad SUBSCRIBE does).
  opened(h, 'bad1', 'bad2');
  h.subscribe('bad1', 's', '/queue/a,/nowhere/x');
  assert.match(h.errors('bad1').pop()!.message, /invalid destination '\/nowhere\/x' in composite destination/);
  h.subscribe('bad2', 's', '/topic/a,/topic/b', { durableName: 'd' });
  assert.match(h.errors('bad2').pop()!.message, /durable subscription 'd' on composite destination/);
});

test('virtual topic: each Consumer.<name> queue gets every message, its consumers share it; topic subscribers too', () => {
  const h = new Harness();
  opened(h, 'p', 'a1', 'a2', 'b1', 't');
  h.subscribe('a1', 's', '/queue/Consumer.A.VirtualTopic.Orders');
  h.subscribe('a2', 's', '/queue/Consumer.A.VirtualTopic.Orders');
  h.subscribe('b1', 's', '/queue/Consumer.B.VirtualTopic.Orders');
  h.subscribe('t', 's', '/topic/VirtualTopic.Orders');
  for (let i = 1; i <= 4; i++) h.send('p', '/topic/VirtualTopic.Orders', `o${i}`, { id: `o${i}` });
  assert.deepEqual(h.bodies('a1'), ['o1', 'o3'], 'service A: one copy, shared by its consumers');
  assert.deepEqual(h.bodies('a2'), ['o2', 'o4']);
  const b = h.deliveries('b1');
  assert.deepEqual(b.map((x) => x.message.body.toString()), ['o1', 'o2', 'o3', 'o4'], 'service B: its own copy');
  assert.deepEqual(h.bodies('t'), ['o1', 'o2', 'o3', 'o4']);
  const d = b[0];
  assert.equal(d!.message.destination, '/queue/Consumer.B.VirtualTopic.Orders', 'the copy names its queue (AMQ-6100)');
  assert.equal(d!.message.headers['original-destination'], '/topic/VirtualTopic.Orders');
  // The queue keeps messages while its consumers are away (persistent copies, journaled).
  h.end('b1');
  h.send('p', '/topic/VirtualTopic.Orders', 'o5', { id: 'o5' });
  assert.equal(h.depth('/queue/Consumer.B.VirtualTopic.Orders'), 5, 'o1-o4 unacked came back, o5 waits');
  // A failover resend is not stored twice, even with no topic subscriber left.
  h.end('t');
  h.send('p', '/topic/VirtualTopic.Orders', 'o6', { id: 'o6' });
  h.send('p', '/topic/VirtualTopic.Orders', 'o6', { id: 'o6' });
  assert.equal(h.depth('/queue/Consumer.B.VirtualTopic.Orders'), 6);
  // A restarted store knows the queue from its stored messages.
  const r = h.restarted();
  opened(r, 'p2');
  r.send('p2', '/topic/VirtualTopic.Orders', 'o7', { id: 'o7' });
  assert.equal(r.depth('/queue/Consumer.B.VirtualTopic.Orders'), 7);
});

test('virtual topic: a non-persistent message goes to the queues in memory only', () => {
  const h = new Harness();
  opened(h, 'p', 'a');
  h.subscribe('a', 's', '/queue/Consumer.A.VirtualTopic.Prices');
  h.send('p', '/topic/VirtualTopic.Prices', 'np', { persistent: false });
  assert.deepEqual(h.bodies('a'), ['np']);
  assert.equal(h.entries.length, 0);
});

/** The map's decisions as @hawser/security's AuthorizationMap makes them (acl-temp.spec.ts there). */
function map(tempLine: boolean): Authorizer {
  return {
    can(p, action, destination) {
      if (destination.startsWith('/temp-')) return !tempLine || (action === 'read' || action === 'write' ? p.groups.some((g) => g === 'app' || g === 'guest') && (action === 'read' || p.groups.includes('app')) : p.groups.includes('app'));
      return destination.startsWith('/queue/') && p.groups.includes('app');
    },
  };
}

test('authorization: temp destinations: making one needs admin, sending write; composite parts one by one', () => {
  const open = (h: Harness, sid: string, groups: string[]) =>
    h.request(sid, { kind: 'open', open: { connectionId: sid, clientId: '', login: sid, groups, gateway: 'gw' }, requestId: 0 });
  const h = new Harness(options({ authorizer: map(false) }));
  open(h, 'ann', ['app']);
  open(h, 'bob', ['app']);
  const q = tempDestinationName('temp-queue', 'ann', 'r');
  h.subscribe('ann', 's', q);
  h.send('bob', q, 'reply');
  assert.deepEqual(h.bodies('ann'), ['reply']);
  assert.deepEqual(h.errors('bob'), []);

  const refused: string[] = [];
  const k = new Harness(options({ authorizer: map(true), onForbidden: (login, action, d) => refused.push(`${login}:${action}:${d}`) }));
  open(k, 'ann', ['app']);
  open(k, 'gus', ['guest']);
  const mine = tempDestinationName('temp-queue', 'gus', 'r');
  k.subscribe('gus', 's', mine);
  assert.equal(k.errors('gus')[0]!.code, 'FORBIDDEN', 'making one needs admin');
  assert.match(k.errors('gus')[0]!.message, /user 'gus' may not create temporary destination/);
  const annQ = tempDestinationName('temp-queue', 'ann', 'r');
  k.subscribe('ann', 's', annQ);
  assert.deepEqual(k.errors('ann'), []);
  open(k, 'gus2', ['guest']);
  k.send('gus2', annQ, 'no');
  assert.equal(k.errors('gus2')[0]!.code, 'FORBIDDEN', 'sending needs write');
  // Composite parts are authorized one by one: a forbidden part refuses the whole SEND.
  open(k, 'ann2', ['app']);
  k.send('ann2', '/queue/ok,/topic/closed', 'x');
  assert.equal(k.errors('ann2')[0]!.code, 'FORBIDDEN');
  assert.equal(k.depth('/queue/ok'), 0, 'nothing stored');
  assert.equal(refused.length, 3);
});
