// Selectors in the core: limits refuse a SUBSCRIBE, a selector that throws costs only its own
// match, and a durable subscription whose stored selector no longer compiles matches nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileSelector } from '@hawser/selector';
import { BrokerCore } from './core';
import { Harness, options } from './testing';
import type { CompileSelector } from './types';

function opened(h: Harness, ...sids: string[]): void {
  for (const sid of sids) { h.open(sid, `client-${sid}`); h.take(sid); }
}

/** The real compiler, except that the selector 'THROWS' throws on a message with header boom. */
const throwing: CompileSelector = (text) => {
  if (text !== 'THROWS') return compileSelector(text);
  return { matches: (m) => { if (m.headers.boom) throw new RangeError('Maximum call stack size exceeded'); return true; } };
};

test('a SUBSCRIBE whose selector is over a limit is refused: INVALID_SELECTOR naming the limit, quoting only its start', () => {
  const h = new Harness(options({ compileSelector: (t) => compileSelector(t, { maxLength: 100, maxDepth: 8, maxInList: 4 }) }));
  opened(h, 'a', 'b', 'c', 'ok');
  h.subscribe('a', 's', '/queue/q', { selector: `a = 1 ${' '.repeat(200_000)}` });
  const [e] = h.errors('a');
  assert.equal(e!.code, 'INVALID_SELECTOR');
  assert.equal(e!.fatal, true);
  assert.match(e!.message, /200006 characters long; the limit is 100 \(broker\.selectorMaxLength\)/);
  assert.ok(e!.message.length < 1000, `the error quotes the start only (${e!.message.length} characters)`);
  h.subscribe('b', 's', '/queue/q', { selector: `${'('.repeat(9)}a = 1${')'.repeat(9)}` });
  assert.match(h.errors('b')[0]!.message, /nests more than 8 levels deep \(broker\.selectorMaxDepth\)/);
  h.subscribe('c', 's', '/queue/q', { selector: 'a IN (1, 2, 3, 4, 5)' });
  assert.match(h.errors('c')[0]!.message, /more than 4 members; the limit is 4 \(broker\.selectorMaxInList\)/);
  h.subscribe('ok', 's', '/queue/q', { selector: 'a IN (1, 2, 3, 4)' });
  assert.deepEqual(h.errors('ok'), []);
});

test('a selector that throws does not match that message, is counted, and dispatch goes on for everyone', () => {
  const h = new Harness(options({ compileSelector: throwing }));
  opened(h, 'p', 'bad', 'good', 'tbad', 'tgood');
  h.subscribe('bad', 's', '/queue/q', { selector: 'THROWS' });
  h.subscribe('good', 's', '/queue/q', { selector: "kind = 'x'" });
  h.subscribe('tbad', 's', '/topic/t', { selector: 'THROWS' });
  h.subscribe('tgood', 's', '/topic/t');
  const r1 = h.send('p', '/queue/q', 'q-boom', { headers: { boom: '1', kind: 'x' } });
  const r2 = h.send('p', '/queue/q', 'q-fine', { headers: { kind: 'y' } });
  const r3 = h.send('p', '/topic/t', 't-boom', { headers: { boom: '1' } });
  const r4 = h.send('p', '/topic/t', 't-fine');
  assert.deepEqual(h.receipts('p'), [r1, r2, r3, r4]);
  assert.deepEqual(h.bodies('good'), ['q-boom'], 'the other consumer takes what the throwing one cannot');
  assert.deepEqual(h.bodies('bad'), ['q-fine']);
  assert.deepEqual(h.bodies('tbad'), ['t-fine']);
  assert.deepEqual(h.bodies('tgood'), ['t-boom', 't-fine']);
  assert.ok(h.selectorErrors >= 2, `counted: ${h.selectorErrors}`);
  assert.deepEqual(h.errors('bad'), [], 'the subscriber is not failed for it');
});

test('a durable subscription whose stored selector no longer compiles matches nothing and is listed, until re-subscribed', () => {
  // Made where 60-character selectors were allowed...
  const long = `kind = 'x' AND ${Array.from({ length: 4 }, (_, i) => `n <> ${i}`).join(' AND ')}`;
  assert.ok(long.length > 40 && long.length <= 60, `${long.length}`);
  const before = new Harness(options({ compileSelector: (t) => compileSelector(t, { maxLength: 60 }) }));
  opened(before, 'p', 'd', 'all');
  before.subscribe('d', 's', '/topic/t', { durableName: 'picky', selector: long });
  before.subscribe('all', 's', '/topic/t', { durableName: 'all' });
  before.end('d');
  before.end('all');
  assert.deepEqual(before.core.brokenDurables(), []);

  // ... restored where the limit is 40: from the recovered indexes (a restart) and from replay (a replica).
  const lowered = (t: string) => compileSelector(t, { maxLength: 40 });
  const durables = before.entries.flatMap((e) => e.ops.flatMap((o) => (o.kind === 'durableSub' ? [o.durableSub] : [])));
  const restarted = new BrokerCore(options({ compileSelector: lowered }), { position: before.written, nextSeq: 100, dedup: [], durables, queues: [] });
  const h = new Harness(options({ compileSelector: lowered }));
  h.core.replay(before.entries, h.now);
  h.pump();
  for (const core of [restarted, h.core]) {
    const broken = core.brokenDurables();
    assert.equal(broken.length, 1);
    assert.deepEqual({ ...broken[0], error: undefined }, { clientId: 'client-d', name: 'picky', topic: '/topic/t', selector: long, error: undefined });
    assert.match(broken[0]!.error, /broker\.selectorMaxLength/);
  }

  // Never matched to everything: a publication reaches the healthy durable only.
  opened(h, 'p2');
  h.send('p2', '/topic/t', 'news', { headers: { kind: 'x', n: '9' } });
  assert.equal(h.depth('durable:client-d:picky'), 0);
  assert.equal(h.depth('durable:client-all:all'), 1);

  // Its owner coming back with the same selector learns why (the SUBSCRIBE is refused) ...
  h.open('d2', 'client-d');
  h.take('d2');
  h.subscribe('d2', 's', '/topic/t', { durableName: 'picky', selector: long });
  assert.match(h.errors('d2')[0]!.message, /broker\.selectorMaxLength/);
  // ... and with one that compiles, the subscription is replaced and works again.
  h.open('d3', 'client-d');
  h.take('d3');
  h.subscribe('d3', 's', '/topic/t', { durableName: 'picky', selector: "kind = 'x'" });
  assert.deepEqual(h.errors('d3'), []);
  assert.deepEqual(h.core.brokenDurables(), []);
  h.send('p2', '/topic/t', 'again', { headers: { kind: 'x' } });
  assert.deepEqual(h.bodies('d3'), ['again']);
});
