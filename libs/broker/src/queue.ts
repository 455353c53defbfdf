// A storage queue: the messages of one /queue/ destination, of one durable topic
// subscription, or (memory only) of one non-durable topic subscription.
//
// Paging (ActiveMQ's store cursor): only a window of a queue's persistent messages is in the
// heap. `boundary` is an order key such that every persistent message with a key <= boundary
// is in the window (or in flight); those above it are on disk only and are paged in with a
// PageRequest as the window drains. `boundary === null` means the window holds them all.
import { orderKey } from './journal';
import type { Message } from './types';
import { SeqMap } from './seq-map';

export interface StoredMessage {
  /** Storage queue id. */
  queue: string;
  seq: number;
  /** orderKey(priority, seq). */
  key: string;
  message: Message;
  /** Failed deliveries so far (NACK, session end); journaled for stored messages. */
  failed: number;
  /** On disk (journaled); false for non-persistent messages and non-durable topic copies. */
  stored: boolean;
  /** Journal position of its enqueue; it is dispatched once that position is durable. */
  position: number;
}

/** Messages in dispatch order: 10 priority buckets (9 first), FIFO by seq in each. */
export class PriorityWindow {
  private readonly buckets: Array<{ items: Array<StoredMessage | undefined>; head: number }> = [];
  size = 0;
  storedCount = 0;

  constructor() {
    for (let i = 0; i < 10; i++) this.buckets.push({ items: [], head: 0 });
  }

  private bucketOf(m: StoredMessage) {
    return this.buckets[m.key.charCodeAt(0) - 48]!;
  }

  insert(m: StoredMessage): void {
    const b = this.bucketOf(m);
    const items = b.items;
    const last = items.length > b.head ? items[items.length - 1]! : undefined;
    if (!last || last.seq < m.seq) items.push(m);
    else {
      // A returned (redelivered) message goes back to its place (ActiveMQ keeps order).
      let lo = b.head;
      let hi = items.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (items[mid]!.seq < m.seq) lo = mid + 1;
        else hi = mid;
      }
      if (items[lo]?.seq === m.seq) return;
      items.splice(lo, 0, m);
    }
    this.size++;
    if (m.stored) this.storedCount++;
  }

  private indexOf(m: { key: string; seq: number }): number {
    const b = this.buckets[m.key.charCodeAt(0) - 48]!;
    let lo = b.head;
    let hi = b.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (b.items[mid]!.seq < m.seq) lo = mid + 1;
      else hi = mid;
    }
    return b.items[lo]?.seq === m.seq ? lo : -1;
  }

  get(key: string, seq: number): StoredMessage | undefined {
    const i = this.indexOf({ key, seq });
    return i < 0 ? undefined : this.buckets[key.charCodeAt(0) - 48]!.items[i];
  }

  remove(key: string, seq: number): StoredMessage | undefined {
    const i = this.indexOf({ key, seq });
    if (i < 0) return undefined;
    return this.removeAt(this.buckets[key.charCodeAt(0) - 48]!, i);
  }

  private removeAt(b: { items: Array<StoredMessage | undefined>; head: number }, i: number): StoredMessage {
    const m = b.items[i]!;
    if (i === b.head) {
      b.items[i] = undefined;
      b.head++;
      if (b.head > 1024 && b.head * 2 > b.items.length) {
        b.items = b.items.slice(b.head);
        b.head = 0;
      }
    } else b.items.splice(i, 1);
    if (b.head === b.items.length) { b.items = []; b.head = 0; }
    this.size--;
    if (m.stored) this.storedCount--;
    return m;
  }

  /**
   * Visits messages in dispatch order. The visitor answers 'take' (remove it), 'skip', or
   * 'stop'. Removal while visiting is safe.
   */
  scan(visit: (m: StoredMessage) => 'take' | 'skip' | 'stop'): void {
    for (const b of this.buckets) {
      let i = b.head;
      while (i < b.items.length) {
        const m = b.items[i]!;
        const r = visit(m);
        if (r === 'stop') return;
        if (r === 'take') {
          const before = b.head;
          this.removeAt(b, i);
          // removeAt may have compacted or advanced head; recompute the cursor.
          if (b.items.length === 0) break;
          if (i === before) i = b.head;
        } else i++;
      }
    }
  }

  /** Removes stored messages from the tail (lowest priority, newest) while `more()`. */
  evictTail(more: () => boolean): StoredMessage[] {
    const out: StoredMessage[] = [];
    for (let p = 9; p >= 0 && more(); p--) {
      const b = this.buckets[p]!;
      for (let i = b.items.length - 1; i >= b.head && more(); i--) {
        const m = b.items[i]!;
        if (!m.stored) continue;
        this.removeAt(b, i);
        out.push(m);
      }
    }
    return out;
  }

  /** Largest order key of a stored message in the window, or '' when there is none. */
  lastStoredKey(): string {
    for (let p = 9; p >= 0; p--) {
      const b = this.buckets[p]!;
      for (let i = b.items.length - 1; i >= b.head; i--) if (b.items[i]!.stored) return b.items[i]!.key;
    }
    return '';
  }

  clear(keep?: (m: StoredMessage) => boolean): StoredMessage[] {
    const removed: StoredMessage[] = [];
    this.scan((m) => {
      if (keep?.(m)) return 'skip';
      removed.push(m);
      return 'take';
    });
    return removed;
  }
}

