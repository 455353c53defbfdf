// The core authorizes every session's SEND (write) and SUBSCRIBE (read) with the authorizer it
// was given, and a durable subscription belongs to the user who made it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, options } from './testing';
import type { Authorizer } from './core';

// write: group 'shop' on /queue/orders; read: 'shop' and 'audit'; topic /topic/t: everyone reads.
const authorizer: Authorizer = {
  can(p, action, destination) {
    if (destination === '/topic/t') return action === 'read' || p.groups.includes('shop');
    if (destination !== '/queue/orders') return false;
    return action === 'write' ? p.groups.includes('shop') : p.groups.some((g) => g === 'shop' || g === 'audit');
  },
};

function open(h: Harness, sid: string, login: string, groups: string[], clientId = ''): void {
  h.request(sid, { kind: 'open', open: { connectionId: sid, clientId, login, groups, gateway: 'gw' }, requestId: 0 });
}

test('SEND needs write, SUBSCRIBE needs read: refused with FORBIDDEN, nothing stored', () => {
  const refused: string[] = [];
  const h = new Harness(options({ authorizer, onForbidden: (login, action, d) => refused.push(`${login}:${action}:${d}`) }));
  open(h, 'ann', 'ann', ['shop']);
  open(h, 'eve', 'eve', ['audit']);
  open(h, 'bob', 'bob', ['audit']);
  h.send('ann', '/queue/orders', 'one');
  assert.equal(h.depth('/queue/orders'), 1);
  h.send('eve', '/queue/orders', 'forged');
  const [err] = h.errors('eve');
  assert.equal(err!.code, 'FORBIDDEN');
  assert.match(err!.message, /user 'eve' may not write to \/queue\/orders \(groups: audit\): ask an administrator for write permission/);
  assert.equal(h.depth('/queue/orders'), 1, 'nothing stored');
  // In a transaction too: refused at the SEND, before the commit.
  open(h, 'eve2', 'eve', ['audit']);
  h.request('eve2', { kind: 'begin', begin: { transaction: 'tx' } });
  h.send('eve2', '/queue/orders', 'tx-forged', {}, 'tx');
  assert.equal(h.errors('eve2')[0]!.code, 'FORBIDDEN');
  // Reading: audit may, an anonymous session may not.
  h.subscribe('bob', 's', '/queue/orders');
  assert.deepEqual(h.bodies('bob'), ['one']);
  open(h, 'anon', '', ['anonymous']);
  h.subscribe('anon', 's', '/queue/orders');
  assert.match(h.errors('anon')[0]!.message, /an anonymous client may not read from \/queue\/orders/);
  assert.deepEqual(refused, ['eve:write:/queue/orders', 'eve:write:/queue/orders', ':read:/queue/orders']);
});

test('a durable subscription belongs to its maker: another user with the same client-id is refused', () => {
  const h = new Harness(options({ authorizer }));
  open(h, 'a1', 'ann', ['shop'], 'cid');
  h.subscribe('a1', 'd', '/topic/t', { durableName: 'sub' });
  h.end('a1');
  open(h, 'p', 'ann', ['shop']);
  h.send('p', '/topic/t', 'kept for ann');
  open(h, 'e1', 'eve', ['audit'], 'cid');
  h.subscribe('e1', 'd', '/topic/t', { durableName: 'sub' });
  const [err] = h.errors('e1');
  assert.equal(err!.code, 'FORBIDDEN');
  assert.match(err!.message, /durable subscription 'sub' of client 'cid' belongs to another user/);
  // The owner gets its backlog untouched.
  open(h, 'a2', 'ann', ['shop'], 'cid');
  h.subscribe('a2', 'd', '/topic/t', { durableName: 'sub' });
  assert.deepEqual(h.bodies('a2'), ['kept for ann']);
  assert.equal(h.entries.flatMap((e) => e.ops).find((o) => o.kind === 'durableSub')?.durableSub.owner, 'ann', 'the owner is journaled');
});

test('without an authorizer every session may do everything (as before)', () => {
  const h = new Harness(options());
  open(h, 'x', '', []);
  h.send('x', '/queue/any', 'm');
  assert.equal(h.depth('/queue/any'), 1);
  assert.deepEqual(h.errors('x'), []);
});

test('MQTT session records are their client id\'s own, of the user whose persistent session made them: no grant reads or writes another\'s', () => {
  const everything: Authorizer = { can: () => true }; // a map granting $mqtt.> (and all else) to everyone
  for (const opts of [options({ authorizer: everything }), options()]) {
    const h = new Harness(opts);
    const hex = (id: string) => Buffer.from(id).toString('hex');
    const annTopic = `/topic/$mqtt.session.${hex('dev-1')}`;
    // Eve's live wildcard subscriber, there before ann's records are written.
    open(h, 'eveWild', 'eve', [], 'eve-1');
    h.subscribe('eveWild', 'w', '/topic/$mqtt.>');
    open(h, 'eveDurable', 'eve', [], 'eve-2');
    h.subscribe('eveDurable', 'wd', '/topic/$mqtt.>', { durableName: 'all' });
    h.end('eveDurable'); // offline: its backlog takes what matches
    open(h, 'ann', 'ann', [], 'dev-1');
    h.subscribe('ann', 'r', annTopic, { durableName: '$mqtt.session' });
    h.send('ann', annTopic, '{"t":"sub","f":"home/#","q":1}', { id: 'rec1' });
    assert.deepEqual(h.bodies('ann'), ['{"t":"sub","f":"home/#","q":1}'], 'the owner reads its records');
    assert.deepEqual(h.errors('ann'), []);
    assert.deepEqual(h.bodies('eveWild'), [], 'a wildcard subscriber of another client id gets none');
    // Eve with another client id: neither SUBSCRIBE nor SEND on ann's topic.
    open(h, 'eve', 'eve', [], 'eve-3');
    h.subscribe('eve', 's', annTopic);
    assert.equal(h.errors('eve').pop()!.code, 'FORBIDDEN');
    h.send('eve', annTopic, '{"t":"sub","f":"#","q":1}', { id: 'forged' });
    assert.match(h.errors('eve').pop()!.message, /MQTT session records of another client id/);
    // Eve with ann's client id: the durable's owner is ann (its own code: the gateway answers CONNACK 5).
    open(h, 'eveAsAnn', 'eve', [], 'dev-1');
    h.subscribe('eveAsAnn', 'r', annTopic, { durableName: '$mqtt.session' });
    const [taken] = h.errors('eveAsAnn');
    assert.equal(taken!.code, 'CLIENT_ID_TAKEN');
    assert.match(taken!.message, /client id 'dev-1' belongs to another user's persistent MQTT session/);
    // Eve's offline wildcard durable comes back: ann's record is not delivered to it.
    open(h, 'eveDurable2', 'eve', [], 'eve-2');
    h.subscribe('eveDurable2', 'wd', '/topic/$mqtt.>', { durableName: 'all' });
    assert.deepEqual(h.bodies('eveDurable2'), []);
    // Ann on another connection (a reconnect) reads them again.
    h.end('ann');
    open(h, 'ann2', 'ann', [], 'dev-1');
    h.subscribe('ann2', 'r', annTopic, { durableName: '$mqtt.session' });
    assert.deepEqual(h.bodies('ann2'), ['{"t":"sub","f":"home/#","q":1}']);
  }
});
