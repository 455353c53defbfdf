// The store's disk: journal entries plus the materialized indexes, in RocksDB, written in
// ONE batch per group commit so the indexes never disagree with the journal.
//
// Key layout (all keys are strings; \0 separates parts; numbers are zero-padded hex):
//   j\0<position:16>                 journal entry (hawser.journal.v1.Entry); the last
//                                    `journal.retention` positions are kept (replica catch-up)
//   m\0<queue>\0<orderKey:17>        message record (StoredMessage); orderKey = (9-priority)
//                                    then seq, so a range scan is dispatch order
//   c\0<queue>\0<orderKey:17>        failed-delivery count of that message (decimal), if > 0
//   q\0<queue>                       stored message count of a storage queue (decimal); q\0 and b\0 go
//                                    with the queue (a forget op: Admin.Delete)
//   b\0<queue>                       their bytes (messageBytes, decimal): the store usage (broker.storeLimit)
//   s\0<queue>                       durable subscription (JSON of the DurableSub op)
//   r\0<topic>                       the topic's retained message (StoredMessage), read back at start
//   y\0<n:16>                        dedup window: the keys (dedupKey(scope, destination, id)) one batch recorded, the
//                                    last of them the n-th, as a JSON array: one key per batch, not per message (trimmed
//                                    in chunks of DEDUP_TRIM below n - dedupWindow, off the batch)
//   x\0<n:16>                        the same before y\0 (one record per key: the n-th): read at start, trimmed, no
//                                    longer written
//   meta\0position|seq|dedupSeq|epoch  materialized state: position (and its epoch) the indexes reflect
//   meta\0promised|incarnation|snapshot|installing|members|diverged   replicated mode, node-local (never in a snapshot)
//   meta\0identity                   whose directory this is (identity.ts), node-local
import type { DurableSubOp, JournalEntry, PagedMessage, Recovered, Message } from '@hawser/broker';
import { dedupKey, messageBytes, orderKey } from '@hawser/broker';
import { decodeEntry, decodeMessage, encodeEntry, encodeMessage } from './codec';
import { Rocks, type BatchOp, type RocksMemory } from './rocks';

const hex = (n: number) => n.toString(16).padStart(16, '0');
export const keys = {
  entry: (pos: number) => `j\u0000${hex(pos)}`,
  message: (queue: string, okey: string) => `m\u0000${queue}\u0000${okey}`,
  messages: (queue: string) => ({ gte: `m\u0000${queue}\u0000`, lt: `m\u0000${queue}\u0001` }),
  count: (queue: string, okey: string) => `c\u0000${queue}\u0000${okey}`,
  counts: (queue: string) => ({ gte: `c\u0000${queue}\u0000`, lt: `c\u0000${queue}\u0001` }),
  queue: (queue: string) => `q\u0000${queue}`,
  bytes: (queue: string) => `b\u0000${queue}`,
  durable: (queue: string) => `s\u0000${queue}`,
  retained: (topic: string) => `r\u0000${topic}`,
  dedup: (n: number) => `x\u0000${hex(n)}`,
  dedupBatch: (lastN: number) => `y\u0000${hex(lastN)}`,
  meta: (name: string) => `meta\u0000${name}`,
};
const prefix = (p: string) => ({ gte: `${p}\u0000`, lt: `${p}\u0001` });
/** Dedup records beyond the window are deleted this many at a time, by one range delete. */
const DEDUP_TRIM = 4096;

export interface JournalOptions {
  dedupWindow: number;
  retention: number;
  /** RocksDB's memtable and block cache sizes (default DEFAULT_ROCKS_MEMORY). */
  memory?: RocksMemory;
}

export interface WriteResult { entries: number; bytes: number; position: number }

