// Hand-written serializer of proto/hawser/replication.proto's ReplicationBatch (both directions
// of Replication.Stream): appends carrying journal entry bytes master -> slaves, acks back.
// Decoding gives what @grpc/proto-loader gives with LOADER_OPTIONS (see ./broker.ts); an
// Entry's data is a view of the received gRPC message, not a copy (as protobufjs's).
import type { ReplicationBatch, ReplicationHello, ReplicationMessage, WireEntry } from '../coordination';
import { Cursor, LEN } from './io';
import * as o from './out';

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

// Each size function has a write function that makes the same decisions (./out).
function sizeMessage(m: Any): number {
  let n = 0;
  let x: Any | null | undefined;
  let s: number;
  if ((x = m.append) != null) {
    s = o.zOpen();
    let c = o.zString(x.from) + o.zU64(x.epoch) + o.zU64(x.prevEpoch) + o.zU64(x.prevPosition);
    if (x.entries) {
      for (const e of x.entries as Any[]) {
        const es = o.zOpen();
        c += o.zClose(es, o.zU64(e.epoch) + o.zU64(e.position) + o.zBytes(e.data) + o.zBool(e.noop));
      }
    }
    n += o.zClose(s, c + o.zU64(x.commitPosition));
  }
  if ((x = m.ack) != null) { s = o.zOpen(); n += o.zClose(s, o.zString(x.from) + o.zU64(x.epoch) + o.zU64(x.incarnation) + o.zU64(x.received) + o.zU64(x.persisted)); }
  if ((x = m.reject) != null) { s = o.zOpen(); n += o.zClose(s, o.zString(x.from) + o.zU64(x.epoch) + o.zU64(x.incarnation) + o.zU64(x.hintEpoch) + o.zU64(x.hintPosition)); }
  if ((x = m.stale) != null) { s = o.zOpen(); n += o.zClose(s, o.zString(x.from) + o.zU64(x.epoch)); }
  if ((x = m.snapshot) != null) { s = o.zOpen(); n += o.zClose(s, o.zString(x.from) + o.zU64(x.epoch) + o.zU64(x.snapshotEpoch) + o.zU64(x.position)); }
  return n;
}

function writeMessage(m: Any): void {
  let x: Any | null | undefined;
  if ((x = m.append) != null) {
    o.wOpen(1);
    o.wString(1, x.from); o.wU64(2, x.epoch); o.wU64(3, x.prevEpoch); o.wU64(4, x.prevPosition);
    if (x.entries) {
      for (const e of x.entries as Any[]) { o.wOpen(5); o.wU64(1, e.epoch); o.wU64(2, e.position); o.wBytes(3, e.data); o.wBool(4, e.noop); }
    }
    o.wU64(6, x.commitPosition);
  }
  if ((x = m.ack) != null) { o.wOpen(2); o.wString(1, x.from); o.wU64(2, x.epoch); o.wU64(3, x.incarnation); o.wU64(4, x.received); o.wU64(5, x.persisted); }
  if ((x = m.reject) != null) { o.wOpen(3); o.wString(1, x.from); o.wU64(2, x.epoch); o.wU64(3, x.incarnation); o.wU64(4, x.hintEpoch); o.wU64(5, x.hintPosition); }
  if ((x = m.stale) != null) { o.wOpen(4); o.wString(1, x.from); o.wU64(2, x.epoch); }
  if ((x = m.snapshot) != null) { o.wOpen(5); o.wString(1, x.from); o.wU64(2, x.epoch); o.wU64(3, x.snapshotEpoch); o.wU64(4, x.position); }
}

export function encodeReplicationBatch(b: ReplicationBatch): Buffer {
  const h = b.hello;
  const messages = b.messages;
  if (messages != null && !Array.isArray(messages)) throw new TypeError('.hawser.replication.v1.ReplicationBatch.messages: array expected');
  o.start();
  let total = 0;
  if (h != null) { const s = o.zOpen(); total += o.zClose(s, o.zString(h.group) + o.zString(h.from) + o.zU64(h.epoch) + o.zU64(h.incarnation)); }
  if (messages) for (const m of messages) { const s = o.zOpen(); total += o.zClose(s, sizeMessage(m)); }
  o.alloc(total);
  if (h != null) { o.wOpen(1); o.wString(1, h.group); o.wString(2, h.from); o.wU64(3, h.epoch); o.wU64(4, h.incarnation); }
  if (messages) for (const m of messages) { o.wOpen(2); writeMessage(m); }
  return o.finish();
}

