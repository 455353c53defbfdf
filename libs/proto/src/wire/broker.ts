// Hand-written serializers of proto/hawser/broker.proto's stream messages: SessionRequests and
// SessionEvents (Broker.Session), MuxRequests and MuxEvents (Broker.Sessions). Field numbers
// are the .proto's; decoding gives what @grpc/proto-loader gives with LOADER_OPTIONS (every
// field at its default when absent, a nested message absent = null, `kind` naming the oneof
// member that is set, uint64 as Number, AckMode as its name), so callers see the same objects.
// wire.spec.ts checks both directions against protobufjs's generated code.
import type { Message, SessionEvent, SessionRequest } from '@hawser/broker';
import type { MuxEvent, MuxEvents, MuxRequest, MuxRequests, SessionEvents, SessionRequests } from '../broker';
import { Cursor, LEN } from './io';
import * as o from './out';

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

// ---- the message, encoded once -------------------------------------------------------------

/**
 * Encoded bytes of a Message, keyed by the object, for a message that is never changed after
 * it was encoded: the store's journal codec registers the bytes it made (or read) for a
 * message, and a Delivery of that message writes them as they are instead of encoding it
 * again. Only register bytes that decode to the object as it is and will stay.
 */
const encodedMessages = new WeakMap<object, Uint8Array>();
export function rememberMessageBytes(m: Message, bytes: Uint8Array): void { encodedMessages.set(m, bytes); }
export function messageBytesOf(m: Message): Uint8Array | undefined { return encodedMessages.get(m); }

function sizeMessage(m: Any): number {
  let n = o.zString(m.id) + o.zString(m.destination);
  const h = m.headers;
  if (h) {
    if (typeof h !== 'object') throw new TypeError('.hawser.broker.v1.Message.headers: object expected');
    for (const k of Object.keys(h)) n += o.zEntry(k, h[k]);
  }
  return n + o.zBytes(m.body) + o.zBool(m.persistent) + o.zU32(m.priority) + o.zU64(m.expires) + o.zU64(m.timestamp);
}

function writeMessage(m: Any): void {
  o.wString(1, m.id);
  o.wString(2, m.destination);
  const h = m.headers;
  if (h) for (const k of Object.keys(h)) o.wEntry(3, k, h[k]);
  o.wBytes(4, m.body);
  o.wBool(5, m.persistent);
  o.wU32(6, m.priority);
  o.wU64(7, m.expires);
  o.wU64(8, m.timestamp);
}

function zMessage(m: Any | null | undefined): number {
  if (m == null) return 0;
  const known = encodedMessages.get(m);
  if (known) return o.zRaw(known);
  const slot = o.zOpen();
  return o.zClose(slot, sizeMessage(m));
}

function wMessage(field: number, m: Any | null | undefined): void {
  if (m == null) return;
  const known = encodedMessages.get(m);
  if (known) { o.wRaw(field, known); return; }
  o.wOpen(field);
  writeMessage(m);
}

function readMessage(r: Cursor, end: number): Message {
  const m: Message = { id: '', destination: '', headers: {}, body: EMPTY, persistent: false, priority: 0, expires: 0, timestamp: 0 };
  let body: Buffer | null = null;
  while (r.pos < end) {
    const t = r.u32();
    switch (t >>> 3) {
      case 1: m.id = r.string(); break;
      case 2: m.destination = r.string(); break;
      case 3: {
        const e = r.sub();
        let k = '';
        let v = '';
        while (r.pos < e) {
          const et = r.u32();
          switch (et >>> 3) {
            case 1: k = r.string(); break;
            case 2: v = r.string(); break;
            default: r.skip(et & 7);
          }
        }
        r.pos = e;
        m.headers[k] = v;
        break;
      }
      case 4: body = r.bytes(); break;
      case 5: m.persistent = r.bool(); break;
      case 6: m.priority = r.u32(); break;
      case 7: m.expires = r.u64(); break;
      case 8: m.timestamp = r.u64(); break;
      default: r.skip(t & 7);
    }
  }
  // Each decoded message has a body of its own (protobufjs: a new empty Buffer when absent).
  m.body = body ?? Buffer.alloc(0);
  return m;
}
const EMPTY = Buffer.alloc(0);

/**
 * One Message on its own (the store's journal codec: the message bytes of an enqueue op and of
 * a message record), with the writer the hot streams use: the same bytes as protobufjs's
 * Message.encode minus the fields at their default (both decode to the same object).
 */