export interface Loading {
  gen: number;
  /** Stored messages that arrived above the boundary while the page was being read. */
  pending: Map<number, StoredMessage>;
  /** Seqs removed while the page was being read (the read may still see them). */
  removed: Set<number>;
}

export type QueueKind = 'queue' | 'durable' | 'subscription';

export interface Consumer {
  /** Can take one more delivery (prefetch room). */
  hasRoom(): boolean;
  accepts(m: StoredMessage): boolean;
}

/** What a non-persistent message costs in memory, roughly: its body and its headers. */
export function volatileSize(m: Message): number {
  let n = m.body.length + m.id.length + m.destination.length;
  for (const k in m.headers) n += k.length + (m.headers[k]?.length ?? 0);
  return n;
}

export class StorageQueue<C extends Consumer = Consumer> {
  readonly win = new PriorityWindow();
  boundary: string | null = null;
  loading: Loading | null = null;
  gen = 0;
  /** Persistent messages on disk, including those in flight. */
  stored = 0;
  /** Non-persistent messages in memory, including those in flight. */
  volatile = 0;
  /** Their size (bodies and headers, volatileSize), for maxNonPersistentBytes; the meter sums it over queues (broker.memoryLimit). */
  get volatileBytes(): number { return this.vBytes; }
  set volatileBytes(n: number) {
    if (this.meter) this.meter.volatileBytes += n - this.vBytes;
    this.vBytes = n;
  }
  private vBytes = 0;
  readonly inflight = new SeqMap<StoredMessage>();
  /** Sorted by consumer priority, highest first (the core keeps it so). */
  consumers: C[] = [];
  /** Round-robin cursor per consumer priority band (an offset within the band). */
  readonly rr = new Map<number, number>();
  enqueued = 0;
  dequeued = 0;
  hasExpiring = false;
  /** Non-persistent messages by arrival (maxNonPersistent drops from the front); may hold stale entries. */
  private volatileOrder: Array<{ key: string; seq: number }> = [];
  private volatileHead = 0;

  constructor(
    readonly id: string,
    readonly name: string,
    readonly kind: QueueKind,
    private readonly pageSize: number,
    private readonly meter: { volatileBytes: number } | null = null,
  ) {}

  /** Records a non-persistent message waiting again (new, or taken back after a failed delivery). */
  noteVolatile(m: StoredMessage): void {
    this.volatileOrder.push({ key: m.key, seq: m.seq });
    // Entries of messages since delivered are dropped now and then: O(1) amortized.
    if (this.volatileOrder.length - this.volatileHead > 2 * this.volatile + 1024) {
      this.volatileOrder = this.volatileOrder.slice(this.volatileHead).filter((e) => this.win.get(e.key, e.seq) !== undefined);
      this.volatileHead = 0;
    }
  }

