// The hand-written serializers against the .proto contracts: for generated and edge-case
// objects, (1) our bytes decode with protobufjs's generated code (as @grpc/proto-loader runs it
// with LOADER_OPTIONS) to the object its own bytes decode to, (2) its bytes decode with ours
// to that same object, (3) fields this version does not know, at every level, are skipped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as protoLoader from '@grpc/proto-loader';
import * as protobuf from 'protobufjs';
import { LOADER_OPTIONS, protoDir, brokerService, replicationService } from '../index';
import {
  decodeMuxEvents, decodeMuxRequests, decodeReplicationBatch, decodeSessionEvents, decodeSessionRequests,
  encodeMuxEvents, encodeMuxRequests, encodeReplicationBatch, encodeSessionEvents, encodeSessionRequests,
  rememberMessageBytes, HOT_METHODS, handWrittenCodec,
} from './index';

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

// ---- the reference: proto-loader's own serializers ---------------------------------------------

function loaderMethods(file: string, service: string): Record<string, protoLoader.MethodDefinition<unknown, unknown>> {
  const dir = protoDir();
  const def = protoLoader.loadSync(join(dir, 'hawser', file), { ...LOADER_OPTIONS, includeDirs: [dir] });
  return def[service] as unknown as Record<string, protoLoader.MethodDefinition<unknown, unknown>>;
}
const broker = loaderMethods('broker.proto', 'hawser.broker.v1.Broker');
const replication = loaderMethods('replication.proto', 'hawser.replication.v1.Replication');

interface Pair { name: string; ours: { enc(o: Any): Buffer; dec(b: Buffer): Any }; ref: { enc(o: Any): Buffer; dec(b: Buffer): Any }; type: string }
const PAIRS: Record<string, Pair> = {
  SessionRequests: { name: 'SessionRequests', type: 'hawser.broker.v1.SessionRequests', ours: { enc: encodeSessionRequests as (o: Any) => Buffer, dec: decodeSessionRequests }, ref: { enc: broker.Session!.requestSerialize, dec: broker.Session!.requestDeserialize as (b: Buffer) => Any } },
  SessionEvents: { name: 'SessionEvents', type: 'hawser.broker.v1.SessionEvents', ours: { enc: encodeSessionEvents as (o: Any) => Buffer, dec: decodeSessionEvents }, ref: { enc: broker.Session!.responseSerialize, dec: broker.Session!.responseDeserialize as (b: Buffer) => Any } },
  MuxRequests: { name: 'MuxRequests', type: 'hawser.broker.v1.MuxRequests', ours: { enc: encodeMuxRequests as (o: Any) => Buffer, dec: decodeMuxRequests }, ref: { enc: broker.Sessions!.requestSerialize, dec: broker.Sessions!.requestDeserialize as (b: Buffer) => Any } },
  MuxEvents: { name: 'MuxEvents', type: 'hawser.broker.v1.MuxEvents', ours: { enc: encodeMuxEvents as (o: Any) => Buffer, dec: decodeMuxEvents }, ref: { enc: broker.Sessions!.responseSerialize, dec: broker.Sessions!.responseDeserialize as (b: Buffer) => Any } },
  ReplicationBatch: { name: 'ReplicationBatch', type: 'hawser.replication.v1.ReplicationBatch', ours: { enc: encodeReplicationBatch as (o: Any) => Buffer, dec: decodeReplicationBatch }, ref: { enc: replication.Stream!.requestSerialize, dec: replication.Stream!.requestDeserialize as (b: Buffer) => Any } },
};

/** Both directions and both codecs agree on `obj`. */
function check(p: Pair, obj: Any, label: string): void {
  const refBytes = p.ref.enc(obj);
  const expected = p.ref.dec(refBytes);
  const ourBytes = p.ours.enc(obj);
  assert.ok(Buffer.isBuffer(ourBytes), `${p.name} ${label}: a Buffer`);
  assert.deepStrictEqual(p.ref.dec(ourBytes), expected, `${p.name} ${label}: our bytes, protobufjs's decoder`);
  assert.deepStrictEqual(p.ours.dec(refBytes), expected, `${p.name} ${label}: protobufjs's bytes, our decoder`);
  assert.deepStrictEqual(p.ours.dec(ourBytes), expected, `${p.name} ${label}: ours both ways`);
}

// ---- generated objects --------------------------------------------------------------------------