export function encodeWireMessage(m: Message): Buffer {
  o.start();
  o.alloc(sizeMessage(m as Any));
  writeMessage(m as Any);
  return o.finish();
}

/** The inverse of encodeWireMessage (and of any Message encoding): every field at its default when absent. */
export function decodeWireMessage(bytes: Uint8Array): Message {
  const r = Cursor.of(bytes);
  return readMessage(r, r.end);
}

// ---- SessionRequest ---------------------------------------------------------------------------

const ACK_MODES = ['ACK_MODE_AUTO', 'ACK_MODE_CLIENT', 'ACK_MODE_CLIENT_INDIVIDUAL'] as const;
const ACK_MODE_NUMBER: Record<string, number> = { ACK_MODE_AUTO: 0, ACK_MODE_CLIENT: 1, ACK_MODE_CLIENT_INDIVIDUAL: 2 };

// A oneof member is written when present, like protobufjs's fromObject + encode (`kind` is not
// read). Each size function below has a write function that makes the same decisions.
function sizeRequest(q: Any): number {
  let n = o.zU64(q.requestId);
  let x: Any | null | undefined;
  let s: number;
  if ((x = q.open) != null) {
    s = o.zOpen();
    let c = o.zString(x.connectionId) + o.zString(x.clientId) + o.zString(x.login) + o.zString(x.gateway) + o.zBool(x.network);
    if (x.groups) for (const g of x.groups as unknown[]) c += o.zStringAlways(g);
    n += o.zClose(s, c);
  }
  if ((x = q.send) != null) { s = o.zOpen(); n += o.zClose(s, zMessage(x.message) + o.zString(x.transaction)); }
  if ((x = q.subscribe) != null) {
    s = o.zOpen();
    n += o.zClose(s, o.zString(x.subscriptionId) + o.zString(x.destination) + o.zU32(ackMode(x.ackMode)) + o.zU32(x.prefetch)
      + o.zString(x.selector) + o.zString(x.durableName) + o.zBool(x.noLocal) + o.zI32(x.priority));
  }
  if ((x = q.unsubscribe) != null) { s = o.zOpen(); n += o.zClose(s, o.zString(x.subscriptionId) + o.zBool(x.removeDurable)); }
  if ((x = q.ack) != null) { s = o.zOpen(); n += o.zClose(s, o.zU64(x.deliveryTag) + o.zString(x.transaction)); }
  if ((x = q.nack) != null) { s = o.zOpen(); n += o.zClose(s, o.zU64(x.deliveryTag) + o.zString(x.transaction)); }
  if ((x = q.begin) != null) { s = o.zOpen(); n += o.zClose(s, o.zString(x.transaction)); }
  if ((x = q.commit) != null) { s = o.zOpen(); n += o.zClose(s, o.zString(x.transaction)); }
  if ((x = q.abort) != null) { s = o.zOpen(); n += o.zClose(s, o.zString(x.transaction)); }
  if (q.close != null) { s = o.zOpen(); n += o.zClose(s, 0); }
  return n;
}

function writeRequest(q: Any): void {
  o.wU64(1, q.requestId);
  let x: Any | null | undefined;
  if ((x = q.open) != null) {
    o.wOpen(2);
    o.wString(1, x.connectionId); o.wString(2, x.clientId); o.wString(3, x.login); o.wString(4, x.gateway); o.wBool(5, x.network);
    if (x.groups) for (const g of x.groups as unknown[]) o.wStringAlways(6, g);
  }
  if ((x = q.send) != null) { o.wOpen(3); wMessage(1, x.message); o.wString(2, x.transaction); }
  if ((x = q.subscribe) != null) {
    o.wOpen(4);
    o.wString(1, x.subscriptionId); o.wString(2, x.destination); o.wU32(3, ackMode(x.ackMode)); o.wU32(4, x.prefetch);
    o.wString(5, x.selector); o.wString(6, x.durableName); o.wBool(7, x.noLocal); o.wI32(8, x.priority);
  }
  if ((x = q.unsubscribe) != null) { o.wOpen(5); o.wString(1, x.subscriptionId); o.wBool(2, x.removeDurable); }
  if ((x = q.ack) != null) { o.wOpen(6); o.wU64(1, x.deliveryTag); o.wString(2, x.transaction); }
  if ((x = q.nack) != null) { o.wOpen(7); o.wU64(1, x.deliveryTag); o.wString(2, x.transaction); }
  if ((x = q.begin) != null) { o.wOpen(8); o.wString(1, x.transaction); }
  if ((x = q.commit) != null) { o.wOpen(9); o.wString(1, x.transaction); }
  if ((x = q.abort) != null) { o.wOpen(10); o.wString(1, x.transaction); }
  if (q.close != null) o.wOpen(11);
}

