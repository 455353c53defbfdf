// The journal codec: the hand-assembled entry encoding (message bytes reused for the message
// record) decodes, with the generated decoders, to exactly what was encoded, for every op kind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { JournalEntry, Message } from '@hawser/broker';
import { join } from 'node:path';
import * as protobuf from 'protobufjs';
import { brokerService, handWrittenCodec, messageBytesOf, protoDir, type MuxEvents } from '@hawser/proto';
import { decodeEntry, decodeMessage, encodeEntry, encodeMessage, ownBytes } from './codec';

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

test('journals written before (protobufjs Message.encode, defaults written) read the same; new bytes read with the generated decoders', () => {
  const root = new protobuf.Root();
  root.resolvePath = (_o, target) => (target.startsWith('/') ? target : join(protoDir(), target));
  root.loadSync('hawser/journal.proto', { keepCase: false });
  root.resolveAll();
  const Entry = root.lookupType('hawser.journal.v1.Entry');
  const Stored = root.lookupType('hawser.journal.v1.StoredMessage');
  const Msg = root.lookupType('hawser.broker.v1.Message');
  const TO = { longs: Number, enums: String, bytes: Buffer, defaults: true, arrays: true, objects: true, oneofs: true };
  const plain = (x: unknown) => JSON.parse(JSON.stringify(x));
  const msgs = [
    message('ID:old1'),
    message('ID:old2', { headers: {}, body: Buffer.alloc(0), persistent: false, priority: 0, expires: 0, timestamp: 0 }),
    message('ID:old3', { headers: { 'ключ': '😀', x: '' }, body: Buffer.alloc(70_000, 3), expires: 2 ** 53 - 1 }),
  ];
  for (const m of msgs) {
    // The old writer: the generated encoder, every field written (fromObject + encode with defaults).
    const oldMsg = Msg.encode(Msg.fromObject(m)).finish();
    const oldEntry = Buffer.from(protobuf.Writer.create().uint32(8).uint64(2).uint32(16).uint64(9).uint32(24).uint64(5)
      .uint32(34).fork().uint32(10).fork().uint32(10).bytes(oldMsg).uint32(18).string('q1').uint32(24).uint64(77).uint32(32).bool(true).ldelim().ldelim().finish());
    const d = decodeEntry(oldEntry);
    assert.deepEqual(plain(d), plain({ epoch: 2, position: 9, time: 5, ops: [{ kind: 'enqueue', enqueue: { message: m, queues: ['q1'], seq: 77, dedup: true } }] }));
    assert.deepStrictEqual((d.ops[0] as { enqueue: { message: Message } }).enqueue.message, m);
    const oldRecord = Stored.encode(Stored.fromObject({ message: m })).finish();
    assert.deepStrictEqual(decodeMessage(oldRecord), m);
    // The new bytes, read by the generated decoders (what any older store reads them with).
    const fresh = { ...m };
    const e: JournalEntry = { epoch: 1, position: 3, time: 4, ops: [{ kind: 'enqueue', enqueue: { message: fresh, queues: ['q1', 'q2'], seq: 5, dedup: false } }] };
    const viaGenerated = Entry.toObject(Entry.decode(encodeEntry(e)), TO) as { ops: Array<{ enqueue: { message: Message } }> };
    assert.deepEqual(plain(viaGenerated.ops[0]!.enqueue.message), plain(m));
    const rec = Stored.toObject(Stored.decode(encodeMessage(fresh)), TO) as { message: Message };
    assert.deepEqual(plain(rec.message), plain(m));
  }
});

test('ownBytes: the same bytes, in one buffer of exactly their size, pinning nothing they were cut from', () => {
  const slab = Buffer.alloc(8192, 7);
  slab.write('first', 100);
  slab.write('second entry', 4000);
  const parts = [slab.subarray(100, 105), new Uint8Array(0), slab.subarray(4000, 4012)];
  const owned = ownBytes(parts);
  assert.deepEqual(owned.map((b) => b.toString()), ['first', '', 'second entry']);
  assert.equal(owned[0]!.buffer, owned[2]!.buffer, 'one buffer for the batch');
  assert.notEqual(owned[0]!.buffer, slab.buffer);
  assert.equal(owned[0]!.buffer.byteLength, 17, 'exactly the bytes, not a pool slab');
  slab.fill(0);
  assert.equal(owned[2]!.toString(), 'second entry', 'a copy, not a view');
  assert.deepEqual(ownBytes([]), []);
});