function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Gen {
  constructor(readonly r: () => number) {}
  int(n: number): number { return Math.floor(this.r() * n); }
  pick<T>(xs: readonly T[]): T { return xs[this.int(xs.length)]!; }
  bool(): boolean { return this.r() < 0.5; }
  u64(): number {
    return this.pick([0, 1, 127, 128, 300, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 7, Number.MAX_SAFE_INTEGER, this.int(1e6), this.int(2 ** 31) * 4096 + this.int(4096)]);
  }
  u32(): number { return this.pick([0, 1, 9, 127, 128, 2 ** 31, 2 ** 32 - 1, this.int(1e4)]); }
  i32(): number { return this.pick([0, 1, -1, -(2 ** 31), 2 ** 31 - 1, this.int(200) - 100]); }
  str(): string {
    return this.pick([
      '', 'a', 'queue-1', '/queue/orders', '/topic/prices.>', 'ключ', '値', 'émoji 🎉 ok', 'e\u0301', 'tab\tnl\nnul\u0000',
      'x'.repeat(39), 'y'.repeat(40), 'z'.repeat(300), '🎉'.repeat(50), `s${this.int(1e9)}`,
    ]);
  }
  body(): Buffer {
    const n = this.pick([0, 1, 16, 1024, 1024, 1024, 65_536 + 3]);
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i += 997) b[i] = this.int(256);
    return b.fill(this.int(256), 0, Math.min(n, 64));
  }
  headers(): Record<string, string> {
    const h: Record<string, string> = {};
    const n = this.pick([0, 0, 1, 3, 12]);
    for (let i = 0; i < n; i++) h[this.pick(['', 'k', 'content-type', 'ключ', '😀', 'JMSType', `h${i}`])] = this.str();
    return h;
  }
  message(): Any {
    return { id: this.str(), destination: this.str(), headers: this.headers(), body: this.body(), persistent: this.bool(), priority: this.u32(), expires: this.u64(), timestamp: this.u64() };
  }
  tx(): Any { return { transaction: this.str() }; }
  request(kind?: string): Any {
    const k = kind ?? this.pick(['open', 'send', 'subscribe', 'unsubscribe', 'ack', 'nack', 'begin', 'commit', 'abort', 'close']);
    const body: Record<string, () => Any> = {
      open: () => ({ connectionId: this.str(), clientId: this.str(), login: this.str(), gateway: this.str(), network: this.bool(), groups: Array.from({ length: this.int(4) }, () => this.str()) }),
      send: () => ({ message: this.bool() || this.bool() ? this.message() : null, transaction: this.str() }),
      subscribe: () => ({ subscriptionId: this.str(), destination: this.str(), ackMode: this.pick(['ACK_MODE_AUTO', 'ACK_MODE_CLIENT', 'ACK_MODE_CLIENT_INDIVIDUAL']), prefetch: this.u32(), selector: this.str(), durableName: this.str(), noLocal: this.bool(), priority: this.i32() }),
      unsubscribe: () => ({ subscriptionId: this.str(), removeDurable: this.bool() }),
      ack: () => ({ deliveryTag: this.u64(), transaction: this.str() }),
      nack: () => ({ deliveryTag: this.u64(), transaction: this.str() }),
      begin: () => this.tx(), commit: () => this.tx(), abort: () => this.tx(),
      close: () => ({}),
    };
    return { requestId: this.u64(), kind: k, [k]: body[k]!() };
  }
  event(kind?: string): Any {
    const k = kind ?? this.pick(['opened', 'receipt', 'delivery', 'error']);
    const body: Record<string, () => Any> = {
      opened: () => ({ sessionId: this.str(), group: this.str(), node: this.str(), epoch: this.u64() }),
      receipt: () => ({ requestId: this.u64() }),
      delivery: () => ({ subscriptionId: this.str(), deliveryTag: this.u64(), message: this.message(), redelivered: this.bool(), deliveryCount: this.u32() }),
      error: () => ({ requestId: this.u64(), code: this.str(), message: this.str(), fatal: this.bool() }),
    };
    return { kind: k, [k]: body[k]!() };
  }
  replication(kind?: string): Any {
    const k = kind ?? this.pick(['append', 'ack', 'reject', 'stale', 'snapshot']);
    const body: Record<string, () => Any> = {
      append: () => ({
        from: this.str(), epoch: this.u64(), prevEpoch: this.u64(), prevPosition: this.u64(), commitPosition: this.u64(),
        entries: Array.from({ length: this.pick([0, 1, 2, 64]) }, () => ({ epoch: this.u64(), position: this.u64(), data: this.pick([Buffer.alloc(0), Buffer.from([1, 2, 3]), this.body()]), noop: this.bool() })),
      }),
      ack: () => ({ from: this.str(), epoch: this.u64(), incarnation: this.u64(), received: this.u64(), persisted: this.u64() }),
      reject: () => ({ from: this.str(), epoch: this.u64(), incarnation: this.u64(), hintEpoch: this.u64(), hintPosition: this.u64() }),
      stale: () => ({ from: this.str(), epoch: this.u64() }),
      snapshot: () => ({ from: this.str(), epoch: this.u64(), snapshotEpoch: this.u64(), position: this.u64() }),
    };
    return { kind: k, [k]: body[k]!() };
  }
  batch(type: string): Any {
    const n = this.pick([0, 1, 2, 5, 40]);
    switch (type) {
      case 'SessionRequests': return { items: Array.from({ length: n }, () => this.request()) };
      case 'SessionEvents': return { items: Array.from({ length: n }, () => this.event()) };
      case 'MuxRequests': return { items: Array.from({ length: n }, () => (this.int(4) === 0 ? { session: this.u64(), end: true } : { session: this.u64(), request: this.request(), end: false })) };
      case 'MuxEvents': return { items: Array.from({ length: n }, () => (this.int(4) === 0 ? { session: this.u64(), end: true } : { session: this.u64(), event: this.event(), end: false })) };
      default: return { hello: this.bool() ? { group: this.str(), from: this.str(), epoch: this.u64(), incarnation: this.u64() } : null, messages: Array.from({ length: n }, () => this.replication()) };
    }
  }
}

