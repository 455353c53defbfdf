// The core's view of the journal: positions firstPosition..lastPosition, preceded by a snapshot
// base (snapshotEpoch, snapshotPosition = firstPosition - 1) once compacted. The store keeps the
// real journal in RocksDB. Of the entries themselves, only a tail is held in memory (from
// heldFrom): older ones are released once persisted and committed, and the store reads them back
// from disk when a slave needs them (the `read` action). Epochs are kept for every position as
// runs (one per epoch change), so what the log knows costs memory by epochs, not by entries.
// Like etcd raft's unstable+storage pair folded into one.
import { Entry, ReplicationError } from './types';

/** Positions from..(the next run's from - 1) have `epoch`. */
interface Run { from: number; epoch: number }

export class ReplicaLog {
  private base = 0;      // snapshot position: entries up to here are compacted
  private baseEpoch = 0; // epoch of the entry at `base`
  private last = 0;
  private runs: Run[] = [];
  /**
   * Entries heldFrom..last, in memory, from held[off] on. A release moves `off` and clears the
   * slots it passes; the array is copied down only once the cleared prefix is half of it, so a
   * release per commit does not copy (and regrow) every entry still held.
   */
  private held: Array<Entry | undefined> = [];
  private off = 0;
  private heldStart = 1;

  constructor(snapshotPosition = 0, snapshotEpoch = 0, entries: readonly Entry[] = []) {
    this.reset(snapshotPosition, snapshotEpoch);
    this.append(entries);
  }

  /** First position still in the log (snapshotPosition + 1). */
  get firstPosition(): number { return this.base + 1; }
  get snapshotPosition(): number { return this.base; }
  get snapshotEpoch(): number { return this.baseEpoch; }
  get lastPosition(): number { return this.last; }
  get lastEpoch(): number {
    return this.runs.length ? this.runs[this.runs.length - 1]!.epoch : this.baseEpoch;
  }
  /** First position whose entry is held in memory (lastPosition + 1 when none is). */
  get heldFrom(): number { return this.heldStart; }

