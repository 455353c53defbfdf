// Test support: drives a BrokerCore against an in-memory "disk" built from its journal
// entries (the same materialization the store does in RocksDB), so scenarios can check
// receipts, deliveries, paging and replay without I/O. Used by the specs only.
import { BrokerCore, type CoreOptions, type PageRequest, type Recovered } from './core';
import { orderKey, type DurableSubOp, type JournalEntry } from './journal';
import type { CompileSelector, Delivery, ErrorEvent, Message, SessionEvent, SessionRequest, Subscribe } from './types';

export const noSelectors: CompileSelector = () => { throw new Error('selectors not enabled in this test'); };

export function options(extra: Partial<CoreOptions> = {}): CoreOptions {
  return {
    group: 'g1', node: 's1', epoch: 1, defaultPrefetch: 1000, maximumRedeliveries: 6,
    deadLetterQueue: '/queue/ActiveMQ.DLQ', dedupWindow: 100_000, pageSize: 1000, forcePersistent: false,
    compileSelector: noSelectors, ...extra,
  };
}

/** A request without (or with) its id: the harness numbers them. */
export type Req = SessionRequest extends infer R ? (R extends SessionRequest ? Omit<R, 'requestId'> & { requestId?: number } : never) : never;

interface DiskMessage { key: string; seq: number; message: Message; failed: number }

export class Harness {
  readonly core: BrokerCore;
  readonly disk = new Map<string, Map<number, DiskMessage>>();
  readonly entries: JournalEntry[] = [];
  /** Durable subscriptions and retained messages as the store materializes them (s\0, r\0 records). */
  readonly durableOps = new Map<string, DurableSubOp>();
  readonly retainedDisk = new Map<string, Message>();
  readonly events = new Map<string, SessionEvent[]>();
  readonly ended = new Set<string>();
  /** false: entries wait in `unwritten` until write() (to test persist-before-send). */
  autoWrite = true;
  unwritten: JournalEntry[] = [];
  loads: PageRequest[] = [];
  written = 0;
  /** Non-persistent messages discarded by maxNonPersistent so far. */
  discarded = 0;
  /** Selector evaluations that threw so far (Ready.selectorErrors). */
  selectorErrors = 0;
  /** Destinations deleted so far (Ready.forgotten). */
  forgotten: string[] = [];
  now = 1_000_000;
  private nextRequest = 1;

  constructor(readonly opts: CoreOptions = options(), recovered?: Recovered) {
    this.core = new BrokerCore(opts, recovered);
  }

  /**
   * What a store restarted on this disk reads back (RocksJournal.recover): a restart is
   * `new Harness(opts, h.recovered())` over a copy of the disk (restarted()).
   */
  recovered(): Recovered {
    let nextSeq = 1;
    for (const e of this.entries) for (const op of e.ops) if (op.kind === 'enqueue' && op.enqueue.seq >= nextSeq) nextSeq = op.enqueue.seq + 1;
    return {
      position: this.written, nextSeq, dedup: [],
      durables: [...this.durableOps.values()],
      queues: [...this.disk].map(([id, msgs]) => ({ id, stored: msgs.size })),
      retained: [...this.retainedDisk.values()],
    };
  }

  /** A new core on this harness's disk, as after a restart (sessions gone, state recovered). */
  restarted(): Harness {
    const h = new Harness(this.opts, this.recovered());
    h.entries.push(...this.entries); // the journal stays on disk (recovered() reads nextSeq from it)
    for (const [id, msgs] of this.disk) h.disk.set(id, new Map(msgs));
    for (const [k, v] of this.durableOps) h.durableOps.set(k, v);
    for (const [k, v] of this.retainedDisk) h.retainedDisk.set(k, v);
    h.written = this.written;
    h.now = this.now;
    return h;
  }

  request(sid: string, ...reqs: Req[]): number[] {
    const ids: number[] = [];
    const full = reqs.map((r) => {
      const requestId = r.requestId ?? this.nextRequest++;
      ids.push(requestId);
      return { ...r, requestId } as SessionRequest;
    });
    this.core.handle(sid, full, this.now);
    this.pump();
    return ids;
  }

  /** `network`: a bridge's session (Open.network). */
  open(sid: string, clientId = '', network = false): void {
    this.request(sid, { kind: 'open', open: { connectionId: sid, clientId, login: '', gateway: 'gw', network }, requestId: 0 });
  }

  send(sid: string, destination: string, body: string, m: Partial<Message> = {}, transaction = ''): number {
    const message: Message = { id: m.id ?? `${sid}-${this.nextRequest}`, destination, headers: {}, body: Buffer.from(body), persistent: true, priority: 4, expires: 0, timestamp: 0, ...m };
    return this.request(sid, { kind: 'send', send: { message, transaction } })[0]!;
  }