function readEntry(r: Cursor, end: number): WireEntry {
  const e: WireEntry = { epoch: 0, position: 0, data: EMPTY, noop: false };
  let data: Buffer | null = null;
  while (r.pos < end) {
    const t = r.u32();
    switch (t >>> 3) {
      case 1: e.epoch = r.u64(); break;
      case 2: e.position = r.u64(); break;
      case 3: data = r.bytes(); break;
      case 4: e.noop = r.bool(); break;
      default: r.skip(t & 7);
    }
  }
  e.data = data ?? Buffer.alloc(0);
  return e;
}
const EMPTY = Buffer.alloc(0);

/** Five uint64/string fields as one record: AppendAck, AppendReject, StaleEpoch, SnapshotOffer. */
function readFlat(r: Cursor, end: number, names: readonly string[]): Any {
  const o: Any = { from: '' };
  for (let i = 1; i < names.length; i++) o[names[i]!] = 0;
  while (r.pos < end) {
    const t = r.u32();
    const f = t >>> 3;
    if (f === 1) o.from = r.string();
    else if (f >= 2 && f <= names.length) o[names[f - 1]!] = r.u64();
    else r.skip(t & 7);
  }
  return o;
}
const ACK = ['from', 'epoch', 'incarnation', 'received', 'persisted'] as const;
const REJECT = ['from', 'epoch', 'incarnation', 'hintEpoch', 'hintPosition'] as const;
const STALE = ['from', 'epoch'] as const;
const SNAPSHOT = ['from', 'epoch', 'snapshotEpoch', 'position'] as const;
const KINDS = ['', 'append', 'ack', 'reject', 'stale', 'snapshot'] as const;

function readMessage(r: Cursor, end: number): ReplicationMessage {
  const m: Any = {};
  let kf = 0;
  while (r.pos < end) {
    const t = r.u32();
    const f = t >>> 3;
    if (f < 1 || f > 5 || (t & 7) !== LEN) { r.skip(t & 7); continue; }
    const e = r.sub();
    let v: Any;
    switch (f) {
      case 1: {
        const a: Any = { from: '', epoch: 0, prevEpoch: 0, prevPosition: 0, entries: [] as WireEntry[], commitPosition: 0 };
        while (r.pos < e) {
          const t2 = r.u32();
          switch (t2 >>> 3) {
            case 1: a.from = r.string(); break;
            case 2: a.epoch = r.u64(); break;
            case 3: a.prevEpoch = r.u64(); break;
            case 4: a.prevPosition = r.u64(); break;
            case 5: { const ee = r.sub(); a.entries.push(readEntry(r, ee)); r.pos = ee; break; }
            case 6: a.commitPosition = r.u64(); break;
            default: r.skip(t2 & 7);
          }
        }
        v = a;
        break;
      }
      case 2: v = readFlat(r, e, ACK); break;
      case 3: v = readFlat(r, e, REJECT); break;
      case 4: v = readFlat(r, e, STALE); break;
      default: v = readFlat(r, e, SNAPSHOT); break;
    }
    r.pos = e;
    // A member seen twice replaces the first; `kind` names the last set in field order
    // (protobufjs's decode + toObject).
    const name = KINDS[f]!;
    m[name] = v;
    if (f > kf) { kf = f; m.kind = name; }
  }
  return m as ReplicationMessage;
}

export function decodeReplicationBatch(buf: Buffer): ReplicationBatch {
  const r = Cursor.of(buf);
  const b: ReplicationBatch = { hello: null, messages: [] };
  while (r.more) {
    const t = r.u32();
    const f = t >>> 3;
    if ((f !== 1 && f !== 2) || (t & 7) !== LEN) { r.skip(t & 7); continue; }
    const e = r.sub();
    if (f === 1) {
      const h: ReplicationHello = { group: '', from: '', epoch: 0, incarnation: 0 };
      while (r.pos < e) {
        const t2 = r.u32();
        switch (t2 >>> 3) {
          case 1: h.group = r.string(); break;
          case 2: h.from = r.string(); break;
          case 3: h.epoch = r.u64(); break;
          case 4: h.incarnation = r.u64(); break;
          default: r.skip(t2 & 7);
        }
      }
      b.hello = h;
    } else {
      b.messages.push(readMessage(r, e));
    }
    r.pos = e;
  }
  return b;
}
