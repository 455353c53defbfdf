// The journal of a standalone (or shared-lock) store: group commit to this node's RocksDB.
// While one batch is written the next gathers; it goes as ONE batch when the write ends. The
// quorum is this node, so written = durable for every sync mode (fsync as `sync` says).
import { removesOnly, type JournalEntry } from '@hawser/broker';
import type { prom } from '@hawser/observability';
import type { RocksJournal } from './journal';
import type { CoreRef, Journal, JournalHost } from './journals';

export interface LocalJournalOptions {
  /** Entries per RocksDB batch (journal.maxBatch). */
  maxBatch: number;
  /** Remove-only entries may wait this long for a write a receipt waits on (journal.ackHoldMs; 0: never). */
  ackHoldMs: number;
  /** fsync each batch (sync *_disk). */
  fsync: boolean;
  metrics?: { commitSeconds: prom.Histogram; batchEntries: prom.Histogram; batchBytes: prom.Histogram };
}

export class LocalJournal implements Journal {
  private readonly pending: JournalEntry[] = [];
  private writing = false;
  private holdTimer: NodeJS.Timeout | null = null;
  private failed = false;
  private stopped = false;
  /** Entries submitted after a failure or stop (not written, never receipted). */
  dropped = 0;

  constructor(
    private readonly disk: RocksJournal,
    private readonly o: LocalJournalOptions,
    private readonly core: CoreRef,
    private readonly host: JournalHost,
  ) {}

  get serving(): boolean { return !this.failed && !this.stopped; }

  /** Nothing submitted waits to be written. */
  get idle(): boolean { return !this.writing && !this.pending.length; }

  start(): void { /* no timers: writes are driven by submit() and their own completion */ }

  submit(entries: JournalEntry[]): void {
    if (!entries.length) return;
    if (this.failed) { this.dropped += entries.length; return; }
    this.pending.push(...entries);
    this.writeSoon();
  }

  /** Writes what is pending (a held ack too), waits for the write in flight, and takes no more. */
  async stop(): Promise<void> {
    if (this.holdTimer) { clearTimeout(this.holdTimer); this.holdTimer = null; }
    this.write();
    for (let i = 0; i < 500 && !this.idle && !this.failed; i++) await new Promise((r) => setTimeout(r, 10));
    this.stopped = true;
  }

  /**
   * Acks ride with the next write: when everything pending only removes messages and no write
   * runs, wait up to ackHoldMs for an entry a receipt waits on (as the replicated master does
   * with its proposals).
   */
  private writeSoon(): void {
    if (this.o.ackHoldMs > 0 && !this.writing && !this.stopped && this.pending.every(removesOnly)) {
      this.holdTimer ??= setTimeout(() => { this.holdTimer = null; this.write(); }, this.o.ackHoldMs);
      return;
    }
    this.write();
  }

  /** While one batch is being written, further entries wait; then they all go in ONE batch. */
  private write(): void {
    if (this.writing || this.failed || !this.pending.length) return;
    this.writing = true;
    const batch = this.pending.splice(0, this.o.maxBatch);
    if (this.holdTimer && !this.pending.length) { clearTimeout(this.holdTimer); this.holdTimer = null; }
    const started = process.hrtime.bigint();
    this.disk.write(batch, this.o.fsync).then(
      (res) => {
        const m = this.o.metrics;
        m?.commitSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
        m?.batchEntries.observe(res.entries);
        m?.batchBytes.observe(res.bytes);
        this.writing = false;
        this.core()?.durable(res.position, Date.now());
        this.host.drive();
        this.write();
        this.host.applied();
      },
      (err: Error) => {
        this.writing = false;
        this.failed = true;
        this.dropped += this.pending.length;
        this.pending.length = 0;
        if (this.holdTimer) { clearTimeout(this.holdTimer); this.holdTimer = null; }
        this.host.fail(err);
      },
    );
  }
}
