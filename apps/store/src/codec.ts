// Encodes journal entries and message records with protobufjs, from proto/hawser/journal.proto
// (which imports the Message of broker.proto, so a stored message is the wire message).
import { join } from 'node:path';
import * as protobuf from 'protobufjs';
import { decodeWireMessage, encodeWireMessage, messageBytesOf, protoDir, rememberMessageBytes } from '@hawser/proto';
import type { EnqueueOp, JournalEntry, Message } from '@hawser/broker';

let root: protobuf.Root | null = null;
interface Types { entry: protobuf.Type; op: protobuf.Type; message: protobuf.Type; stored: protobuf.Type }
// Looked up once: Root.lookupType on every encode was ~2% of the store's CPU under load.
let cached: Types | null = null;

function types(): Types {
  if (cached) return cached;
  if (!root) {
    const dir = protoDir();
    root = new protobuf.Root();
    root.resolvePath = (_origin, target) => (target.startsWith('/') ? target : join(dir, target));
    root.loadSync('hawser/journal.proto', { keepCase: false });
    root.resolveAll();
  }
  cached = {
    entry: root.lookupType('hawser.journal.v1.Entry'),
    op: root.lookupType('hawser.journal.v1.Op'),
    message: root.lookupType('hawser.broker.v1.Message'),
    stored: root.lookupType('hawser.journal.v1.StoredMessage'),
  };
  return cached;
}

const TO_OBJECT: protobuf.IConversionOptions = { longs: Number, enums: String, bytes: Buffer, defaults: true, arrays: true, objects: true, oneofs: true };

// The hot path (every persistent SEND): a message is encoded ONCE, for its journal entry, and
// the same bytes make its message record. Our objects already have the wire shapes, so the
// generated encoders take them as they are (no fromObject copy), and the entry is written
// field by field around the message bytes. The output decodes with the generated decoders
// (decodeEntry / decodeMessage); field order is the .proto's. The bytes are remembered with
// @hawser/proto (rememberMessageBytes): a Delivery of the message over gRPC writes them as
// they are (libs/proto/src/wire), so a stored message is encoded once, journal to delivery.
// The message's own bytes are written and read with the hot streams' hand-written serializer
// (encodeWireMessage / decodeWireMessage): protobufjs's Message.encode was 4% of a master's CPU
// and its decode + toObject most of a slave's 6% in decodeEntry (docs/benchmarks.md). Entries
// written before decode the same (the wire format is the .proto's either way).
function encodedMessage(m: Message): Uint8Array {
  let b = messageBytesOf(m);
  if (!b) {
    b = encodeWireMessage(m);
    rememberMessageBytes(m, b);
  }
  return b;
}

/**
 * The byte strings copied into one buffer of exactly their total size, returned as views of it.
 * The replication log holds entries for a while (up to 10,000 of them: seconds at half peak),
 * and a held view pins all of what it was cut from: an entry encoded into Node's 8 KiB Buffer
 * pool kept its whole slab alive, one received as a view of a gRPC read kept the read. At half
 * peak a master's ArrayBuffers were 92.6 MB for 55 MB of held entries, a slave's 61 MB
 * (docs/benchmarks.md, Session 24).
 */
export function ownBytes(datas: readonly Uint8Array[]): Buffer[] {
  let total = 0;
  for (const d of datas) total += d.length;
  const out = Buffer.allocUnsafeSlow(total);
  const views: Buffer[] = new Array(datas.length);
  let off = 0;
  for (let i = 0; i < datas.length; i++) {
    const d = datas[i]!;
    out.set(d, off);
    views[i] = out.subarray(off, off + d.length);
    off += d.length;
  }
  return views;
}

