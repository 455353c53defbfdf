// The replication core's vocabulary: journal entries, the events the shell feeds in, the
// messages replicas exchange, and the actions the core hands back. Pure data, no I/O.
//
// The shape follows etcd raft's RawNode (docs/architecture.md, "How the code is written"): the store calls
// `replica.step(event)` and executes the returned actions IN ORDER (write before send).

/** A replica's id inside its group (the store's node id). */
export type ReplicaId = string;

/**
 * One journal entry. Positions are 1, 2, 3, ... without gaps; (epoch, position) names an entry
 * uniquely in the whole group (one master per epoch, and it never rewrites its own positions).
 */
export interface Entry {
  readonly epoch: number;
  readonly position: number;
  /** Opaque to the core: the store's encoded op. */
  readonly data: Uint8Array;
  /** Set on the entry a new master appends first (raft's no-op): it carries no op. */
  readonly noop?: true;
}

/** ActiveMQ's replicated LevelDB `sync` values. */
export type SyncMode = 'local_mem' | 'local_disk' | 'remote_mem' | 'remote_disk' | 'quorum_mem' | 'quorum_disk';
export const SYNC_MODES: readonly SyncMode[] = ['local_mem', 'local_disk', 'remote_mem', 'remote_disk', 'quorum_mem', 'quorum_disk'];

/** `fenced`: learned of a newer epoch while master; does nothing until told a role again. */
export type Role = 'candidate' | 'master' | 'slave' | 'fenced';

// ---------------------------------------------------------------------------------------------
// Messages between replicas (carried by the shell, e.g. gRPC Replication.Stream).

/** Master -> slave: entries after (prevEpoch, prevPosition); empty `entries` is a heartbeat. */
export interface AppendEntries {
  readonly type: 'append';
  readonly from: ReplicaId;
  readonly epoch: number;
  readonly prevEpoch: number;
  readonly prevPosition: number;
  readonly entries: readonly Entry[];
  readonly commitPosition: number;
}

/**
 * Slave -> master: the slave's log matches the master's up to `received` (in memory) and
 * `persisted` of those are on its disk.
 */
export interface AppendAck {
  readonly type: 'ack';
  readonly from: ReplicaId;
  readonly epoch: number;
  /** The slave's incarnation (restart counter): a newer one may hold less in memory. */
  readonly incarnation: number;
  readonly received: number;
  readonly persisted: number;
}

/**
 * Slave -> master: (prevEpoch, prevPosition) did not match. The hint is the slave's
 * (epoch, position) of the highest entry that may still be common: the master resumes from there.
 */
export interface AppendReject {
  readonly type: 'reject';
  readonly from: ReplicaId;
  readonly epoch: number;
  readonly incarnation: number;
  readonly hintEpoch: number;
  readonly hintPosition: number;
}

/** Any replica -> sender of an older epoch: "I promised `epoch`" (fences an old master). */
export interface StaleEpoch {
  readonly type: 'stale';
  readonly from: ReplicaId;
  readonly epoch: number;
}

export type Message = AppendEntries | AppendAck | AppendReject | StaleEpoch;

// ---------------------------------------------------------------------------------------------
// Events (shell -> core).

