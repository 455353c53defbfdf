// What each journal op does to the broker core's state: the same code whether the core made
// the op this step (BrokerCore.emit) or replays an entry made elsewhere (a replica, a restart,
// a test proving determinism), so an op's effect depends only on the op and the prior state.
import { orderKey, type DurableSubOp, type EnqueueOp, type JournalOp, type PurgeOp } from './journal';
import { StorageQueue, volatileSize } from './queue';
import { dedupKey, type DedupWindow } from './dedup';
import type { VirtualTopics } from './destination-kinds';
import { MATCH_NOTHING, type DurableState, type Subscription } from './model';
import type { Registry } from './registry';
import type { RetainedMessages } from './retained';
import type { SelectorLike } from './types';
import type { Usage } from './usage';

/** The core's state as its journal ops change it. */
export interface ApplyHost {
  readonly reg: Registry;
  readonly usage: Usage;
  readonly dedup: DedupWindow;
  readonly retained: RetainedMessages;
  readonly virtual: VirtualTopics;
  /** Queues to dispatch at the step's end, queues holding messages that expire, queues waiting for an entry to be durable. */
  readonly dirty: Set<StorageQueue<Subscription>>;
  readonly expiring: Set<StorageQueue<Subscription>>;
  readonly waitingDurable: Set<StorageQueue<Subscription>>;
  /** CoreOptions.pageSize. */
  readonly pageSize: number;
  /** Seq `seq` is taken: the core's next one is above it. */
  seqUsed(seq: number): void;
  /** A stored selector compiled as the core runs it (guarded); throws if it does not compile. */
  compile(selector: string): SelectorLike;
  /** A destination was deleted (Ready.forgotten). */
  forgotten(name: string): void;
}

export class JournalApply {
  constructor(private readonly core: ApplyHost) {}

  /**
   * Applies one op to the state. Used by the master as it makes entries and, unchanged, by
   * replay (replicas, tests): an op's effect depends only on the op and the prior state.
   */
  apply(op: JournalOp, position: number): void {
    switch (op.kind) {
      case 'enqueue': return this.applyEnqueue(op.enqueue, position);
      case 'remove': {
        const r = op.remove;
        this.core.usage.addStored(r.queue, -(r.bytes ?? 0));
        const q = this.core.reg.stores.get(r.queue);
        if (!q) return;
        const key = orderKey(r.priority, r.seq);
        q.forget({ seq: r.seq, key, stored: true });
        if (q.kind === 'queue' && r.reason !== 'dlq' && r.reason !== 'expired') this.core.reg.statsOf(q.name, true)!.dequeued++;
        this.core.dirty.add(q);
        return;
      }
      case 'redeliver': {
        const r = op.redeliver;
        const m = this.core.reg.stores.get(r.queue)?.win.get(orderKey(r.priority, r.seq), r.seq);
        if (m) m.failed = r.count;
        return;
      }
      case 'durableSub': return this.applyDurableSub(op.durableSub);
      case 'removeDurable': {
        const r = op.removeDurable;
        const key = `${r.clientId}\u0000${r.name}`;
        const d = this.core.reg.durables.get(key);
        this.core.usage.dropStored(r.queue);
        if (!d || d.op.queue !== r.queue) return;
        d.queue.volatileBytes = 0; // its non-persistent messages go with it (memory usage)
        this.core.reg.durables.delete(key);
        this.core.reg.topics.get(d.op.topic)?.durables.delete(key);
        this.core.reg.pruneTopic(d.op.topic);
        this.core.reg.stores.delete(r.queue);
        // Its backlog goes, and no dispatch set keeps the queue: one that held a message with an
        // expiry stayed in `expiring` with every message it held in memory until the last of
        // them expired (never, for a far expiry) — and was dead-lettered then (the fuzz: 52
        // deleted or replaced subscriptions, ~14 MB of bodies, after 6 rounds).
        d.queue.dropAll();
        d.queue.volatile = 0;
        this.core.dirty.delete(d.queue);
        this.core.expiring.delete(d.queue);
        this.core.waitingDurable.delete(d.queue);
        return;
      }
      case 'purge': return this.applyPurge(op.purge);
      case 'retain': this.core.retained.set(op.retain.message); return;
      case 'dropRetained': this.core.retained.drop(op.dropRetained.topic); return;
      case 'forget': return this.applyForget(op.forget.destination);
    }
  }