/** AckMode by name (fromObject takes the name or the number). */
function ackMode(v: unknown): unknown { return typeof v === 'string' ? ACK_MODE_NUMBER[v] ?? 0 : v; }

function readTx(r: Cursor, end: number): { transaction: string } {
  const o = { transaction: '' };
  while (r.pos < end) {
    const t = r.u32();
    if (t >>> 3 === 1) o.transaction = r.string(); else r.skip(t & 7);
  }
  return o;
}

function readTagged(r: Cursor, end: number): { deliveryTag: number; transaction: string } {
  const o = { deliveryTag: 0, transaction: '' };
  while (r.pos < end) {
    const t = r.u32();
    switch (t >>> 3) {
      case 1: o.deliveryTag = r.u64(); break;
      case 2: o.transaction = r.string(); break;
      default: r.skip(t & 7);
    }
  }
  return o;
}

function readRequest(r: Cursor, end: number): SessionRequest {
  const q: Any = { requestId: 0 };
  let kf = 0;
  while (r.pos < end) {
    const t = r.u32();
    const f = t >>> 3;
    if (f === 1) { q.requestId = r.u64(); continue; }
    if (f < 2 || f > 11 || (t & 7) !== LEN) { r.skip(t & 7); continue; }
    const e = r.sub();
    switch (f) {
      case 2: {
        const o = { connectionId: '', clientId: '', login: '', gateway: '', network: false, groups: [] as string[] };
        while (r.pos < e) {
          const t2 = r.u32();
          switch (t2 >>> 3) {
            case 1: o.connectionId = r.string(); break;
            case 2: o.clientId = r.string(); break;
            case 3: o.login = r.string(); break;
            case 4: o.gateway = r.string(); break;
            case 5: o.network = r.bool(); break;
            case 6: o.groups.push(r.string()); break;
            default: r.skip(t2 & 7);
          }
        }
        kf = member(q, 'open', f, kf, o);
        break;
      }
      case 3: {
        const o: Any = { message: null, transaction: '' };
        while (r.pos < e) {
          const t2 = r.u32();
          switch (t2 >>> 3) {
            case 1: { const me = r.sub(); o.message = readMessage(r, me); r.pos = me; break; }
            case 2: o.transaction = r.string(); break;
            default: r.skip(t2 & 7);
          }
        }
        kf = member(q, 'send', f, kf, o);
        break;
      }
      case 4: {
        const o: Any = { subscriptionId: '', destination: '', ackMode: ACK_MODES[0], prefetch: 0, selector: '', durableName: '', noLocal: false, priority: 0 };
        while (r.pos < e) {
          const t2 = r.u32();
          switch (t2 >>> 3) {
            case 1: o.subscriptionId = r.string(); break;
            case 2: o.destination = r.string(); break;
            case 3: { const n = r.i32(); o.ackMode = ACK_MODES[n] ?? n; break; }
            case 4: o.prefetch = r.u32(); break;
            case 5: o.selector = r.string(); break;
            case 6: o.durableName = r.string(); break;
            case 7: o.noLocal = r.bool(); break;
            case 8: o.priority = r.i32(); break;
            default: r.skip(t2 & 7);
          }
        }
        kf = member(q, 'subscribe', f, kf, o);
        break;
      }
      case 5: {
        const o = { subscriptionId: '', removeDurable: false };
        while (r.pos < e) {
          const t2 = r.u32();
          switch (t2 >>> 3) {
            case 1: o.subscriptionId = r.string(); break;
            case 2: o.removeDurable = r.bool(); break;
            default: r.skip(t2 & 7);
          }
        }
        kf = member(q, 'unsubscribe', f, kf, o);
        break;
      }
      case 6: kf = member(q, 'ack', f, kf, readTagged(r, e)); break;
      case 7: kf = member(q, 'nack', f, kf, readTagged(r, e)); break;
      case 8: kf = member(q, 'begin', f, kf, readTx(r, e)); break;
      case 9: kf = member(q, 'commit', f, kf, readTx(r, e)); break;
      case 10: kf = member(q, 'abort', f, kf, readTx(r, e)); break;
      case 11: kf = member(q, 'close', f, kf, {}); break;
    }
    r.pos = e;
  }
  return q as SessionRequest;
}