/** What replicated mode reads back at start besides the indexes (libs/replication RestoredState). */
export interface ReplicationDisk {
  promisedEpoch: number;
  /** Raised (and saved) at every start. */
  incarnation: number;
  snapshotPosition: number;
  snapshotEpoch: number;
  /** Journal entries after the snapshot, contiguous; data = the stored bytes. */
  entries: Array<{ epoch: number; position: number; data: Buffer; entry: JournalEntry }>;
  /** Position (and epoch) the materialized indexes reflect. */
  applied: number;
  appliedEpoch: number;
  /** Member ids of the group seen so far (meta members). */
  members: string[];
  /** Set (why, when) once this log was found to diverge below its commit point (meta diverged). */
  diverged?: string;
}

/** Keys that belong to this node only: never shipped in a snapshot, kept by an install. */
const LOCAL_META = new Set(['promised', 'incarnation', 'snapshot', 'installing', 'members', 'diverged', 'identity'].map((n) => `meta\u0000${n}`));
const isShipped = (k: string) => !k.startsWith('j\u0000') && !LOCAL_META.has(k);

/** Hands a snapshot's keys to `put` in chunks, awaiting each (journal.install). */
export type SnapshotSource = (put: (chunk: Array<{ key: Buffer; value: Buffer }>) => Promise<void>) => Promise<void>;

export class RocksJournal {
  private readonly counts = new Map<string, number>();
  /** Stored bytes per storage queue (b\0 records). */
  private readonly bytes = new Map<string, number>();
  /** Failed-delivery count keys (c\0...) present: an ack deletes one only if it exists. */
  private readonly counted = new Set<string>();
  private dedupSeq = 0;
  /** Dedup records below this n are deleted (or being deleted by `trimming`). */
  private dedupFloor = 1;
  private trimming: Promise<void> | null = null;
  private nextSeq = 1;
  /** Highest position written to RocksDB. */
  written = 0;
  epoch = 1;

  private constructor(readonly db: Rocks, private readonly opts: JournalOptions) {}

  static async open(dir: string, opts: JournalOptions): Promise<RocksJournal> {
    return new RocksJournal(await Rocks.open(dir, opts.memory), opts);
  }

  async close(): Promise<void> {
    await this.trimming;
    await this.db.close();
  }

  /** Reads the materialized indexes back (not the journal, and not the messages). */
  async recover(): Promise<Recovered> {
    this.counts.clear();
    const num = async (name: string) => Number((await this.db.get(keys.meta(name)))?.toString() ?? '0');
    this.written = await num('position');
    this.nextSeq = Math.max(1, await num('seq'));
    this.dedupSeq = await num('dedupSeq');
    this.epoch = Math.max(1, await num('epoch'));
    const dedup: string[] = [];
    // Records of an older store (x\0, one key each) come before any batch record (y\0): their n are lower.
    await this.db.range(prefix('x'), (_k, v) => { dedup.push(v.toString()); });
    await this.db.range(prefix('y'), (_k, v) => { for (const key of JSON.parse(v.toString()) as string[]) dedup.push(key); });
    this.dedupFloor = 1; // the first trim also removes any a crash left behind
    this.counted.clear();
    await this.db.range({ ...prefix('c'), values: false }, (k) => { this.counted.add(k); });
    const durables: DurableSubOp[] = [];
    await this.db.range(prefix('s'), (_k, v) => { durables.push(JSON.parse(v.toString()) as DurableSubOp); });
    const retained: Message[] = [];
    await this.db.range(prefix('r'), (_k, v) => { retained.push(decodeMessage(v)); });
    const queues: Recovered['queues'] = [];
    this.bytes.clear();
    await this.db.range(prefix('b'), (k, v) => { this.bytes.set(k.slice(2), Number(v.toString())); });
    await this.db.range(prefix('q'), (k, v) => {
      const id = k.slice(2);
      const stored = Number(v.toString());
      this.counts.set(id, stored);
      queues.push({ id, stored, bytes: this.bytes.get(id) ?? 0 });
    });
    return { position: this.written, nextSeq: this.nextSeq, dedup, durables, queues, retained };
  }