  /** The oldest non-persistent message still waiting (not in flight), taken off the order. */
  oldestWaitingVolatile(): StoredMessage | undefined {
    while (this.volatileHead < this.volatileOrder.length) {
      const e = this.volatileOrder[this.volatileHead++]!;
      const m = this.win.get(e.key, e.seq);
      // In flight or gone: a message taken back after a failed delivery is noted again.
      if (m && !m.stored) return m;
    }
    this.volatileOrder = [];
    this.volatileHead = 0;
    return undefined;
  }

  /** A message enters the queue (new, or loaded): window, pending list, or disk only. */
  add(m: StoredMessage): void {
    if (m.message.expires > 0) this.hasExpiring = true;
    if (!m.stored) { this.win.insert(m); return; }
    if (this.boundary === null || m.key <= this.boundary) {
      this.win.insert(m);
      this.trim();
    } else if (this.loading) this.loading.pending.set(m.seq, m);
    // else: on disk only, paged in later.
  }

  /** Keeps the window bounded: beyond pageSize, newer stored messages stay on disk. */
  private trim(): void {
    if (this.win.storedCount <= this.pageSize) return;
    if (this.boundary === null) {
      this.boundary = this.win.lastStoredKey();
      return;
    }
    // Higher-priority arrivals pushed the window past twice the page: evict the tail.
    if (this.loading || this.win.storedCount <= 2 * this.pageSize) return;
    this.win.evictTail(() => this.win.storedCount > this.pageSize);
    this.boundary = this.win.lastStoredKey();
  }

  /** A delivery came back (NACK, consumer gone): back to its place, or to disk only. */
  takeBack(m: StoredMessage): void {
    this.inflight.delete(m.seq);
    if (m.stored && this.boundary !== null && m.key > this.boundary) {
      if (this.loading) this.loading.pending.set(m.seq, m);
      return;
    }
    this.add(m);
  }

  /** Forgets a message that left the queue (ack, expiry, DLQ, purge). */
  forget(m: { seq: number; key: string; stored: boolean; message?: Message }): void {
    this.inflight.delete(m.seq);
    this.win.remove(m.key, m.seq);
    if (this.loading) {
      this.loading.pending.delete(m.seq);
      this.loading.removed.add(m.seq);
    }
    if (m.stored) this.stored--;
    else {
      this.volatile--;
      if (m.message) this.volatileBytes -= volatileSize(m.message);
    }
    this.dequeued++;
  }

  needsPage(): boolean {
    return this.boundary !== null && !this.loading && this.win.storedCount < Math.max(1, this.pageSize >> 1);
  }

  startLoading(): Loading {
    this.gen++;
    this.loading = { gen: this.gen, pending: new Map(), removed: new Set() };
    return this.loading;
  }

  /** Merges a page read from disk (keys > boundary, in order); `full`: more may follow. */
  pageLoaded(gen: number, page: StoredMessage[], full: boolean): void {
    const l = this.loading;
    if (!l || l.gen !== gen) return; // superseded (purge) or stale
    this.loading = null;
    const next = full && page.length > 0 ? page[page.length - 1]!.key : null;
    const merged = new Map<number, StoredMessage>();
    for (const m of page) if (!l.removed.has(m.seq) && !this.inflight.has(m.seq)) merged.set(m.seq, m);
    for (const m of l.pending.values()) merged.set(m.seq, m); // memory is newer than the page
    this.boundary = next;
    for (const m of merged.values()) {
      if (next === null || m.key <= next) {
        if (m.message.expires > 0) this.hasExpiring = true;
        this.win.insert(m);
      }
    }
  }

  /** Drops everything not in flight from memory (purge). */
  dropAll(): StoredMessage[] {
    if (this.loading) this.loading = null;
    this.gen++;
    const removed = this.win.clear();
    this.boundary = null;
    return removed;
  }

  static make(m: Message, queue: string, seq: number, stored: boolean, position: number, failed = 0): StoredMessage {
    return { queue, seq, key: orderKey(m.priority, seq), message: m, failed, stored, position };
  }
}