/**
 * A oneof member read. protobufjs's decoder replaces a message field seen twice (no merge) and
 * does not clear the other members; its toObject then names the last member set in declaration
 * order (= field number here) as `kind`. Same here.
 */
function member(q: Any, name: string, field: number, kindField: number, value: Any): number {
  q[name] = value;
  if (field <= kindField) return kindField;
  q.kind = name;
  return field;
}

// ---- SessionEvent -----------------------------------------------------------------------------

function sizeEvent(e: Any): number {
  let n = 0;
  let x: Any | null | undefined;
  let s: number;
  if ((x = e.opened) != null) { s = o.zOpen(); n += o.zClose(s, o.zString(x.sessionId) + o.zString(x.group) + o.zString(x.node) + o.zU64(x.epoch)); }
  if ((x = e.receipt) != null) { s = o.zOpen(); n += o.zClose(s, o.zU64(x.requestId)); }
  if ((x = e.delivery) != null) {
    s = o.zOpen();
    n += o.zClose(s, o.zString(x.subscriptionId) + o.zU64(x.deliveryTag) + zMessage(x.message) + o.zBool(x.redelivered) + o.zU32(x.deliveryCount));
  }
  if ((x = e.error) != null) { s = o.zOpen(); n += o.zClose(s, o.zU64(x.requestId) + o.zString(x.code) + o.zString(x.message) + o.zBool(x.fatal)); }
  return n;
}

function writeEvent(e: Any): void {
  let x: Any | null | undefined;
  if ((x = e.opened) != null) { o.wOpen(1); o.wString(1, x.sessionId); o.wString(2, x.group); o.wString(3, x.node); o.wU64(4, x.epoch); }
  if ((x = e.receipt) != null) { o.wOpen(2); o.wU64(1, x.requestId); }
  if ((x = e.delivery) != null) {
    o.wOpen(3);
    o.wString(1, x.subscriptionId); o.wU64(2, x.deliveryTag); wMessage(3, x.message); o.wBool(4, x.redelivered); o.wU32(5, x.deliveryCount);
  }
  if ((x = e.error) != null) { o.wOpen(4); o.wU64(1, x.requestId); o.wString(2, x.code); o.wString(3, x.message); o.wBool(4, x.fatal); }
}

function readEvent(r: Cursor, end: number): SessionEvent {
  const ev: Any = {};
  let kf = 0;
  while (r.pos < end) {
    const t = r.u32();
    const f = t >>> 3;
    if (f < 1 || f > 4 || (t & 7) !== LEN) { r.skip(t & 7); continue; }
    const e = r.sub();
    switch (f) {
      case 1: {
        const o = { sessionId: '', group: '', node: '', epoch: 0 };
        while (r.pos < e) {
          const t2 = r.u32();
          switch (t2 >>> 3) {
            case 1: o.sessionId = r.string(); break;
            case 2: o.group = r.string(); break;
            case 3: o.node = r.string(); break;
            case 4: o.epoch = r.u64(); break;
            default: r.skip(t2 & 7);
          }
        }
        kf = member(ev, 'opened', f, kf, o);
        break;
      }
      case 2: {
        const o = { requestId: 0 };
        while (r.pos < e) {
          const t2 = r.u32();
          if (t2 >>> 3 === 1) o.requestId = r.u64(); else r.skip(t2 & 7);
        }
        kf = member(ev, 'receipt', f, kf, o);
        break;
      }
      case 3: {
        const o: Any = { subscriptionId: '', deliveryTag: 0, message: null, redelivered: false, deliveryCount: 0 };
        while (r.pos < e) {
          const t2 = r.u32();
          switch (t2 >>> 3) {
            case 1: o.subscriptionId = r.string(); break;
            case 2: o.deliveryTag = r.u64(); break;
            case 3: { const me = r.sub(); o.message = readMessage(r, me); r.pos = me; break; }
            case 4: o.redelivered = r.bool(); break;
            case 5: o.deliveryCount = r.u32(); break;
            default: r.skip(t2 & 7);
          }
        }
        kf = member(ev, 'delivery', f, kf, o);
        break;
      }
      case 4: {
        const o = { requestId: 0, code: '', message: '', fatal: false };
        while (r.pos < e) {
          const t2 = r.u32();
          switch (t2 >>> 3) {
            case 1: o.requestId = r.u64(); break;
            case 2: o.code = r.string(); break;
            case 3: o.message = r.string(); break;
            case 4: o.fatal = r.bool(); break;
            default: r.skip(t2 & 7);
          }
        }
        kf = member(ev, 'error', f, kf, o);
        break;
      }
    }
    r.pos = e;
  }
  return ev as SessionEvent;
}