  /** Writes entries and their index updates in one RocksDB batch (standalone). */
  async write(entries: JournalEntry[], sync: boolean): Promise<WriteResult> {
    const ops: BatchOp[] = [];
    let bytes = 0;
    for (const e of entries) {
      const enc = encodeEntry(e);
      bytes += enc.length;
      ops.push({ type: 'put', key: keys.entry(e.position), value: enc });
      const old = e.position - this.opts.retention;
      if (old >= 1) ops.push({ type: 'del', key: keys.entry(old) });
    }
    const after = await this.materialize(entries, ops);
    const last = entries[entries.length - 1]!;
    await this.commitOps(ops, sync, after);
    this.written = last.position;
    return { entries: entries.length, bytes, position: last.position };
  }

  /**
   * Appends the index updates of `entries` (applied in order) to `ops`, ending with the meta
   * counters for the last one, and updates the in-memory counters. Returns storage queues whose
   * records must be deleted once the batch is written (removed durable subscriptions).
   * Nothing is written here: the caller writes `ops` as ONE batch (commitOps).
   */
  async materialize(entries: JournalEntry[], ops: BatchOp[]): Promise<string[]> {
    const touched = new Set<string>();
    const after: string[] = [];
    // A message removed in the same batch that stores it never reaches RocksDB: its put is
    // dropped and no delete is written (the journal entry holds it until then). Where
    // entries are applied in windows (replicas), this is most messages.
    const putAt = new Map<string, number>();
    const dropped = new Set<number>();
    const dedupKeys: string[] = [];
    for (const e of entries) {
      for (const op of e.ops) {
        switch (op.kind) {
          case 'enqueue': {
            const { message, queues, seq, dedup, dedupScope } = op.enqueue;
            const value = encodeMessage(message);
            const okey = orderKey(message.priority, seq);
            const size = queues.length ? messageBytes(message) : 0;
            for (const q of queues) {
              const key = keys.message(q, okey);
              putAt.set(key, ops.length);
              ops.push({ type: 'put', key, value });
              this.counts.set(q, (this.counts.get(q) ?? 0) + 1);
              this.bytes.set(q, (this.bytes.get(q) ?? 0) + size);
              touched.add(q);
            }
            if (dedup) {
              this.dedupSeq++;
              dedupKeys.push(dedupKey(dedupScope ?? '', message.destination, message.id));
            }
            if (seq >= this.nextSeq) this.nextSeq = seq + 1;
            break;
          }
          case 'remove': {
            const r = op.remove;
            const okey = orderKey(r.priority, r.seq);
            const key = keys.message(r.queue, okey);
            const at = putAt.get(key);
            if (at !== undefined) { dropped.add(at); putAt.delete(key); } else ops.push({ type: 'del', key });
            const ck = keys.count(r.queue, okey);
            if (this.counted.delete(ck)) ops.push({ type: 'del', key: ck });
            if (this.counts.has(r.queue)) {
              this.counts.set(r.queue, Math.max(0, this.counts.get(r.queue)! - 1));
              this.bytes.set(r.queue, Math.max(0, (this.bytes.get(r.queue) ?? 0) - (r.bytes ?? 0)));
              touched.add(r.queue);
            }
            break;
          }
          case 'redeliver': {
            const r = op.redeliver;
            const ck = keys.count(r.queue, orderKey(r.priority, r.seq));
            this.counted.add(ck);
            ops.push({ type: 'put', key: ck, value: String(r.count) });
            break;
          }
          case 'durableSub': {
            const d = op.durableSub;
            ops.push({ type: 'put', key: keys.durable(d.queue), value: JSON.stringify(d) });
            if (!this.counts.has(d.queue)) { this.counts.set(d.queue, 0); touched.add(d.queue); }
            const n = Number.parseInt(d.queue.slice(d.queue.lastIndexOf('#') + 1), 10);
            if (Number.isFinite(n) && n >= this.nextSeq) this.nextSeq = n + 1;
            break;
          }
          case 'removeDurable': {
            const q = op.removeDurable.queue;
            ops.push({ type: 'del', key: keys.durable(q) }, { type: 'del', key: keys.queue(q) }, { type: 'del', key: keys.bytes(q) });
            this.counts.delete(q);
            this.bytes.delete(q);
            touched.delete(q);
            after.push(q); // its backlog records are deleted after the batch (the id is never reused)
            break;
          }
          case 'retain': {
            // A later retain or drop of the same topic in this batch overwrites or deletes it:
            // RocksDB applies a batch's ops in order.
            const m = op.retain.message;
            ops.push({ type: 'put', key: keys.retained(m.destination), value: encodeMessage(m) });
            break;
          }
          case 'dropRetained':
            ops.push({ type: 'del', key: keys.retained(op.dropRetained.topic) });
            break;
          case 'forget': {
            // A deleted destination: its messages went with the purge (or removeDurable) before
            // this op; a queue's q\0 / b\0 records go now, so a restart does not recover it. A
            // later enqueue in this batch makes them anew (counted from 0). Topics and durable
            // names hold no records of their own: deleting absent keys is harmless.
            const q = op.forget.destination;
            ops.push({ type: 'del', key: keys.queue(q) }, { type: 'del', key: keys.bytes(q) });
            this.counts.delete(q);
            this.bytes.delete(q);
            touched.delete(q);
            break;
          }
          case 'purge': {
            // Admin purge is rare: the queue's records are what is on disk plus what this batch
            // put before it, minus what it deleted (the batch stays atomic, so a snapshot or a
            // crash never sees half of it).
            const p = op.purge;
            const keep = new Set(p.keep);
            const pfx = `m\u0000${p.queue}\u0000`;
            const present = new Set<string>();
            await this.db.range({ ...keys.messages(p.queue), values: false }, (k) => { present.add(k); });
            for (let i = 0; i < ops.length; i++) {
              const o = ops[i]!;
              if (dropped.has(i) || typeof o.key !== 'string' || !o.key.startsWith(pfx)) continue;
              if (o.type === 'put') present.add(o.key);
              else present.delete(o.key);
            }
            let n = 0;
            for (const k of present) {
              const seq = Number.parseInt(k.slice(k.length - 16), 16);
              if (seq <= p.upToSeq && !keep.has(seq)) {
                const ck = `c${k.slice(1)}`;
                ops.push({ type: 'del', key: k });
                if (this.counted.delete(ck)) ops.push({ type: 'del', key: ck });
                n++;
              }
            }
            this.counts.set(p.queue, Math.max(0, (this.counts.get(p.queue) ?? 0) - n));
            this.bytes.set(p.queue, p.keepBytes ?? 0);
            touched.add(p.queue);
            break;
          }
        }
      }
    }
    if (dropped.size) {
      let w = 0;
      for (let i = 0; i < ops.length; i++) if (!dropped.has(i)) ops[w++] = ops[i]!;
      ops.length = w;
    }
    // The batch's dedup keys in one record (a key per message was ~a third of a w64 batch's keys).
    if (dedupKeys.length) ops.push({ type: 'put', key: keys.dedupBatch(this.dedupSeq), value: JSON.stringify(dedupKeys) });
    for (const q of touched) {
      ops.push({ type: 'put', key: keys.queue(q), value: String(this.counts.get(q) ?? 0) });
      ops.push({ type: 'put', key: keys.bytes(q), value: String(this.bytes.get(q) ?? 0) });
    }
    const last = entries[entries.length - 1];
    if (last) {
      ops.push(
        { type: 'put', key: keys.meta('position'), value: String(last.position) },
        { type: 'put', key: keys.meta('seq'), value: String(this.nextSeq) },
        { type: 'put', key: keys.meta('dedupSeq'), value: String(this.dedupSeq) },
        { type: 'put', key: keys.meta('epoch'), value: String(last.epoch) },
      );
    }
    return after;
  }