export type Event =
  /** Coordinator, election step 2: promise to ignore epochs below `epoch`. */
  | { readonly type: 'prepare'; readonly epoch: number }
  /** Coordinator: this replica won `epoch`. `members` are the group's replica ids. */
  | { readonly type: 'becomeMaster'; readonly epoch: number; readonly members: readonly ReplicaId[] }
  /** Coordinator: follow `masterId` in `epoch`. */
  | { readonly type: 'becomeSlave'; readonly epoch: number; readonly masterId: ReplicaId }
  /** Coordinator (or anyone): a newer epoch exists; stop mastering now. */
  | { readonly type: 'fence'; readonly epoch: number }
  /**
   * Master: a member of the group that was not in `becomeMaster.members` (first seen after
   * the election) dialed in. It is replicated to from now on, while the master replicates to
   * fewer than replicas-1 slaves; otherwise the core answers `refuse`.
   */
  | { readonly type: 'addMember'; readonly id: ReplicaId }
  /**
   * Master: replicate to `id` (a standby: a member beyond the replicas-1 slaves) instead of
   * `gone`, a slave the shell has not heard from for long (its stream closed). Commits count
   * quorum(replicas) among the master and its slaves as before, the slaves now including `id`;
   * `gone`, if it returns, is a standby. Refused unless `gone` is a slave and `id` is not.
   */
  | { readonly type: 'replaceMember'; readonly gone: ReplicaId; readonly id: ReplicaId }
  /** The producer side: append these ops (master only). */
  | { readonly type: 'propose'; readonly data: readonly Uint8Array[] }
  /** A message from another replica. */
  | { readonly type: 'receive'; readonly message: Message }
  /**
   * The shell finished the write queue up to the `persist`/`resetLog` action whose last entry
   * is (epoch, position). Writes complete in the order the actions were given.
   */
  | { readonly type: 'persisted'; readonly epoch: number; readonly position: number }
  /** The store snapshotted its state up to `position` and dropped journal entries up to it. */
  | { readonly type: 'compact'; readonly position: number }
  /**
   * Entries up to `position` (persisted and committed) may leave memory: the journal on disk
   * holds them, and a slave that needs them gets them through `read` / `entriesRead`.
   */
  | { readonly type: 'release'; readonly position: number }
  /** The shell read entries `from`.. back from the journal on disk for slave `to` (after `read`); none if they are gone. */
  | { readonly type: 'entriesRead'; readonly to: ReplicaId; readonly from: number; readonly entries: readonly Entry[] }
  /**
   * A snapshot from the master (sent after `sendSnapshot`) has been fetched and staged by the
   * shell: state up to `position`, whose last entry has `epoch`; `masterEpoch` is the sender's.
   */
  | { readonly type: 'installSnapshot'; readonly from: ReplicaId; readonly masterEpoch: number; readonly position: number; readonly epoch: number }
  /** Time passes: `now` is a monotonic millisecond clock owned by the shell. */
  | { readonly type: 'tick'; readonly now: number }
  /**
   * Slave: the shell's link to master `masterId` failed at the transport (connection refused or
   * dropped). A killed or crashed master closes its sockets at once, so masterLost is reported now
   * instead of after masterTimeoutMs of silence; a stopped or cut-off master closes nothing and is
   * found by the silence as before. At most one report per masterTimeoutMs either way.
   */
  | { readonly type: 'masterUnreachable'; readonly masterId: ReplicaId; readonly now: number }
  /**
   * Slave: master `masterId` wrote on our stream without entries (the answer to a Hello, or the
   * heartbeat a master sends a member it does not replicate to: one beyond its replicas-1
   * slaves). It lives: not a silence to report.
   */
  | { readonly type: 'masterHeard'; readonly masterId: ReplicaId; readonly now: number };

// ---------------------------------------------------------------------------------------------
// Actions (core -> shell), to be executed in order.