test('generated batches of every hot message agree both ways with protobufjs (300 each)', () => {
  const g = new Gen(rng(9));
  for (const p of Object.values(PAIRS)) {
    for (let i = 0; i < 300; i++) check(p, g.batch(p.name), `#${i}`);
  }
});

test('every oneof kind, alone and at its defaults', () => {
  const g = new Gen(rng(3));
  const requestKinds = ['open', 'send', 'subscribe', 'unsubscribe', 'ack', 'nack', 'begin', 'commit', 'abort', 'close'];
  const defaults: Record<string, Any> = {
    open: {}, send: {}, subscribe: {}, unsubscribe: {}, ack: {}, nack: {}, begin: {}, commit: {}, abort: {}, close: {},
    opened: {}, receipt: {}, delivery: {}, error: {}, append: {}, ack_: {}, reject: {}, stale: {}, snapshot: {},
  };
  for (const k of requestKinds) {
    check(PAIRS.SessionRequests!, { items: [g.request(k)] }, k);
    check(PAIRS.SessionRequests!, { items: [{ requestId: 0, [k]: defaults[k] }] }, `${k} at defaults`);
    check(PAIRS.MuxRequests!, { items: [{ session: 1, request: g.request(k) }] }, k);
  }
  for (const k of ['opened', 'receipt', 'delivery', 'error']) {
    check(PAIRS.SessionEvents!, { items: [g.event(k)] }, k);
    check(PAIRS.SessionEvents!, { items: [{ [k]: {} }] }, `${k} at defaults`);
    check(PAIRS.MuxEvents!, { items: [{ session: 2, event: g.event(k) }] }, k);
  }
  for (const k of ['append', 'ack', 'reject', 'stale', 'snapshot']) {
    check(PAIRS.ReplicationBatch!, { messages: [g.replication(k)] }, k);
    check(PAIRS.ReplicationBatch!, { messages: [{ [k]: {} }] }, `${k} at defaults`);
  }
});