  /** Writes one batch, then deletes the records of removed durable subscriptions. */
  async commitOps(ops: BatchOp[], sync: boolean, after: string[] = []): Promise<void> {
    if (ops.length) await this.db.batch(ops, sync);
    for (const q of after) await this.deleteRange(q, sync);
    this.trimDedup();
  }

  /**
   * Deletes dedup records that fell out of the window, DEDUP_TRIM at a time with one range
   * delete beside the batches (one delete per message in the batch was ~10% of its ops). A
   * crash before it ran leaves a few more ids remembered, never fewer.
   */
  private trimDedup(): void {
    const upTo = this.dedupSeq - this.opts.dedupWindow; // records <= upTo are out of the window
    if (this.trimming || upTo - this.dedupFloor + 1 < DEDUP_TRIM) return;
    const from = this.dedupFloor === 1 ? 0 : this.dedupFloor;
    this.dedupFloor = upTo + 1;
    // A y\0 record goes once its newest key (its n) is out: one holding older keys beside newer ones stays.
    this.trimming = Promise.all([
      this.db.clear({ gte: keys.dedup(from), lt: keys.dedup(upTo + 1) }),
      this.db.clear({ gte: keys.dedupBatch(from), lt: keys.dedupBatch(upTo + 1) }),
    ]).then(() => undefined)
      .catch(() => { this.dedupFloor = 1; }) // retried, from the start, at the next trim
      .finally(() => { this.trimming = null; });
  }

