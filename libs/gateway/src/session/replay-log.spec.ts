// ReplayLog scenario table: requests and receipts in, the replay for a new master out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SessionRequest } from '@hawser/proto';
import { ReplayLog } from './replay-log';

const msg = (id: string) => ({ id, destination: '/queue/q', headers: {}, body: Buffer.alloc(0), persistent: true, priority: 4, expires: 0, timestamp: 0 });
const send = (rid: number, id: string, transaction = ''): SessionRequest => ({ requestId: rid, kind: 'send', send: { message: msg(id), transaction } });
const sub = (rid: number, id: string): SessionRequest => ({
  requestId: rid, kind: 'subscribe',
  subscribe: { subscriptionId: id, destination: '/queue/q', ackMode: 'ACK_MODE_CLIENT', prefetch: 0, selector: '', durableName: '', noLocal: false },
});
const unsub = (rid: number, id: string): SessionRequest => ({ requestId: rid, kind: 'unsubscribe', unsubscribe: { subscriptionId: id, removeDurable: false } });
const ack = (rid: number, tag: number, transaction = ''): SessionRequest => ({ requestId: rid, kind: 'ack', ack: { deliveryTag: tag, transaction } });
const nack = (rid: number, tag: number, transaction = ''): SessionRequest => ({ requestId: rid, kind: 'nack', nack: { deliveryTag: tag, transaction } });
const begin = (tx: string): SessionRequest => ({ requestId: 0, kind: 'begin', begin: { transaction: tx } });
const commit = (rid: number, tx: string): SessionRequest => ({ requestId: rid, kind: 'commit', commit: { transaction: tx } });
const abort = (rid: number, tx: string): SessionRequest => ({ requestId: rid, kind: 'abort', abort: { transaction: tx } });
const close = (rid: number): SessionRequest => ({ requestId: rid, kind: 'close', close: {} });

type Step = SessionRequest | { receipt: number };

/** Each replayed request as "kind[:detail]#requestId". */
function show(r: SessionRequest): string {
  const detail = r.kind === 'send' ? `:${r.send.message.id}` : r.kind === 'subscribe' ? `:${r.subscribe.subscriptionId}` : '';
  return `${r.kind}${detail}#${r.requestId}`;
}

const cases: Array<{ name: string; steps: Step[]; replay: string[]; receipts?: number[]; inDoubt?: number[]; rolledBack?: Array<{ transaction: string; commit: number }> }> = [
  { name: 'nothing sent', steps: [], replay: [] },
  { name: 'receipted sends are done', steps: [send(1, 'a'), { receipt: 1 }], replay: [] },
  { name: 'un-receipted sends are resent with their ids, in order', steps: [send(1, 'a'), send(2, 'b'), send(3, 'c'), { receipt: 2 }], replay: ['send:a#1', 'send:c#3'] },
  { name: 'subscriptions stay; a receipted one is resent without a requestId', steps: [sub(1, 's1'), { receipt: 1 }, sub(2, 's2')], replay: ['subscribe:s1#0', 'subscribe:s2#2'] },
  { name: 'an unsubscribed subscription is gone', steps: [sub(0, 's1'), unsub(0, 's1')], replay: [] },
  { name: 'a pending unsubscribe is answered by the gateway', steps: [sub(0, 's1'), unsub(5, 's1')], replay: [], receipts: [5] },
  // D2 (docs/reliability.md): the old master may or may not have applied it; the client session decides, not a RECEIPT from here.
  { name: 'old-session acks are never replayed; one waiting for its receipt is in doubt', steps: [ack(0, 1), ack(7, 2), nack(9, 4), ack(8, 3), { receipt: 8 }], replay: [], inDoubt: [7, 9] },
  {
    name: 'an open transaction is replayed whole, receipted parts without requestId',
    steps: [begin('t'), send(1, 'x', 't'), { receipt: 1 }, send(2, 'y', 't')],
    replay: ['begin#0', 'send:x#0', 'send:y#2'],
  },
  {
    name: 'a transaction that held acks is rolled back: nothing of it replayed, its pending receipts answered',
    steps: [sub(0, 's'), begin('t'), send(1, 'x', 't'), { receipt: 1 }, ack(0, 4, 't'), send(2, 'y', 't'), ack(3, 5, 't'), send(4, 'z')],
    replay: ['subscribe:s#0', 'send:z#4'], receipts: [2, 3], rolledBack: [{ transaction: 't', commit: 0 }],
  },
  {
    name: 'a rolled-back transaction with a COMMIT in flight names it',
    steps: [begin('t'), nack(1, 4, 't'), send(2, 'x', 't'), commit(3, 't'), begin('u'), send(5, 'y', 'u')],
    replay: ['begin#0', 'send:y#5'], receipts: [1, 2], rolledBack: [{ transaction: 't', commit: 3 }],
  },
  { name: 'a receipted commit settles the transaction', steps: [begin('t'), send(1, 'x', 't'), commit(2, 't'), { receipt: 2 }], replay: [] },
  { name: 'an un-receipted commit is replayed after its transaction', steps: [begin('t'), send(1, 'x', 't'), { receipt: 1 }, commit(2, 't')], replay: ['begin#0', 'send:x#0', 'commit#2'] },
  { name: 'a receipted abort settles it too', steps: [begin('t'), send(1, 'x', 't'), abort(2, 't'), { receipt: 2 }], replay: [] },
  { name: 'a pending close is resent', steps: [send(1, 'a'), close(2)], replay: ['send:a#1', 'close#2'] },
  {
    name: 'interleaved: order kept across subscriptions, sends and transactions',
    steps: [sub(0, 's'), send(1, 'a'), begin('t'), send(2, 'b', 't'), send(3, 'c'), { receipt: 3 }],
    replay: ['subscribe:s#0', 'send:a#1', 'begin#0', 'send:b#2'],
  },
];

for (const c of cases) {
  test(`replay: ${c.name}`, () => {
    const log = new ReplayLog();
    for (const s of c.steps) {
      if ('receipt' in s) log.receipt(s.receipt);
      else log.record(s);
    }
    const r = log.replay();
    assert.deepEqual(r.requests.map(show), c.replay);
    assert.deepEqual(r.receipts, c.receipts ?? []);
    assert.deepEqual(r.inDoubt, c.inDoubt ?? []);
    assert.deepEqual(r.rolledBack, c.rolledBack ?? []);
  });
}

test('replay twice (a second failover before the first settled) gives the same requests', () => {
  const log = new ReplayLog();
  for (const s of [sub(1, 's'), send(2, 'a'), begin('t'), send(3, 'b', 't'), ack(4, 9)]) log.record(s);
  const first = log.replay();
  assert.deepEqual(first.inDoubt, [4]);
  const second = log.replay();
  assert.deepEqual(second.requests.map(show), first.requests.map(show));
  assert.deepEqual(second.inDoubt, [], 'handed over once');
  log.receipt(2);
  assert.deepEqual(log.replay().requests.map(show), ['subscribe:s#1', 'begin#0', 'send:b#3']);
});