test('edge cases: empty batches, no kind, a request without its kind field, big and unicode', () => {
  for (const p of Object.values(PAIRS)) {
    check(p, {}, 'empty object');
    check(p, { items: [], messages: [] }, 'empty lists');
  }
  check(PAIRS.SessionRequests!, { items: [{ requestId: 5 }] }, 'no oneof member');
  check(PAIRS.SessionRequests!, { items: [{}] }, 'an empty request');
  check(PAIRS.SessionEvents!, { items: [{}] }, 'an empty event');
  check(PAIRS.MuxRequests!, { items: [{}] }, 'an empty item');
  check(PAIRS.MuxEvents!, { items: [{ session: 0, event: null, end: false }] }, 'nulls');
  check(PAIRS.ReplicationBatch!, { hello: {}, messages: [{}] }, 'empty hello and message');
  // The shape callers write: a member without `kind` (the spec in broker.spec.ts does so).
  check(PAIRS.SessionRequests!, { items: [{ requestId: 7, send: { message: { id: 'm', destination: '/queue/a', headers: { k: 'v' }, body: Buffer.from([0, 1, 2]), persistent: true, priority: 9, expires: 2 ** 40, timestamp: 1 }, transaction: '' } }] }, 'no kind');
  // A 16 MiB body, unicode headers (multi-byte keys and values, lone surrogates excluded:
  // protobufjs's UTF-8 writer and Node's disagree on those, whoever encodes).
  const big = Buffer.alloc(16 * 1024 * 1024, 7);
  const m = { id: 'ID:😀', destination: '/queue/大', headers: { 'ключ': 'значение', '😀': '🎉🎉', 'e\u0301': '\u0000' }, body: big, persistent: true, priority: 4, expires: 0, timestamp: Date.now() };
  check(PAIRS.SessionRequests!, { items: [{ requestId: 1, kind: 'send', send: { message: m, transaction: '' } }] }, '16 MiB send');
  check(PAIRS.MuxEvents!, { items: [{ session: 3, event: { kind: 'delivery', delivery: { subscriptionId: 's', deliveryTag: 2 ** 53 - 1, message: m, redelivered: true, deliveryCount: 2 } } }] }, '16 MiB delivery');
  check(PAIRS.ReplicationBatch!, { messages: [{ kind: 'append', append: { from: 'n1', epoch: 3, prevEpoch: 3, prevPosition: 9, commitPosition: 9, entries: [{ epoch: 3, position: 10, data: big, noop: false }] } }] }, '16 MiB entry');
  // uint64 beyond 2^53 rounds as Long#toNumber does; values that fromObject would take.
  check(PAIRS.SessionEvents!, { items: [{ receipt: { requestId: 2 ** 63 } }, { receipt: { requestId: 2 ** 64 - 2048 } }, { receipt: { requestId: '12345678901234' } }, { receipt: { requestId: 2 ** 64 } }, { receipt: { requestId: Infinity } }, { receipt: { requestId: -1 } }, { receipt: { requestId: 1.5 } }, { receipt: { requestId: NaN } }, { receipt: { requestId: 'abc' } }] }, 'big, odd and string uint64');
  check(PAIRS.SessionRequests!, { items: [{ subscribe: { ackMode: 2, priority: -5 } }, { subscribe: { ackMode: 'ACK_MODE_CLIENT' } }] }, 'enum as number, negative int32');
  check(PAIRS.SessionRequests!, { items: [{ send: { message: { headers: { n: 5 as unknown as string } } } }] }, 'a header value that is not a string');
});

test('two oneof members on the wire: both decoded, `kind` names the later field (as protobufjs)', () => {
  const w = protobuf.Writer.create();
  // SessionRequests.items[0] = { ack (6): {deliveryTag: 1}, open (2): {login: 'x'} } in that order
  w.uint32(10).fork().uint32(50).fork().uint32(8).uint32(1).ldelim().uint32(18).fork().uint32(26).string('x').ldelim().ldelim();
  const bytes = w.finish() as Buffer;
  assert.deepStrictEqual(decodeSessionRequests(bytes), PAIRS.SessionRequests!.ref.dec(bytes));
});

test('an unknown enum value decodes as its number, as with proto-loader', () => {
  const bytes = protobuf.Writer.create().uint32(10).fork().uint32(34).fork().uint32(24).uint32(7).ldelim().ldelim().finish() as Buffer;
  assert.deepStrictEqual(decodeSessionRequests(bytes), PAIRS.SessionRequests!.ref.dec(bytes));
});

// ---- unknown fields --------------------------------------------------------------------------