export type Action =
  /** Durably record the promised epoch before any later action is executed. */
  | { readonly type: 'saveEpoch'; readonly epoch: number }
  /** Answer the coordinator's prepare. */
  | { readonly type: 'promise'; readonly epoch: number; readonly lastEpoch: number; readonly lastPosition: number }
  /** The prepare/becomeMaster/becomeSlave was refused (stale epoch, or this life did not promise it). */
  | { readonly type: 'refuse'; readonly event: 'prepare' | 'becomeMaster' | 'becomeSlave' | 'addMember' | 'replaceMember'; readonly epoch: number; readonly reason: string }
  /** The role changed. */
  | { readonly type: 'role'; readonly role: Role; readonly epoch: number; readonly masterId?: ReplicaId }
  /** Append these entries to the journal (after any earlier truncate). Report with `persisted`. */
  | { readonly type: 'persist'; readonly entries: readonly Entry[] }
  /** Delete journal entries at `fromPosition` and above (an uncommitted tail of an old master). */
  | { readonly type: 'truncate'; readonly fromPosition: number }
  /** Replace the journal by the staged snapshot up to (epoch, position). Report with `persisted`. */
  | { readonly type: 'resetLog'; readonly epoch: number; readonly position: number }
  /** Send a message to a replica (best effort; the core retries on ticks). */
  | { readonly type: 'send'; readonly to: ReplicaId; readonly message: Message }
  /**
   * Read journal entries from..upTo back from disk (at most `max`, and no more data than
   * `maxBytes` but at least one) for slave `to`; report with `entriesRead`, even when empty.
   */
  | { readonly type: 'read'; readonly to: ReplicaId; readonly from: number; readonly upTo: number; readonly max: number; readonly maxBytes: number }
  /** Ship the state snapshot up to (epoch, position) to `to`; it arrives as `installSnapshot`. */
  | { readonly type: 'sendSnapshot'; readonly to: ReplicaId; readonly epoch: number; readonly position: number }
  /** Entries up to `position` are committed (quorum persisted, raft's rule); slaves may apply them. */
  | { readonly type: 'commit'; readonly position: number }
  /** Master: every proposal of `epoch` up to `position` meets the sync mode; receipts may go out. */
  | { readonly type: 'acknowledge'; readonly epoch: number; readonly position: number }
  /** A proposal that was not appended (not master); the producer should retry elsewhere. */
  | { readonly type: 'proposalRejected'; readonly count: number; readonly reason: 'not-master'; readonly masterId?: ReplicaId }
  /** Slave: no word from the master for masterTimeoutMs, or its link failed at the transport (masterUnreachable); report to the coordinator. */
  | { readonly type: 'masterLost'; readonly epoch: number; readonly masterId: ReplicaId };

export type ActionType = Action['type'];

// ---------------------------------------------------------------------------------------------
// Construction.

export interface ReplicaOptions {
  readonly id: ReplicaId;
  /** Group size N (ActiveMQ's `replicas`); quorum = floor(N/2)+1, the master included. */
  readonly replicas: number;
  /** Default `quorum_mem`, as ActiveMQ. */
  readonly sync?: SyncMode;
  /** Slave: report masterLost after this long without a message from the master. Default 2000. */
  readonly masterTimeoutMs?: number;
  /** Master: send an append (heartbeat or retransmit) to a quiet slave this often. Default 200. */
  readonly heartbeatMs?: number;
  /** Master: give a snapshot transfer up after this long without an ack. Default 10 x heartbeat. */
  readonly snapshotTimeoutMs?: number;
  /** Master: entries per AppendEntries. Default 64. */
  readonly maxBatch?: number;
  /**
   * Master: bytes of entry data per AppendEntries (at least one entry goes, whatever its size).
   * Default 8 MiB: with 64 MiB messages, maxBatch entries would make one gRPC message of GiBs.
   */
  readonly maxBatchBytes?: number;
  /**
   * Grows by one at every start of the process (the shell keeps it on disk). Lets the master
   * tell a slave that restarted, and lost its unpersisted memory, from a late message of its
   * previous life. Default 0.
   */
  readonly incarnation?: number;
  /** Restart state: what is on disk. Everything in it counts as persisted. */
  readonly restored?: RestoredState;
}

export interface RestoredState {
  /** The promised epoch saved by `saveEpoch`. */
  readonly promisedEpoch: number;
  /** The snapshot the journal starts after (position 0, epoch 0 when none). */
  readonly snapshotPosition: number;
  readonly snapshotEpoch: number;
  /** Journal entries after the snapshot, contiguous. */
  readonly entries: readonly Entry[];
  /** Highest commit position this replica knew, if saved (0 is always safe). */
  readonly commitPosition?: number;
}

/** Errors of the core; `code` is stable. */
export type ReplicationErrorCode =
  | 'BAD_OPTIONS'
  | 'LOG_GAP'          // entries not contiguous with the log
  | 'COMPACT_TOO_FAR'  // compact above what is persisted and committed
  | 'RELEASE_TOO_FAR'  // release from memory above what is persisted and committed
  | 'LOG_RELEASED'     // an entry asked of memory was released (it is on disk)
  | 'TRUNCATE_RELEASED' // truncate below what was released (released entries are committed)
  | 'TRUNCATE_COMMITTED'; // a master asked to overwrite a committed entry: safety is broken

export class ReplicationError extends Error {
  readonly code: ReplicationErrorCode;
  constructor(code: ReplicationErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ReplicationError';
    this.code = code;
  }
}
