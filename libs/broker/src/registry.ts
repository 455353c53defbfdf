// The destinations the broker core holds: storage queues (a queue's, a durable subscription's
// backlog), topics and their wildcard patterns, durable subscriptions, every name seen since
// start (broker.maxDestinations) and each destination's stats for this step. A destination is
// made on first use (a SEND, a SUBSCRIBE, a replayed op) and goes with a forget op or its temp
// connection. core.ts keeps it; its journal ops change it.
import { queueStoreId } from './journal';
import { StorageQueue } from './queue';
import { isTemp, parseDestination } from './destinations';
import type { TempDestinations, VirtualTopics } from './destination-kinds';
import type { DurableState, Subscription, Topic } from './model';
import { isPattern, PatternTrie } from './topic-match';
import type { Usage } from './usage';

export interface DestinationStats { destination: string; enqueued: number; dequeued: number; acked: number; expired: number; deadLettered: number }

export class Registry {
  readonly stores = new Map<string, StorageQueue<Subscription>>();
  readonly topics = new Map<string, Topic>();
  /** The wildcard ones among `topics`, by pattern path: a publication finds them in one trie walk. */
  readonly patterns = new PatternTrie<Topic>();
  readonly durables = new Map<string, DurableState>();
  /** Every destination name seen since start (opts.maxDestinations). */
  readonly names = new Set<string>();
  readonly stats = new Map<string, DestinationStats>();
  /**
   * Page reads still out for a forgotten queue answer with a gen up to this: a queue made anew
   * starts above it. One number for every forgotten queue, not one per name: a map by name kept
   * every deleted name for good (the fuzz deletes ~200 names a round).
   */
  forgottenGen = 0;

  constructor(
    private readonly usage: Usage,
    /** CoreOptions.pageSize: a queue's messages read from disk at a time. */
    private readonly pageSize: number,
    private readonly temps: TempDestinations,
    private readonly virtual: VirtualTopics,
  ) {}

  storeFor(id: string): StorageQueue<Subscription> | undefined {
    const d = parseDestination(id);
    if (d?.type === 'queue') return this.queueOf(id);
    return undefined;
  }

  queueOf(destination: string): StorageQueue<Subscription> {
    let q = this.stores.get(destination);
    if (!q) {
      q = new StorageQueue<Subscription>(queueStoreId(destination), destination, 'queue', this.pageSize, this.usage);
      q.gen = this.forgottenGen;
      this.stores.set(q.id, q);
      this.names.add(destination);
      this.noteQueue(q);
    }
    return q;
  }

  /** A topic is listed while it has subscribers (live or durable); then it is forgotten. */
  pruneTopic(name: string): void {
    const t = this.topics.get(name);
    if (t && t.subs.size === 0 && t.durables.size === 0) {
      this.topics.delete(name);
      if (t.pattern) this.patterns.delete(name.slice('/topic/'.length));
    }
  }

  /**
   * A temp destination whose connection is gone: its queue (if any) is emptied and dropped
   * (returned, for the caller's dispatch sets), its topic and its name go.
   */
  dropTemp(name: string): StorageQueue<Subscription> | undefined {
    const q = this.stores.get(name);
    if (q) {
      q.dropAll();
      q.volatile = 0;
      q.volatileBytes = 0; // memory usage
      this.stores.delete(name);
    }
    const t = this.topics.get(name);
    if (t && t.subs.size === 0) this.topics.delete(name);
    this.names.delete(name);
    return q;
  }

  topicOf(name: string): Topic {
    let t = this.topics.get(name);
    if (!t) {
      const path = name.startsWith('/topic/') ? name.slice('/topic/'.length) : '';
      t = { name, subs: new Set(), durables: new Map(), enqueued: 0, pattern: isPattern(path) };
      this.topics.set(name, t);
      if (isTemp(name)) this.temps.noteTemp(name);
      if (t.pattern) this.patterns.set(path, t);
      this.names.add(name);
    }
    return t;
  }

  statsOf(destination: string, create: boolean): DestinationStats | undefined {
    let st = this.stats.get(destination);
    if (!st && create) {
      st = { destination, enqueued: 0, dequeued: 0, acked: 0, expired: 0, deadLettered: 0 };
      // Temp destinations are not reported: a name per connection would be a metric series each.
      if (!isTemp(destination)) this.stats.set(destination, st);
    }
    return st;
  }

  private noteQueue(q: StorageQueue<Subscription>): void {
    if (isTemp(q.name)) this.temps.noteTemp(q.name);
    this.virtual.noteQueue(q);
  }
}