  subscribe(sid: string, subscriptionId: string, destination: string, s: Partial<Subscribe> = {}): number {
    return this.request(sid, { kind: 'subscribe', subscribe: { subscriptionId, destination, ackMode: 'ACK_MODE_CLIENT_INDIVIDUAL', prefetch: 0, selector: '', durableName: '', noLocal: false, ...s } })[0]!;
  }

  ack(sid: string, deliveryTag: number, transaction = ''): number {
    return this.request(sid, { kind: 'ack', ack: { deliveryTag, transaction } })[0]!;
  }

  nack(sid: string, deliveryTag: number, transaction = ''): number {
    return this.request(sid, { kind: 'nack', nack: { deliveryTag, transaction } })[0]!;
  }

  tick(ms: number): void {
    this.now += ms;
    this.core.tick(this.now);
    this.pump();
  }

  end(sid: string): void {
    this.core.sessionEnded(sid, this.now);
    this.pump();
  }

  pump(): void {
    for (let guard = 0; guard < 1000; guard++) {
      const r = this.core.takeReady();
      for (const o of r.outbound) {
        const list = this.events.get(o.sessionId) ?? [];
        list.push(...o.events);
        this.events.set(o.sessionId, list);
        if (o.end) this.ended.add(o.sessionId);
      }
      this.unwritten.push(...r.entries);
      this.loads.push(...r.loads);
      this.discarded += r.discarded;
      this.selectorErrors += r.selectorErrors;
      this.forgotten.push(...r.forgotten);
      let progressed = false;
      if (this.autoWrite && this.unwritten.length) { this.write(false); progressed = true; }
      const ready = this.loads.filter((l) => l.atPosition <= this.written);
      this.loads = this.loads.filter((l) => l.atPosition > this.written);
      for (const l of ready) { this.serve(l); progressed = true; }
      if (!progressed) return;
    }
    throw new Error('pump did not settle');
  }

  /** Writes the waiting entries to the in-memory disk and reports them durable. */
  write(pump = true): void {
    const batch = this.unwritten;
    this.unwritten = [];
    for (const e of batch) {
      this.entries.push(e);
      for (const op of e.ops) this.materialize(op);
      this.written = e.position;
    }
    if (batch.length) this.core.durable(this.written, this.now);
    if (pump) this.pump();
  }

  private materialize(op: JournalEntry['ops'][number]): void {
    const q = (id: string) => { let m = this.disk.get(id); if (!m) { m = new Map(); this.disk.set(id, m); } return m; };
    switch (op.kind) {
      case 'enqueue':
        for (const id of op.enqueue.queues) q(id).set(op.enqueue.seq, { key: orderKey(op.enqueue.message.priority, op.enqueue.seq), seq: op.enqueue.seq, message: op.enqueue.message, failed: 0 });
        return;
      case 'remove': q(op.remove.queue).delete(op.remove.seq); return;
      case 'redeliver': { const m = q(op.redeliver.queue).get(op.redeliver.seq); if (m) m.failed = op.redeliver.count; return; }
      case 'removeDurable': this.disk.delete(op.removeDurable.queue); this.durableOps.delete(op.removeDurable.queue); return;
      case 'purge': { const keep = new Set(op.purge.keep); for (const [seq] of q(op.purge.queue)) if (seq <= op.purge.upToSeq && !keep.has(seq)) q(op.purge.queue).delete(seq); return; }
      case 'durableSub': this.durableOps.set(op.durableSub.queue, op.durableSub); return;
      case 'retain': this.retainedDisk.set(op.retain.message.destination, op.retain.message); return;
      case 'dropRetained': this.retainedDisk.delete(op.dropRetained.topic); return;
      case 'forget': this.disk.delete(op.forget.destination); return;
    }
  }

  private serve(l: PageRequest): void {
    const all = [...(this.disk.get(l.queue)?.values() ?? [])].filter((m) => m.key > l.after).sort((a, b) => (a.key < b.key ? -1 : 1));
    const page = all.slice(0, l.limit);
    this.core.pageLoaded(l.queue, l.gen, page.map((m) => ({ message: m.message, seq: m.seq, failed: m.failed })), page.length === l.limit, this.now);
  }

  /** Events of a session since the last take. */
  take(sid: string): SessionEvent[] {
    const list = this.events.get(sid) ?? [];
    this.events.set(sid, []);
    return list;
  }

  deliveries(sid: string): Delivery[] {
    return this.take(sid).flatMap((e) => (e.kind === 'delivery' ? [e.delivery] : []));
  }

  bodies(sid: string): string[] {
    return this.deliveries(sid).map((d) => d.message.body.toString());
  }

  receipts(sid: string): number[] {
    return (this.events.get(sid) ?? []).flatMap((e) => (e.kind === 'receipt' ? [e.receipt.requestId] : []));
  }

  errors(sid: string): ErrorEvent[] {
    return (this.events.get(sid) ?? []).flatMap((e) => (e.kind === 'error' ? [e.error] : []));
  }

  depth(name: string): number {
    return this.core.destinations(name).find((d) => d.name === name)?.depth ?? 0;
  }
}