// ---- the batches ------------------------------------------------------------------------------

function items(v: unknown): Any[] {
  if (v == null) return [];
  if (!Array.isArray(v)) throw new TypeError('.items: array expected');
  return v as Any[];
}

/** A batch: `items` (field 1) of one message type. */
function encodeItems(list: unknown, size: (x: Any) => number, write: (x: Any) => void): Buffer {
  const all = items(list);
  o.start();
  let total = 0;
  for (const x of all) { const s = o.zOpen(); total += o.zClose(s, size(x)); }
  o.alloc(total);
  for (const x of all) { o.wOpen(1); write(x); }
  return o.finish();
}

export function encodeSessionRequests(b: SessionRequests): Buffer {
  return encodeItems(b.items, sizeRequest, writeRequest);
}

export function decodeSessionRequests(buf: Buffer): SessionRequests {
  const r = Cursor.of(buf);
  const out: SessionRequest[] = [];
  while (r.more) {
    const t = r.u32();
    if (t >>> 3 === 1 && (t & 7) === LEN) { const e = r.sub(); out.push(readRequest(r, e)); r.pos = e; } else r.skip(t & 7);
  }
  return { items: out };
}

export function encodeSessionEvents(b: SessionEvents): Buffer {
  return encodeItems(b.items, sizeEvent, writeEvent);
}

export function decodeSessionEvents(buf: Buffer): SessionEvents {
  const r = Cursor.of(buf);
  const out: SessionEvent[] = [];
  while (r.more) {
    const t = r.u32();
    if (t >>> 3 === 1 && (t & 7) === LEN) { const e = r.sub(); out.push(readEvent(r, e)); r.pos = e; } else r.skip(t & 7);
  }
  return { items: out };
}

// MuxRequest and MuxEvent share one shape: session = 1, the payload (a request, an event) = 2,
// end = 3. One codec for both, by the payload's field name and its own codec.
function muxCodec(key: 'request' | 'event', size: (p: Any) => number, write: (p: Any) => void, read: (r: Cursor, end: number) => unknown) {
  const sizeItem = (it: Any): number => {
    let n = o.zU64(it.session);
    if (it[key] != null) { const s = o.zOpen(); n += o.zClose(s, size(it[key])); }
    return n + o.zBool(it.end);
  };
  const writeItem = (it: Any): void => {
    o.wU64(1, it.session);
    if (it[key] != null) { o.wOpen(2); write(it[key]); }
    o.wBool(3, it.end);
  };
  return {
    encode: (items: unknown[]): Buffer => encodeItems(items, sizeItem, writeItem),
    decode(buf: Buffer): Any[] {
      const r = Cursor.of(buf);
      const out: Any[] = [];
      while (r.more) {
        const t = r.u32();
        if (t >>> 3 !== 1 || (t & 7) !== LEN) { r.skip(t & 7); continue; }
        const e = r.sub();
        const it: Any = { session: 0, [key]: null, end: false };
        while (r.pos < e) {
          const t2 = r.u32();
          switch (t2 >>> 3) {
            case 1: it.session = r.u64(); break;
            case 2: {
              const pe = r.sub();
              it[key] = read(r, pe);
              r.pos = pe;
              break;
            }
            case 3: it.end = r.bool(); break;
            default: r.skip(t2 & 7);
          }
        }
        out.push(it);
        r.pos = e;
      }
      return out;
    },
  };
}

const muxRequests = muxCodec('request', sizeRequest, writeRequest, readRequest);
const muxEvents = muxCodec('event', sizeEvent, writeEvent, readEvent);

export function encodeMuxRequests(b: MuxRequests): Buffer { return muxRequests.encode(b.items); }
export function decodeMuxRequests(buf: Buffer): MuxRequests { return { items: muxRequests.decode(buf) as MuxRequest[] }; }
export function encodeMuxEvents(b: MuxEvents): Buffer { return muxEvents.encode(b.items); }
export function decodeMuxEvents(buf: Buffer): MuxEvents { return { items: muxEvents.decode(buf) as MuxEvent[] }; }