export function encodeEntry(e: JournalEntry): Buffer {
  const op = types().op;
  const w = protobuf.Writer.create();
  w.uint32(8).uint64(e.epoch).uint32(16).uint64(e.position).uint32(24).uint64(e.time);
  for (const o of e.ops) {
    w.uint32(34).fork(); // Entry.ops
    if (o.kind === 'enqueue') {
      const q = o.enqueue;
      w.uint32(10).fork(); // Op.enqueue
      w.uint32(10).bytes(encodedMessage(q.message));
      for (const id of q.queues) w.uint32(18).string(id);
      w.uint32(24).uint64(q.seq);
      if (q.dedup) w.uint32(32).bool(true);
      if (q.dedupScope) w.uint32(42).string(q.dedupScope);
      w.ldelim();
    } else {
      op.encode(o, w);
    }
    w.ldelim();
  }
  return w.finish() as Buffer;
}

const toNumber = (v: unknown): number => (typeof v === 'number' ? v : (v as { toNumber(): number }).toNumber());

/** An encoded entry's epoch (Entry field 1) without decoding the rest: catch-up reads entries back from disk by the thousand. */
export function entryEpoch(bytes: Uint8Array): number {
  const r = protobuf.Reader.create(bytes);
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag === 8) return toNumber(r.uint64());
    r.skipType(tag & 7);
  }
  return 0;
}

/**
 * The inverse of encodeEntry, read field by field so that an enqueued message keeps its
 * encoded bytes: a replica that applies the entry writes them as the message record without
 * encoding the message again. Other ops go through the generated decoder.
 */
export function decodeEntry(bytes: Uint8Array): JournalEntry {
  const { op: opType } = types();
  const r = protobuf.Reader.create(bytes);
  const e: JournalEntry = { epoch: 0, position: 0, time: 0, ops: [] };
  while (r.pos < r.len) {
    const tag = r.uint32();
    switch (tag >>> 3) {
      case 1: e.epoch = toNumber(r.uint64()); break;
      case 2: e.position = toNumber(r.uint64()); break;
      case 3: e.time = toNumber(r.uint64()); break;
      case 4: {
        const end = r.uint32() + r.pos;
        // Op: enqueue is field 1; anything else is decoded by the generated code.
        if (end > r.pos && bytes[r.pos] === 10) {
          r.uint32();
          const qEnd = r.uint32() + r.pos;
          const q: EnqueueOp = { message: null as unknown as Message, queues: [] as string[], seq: 0, dedup: false };
          while (r.pos < qEnd) {
            const t = r.uint32();
            switch (t >>> 3) {
              case 1: {
                const mb = r.bytes();
                q.message = decodeWireMessage(mb);
                rememberMessageBytes(q.message, mb);
                break;
              }
              case 2: q.queues.push(r.string()); break;
              case 3: q.seq = toNumber(r.uint64()); break;
              case 4: q.dedup = r.bool(); break;
              case 5: q.dedupScope = r.string(); break;
              default: r.skipType(t & 7);
            }
          }
          e.ops.push({ kind: 'enqueue', enqueue: q });
        } else {
          const o = opType.toObject(opType.decode(r, end - r.pos), TO_OBJECT) as JournalEntry['ops'][number];
          if (o.kind === 'retain') fixMessage(o.retain.message);
          e.ops.push(o);
        }
        r.pos = end;
        break;
      }
      default: r.skipType(tag & 7);
    }
  }
  return e;
}

/** A message record's value (StoredMessage); reuses the bytes encodeEntry made for it. */
export function encodeMessage(m: Message): Buffer {
  return protobuf.Writer.create().uint32(10).bytes(encodedMessage(m)).finish() as Buffer;
}

export function decodeMessage(bytes: Uint8Array): Message {
  // StoredMessage: field 1 is the message (the last one wins, as protobufjs merges them).
  const r = protobuf.Reader.create(bytes);
  let m: Message | null = null;
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag === 10) m = decodeWireMessage(r.bytes());
    else r.skipType(tag & 7);
  }
  return m ?? decodeWireMessage(new Uint8Array(0));
}

function fixMessage(m: Message | null): void {
  if (!m) return;
  if (!Buffer.isBuffer(m.body)) m.body = Buffer.from(m.body ?? []);
  m.headers ??= {};
}