/** The contracts with extra fields in every message: what a newer peer might send. */
function extendedRoot(): protobuf.Root {
  const dir = protoDir();
  const root = new protobuf.Root();
  const extra = (text: string) => text.replace(/(message \w+ \{)/g, '$1 string zz_text = 900; fixed64 zz_f64 = 901; fixed32 zz_f32 = 902; uint64 zz_varint = 903; repeated bytes zz_blob = 904; ');
  root.resolvePath = (_o, target) => target;
  for (const f of ['broker.proto', 'replication.proto']) {
    protobuf.parse(extra(readFileSync(join(dir, 'hawser', f), 'utf8')), root, { keepCase: false });
  }
  root.resolveAll();
  return root;
}

function withExtras(o: unknown, key = ''): unknown {
  if (Array.isArray(o)) return o.map((x) => withExtras(x));
  if (o === null || typeof o !== 'object' || Buffer.isBuffer(o) || key === 'headers') return o;
  const out: Any = {};
  for (const [k, v] of Object.entries(o)) out[k] = withExtras(v, k);
  return Object.assign(out, { zzText: 'from the future ✓', zzF64: 2 ** 40, zzF32: 77, zzVarint: 2 ** 50, zzBlob: [Buffer.from('a'), Buffer.alloc(300, 1)] });
}

test('fields this version does not know are skipped, at every level', () => {
  const root = extendedRoot();
  const g = new Gen(rng(21));
  for (const p of Object.values(PAIRS)) {
    const t = root.lookupType(p.type);
    for (let i = 0; i < 60; i++) {
      const obj = g.batch(p.name);
      const bytes = t.encode(t.fromObject(withExtras(obj) as Any)).finish() as Buffer;
      const expected = p.ref.dec(bytes);
      assert.deepStrictEqual(expected, p.ref.dec(p.ref.enc(obj)), `${p.name} #${i}: the extras are really unknown to the reference`);
      assert.deepStrictEqual(p.ours.dec(bytes), expected, `${p.name} #${i}`);
    }
  }
  // A group (wire types 3/4) between items is skipped too.
  const w = protobuf.Writer.create().uint32((77 << 3) | 3).uint32((1 << 3) | 0).uint32(5).uint32((77 << 3) | 4);
  w.uint32(10).fork().uint32(8).uint32(9).ldelim(); // items[0].session = 9
  const bytes = w.finish() as Buffer;
  assert.deepStrictEqual(decodeMuxEvents(bytes), PAIRS.MuxEvents!.ref.dec(bytes));
});

test('a truncated message fails to decode, with either codec', () => {
  const g = new Gen(rng(5));
  const bytes = encodeMuxRequests({ items: [{ session: 1, request: g.request('send') as never, end: false }] });
  for (const cut of [1, 5, bytes.length - 1]) {
    const part = bytes.subarray(0, cut);
    assert.throws(() => decodeMuxRequests(part), RangeError, `cut at ${cut}`);
    assert.throws(() => PAIRS.MuxRequests!.ref.dec(part), `cut at ${cut}: the reference fails too`);
  }
});

test('a message with remembered bytes is written as those bytes (encoded once)', () => {
  const g = new Gen(rng(8));
  const m = g.message();
  const t = extendedRoot().lookupType('hawser.broker.v1.Message');
  const bytes = t.encode(t.fromObject(m)).finish();
  rememberMessageBytes(m as never, bytes);
  const batch = { items: [{ session: 1, event: { kind: 'delivery', delivery: { subscriptionId: 's', deliveryTag: 1, message: m, redelivered: false, deliveryCount: 1 } } }] };
  const ours = encodeMuxEvents(batch as never);
  assert.ok(ours.includes(Buffer.from(bytes)), 'the bytes are in the batch as they were');
  assert.deepStrictEqual(PAIRS.MuxEvents!.ref.dec(ours), PAIRS.MuxEvents!.ref.dec(PAIRS.MuxEvents!.ref.enc(batch)));
});

test('the services carry the hand-written serializers on the hot methods only', { skip: !handWrittenCodec() && 'HAWSER_WIRE_CODEC=loader' }, () => {
  const Broker = brokerService().service;
  assert.equal(Broker.Session!.requestSerialize, HOT_METHODS['hawser.broker.v1.Broker']!.Session!.requestSerialize);
  assert.equal(Broker.Sessions!.responseDeserialize, HOT_METHODS['hawser.broker.v1.Broker']!.Sessions!.responseDeserialize);
  const Replication = replicationService().service;
  assert.equal(Replication.Stream!.requestDeserialize, decodeReplicationBatch);
  assert.notEqual(Replication.Snapshot!.responseDeserialize, decodeReplicationBatch, 'Snapshot keeps proto-loader\'s');
});