  /** Epoch of the entry at `position`; the snapshot's epoch at its base; undefined if unknown. */
  epochAt(position: number): number | undefined {
    if (position === this.base) return this.baseEpoch;
    if (position < this.base || position > this.last) return undefined;
    if (position >= this.heldStart) return this.held[this.off + position - this.heldStart]!.epoch;
    // The last run starting at or before `position` (binary search).
    let lo = 0;
    let hi = this.runs.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.runs[mid]!.from <= position) lo = mid; else hi = mid - 1;
    }
    return this.runs[lo]!.epoch;
  }

  /** The entry at `position` if it is held in memory. */
  entry(position: number): Entry | undefined {
    if (position < this.heldStart || position > this.last) return undefined;
    return this.held[this.off + position - this.heldStart];
  }

  /** Does this log hold (epoch, position), as an entry or as the snapshot base? */
  matches(epoch: number, position: number): boolean {
    return this.epochAt(position) === epoch;
  }

  /**
   * Held entries from..to inclusive, at most `max`, and no more data than `maxBytes` (but at
   * least one entry). `from` must be >= heldFrom (older ones are read from disk).
   */
  slice(from: number, to: number, max = Infinity, maxBytes = Infinity): Entry[] {
    if (from < this.heldStart) throw new ReplicationError('LOG_RELEASED', `entry ${from} is not held in memory (held from ${this.heldStart})`);
    let hi = Math.min(to, this.last, from + max - 1);
    if (from > hi) return [];
    if (maxBytes !== Infinity) {
      let bytes = 0;
      for (let p = from; p <= hi; p++) {
        bytes += this.held[this.off + p - this.heldStart]!.data.length;
        if (bytes > maxBytes && p > from) { hi = p - 1; break; }
      }
    }
    return this.held.slice(this.off + from - this.heldStart, this.off + hi - this.heldStart + 1) as Entry[];
  }

  /** The entries held in memory (a copy). */
  all(): Entry[] { return this.held.slice(this.off) as Entry[]; }

  /** (epoch, position) of every position in the log, held or not (tests, diagnostics). */
  positions(): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (let p = this.base + 1; p <= this.last; p++) out.push([this.epochAt(p)!, p]);
    return out;
  }

  append(entries: readonly Entry[]): void {
    for (const e of entries) {
      if (e.position !== this.last + 1) {
        throw new ReplicationError('LOG_GAP', `entry at ${e.position} does not follow ${this.last}`);
      }
      if (this.held.length === this.off) this.heldStart = e.position;
      this.held.push(e);
      if (e.epoch !== this.lastEpoch || this.runs.length === 0) this.runs.push({ from: e.position, epoch: e.epoch });
      this.last = e.position;
    }
  }

  /** Drop entries at `position` and above (position > snapshotPosition; they must be held). */
  truncateFrom(position: number): void {
    if (position <= this.base) throw new ReplicationError('TRUNCATE_COMMITTED', `cannot truncate at ${position}: compacted up to ${this.base}`);
    if (position > this.last) return;
    if (position < this.heldStart) throw new ReplicationError('TRUNCATE_RELEASED', `cannot truncate at ${position}: released up to ${this.heldStart - 1}`);
    this.held.length = this.off + position - this.heldStart;
    while (this.runs.length && this.runs[this.runs.length - 1]!.from >= position) this.runs.pop();
    this.last = position - 1;
    if (this.held.length === this.off) this.heldStart = position;
  }

  /** Forget entries up to `position` (which must be in the log); they live in the snapshot now. */
  compact(position: number): void {
    if (position <= this.base) return;
    const epoch = this.epochAt(position);
    if (epoch === undefined) throw new ReplicationError('COMPACT_TOO_FAR', `cannot compact to ${position}: log ends at ${this.last}`);
    this.release(position);
    // Runs wholly at or below the base go; the one holding position + 1 now starts there.
    let i = 0;
    while (i + 1 < this.runs.length && this.runs[i + 1]!.from <= position + 1) i++;
    this.runs = this.runs.slice(i);
    if (this.runs.length && this.runs[0]!.from <= position) {
      if (position + 1 > this.last) this.runs = [];
      else this.runs[0] = { from: position + 1, epoch: this.runs[0]!.epoch };
    }
    this.base = position;
    this.baseEpoch = epoch;
  }

  /**
   * Entries up to `position` leave memory (their epochs stay): the store holds them on disk
   * and reads them back for a slave that needs them.
   */
  release(position: number): void {
    const upTo = Math.min(position, this.last);
    if (upTo < this.heldStart) return;
    const end = this.off + upTo - this.heldStart + 1;
    for (let i = this.off; i < end; i++) this.held[i] = undefined;
    this.off = end;
    this.heldStart = upTo + 1;
    if (this.off >= 1024 && this.off * 2 >= this.held.length) {
      this.held = this.held.slice(this.off);
      this.off = 0;
    }
  }

  /** Replace everything by a snapshot base (installSnapshot of a log that lacks it). */
  reset(position: number, epoch: number): void {
    this.held = [];
    this.off = 0;
    this.runs = [];
    this.base = position;
    this.baseEpoch = epoch;
    this.last = position;
    this.heldStart = position + 1;
  }

  /**
   * Highest position q <= `position` whose epoch is <= `epoch` (etcd raft's findConflictByTerm):
   * every entry in (q, position] is of a newer epoch than the other side's, so cannot match.
   * Returns snapshotPosition - 1 when even the base is too new (no common point known here).
   */
  lastAtOrBefore(position: number, epoch: number): number {
    let q = Math.min(position, this.last);
    if (q < this.base) return q;
    for (let i = this.runs.length - 1; i >= 0 && q > this.base; i--) {
      const r = this.runs[i]!;
      if (r.from > q) continue;
      if (r.epoch <= epoch) return q;
      q = r.from - 1;
    }
    if (q === this.base && this.baseEpoch > epoch) return this.base - 1;
    return q;
  }
}