  /**
   * A deleted destination (deleteDestination): its storage queue (a queue's; a durable
   * subscription's went with removeDurable), name and stats go. Its messages went before it.
   */
  private applyForget(name: string): void {
    const q = this.core.reg.stores.get(name);
    if (q && q.kind === 'queue') {
      q.dropAll();
      q.volatile = 0;
      q.volatileBytes = 0; // memory usage
      this.core.reg.forgottenGen = Math.max(this.core.reg.forgottenGen, q.gen);
      this.core.reg.stores.delete(q.id);
      this.core.dirty.delete(q);
      this.core.expiring.delete(q);
      this.core.waitingDurable.delete(q);
      this.core.virtual.forgetQueue(q);
      this.core.usage.dropStored(q.id);
    }
    this.core.reg.pruneTopic(name);
    this.core.reg.names.delete(name);
    this.core.reg.stats.delete(name);
    this.core.forgotten(name);
  }

  private applyEnqueue(e: EnqueueOp, position: number): void {
    this.core.seqUsed(e.seq);
    if (e.dedup) this.core.dedup.add(dedupKey(e.dedupScope ?? '', e.message.destination, e.message.id), e.dedupScope ?? '');
    const bytes = e.queues.length ? volatileSize(e.message) : 0;
    for (const id of e.queues) {
      this.core.usage.addStored(id, bytes);
      const q = this.core.reg.stores.get(id) ?? this.core.reg.storeFor(id);
      if (!q) continue;
      q.stored++;
      q.enqueued++;
      if (q.kind === 'queue') this.core.reg.statsOf(q.name, true)!.enqueued++;
      q.add(StorageQueue.make(e.message, id, e.seq, true, position));
      if (q.hasExpiring) this.core.expiring.add(q);
      this.core.dirty.add(q);
    }
  }

  applyDurableSub(op: DurableSubOp): void {
    const key = `${op.clientId}\u0000${op.name}`;
    const queue = new StorageQueue<Subscription>(op.queue, `durable:${op.clientId}:${op.name}`, 'durable', this.core.pageSize, this.core.usage);
    let selector: SelectorLike | null = null;
    let broken: string | null = null;
    if (op.selector) {
      // Compiled when it was made, so this fails only for a selector an older version accepted
      // or one over a since-lowered limit: it then matches nothing (never everything) and is
      // listed by brokenDurables() until re-subscribed with a selector that compiles.
      try { selector = this.core.compile(op.selector); } catch (e) { selector = MATCH_NOTHING; broken = (e as Error).message; }
    }
    const d: DurableState = { op, queue, selector, active: null, broken };
    this.core.reg.durables.set(key, d);
    this.core.reg.stores.set(op.queue, queue);
    this.core.reg.names.add(queue.name);
    this.core.reg.topicOf(op.topic).durables.set(key, d);
    if (op.queue.startsWith('durable:')) {
      const n = Number.parseInt(op.queue.slice(op.queue.lastIndexOf('#') + 1), 10);
      if (Number.isFinite(n)) this.core.seqUsed(n);
    }
  }

  private applyPurge(p: PurgeOp): void {
    this.core.usage.setStored(p.queue, p.keepBytes ?? 0);
    const q = this.core.reg.stores.get(p.queue);
    if (!q) return;
    const keep = new Set(p.keep);
    const removed = q.stored - p.keep.length;
    q.win.clear((m) => !m.stored || m.seq > p.upToSeq || keep.has(m.seq));
    if (q.loading) q.loading = null;
    q.gen++;
    q.stored -= removed;
    q.dequeued += removed;
    q.boundary = null;
  }
}
