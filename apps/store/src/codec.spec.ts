// The journal codec: the hand-assembled entry encoding (message bytes reused for the message
// record) decodes, with the generated decoders, to exactly what was encoded, for every op kind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { JournalEntry, Message } from '@hawser/broker';
import { brokerService, handWrittenCodec, messageBytesOf, type MuxEvents } from '@hawser/proto';
import { decodeEntry, decodeMessage, encodeEntry, encodeMessage } from './codec';

const message = (id: string, over: Partial<Message> = {}): Message => ({
  id, destination: '/queue/a', headers: { a: 'b', 'content-type': 'text/plain', empty: '' }, body: Buffer.from(`body of ${id}`),
  persistent: true, priority: 7, expires: 1_900_000_000_000, timestamp: 1_800_000_000_123, ...over,
});

test('every op kind round-trips through encodeEntry/decodeEntry', () => {
  const e: JournalEntry = {
    epoch: 3, position: 2 ** 40 + 5, time: 1_800_000_000_000,
    ops: [
      { kind: 'enqueue', enqueue: { message: message('ID:1'), queues: ['q1', 'durable:c:n#4'], seq: 11, dedup: true, dedupScope: 'u5:alice' } },
      { kind: 'enqueue', enqueue: { message: message('ID:2', { headers: {}, body: Buffer.alloc(0), expires: 0 }), queues: [], seq: 12, dedup: false } },
      { kind: 'remove', remove: { queue: 'q1', seq: 9, priority: 4, reason: 'acked', bytes: 42 } },
      { kind: 'redeliver', redeliver: { queue: 'q1', seq: 10, priority: 4, count: 2 } },
      { kind: 'durableSub', durableSub: { clientId: 'c', name: 'n', topic: '/topic/t', selector: "x = 'y'", noLocal: true, queue: 'durable:c:n#4', owner: 'ann' } },
      { kind: 'removeDurable', removeDurable: { clientId: 'c', name: 'n', queue: 'durable:c:n#4' } },
      { kind: 'purge', purge: { queue: 'q1', upToSeq: 12, keep: [3, 5], keepBytes: 7 } },
      { kind: 'retain', retain: { message: message('ID:5', { destination: '/topic/a.b', headers: { 'ActiveMQ.Retain': 'true' }, persistent: false }) } },
      { kind: 'retain', retain: { message: message('ID:6', { destination: '/topic/x', headers: {}, body: Buffer.from([0, 1, 255]) }) } },
      { kind: 'dropRetained', dropRetained: { topic: '/topic/a.b' } },
      { kind: 'forget', forget: { destination: '/queue/q1' } },
      { kind: 'forget', forget: { destination: 'durable:c:n' } },
    ],
  };
  const d = decodeEntry(encodeEntry(e));
  const plain = (x: unknown) => JSON.parse(JSON.stringify(x));
  assert.deepEqual(plain(d), plain(e));
  assert.ok(Buffer.isBuffer((d.ops[0] as { enqueue: { message: Message } }).enqueue.message.body));
  const retained = (d.ops[8] as { retain: { message: Message } }).retain.message;
  assert.ok(Buffer.isBuffer(retained.body));
  assert.deepEqual(retained.body, Buffer.from([0, 1, 255]));
});

test('a message record decodes to the message, also after its entry was encoded (shared bytes)', () => {
  const m = message('ID:3');
  encodeEntry({ epoch: 1, position: 1, time: 0, ops: [{ kind: 'enqueue', enqueue: { message: m, queues: ['q'], seq: 1, dedup: true } }] });
  assert.deepEqual(decodeMessage(encodeMessage(m)), m);
  assert.deepEqual(decodeMessage(encodeMessage(message('ID:4'))), message('ID:4'));
});

test('a delivery over gRPC carries the journal\'s bytes of its message (encoded once), read back as the message', () => {
  const Broker = brokerService().service;
  const stored = message('ID:7', { headers: { 'ключ': '😀' } });
  encodeEntry({ epoch: 1, position: 1, time: 0, ops: [{ kind: 'enqueue', enqueue: { message: stored, queues: ['q1'], seq: 1, dedup: false } }] });
  const replayed = decodeEntry(encodeEntry({ epoch: 1, position: 2, time: 0, ops: [{ kind: 'enqueue', enqueue: { message: message('ID:8'), queues: ['q1'], seq: 2, dedup: false } }] }));
  const fromJournal = (replayed.ops[0] as { enqueue: { message: Message } }).enqueue.message;
  for (const m of [stored, fromJournal]) {
    const bytes = Broker.Sessions!.responseSerialize({ items: [{ session: 1, event: { kind: 'delivery', delivery: { subscriptionId: 's', deliveryTag: 1, message: m, redelivered: false, deliveryCount: 1 } } }] });
    if (handWrittenCodec()) assert.ok(bytes.includes(Buffer.from(messageBytesOf(m)!)), `${m.id}: the journal's bytes, as they are`);
    const back = Broker.Sessions!.responseDeserialize(bytes) as MuxEvents;
    assert.deepStrictEqual((back.items[0]!.event as { delivery: { message: Message } }).delivery.message, { ...m });
  }
});
