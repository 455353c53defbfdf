// The core's in-memory view of the journal: entries firstPosition..lastPosition, preceded by a
// snapshot base (snapshotEpoch, snapshotPosition = firstPosition - 1) once compacted. The store
// keeps the real journal in RocksDB; this copy is the core's bookkeeping (what to send, where
// logs diverge), like etcd raft's unstable+storage pair folded into one.
import { Entry, ReplicationError } from './types';

export class ReplicaLog {
  private base = 0;      // snapshot position: entries up to here are compacted
  private baseEpoch = 0; // epoch of the entry at `base`
  private entries: Entry[] = [];

  constructor(snapshotPosition = 0, snapshotEpoch = 0, entries: readonly Entry[] = []) {
    this.base = snapshotPosition;
    this.baseEpoch = snapshotEpoch;
    this.append(entries);
  }

  /** First position still held as an entry (snapshotPosition + 1). */
  get firstPosition(): number { return this.base + 1; }
  get snapshotPosition(): number { return this.base; }
  get snapshotEpoch(): number { return this.baseEpoch; }
  get lastPosition(): number { return this.base + this.entries.length; }
  get lastEpoch(): number {
    return this.entries.length ? this.entries[this.entries.length - 1].epoch : this.baseEpoch;
  }

  /** Epoch of the entry at `position`; the snapshot's epoch at its base; undefined if unknown. */
  epochAt(position: number): number | undefined {
    if (position === this.base) return this.baseEpoch;
    if (position < this.base || position > this.lastPosition) return undefined;
    return this.entries[position - this.base - 1].epoch;
  }

  entry(position: number): Entry | undefined {
    if (position <= this.base || position > this.lastPosition) return undefined;
    return this.entries[position - this.base - 1];
  }

  /** Does this log hold (epoch, position), as an entry or as the snapshot base? */
  matches(epoch: number, position: number): boolean {
    return this.epochAt(position) === epoch;
  }

  /**
   * Entries from..to inclusive, at most `max`, and no more data than `maxBytes` (but at least
   * one entry). `from` must be >= firstPosition.
   */
  slice(from: number, to: number, max = Infinity, maxBytes = Infinity): Entry[] {
    let hi = Math.min(to, this.lastPosition, from + max - 1);
    if (from > hi) return [];
    if (maxBytes !== Infinity) {
      let bytes = 0;
      for (let p = from; p <= hi; p++) {
        bytes += this.entries[p - this.base - 1].data.length;
        if (bytes > maxBytes && p > from) { hi = p - 1; break; }
      }
    }
    return this.entries.slice(from - this.base - 1, hi - this.base);
  }

  /** All entries held (a copy). */
  all(): Entry[] { return this.entries.slice(); }

  append(entries: readonly Entry[]): void {
    for (const e of entries) {
      if (e.position !== this.lastPosition + 1) {
        throw new ReplicationError('LOG_GAP', `entry at ${e.position} does not follow ${this.lastPosition}`);
      }
      this.entries.push(e);
    }
  }

  /** Drop entries at `position` and above (position > snapshotPosition). */
  truncateFrom(position: number): void {
    if (position <= this.base) throw new ReplicationError('TRUNCATE_COMMITTED', `cannot truncate at ${position}: compacted up to ${this.base}`);
    if (position > this.lastPosition) return;
    this.entries.length = position - this.base - 1;
  }

  /** Forget entries up to `position` (which must be held); they live in the snapshot now. */
  compact(position: number): void {
    if (position <= this.base) return;
    const epoch = this.epochAt(position);
    if (epoch === undefined) throw new ReplicationError('COMPACT_TOO_FAR', `cannot compact to ${position}: log ends at ${this.lastPosition}`);
    this.entries = this.entries.slice(position - this.base);
    this.base = position;
    this.baseEpoch = epoch;
  }

  /** Replace everything by a snapshot base (installSnapshot of a log that lacks it). */
  reset(position: number, epoch: number): void {
    this.entries = [];
    this.base = position;
    this.baseEpoch = epoch;
  }

  /**
   * Highest position q <= `position` whose epoch is <= `epoch` (etcd raft's findConflictByTerm):
   * every entry in (q, position] is of a newer epoch than the other side's, so cannot match.
   * Returns snapshotPosition - 1 when even the base is too new (no common point known here).
   */
  lastAtOrBefore(position: number, epoch: number): number {
    let q = Math.min(position, this.lastPosition);
    while (q > this.base && this.entries[q - this.base - 1].epoch > epoch) q--;
    if (q === this.base && this.baseEpoch > epoch) return this.base - 1;
    return q;
  }
}