  private async deleteRange(queue: string, sync: boolean): Promise<void> {
    for (const range of [keys.messages(queue), keys.counts(queue)]) {
      let dels: BatchOp[] = [];
      await this.db.range({ ...range, values: false }, (k) => { dels.push({ type: 'del', key: k }); });
      while (dels.length) {
        await this.db.batch(dels.slice(0, 10_000), sync);
        dels = dels.slice(10_000);
      }
    }
  }

  /** Reads up to `limit` messages of a queue with order keys above `after`, in order. */
  async readPage(queue: string, after: string, limit: number): Promise<{ page: PagedMessage[]; full: boolean }> {
    const page: PagedMessage[] = [];
    const okeys: string[] = [];
    const r = keys.messages(queue);
    await this.db.range({ gt: `m\u0000${queue}\u0000${after}`, lt: r.lt, limit }, (k, v) => {
      const okey = k.slice(k.length - 17);
      okeys.push(okey);
      page.push({ message: decodeMessage(v), seq: Number.parseInt(okey.slice(1), 16), failed: 0 });
    });
    if (page.length) {
      const at = new Map(okeys.map((k, i) => [k, i]));
      await this.db.range({ gte: keys.count(queue, okeys[0]!), lte: keys.count(queue, okeys[okeys.length - 1]!) }, (k, v) => {
        const i = at.get(k.slice(k.length - 17));
        if (i !== undefined) page[i]!.failed = Number(v.toString());
      });
    }
    return { page, full: page.length === limit };
  }

  /** Messages of a queue from disk in order (Admin.Browse). */
  async browse(queue: string, limit: number, filter: (m: Message) => boolean): Promise<Array<{ message: Message; failed: number }>> {
    const out: Array<{ message: Message; failed: number; okey: string }> = [];
    await this.db.range(keys.messages(queue), (k, v) => {
      const message = decodeMessage(v);
      if (filter(message)) out.push({ message, failed: 0, okey: k.slice(k.length - 17) });
      return out.length < limit;
    });
    for (const o of out) {
      const c = await this.db.get(keys.count(queue, o.okey));
      if (c) o.failed = Number(c.toString());
    }
    return out;
  }

