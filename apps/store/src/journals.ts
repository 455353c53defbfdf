// The store's one seam to its log. The broker core makes journal entries and is told when
// they are durable; it knows nothing of where they go. Two implementations:
//   LocalJournal (local-journal.ts)      standalone and shared-lock: group commit to this
//                                        node's RocksDB (a quorum of one);
//   ReplicatedJournal (replicated.ts)    a replicated group's master: proposals to a quorum
//                                        of the group, then this node's RocksDB.
// Both are specified by one conformance spec (journal-conformance.spec.ts).
import type { BrokerCore, JournalEntry } from '@hawser/broker';

export interface Journal {
  /**
   * Sessions may be served: entries submitted now will become durable (and the core be told)
   * or the journal fails (host.fail). Standalone: until a write fails. Replicated: while master
   * of the current epoch and not fenced.
   */
  readonly serving: boolean;
  /**
   * The serving core's entries, in position order, each following the last one submitted.
   * When a prefix of them is durable by this journal's rule (standalone: written to RocksDB,
   * every sync mode; replicated: held by a quorum as `sync` says), the journal calls
   * `core.durable(position)` and then `host.drive()`. Entries that only remove messages (acks)
   * may wait up to `journal.ackHoldMs` to ride with the next write. Never called while not
   * serving; the journal ignores (and counts) what comes then.
   */
  submit(entries: JournalEntry[]): void;
  /** Starts timers (heartbeats, apply windows). */
  start(): void;
  /** Writes what was submitted and is not written yet (best effort, bounded), then stops. */
  stop(): Promise<void>;
}

/** What a journal needs of the store around it. */
export interface JournalHost {
  /** The core may have receipts, deliveries or entries to release. */
  drive(): void;
  /** The indexes moved on: page reads waiting for a position may go. */
  applied(): void;
  /** A journal write failed: nothing after it may be receipted; stop serving. */
  fail(err: Error): void;
}

/** Where a journal reports durability: the core serving sessions now (null: none). */
export type CoreRef = () => BrokerCore | null;
