// Encodes journal entries and message records with protobufjs, from proto/hawser/journal.proto
// (which imports the Message of broker.proto, so a stored message is the wire message).
import { join } from 'node:path';
import * as protobuf from 'protobufjs';
import { protoDir } from '@hawser/proto';
import type { JournalEntry, Message } from '@hawser/broker';

let root: protobuf.Root | null = null;
// Looked up once: Root.lookupType on every encode was ~2% of the store's CPU under load.
let cached: { entry: protobuf.Type; stored: protobuf.Type } | null = null;

function types(): { entry: protobuf.Type; stored: protobuf.Type } {
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
    stored: root.lookupType('hawser.journal.v1.StoredMessage'),
  };
  return cached;
}

const TO_OBJECT: protobuf.IConversionOptions = { longs: Number, enums: String, bytes: Buffer, defaults: true, arrays: true, objects: true, oneofs: true };

export function encodeEntry(e: JournalEntry): Uint8Array {
  const t = types().entry;
  return t.encode(t.fromObject(e)).finish();
}

export function decodeEntry(bytes: Uint8Array): JournalEntry {
  const t = types().entry;
  const o = t.toObject(t.decode(bytes), TO_OBJECT) as JournalEntry;
  for (const op of o.ops) fixMessage(op.kind === 'enqueue' ? op.enqueue.message : null);
  return o;
}

export function encodeMessage(m: Message): Uint8Array {
  const t = types().stored;
  return t.encode(t.fromObject({ message: m })).finish();
}

export function decodeMessage(bytes: Uint8Array): Message {
  const t = types().stored;
  const m = (t.toObject(t.decode(bytes), TO_OBJECT) as { message: Message }).message;
  fixMessage(m);
  return m;
}

function fixMessage(m: Message | null): void {
  if (!m) return;
  if (!Buffer.isBuffer(m.body)) m.body = Buffer.from(m.body ?? []);
  m.headers ??= {};
}