  // ---- replicated mode -------------------------------------------------------------------

  /**
   * Reads the replication state: promised epoch, snapshot base, the journal after it, and
   * raises the incarnation. A snapshot install interrupted by a crash leaves a half-written
   * state: it is wiped (position 0) and the master sends a snapshot again.
   */
  async recoverReplication(): Promise<ReplicationDisk> {
    const meta = async (name: string) => (await this.db.get(keys.meta(name)))?.toString();
    if (await meta('installing')) await this.wipe();
    const promisedEpoch = Number((await meta('promised')) ?? '0');
    // A life's number grows across restarts AND across a wipe: a master compares a member's
    // incarnations to tell its new life from late messages of an old one, and one that met a
    // wiped member at a number its earlier lives had used took the new life's rejects for
    // stale ones and never re-synced it. The clock makes a fresh directory's first life newer
    // than its predecessors' (ms since 1970, far above any counter); +1 keeps it growing if the
    // clock steps back between restarts.
    const incarnation = Math.max(Number((await meta('incarnation')) ?? '0') + 1, Date.now());
    await this.db.batch([{ type: 'put', key: keys.meta('incarnation'), value: String(incarnation) }], true);
    const applied = Number((await meta('position')) ?? '0');
    const appliedEpoch = applied > 0 ? Number((await meta('epoch')) ?? '0') : 0;
    const snap = (await meta('snapshot'))?.split(':').map(Number);
    const entries: ReplicationDisk['entries'] = [];
    await this.db.range({ gte: keys.entry(0), lt: 'j\u0001' }, (k, v) => {
      const position = Number.parseInt(k.slice(2), 16);
      const entry = decodeEntry(v);
      entries.push({ epoch: entry.epoch, position, data: v, entry });
    });
    let snapshotPosition: number;
    let snapshotEpoch: number;
    if (snap && snap.length === 2) [snapshotEpoch, snapshotPosition] = snap as [number, number];
    else if (entries.length) { snapshotPosition = entries[0]!.position - 1; snapshotEpoch = snapshotPosition > 0 ? entries[0]!.epoch : 0; }
    else { snapshotPosition = applied; snapshotEpoch = appliedEpoch; }
    // Keep the contiguous run after the snapshot (a crash between batches cannot leave holes,
    // since every batch is atomic, but be strict: the core rejects gaps).
    const run: ReplicationDisk['entries'] = [];
    for (const e of entries) {
      if (e.position <= snapshotPosition) continue;
      if (e.position !== snapshotPosition + run.length + 1) break;
      run.push(e);
    }
    let members: string[] = [];
    try { members = JSON.parse((await meta('members')) ?? '[]') as string[]; } catch { members = []; }
    const diverged = await meta('diverged');
    return { promisedEpoch, incarnation, snapshotPosition, snapshotEpoch, entries: run, applied, appliedEpoch, members, ...(diverged ? { diverged } : {}) };
  }

  putEntry(ops: BatchOp[], position: number, data: Uint8Array): void {
    ops.push({ type: 'put', key: keys.entry(position), value: Buffer.from(data.buffer, data.byteOffset, data.byteLength) });
  }

  /** Deletes journal entries from..to inclusive. */
  delEntries(ops: BatchOp[], from: number, to: number): void {
    for (let p = Math.max(1, from); p <= to; p++) ops.push({ type: 'del', key: keys.entry(p) });
  }

  putMeta(ops: BatchOp[], name: string, value: string): void {
    ops.push({ type: 'put', key: keys.meta(name), value });
  }

  /**
   * Streams this store's state (indexes and counters, not the journal) from ONE RocksDB
   * iterator, i.e. one consistent snapshot, in chunks. Returns the (epoch, position) that
   * state is at (read from the same snapshot).
   */
  async snapshot(chunk: (items: Array<{ key: Buffer; value: Buffer }>) => void | Promise<void>, chunkItems = 1000): Promise<{ epoch: number; position: number }> {
    let items: Array<{ key: Buffer; value: Buffer }> = [];
    let position = 0;
    let epoch = 0;
    await this.db.range({}, (k, v) => {
      if (!isShipped(k)) return;
      if (k === keys.meta('position')) position = Number(v.toString());
      if (k === keys.meta('epoch')) epoch = Number(v.toString());
      items.push({ key: Buffer.from(k), value: v });
      if (items.length >= chunkItems) {
        const full = items;
        items = [];
        return chunk(full); // awaited by range(): the reader waits for a slow receiver
      }
      return undefined;
    });
    if (items.length) await chunk(items);
    return { epoch: position > 0 ? epoch : 0, position };
  }

  /**
   * Replaces the state by a master's snapshot at (epoch, position): the journal and every
   * shipped key go, the snapshot's keys come. Guarded by meta installing (see recoverReplication).
   * `items` is the snapshot's keys, or a source that hands them over in chunks (read from the
   * on-disk staging area: a big snapshot never sits in the heap).
   */
  async install(items: Array<{ key: Buffer; value: Buffer }> | SnapshotSource, epoch: number, position: number, sync: boolean): Promise<void> {
    await this.trimming; // a dedup trim still running must not reach the snapshot's own ids
    await this.db.batch([{ type: 'put', key: keys.meta('installing'), value: '1' }], true);
    await this.wipe(false);
    const put = (chunk: Array<{ key: Buffer; value: Buffer }>) =>
      this.db.batch(chunk.map((kv) => ({ type: 'put' as const, key: kv.key.toString(), value: kv.value })), false);
    if (Array.isArray(items)) {
      for (let i = 0; i < items.length; i += 10_000) await put(items.slice(i, i + 10_000));
    } else {
      await items(put);
    }
    await this.db.batch([
      { type: 'put', key: keys.meta('snapshot'), value: `${epoch}:${position}` },
      { type: 'del', key: keys.meta('installing') },
    ], sync);
    await this.recover();
  }

  /** Deletes the journal and every shipped key (and, unless `keepFlag`, the installing flag). */
  private async wipe(clearFlag = true): Promise<void> {
    // In batches of 10,000 while scanning (the iterator reads a snapshot of the db): the
    // keys of a big store are never all in memory at once.
    let dels: BatchOp[] = [];
    await this.db.range({ values: false }, (k) => {
      if (isShipped(k) || k.startsWith('j\u0000')) dels.push({ type: 'del', key: k });
      if (dels.length < 10_000) return undefined;
      const full = dels;
      dels = [];
      return this.db.batch(full, false);
    });
    dels.push({ type: 'del', key: keys.meta('snapshot') });
    if (clearFlag) dels.push({ type: 'del', key: keys.meta('installing') });
    await this.db.batch(dels, false);
  }

  /**
   * Journal entries from..upTo with their positions, at most `limit` and no more than `maxBytes`
   * (but at least one): a slave's catch-up beyond what the replication log holds in memory.
   */
  async entryRange(from: number, upTo: number, limit: number, maxBytes: number): Promise<Array<{ position: number; data: Buffer }>> {
    const out: Array<{ position: number; data: Buffer }> = [];
    let bytes = 0;
    await this.db.range({ gte: keys.entry(from), lte: keys.entry(upTo), limit }, (k, v) => {
      if (out.length && bytes + v.length > maxBytes) return false;
      out.push({ position: Number.parseInt(k.slice(2), 16), data: v });
      bytes += v.length;
      return true;
    });
    return out;
  }

  /** Journal entries from `from` (inclusive), for tests. */
  async entries(from: number, limit: number): Promise<Buffer[]> {
    const out: Buffer[] = [];
    await this.db.range({ gte: keys.entry(from), lt: 'j\u0001', limit }, (_k, v) => { out.push(v); });
    return out;
  }
}
